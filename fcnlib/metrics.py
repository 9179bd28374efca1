"""Scores and losses for semantic segmentation, all aware of the void label 255.

The four scores are those of the FCN paper (Long, Shelhamer, Darrell), computed from one confusion
matrix ``n`` whose entry ``n[i, j]`` counts pixels of true class ``i`` predicted as class ``j``;
``t_i = sum_j n[i, j]`` is the number of pixels of class ``i``:

- pixel accuracy ``sum_i n_ii / sum_i t_i``,
- mean accuracy ``(1/n_cl) sum_i n_ii / t_i``,
- mean IU ``(1/n_cl) sum_i n_ii / (t_i + sum_j n_ji - n_ii)``,
- frequency weighted IU ``(sum_k t_k)^-1 sum_i t_i n_ii / (t_i + sum_j n_ji - n_ii)``.

A class that never occurs in the truth has no accuracy, and a class absent from both truth and
prediction has no IU: those entries are NaN and the means skip them (``nanmean``), which is what
``keras.metrics.MeanIoU`` does too. The NumPy functions are written by hand because they teach the
definitions; training uses Keras' own ``MeanIoU`` and losses with ``ignore_class``.

Introduced in notebooks/01_dense_baseline.ipynb (why pixel accuracy misleads).
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from fcnlib import config, progress


def _num_labels(num_classes):
    # One output channel means a sigmoid foreground probability: two labels, background and object.
    return max(config.count(num_classes, "num_classes"), 2)


def _squeeze_channel(y_true, y_pred):
    """Drops a trailing axis of size 1 from whichever of the two has it where the other has none."""
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    if y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        y_pred = y_pred[..., 0]
    if y_true.ndim == y_pred.ndim == 4 and y_true.shape[-1] == y_pred.shape[-1] == 1:
        y_true, y_pred = y_true[..., 0], y_pred[..., 0]  # (N, H, W, 1) both: masks with a channel of one.
    return y_true, y_pred


def predict_labels(outputs) -> np.ndarray:
    """Turns model outputs (..., H, W, C) into class indices (..., H, W).

    Args:
        outputs: Logits or probabilities with classes on the last axis (NumPy or tensor). With one
            channel the values are taken as sigmoid probabilities and thresholded at 0.5.

    Returns:
        An ``int32`` array of class indices.

    Raises:
        ValueError: If an output is NaN or inf.

    Example:

    >>> predict_labels(np.array([[[[0.1, 2.0]], [[3.0, -1.0]]]])).tolist()
    [[[1], [0]]]

    Introduced in notebooks/01_dense_baseline.ipynb.
    """
    outputs = np.asarray(outputs)
    if outputs.dtype.kind in "biu":
        raise ValueError(
            f"predict_labels takes a model's scores (floats, classes on the last axis), but got {outputs.dtype} "
            f"values of shape {outputs.shape}: class indices already, or an image? Its argmax over the last "
            "axis would be no prediction. Pass model.predict(images); use class indices as they are.")
    if outputs.dtype.kind == "f" and not np.isfinite(outputs).all():
        count = int(outputs.size - np.isfinite(outputs).sum())
        raise ValueError(
            f"Model outputs hold {count} NaN or inf value(s) of {outputs.size}; argmax would read "
            "them as class 0, scoring a broken model as 'all background'. The model diverged "
            "(lower the learning rate) or its input holds NaN.")
    if outputs.shape[-1] == 1:
        return (outputs[..., 0] > 0.5).astype(np.int32)
    return np.argmax(outputs, axis=-1).astype(np.int32)


def _check_outputs(outputs, num_classes, where):
    """Refuses outputs whose channels do not match ``num_classes``, and 1-channel logits."""
    channels = int(outputs.shape[-1])
    if _num_labels(channels) != _num_labels(num_classes):  # 1 channel (sigmoid) and 2 both mean two labels.
        raise ValueError(f"{where}: the model outputs {channels} channel(s) but num_classes is {num_classes}; "
                         f"give num_classes={channels}, or build the model with {num_classes} output channel(s).")
    if channels == 1:
        values = np.asarray(outputs)
        if values.size and (values.min() < 0 or values.max() > 1):
            raise ValueError(f"{where}: the 1-channel model outputs values {values.min():.3g}..{values.max():.3g}, "
                             "outside [0, 1]: logits, not sigmoid probabilities, so a 0.5 threshold would "
                             "be wrong. End the model with activation='sigmoid' (or threshold logits at 0).")


def _check_batch_axis(images, where, fix):
    """Refuses one image (H, W, C) where a batch (N, H, W, C) belongs, by its shape, never its values."""
    shape = np.shape(images)
    if len(shape) == 3 and shape[-1] in (1, 3, 4):
        raise ValueError(f"{where} got one image of shape {tuple(shape)} without a batch axis; add one: {fix}.")
    if len(shape) != 4:
        raise ValueError(f"{where} takes images (N, H, W, 3); got an array of shape {tuple(shape)}.")


def _check_finite(images, where):
    values = np.asarray(images)
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        count = int(values.size - np.count_nonzero(np.isfinite(values)))
        raise ValueError(f"{where}: the images hold {count} NaN or inf value(s) of {values.size}, which no model "
                         "can score; find where they come from (a division by zero, a failed read).")


def confusion_matrix(y_true, y_pred, num_classes, ignore_label=config.IGNORE_LABEL) -> np.ndarray:
    """Counts (truth, prediction) pairs of class indices, skipping void pixels.

    Args:
        y_true: Integer masks of any shape; ``ignore_label`` marks void pixels.
        y_pred: Predicted class indices, same shape as ``y_true`` (see :func:`predict_labels`).
        num_classes: Number of classes ``C`` (1 is read as the binary sigmoid case, ``C = 2``).
        ignore_label: Truth value to skip, or None.

    Returns:
        An ``int64`` array (C, C); rows are the truth, columns the prediction.

    Raises:
        ValueError: For mismatched shapes, truth values outside ``0..C-1`` (other than the ignore
            label) or predictions outside ``0..C-1``; the message names the values.

    Example:

    >>> confusion_matrix([0, 1, 1, 255], [0, 1, 0, 1], num_classes=2).tolist()
    [[1, 0], [1, 1]]

    Introduced in notebooks/01_dense_baseline.ipynb.
    """
    n = _num_labels(num_classes)
    y_true, y_pred = _squeeze_channel(np.asarray(y_true), np.asarray(y_pred))
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}; "
                         "pass class indices of the same shape (see predict_labels).")
    for name, values in (("y_true", y_true), ("y_pred", y_pred)):
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            raise ValueError(f"{name} holds NaN or inf; class indices are finite integers. "
                             "Check the masks, or the model's outputs for divergence.")
    if y_pred.dtype.kind == "f" and not np.all(np.mod(y_pred, 1) == 0):
        raise ValueError("y_pred holds fractional values: pass class indices from predict_labels, "
                         "not probabilities or logits.")
    if y_true.dtype.kind == "f" and not np.all(np.mod(y_true, 1) == 0):
        raise ValueError("y_true holds fractional values, which are no classes: resize masks only with "
                         "nearest neighbour (bilinear resizing blends labels), and keep them integers.")
    y_true, y_pred = y_true.astype(np.int64).ravel(), y_pred.astype(np.int64).ravel()
    valid = np.ones(y_true.shape, bool) if ignore_label is None else y_true != ignore_label
    y_true, y_pred = y_true[valid], y_pred[valid]
    bad = np.unique(y_true[(y_true < 0) | (y_true >= n)])
    if bad.size:
        raise ValueError(
            f"y_true holds value(s) {bad[:10].tolist()} outside 0..{n - 1} (ignore label "
            f"{ignore_label}). Check num_classes, and resize masks only with nearest neighbour: "
            "bilinear resizing invents such values.")
    bad = np.unique(y_pred[(y_pred < 0) | (y_pred >= n)])
    if bad.size:
        raise ValueError(f"y_pred holds value(s) {bad[:10].tolist()} outside 0..{n - 1}; "
                         "check num_classes against the model's output channels.")
    return np.bincount(n * y_true + y_pred, minlength=n * n).reshape(n, n).astype(np.int64)


def _divide(numerator, denominator):
    # Division that gives NaN instead of a warning where the denominator is zero.
    out = np.full(np.shape(numerator), np.nan)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _nanmean(values):
    return float(np.nanmean(values)) if np.any(~np.isnan(values)) else float("nan")


def segmentation_scores(matrix) -> dict:
    """Computes the FCN paper's four scores (and per-class IU) from a confusion matrix.

    Args:
        matrix: A (C, C) confusion matrix, rows = truth (see :func:`confusion_matrix`).

    Returns:
        A dict with floats ``pixel_accuracy``, ``mean_accuracy``, ``mean_iou``,
        ``frequency_weighted_iou`` and arrays ``iou`` and ``class_accuracy`` (C,). Classes absent
        from the truth have NaN accuracy; classes absent from truth and prediction have NaN IU;
        the means skip NaN entries. All scores are NaN for an empty matrix.

    Example:

    >>> scores = segmentation_scores(np.array([[3, 1], [0, 4]]))
    >>> round(scores["mean_iou"], 4)  # (3/4 + 4/5) / 2
    0.775

    Introduced in notebooks/01_dense_baseline.ipynb.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"A confusion matrix must be square (C, C), got shape {matrix.shape}.")
    hits, truth, predicted = np.diag(matrix), matrix.sum(axis=1), matrix.sum(axis=0)
    iou = _divide(hits, truth + predicted - hits)
    total = truth.sum()
    return {
        "pixel_accuracy": float(hits.sum() / total) if total else float("nan"),
        "mean_accuracy": _nanmean(_divide(hits, truth)),
        "mean_iou": _nanmean(iou),
        # Classes with t_i = 0 have weight 0; nansum drops their NaN IU.
        "frequency_weighted_iou": float(np.nansum(truth * iou) / total) if total else float("nan"),
        "iou": iou,
        "class_accuracy": _divide(hits, truth),
    }


def trimap_iou(y_true, y_pred, num_classes, width=2, ignore_label=config.IGNORE_LABEL) -> float:
    """Trimap IoU: mean IU counted only on pixels within ``width`` pixels of a ground-truth boundary.

    A pixel is in the boundary band when its (2*width+1)² square neighbourhood in ``y_true`` holds
    more than one value; a void region counts as a value, so the band follows VOC's void outlines.
    Void pixels themselves are still skipped. Coarse models (FCN-32s) lose most here.

    Cheng et al. (CVPR 2021, https://arxiv.org/abs/2103.16562) discuss this measure as Trimap IoU
    and propose Boundary IoU instead, which intersects the bands around both the true and the
    predicted outlines: only the band around the true outlines is scored here, so false positives
    away from every true outline are not counted (the plain mean IU counts them).

    Args:
        y_true: Masks (H, W) or (N, H, W).
        y_pred: Predicted class indices, same shape.
        num_classes: Number of classes.
        width: Half-width of the band, in pixels.
        ignore_label: Void value.

    Returns:
        The mean IU (float) over the band; NaN if the band is empty.

    Example:

    >>> truth = np.zeros((8, 8), np.uint8); truth[:, 4:] = 1
    >>> trimap_iou(truth, truth, num_classes=2, width=1)
    1.0

    Introduced in notebooks/05_skip_connections.ipynb.
    """
    width = config.count(width, "width")
    y_true, y_pred = _squeeze_channel(np.asarray(y_true), np.asarray(y_pred))
    if y_true.ndim not in (2, 3) or y_true.shape != y_pred.shape:
        raise ValueError(f"Expected masks (H, W) or (N, H, W) of equal shape, got y_true "
                         f"{y_true.shape} and y_pred {y_pred.shape}.")
    masks = y_true.reshape((-1,) + y_true.shape[-2:]).astype(np.int64)
    padded = np.pad(masks, ((0, 0), (width, width), (width, width)), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (2 * width + 1,) * 2, axis=(1, 2))
    band = (windows.max(axis=(-1, -2)) != windows.min(axis=(-1, -2))).reshape(y_true.shape)
    fill = -1 if ignore_label is None else ignore_label
    banded_truth = np.where(band, y_true.astype(np.int64), fill)
    matrix = confusion_matrix(banded_truth, y_pred, num_classes, ignore_label=fill)
    return segmentation_scores(matrix)["mean_iou"]


def boundary_iou(y_true, y_pred, num_classes, width=2, ignore_label=config.IGNORE_LABEL) -> float:
    """The name :func:`trimap_iou` had in fcnlib 0.2.0; it warns and will be removed.

    The measure scores only a band around the true outlines, a trimap IoU, not the Boundary IoU of
    Cheng et al. (https://arxiv.org/abs/2103.16562); hence the new name.
    """
    warnings.warn("fcnlib.metrics.boundary_iou is now fcnlib.metrics.trimap_iou (the same measure: "
                  "mean IoU in a band around the true outlines); the old name will be removed.",
                  DeprecationWarning, stacklevel=2)
    return trimap_iou(y_true, y_pred, num_classes, width, ignore_label)


def evaluate(model, data, num_classes, ignore_label=config.IGNORE_LABEL, batch_size=16) -> dict:
    """Scores a model on a whole dataset, one batch at a time, through one confusion matrix.

    Args:
        model: A Keras model returning logits (B, H, W, C) or 1-channel sigmoid probabilities.
        data: A ``tf.data.Dataset`` of (image, mask) pairs, batched or not (e.g. from
            ``pipeline.make_dataset``), or a tuple ``(x, y)`` of arrays. ``uint8`` images are passed
            through ``pipeline.preprocess_vgg16`` first; float images are taken as preprocessed.
        num_classes: Number of classes (1 for a 1-channel sigmoid model).
        ignore_label: Void value in the masks.
        batch_size: Batch size for arrays and unbatched datasets.

    Returns:
        :func:`segmentation_scores` of the whole dataset plus ``confusion_matrix``.

    Raises:
        ValueError: For empty data, masks that are all void, model outputs holding NaN or inf, or
            mask values outside ``0..C-1`` other than the ignore label.

    Example:

    >>> scores = evaluate(model, (x_test, y_test), num_classes=2)  # doctest: +SKIP
    >>> scores["mean_iou"]  # doctest: +SKIP

    Introduced in notebooks/01_dense_baseline.ipynb.
    """
    batch_size = config.count(batch_size, "batch_size")
    from fcnlib import pipeline  # Imported here: pipeline is only needed for raw images.

    if not callable(model):
        raise ValueError(f"evaluate takes a Keras model first, then the data; got {type(model).__name__} "
                         "as the model.")
    if isinstance(data, tf.data.Dataset):
        if len(data.element_spec[0].shape) == 3:
            data = data.batch(batch_size)
        cardinality = int(data.cardinality())
        total = cardinality if cardinality >= 0 else None  # Unknown for a filtered dataset.
        batches = data.as_numpy_iterator()
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = np.asarray(data[0]), np.asarray(data[1])
        _check_batch_axis(x, "evaluate", "evaluate(model, (image[None], mask[None]), num_classes)")
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} images but y has {len(y)} masks.")
        total = -(-len(x) // batch_size)
        batches = ((x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(x), batch_size))
    else:
        raise ValueError(f"data must be a tf.data.Dataset or a tuple (x, y), got {type(data)}.")
    n = _num_labels(num_classes)
    matrix, seen = np.zeros((n, n), np.int64), 0
    bar = progress.Progress(total, f"Scoring {getattr(model, 'name', 'the model')}", unit="batches")
    for step, (images, masks) in enumerate(batches, 1):
        if images.dtype == np.uint8:
            images = pipeline.preprocess_vgg16(images)
        elif step == 1:  # Float images must be preprocessed already (checked once, on the first batch).
            _check_finite(images, "evaluate")
            pipeline.check_scale(images, "preprocessed", "evaluate")
        outputs = model(images, training=False)
        if step == 1:
            _check_outputs(outputs, num_classes, "evaluate")
        labels = predict_labels(outputs)
        masks = np.asarray(masks)
        if masks.ndim == labels.ndim + 1 and masks.shape[-1] == 1:
            masks = masks[..., 0]
        matrix += confusion_matrix(masks, labels, n, ignore_label)
        seen += len(masks)
        bar.update(step)
    bar.close()
    if not seen:
        raise ValueError("evaluate got no images: the dataset or arrays are empty. Check the split "
                         "or the filter that built them.")
    if not matrix.sum():
        raise ValueError(f"evaluate read {seen} image(s) in which every pixel is void "
                         f"({ignore_label}), so there is nothing to score; check the masks (a "
                         "black-and-white mask saved as 0/255 reads as all void).")
    return {**segmentation_scores(matrix), "confusion_matrix": matrix}


@keras.saving.register_keras_serializable(package="fcnlib")
class StreamingMeanIoU(keras.metrics.MeanIoU):
    """``keras.metrics.MeanIoU`` for segmentation logits, skipping void pixels; use it in ``fit``.

    Plain ``MeanIoU`` expects class indices (``sparse_y_pred=True``) and silently truncates
    probabilities or logits to integers. This metric takes the argmax of the logits first (or
    thresholds a 1-channel sigmoid output at 0.5) and ignores ``ignore_class``. Labels outside
    ``0..C-1`` (void aside) and NaN or inf predictions stop the run with a message, where Keras'
    ``MeanIoU`` would drop or miscount them (under XLA, which compiles the check away, the loss of
    such a batch turns NaN instead).

    Args:
        num_classes: Number of classes (1 for a 1-channel sigmoid model, counted as 2).
        ignore_class: Truth value to skip.
        name: Metric name; ``"mean_iou"`` shows up in the history as ``mean_iou`` and
            ``val_mean_iou``.

    Example:

    >>> model.compile("adam", segmentation_loss(3), metrics=[StreamingMeanIoU(3)])  # doctest: +SKIP

    Introduced in notebooks/01_dense_baseline.ipynb.
    """

    def __init__(self, num_classes, ignore_class=config.IGNORE_LABEL, name="mean_iou", dtype=None):
        super().__init__(num_classes=_num_labels(num_classes), name=name, dtype=dtype,
                         ignore_class=ignore_class, sparse_y_true=True, sparse_y_pred=True)
        self.output_classes = int(num_classes)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.convert_to_tensor(y_pred)
        channels = y_pred.shape[-1]
        if channels is not None and _num_labels(channels) != self.num_classes:
            raise ValueError(f"{self.name}: the model outputs {channels} channel(s) but the metric was built for "
                             f"num_classes={self.output_classes}; build it with StreamingMeanIoU({channels}).")
        y_true = ops.convert_to_tensor(y_true)
        if keras.backend.standardize_dtype(y_true.dtype).startswith("float"):
            tf.debugging.Assert(ops.all(ops.equal(y_true, ops.round(y_true))), [
                f"{self.name}: the masks hold fractional values, which are no classes: resize masks only "
                "with nearest neighbour."], summarize=1)
        if channels == 1:
            tf.debugging.Assert(ops.logical_and(ops.min(y_pred) >= 0, ops.max(y_pred) <= 1), [
                f"{self.name}: the 1-channel output holds values outside [0, 1]: logits, not sigmoid "
                "probabilities; end the model with activation='sigmoid'."], summarize=1)
            labels = ops.cast(y_pred[..., 0] > 0.5, "int32")
        else:
            labels = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
        y_true = ops.cast(y_true, "int32")
        if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == 1:
            y_true = y_true[..., 0]
        _check_batch(y_true, y_pred, self.num_classes, self.ignore_class, self.name)
        return super().update_state(y_true, labels, sample_weight)

    def get_config(self):
        return {"num_classes": self.output_classes, "ignore_class": self.ignore_class,
                "name": self.name, "dtype": self._dtype}


def _check_batch(y_true, y_pred, num_labels, ignore_label, where):
    """Asserts finite predictions and labels in ``0..num_labels-1`` (or void); returns a poison term.

    The assertions stop eager and graph runs with a message naming the values. XLA compiles
    assertions away, so the losses also add the returned term, NaN for a bad batch and 0
    otherwise: under XLA a bad batch shows as a NaN loss instead of passing unnoticed.
    """
    labels = ops.cast(y_true, "int32")
    valid = labels != ignore_label if ignore_label is not None else ops.ones_like(labels, "bool")
    bad_label = ops.any(ops.logical_and(valid, ops.logical_or(labels < 0, labels >= num_labels)))
    finite = ops.all(ops.isfinite(y_pred))
    top = ops.max(ops.where(valid, labels, 0))
    tf.debugging.Assert(ops.logical_not(bad_label), [
        f"{where}: a mask holds a label outside 0..{num_labels - 1} (void pixels aside); "
        "the largest is", top, ". Set num_classes to the number of classes, and give the model as "
        "many output channels (1 channel = sigmoid, labels 0 and 1 only)."], summarize=1)
    tf.debugging.Assert(finite, [
        f"{where}: the predictions hold NaN or inf: the model diverged (lower the learning rate) "
        "or its input holds NaN."], summarize=1)
    ok = ops.logical_and(finite, ops.logical_not(bad_label))
    return ops.where(ok, 0.0, float("nan"))


def _dense_targets(y_true, y_pred, ignore_label):
    # Drops a trailing channel axis of size 1 from masks and returns (integer labels, valid mask).
    if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    valid = ops.not_equal(y_true, ignore_label)
    return ops.cast(ops.where(valid, y_true, 0), "int32"), ops.cast(valid, y_pred.dtype)


@keras.saving.register_keras_serializable(package="fcnlib")
class MaskedBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy for a 1-channel sigmoid output (B, H, W, 1) that skips void pixels.

    Averages over the valid pixels of the batch, like Keras' ``SparseCategoricalCrossentropy``
    with ``ignore_class``. Labels other than 0, 1 and void, and NaN or inf predictions, stop the
    run with a message (a 1-channel model cannot learn classes 2, 3, ...).
    """

    def __init__(self, ignore_label=config.IGNORE_LABEL, from_logits=False, name="binary_crossentropy",
                 reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.ignore_label, self.from_logits = ignore_label, from_logits

    def call(self, y_true, y_pred):
        _check_loss_channels(self.name, 1, y_pred)
        labels, valid = _dense_targets(y_true, y_pred, self.ignore_label)
        poison = _check_batch(labels, y_pred, 2, None, f"{self.name} (1 sigmoid channel)")
        labels = ops.cast(labels, y_pred.dtype)[..., None]
        per_pixel = keras.losses.binary_crossentropy(labels, y_pred, from_logits=self.from_logits)
        # Rescaling by all/valid makes the batch mean a mean over valid pixels only.
        scale = ops.cast(ops.size(valid), valid.dtype) / ops.maximum(ops.sum(valid), 1.0)
        return per_pixel * valid * scale + ops.cast(poison, per_pixel.dtype)

    def get_config(self):
        return {**super().get_config(), "ignore_label": self.ignore_label,
                "from_logits": self.from_logits}


@keras.saving.register_keras_serializable(package="fcnlib")
class SoftDiceLoss(keras.losses.Loss):
    """One minus the soft Dice coefficient, per class over the whole batch, averaged over classes.

    Dice_c = (2 Σ p_c g_c + smooth) / (Σ p_c + Σ g_c + smooth), with ``p`` the softmax (or sigmoid)
    probabilities and ``g`` the one-hot truth, both zeroed at void pixels. Written by hand: Keras'
    ``Dice`` loss has no ignore label. Labels outside ``0..C-1`` (void aside) and NaN or inf
    predictions stop the run with a message. Introduced in notebooks/07_why_wont_it_learn.ipynb.
    """

    def __init__(self, num_classes, ignore_label=config.IGNORE_LABEL, from_logits=True, smooth=1.0,
                 name="soft_dice", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.num_classes, self.ignore_label = int(num_classes), ignore_label
        self.from_logits, self.smooth = from_logits, float(smooth)

    def call(self, y_true, y_pred):
        channels = y_pred.shape[-1]
        if channels not in (1, self.num_classes):
            raise ValueError(f"{self.name}: the loss was built for num_classes={self.num_classes} but the model "
                             f"outputs {channels} channels (predictions of shape {tuple(y_pred.shape)}); build it "
                             f"with soft_dice_loss({channels}), or give the model {self.num_classes} output "
                             "channels (or 1 sigmoid channel).")
        labels, valid = _dense_targets(y_true, y_pred, self.ignore_label)
        poison = _check_batch(labels, y_pred, max(channels, 2), None, self.name)
        if channels == 1:
            p = ops.sigmoid(y_pred) if self.from_logits else y_pred
            probs = ops.concatenate([1.0 - p, p], axis=-1)
        else:
            probs = ops.softmax(y_pred, axis=-1) if self.from_logits else y_pred
        probs = probs * valid[..., None]
        onehot = ops.one_hot(labels, probs.shape[-1], dtype=probs.dtype) * valid[..., None]
        axes = tuple(range(len(probs.shape) - 1))
        intersection = ops.sum(probs * onehot, axis=axes)
        total = ops.sum(probs, axis=axes) + ops.sum(onehot, axis=axes)
        dice = ops.mean((2.0 * intersection + self.smooth) / (total + self.smooth))
        return 1.0 - dice + ops.cast(poison, dice.dtype)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "ignore_label": self.ignore_label, "from_logits": self.from_logits,
                "smooth": self.smooth}


def _check_loss_channels(name, num_classes, y_pred):
    """Refuses predictions whose channels do not match the ``num_classes`` a loss was built for.

    Checked on the static shape, so it raises once, when Keras traces the step, with both numbers; without
    it a 2-class cross-entropy on one channel fails inside TensorFlow with a broadcasting error (or, with
    only background in the batch, returns 0), and a 1-class one on two channels fails on the shapes.
    """
    channels = y_pred.shape[-1]
    if channels is None or int(channels) == int(num_classes):
        return
    own = "1 sigmoid channel" if int(num_classes) == 1 else f"{num_classes} logits"
    raise ValueError(f"{name}: the loss was built for num_classes={num_classes} ({own} per pixel) but the model "
                     f"outputs {channels} channel(s) (predictions of shape {tuple(y_pred.shape)}). Build the loss "
                     f"with segmentation_loss({channels}), or give the model {num_classes} output channel(s).")


def _with_channel_check(loss, num_classes):
    """Keras' own loss, whose ``call`` first checks the output channels against ``num_classes``.

    The check is added to this one object, not to a subclass: the loss keeps Keras' class and config, so
    models saved with it, ``isinstance`` tests and the checkpoint cache's keys stay as they were.
    """
    call = loss.call

    def checked(y_true, y_pred):
        _check_loss_channels(loss.name, num_classes, y_pred)
        return call(y_true, y_pred)

    loss.call = checked
    return loss


def segmentation_loss(num_classes, ignore_label=config.IGNORE_LABEL) -> keras.losses.Loss:
    """Returns the pixel-wise cross-entropy that skips void pixels.

    Args:
        num_classes: Output channels. ``C > 1``: logits, Keras'
            ``SparseCategoricalCrossentropy(from_logits=True, ignore_class=ignore_label)``.
            ``1``: a sigmoid probability (the dense baseline), :class:`MaskedBinaryCrossentropy`.
        ignore_label: Void value in the masks.

    Returns:
        A Keras loss averaging over the non-void pixels of a batch.

    Example:

    >>> loss = segmentation_loss(3)
    >>> round(float(loss(np.array([[0, 255]]), np.zeros((1, 2, 3)))), 4)  # log(3)
    1.0986

    Introduced in notebooks/01_dense_baseline.ipynb.
    """
    num_classes = config.count(num_classes, "num_classes")
    if num_classes == 1:
        return MaskedBinaryCrossentropy(ignore_label=ignore_label)
    return _with_channel_check(
        keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=ignore_label), num_classes)


def soft_dice_loss(num_classes, ignore_label=config.IGNORE_LABEL, from_logits=True) -> keras.losses.Loss:
    """Returns a :class:`SoftDiceLoss` (per-class soft Dice averaged over classes, void skipped).

    Args:
        num_classes: Output channels (1 for a single sigmoid channel).
        ignore_label: Void value in the masks.
        from_logits: Whether predictions are logits (softmax/sigmoid applied inside).

    Returns:
        A Keras loss.

    Example:

    >>> model.compile("adam", loss=soft_dice_loss(6))  # doctest: +SKIP

    Introduced in notebooks/07_why_wont_it_learn.ipynb.
    """
    return SoftDiceLoss(config.count(num_classes, "num_classes"), ignore_label=ignore_label, from_logits=from_logits)
