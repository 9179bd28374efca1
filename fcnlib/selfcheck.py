"""Readable checks for the exercises: say what is wrong, not just "assertion failed".

Students on Colab have no grader extension; these checks give them immediate feedback, and the
same calls serve as the autograded tests when an instructor grades with nbgrader.

Example:

>>> from fcnlib import selfcheck
>>> selfcheck.expect_equal(2 * 3, 6, "output height")
✓ output height = 6
"""

from __future__ import annotations

import numpy as np


class ExerciseError(AssertionError):
    """Raised by a failed check; its message explains the mistake."""


def _fail(what: str, message: str, hint: str | None) -> None:
    text = f"✗ {what}: {message}"
    if hint:
        text += f"\n  Hint: {hint}"
    raise ExerciseError(text)


def _numbers(value, what, hint) -> np.ndarray:
    """The answer as an array of floats; text, or anything else that is no number, fails in words."""
    kind = type(value).__name__
    if isinstance(value, (str, bytes)) or np.asarray(value).dtype.kind in "USO":
        _fail(what, f"expected a number (or an array of numbers), got {value!r} ({kind}).", hint)
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        _fail(what, f"expected a number (or an array of numbers), got a {kind} that is none.", hint)


def expect_equal(actual, expected, what: str, hint: str | None = None) -> None:
    """Checks ``actual == expected`` (element-wise for arrays, shapes included)."""
    if actual is None or actual is Ellipsis:
        _fail(what, "no answer yet (the value is None or ...).", hint)
    a, e = np.asarray(actual), np.asarray(expected)
    if isinstance(expected, str) != isinstance(actual, str):
        _fail(what, f"expected {expected!r} ({type(expected).__name__}), got {actual!r} "
                    f"({type(actual).__name__}).", hint)
    if a.shape != e.shape:
        _fail(what, f"expected shape {e.shape}, got {a.shape}.", hint)
    if not np.array_equal(a, e):
        mismatches = int(np.sum(a != e)) if a.shape else 1
        shown = f"{actual!r}" if a.size <= 8 else f"{mismatches} of {a.size} values differ"
        _fail(what, f"expected {expected!r}, got {shown}." if e.size <= 8 else shown + ".", hint)
    print(f"✓ {what} = {actual!r}" if a.size <= 8 else f"✓ {what}: all {a.size} values match")


def expect_close(actual, expected, what: str, atol: float = 1e-5, rtol: float = 1e-5,
                 hint: str | None = None) -> None:
    """Checks ``actual`` is within ``atol + rtol*|expected|`` of ``expected`` (arrays or numbers)."""
    if actual is None or actual is Ellipsis:
        _fail(what, "no answer yet (the value is None or ...).", hint)
    a, e = _numbers(actual, what, hint), np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        _fail(what, f"expected shape {e.shape}, got {a.shape}.", hint)
    # NaN is right where NaN is expected (e.g. the IoU of a class that never occurs) and wrong elsewhere.
    same_nan = np.isnan(a) & np.isnan(e)
    if np.any(np.isnan(a) != np.isnan(e)):
        _fail(what, f"NaN in {int(np.sum(np.isnan(a) & ~same_nan))} place(s) where a number is "
                    f"expected, or a number where NaN is expected.", hint)
    error = np.where(same_nan, 0.0, np.abs(a - e))
    if np.any(np.isinf(a) != np.isinf(e)) or np.any(error > atol + rtol * np.abs(np.nan_to_num(e))):
        _fail(what, f"largest difference from the expected value is {np.nanmax(error):.3g} "
                    f"(allowed {atol:g} + {rtol:g}·|expected|).", hint)
    print(f"✓ {what} (largest difference {np.nanmax(error, initial=0.0):.2g})")


def expect_true(condition, what: str, message: str, hint: str | None = None) -> None:
    """Checks a condition; ``message`` explains what it means when it does not hold."""
    if np.size(condition) != 1 and not isinstance(condition, (str, bytes)):
        _fail(what, f"the check needs one yes or no, got {np.size(condition)} values "
                    "(combine them with all(...) or any(...)).", hint)
    if not bool(np.asarray(condition).item() if np.ndim(condition) else condition):
        _fail(what, message, hint)
    print(f"✓ {what}")
