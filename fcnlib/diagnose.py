"""Why won't my segmentation model learn? Checks for the mistakes that make a loss merely oscillate.

Each check looks at your own data or model and returns a list of :class:`Finding` (empty when all
is well); :func:`report` prints them. The checks are:

- :func:`check_data`: input value range against the backbone's preprocessing (caffe for VGG16 and
  ResNet50, [-1, 1] for Xception and ResNet-v2, mean/std; :func:`expected_preprocessing` reads it
  from the model), mask values outside the classes (bilinear resizing), 0/255 binary masks, void
  pixels, the background share.
- :func:`check_one_hot`: void 255 leaking into one-hot targets (256 columns, all-zero rows, or 255
  written into the targets of void pixels).
- :func:`check_model`: softmax/sigmoid output with a ``from_logits=True`` loss (and logits with a
  probability loss), Keras ``MeanIoU`` fed probabilities, trainable BatchNorm inside a frozen
  backbone, ``trainable`` changed after training started without compiling again, nothing to
  train, output size != input size,
  Adadelta at Keras' default rate.
- :func:`overfit_one_batch` and :func:`lr_range_check`: short training runs on one batch, on a copy
  of the model, that tell whether the loss can drop at all and which learning rate drops it.
- :func:`check_all`: all of the above on one batch of your data, in one call.

Example:

>>> from fcnlib import diagnose  # doctest: +SKIP
>>> diagnose.report(diagnose.check_data(x, y, 21) + diagnose.check_model(model))

Introduced in notebooks/07_why_wont_it_learn.ipynb.
"""

from __future__ import annotations

import dataclasses
import re
import textwrap
import warnings

import keras
import numpy as np

from fcnlib import config

SEVERITIES = ("error", "warning", "info")
# Adadelta below this rate takes steps too small to train in a reasonable time (its paper uses 1.0).
ADADELTA_MIN_RATE = 0.1


@dataclasses.dataclass(frozen=True)
class Finding:
    """One problem found: what you see, why it happens, what to do; severity error/warning/info."""

    name: str
    symptom: str
    diagnosis: str
    fix: str
    severity: str = "warning"
    details: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)


def _share(count, total):
    return f"{count / max(total, 1):.1%}"


def _check_one_batch(where, x, y):
    """Refuses a tf.data.Dataset (or its iterator) where one batch of arrays belongs, by name."""
    for name, value in (("x", x), ("y", y)):
        if hasattr(value, "element_spec"):  # tf.data.Dataset and its iterators; arrays have none.
            kind = "tf.data.Dataset" if hasattr(value, "take") else "tf.data iterator"
            raise ValueError(f"{where} takes one batch of arrays (images (N, H, W, 3) and masks (N, H, W)), "
                             f"but {name} is a {kind}. Take one batch: images, masks = next(iter(dataset)), "
                             f"then {where}({'' if where == 'check_data' else 'model, '}images[:4], masks[:4]"
                             f"{', num_classes' if where == 'check_data' else ''}).")
        if value is None:
            raise ValueError(f"{where} got {name}=None; pass one batch of images (x) and its masks (y).")


def _output_channels(model, where):
    """The model's output channels; a clear error for what is no model, or one not built yet."""
    if hasattr(model, "element_spec"):
        raise ValueError(f"{where} takes the model first, then one batch: {where}(model, images, masks); "
                         "the first argument is a tf.data.Dataset.")
    if not isinstance(model, keras.Model):
        raise ValueError(f"{where} needs a keras.Model; got {type(model).__name__}.")
    kind = type(model).__name__
    wrap = ("Wrap it in a functional model, which builds it and gives it an output shape: "
            "inputs = keras.Input((None, None, 3)); model = keras.Model(inputs, your_model(inputs)).")
    if not model.built and isinstance(model, keras.Sequential):
        raise ValueError(
            f"{where} got a Sequential model that was never built: it has no input yet, so no weights and "
            "no output shape. Start it with an input, keras.Sequential([keras.Input((None, None, 3)), ...]), "
            "or build it: model.build((None, None, None, 3)).")
    if not model.built:  # Functional models are built when made: this one is subclassed.
        raise ValueError(f"{where} got a subclassed model ({kind}) that was never called, so it has no "
                         f"weights and no output shape yet. {wrap}")
    try:
        return model.output_shape[-1]
    except (AttributeError, ValueError):
        raise ValueError(f"{where} got a subclassed model ({kind}), which has no output_shape to read the "
                         f"classes from. {wrap}") from None


# What a backbone's weights expect as input: (what the values look like, how to produce them).
PREPROCESSING = {
    "caffe": (
        ("caffe-style input: RGB->BGR, 0..255, ImageNet mean subtracted, so values span about "
         "[-124, 152] (VGG16, ResNet50/101/152 v1)"),
        ("Feed pipeline.preprocess_vgg16(uint8_images) (the same as keras.applications.vgg16."
         "preprocess_input and resnet50.preprocess_input) and nothing else."),
    ),
    "tf": (
        "input scaled to [-1, 1] (x / 127.5 - 1: Xception, ResNet-v2, MobileNetV2, Inception)",
        "Feed keras.applications.xception.preprocess_input(uint8_images), i.e. x / 127.5 - 1.",
    ),
    "torch": (
        ("torch-style input: 0..1, then ImageNet mean/std per channel, so values span about "
         "[-2.1, 2.6] (DenseNet, torchvision models)"),
        "Feed keras.applications.densenet.preprocess_input(uint8_images).",
    ),
}


def expected_preprocessing(model):
    """The input a model's backbone was trained on, read from Keras' layer names.

    Returns ``"caffe"`` for VGG16/19 and ResNet v1 (``keras.applications`` or fcnlib's trunks),
    ``"tf"`` ([-1, 1]) for Xception, ResNet-v2 and MobileNetV2, ``"torch"`` (mean/std) for DenseNet,
    and None when the names tell nothing (a model of your own).

    Example:

    >>> diagnose.expected_preprocessing(keras.applications.Xception(weights=None))  # doctest: +SKIP
    'tf'
    """
    names = {layer.name for layer in _walk(model)}
    if any(name.endswith("_preact_bn") or "sepconv" in name or name.startswith("expanded_conv")
           for name in names):
        return "tf"  # ResNet-v2's pre-activation BN, Xception's separable convs, MobileNetV2.
    if "pool2_conv" in names:
        return "torch"  # DenseNet's first transition layer.
    if "conv2_block1_0_conv" in names or {"block1_conv1", "block5_conv3"} <= names:
        return "caffe"
    return None


def check_data(images, masks, num_classes, ignore_label=config.IGNORE_LABEL,
               preprocessing="caffe") -> list[Finding]:
    """Checks the arrays you feed the model: image value range, mask values, void, background share.

    Args:
        images: The model's input batch (N, H, W, 3), after your preprocessing.
        masks: Class indices (N, H, W) or (N, H, W, 1), or one-hot targets (N, H, W, K), which
            :func:`check_one_hot` checks.
        num_classes: Number of classes the model predicts (1 = one sigmoid channel, labels {0, 1}).
        ignore_label: The void value.
        preprocessing: What the backbone expects, a key of :data:`PREPROCESSING` (``"caffe"``,
            ``"tf"`` for [-1, 1], ``"torch"``; :func:`expected_preprocessing` reads it from a
            model), or None to skip the input check.

    Returns:
        A list of findings; empty when nothing looks wrong.

    Example:

    >>> findings = diagnose.check_data(x_train[:16], y_train[:16], num_classes=2)  # doctest: +SKIP
    >>> diagnose.report(findings)  # doctest: +SKIP
    """
    if preprocessing is not None and preprocessing not in PREPROCESSING:
        raise ValueError(f"Unknown preprocessing {preprocessing!r}; choose one of "
                         f"{sorted(PREPROCESSING)} or None.")
    _check_one_batch("check_data", images, masks)
    images, masks = np.asarray(images), np.asarray(masks)
    if images.ndim == 3 and images.shape[-1] in (1, 3):
        raise ValueError(f"check_data got one image of shape {images.shape} without a batch axis; add "
                         "one: check_data(image[None], mask[None], ...).")
    if images.size == 0 or masks.size == 0:
        raise ValueError(f"check_data got an empty batch (images {images.shape}, masks {masks.shape}); "
                         "pass at least one image and its mask, e.g. x[:4], y[:4].")
    if images.dtype.kind == "f" and not np.isfinite(images).all():
        count = int(images.size - np.count_nonzero(np.isfinite(images)))
        return [Finding("input_not_finite", f"{count} of {images.size} input values are NaN or inf.",
                        "The network turns every NaN it meets into NaN outputs and a NaN loss; the value "
                        "range says nothing about such a batch.", "Find where they come from (a division "
                        "by zero in your normalisation, a failed read) and fix the images.", "error")]
    inputs = _check_inputs(images, preprocessing) if preprocessing else []
    if masks.ndim == images.ndim and masks.shape[-1] > 1:
        return inputs + check_one_hot(masks, num_classes, ignore_label)
    if masks.ndim == images.ndim:
        masks = masks[..., 0]
    if images.ndim != 4 or masks.shape != images.shape[:3]:
        raise ValueError(f"Expected images (N, H, W, C) and masks (N, H, W); got {images.shape} "
                         f"and {masks.shape}.")
    return inputs + _check_masks(masks, max(int(num_classes), 2), ignore_label)


def _input_kind(low, high):
    """Names the preprocessing a batch's value range looks like."""
    if low >= 0:
        return "unit" if high <= 1.0 else "raw"
    if high - low >= 20:
        # One caffe preprocessing reaches -123.68 at the lowest (a black pixel's red channel); a second
        # one subtracts the mean again, down to about -227.
        return "caffe" if low >= -124.5 else "caffe_twice"
    return "tf" if low >= -1.001 and high <= 1.001 else "torch"


_KIND_WORDS = {"caffe_twice": "preprocessed twice (the mean subtracted two times)", "unit": "[0, 1]", "raw": "raw 0..255 pixels", "caffe": "caffe-style (mean-subtracted "
               "0..255)", "tf": "already centred and scaled to [-1, 1]",
               "torch": "already centred and scaled (mean/std)"}


def _check_inputs(images, preprocessing="caffe"):
    low, high = float(images.min()), float(images.max())
    kind = _input_kind(low, high)
    if kind == preprocessing:
        return []
    seen = f"Input values span [{low:.3g}, {high:.3g}] ({images.dtype})."
    wanted, fix = PREPROCESSING[preprocessing]
    wanted = f"The backbone was trained on {wanted}."
    if kind == "caffe_twice":
        return [Finding("input_range", seen, "Images were preprocessed twice: values below -124 cannot "
                        "come from one caffe preprocessing (its lowest is -123.68), so the mean was "
                        f"subtracted two times. {wanted}", "Call pipeline.preprocess_vgg16 once: "
                        "make_dataset and evaluate already do it for uint8 images.", "error")]
    if preprocessing == "caffe" and kind == "raw":
        return [Finding("input_range", seen, f"Images are raw 0..255 pixels, not mean-subtracted "
                        f"BGR. {wanted}", fix, "warning")]
    if {kind, preprocessing} == {"tf", "torch"}:
        return [Finding("input_range", seen, f"Images look {_KIND_WORDS[kind]}. {wanted} The scale "
                        "is close, but every channel is shifted and stretched.", fix, "warning")]
    scale = ("about 100x too small" if preprocessing == "caffe" else
             "about 100x too large" if kind in ("raw", "caffe") else "on another scale")
    return [Finding("input_range", seen, f"Images are {_KIND_WORDS[kind]}: {scale}. {wanted} "
                    "The pretrained filters see inputs unlike any they were trained on, and "
                    "features carry little signal (BatchNorm's moving statistics, used when "
                    "predicting, do not match either).", fix, "error")]


def _check_masks(masks, labels, ignore):
    findings, total = [], masks.size
    if masks.dtype.kind == "f" and not np.all(np.mod(masks, 1) == 0):
        fractional = int(np.count_nonzero(np.mod(masks, 1)))
        return [Finding("mask_values", f"{_share(fractional, total)} of mask pixels are fractional.",
                        "Masks were interpolated (bilinear resize or float conversion): between two "
                        "classes they hold in-between values that are no class at all.",
                        "Resize masks only with nearest neighbour (tf.image.resize(..., "
                        "method='nearest')) and keep them as integers.", "error")]
    values, counts = np.unique(masks.astype(np.int64), return_counts=True)
    if labels == 2 and set(values.tolist()) == {0, ignore}:
        return [Finding("binary_mask_255", f"The masks hold only 0 and {ignore}.",
                        f"The foreground was saved as {ignore}, the void label: the loss ignores "
                        "every object pixel and the model only ever sees background.",
                        "Map foreground to 1: masks = (masks > 127).astype('uint8').", "error")]
    stray = (values < 0) | ((values >= labels) & (values != ignore))
    if stray.any():
        findings.append(Finding(
            "mask_values", f"{int(stray.sum())} mask values outside 0..{labels - 1} and "
            f"{ignore}, e.g. {values[stray][:8].tolist()}, on {_share(counts[stray].sum(), total)} "
            "of pixels.",
            "Many distinct stray values come from bilinear resizing or anti-aliased / JPEG masks, "
            "which blend neighbouring labels; a few usually mean num_classes is too small.",
            "Resize masks with nearest neighbour, store them as PNG, and check num_classes.",
            "error", {"values": values[stray].tolist()}))
    void = int(counts[values == ignore].sum())
    if void:
        findings.append(Finding(
            "void_pixels", f"{_share(void, total)} of pixels are void ({ignore}).",
            "Void pixels are fine when the loss and metrics skip them; a plain loss raises or "
            "learns them as a class, and one-hot encoding turns them into garbage targets.",
            "Use metrics.segmentation_loss / SparseCategoricalCrossentropy(ignore_class="
            f"{ignore}) and metrics.StreamingMeanIoU; keep masks sparse.", "info"))
    valid = int(counts[(values >= 0) & (values < labels)].sum())
    background = int(counts[values == 0].sum())
    if valid and background / valid >= 0.7:
        findings.append(Finding(
            "background_share", f"Background is {_share(background, valid)} of labelled pixels.",
            f"A model that predicts background everywhere already scores "
            f"{_share(background, valid)} pixel accuracy, so accuracy says little and an "
            "all-background prediction is an easy local minimum.",
            "Judge models by mean IoU and per-class IoU, look at predictions (viz.show_grid), and "
            "consider soft_dice_loss or per-pixel weights if the model collapses to background.",
            "warning", {"background_share": background / valid}))
    return findings


def check_one_hot(targets, num_classes=None, ignore_label=config.IGNORE_LABEL) -> list[Finding]:
    """Checks one-hot targets (..., K) for the void label leaking in.

    ``keras.utils.to_categorical`` of a mask containing 255 makes 256 columns (one per value up to
    255); ``tf.one_hot(mask, C)`` turns 255 into an all-zero row; writing 255 into the targets of
    void pixels gives rows of 255s; resizing one-hot maps bilinearly gives rows that do not sum to 1.

    Args:
        targets: One-hot targets (..., K).
        num_classes: The model's number of classes, if known.
        ignore_label: The void value.

    Returns:
        A list of findings; empty for clean one-hot targets.

    Example:

    >>> diagnose.check_one_hot(keras.utils.to_categorical(masks))  # doctest: +SKIP
    """
    targets = np.asarray(targets, dtype=np.float64)
    width, findings = targets.shape[-1], []
    if width > ignore_label or (num_classes is not None and width != max(int(num_classes), 2)):
        findings.append(Finding(
            "one_hot_width", f"Targets have {width} columns"
            + (f" for {num_classes} classes." if num_classes is not None else "."),
            f"One-hot encoding a mask that contains {ignore_label} creates a column for every value "
            f"up to {ignore_label}" if width == ignore_label + 1 else
            "The number of one-hot columns does not match the model's classes.",
            "Keep masks as class indices (N, H, W) and use SparseCategoricalCrossentropy("
            f"from_logits=True, ignore_class={ignore_label}) (metrics.segmentation_loss).", "error"))
    void = np.any(targets == ignore_label, axis=-1) if width <= ignore_label else np.zeros((), bool)
    if np.any(void):
        findings.append(Finding(
            "one_hot_void_255", f"{_share(int(np.count_nonzero(void)), void.size)} of pixels hold "
            f"{ignore_label} in their one-hot target.",
            f"The void label was written into the one-hot targets ({ignore_label} in the channels of "
            "void pixels): cross-entropy multiplies the log-probabilities there by "
            f"{ignore_label}, so the void band outweighs every other pixel hundreds of times, and "
            "Dice counts it as a huge amount of every class. The loss follows the void pixels, "
            "which have no right answer, and oscillates.",
            "Keep masks as class indices and use SparseCategoricalCrossentropy(from_logits=True, "
            f"ignore_class={ignore_label}) (metrics.segmentation_loss); for Dice, "
            "metrics.soft_dice_loss, which skips void too.", "error"))
    clean = targets[~void] if void.ndim else targets
    sums = clean.sum(axis=-1)
    zero = int(np.count_nonzero(sums == 0))
    if zero:
        findings.append(Finding(
            "one_hot_zero_rows", f"{_share(zero, sums.size)} of pixels have an all-zero target.",
            f"tf.one_hot({ignore_label}, C) gives zeros: cross-entropy is 0 there but those pixels "
            "still dilute the batch mean, Dice counts them as 'no class', and accuracy metrics "
            "score them as class 0.",
            f"Keep masks sparse and ignore {ignore_label} in the loss (metrics.segmentation_loss).",
            "warning"))
    fuzzy = int(np.count_nonzero((sums != 0) & (np.abs(sums - 1) > 1e-3)))
    soft = int(np.count_nonzero((clean > 1e-6) & (clean < 1 - 1e-6)))
    if fuzzy or soft:
        findings.append(Finding(
            "one_hot_not_one_hot", f"{fuzzy + soft} target entries are fractional or rows do not "
            "sum to 1.", "One-hot maps were resized bilinearly, which blends classes.",
            "Resize masks (class indices) with nearest neighbour before encoding.", "warning"))
    return findings


def _walk(layer):
    """Yields every layer inside ``layer``, nested models included, in order."""
    for sub in getattr(layer, "layers", []):
        yield sub
        yield from _walk(sub)


def _output_activation(model):
    for layer in reversed(model.layers):
        if isinstance(layer, keras.layers.Softmax):
            return "softmax"
        if isinstance(layer, keras.Model):
            return _output_activation(layer)
        activation = getattr(layer, "activation", None)
        if activation is not None:
            return getattr(activation, "__name__", str(activation))
    return None


def _from_logits(loss):
    """True/False for losses with a ``from_logits`` setting; None when the loss has none."""
    if isinstance(loss, str):
        return False if "crossentropy" in loss else None
    if isinstance(loss, keras.losses.Loss):
        config_ = loss.get_config()
        return bool(config_["from_logits"]) if "from_logits" in config_ else None
    return False if "crossentropy" in getattr(loss, "__name__", "") else None


def _compiled_metrics(model):
    pending, found = list(getattr(getattr(model, "_compile_metrics", None), "_user_metrics", None)
                          or []), []
    while pending:
        item = pending.pop(0)
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend(item)
        else:
            found.append(item)
    return found


def _probes_as_probabilities(model, channels) -> bool:
    """True when the model's outputs on a random probe are softmax probabilities (channels summing to 1)."""
    if channels < 2:
        return False
    try:
        probe = np.random.default_rng(0).normal(0, 60, (1, 64, 64, 3)).astype(np.float32)
        out = keras.ops.convert_to_numpy(model(probe, training=False)).astype(np.float64)
    except Exception:  # A model that needs another input size says nothing here.
        return False
    return bool(out.min() >= 0 and out.max() <= 1 and np.allclose(out.sum(-1), 1, atol=1e-3))


def _check_loss_and_output(model, loss, channels):
    activation, from_logits = _output_activation(model), _from_logits(loss)
    if activation in (None, "linear") and from_logits and isinstance(model.layers[-1], keras.layers.Lambda) \
            and _probes_as_probabilities(model, channels):
        activation = "softmax"  # Hidden in a Lambda layer: the outputs say what it does.
    if activation in ("softmax", "sigmoid") and from_logits:
        floor = (f" With {channels} classes the loss can never fall below "
                 f"{-np.log(np.e / (np.e + channels - 1)):.2f}." if activation == "softmax" else "")
        return [Finding(
            "probabilities_with_from_logits",
            f"The last layer applies {activation} and the loss has from_logits=True.",
            f"The loss applies {activation} a second time to values already in (0, 1), so its "
            f"predictions stay close to uniform and gradients are tiny.{floor}",
            "Remove the final activation (fcnlib models with several classes output logits; take "
            "the argmax or softmax only when predicting), or keep it and use from_logits=False.",
            "error")]
    if activation == "linear" and from_logits is False:
        return [Finding(
            "logits_with_probability_loss",
            "The model outputs unbounded logits but the loss has from_logits=False.",
            "The loss treats logits as probabilities: it divides them by their sum and clips to "
            "[1e-7, 1 - 1e-7], so negative or near-zero sums make it jump around and clipped pixels "
            "give no gradient.",
            "Use from_logits=True (metrics.segmentation_loss), or end the model with a softmax.",
            "error")]
    return []


def _check_mean_iou(metrics, channels):
    findings = []
    for metric in metrics:
        if (isinstance(metric, keras.metrics.IoU) and getattr(metric, "sparse_y_pred", False)
                and type(metric).update_state is keras.metrics.IoU.update_state):
            findings.append(Finding(
                "mean_iou_on_probabilities",
                f"Metric {metric.name!r} is keras.metrics.{type(metric).__name__} with "
                f"sparse_y_pred=True, fed the model's {channels}-channel scores.",
                "With sparse_y_pred=True it expects class indices. Several channels are flattened "
                "into a tensor C times too long (a shape error); one sigmoid channel is truncated "
                "to integers, so every probability below 1 counts as class 0 and IoU stays stuck.",
                "Use metrics.StreamingMeanIoU (argmax, ignores 255), or MeanIoU(num_classes, "
                "sparse_y_pred=False, ignore_class=255); for one sigmoid channel, BinaryIoU.",
                "error"))
    return findings


def _check_batchnorm(model):
    suspects, previous = [], None
    for layer in _walk(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            if layer.trainable and previous is not None and not previous.trainable:
                suspects.append(layer.name)
        elif layer.weights and not isinstance(layer, keras.Model):
            previous = layer
    if not suspects:
        return []
    return [Finding(
        "batchnorm_in_frozen_backbone",
        f"{len(suspects)} BatchNormalization layer(s) are trainable right after frozen layers, "
        f"e.g. {suspects[:4]}.",
        "A trainable BN layer runs in training mode in fit: it normalises with each batch's own "
        "statistics and overwrites the pretrained moving mean and variance with those of small "
        "batches, so the frozen layers after it see inputs unlike those they were trained on, and "
        "evaluation (moving statistics) disagrees with training. In Keras 3 a BN layer with "
        "trainable=False runs in inference mode, with its moving statistics, even when called "
        "with training=True.",
        "Freeze the whole backbone (backbone.trainable = False sets every sublayer, BN included) "
        "and compile again. To fine-tune later, call the backbone with training=False so its BN "
        "layers stay in inference mode, and use a small learning rate.",
        "warning", {"layers": suspects})]


def _optimizer_mismatch(model):
    """Layers whose ``trainable`` flag differs from what the built optimizer updates.

    Keras builds the optimizer, and traces the training step, with the weights that are trainable
    at the first training step after ``compile``; a flag changed later has no effect until the
    next ``compile`` (measured on Keras 3.13 and 3.15 alike). The optimizer's own list of
    variables is the record of what it trains, on every Keras 3 version.
    """
    optimizer = getattr(model, "optimizer", None)
    if not getattr(model, "compiled", False) or not getattr(optimizer, "built", False):
        return []
    tracked = {id(variable) for variable in getattr(optimizer, "_trainable_variables", None) or []}
    if not tracked:
        return []
    changed = []
    for layer in _walk(model):
        if isinstance(layer, keras.Model) or not layer.weights:
            continue
        trained = {id(w) for w in layer.weights if id(w) in tracked}
        if trained != {id(w) for w in layer.trainable_weights}:
            changed.append(layer.name)
    return changed


def _check_trainable(model):
    findings = []
    changed = _optimizer_mismatch(model)
    if changed:
        findings.append(Finding(
            "trainable_changed_after_compile",
            f"trainable was changed after the model started training, on {len(changed)} "
            f"layer(s), e.g. {changed[:4]}.", "Keras fixes the set of trained weights at the "
            "first training step after compile(); the optimizer still updates the weights it "
            "started with, so the change takes effect only after compiling again.",
            "Call model.compile(...) again after changing trainable.", "warning",
            {"layers": changed}))
    if sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 0:
        findings.append(Finding(
            "nothing_trainable", "The model has no trainable weights.",
            "Every layer is frozen, so fit changes nothing and the loss only wanders with the data.",
            "Unfreeze the head (and compile again).", "error"))
    return findings


def _check_optimizer(model):
    optimizer = getattr(model, "optimizer", None)
    if not isinstance(optimizer, keras.optimizers.Adadelta):
        return []
    rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    if rate >= ADADELTA_MIN_RATE:
        return []
    return [Finding(
        "adadelta_learning_rate", f"The model trains with Adadelta at learning_rate={rate:g}.",
        "Adadelta was designed to run without a learning rate (1.0 in its paper), but Keras' "
        "default is 0.001: every step is a thousandth of the intended one, so the loss barely moves "
        "for thousands of steps.", "Use Adadelta(learning_rate=1.0), or Adam with a rate from "
        "lr_range_check.", "warning", {"learning_rate": rate})]


def _check_output_size(model, probe_size):
    shape = model.input_shape
    if probe_size is None or not isinstance(shape, tuple) or len(shape) != 4 or shape[3] is None:
        return []
    height, width = shape[1] or probe_size[0], shape[2] or probe_size[1]
    try:
        output = model(np.zeros((1, height, width, shape[3]), np.float32), training=False)
    except Exception as error:  # Keras and TF raise many kinds; the message tells the user which.
        return [Finding(
            "fails_on_input_size", f"The model fails on a {height}x{width} input: "
            f"{type(error).__name__}: {str(error).splitlines()[0][:200]}",
            "Skip connections add maps whose sizes differ unless H and W are multiples of 32.",
            "Pad inputs to a multiple of 32 and crop the output back (fcnlib.layers), or resize "
            "inputs to multiples of 32.", "error")]
    if tuple(output.shape[1:3]) != (height, width):
        return [Finding(
            "output_size", f"A {height}x{width} input gives a {output.shape[1]}x{output.shape[2]} "
            "output.", "Each output pixel must line up with one mask pixel; otherwise the loss "
            "fails or compares misaligned pixels.",
            "Upsample by the full stride and crop to the input size (fcnlib.layers.CropToMatch).",
            "error")]
    return []


def check_model(model, loss=None, metrics=None, probe_size=(70, 90)) -> list[Finding]:
    """Checks a model (compiled or not) for set-up mistakes that stop learning.

    Args:
        model: A Keras segmentation model.
        loss: The loss you train with; the compiled loss when None.
        metrics: The metrics you train with; the compiled metrics when None.
        probe_size: (H, W) of a zero image run through the model to check the output size; None to
            skip. The default is no multiple of 32 on purpose.

    Returns:
        A list of findings; empty when nothing looks wrong.

    Example:

    >>> diagnose.report(diagnose.check_model(model))  # doctest: +SKIP
    """
    channels = _output_channels(model, "check_model")
    loss = getattr(model, "loss", None) if loss is None else loss
    metrics = _compiled_metrics(model) if metrics is None else list(metrics)
    return (_check_loss_and_output(model, loss, channels) + _check_mean_iou(metrics, channels)
            + _check_batchnorm(model) + _check_trainable(model) + _check_optimizer(model)
            + _check_output_size(model, probe_size))


def _resolve_loss(model, loss):
    if loss is None and getattr(model, "compiled", False) and model.loss:
        loss = model.loss
    if loss is None:
        from fcnlib import metrics  # Imported late, like train does.

        loss = metrics.segmentation_loss(model.output_shape[-1])
    return keras.losses.get(loss) if isinstance(loss, str) else loss


class CannotClone(ValueError):
    """Keras cannot copy the model, so the checks that train a copy cannot run."""


class _OneBatchTrainer:
    """A copy of a model, compiled once, that trains on one batch from the model's weights.

    Every training run compiles into a TensorFlow graph, and TensorFlow keeps about five times the
    model's weights of every such graph for the rest of the process, even after the copy is
    deleted (measured: about 70 MB per run of the quick FCN-32s, in TensorFlow 2.21). One copy,
    compiled once and reset before each run, costs that once per check instead of once per run.
    """

    def __init__(self, model, loss):
        self.model = model
        try:
            self.clone = keras.models.clone_model(model)
        except Exception as error:  # Said as what it is, not as a training failure.
            raise CannotClone(_error_summary(error)) from error
        self.clone.compile(optimizer=keras.optimizers.Adam(), loss=_resolve_loss(model, loss))
        # Built now, outside the training graph, so that its variables exist for losses() to reset
        # (and the graph is traced once, not a second time to create them).
        self.clone.optimizer.build(self.clone.trainable_variables)

    def losses(self, x, y, learning_rate, steps):
        """Trains from the model's weights and a fresh Adam state; returns the loss of each step.

        Each value is the loss of that step's forward pass, before its update. ``train_on_batch``
        reports the model's loss tracker, a running mean: Keras 3.15 resets it in every call
        (keras-team/keras#22617), older Keras 3 versions average over every call since the last
        ``reset_metrics()``, which on a falling loss reads far too high. Resetting before each
        step gives the step's own loss on every version.
        """
        self.clone.set_weights(self.model.get_weights())
        optimizer = self.clone.optimizer
        for variable in optimizer.variables:  # The step count and the moments: as a new Adam.
            variable.assign(keras.ops.zeros(variable.shape, variable.dtype))
        optimizer.learning_rate.assign(learning_rate)
        losses = []
        with warnings.catch_warnings():  # A frozen model is a finding here, not a warning.
            warnings.filterwarnings("ignore", message=".*does not have any trainable weights")
            for _ in range(steps):
                self.clone.reset_metrics()
                losses.append(float(self.clone.train_on_batch(x, y, return_dict=True)["loss"]))
                if not np.isfinite(losses[-1]):
                    break
        return losses


def _constant_loss(model, y, loss, ignore_label=config.IGNORE_LABEL):
    """The loss of predicting the batch's class frequencies at every pixel; None if unknown."""
    channels = model.output_shape[-1]
    if np.ndim(y) == 4 and np.shape(y)[-1] > 1:
        return None  # One-hot targets: no class indices to count.
    labels = np.asarray(y).reshape(np.shape(y)[:3])
    valid = labels[labels != ignore_label].astype(np.int64)
    classes = max(channels, 2)
    if valid.size == 0 or valid.min() < 0 or valid.max() >= classes:
        return None
    prior = np.clip(np.bincount(valid, minlength=classes) / valid.size, 1e-7, 1.0)
    prior = prior / prior.sum()
    probabilities = _output_activation(model) in ("softmax", "sigmoid")
    if channels == 1:
        value = prior[1] if probabilities else np.log(prior[1] / prior[0])
        scores = np.full(labels.shape + (1,), value, np.float32)
    else:
        scores = np.broadcast_to(prior if probabilities else np.log(prior),
                                 labels.shape + (channels,)).astype(np.float32)
    try:
        return float(np.mean(keras.ops.convert_to_numpy(_resolve_loss(model, loss)(y, scores))))
    except Exception:  # A loss that cannot take this input has no baseline; fall back.
        return None


# The verdict of overfit_one_batch. No prediction that is the same at every pixel scores below the
# class-frequency loss, so a loss below it means the model uses where things are. The bar leaves room
# for noise below 1.0 and above the worst sound set-up measured over seeds and oneDNN settings (the
# quick FCN-32s's best loss reached 0.73 of it in 40 steps; softmax applied twice stalls at 0.92; the lab
# note "How strict are the notebook's claims?" and `python -m bench.margins` have the table).
FREQUENCY_RATIO = 0.85
FIRST_LOSS_RATIO = 0.5  # When the class-frequency loss cannot be computed (one-hot targets): the first loss.


def overfit_one_batch(model, x, y, steps=50, learning_rate=1e-3, loss=None,
                      target_ratio=None) -> Finding:
    """Trains a copy of the model on one batch: a sound set-up memorises it within a few dozen steps.

    "Memorises" means the loss falls clearly below that of the best constant prediction, the
    batch's class frequencies at every pixel: no prediction that is the same everywhere scores
    lower, so only a model that uses *where* things are gets there. Reaching only that level is what
    a model predicting mostly background does.

    Args:
        model: The model; it is cloned, so its weights stay as they are.
        x, y: One batch of model inputs and masks (keep it small, e.g. 4 images).
        steps: Adam steps on that batch.
        learning_rate: Adam's learning rate.
        loss: The loss; the compiled loss, or ``metrics.segmentation_loss``, when None.
        target_ratio: The lowest loss of the run must reach this fraction of the class-frequency
            loss (default ``FREQUENCY_RATIO``, 0.85), or of the first loss when that cannot be
            computed (default ``FIRST_LOSS_RATIO``, 0.5).

    Returns:
        A finding: severity "info" if the model memorised the batch, "error" if not;
        ``details["losses"]`` and ``details["constant_loss"]``.

    Example:

    >>> diagnose.report(diagnose.overfit_one_batch(model, x[:4], y[:4]))  # doctest: +SKIP
    """
    _output_channels(model, "overfit_one_batch")
    _check_one_batch("overfit_one_batch", x, y)
    return _overfit_one_batch(_OneBatchTrainer(model, loss), x, y, steps, learning_rate, loss,
                              target_ratio)


def _overfit_one_batch(trainer, x, y, steps, learning_rate, loss, target_ratio=None):
    model, losses = trainer.model, trainer.losses(x, y, learning_rate, steps)
    constant = _constant_loss(model, y, loss)
    first, last = losses[0], losses[-1]
    finite = [value for value in losses if np.isfinite(value)]
    best = min(finite) if finite else float("nan")
    reference = first if constant is None else constant
    if target_ratio is None:
        target_ratio = FIRST_LOSS_RATIO if constant is None else FREQUENCY_RATIO
    details = {"losses": losses, "constant_loss": constant, "best_loss": best}
    symptom = f"Loss went from {first:.4g} to {last:.4g} (lowest {best:.4g}) in {len(losses)} steps on one batch" + (
        "." if constant is None else f"; predicting class frequencies everywhere scores "
        f"{constant:.4g}.")
    if first <= 1e-12:
        return Finding("overfit_one_batch", symptom, "The loss is zero from the first step: every "
                       "pixel is void, or the loss ignores them all.", "Check the masks with "
                       "check_data; 0/255 binary masks are a common cause.", "error", details)
    # A loss that does not match the output (e.g. softmax applied twice) is a bug even when the loss
    # still falls some way: it slows or stalls learning, depending on the batch and the rate.
    mismatch = _check_loss_and_output(model, _resolve_loss(model, loss), model.output_shape[-1])
    if np.isfinite(last) and best <= target_ratio * reference and not mismatch:
        return Finding("overfit_one_batch", symptom, "The model, loss and labels fit together: "
                       "it can memorise one batch.", "Nothing to fix here; if full training still "
                       "fails, look at the data pipeline, the learning rate and augmentation.",
                       "info", details)
    if mismatch and np.isfinite(last):
        stalled = constant is not None and last <= 1.2 * constant
        return Finding("overfit_one_batch", symptom, ("The loss stalls near the level of predicting "
                       "class frequencies. " if stalled else "The loss and the model's output do not "
                       "match. ") + mismatch[0].diagnosis, mismatch[0].fix, "error", details)
    if constant is not None and np.isfinite(last) and last <= 1.2 * constant:
        return Finding(
            "overfit_one_batch", symptom, "The loss fell only to about the level of predicting the "
            "class frequencies everywhere: the model has learned how common each class is (mostly "
            "background), not where the objects are.", "Train longer on the batch (steps) or with "
            "another learning rate (lr_range_check); if it stays stuck, the input cannot reach the "
            "output: check frozen layers, preprocessing (check_data) and the model (check_model).",
            "error", details)
    return Finding(
        "overfit_one_batch", symptom, "A model that cannot memorise a single batch has a bug, not "
        "too little data: a loss that does not match the output, labels outside the classes or all "
        "void, frozen weights, or a learning rate far off" + (" (the loss became NaN)."
                                                              if not np.isfinite(last) else "."),
        "Run check_model and check_data, then lr_range_check.", "error", details)


def lr_range_check(model, x, y, learning_rates=(1e-5, 1e-4, 1e-3, 1e-2, 1e-1), steps=15,
                   loss=None, current=None) -> Finding:
    """Trains copies of the model on one batch at several learning rates and compares the losses.

    Args:
        model: The model; it is cloned for every rate.
        x, y: One batch of model inputs and masks.
        learning_rates: Rates to try (Adam).
        steps: Steps per rate.
        loss: As for :func:`overfit_one_batch`.
        current: Your learning rate; the compiled optimizer's when None and it is Adam.

    Returns:
        A finding: "warning" if ``current`` barely lowers or blows up the loss while another rate
        lowers it, "error" if no rate lowers it, else "info". ``details["ratios"]`` maps each rate
        to last loss / first loss.

    Example:

    >>> diagnose.report(diagnose.lr_range_check(model, x[:4], y[:4], current=1e-1))  # doctest: +SKIP
    """
    _output_channels(model, "lr_range_check")
    _check_one_batch("lr_range_check", x, y)
    return _lr_range_check(_OneBatchTrainer(model, loss), x, y, learning_rates, steps, current)


def _lr_range_check(trainer, x, y, learning_rates, steps, current=None):
    model = trainer.model
    # The sweep uses Adam, so only an Adam rate compares with it (Adadelta's 1.0 is no Adam 1.0).
    if current is None and isinstance(getattr(model, "optimizer", None), keras.optimizers.Adam):
        rate = keras.ops.convert_to_numpy(model.optimizer.learning_rate)
        current = float(f"{float(rate):.6g}")  # Rounded, so that 1e-3 in float32 reads 0.001.
    rates = sorted(set(learning_rates) | ({current} if current else set()))
    ratios = {}
    for rate in rates:
        losses = trainer.losses(x, y, rate, steps)
        ratio = losses[-1] / losses[0] if losses[0] > 0 else float("nan")
        ratios[rate] = ratio if np.isfinite(ratio) else float("inf")
    best = min(ratios, key=ratios.get)
    table = ", ".join(f"{rate:g}: {ratio:.2f}" for rate, ratio in ratios.items())
    symptom = f"Last/first loss after {steps} steps per learning rate: {table}."
    details = {"ratios": ratios, "best": best}
    if ratios[best] > 0.9:
        return Finding("learning_rate", symptom, "No learning rate lowers the loss, so the rate "
                       "is not the problem.", "Run overfit_one_batch, check_model and check_data.",
                       "error", details)
    if current and (ratios[current] > 1.5 or (ratios[current] > 0.95 and ratios[best] < 0.8)):
        trend = "blows the loss up" if ratios[current] > 1.5 else "barely moves the loss"
        return Finding("learning_rate", symptom, f"Your learning rate {current:g} {trend}, while "
                       f"{best:g} lowers it to {ratios[best]:.0%} of its start.",
                       f"Train with a rate near {best:g} (a little below the fastest rate that "
                       "still lowers the loss steadily).", "warning", details)
    return Finding("learning_rate", symptom, f"The loss falls fastest at {best:g}"
                   + (f"; your {current:g} lowers it too." if current else "."),
                   "Pick a rate a little below the fastest one that still lowers the loss steadily.",
                   "info", details)


def _error_summary(error, limit=240):
    """The line of an error message that says what went wrong, without TF's graph trace."""
    noise = ("Graph execution error", "Detected at node", "File ", "[[")
    lines = [line.strip() for line in str(error).splitlines()]
    lines = [line for line in lines if line and not line.startswith(noise)]
    # TF appends long dumps (e.g. "  Label values: 255 255 ...") after two spaces.
    return re.split(r"\s{2,}", lines[0])[0][:limit] if lines else ""


def check_all(model, x, y, num_classes=None, loss=None, steps=40, learning_rate=1e-3,
              learning_rates=(1e-4, 1e-3, 1e-2), preprocessing=None) -> list[Finding]:
    """Runs every check on one batch of your data and your model: the one call to start with.

    :func:`check_data` and :func:`check_model` look at the arrays and the set-up;
    :func:`overfit_one_batch` and :func:`lr_range_check` then train copies of the model on the
    batch. A training run that raises (for example a loss that meets label 255 without
    ``ignore_class``) becomes a finding instead of an exception.

    Args:
        model: Your Keras segmentation model, compiled or not (it is not changed).
        x, y: One small batch of model inputs, as you feed them, and masks (or one-hot targets).
        num_classes: The number of classes; the model's output channels when None.
        loss: The loss; the compiled loss, or ``metrics.segmentation_loss``, when None.
        steps: Steps of :func:`overfit_one_batch` (``lr_range_check`` takes half as many).
        learning_rate: Adam's rate in :func:`overfit_one_batch`.
        learning_rates: The rates :func:`lr_range_check` compares (with the compiled one).
        preprocessing: The input the backbone expects (see :func:`check_data`); when None, what
            :func:`expected_preprocessing` reads from the model's layer names, else ``"caffe"``.

    Returns:
        A list of findings, for :func:`report`.

    Example:

    >>> diagnose.report(diagnose.check_all(model, x_train[:4], y_train[:4]))  # doctest: +SKIP
    """
    channels = _output_channels(model, "check_all")
    _check_one_batch("check_all", x, y)
    num_classes = channels if num_classes is None else num_classes
    preprocessing = preprocessing or expected_preprocessing(model) or "caffe"
    findings = check_data(x, y, num_classes, preprocessing=preprocessing) + check_model(model, loss=loss)
    # One trainer for both runs: one compiled copy of the model (see _OneBatchTrainer).
    runs = (lambda trainer: _overfit_one_batch(trainer, x, y, steps, learning_rate, loss),
            lambda trainer: _lr_range_check(trainer, x, y, learning_rates, max(steps // 2, 1)))
    trainer = None
    for run in runs:
        try:
            trainer = trainer or _OneBatchTrainer(model, loss)
            findings.append(run(trainer))
        except CannotClone as error:
            findings.append(Finding(
                "cannot_clone", f"keras.models.clone_model cannot copy this model: {error}",
                "The checks that train (overfit_one_batch, lr_range_check) train a copy, so that your "
                "model keeps its weights; this model cannot be copied, so they did not run. Typically a "
                "Lambda layer holding a Python lambda (Keras' safe mode refuses to rebuild it) or a "
                "custom layer without get_config.",
                "Replace the Lambda with a built-in layer or a small registered custom layer with "
                "get_config (keras.saving.register_keras_serializable), then run check_all again.",
                "warning"))
            break
        except Exception as error:  # The message is the finding; the traceback would hide it.
            findings.append(Finding(
                "training_fails", f"Training on one batch raises {type(error).__name__}: "
                f"{_error_summary(error)}", "The loss cannot be computed for these targets and outputs: "
                "typically void 255 (or another value) outside the classes with no ignore_class, "
                "or one-hot targets whose width differs from the model's output.",
                "Keep masks as class indices and use metrics.segmentation_loss "
                "(SparseCategoricalCrossentropy(from_logits=True, ignore_class=255)).", "error"))
            break
    return findings


def report(findings, file=None) -> None:
    """Prints findings, errors first, as symptom / diagnosis / fix blocks.

    Args:
        findings: A list of :class:`Finding` (or one finding).
        file: Where to print; standard output when None.
    """
    if isinstance(findings, Finding):
        findings = [findings]
    if not findings:
        print("No problems found.", file=file)
        return
    ordered = sorted(findings, key=lambda f: SEVERITIES.index(f.severity)
                     if f.severity in SEVERITIES else len(SEVERITIES))
    for finding in ordered:
        print(f"[{finding.severity.upper()}] {finding.name}", file=file)
        for label, text in (("Symptom", finding.symptom), ("Diagnosis", finding.diagnosis),
                            ("Fix", finding.fix)):
            print(textwrap.fill(text, 100, initial_indent=f"  {label + ':':<11}",
                                subsequent_indent=" " * 13), file=file)
    print(f"{len(findings)} finding(s).", file=file)
