"""The lesson's claims, checked in the open: ``claims.expect(fcn_iou > dense_iou, "...", ...)``.

A notebook states a result ("FCN-32s beats the dense baseline on foreground IoU") and then checks it
in a cell a learner can read. :func:`expect` is that check: an ``assert`` that also prints the
numbers it compared, so the claim and the evidence sit side by side in the output.

In a smoke run (``FCN_SMOKE=1``: tiny images, random weights, one short epoch, see
:func:`fcnlib.config.smoke_version`) the numbers say nothing about quality, so a quality claim is
printed as *not checked* instead of passing silently; claims that hold whatever the training (shapes,
parameter counts, identities) stay plain ``assert`` statements in the notebooks and are always
checked.

The margins behind the claims live in :mod:`fcnlib.margins`. Only the quick profile's were chosen
from measurements; in the ``gpu`` and ``full`` profiles (margins estimated, never measured on a GPU) a
claim that does not hold prints a notice with its numbers and the notebook goes on.

When ``FCN_CLAIMS_FILE`` names a file, every claim is appended to it as one JSON line
(``{"claim", "numbers", "checked", "held", "condition", "slack"}``): ``make series`` reads it for its
report, and ``python -m bench.claims`` for the worst slack of each claim over seeds and CPU settings. The
slack is how far the condition is from failing, in the units of what it compares: ``a > b + m`` has slack
``a - (b + m)``; ``a < b < c`` the smaller of its two gaps; ``p and q`` the smaller of theirs (``None``
where the condition is no comparison).

Example:

>>> from fcnlib import claims
>>> claims.expect(0.81 > 0.09 + 0.15, "FCN-32s beats the dense baseline", fcn32s=0.81, dense=0.09)
✓ FCN-32s beats the dense baseline  (fcn32s=0.81, dense=0.09)
"""

from __future__ import annotations

import ast
import json
import numbers as _numbers
import os
import sys

from fcnlib import config, margins

CLAIMS_FILE_ENV = "FCN_CLAIMS_FILE"


class ClaimError(AssertionError):
    """A claim of the lesson did not hold for this run; the message names it and its numbers."""


def _plain(value):
    """Numbers as Python floats/ints (NumPy scalars included), anything else as its repr."""
    if isinstance(value, bool):
        return value
    if isinstance(value, _numbers.Integral):
        return int(value)
    if isinstance(value, _numbers.Real):
        return float(value)
    try:
        return float(value)  # 0-d arrays and tensors.
    except (TypeError, ValueError):
        return repr(value)


def _format(numbers: dict) -> str:
    parts = []
    for name, value in numbers.items():
        parts.append(f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}")
    return ", ".join(parts)


def _record(entry: dict) -> None:
    path = os.environ.get(CLAIMS_FILE_ENV)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as stream:  # One short line per claim: append is enough.
        stream.write(json.dumps(entry) + "\n")


def expect(condition, claim: str, **numbers) -> bool:
    """Checks a claim about trained results, printing the numbers behind it.

    Args:
        condition: The claim as a boolean expression (``fcn_iou > dense_iou + MARGIN``).
        claim: The claim in words, as the notebook's text states it.
        **numbers: The values the condition compares, shown next to the verdict.

    Returns:
        True when the claim was checked and held; False in a smoke run, where it is not checked,
        and when it did not hold in a profile whose margins are estimates (a notice is printed).

    Raises:
        ClaimError: When the claim does not hold in a profile whose margins were measured (quick),
            with its numbers.
    """
    values = {name: _plain(value) for name, value in numbers.items()}
    shown = f"  ({_format(values)})" if values else ""
    if config.smoke_mode():
        _record({"claim": claim, "numbers": values, "checked": False, "held": None})
        print(f"– not checked (smoke run, {config.SMOKE_ENV}=1): {claim}{shown}")
        return False
    held = bool(condition)
    if os.environ.get(CLAIMS_FILE_ENV):
        _record({"claim": claim, "numbers": values, "checked": True, "held": held} | _slack(sys._getframe(1)))
    if not held:
        profile = config.get_profile()
        if profile.name not in margins.MEASURED_PROFILES:
            print(f"! not seen in this run ({profile.name} profile, whose margins are estimates, not "
                  f"measurements; the lesson goes on): {claim}{shown}")
            return False
        raise ClaimError(f"The claim does not hold in this run: {claim}{shown}")
    print(f"✓ {claim}{shown}")
    return True


def _gap(node, evaluate):
    """How far an expression of comparisons is from turning false (negative: it is false), or None."""
    if isinstance(node, ast.BoolOp):
        gaps = [_gap(value, evaluate) for value in node.values]
        if any(gap is None for gap in gaps):
            return None
        return min(gaps) if isinstance(node.op, ast.And) else max(gaps)
    if isinstance(node, ast.Compare):
        gaps, left = [], evaluate(node.left)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = evaluate(comparator)
            if isinstance(op, (ast.Gt, ast.GtE)):
                gaps.append(float(left) - float(right))
            elif isinstance(op, (ast.Lt, ast.LtE)):
                gaps.append(float(right) - float(left))
            else:
                return None
            left = right
        return min(gaps)
    return None


def _slack(frame) -> dict:
    """The condition's source and slack, read from the caller's code (only when claims are recorded)."""
    try:
        import executing  # IPython's own dependency: it finds the call a frame is executing.

        call = executing.Source.executing(frame).node
        condition = call.args[0]
        variables = dict(frame.f_globals) | dict(frame.f_locals)

        def evaluate(expression):
            return eval(compile(ast.Expression(expression), "<claim>", "eval"), variables)  # noqa: S307

        gap = _gap(condition, evaluate)
        return {"condition": ast.unparse(condition), "slack": None if gap is None else float(gap)}
    except Exception:  # noqa: BLE001  (the slack is a measurement aid; the claim itself is checked above)
        return {"condition": None, "slack": None}
