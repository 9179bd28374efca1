"""The margins of the lessons' checks: one table, per notebook and per profile.

A lesson states a claim and checks it in the open, ``claims.expect(fcn8s > fcn32s + M.min_gain_8s, ...)``;
the margin comes from here, so the lesson's cells carry no profile branches. Quick-profile margins are
chosen from measurements over several seeds and both oneDNN settings (the lab's margin command,
``python -m bench.margins``, prints each claim's worst case). Margins of the ``gpu`` and ``full``
profiles are estimates that no GPU run has measured yet: there a claim that misses its margin prints a
notice and the notebook goes on (:func:`fcnlib.claims.expect`).

Example:

>>> from fcnlib import margins
>>> M = margins.for_notebook("05", "quick")
>>> M.min_agreement
0.93
"""

from __future__ import annotations

import types

from fcnlib import config

MEASURED_PROFILES = ("quick",)  # Profiles whose margins come from measurements: a miss raises there.

# One entry per notebook: margin name -> {profile: value}. A profile left out takes the gpu value
# (full) or raises (quick, gpu). Each notebook keeps its own block.
TABLE: dict[str, dict[str, dict[str, float]]] = {
    # 00 · Setup and data
    "00": {},

    # 01 · The dense baseline
    "01": {},

    # 02 · Fully convolutional networks
    "02": {},

    # 03 · Transposed convolution
    "03": {},

    # 04 · Bilinear upsampling
    "04": {},

    # 05 · Skip connections
    "05": {},

    # 06 · Evaluation
    "06": {
        # The dense baseline's pixel accuracy lies within this of the background share (quick measured
        # ~0.005; on VOC an average mask, a blob in the middle, can beat the share by a little more).
        "max_dense_accuracy_gap": {"quick": 0.03, "gpu": 0.06},
        "min_fg_iou_gain": {"quick": 0.5, "gpu": 0.2},  # FCN-8s's foreground IoU above the dense baseline's (quick ~0.7).
        "min_mean_iou_gain": {"quick": 0.25, "gpu": 0.1},  # ... and its mean IoU (quick measured ~0.35).
        "min_size_recall_gap": {"quick": 0.2, "gpu": 0.1},  # FCN-8s's recall on the largest objects over the smallest.
        # Pixels: edges of the object-size buckets of that check. Quick: signs in 96x96 scenes (9,216
        # pixels); gpu: VOC objects in 224x224 photographs (50,176 pixels), many of which fill half the image.
        "size_buckets": {"quick": (0, 150, 400, 1_000, 10_000), "gpu": (0, 1_000, 4_000, 15_000, 60_000)},
        # The bench file's staged FCN-8s against this run's, where this run scores the bench's scenes (CPU
        # runs of the same cached recipe vary by ~0.01).
        "max_bench_difference": {"quick": 0.05, "gpu": 0.05},
    },

    # 07 · Why won't it learn?
    "07": {},

    # 08 · Beyond VGG
    "08": {},
}


def for_notebook(notebook: str, profile: str | config.Profile | None = None) -> types.SimpleNamespace:
    """The margins of one notebook's checks for a profile, as attributes (``M.min_agreement``).

    Args:
        notebook: ``"00"`` ... ``"08"``.
        profile: A profile or its name; the active profile when None.

    Returns:
        A namespace with one attribute per margin of that notebook.

    Raises:
        KeyError: For an unknown notebook, or a margin with no value for the profile.
    """
    if notebook not in TABLE:
        raise KeyError(f"no margins for notebook {notebook!r}; known: {', '.join(TABLE)}")
    if not isinstance(profile, config.Profile):
        profile = config.get_profile(profile)
    values = {}
    for name, per_profile in TABLE[notebook].items():
        value = per_profile.get(profile.name, per_profile.get("gpu") if profile.name == "full" else None)
        if value is None:
            raise KeyError(f"margin {name!r} of notebook {notebook} has no value for the {profile.name} profile")
        values[name] = value
    return types.SimpleNamespace(**values)
