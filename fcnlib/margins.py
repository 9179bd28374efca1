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
    "00": {
        # Data facts, not trained results. The background share of the synthetic scenes (about 0.88),
        # which sections 1 and 6 show in every profile.
        "min_scene_background": {"quick": 0.8, "gpu": 0.8},
        # The background share of the profile's own test split: the scenes in quick; VOC val in gpu,
        # an estimate that leaves room below the scenes' share.
        "min_test_background": {"quick": 0.8, "gpu": 0.6},
        # Joint augmentation: IoU of the augmented mask picture with the augmented mask, same seed
        # (every example above this) and different seeds (their mean below this).
        "min_aligned_iou": {"quick": 0.9, "gpu": 0.9},
        "max_misaligned_iou": {"quick": 0.7, "gpu": 0.7},
    },

    # 01 · The dense baseline. gpu: VOC's objects are large and often central, so a mask that ignores
    # the image already overlaps them more; those values are estimates.
    "01": {
        "max_accuracy_gap": {"quick": 0.03, "gpu": 0.10},  # Accuracy above all-background, at most.
        "max_dense_fg_iou": {"quick": 0.3, "gpu": 0.45},  # The baseline's foreground IoU, at most.
        "max_spread_ratio": {"quick": 0.6, "gpu": 0.8},  # Spread of its predictions between images / the truth's.
        "alikeness_bar": {"quick": 0.3, "gpu": 0.3},  # Two scenes' predicted maps correlate more; their truths less.
        "loss_margin": {"quick": 0.02, "gpu": 0.05},  # Its test loss is at least the image-blind mask's minus this.
        "max_shift_consistency": {"quick": 0.5, "gpu": 0.8},  # IoU(predict(shift(x)), shift(predict(x))), at most.
        # Exercise 2: foreground IoU of a dense head trained with the weighted loss over the unweighted head's.
        # Both profiles run the same experiment (shipped quick VGG16, synthetic scenes); measured gains over
        # seeds 0, 1, 2 with pos_weight 6.8: 0.103, 0.082, 0.112.
        "min_weighted_iou_gain": {"quick": 0.05, "gpu": 0.05},
    },

    # 02 · Fully convolutional networks
    "02": {
        # Share of the mosaic's answers on which the one-pass score map and the classifier on each window
        # agree. quick: yes/no per sign class of the shipped classifier (measured). gpu: the top-1 class of
        # ImageNet VGG16 on synthetic scenes, an estimate that no GPU run has measured.
        "min_agreement": {"quick": 0.8, "gpu": 0.5},
        # FCN-32s's foreground IoU over the dense baseline's. quick: the measured gap is about 0.3.
        # gpu: PASCAL VOC, any object against background, an estimate.
        "min_fg_gain": {"quick": 0.15, "gpu": 0.10},
    },

    # 03 · Transposed convolution
    "03": {
        # With positive random kernels, the median ripple of k=3, s=2 over that of k=4, s=2 is above this.
        "min_ripple_ratio": {"quick": 1.5, "gpu": 1.5},
    },

    # 04 · Bilinear upsampling
    "04": {
        # Foreground IoUs of fixed and learned-from-bilinear closer than this count as "alike". Quick:
        # measured within about 0.02 on 200 scenes. gpu (estimated): Adam at 1e-4 moves a kernel tap by at
        # most about 0.04 in 4 epochs of 92 steps, so learned stays next to fixed; 1,449 VOC images are scored.
        "max_fg_iou_spread": {"quick": 0.1, "gpu": 0.05},
        # Relative distance of the learned kernel from bilinear after training (same reasoning for gpu).
        "max_learned_change": {"quick": 0.3, "gpu": 0.1},
        # The random start's score maps are at least this much rougher than the learned one's.
        "min_roughness_ratio": {"quick": 1.5, "gpu": 1.5},
    },

    # 05 · Skip connections
    "05": {
        # Foreground IoU an ideal 1/16 score map adds to an ideal 1/32 one (small signs vs large VOC objects).
        "min_ideal_gain": {"quick": 0.1, "gpu": 0.02},
        # Share of pixels a fresh FCN-16s labels as the trained FCN-32s does, and the most their pixel
        # accuracies may differ.
        "min_agreement": {"quick": 0.93, "gpu": 0.9},
        "max_accuracy_change": {"quick": 0.01, "gpu": 0.02},
        # Foreground and trimap IoU the staged FCN-8s adds to FCN-32s (quick measured ~0.4 and ~0.25).
        "min_fg_gain_8s": {"quick": 0.25, "gpu": 0.0},
        "min_boundary_gain_8s": {"quick": 0.15, "gpu": 0.0},
        # Foreground IoU FCN-16s adds to FCN-32s (quick measured ~0.3).
        "min_fg_gain_16s": {"quick": 0.15, "gpu": 0.0},
        # Foreground IoU FCN-8s adds to FCN-16s: quick ~0.1 on small signs; on VOC the paper finds
        # little, so gpu only asks that it loses no more than 0.02.
        "min_fg_gain_8s_over_16s": {"quick": 0.05, "gpu": -0.02},
        # Size of score_pool4 relative to upscore2 in the staged FCN-8s: at least this.
        "min_staged_skip_share": {"quick": 0.5, "gpu": 0.2},
        # Exercise 1: foreground IoU, on the test and validation splits, that the learner's FCN-8s must
        # exceed after training at once from the backbone. quick: the reference's 5 epochs (Adam 1e-3)
        # measured 0.751 to 0.803 on the test split and 0.763 to 0.801 on validation (seeds 0, 1, 2, oneDNN
        # on and off); after 4 epochs the test IoU fell to 0.668, after 6 to 0.701. gpu: an estimate.
        "min_exercise_fg_iou": {"quick": 0.65, "gpu": 0.3},
    },

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
