"""Pictures: coloured masks, overlays, prediction grids, error maps, curves, score bars, confusion matrices, widgets.

Masks are drawn with the PASCAL VOC colours (``config.voc_palette``), void pixels (255) in VOC's
cream void colour, so a mask looks the same here, in a palette PNG on disk and in the VOC devkit.
Every plotting function returns its Matplotlib figure; in a notebook it also shows up by itself.

Example:

>>> from fcnlib import viz  # doctest: +SKIP
>>> fig = viz.show_grid(images, masks, {"fcn8s": predictions}, class_names=config.BINARY_CLASSES)
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Mapping
from numbers import Real

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch

from fcnlib import config

# VOC draws void pixels (label 255) in this colour; it is entry 255 of the VOC palette.
VOID_COLOR = (224, 224, 192)
STATIC_WIDGETS_ENV = "FCN_STATIC_WIDGETS"


def _lookup(palette):
    colours = np.asarray(config.voc_palette() if palette is None else palette, dtype=np.int64)
    if colours.ndim != 2 or colours.shape[1] != 3 or len(colours) > 256:
        raise ValueError(f"A palette is a list of at most 256 (r, g, b) colours; got shape "
                         f"{colours.shape}.")
    if colours.min() < 0 or colours.max() > 255:
        raise ValueError("Palette colours must be within 0..255.")
    lut = np.zeros((256, 3), np.uint8)
    lut[: len(colours)] = colours
    lut[config.IGNORE_LABEL] = VOID_COLOR if len(colours) <= config.IGNORE_LABEL else lut[255]
    return lut, len(colours)


def _arrays_only(where, call, **values):
    """Refuses a tf.data.Dataset (or its iterator) where arrays belong, naming it and the way out."""
    for name, value in values.items():
        if hasattr(value, "element_spec"):  # tf.data.Dataset and its iterators; arrays have none.
            kind = "tf.data.Dataset" if hasattr(value, "take") else "tf.data iterator"
            raise ValueError(f"{where} draws arrays, but {name} is a {kind}. Take one batch: images, masks = "
                             f"next(iter(dataset)), then {call}.")


def colorize(mask, palette=None) -> np.ndarray:
    """Colours a mask of class indices; void (255) is drawn in the VOC void colour (224, 224, 192).

    Args:
        mask: Integer class indices (H, W), (H, W, 1) or a batch (N, H, W).
        palette: A list of (r, g, b) colours, colour ``i`` for class ``i``; the VOC palette when None.

    Returns:
        A ``uint8`` array of the mask's shape plus a last axis of 3.

    Raises:
        ValueError: For fractional values (probabilities: take the argmax first) or values that
            have no colour.

    Example:

    >>> viz.colorize(np.array([[0, 1], [2, 255]]))[1, 1].tolist()
    [224, 224, 192]

    Introduced in notebooks/00_setup_and_data.ipynb.
    """
    _arrays_only("colorize", "colorize(masks[0])", mask=mask)
    mask = np.asarray(mask)
    if mask.ndim >= 3 and mask.shape[-1] == 1:
        mask = mask[..., 0]
    if mask.dtype.kind == "f" and not np.all(np.mod(mask, 1) == 0):
        raise ValueError("The mask holds fractional values, so it is no mask of class indices; for "
                         "model outputs use metrics.predict_labels first.")
    if mask.dtype.kind not in "uif" and mask.dtype != bool:
        raise ValueError(f"A mask must hold integer class indices; got dtype {mask.dtype}.")
    lut, size = _lookup(palette)
    values = mask.astype(np.int64)
    bad = np.unique(values[((values < 0) | (values >= size)) & (values != config.IGNORE_LABEL)])
    if bad.size:
        raise ValueError(f"Mask values {bad[:10].tolist()} have no colour in a palette of {size} "
                         "colours; masks hold class indices 0..C-1 and 255 for void.")
    return lut[values]


def _as_rgb(image) -> np.ndarray:
    """Turns a uint8 image, a [0, 1] float image or a caffe-preprocessed one into uint8 RGB."""
    _arrays_only("viz", "pass images[0] (one image) or images (a batch)", image=image)
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    image = image.astype(np.float64)
    if not np.isfinite(image).all():
        count = int(image.size - np.count_nonzero(np.isfinite(image)))
        raise ValueError(f"The image holds {count} NaN or inf value(s) of {image.size}, which have no colour; "
                         "find where they come from (a division by zero, a failed read) and fix them.")
    if image.min() < 0:  # Caffe-style: BGR with the mean subtracted; undo both.
        image = (image + np.asarray(config.VGG_MEAN_BGR))[..., ::-1]
    elif image.max() <= 1.0:
        image = image * 255.0
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def overlay(image, mask, alpha=0.5, palette=None) -> np.ndarray:
    """Blends the coloured mask into the image wherever the mask is not background (0).

    Args:
        image: RGB image (H, W, 3): uint8, floats in [0, 1], or caffe-preprocessed floats.
        mask: Class indices (H, W); void pixels are tinted with the void colour.
        alpha: Weight of the mask colour, 0 (image only) to 1 (mask only).
        palette: As for :func:`colorize`.

    Returns:
        A ``uint8`` RGB image (H, W, 3).

    Example:

    >>> plt.imshow(viz.overlay(images[0], masks[0]))  # doctest: +SKIP
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be within 0..1; got {alpha}.")
    _arrays_only("overlay", "overlay(images[0], masks[0])", image=image, mask=mask)
    rgb = _as_rgb(image)
    colours = colorize(mask, palette)
    if rgb.shape != colours.shape:
        raise ValueError(f"Image shape {rgb.shape} does not match mask shape {np.shape(mask)}.")
    blend = (1 - alpha) * rgb + alpha * colours.astype(np.float64)
    keep = np.asarray(mask).reshape(colours.shape[:-1])[..., None] == 0
    return np.where(keep, rgb, np.round(blend)).astype(np.uint8)


def _labels(outputs) -> np.ndarray:
    outputs = np.asarray(outputs)
    if outputs.ndim == 4 and outputs.dtype.kind == "f":
        from fcnlib import metrics  # Model outputs (N, H, W, C): argmax, or threshold 1 channel.

        return metrics.predict_labels(outputs)
    return outputs[..., 0] if outputs.ndim == 4 else outputs


def show_grid(images, masks_true, preds=None, class_names=None, max_rows=4, palette=None):
    """Shows image, ground truth and each model's prediction side by side, one row per image.

    Args:
        images: Images (N, H, W, 3), as for :func:`overlay`.
        masks_true: Ground-truth class indices (N, H, W).
        preds: ``{model name: predictions}``; predictions are class indices (N, H, W) or model
            outputs (N, H, W, C), which go through ``metrics.predict_labels``.
        class_names: Names for the legend (index = class); no legend when None.
        max_rows: At most this many images are shown.
        palette: As for :func:`colorize`.

    Returns:
        The Matplotlib figure; its first-row titles are "image", "ground truth" and the model names.

    Example:

    >>> preds = {"fcn32s": m32.predict(x[:4])}  # doctest: +SKIP
    >>> viz.show_grid(x[:4], y[:4], preds, config.BINARY_CLASSES)  # doctest: +SKIP

    Introduced in notebooks/01_dense_baseline.ipynb.
    """
    if preds is not None and not isinstance(preds, Mapping):  # One model's predictions, unnamed.
        preds = {"prediction": preds}
    preds = dict(preds or {})
    call = "show_grid(images, masks, {'my model': model.predict(images)})"
    _arrays_only("show_grid", call, images=images, masks_true=masks_true,
                 **{f"preds[{name!r}]": value for name, value in preds.items()})
    images, masks_true = np.asarray(images), np.asarray(masks_true)
    if images.ndim == 3 and images.shape[-1] in (1, 3):
        raise ValueError(f"show_grid got one image of shape {images.shape} without a batch axis; add one: "
                         "show_grid(image[None], mask[None]).")
    if masks_true.ndim == 4 and masks_true.shape[-1] == 1:  # (N, H, W, 1): a channel of one, squeezed.
        masks_true = masks_true[..., 0]
    rows = min(len(images), max_rows)
    if rows < 1 or len(masks_true) < rows:
        raise ValueError(f"show_grid needs at least one image and a mask per image; got "
                         f"{len(images)} images and {len(masks_true)} masks.")
    if masks_true.ndim != 3:
        raise ValueError(f"show_grid takes ground-truth masks (N, H, W) (or (N, H, W, 1)); got shape "
                         f"{masks_true.shape}.")
    columns = [("image", None), ("ground truth", masks_true)]
    columns += [(name, _labels(p)) for name, p in preds.items()]
    for name, labels in columns[2:]:
        if len(labels) < rows or labels.shape[1:] != masks_true.shape[1:]:
            raise ValueError(f"Predictions of {name!r} have shape {labels.shape}; expected "
                             f"({rows} or more, {masks_true.shape[1]}, {masks_true.shape[2]}), the masks' "
                             "height and width.")
    fig, axes = plt.subplots(rows, len(columns), squeeze=False,
                             figsize=(2.6 * len(columns), 2.6 * rows + 0.6))
    for row in range(rows):
        for col, (title, masks) in enumerate(columns):
            ax = axes[row, col]
            ax.imshow(_as_rgb(images[row]) if masks is None else colorize(masks[row], palette))
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title)
    if class_names is not None:
        lut, _ = _lookup(palette)
        handles = [Patch(color=lut[i] / 255, label=name) for i, name in enumerate(class_names)]
        if np.any(masks_true[:rows] == config.IGNORE_LABEL):
            handles.append(Patch(color=np.array(VOID_COLOR) / 255, label="void (255)"))
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 7), frameon=False)
    fig.tight_layout(rect=(0, 0.08 if class_names is not None else 0, 1, 1))
    return fig


# Colours of viz.error_map, from the Okabe-Ito palette of Color Universal Design (Okabe and Ito,
# https://jfly.uni-koeln.de/color/), chosen to stay distinct under the common colour-vision
# deficiencies: blue and orange are its safest pair, so they mark the hits and the false alarms; the
# misses take its reddish purple, lighter than the blue and bluer than the orange. True negatives stay a
# neutral light grey (or the faded image) so that the eye goes to the errors; void is black.
ERROR_COLORS = {
    "true positive": (0, 114, 178),  # Okabe-Ito blue #0072B2
    "false positive": (230, 159, 0),  # Okabe-Ito orange #E69F00
    "false negative": (204, 121, 167),  # Okabe-Ito reddish purple #CC79A7
    "true negative": (217, 217, 217),  # Neutral light grey #D9D9D9
    "void": (0, 0, 0),  # Okabe-Ito black: not scored
}


def error_map(truth, labels, cls=1, image=None) -> np.ndarray:
    """Colours each pixel by the kind of answer a model gave for one class: hit, false alarm or miss.

    True positives (truth and prediction are ``cls``) are blue, false positives (predicted ``cls``,
    truth another class) orange, false negatives (truth ``cls``, predicted another class) reddish
    purple, true negatives light grey, and void pixels (truth 255, not scored) black: the colours of
    ``ERROR_COLORS``, from the colour-blind-safe Okabe-Ito palette.

    Args:
        truth: Ground-truth class indices (H, W); 255 marks void.
        labels: Predicted class indices (H, W).
        cls: The class whose errors are drawn (1, the foreground, in the binary task).
        image: Optional RGB image (H, W, 3), as for :func:`overlay`: true negatives then show it,
            in grey and faded, instead of a flat grey.

    Returns:
        A ``uint8`` RGB image (H, W, 3).

    Raises:
        ValueError: When the shapes differ.

    Example:

    >>> viz.error_map(np.array([[1, 1, 0]]), np.array([[1, 0, 1]]))[0].tolist()
    [[0, 114, 178], [204, 121, 167], [230, 159, 0]]

    Introduced in notebooks/06_evaluation.ipynb.
    """
    _arrays_only("error_map", "error_map(masks[0], predictions[0])", truth=truth, labels=labels)
    truth, labels = np.asarray(truth), np.asarray(labels)
    if truth.ndim == 3 and truth.shape[-1] == 1:
        truth = truth[..., 0]
    if labels.ndim == 3 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if truth.ndim != 2 or truth.shape != labels.shape:
        raise ValueError(f"error_map needs a truth and a prediction of the same (H, W) shape; got "
                         f"{truth.shape} and {labels.shape}.")
    void = truth == config.IGNORE_LABEL
    is_true, is_said = (truth == cls) & ~void, (labels == cls) & ~void
    colours = np.empty(truth.shape + (3,), np.uint8)
    colours[...] = ERROR_COLORS["true negative"]
    if image is not None:
        rgb = _as_rgb(image)
        if rgb.shape[:2] != truth.shape:
            raise ValueError(f"Image shape {rgb.shape} does not match mask shape {truth.shape}.")
        faded = np.round(127.5 + rgb.astype(np.float64).mean(axis=-1) / 2).astype(np.uint8)  # 128..255
        colours[...] = faded[..., None]
    colours[is_true & is_said] = ERROR_COLORS["true positive"]
    colours[~is_true & is_said] = ERROR_COLORS["false positive"]
    colours[is_true & ~is_said] = ERROR_COLORS["false negative"]
    colours[void] = ERROR_COLORS["void"]
    return colours


def error_legend(with_void=False) -> list:
    """Legend handles for :func:`error_map`'s colours (void only when asked), for ``fig.legend``."""
    return [Patch(facecolor=np.array(colour) / 255, edgecolor="0.5", label=name)
            for name, colour in ERROR_COLORS.items() if with_void or name != "void"]


def show_errors(image, truth, preds, class_names=None, cls=1, palette=None):
    """Shows one image's predictions and, under each, its error map (:func:`error_map`), with legends.

    Args:
        image: One RGB image (H, W, 3), as for :func:`overlay`.
        truth: Its ground-truth class indices (H, W).
        preds: ``{model name: predicted class indices (H, W)}``.
        class_names: Names for the class legend; none when None.
        cls: The class whose hits and errors the bottom row draws.
        palette: As for :func:`colorize`.

    Returns:
        The Matplotlib figure: top row image, ground truth and the predictions; bottom row the error
        legend, the class legend, then each model's error map under its prediction.

    Example:

    >>> viz.show_errors(x[0], y[0], {"FCN-8s": p8[0]}, config.BINARY_CLASSES)  # doctest: +SKIP

    Introduced in notebooks/06_evaluation.ipynb.
    """
    if preds is not None and not isinstance(preds, Mapping):  # One model's prediction, unnamed.
        preds = {"prediction": preds}
    _arrays_only("show_errors", "show_errors(images[0], masks[0], {'my model': labels[0]})", image=image,
                 truth=truth, **{f"preds[{name!r}]": value for name, value in (preds or {}).items()})
    truth = np.asarray(truth)
    preds = {name: np.asarray(labels) for name, labels in (preds or {}).items()}
    if not preds:
        raise ValueError("show_errors needs at least one model's prediction.")
    columns = 2 + len(preds)
    fig, axes = plt.subplots(2, columns, figsize=(2.4 * columns, 5.4))
    top = [("image", _as_rgb(image)), ("ground truth", colorize(truth, palette))]
    top += [(name, colorize(labels, palette)) for name, labels in preds.items()]
    bottom = [(f"errors of {name}", error_map(truth, labels, cls, image)) for name, labels in preds.items()]
    for ax, (title, picture) in zip(list(axes[0]) + list(axes[1, 2:]), top + bottom, strict=False):
        ax.imshow(picture)
        ax.set_title(title, fontsize="medium")
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[1, :2]:
        ax.axis("off")
    name = class_names[cls] if class_names is not None else f"class {cls}"
    axes[1, 0].legend(handles=error_legend(np.any(truth == config.IGNORE_LABEL)), loc="center left",
                      title=f"{name} pixels", frameon=False, fontsize="small")
    if class_names is not None:
        lut, _ = _lookup(palette)
        handles = [Patch(color=lut[i] / 255, label=n) for i, n in enumerate(class_names)]
        axes[1, 1].legend(handles=handles, loc="center left", title="classes", frameon=False, fontsize="small")
    fig.tight_layout()
    return fig


def plot_history(histories, metrics=("loss", "mean_iou")):
    """Plots training (solid) and validation (dashed) curves, one panel per metric.

    Args:
        histories: ``{model name: history dict}`` as returned by ``train.fit``, or one history dict.
        metrics: History keys to plot; ``val_<key>`` is drawn too where present.

    Returns:
        The Matplotlib figure, one axis per metric, titled with the metric's name.

    Example:

    >>> viz.plot_history({"fcn32s": h32, "fcn8s": h8})  # doctest: +SKIP

    Introduced in notebooks/02_fully_convolutional.ipynb.
    """
    if hasattr(histories, "history") and isinstance(histories.history, dict):  # keras.callbacks.History
        histories = histories.history
    if not isinstance(histories, dict):
        raise ValueError(f"plot_history takes a history dict (train.fit's, or model.fit(...).history) or "
                         f"{{name: history}}, got {type(histories).__name__}.")
    histories = {name: getattr(history, "history", history) for name, history in histories.items()}
    if histories and all(isinstance(v, (list, tuple, np.ndarray)) for v in histories.values()):
        histories = {"model": histories}
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    for metric in metrics:
        if not any(metric in history for history in histories.values()):
            available = sorted({k for history in histories.values() for k in history})
            raise ValueError(f"No history holds {metric!r}; available keys: {available}.")
    fig, axes = plt.subplots(1, len(metrics), squeeze=False, figsize=(4.5 * len(metrics), 3.4))
    for ax, metric in zip(axes[0], metrics, strict=True):
        for index, (name, history) in enumerate(histories.items()):
            colour = f"C{index % 10}"
            for key, style, label in ((metric, "-", name), (f"val_{metric}", "--", f"{name} (val)")):
                if key in history:
                    values = history[key]
                    ax.plot(range(1, len(values) + 1), values, style, color=colour, label=label)
        ax.set_title(metric)
        ax.set_xlabel("epoch")
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def text_color(background) -> str:
    """Black or white, whichever reads better on a background colour.

    Picks the text colour with the higher contrast ratio against the background's relative
    luminance, as WCAG 2 defines both (https://www.w3.org/TR/WCAG21/#dfn-relative-luminance):
    black on light colours such as viridis' yellow, white on dark ones such as its purple.

    Args:
        background: An (r, g, b) or (r, g, b, a) colour with components in [0, 1], as Matplotlib's
            colormaps return them; alpha is ignored.

    Returns:
        ``"black"`` or ``"white"``.

    Example:

    >>> viz.text_color(plt.get_cmap("viridis")(1.0))
    'black'
    """
    rgb = np.asarray(background, dtype=np.float64).reshape(-1)[:3]
    if rgb.shape != (3,) or not np.all((rgb >= 0) & (rgb <= 1)):
        raise ValueError(f"A background colour is (r, g, b[, a]) with components in [0, 1]; got {background!r}.")
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    luminance = float(linear @ np.array([0.2126, 0.7152, 0.0722]))
    # Contrast ratio with black is (L + 0.05) / 0.05, with white 1.05 / (L + 0.05).
    return "black" if (luminance + 0.05) / 0.05 >= 1.05 / (luminance + 0.05) else "white"


def annotate(image, fmt="{:g}", **text_kwargs):
    """Writes each value of an ``imshow`` image into its cell, in black or white to suit the cell's colour.

    Args:
        image: The ``AxesImage`` that ``ax.imshow(values, cmap=...)`` returned (a 2-D array of values).
        fmt: Format of each value, e.g. ``"{:.2f}"``.
        **text_kwargs: Passed to ``ax.text`` (e.g. ``fontsize``); ``color`` is chosen per cell.

    Returns:
        The list of Matplotlib text artists, row by row.

    Example:

    >>> shown = ax.imshow(counts, cmap="viridis")  # doctest: +SKIP
    >>> viz.annotate(shown, fontsize=8)  # doctest: +SKIP

    Introduced in notebooks/03_transposed_convolution.ipynb.
    """
    values = np.ma.getdata(image.get_array())
    if values.ndim != 2:
        raise ValueError(f"annotate writes into a 2-D image of values; this one has shape {values.shape}.")
    text_kwargs = {"ha": "center", "va": "center", **text_kwargs}
    return [image.axes.text(c, r, fmt.format(value), color=text_color(image.to_rgba(value)), **text_kwargs)
            for (r, c), value in np.ndenumerate(values)]


def plot_confusion(matrix, class_names, normalize=True):
    """Draws a confusion matrix (rows: truth, columns: prediction) with its values written in.

    Args:
        matrix: A (C, C) count matrix, e.g. from ``metrics.confusion_matrix``.
        class_names: C names.
        normalize: Divide each row by its total, so a row shows where a class's pixels went.

    Returns:
        The Matplotlib figure.

    Example:

    >>> matrix = metrics.confusion_matrix(y, p, 6)  # doctest: +SKIP
    >>> viz.plot_confusion(matrix, config.MULTICLASS_CLASSES)  # doctest: +SKIP

    Introduced in notebooks/01_dense_baseline.ipynb.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"A confusion matrix must be square (C, C); got shape {matrix.shape}.")
    if len(class_names) != len(matrix):
        raise ValueError(f"{len(class_names)} class names for a {len(matrix)}-class matrix.")
    if normalize:
        totals = matrix.sum(axis=1, keepdims=True)
        matrix = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    size = max(3.5, 0.55 * len(matrix) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(image, ax=ax, fraction=0.046)
    ticks = range(len(matrix))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix" + (" (rows sum to 1)" if normalize else ""))
    if len(matrix) <= 25:
        annotate(image, "{:.2f}" if normalize else "{:.0f}", fontsize="small")
    fig.tight_layout()
    return fig


def plot_scores(rows, scores=None, references=None, title=None):
    """Draws test scores side by side: one group of horizontal bars per model, one bar per score.

    Args:
        rows: ``{model name: {score name: value}}``, values between 0 and 1 (NaN draws no bar).
        scores: Score names to draw, in order; every score of the first row when None.
        references: Optional ``{label: value}`` drawn as dotted vertical lines (e.g. the accuracy of
            predicting background everywhere).
        title: The figure's title.

    Returns:
        The Matplotlib figure; each bar carries its value, written at its end.

    Example:

    >>> viz.plot_scores({"dense": {"mean IoU": 0.48}, "FCN-32s": {"mean IoU": 0.64}})  # doctest: +SKIP

    Introduced in notebooks/02_fully_convolutional.ipynb.
    """
    if not rows:
        raise ValueError("plot_scores needs at least one model's scores.")
    scores = list(next(iter(rows.values()))) if scores is None else list(scores)
    for name, row in rows.items():
        missing = [score for score in scores if score not in row]
        if missing:
            raise ValueError(f"Model {name!r} has no score {missing[0]!r}; it has {sorted(row)}.")
    height = 0.8 / len(scores)
    fig, ax = plt.subplots(figsize=(7.5, 0.9 + 0.32 * len(rows) * len(scores) + 0.25 * len(rows)))
    for k, score in enumerate(scores):
        values = np.array([float(row[score]) for row in rows.values()])
        positions = np.arange(len(rows)) + (k - (len(scores) - 1) / 2) * height
        ax.barh(positions, values, height=height * 0.9, color=f"C{k % 10}", label=score)
        for y, value in zip(positions, values, strict=True):
            if np.isfinite(value):
                ax.text(value + 0.01, y, f"{value:.2f}", va="center", fontsize="x-small")
    for index, (label, value) in enumerate((references or {}).items()):
        ax.axvline(value, color="k", linestyle=":", linewidth=1)
        ax.text(value, -0.6 - 0.35 * index, f" {label} ({value:.2f})", fontsize="x-small", va="top")
    ax.set_yticks(range(len(rows)), list(rows))
    ax.invert_yaxis()  # The first model on top, as in a table.
    ax.set_xlim(0, 1.12)
    ax.set_xlabel("score on the test split (higher is better)")
    ax.legend(fontsize="small", loc="lower right")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_lr_sweep(ratios, current=None, steps=None):
    """Draws a learning-rate sweep: last loss / first loss for each rate, on log axes.

    Args:
        ratios: ``{learning rate: last loss / first loss}``, e.g. ``diagnose.lr_range_check(...)``'s
            ``details["ratios"]``; an infinite ratio (the loss blew up to NaN or inf) is drawn at the
            top of the axis and labelled "diverged".
        current: Your learning rate, marked in red when it is one of the rates.
        steps: Steps per rate, for the axis label.

    Returns:
        The Matplotlib figure. Below the dashed line at 1 the loss went down; the lowest point is the
        rate that lowered it most.

    Example:

    >>> finding = diagnose.lr_range_check(model, x, y)  # doctest: +SKIP
    >>> viz.plot_lr_sweep(finding.details["ratios"])  # doctest: +SKIP

    Introduced in notebooks/07_why_wont_it_learn.ipynb.
    """
    if not ratios:
        raise ValueError("plot_lr_sweep needs at least one learning rate and its loss ratio.")
    rates = sorted(ratios)
    values = np.array([float(ratios[rate]) for rate in rates])
    if any(rate <= 0 for rate in rates):
        raise ValueError(f"Learning rates must be positive to draw on a log axis; got {rates}.")
    finite = values[np.isfinite(values) & (values > 0)]
    top = max(2.0, 2 * finite.max()) if finite.size else 2.0
    bottom = min(0.5, finite.min() / 2) if finite.size else 0.5
    shown = np.where(np.isfinite(values) & (values > 0), values, top)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(rates, shown, "o-", color="C0")
    ax.axhline(1.0, color="k", linestyle="--", linewidth=1, label="loss unchanged")
    for rate, value, drawn in zip(rates, values, shown, strict=True):
        label = "diverged" if not np.isfinite(value) else f"{value:.2f}"
        ax.annotate(label, (rate, drawn), textcoords="offset points", xytext=(0, 7), ha="center",
                    fontsize="small")
    best = rates[int(np.argmin(np.where(np.isfinite(values), values, np.inf)))]
    ax.plot([best], [ratios[best]], "o", color="C2", markersize=11, fillstyle="none",
            label=f"lowest: {best:g}")
    if current in ratios:
        ax.plot([current], [shown[rates.index(current)]], "s", color="C3", label=f"current: {current:g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(bottom, top * 1.6)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("last loss / first loss" + (f" after {steps} steps" if steps else ""))
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def widgets_can_render() -> bool:
    """Tells whether ipywidgets would be displayed: a kernel is running and static mode is off."""
    if os.environ.get(STATIC_WIDGETS_ENV, "").strip().lower() in ("1", "true", "yes"):
        return False
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _default(abbrev):
    """The value ipywidgets would start a widget built from ``abbrev`` at."""
    if hasattr(abbrev, "value"):  # A widget or ipywidgets.fixed.
        return abbrev.value
    if isinstance(abbrev, dict):
        return next(iter(abbrev.values()))
    if isinstance(abbrev, (tuple, list)) and abbrev:
        if 2 <= len(abbrev) <= 3 and all(isinstance(v, Real) and not isinstance(v, bool)
                                         for v in abbrev):
            low, high = abbrev[:2]
            value = low + (high - low) / 2
            value = value if isinstance(value, type(high - low)) else low + (high - low) // 2
            if len(abbrev) == 3:
                value = low + int((value - low) / abbrev[2]) * abbrev[2]
            return value
        first = abbrev[0]
        return first[1] if isinstance(first, tuple) and len(first) == 2 else first
    return abbrev


def _whole_figures(fn):
    """``fn`` with Matplotlib's interactive mode off while it runs, so that a figure it builds is
    shown only by its own ``plt.show()``, whole.

    In a widget callback, the inline backend's automatic display (armed by every pyplot call in
    interactive mode) could show a figure before ``fn`` had finished it: in JupyterLab 4.6 with
    ipywidgets 8.1 the explorer of notebook 03 sometimes redrew only its first panel.
    """
    @functools.wraps(fn)
    def run(*args, **kwargs):
        with plt.ioff():
            result = fn(*args, **kwargs)
            if plt.get_fignums():  # fn built a figure and did not show it: show it now, whole.
                plt.show()
        return result

    return run


def interactive(fn, **widgets):
    """Runs ``fn`` under ``ipywidgets.interact``, or once with the starting values if widgets can't show.

    Widgets appear in Jupyter, JupyterLab and Colab (ipywidgets 7.7 and 8 alike). With no kernel, or
    with ``FCN_STATIC_WIDGETS=1`` (set by the test command, as nbval cannot drive widgets), ``fn``
    is called once with the values the widgets would start at: ``fn``'s own default for a
    parameter if it has one, else the middle of a ``(min, max[, step])`` range, the first option
    of a list, the first value of a dict, a widget's value, or the value itself.

    Args:
        fn: A function that draws (e.g. calls ``viz.show_grid``) and returns None.
        **widgets: ipywidgets abbreviations, e.g. ``index=(0, 9)``, ``model=["fcn32s", "fcn8s"]``.

    Returns:
        None when widgets are shown; ``fn``'s return value in static mode.

    Example:

    >>> viz.interactive(lambda index: viz.show_grid(x[index:index + 1], y[index:index + 1]),
    ...                 index=(0, 9))  # doctest: +SKIP

    Introduced in notebooks/00_setup_and_data.ipynb.
    """
    if widgets_can_render():
        import ipywidgets

        ipywidgets.interact(_whole_figures(fn), **widgets)
        return None
    defaults = {name: param.default for name, param in inspect.signature(fn).parameters.items()
                if param.default is not inspect.Parameter.empty}
    values = {name: defaults.get(name, _default(abbrev)) if not hasattr(abbrev, "value")
              else abbrev.value for name, abbrev in widgets.items()}
    return fn(**values)
