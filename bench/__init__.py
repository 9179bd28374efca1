"""The lab: the benchmark, the recipes learners copy, the backbone pre-training and their tests.

Nothing here is shipped in the wheel and nothing in ``fcnlib`` imports it. Run it from a checkout:

    python -m bench [--epochs N]        # the benchmark table (``make bench``), see bench/README.md
    python -m bench --fcn32s-head       # one experiment instead of the table (``--help`` lists them)
    python -m bench.pretrain            # rebuilds the quick backbone shipped in data/

The lessons read the results it wrote through :mod:`fcnlib.results`, never through this package.
"""
