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
    "06": {},

    # 07 · Why won't it learn? Its demos build the quick models in every profile, so gpu = quick.
    "07": {
        "memorised": {"quick": 0.6, "gpu": 0.6},  # Sound run's last loss, as a share of the class-frequency loss.
        "stuck": {"quick": 0.75, "gpu": 0.75},  # [-1, 1] input: last loss above this share of it.
        "feature_spread": {"quick": 0.1, "gpu": 0.1},  # [-1, 1] input: block5_pool spread, share of caffe's.
        "bn_batch_dependence": {"quick": 0.1, "gpu": 0.1},  # Trainable BN: change of one image's scores.
        "bn_drift": {"quick": 0.005, "gpu": 0.005},  # Trainable BN: relative drift of bn2's moving mean.
        "bn_loss_gap": {"quick": 0.01, "gpu": 0.01},  # Trainable BN: train-mode loss minus inference loss.
        "invented": {"quick": 0.01, "gpu": 0.01},  # Bilinear-resized masks: share of labels that are no class.
        "truncated_iou": {"quick": 0.6, "gpu": 0.6},  # MeanIoU(2) of a perfect sigmoid output, truncated.
        "lr_small": {"quick": 0.9, "gpu": 0.9},  # lr_range_check at 1e-5: last/first loss above this.
        "lr_best": {"quick": 0.5, "gpu": 0.5},  # lr_range_check at 1e-3: last/first loss below this.
        "adadelta_default": {"quick": 0.1, "gpu": 0.1},  # Default-rate drop, as a share of rate 1.0's drop.
        "adadelta_drop": {"quick": 0.5, "gpu": 0.5},  # Adadelta at 1.0: share of the loss it removes.
    },

    # 08 · Beyond VGG. Its models are the small synthetic-pretrained ones in every profile, so gpu = quick.
    "08": {
        "signal_predicting": {"quick": 0.5, "gpu": 0.5},  # Torch-style input, moving statistics: signal below.
        "signal_fitting": {"quick": 0.8, "gpu": 0.8},  # Torch-style input, batch statistics: signal above.
        "background_match": {"quick": 0.01, "gpu": 0.01},  # Port as ported: |pixel accuracy - background share|.
        "ported_sign_share": {"quick": 0.005, "gpu": 0.005},  # Port as ported: share of pixels predicted as a sign.
        "fixed_sign_share": {"quick": 0.02, "gpu": 0.02},  # Fixed port: share of pixels predicted as a sign.
        "min_gain": {"quick": 0.05, "gpu": 0.05},  # Fixed port's mean IoU gain over the port as ported.
        "bn_batch_dependence": {"quick": 1e-3, "gpu": 1e-3},  # BN frozen by index: change of image 0's features.
        "adadelta_step_ratio": {"quick": 500, "gpu": 500},  # Adadelta step at rate 1.0 over the default's.
        "naive_dice": {"quick": 0.3, "gpu": 0.3},  # Dice on the learner's targets, perfect prediction: above.
        "masked_dice": {"quick": 0.05, "gpu": 0.05},  # soft_dice_loss with void skipped, perfect prediction: below.
    },
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
