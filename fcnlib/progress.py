"""One convention for progress on long steps: a Keras progress bar, shown once a step runs long.

Every step of fcnlib that can take minutes (generating synthetic scenes, extracting an archive,
scoring a dataset with ``metrics.evaluate``, downloading) reports through :class:`Progress`: a
``keras.utils.Progbar`` (the bar ``model.fit`` draws, with a count and a time estimate) that
appears only after the step has run :data:`DELAY` seconds, so the quick profile's short steps stay
silent and a notebook's output stays readable. Training follows the same rule through
:func:`fit_verbosity`: one line per epoch when an epoch is short, Keras' bar per batch when not.

Example:

>>> from fcnlib import progress
>>> with progress.Progress(3, "Counting", unit="steps") as bar:
...     for done in range(1, 4):
...         bar.update(done)
"""

from __future__ import annotations

import time

# Seconds a step runs before its bar appears; shorter steps print nothing.
DELAY = 2.0
# Seconds between two redraws of a bar (Keras' default, 0.05 s, would fill a saved notebook).
INTERVAL = 1.0
# An epoch of more batches than this trains with a bar per batch (fit verbose 1), fewer with one
# line per epoch (verbose 2): the quick profile's 50 batches take seconds, the full profile's
# 1,323 take minutes.
LONG_EPOCH_BATCHES = 100


class Progress:
    """A ``keras.utils.Progbar`` over ``total`` units that appears once the work has run ``delay`` s.

    Args:
        total: The number of units when done (None when unknown: the bar counts without a goal).
        what: What is being done, printed once above the bar, e.g. ``"Extracting VOC.tar"``.
        unit: The unit's name in the bar (``"scenes"``, ``"MB"``, ``"batches"``).
        delay: Seconds before the bar appears; None means :data:`DELAY`, 0 shows it at once.
        enabled: False never shows it.
    """

    def __init__(self, total, what: str, unit: str = "items", delay: float | None = None, enabled: bool = True):
        self.total, self.what, self.unit, self.enabled = total, what, unit, enabled
        self.delay = DELAY if delay is None else delay
        self.start = time.perf_counter()
        self.bar = None
        self.done = 0

    def update(self, done) -> None:
        """Reports ``done`` units finished so far (a running total, not an increment)."""
        self.done = done
        if not self.enabled:
            return
        if self.bar is None and time.perf_counter() - self.start >= self.delay:
            import keras  # Imported here: fcnlib.progress is imported by modules that avoid Keras.

            print(f"{self.what}:", flush=True)
            self.bar = keras.utils.Progbar(self.total, unit_name=self.unit, interval=INTERVAL)
        if self.bar is not None:
            self.bar.update(done, finalize=False)

    def close(self) -> None:
        """Draws the final state of a bar that was shown."""
        if self.bar is not None:
            self.bar.update(self.done if self.total is None else self.total, finalize=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if exc_info[0] is None:
            self.close()
        return False


def fit_verbosity(verbose, steps_per_epoch) -> int | str:
    """Resolves ``verbose="auto"`` for ``model.fit`` by the convention above; other values pass.

    Args:
        verbose: ``"auto"``, 0, 1 or 2.
        steps_per_epoch: Batches per epoch, or None when unknown (then Keras' bar).
    """
    if verbose != "auto":
        return verbose
    if steps_per_epoch is not None and 0 < steps_per_epoch <= LONG_EPOCH_BATCHES:
        return 2
    return 1
