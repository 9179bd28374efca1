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

It also counts what the gpu notebooks hold on the accelerator (:func:`notebook_peak_gb`:
weights, Adam's state, gradients and activations per notebook section, in float32, against
:data:`PEAK_LIMIT_GB`) and what the series keeps on Google Drive (:func:`drive_bytes`), both from
the architectures' parameter counts (:func:`layer_counts`), which ``tests/test_budget.py`` checks
against built models and Keras' optimizer.

Example:

>>> from fcnlib import budget
>>> round(budget.forward_flops("fcn32s", "gpu") / 1e9)
42
>>> budget.notebook_minutes("06", "gpu") <= budget.NOTEBOOK_LIMIT_MINUTES
True
>>> budget.notebook_peak_gb("01", "gpu") <= budget.PEAK_LIMIT_GB
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
EXTRA_TRAINING = {  # notebook: ((variant, epochs, steps), ...); epochs are capped at the profile's.
    "05": (("fcn8s", 5, 0),),  # Exercise 1: FCN-8s by hand, trained at once for min(5, epochs) epochs.
}
# The other training exercises (01's weighted heads, 04's upsampler experiment, 07's one-batch run) train
# small models on the quick scenes in every profile: seconds, not counted.
# Notebooks that read the profile's dataset (and so need VOC in the gpu and full profiles), and
# those that build models from the profile's backbone (and so need the ImageNet weights there).
NEEDS_DATA = ("00", "01", "02", "04", "05", "06")
NEEDS_BACKBONE = ("01", "02", "04", "05", "06")
VOC_BYTES = 1_999_639_040  # VOCtrainval_11-May-2012.tar
SBD_BYTES = 1_419_539_633  # benchmark.tgz (the SBD masks of train_aug)
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
        images = min(epochs, profile.epochs) * profile.num_train + steps * profile.batch_size
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
    """The table of estimated minutes per notebook (fresh runtime / cached) and peak GPU memory.

    The peak is :func:`notebook_peak_gb` (a fresh runtime, float32, the :data:`NOTEBOOK_EDITS` made);
    "none" for a notebook that trains no series model.
    """
    profile = _profile(profile)
    lines = ["| notebook | 2-core CPU | T4 | A100-class | peak GPU memory |", "|---|---:|---:|---:|---:|"]
    for row in table(profile):
        cells = [f"{row[f'{d}_fresh']:.1f} / {row[d]:.1f}" for d in ("cpu", "t4", "a100")]
        sections = notebook_sections(row["notebook"], profile)
        cells.append(f"{notebook_peak_gb(row['notebook'], profile):.1f} GB" if sections else "none")
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


# ---------------------------------------------------------------------------------------------
# Accelerator memory: what each notebook keeps on the GPU, counted from the architectures.
#
# Every value is counted in float32 (4 bytes), also where the gpu profile computes in float16
# (mixed precision keeps float32 weights, gradients and optimizer slots and halves only the
# activations), so the figures are an upper bound for those. A model alive in a section holds its
# weights; a model trained with Adam holds two slots per trainable value (``m`` and ``v``) plus two
# scalars (the step count and the learning rate) until its optimizer is released; the model being
# trained also holds one gradient per trainable value and the activations its forward pass keeps
# for backprop at the batch size. The activations kept are the outputs of every layer from the first
# layer with trainable weights on, plus that layer's input: a frozen layer in front of it (the dense
# baseline's VGG16) records nothing for the gradient. Workspace of the kernels (cuDNN, XLA) and
# TensorFlow's allocator slack are not counted: PEAK_LIMIT_GB leaves 3 GB of a T4's 15 GB for them.

BYTES_PER_VALUE = 4  # float32
ADAM_SLOTS = 2  # m and v, one value each per trainable value.
ADAM_SCALARS = 2  # The optimizer's step count and learning rate, variables of their own in Keras 3.
PEAK_LIMIT_GB = 12.0  # Peak per gpu notebook; a Colab T4 has 15 GB.
GPU_NOTEBOOKS = ("01", "02", "04", "05", "06")  # The notebooks that train in the gpu profile.
# What the optimizer of a model holds in a section:
#   "weights": nothing (never trained, loaded from the cache, or its optimizer released);
#   "adam": Adam's state, which the notebook's own compile/fit keeps as long as the model lives;
#   "recipe": trained by train.train_or_load, which releases Adam's state when training ends
#             (counted as "adam" with released=False, the code before the release).
STATES = ("weights", "adam", "recipe")


@dataclasses.dataclass(frozen=True)
class ModelSize:
    """One architecture's counts: all parameters, trainable ones, activations kept per image."""

    params: int
    trainable: int
    activations: int


@dataclasses.dataclass(frozen=True)
class Alive:
    """A model that holds accelerator memory in a section; ``edit`` names the notebook edit that deletes it."""

    model: str
    state: str = "weights"
    note: str = ""
    edit: str | None = None


@dataclasses.dataclass(frozen=True)
class Section:
    """A part of a notebook: the models alive in it and the one it trains (with its batch size)."""

    title: str
    alive: tuple[Alive, ...] = ()
    trains: str | None = None
    batch_size: int | None = None  # None: the profile's.


# Edits the notebooks need so that the peak stays within PEAK_LIMIT_GB; the budget counts them as
# made (edits=True) and tests/test_budget.py checks that each notebook holds its edit.
NOTEBOOK_EDITS = {
    "01-del-heads": ("01", "del real_head, scrambled_head",
                     "last line of section 5's training cell (the one that ends with the assert "
                     "'equally learnable'): the two 205-million-parameter heads and their Adam state "
                     "are not used again"),
}


def _layer(name, shape, params=0, trainable=None):
    """(name, output values per image, parameters, trainable parameters)."""
    return name, math.prod(shape), params, params if trainable is None else trainable


def _trunk_layers(side, width):
    layers, c_in, taps = [], 3, {}
    for block, filters in enumerate(config.VGG16_BLOCKS, start=1):
        for index, units in enumerate(filters, start=1):
            c_out = max(1, int(units * width))
            layers.append(_layer(f"block{block}_conv{index}", (side, side, c_out), 9 * c_in * c_out + c_out))
            c_in = c_out
        side //= 2
        layers.append(_layer(f"block{block}_pool", (side, side, c_in)))
        taps[f"block{block}_pool"] = (side, c_in)
    return layers, taps


def _upsample(name, side, factor, classes, upsampling):
    params = (2 * factor) ** 2 * classes * classes  # Conv2DTranspose, kernel 2 x factor, no bias.
    return _layer(name, (side, side, classes), params, 0 if upsampling == "fixed" else params)


def layer_counts(model: str, profile="gpu", task: str = "binary", image_size: int | None = None) -> list[tuple]:
    """The layers of a series model in order, counted from the architecture without building it.

    Args:
        model: ``"dense"``, ``"fcn32s"``, ``"fcn16s"``, ``"fcn8s"`` (an FCN may end in ``-learned``
            or ``-random`` for its upsampling, see ``layers.upsample_layer``), ``"vgg16"`` (the
            classifier notebook 02 converts: ImageNet VGG16 with 1,000 classes, or the quick one),
            ``"vgg16-conv"`` (``models.convolutionalize`` of it: new weights, the same count),
            ``"vgg16-conv-by-hand"`` (notebook 02's own conversion: it reuses the classifier's
            convolutions, so only the converted dense layers are new) or ``"dense-head"`` (notebook
            01's ``Dense(H*W)`` head on the 4,096 ``fc2`` features).
        profile: A profile name or :class:`config.Profile`.
        task: ``"binary"`` or ``"multiclass"`` (FCN score channels).
        image_size: The input side; the profile's (224 for the dense baseline with ImageNet weights).

    Returns:
        ``(name, output values per image, parameters, trainable parameters)`` per layer, the input first.
    """
    from fcnlib import recipes

    profile = _profile(profile)
    imagenet = profile.backbone_weights == "imagenet"
    base, _, upsampling = model.partition("-")
    units = int(config.FC_UNITS * profile.width)
    if model == "dense-head":
        side = 224 if imagenet else profile.image_size
        return [_layer("features", (units,)), _layer("dense", (side * side,), units * side * side + side * side)]
    if base == "vgg16":
        side = 224 if imagenet else config.QUICK.image_size
        classes = 1000 if imagenet else len(config.MULTICLASS_CLASSES) - 1
        trunk, taps = _trunk_layers(side, profile.width)
        grid, channels = taps["block5_pool"]
        fc = [_layer("fc1", (units,), grid * grid * channels * units + units), _layer("fc2", (units,), units * units + units),
              _layer("predictions", (classes,), units * classes + classes)]
        if upsampling == "conv-by-hand":  # Only the converted dense layers are new weights.
            trunk = [(name, values, 0, 0) for name, values, _, _ in trunk]
        elif upsampling not in ("", "conv"):
            raise ValueError(f"Unknown model {model!r}.")
        return [_layer("image", (side, side, 3)), *trunk, _layer("flatten", (grid * grid * channels,)), *fc]
    if base not in recipes.VARIANTS or upsampling not in ("", "learned", "random") or (base == "dense" and upsampling):
        raise ValueError(f"Unknown model {model!r}; choose one of {recipes.VARIANTS} (FCNs with -learned or "
                         "-random), 'vgg16', 'vgg16-conv', 'vgg16-conv-by-hand' or 'dense-head'.")
    upsampling = upsampling or "fixed"
    if image_size is None:
        image_size = 224 if base == "dense" and imagenet else profile.image_size
    if base == "dense":  # Frozen VGG16 to fc2, then the trainable Dense(H*W) and its reshape.
        trunk, taps = _trunk_layers(image_size, profile.width)
        grid, channels = taps["block5_pool"]
        frozen = [(name, values, params, 0) for name, values, params, _ in trunk]
        head = units * image_size * image_size + image_size * image_size
        return [_layer("image", (image_size, image_size, 3)), *frozen, _layer("flatten", (grid * grid * channels,)),
                _layer("fc1", (units,), grid * grid * channels * units + units, 0),
                _layer("fc2", (units,), units * units + units, 0),
                _layer("dense_mask", (image_size * image_size,), head),
                _layer("reshape_mask", (image_size, image_size, 1))]
    classes = _num_classes(task, profile)
    side = math.ceil(image_size / 32) * 32
    trunk, taps = _trunk_layers(side, profile.width)
    s32, channels5 = taps["block5_pool"]
    fc6 = recipes.fc6_kernel(profile)
    layers = [_layer("image", (image_size, image_size, 3)), _layer("pad", (side, side, 3)), *trunk,
              _layer("fc6", (s32, s32, units), fc6 * fc6 * channels5 * units + units), _layer("drop6", (s32, s32, units)),
              _layer("fc7", (s32, s32, units), units * units + units), _layer("drop7", (s32, s32, units)),
              _layer("score_fr", (s32, s32, classes), units * classes + classes)]
    # Each skip: a 2x upsampler of the coarser scores, a 1x1 score layer on the pool, their sum (the paper's names).
    skips = {"fcn32s": (), "fcn16s": (("upscore2", "pool4"),),
             "fcn8s": (("upscore2", "pool4"), ("upscore_pool4", "pool3"))}[base]
    for upscore, pool in skips:
        grid, channels = taps[f"block{pool[-1]}_pool"]
        layers += [_upsample(upscore, grid, 2, classes, upsampling),
                   _layer(f"score_{pool}", (grid, grid, classes), channels * classes + classes),
                   _layer(f"fuse_{pool}", (grid, grid, classes))]
    stride = 32 // 2 ** len(skips)  # The final upsampler: x32, x16 or x8.
    layers.append(_upsample(f"upscore{stride}", side, stride, classes, upsampling))
    return [*layers, _layer("crop", (image_size, image_size, classes))]


def model_size(model: str, profile="gpu", task: str = "binary", image_size: int | None = None) -> ModelSize:
    """Parameters, trainable parameters and activations kept per image of one model (:func:`layer_counts`)."""
    layers = layer_counts(model, profile, task, image_size)
    first = next((i for i, layer in enumerate(layers) if layer[3]), None)
    kept = 0 if first is None else layers[first - 1][1] + sum(layer[1] for layer in layers[first:])
    return ModelSize(params=sum(layer[2] for layer in layers), trainable=sum(layer[3] for layer in layers),
                     activations=kept)


def adam_values(trainable: int) -> int:
    """Values Keras 3's Adam holds for a model with ``trainable`` trainable values."""
    return ADAM_SLOTS * trainable + ADAM_SCALARS


def _gpu_sections(profile) -> dict:
    """Each gpu notebook as sections: the models alive in each and the one it trains (see NOTEBOOK_SECTIONS)."""
    def fcns(*names, state="recipe"):
        return tuple(Alive(name, state) for name in names)

    stage_copy = "the earlier stage train_model loads inside build_fn, held until Python collects it"
    nb01_heads = (Alive("dense-head", "adam", "real_head", "01-del-heads"),
                  Alive("dense-head", "adam", "scrambled_head", "01-del-heads"))
    nb02 = (Alive("vgg16", note="classifier"), Alive("vgg16-conv-by-hand", note="conv_net"),
            Alive("vgg16-conv", note="library_net"), Alive("fcn32s", note="fcn"))
    nb05 = (Alive("fcn32s", note="fcn32s_fresh"), Alive("fcn16s", note="mine"), Alive("fcn16s", note="library"))
    nb06 = fcns("dense", "fcn32s", "fcn32s-learned", "fcn32s-random")
    return {
        "01": (
            Section("2. Training it (dense baseline)", trains="dense"),
            Section("5. Evidence 2: real and scrambled heads", (Alive("dense", "recipe"), nb01_heads[0]),
                    trains="dense-head"),
            Section("Exercise 3: two weighted heads", (Alive("dense", "recipe"), *nb01_heads,
                                                       Alive("dense-head", "adam", "the first call's head, "
                                                             "held until Python collects it")),
                    trains="dense-head", batch_size=64),
        ),
        "02": (
            Section("1.-3. Classifier, its conversions and an FCN-32s", nb02),
            Section("4. Training FCN-32s", nb02, trains="fcn32s"),
            Section("4. Training the dense baseline", (*nb02, Alive("fcn32s", "recipe")), trains="dense"),
        ),
        "04": (
            Section("4. FCN-32s, fixed upsampling", trains="fcn32s"),
            Section("4. FCN-32s, learned upsampling", fcns("fcn32s"), trains="fcn32s-learned"),
            Section("4. FCN-32s, random upsampling", fcns("fcn32s", "fcn32s-learned"), trains="fcn32s-random"),
        ),
        "05": (
            Section("2.2 Training FCN-32s", nb05, trains="fcn32s"),
            Section("3. Staged FCN-16s", (*nb05, Alive("fcn32s", "recipe"), Alive("fcn16s", note="fresh16"),
                                          Alive("fcn32s", note=stage_copy)), trains="fcn16s"),
            Section("3. Staged FCN-8s", (*nb05, *fcns("fcn32s", "fcn16s"), Alive("fcn16s", note="fresh16"),
                                         Alive("fcn8s", note="fresh8"), Alive("fcn32s", note=stage_copy),
                                         Alive("fcn16s", note=stage_copy)), trains="fcn8s"),
            Section("Exercise 1: FCN-8s by hand, one epoch", (*nb05, *fcns("fcn32s", "fcn16s", "fcn8s"),
                                                             Alive("fcn16s", note="fresh16"),
                                                             Alive("fcn8s", note="fresh8")), trains="fcn8s"),
            Section("Exercise 1: the checks", (*nb05, *fcns("fcn32s", "fcn16s", "fcn8s"),
                                               Alive("fcn16s", note="fresh16"), Alive("fcn8s", note="fresh8"),
                                               Alive("fcn8s", "adam", "my_fcn8s, trained by train.fit"),
                                               Alive("fcn8s", note="built"), Alive("fcn8s", note="library8"))),
        ),
        "06": (
            Section("2. Dense baseline (fresh runtime)", trains="dense"),
            Section("2. FCN-32s", nb06[:1], trains="fcn32s"),
            Section("2. FCN-32s, learned upsampling", nb06[:2], trains="fcn32s-learned"),
            Section("2. FCN-32s, random upsampling", nb06[:3], trains="fcn32s-random"),
            Section("2. Staged FCN-16s", (*nb06, Alive("fcn32s", note=stage_copy)), trains="fcn16s"),
            Section("2. Staged FCN-8s", (*nb06, *fcns("fcn16s"), Alive("fcn32s", note=stage_copy),
                                         Alive("fcn16s", note=stage_copy)), trains="fcn8s"),
        ),
    }


def notebook_sections(notebook: str, profile="gpu") -> tuple[Section, ...]:
    """The sections of a notebook that hold models on the accelerator; () for one that trains none.

    A fresh runtime: every model the notebook uses is trained in it (with the cache, loaded models
    hold no optimizer state, so the peak is never higher).
    """
    if notebook not in NOTEBOOK_RECIPES:
        raise ValueError(f"Unknown notebook {notebook!r}; choose one of {sorted(NOTEBOOK_RECIPES)}.")
    return _gpu_sections(_profile(profile)).get(notebook, ())


def section_bytes(section: Section, profile="gpu", released: bool = True, edits: bool = True) -> dict:
    """Bytes a section holds on the accelerator, in float32: ``weights``, ``optimizer``, ``gradients``,
    ``activations`` and their ``total``.

    Args:
        section: A :class:`Section` of :func:`notebook_sections`.
        profile: A profile name or :class:`config.Profile`.
        released: True (the code as it is): a model trained by ``train.train_or_load`` holds no
            optimizer state afterwards; False: it holds Adam's state, as before the release.
        edits: Count the :data:`NOTEBOOK_EDITS` as made (the models they delete hold nothing).
    """
    profile = _profile(profile)
    counts = {"weights": 0, "optimizer": 0, "gradients": 0, "activations": 0}
    for alive in section.alive:
        if alive.state not in STATES:
            raise ValueError(f"Unknown state {alive.state!r} of {alive.model!r}; choose one of {STATES}.")
        if edits and alive.edit is not None:
            continue
        size = model_size(alive.model, profile)
        counts["weights"] += size.params
        if alive.state == "adam" or (alive.state == "recipe" and not released):
            counts["optimizer"] += adam_values(size.trainable)
    if section.trains is not None:
        size = model_size(section.trains, profile)
        counts["weights"] += size.params
        counts["optimizer"] += adam_values(size.trainable)
        counts["gradients"] += size.trainable
        counts["activations"] += (section.batch_size or profile.batch_size) * size.activations
    counts = {name: value * BYTES_PER_VALUE for name, value in counts.items()}
    counts["total"] = sum(counts.values())
    return counts


def notebook_peak_gb(notebook: str, profile="gpu", released: bool = True, edits: bool = True) -> float:
    """The largest :func:`section_bytes` total of a notebook, in GB (1e9 bytes); 0 for one that trains none."""
    sections = notebook_sections(notebook, profile)
    return max((section_bytes(s, profile, released, edits)["total"] for s in sections), default=0) / 1e9


# ---------------------------------------------------------------------------------------------
# Google Drive: what the series keeps there in the gpu profile.

def cached_recipes() -> list[tuple]:
    """Every recipe the series caches: the notebooks' recipes with the stages they start from."""
    return _closure([recipe for name in sorted(NOTEBOOK_RECIPES) for recipe in NOTEBOOK_RECIPES[name]])


def entry_bytes(recipe, profile="gpu") -> int:
    """Bytes of one cache entry's weights file: every weight in float32, no optimizer state.

    HDF5's own bookkeeping (a few kB per layer) and the JSON sidecar (about 1.5 kB) come on top.
    """
    variant, task, upsampling, _ = recipe
    name = variant if upsampling == "fixed" or variant == "dense" else f"{variant}-{upsampling}"
    return model_size(name, profile, task).params * BYTES_PER_VALUE


def drive_bytes(profile="gpu") -> int:
    """Bytes the series keeps on Google Drive: every cached entry's weights and the VOC archive.

    VOC is unpacked on the runtime's local disk and epoch backups stay there too
    (``environment.use_google_drive``), so neither counts; the ImageNet weights live in
    ``~/.keras/models`` on the runtime.
    """
    profile = _profile(profile)
    archives = VOC_BYTES if profile.dataset == "voc" else 0
    if profile.dataset == "voc" and profile.train_split == "train_aug":
        archives += SBD_BYTES
    return sum(entry_bytes(recipe, profile) for recipe in cached_recipes()) + archives
