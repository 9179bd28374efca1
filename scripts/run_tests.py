"""Runs the test suite as `make test` does: the notebooks and the unit tests side by side.

Usage (from the repository root; `make test` calls it after setting up the environment):

    python scripts/run_tests.py [--one-after-the-other] [--logs build/test-logs]

Two pytest processes run at the same time:

* ``notebooks``: every notebook under nbval (``pytest notebooks --nbval-lax --nbval-current-env``),
  in order, in one process: 02 trains the FCN-32s that 04, 05 and 06 load from the checkpoint cache.
  Its output streams to the terminal.
  Then the unit tests of ``AFTER_NOTEBOOKS`` (slow ones, moved here so the two sides take about as long).
* ``unit``: the other unit and smoke tests and the lab's tests (``pytest tests bench``). Each test keeps its data
  and checkpoint cache in its own temporary folder (the root ``conftest.py``), so
  nothing it does meets the notebooks' cache.
  Its output goes to ``<logs>/unit.log`` and is printed when both are done.

Much of either run is single-threaded Python (building models, tracing, starting kernels), so on a
2-core machine the two together take far less than one after the other. Both get
``TF_FORCE_GPU_ALLOW_GROWTH=true`` (unless it is set): on a GPU, TensorFlow then takes memory as it
needs it instead of all of it at start-up, so the two processes can share the card
(https://www.tensorflow.org/guide/gpu#limiting_gpu_memory_growth). The exit status is 0 only when
both passed; ``--one-after-the-other`` runs them in sequence (the notebooks first), for a clean log or a
slow machine. Extra arguments after ``--`` go to both pytest commands.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMON = ["--durations=15", "-p", "no:cacheprovider"]


# Unit tests that run after the notebooks, in their process, to even out the two sides' times (on 2 cores
# the notebooks took about 9 minutes and the unit tests about 15 alone): autograding with nbgrader and
# the notebooks run from an installed fcnlib.
AFTER_NOTEBOOKS = ("tests/test_classroom.py", "tests/test_installed.py")


def commands(python: str = sys.executable, extra=()) -> dict[str, list[str]]:
    """The two pytest commands, by name, in the order their output is shown."""
    return {
        "notebooks": [python, "-m", "pytest", "notebooks", *AFTER_NOTEBOOKS, "--nbval-lax", "--nbval-current-env",
                      *COMMON, *extra],
        "unit": [python, "-m", "pytest", "tests", "bench", *(f"--ignore={path}" for path in AFTER_NOTEBOOKS),
                 *COMMON, *extra],
    }


def _time_it(name, process, start, codes, seconds):
    codes[name] = process.wait()
    seconds[name] = time.perf_counter() - start


def run(commands_: dict[str, list[str]], logs: Path, side_by_side: bool = True, cwd=ROOT, out=None) -> int:
    """Runs the first command with its output on ``out`` and the others into ``<logs>/<name>.log``.

    Side by side, all start at once; otherwise one after the other, in order. The logs are printed
    to ``out`` when their command is done. Returns 0 when every command exited with 0, else 1.
    """
    out = sys.stdout if out is None else out
    logs = Path(logs)
    logs.mkdir(parents=True, exist_ok=True)
    (first, first_argv), *others = commands_.items()
    started = time.perf_counter()
    seconds, codes, running = {}, {}, {}
    env = {**os.environ, "TF_FORCE_GPU_ALLOW_GROWTH": os.environ.get("TF_FORCE_GPU_ALLOW_GROWTH", "true")}

    def start_others():
        for name, argv in others:
            log = (logs / f"{name}.log").open("w", encoding="utf-8")
            process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
            # A thread per process notes when it ends, so its time is its own, not the first run's.
            waiter = threading.Thread(target=_time_it, args=(name, process, time.perf_counter(), codes, seconds),
                                      daemon=True)
            waiter.start()
            running[name] = (process, log, waiter)

    def finish_others():
        for name, (_process, log, waiter) in running.items():
            waiter.join()
            log.close()
            print(f"\n===== {name}: output of `{' '.join(commands_[name][1:])}` =====", file=out, flush=True)
            print((logs / f"{name}.log").read_text(encoding="utf-8", errors="replace"), file=out, flush=True)

    try:
        if side_by_side:
            start_others()
        print(f"===== {first}: `{' '.join(first_argv[1:])}`"
              + (f" (with {', '.join(running)} alongside; logs in {logs})" if running else "") + " =====",
              file=out, flush=True)
        start = time.perf_counter()
        process = subprocess.Popen(first_argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, errors="replace")
        for line in process.stdout:
            out.write(line)
            out.flush()
        codes[first] = process.wait()
        seconds[first] = time.perf_counter() - start
        if not side_by_side:
            start_others()
        finish_others()
    except BaseException:  # Ctrl-C or a broken pipe: leave no pytest running behind.
        for process, *_ in running.values():
            process.kill()
        raise
    print("\n===== summary =====", file=out)
    for name in commands_:
        verdict = "passed" if codes[name] == 0 else f"FAILED (exit status {codes[name]})"
        print(f"{name:<10} {verdict} in {seconds[name]:.0f} s", file=out)
    print(f"{'in all':<10} {time.perf_counter() - started:.0f} s"
          + (", side by side" if side_by_side else ", one after the other"), file=out, flush=True)
    return 0 if all(code == 0 for code in codes.values()) else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--one-after-the-other", action="store_true", help="the notebooks, then the unit tests")
    parser.add_argument("--logs", type=Path, default=ROOT / "build" / "test-logs",
                        help="where the unit tests' log goes (default: build/test-logs)")
    parser.add_argument("extra", nargs="*", help="after --: extra arguments for both pytest commands")
    args = parser.parse_args(argv)
    return run(commands(extra=args.extra), args.logs, side_by_side=not args.one_after_the_other)


if __name__ == "__main__":
    sys.exit(main())
