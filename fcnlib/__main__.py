"""``python -m fcnlib``: the command line of :mod:`fcnlib.cli` (also installed as ``fcn-train``)."""

import sys

from fcnlib import cli

if __name__ == "__main__":
    sys.exit(cli.main())
