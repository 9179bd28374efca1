"""Tests for fcnlib.viz: colours against brute-force loops, figure layouts, the widget fallback."""

import matplotlib

matplotlib.use("Agg")

import IPython  # noqa: E402
import ipywidgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from fcnlib import config, viz  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def random_masks(shape=(2, 6, 7), classes=3, seed=0):
    rng = np.random.default_rng(seed)
    masks = rng.integers(0, classes, size=shape).astype(np.uint8)
    masks[..., 0, :2] = 255
    return masks


def test_colorize_matches_a_pixel_loop():
    mask = random_masks((6, 7), classes=21)
    palette = config.voc_palette()
    expected = np.zeros((6, 7, 3), np.uint8)
    for i in range(6):
        for j in range(7):
            expected[i, j] = (224, 224, 192) if mask[i, j] == 255 else palette[mask[i, j]]
    np.testing.assert_array_equal(viz.colorize(mask), expected)
    # Known VOC colours: background black, aeroplane dark red, person (15) pinkish.
    assert viz.colorize(np.array([[0, 1, 15]])).tolist() == [[[0, 0, 0], [128, 0, 0], [192, 128, 128]]]


def test_colorize_batches_channel_axis_and_custom_palettes():
    masks = random_masks()
    batch = viz.colorize(masks)
    assert batch.shape == (2, 6, 7, 3) and batch.dtype == np.uint8
    np.testing.assert_array_equal(batch[1], viz.colorize(masks[1][..., None]))
    custom = [(10, 20, 30), (40, 50, 60), (70, 80, 90)]
    coloured = viz.colorize(masks, custom)
    for value, colour in [(0, (10, 20, 30)), (2, (70, 80, 90)), (255, (224, 224, 192))]:
        assert np.all(coloured[masks == value] == colour)


def test_colorize_rejects_probabilities_and_colourless_values():
    with pytest.raises(ValueError, match="predict_labels"):
        viz.colorize(np.array([[0.2, 0.7]]))
    with pytest.raises(ValueError, match=r"\[3\]"):
        viz.colorize(np.array([[0, 3]]), [(0, 0, 0), (1, 1, 1)])
    with pytest.raises(ValueError, match=r"-1"):
        viz.colorize(np.array([[0, -1]]))


def test_overlay_blends_only_non_background_pixels():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=(6, 7, 3)).astype(np.uint8)
    mask = random_masks((6, 7))
    palette = config.voc_palette()
    result = viz.overlay(image, mask, alpha=0.25)
    for i in range(6):
        for j in range(7):
            if mask[i, j] == 0:
                expected = image[i, j]
            else:
                colour = (224, 224, 192) if mask[i, j] == 255 else palette[mask[i, j]]
                expected = np.round(0.75 * image[i, j] + 0.25 * np.array(colour))
            np.testing.assert_array_equal(result[i, j], expected)
    with pytest.raises(ValueError, match="alpha"):
        viz.overlay(image, mask, alpha=2)
    with pytest.raises(ValueError, match="shape"):
        viz.overlay(image, mask[:3])


def test_overlay_undoes_caffe_preprocessing():
    image = np.random.default_rng(2).integers(0, 256, size=(4, 5, 3)).astype(np.uint8)
    caffe = image[..., ::-1].astype(np.float32) - np.array(config.VGG_MEAN_BGR, np.float32)
    zeros = np.zeros((4, 5), np.uint8)
    np.testing.assert_array_equal(viz.overlay(caffe, zeros), image)
    np.testing.assert_array_equal(viz.overlay(image / 255.0, zeros), image)


def test_show_grid_layout_titles_and_legend():
    images = np.zeros((3, 6, 7, 3), np.uint8)
    masks = random_masks((3, 6, 7))
    logits = np.random.default_rng(3).normal(size=(3, 6, 7, 3)).astype(np.float32)
    fig = viz.show_grid(images, masks, {"fcn32s": masks, "fcn8s": logits},
                        class_names=["background", "a", "b"], max_rows=2)
    assert len(fig.axes) == 2 * 4
    assert [ax.get_title() for ax in fig.axes[:4]] == ["image", "ground truth", "fcn32s", "fcn8s"]
    assert all(ax.get_title() == "" for ax in fig.axes[4:])
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["background", "a", "b", "void (255)"]
    # The fcn8s panel shows the argmax of its logits, taken here independently with NumPy.
    shown = fig.axes[7].images[0].get_array()
    np.testing.assert_array_equal(shown, viz.colorize(np.argmax(logits[1], axis=-1)))


def test_show_grid_without_predictions_or_legend():
    fig = viz.show_grid(np.zeros((1, 6, 7, 3), np.uint8), random_masks((1, 6, 7)))
    assert len(fig.axes) == 2 and not fig.legends
    with pytest.raises(ValueError, match="fcn"):
        viz.show_grid(np.zeros((1, 6, 7, 3), np.uint8), random_masks((1, 6, 7)),
                      {"fcn": np.zeros((1, 5, 7), np.uint8)})


def test_error_map_colours_a_hand_made_3x3_example():
    truth = np.array([[1, 1, 0],
                      [0, 0, 1],
                      [255, 1, 0]])
    guess = np.array([[1, 0, 1],
                      [0, 1, 1],
                      [1, 1, 0]])
    tp, fp, fn, tn, void = (0, 114, 178), (230, 159, 0), (204, 121, 167), (217, 217, 217), (0, 0, 0)
    expected = np.array([[tp, fn, fp],
                         [tn, fp, tp],
                         [void, tp, tn]], np.uint8)  # The void pixel is predicted 1 but not scored.
    result = viz.error_map(truth, guess)
    assert result.dtype == np.uint8 and result.shape == (3, 3, 3)
    np.testing.assert_array_equal(result, expected)
    # Class 0's view swaps the roles: its hits are the foreground's true negatives.
    np.testing.assert_array_equal(viz.error_map(truth, guess, cls=0)[1, 0], tp)
    np.testing.assert_array_equal(viz.error_map(truth[..., None], guess), expected)


def test_error_map_shows_the_faded_image_on_true_negatives_only():
    truth = np.array([[1, 0], [0, 255]])
    guess = np.array([[1, 0], [1, 0]])
    image = np.array([[[0, 0, 0], [30, 60, 90]], [[255, 255, 255], [9, 9, 9]]], np.uint8)
    result = viz.error_map(truth, guess, image=image)
    np.testing.assert_array_equal(result[0, 1], [np.round(127.5 + 30)] * 3)  # Grey 60 faded to 158.
    np.testing.assert_array_equal(result[0, 0], (0, 114, 178))
    np.testing.assert_array_equal(result[1, 0], (230, 159, 0))
    np.testing.assert_array_equal(result[1, 1], (0, 0, 0))
    with pytest.raises(ValueError, match="same"):
        viz.error_map(truth, guess[:1])
    with pytest.raises(ValueError, match="Image shape"):
        viz.error_map(truth, guess, image=image[:1])


def test_error_colours_are_the_okabe_ito_ones_and_all_distinct():
    hexes = {name: "#{:02X}{:02X}{:02X}".format(*colour) for name, colour in viz.ERROR_COLORS.items()}
    assert hexes == {"true positive": "#0072B2", "false positive": "#E69F00", "false negative": "#CC79A7",
                     "true negative": "#D9D9D9", "void": "#000000"}
    assert [h.get_label() for h in viz.error_legend()] == ["true positive", "false positive", "false negative",
                                                          "true negative"]
    assert viz.error_legend(with_void=True)[-1].get_label() == "void"


def test_show_errors_puts_each_error_map_under_its_prediction_with_legends():
    truth = random_masks((6, 7), classes=2)
    preds = {"a": np.zeros((6, 7), np.uint8), "b": (truth == 1).astype(np.uint8)}
    fig = viz.show_errors(np.zeros((6, 7, 3), np.uint8), truth, preds, ["background", "sign"])
    axes = np.array(fig.axes).reshape(2, 4)
    assert [ax.get_title() for ax in axes[0]] == ["image", "ground truth", "a", "b"]
    assert [ax.get_title() for ax in axes[1, 2:]] == ["errors of a", "errors of b"]
    np.testing.assert_array_equal(axes[1, 3].images[0].get_array(), viz.error_map(truth, preds["b"], 1,
                                                                                   np.zeros((6, 7, 3), np.uint8)))
    errors = [t.get_text() for t in axes[1, 0].get_legend().get_texts()]
    assert errors == ["true positive", "false positive", "false negative", "true negative", "void"]
    assert [t.get_text() for t in axes[1, 1].get_legend().get_texts()] == ["background", "sign"]
    with pytest.raises(ValueError, match="at least one"):
        viz.show_errors(np.zeros((6, 7, 3), np.uint8), truth, {})


def test_plot_history_panels_and_lines():
    h1 = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "mean_iou": [0.2, 0.4],
          "val_mean_iou": [0.1, 0.3]}
    h2 = {"loss": [0.9, 0.4, 0.3], "mean_iou": [0.3, 0.5, 0.6]}
    fig = viz.plot_history({"fcn32s": h1, "fcn8s": h2})
    assert [ax.get_title() for ax in fig.axes] == ["loss", "mean_iou"]
    assert [len(ax.lines) for ax in fig.axes] == [3, 3]
    np.testing.assert_array_equal(fig.axes[0].lines[2].get_ydata(), [0.9, 0.4, 0.3])
    single = viz.plot_history(h1, metrics="loss")
    assert len(single.axes) == 1 and len(single.axes[0].lines) == 2
    with pytest.raises(ValueError, match="accuracy"):
        viz.plot_history(h1, metrics=("accuracy",))


def test_plot_confusion_normalizes_rows():
    matrix = np.array([[8, 2, 0], [1, 3, 0], [0, 0, 0]])
    fig = viz.plot_confusion(matrix, ["a", "b", "c"])
    shown = np.asarray(fig.axes[0].images[0].get_array())
    np.testing.assert_allclose(shown, [[0.8, 0.2, 0], [0.25, 0.75, 0], [0, 0, 0]])
    assert len(fig.axes[0].texts) == 9 and fig.axes[0].get_ylabel() == "true"
    raw = viz.plot_confusion(matrix, ["a", "b", "c"], normalize=False)
    assert "8" in [t.get_text() for t in raw.axes[0].texts]
    with pytest.raises(ValueError, match="class names"):
        viz.plot_confusion(matrix, ["a", "b"])


def _contrast(a, b):
    """WCAG contrast ratio of two sRGB colours, written out independently of viz.text_color."""
    def luminance(rgb):
        channels = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb[:3]]
        return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]
    high, low = sorted([luminance(a), luminance(b)], reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("cmap", ["viridis", "Blues", "gray", "magma"])
def test_text_color_picks_the_more_readable_of_black_and_white(cmap):
    for x in np.linspace(0, 1, 21):
        background = plt.get_cmap(cmap)(x)
        chosen = viz.text_color(background)
        other = {"black": (1, 1, 1), "white": (0, 0, 0)}[chosen]
        assert _contrast(matplotlib.colors.to_rgb(chosen), background) >= _contrast(other, background)
    assert viz.text_color(plt.get_cmap("viridis")(1.0)) == "black"  # Yellow, where white was unreadable.
    assert viz.text_color(plt.get_cmap("viridis")(0.0)) == "white"
    with pytest.raises(ValueError, match="components in"):
        viz.text_color((255, 0, 0))


def test_annotate_writes_every_value_in_a_colour_that_suits_its_cell():
    fig, ax = plt.subplots()
    values = np.array([[0, 1, 2], [3, 4, 8]], dtype=float)
    texts = viz.annotate(ax.imshow(values, cmap="viridis", vmin=0), fontsize=7)
    assert [t.get_text() for t in texts] == ["0", "1", "2", "3", "4", "8"]
    assert texts[0].get_color() == "white" and texts[-1].get_color() == "black"
    assert texts[-1].get_position() == (2, 1) and texts[0].get_fontsize() == 7
    with pytest.raises(ValueError, match="2-D"):
        viz.annotate(ax.imshow(np.zeros((2, 2, 3))))


def test_plot_confusion_writes_dark_cells_in_white():
    fig = viz.plot_confusion(np.array([[9, 1], [0, 10]]), ["a", "b"])
    colours = {t.get_text(): t.get_color() for t in fig.axes[0].texts}
    assert colours == {"0.90": "white", "0.10": "black", "0.00": "black", "1.00": "white"}


def test_plot_scores_draws_one_bar_per_model_and_score_with_its_value():
    rows = {"dense": {"pixel acc": 0.88, "fg IoU": 0.09}, "FCN-32s": {"pixel acc": 0.9, "fg IoU": 0.4}}
    fig = viz.plot_scores(rows, references={"all background": 0.88})
    ax = fig.axes[0]
    widths = sorted(round(bar.get_width(), 6) for bar in ax.patches)
    assert widths == [0.09, 0.4, 0.88, 0.9]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["dense", "FCN-32s"]
    assert {"0.88", "0.90", "0.09", "0.40"} <= {t.get_text() for t in ax.texts}
    assert len(ax.lines) == 1 and ax.lines[0].get_xdata()[0] == 0.88
    only = viz.plot_scores(rows, scores=["fg IoU"])
    assert sorted(round(bar.get_width(), 6) for bar in only.axes[0].patches) == [0.09, 0.4]
    with pytest.raises(ValueError, match="mean IoU"):
        viz.plot_scores(rows, scores=["mean IoU"])
    with pytest.raises(ValueError, match="at least one"):
        viz.plot_scores({})


def test_plot_lr_sweep_marks_the_lowest_rate_and_divergence():
    ratios = {1e-5: 0.99, 1e-3: 0.2, 1e-1: float("inf")}
    fig = viz.plot_lr_sweep(ratios, current=1e-1, steps=15)
    ax = fig.axes[0]
    curve = ax.lines[0]
    np.testing.assert_allclose(curve.get_xdata(), [1e-5, 1e-3, 1e-1])
    assert curve.get_ydata()[2] > 1 and np.isfinite(curve.get_ydata()[2])  # drawn at the top
    labels = [t.get_text() for t in ax.texts]
    assert labels == ["0.99", "0.20", "diverged"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "lowest: 0.001" in legend and "current: 0.1" in legend
    assert ax.get_xscale() == "log" and "15 steps" in ax.get_ylabel()
    with pytest.raises(ValueError, match="positive"):
        viz.plot_lr_sweep({0.0: 1.0})


WIDGETS = dict(index=(0, 9), alpha=(0.0, 1.0, 0.1), model=["fcn32s", "fcn8s"],
               size={"small": 48, "large": 96}, step=(2, 11, 3), flag=True,
               fixed=ipywidgets.fixed("kept"))


def test_interactive_static_call_uses_the_values_ipywidgets_starts_at(monkeypatch):
    monkeypatch.setenv("FCN_STATIC_WIDGETS", "1")
    calls = []

    def draw(index, alpha, model, size, step, flag, fixed, width=7):
        calls.append(dict(index=index, alpha=alpha, model=model, size=size, step=step,
                          flag=flag, fixed=fixed, width=width))
        return "drawn"

    assert viz.interactive(draw, width=(1, 20), **WIDGETS) == "drawn"
    assert len(calls) == 1
    # ipywidgets itself (no front end needed to build widgets) is the reference for start values.
    reference = ipywidgets.interactive(lambda **kw: None, width=ipywidgets.IntSlider(7, 1, 20), **WIDGETS)
    reference.update()  # ipywidgets 8 calls it while building; 7.7 (Colab's) only on the first change.
    assert calls[0] == reference.kwargs


def test_interactive_static_mode_draws_one_figure(monkeypatch):
    monkeypatch.setenv("FCN_STATIC_WIDGETS", "1")
    masks = random_masks((3, 6, 7))
    before = len(plt.get_fignums())
    viz.interactive(lambda index: viz.show_grid(np.zeros((1, 6, 7, 3), np.uint8),
                                                masks[index:index + 1]) and None, index=(0, 2))
    assert len(plt.get_fignums()) == before + 1


def test_widgets_render_only_with_a_kernel_and_without_the_switch(monkeypatch):
    monkeypatch.delenv("FCN_STATIC_WIDGETS", raising=False)
    assert not viz.widgets_can_render()  # No IPython shell under pytest.

    class Shell:
        kernel = object()

    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell())
    assert viz.widgets_can_render()
    shown = []
    monkeypatch.setattr(ipywidgets, "interact", lambda fn, **kw: shown.append((fn, kw)))
    assert viz.interactive(print, value=(0, 3)) is None
    assert [(fn.__wrapped__, kw) for fn, kw in shown] == [(print, {"value": (0, 3)})]
    monkeypatch.setenv("FCN_STATIC_WIDGETS", "1")
    assert not viz.widgets_can_render()


def test_widget_callbacks_build_their_figures_with_interactive_mode_off(monkeypatch):
    import inspect

    shown, seen = [], []
    monkeypatch.setattr(plt, "show", lambda *args, **kwargs: shown.append(plt.get_fignums()) or plt.close("all"))

    def draw(index, scale=2):
        seen.append(plt.isinteractive())
        plt.subplots()
        return index * scale

    wrapped = viz._whole_figures(draw)
    assert list(inspect.signature(wrapped).parameters) == ["index", "scale"], "ipywidgets reads the signature"
    was = plt.isinteractive()
    plt.ion()
    try:
        assert wrapped(3) == 6
        assert seen == [False], "the callback must run with interactive mode off"
        assert plt.isinteractive(), "interactive mode comes back after the callback"
        assert len(shown) == 1 and len(shown[0]) == 1, "a figure the callback left open is shown once, whole"
    finally:
        plt.interactive(was)
