"""``python -m bench``: the benchmark's command line (:func:`bench.benchmark.main`)."""

from bench import benchmark

if __name__ == "__main__":
    benchmark.main()
