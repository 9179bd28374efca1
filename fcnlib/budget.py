"""What each notebook costs to train, counted in FLOPs before anything runs.

A recipe's training cost is ``epochs x (training images x 3 + validation images) x forward FLOPs``
(a training step costs about three forward passes: the forward pass and two for the backward),
plus one forward pass over the test split for the notebook's scores. Forward FLOPs are counted
layer by layer from the architecture (2 x multiply-adds of every convolution, transposed
convolution and dense layer), without building the model, so the setup cell of every notebook can
say how long it will train; ``tests/test_budget.py`` checks the count against the layers of built
models. It is the project's one FLOP counter: the benchmark uses it for its GFLOP/s too.

The recipes' facts (which variants exist, which stage a staged FCN starts from, how many epochs a
stage trains, ``fc6``'s kernel) are :mod:`fcnlib.recipes`'. This module imports it inside the
functions that need it, not at the top: the setup cell imports budget before TensorFlow is loaded
quietly, and recipes loads TensorFlow.

FLOPs become minutes at a stated throughput (:data:`THROUGHPUT`). For the GPUs it is a
conservative *estimate*, to be replaced by a measurement; for the 2-core CPU it is the throughput
``make bench`` measured for an FCN-8s training step (bench/README.md).

Example:

>>> from fcnlib import budget
>>> round(budget.forward_flops("fcn32s", "gpu") / 1e9)
42
>>> budget.notebook_minutes("06", "gpu") <= budget.NOTEBOOK_LIMIT_MINUTES
True
"""

from __future__ import annotations

import dataclasses
import math

from fcnlib import config

# Sustained FLOP/s of a training step; "measured" says where a number comes from.
THROUGHPUT = {
    "cpu": (145e9, "measured: FCN-8s training step, make bench, 2-core x86_64, TF 2.21"),
    "t4": (8e12, "estimated: conservative for a T4 under mixed precision"),
    "a100": (40e12, "estimated: conservative for an A100-class GPU under mixed precision"),
}
# The recipes each notebook trains or loads, as (variant, task, upsampling, schedule); a staged
# FCN-16s / FCN-8s needs its earlier stage too (counted through recipes.STAGED_FROM).
_FCN32 = ("fcn32s", "binary", "fixed", "staged")
NOTEBOOK_RECIPES = {
    "00": (),
    "01": (("dense", "binary", "fixed", "staged"),),
    "02": (_FCN32, ("dense", "binary", "fixed", "staged")),
    "03": (),
    "04": (_FCN32, ("fcn32s", "binary", "learned", "staged"), ("fcn32s", "binary", "random", "staged")),
    "05": (_FCN32, ("fcn16s", "binary", "fixed", "staged"), ("fcn8s", "binary", "fixed", "staged")),
    "06": (("dense", "binary", "fixed", "staged"), _FCN32, ("fcn32s", "binary", "learned", "staged"),
           ("fcn32s", "binary", "random", "staged"), ("fcn16s", "binary", "fixed", "staged"),
           ("fcn8s", "binary", "fixed", "staged")),
    "07": (),
    "08": (),
}
# Training that no recipe does and the cache never keeps, so it runs in every runtime, as
# (variant, epochs, steps) per run: the one epoch of FCN-8s that notebook 05's exercise 1 trains.
EXTRA_TRAINING = {
    "05": (("fcn8s", 1, 0),),
}
# Notebooks that read the profile's dataset (and so need VOC in the gpu and full profiles), and
# those that build models from the profile's backbone (and so need the ImageNet weights there).
NEEDS_DATA = ("00", "01", "02", "04", "05", "06")
NEEDS_BACKBONE = ("01", "02", "04", "05", "06")
VOC_BYTES = 1_999_639_040  # VOCtrainval_11-May-2012.tar
# Minutes a notebook of the gpu profile may train on a T4, and the whole series.
NOTEBOOK_LIMIT_MINUTES = 10
SERIES_LIMIT_MINUTES = 45


def _profile(profile) -> config.Profile:
    return profile if isinstance(profile, config.Profile) else config.PROFILES[profile]


def _num_classes(task, profile):
    if task == "binary":
        return 2
    return len(config.VOC_CLASSES) if profile.dataset == "voc" else len(config.MULTICLASS_CLASSES)


def _conv(side_h, side_w, kernel, c_in, c_out):
    return 2.0 * side_h * side_w * kernel * kernel * c_in * c_out


def _trunk(size, width):
    """FLOPs of the VGG16 trunk at ``size`` (padded to a multiple of 32), and its channels per block."""
    side = math.ceil(size / 32) * 32
    total, c_in, channels = 0.0, 3, []
    for filters in config.VGG16_BLOCKS:
        for units in filters:
            c_out = max(1, int(units * width))
            total += _conv(side, side, 3, c_in, c_out)
            c_in = c_out
        channels.append(c_in)
        side //= 2
    return total, channels


def forward_flops(variant: str, profile="quick", task: str = "binary", image_size: int | None = None) -> float:
    """Forward FLOPs of one image through a series model, counted from its architecture.

    Args:
        variant: One of ``recipes.VARIANTS``: ``"dense"``, ``"fcn32s"``, ``"fcn16s"`` or ``"fcn8s"``.
        profile: A profile name or :class:`config.Profile` (width, image size, ``fc6`` kernel).
        task: ``"binary"`` or ``"multiclass"`` (the number of score channels).
        image_size: Side of the square input; the profile's (224 for the dense baseline with
            ImageNet weights, see ``recipes.dense_profile``) when None.

    Returns:
        2 x the multiply-adds of every convolution, transposed convolution and dense layer.
    """
    from fcnlib import recipes

    if variant not in recipes.VARIANTS:
        raise ValueError(f"Unknown variant {variant!r}; choose one of {recipes.VARIANTS}.")
    profile = _profile(profile)
    imagenet = profile.backbone_weights == "imagenet"
    if image_size is None:
        image_size = 224 if variant == "dense" and imagenet else profile.image_size
    total, channels = _trunk(image_size, profile.width)
    units = int(config.FC_UNITS * profile.width)
    if variant == "dense":  # flatten -> fc1 -> fc2 -> Dense(H*W) (one sigmoid channel).
        flat = (image_size // 32) ** 2 * channels[-1]
        return total + 2.0 * (flat * units + units * units + units * image_size * image_size)
    classes = _num_classes(task, profile)
    side = math.ceil(image_size / 32) * 32
    s32, s16, s8 = side // 32, side // 16, side // 8
    fc6 = recipes.fc6_kernel(profile)
    total += _conv(s32, s32, fc6, channels[-1], units) + _conv(s32, s32, 1, units, units)
    total += _conv(s32, s32, 1, units, classes)  # score_fr
    if variant == "fcn32s":
        return total + _conv(s32, s32, 64, classes, classes)  # upscore32 on its input grid
    total += _conv(s32, s32, 4, classes, classes) + _conv(s16, s16, 1, channels[3], classes)
    if variant == "fcn16s":
        return total + _conv(s16, s16, 32, classes, classes)  # upscore16
    total += _conv(s16, s16, 4, classes, classes) + _conv(s8, s8, 1, channels[2], classes)
    return total + _conv(s8, s8, 16, classes, classes)  # upscore8


def _recipe_epochs(variant, schedule, profile):
    from fcnlib import recipes

    if variant in recipes.STAGED_FROM and schedule == "staged":
        return recipes.stage_epochs(profile.epochs)
    return profile.epochs


def recipe_flops(recipe, profile) -> float:
    """Training FLOPs of one recipe alone (its earlier stages not included)."""
    variant, task, _, schedule = recipe
    profile = _profile(profile)
    flops = forward_flops(variant, profile, task)
    epochs = _recipe_epochs(variant, schedule, profile)
    return epochs * (3 * profile.num_train + profile.num_val) * flops


def _closure(runs):
    """The recipes with the earlier stages a staged FCN-16s / FCN-8s starts from, in order."""
    from fcnlib.recipes import STAGED_FROM

    needed = []
    for recipe in runs:
        chain, (variant, task, upsampling, schedule) = [], recipe
        while True:
            chain.append((variant, task, upsampling, schedule))
            if schedule != "staged" or variant not in STAGED_FROM:
                break
            variant = STAGED_FROM[variant]
        for item in reversed(chain):
            if item[0] in ("dense", "fcn32s"):
                item = (item[0], item[1], item[2], "staged")
            if item not in needed:
                needed.append(item)
    return needed


def notebook_flops(notebook: str, profile, cached: bool = False) -> float:
    """Training and scoring FLOPs of one notebook.

    Args:
        notebook: ``"00"`` ... ``"08"``.
        profile: A profile name or :class:`config.Profile`.
        cached: True when the models of earlier notebooks come from the checkpoint cache (one
            runtime for the whole series, or the cache on Google Drive); False counts a fresh
            runtime that trains everything the notebook uses.

    Returns:
        FLOPs: training of every recipe it has to train and of its :data:`EXTRA_TRAINING`, plus
        one pass over the test split per model it scores.
    """
    if notebook not in NOTEBOOK_RECIPES:
        raise ValueError(f"Unknown notebook {notebook!r}; choose one of {sorted(NOTEBOOK_RECIPES)}.")
    profile = _profile(profile)
    needed = _closure(NOTEBOOK_RECIPES[notebook])
    if cached:
        earlier = {item for name in NOTEBOOK_RECIPES if name < notebook
                   for item in _closure(NOTEBOOK_RECIPES[name])}
        trained = [item for item in needed if item not in earlier]
    else:
        trained = needed
    training = sum(recipe_flops(recipe, profile) for recipe in trained) + extra_flops(notebook, profile)
    scoring = sum(profile.num_test * forward_flops(recipe[0], profile, recipe[1])
                  for recipe in NOTEBOOK_RECIPES[notebook])
    return training + scoring


def extra_flops(notebook: str, profile) -> float:
    """Training FLOPs of a notebook's :data:`EXTRA_TRAINING` (no validation; binary task)."""
    profile = _profile(profile)
    total = 0.0
    for variant, epochs, steps in EXTRA_TRAINING.get(notebook, ()):
        images = epochs * profile.num_train + steps * profile.batch_size
        total += 3 * images * forward_flops(variant, profile)
    return total


def notebook_minutes(notebook: str, profile, device: str = "t4", cached: bool = False) -> float:
    """:func:`notebook_flops` in minutes at ``THROUGHPUT[device]``."""
    if device not in THROUGHPUT:
        raise ValueError(f"Unknown device {device!r}; choose one of {sorted(THROUGHPUT)}.")
    return notebook_flops(notebook, profile, cached) / THROUGHPUT[device][0] / 60


def table(profile="gpu") -> list[dict]:
    """One row per notebook: its minutes on each device, fresh runtime and with the cache."""
    profile = _profile(profile)
    rows = []
    for notebook in NOTEBOOK_RECIPES:
        row = {"notebook": notebook}
        for device in THROUGHPUT:
            row[device] = notebook_minutes(notebook, profile, device, cached=True)
            row[f"{device}_fresh"] = notebook_minutes(notebook, profile, device, cached=False)
        rows.append(row)
    return rows


def describe(notebook: str, profile) -> str:
    """The sentence a notebook's setup prints: estimated training time of this notebook."""
    profile = _profile(profile)
    if not NOTEBOOK_RECIPES.get(notebook):
        return "This notebook trains no series model."
    if profile.smoke:
        return "Smoke run: every training is one short epoch on a handful of images."
    if profile.dataset == "synthetic":
        cpu = notebook_minutes(notebook, profile, "cpu", cached=True)
        return (f"Training: about {cpu:.1f} min on a 2-core CPU when the earlier notebooks' models "
                f"are cached (estimated from counted FLOPs at {THROUGHPUT['cpu'][0] / 1e9:.0f} GFLOP/s).")
    t4 = notebook_minutes(notebook, profile, "t4", cached=True)
    fresh = notebook_minutes(notebook, profile, "t4", cached=False)
    return (f"Training (estimated from counted FLOPs, not measured): about {t4:.1f} min on a T4 with "
            f"the earlier notebooks' models cached, {fresh:.1f} min in a fresh runtime.")


def markdown_table(profile="gpu") -> str:
    """The README's table of estimated minutes per notebook (fresh runtime / cached)."""
    profile = _profile(profile)
    lines = ["| notebook | 2-core CPU | T4 | A100-class |", "|---|---:|---:|---:|"]
    for row in table(profile):
        cells = [f"{row[f'{d}_fresh']:.1f} / {row[d]:.1f}" for d in ("cpu", "t4", "a100")]
        lines.append(f"| {row['notebook']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def with_epochs(profile, epochs: int) -> config.Profile:
    """The profile with another epoch count (to see what a longer run would cost)."""
    return dataclasses.replace(_profile(profile), epochs=epochs)


def header_sentence(notebook: str, profile="gpu") -> str:
    """The GPU sentence of a notebook's header (and README row): the same figures in both places."""
    downloads = []
    if notebook in NEEDS_DATA:
        downloads.append(f"PASCAL VOC 2012 ({VOC_BYTES / 1e9:.1f} GB)")
    if notebook in NEEDS_BACKBONE:
        downloads.append("VGG16's ImageNet weights (0.55 GB)")
    fetched = f" First use downloads {' and '.join(downloads)}." if downloads else ""
    if not NOTEBOOK_RECIPES[notebook]:
        return (f"**GPU (`gpu` profile):** trains no model of the series; its own small computations take "
                f"no longer than on a CPU (not measured).{fetched}")
    cached = notebook_minutes(notebook, profile, "t4", cached=True)
    fresh = notebook_minutes(notebook, profile, "t4", cached=False)
    return (f"**GPU (`gpu` profile):** about {cached:.1f} min of training on a T4 when the earlier "
            f"notebooks' models are cached, {fresh:.1f} min in a fresh runtime (estimated from counted "
            f"FLOPs by `fcnlib.budget`, not measured).{fetched}")
