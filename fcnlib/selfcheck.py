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


def _forbidden_code(targets) -> dict:
    """{code object: dotted name} of the functions and methods in ``targets`` (modules, classes, functions)."""
    import inspect

    found = {}

    def add(function, name):
        function = inspect.unwrap(function)
        code = getattr(function, "__code__", None)
        if code is not None:
            found[code] = name

    for target in targets:
        if inspect.ismodule(target):
            for name, value in vars(target).items():
                if getattr(value, "__module__", None) != target.__name__:
                    continue  # Names the module imported from elsewhere stay allowed.
                if inspect.isfunction(value):
                    add(value, f"{target.__name__}.{name}")
                elif inspect.isclass(value):
                    for attr, member in vars(value).items():
                        if inspect.isfunction(member):
                            add(member, f"{target.__name__}.{name}.{attr}")
        elif inspect.isclass(target):
            for attr, member in vars(target).items():
                if inspect.isfunction(member):
                    add(member, f"{target.__module__}.{target.__qualname__}.{attr}")
        elif callable(target):
            add(target, f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', target)}")
        else:
            raise TypeError(f"by_hand takes modules, classes or functions, got {target!r}")
    return found


class by_hand:  # noqa: N801  (used as `with selfcheck.by_hand(...)`, like a function)
    """Makes the library's own solution off limits while a student's code runs.

    ``with selfcheck.by_hand(fcnlib.models, fcnlib.recipes, what="FCN-8s"): model = build_fcn8s(trunk)``
    fails with a sentence naming the call when the student's code calls any function (or method of a
    class) defined in those modules, however it was imported (``from fcnlib.models import fcn8s as f``
    too): the check watches the calls themselves (``sys.setprofile``), not the names.
    """

    def __init__(self, *targets, what: str = "this exercise"):
        self.forbidden = _forbidden_code(targets)
        self.what = what
        self.called: list[str] = []
        self._previous = None

    def _hook(self, frame, event, arg):
        if event == "call" and frame.f_code in self.forbidden:
            name = self.forbidden[frame.f_code]
            self.called.append(name)
            import sys

            sys.setprofile(None)
            raise ExerciseError(self._message(name))

    def _message(self, name):
        return (f"✗ by hand: your code called {name}. {self.what} asks you to write it yourself; "
                "the library's version is off limits here.")

    def __enter__(self):
        import sys

        self._previous = sys.getprofile()
        sys.setprofile(self._hook)
        return self

    def __exit__(self, kind, value, traceback):
        import sys

        sys.setprofile(self._previous)
        if self.called and not isinstance(value, ExerciseError):
            raise ExerciseError(self._message(self.called[0]))  # The student's code caught the first error.
        return False


def run(function, *args, what: str, hint: str | None = None, **kwargs):
    """Calls the student's ``function(*args, **kwargs)``; an exception becomes a sentence, not a traceback.

    Visible checks call the student's code through this, so a crash reads "✗ your fcn8s_by_hand(...)
    raised ValueError: ..." with the hint, and a checker's own ExerciseError passes through unchanged.
    """
    if not callable(function):
        _fail(what, f"expected a function, got {function!r} ({type(function).__name__}).", hint)
    try:
        return function(*args, **kwargs)
    except ExerciseError:
        raise
    except NotImplementedError:
        _fail(what, f"{getattr(function, '__name__', 'your function')} is not written yet "
                    "(it still raises NotImplementedError).", hint)
    except Exception as error:  # noqa: BLE001  (any crash of the student's code becomes feedback)
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        _fail(what, f"{getattr(function, '__name__', 'your function')}(...) raised {type(error).__name__}"
                    + (f": {first_line[:300]}" if first_line else "") + ".", hint)
