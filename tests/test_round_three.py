"""The last reliability fixes: what a learner passes by mistake gets one sentence that names it and the
way out, and nothing passes silently wrong. One test per cause; the last ones are an adversarial pass over
the public entry points (bench/notes/reliability.md has the table of before and after)."""

import dataclasses
import json

import keras
import matplotlib
import numpy as np
import pytest
import tensorflow as tf

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from fcnlib import config, datasets, diagnose, metrics, pipeline, recipes, train, viz  # noqa: E402

RNG = np.random.default_rng(3)
RAW = (RNG.random((4, 32, 32, 3)) * 255).astype("uint8")
IMAGES = pipeline.preprocess_vgg16(RAW)
MASKS = np.zeros((4, 32, 32), "uint8")
MASKS[:, 8:20, 8:20] = 1


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def conv_model(channels, activation=None):
    inputs = keras.Input((None, None, 3))
    return keras.Model(inputs, keras.layers.Conv2D(channels, 1, activation=activation)(inputs))


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.score = keras.layers.Conv2D(2, 1)

    def call(self, inputs):
        return self.score(inputs)


def a_dataset():
    return tf.data.Dataset.from_tensor_slices((IMAGES, MASKS)).batch(2)


# 1. check_all given a dataset or an unbuilt model.
def test_check_all_names_a_dataset_and_an_unbuilt_model():
    model = conv_model(2)
    for x, y in ((a_dataset(), None), (a_dataset(), MASKS), (IMAGES, a_dataset())):
        with pytest.raises(ValueError, match=r"check_all takes one batch of arrays.* is a tf\.data\.Dataset\. "
                                             r"Take one batch: images, masks = next\(iter\(dataset\)\)"):
            diagnose.check_all(model, x, y, steps=2)
    with pytest.raises(ValueError, match=r"but x is a tf\.data iterator"):
        diagnose.check_all(model, iter(a_dataset()), MASKS, steps=2)
    with pytest.raises(ValueError, match=r"check_data takes one batch.*then check_data\(images\[:4\], masks\[:4\], "
                                         r"num_classes\)"):
        diagnose.check_data(a_dataset(), MASKS, 2)
    with pytest.raises(ValueError, match=r"Sequential model that was never built.*keras\.Input\(\(None, None, 3\)\)"):
        diagnose.check_all(keras.Sequential([keras.layers.Conv2D(2, 1)]), IMAGES, MASKS, steps=2)
    with pytest.raises(ValueError, match=r"subclassed model \(Subclassed\) that was never called.*"
                                         r"keras\.Model\(inputs, your_model\(inputs\)\)"):
        diagnose.check_all(Subclassed(), IMAGES, MASKS, steps=2)
    called = Subclassed()
    called(IMAGES[:1])
    with pytest.raises(ValueError, match=r"subclassed model \(Subclassed\), which has no output_shape"):
        diagnose.check_model(called)
    for check in (diagnose.overfit_one_batch, diagnose.lr_range_check):
        with pytest.raises(ValueError, match=rf"{check.__name__} got a Sequential model that was never built"):
            check(keras.Sequential([keras.layers.Conv2D(2, 1)]), IMAGES, MASKS)
    # The way out the message gives works: a built Sequential and a wrapped subclassed model are checked.
    built = keras.Sequential([keras.layers.Conv2D(2, 1)])
    built.build((None, None, None, 3))
    assert diagnose.check_model(built) == []
    inputs = keras.Input((None, None, 3))
    assert diagnose.check_model(keras.Model(inputs, Subclassed()(inputs))) == []


# 2. viz functions given a dataset where they draw arrays.
@pytest.mark.parametrize("draw, name", [
    (lambda d: viz.show_grid(d, MASKS), "show_grid draws arrays, but images is a tf.data.Dataset"),
    (lambda d: viz.show_grid(RAW, d), "show_grid draws arrays, but masks_true is a tf.data.Dataset"),
    (lambda d: viz.show_grid(RAW, MASKS, {"fcn": d}), r"show_grid draws arrays, but preds\['fcn'\] is"),
    (lambda d: viz.show_grid(d.unbatch(), MASKS), "show_grid draws arrays, but images is a tf.data.Dataset"),
    (lambda d: viz.overlay(d, MASKS[0]), "overlay draws arrays, but image is a tf.data.Dataset"),
    (lambda d: viz.colorize(d), "colorize draws arrays, but mask is a tf.data.Dataset"),
    (lambda d: viz.error_map(d, MASKS[0]), "error_map draws arrays, but truth is a tf.data.Dataset"),
    (lambda d: viz.show_errors(d, MASKS[0], {"fcn": MASKS[0]}), "show_errors draws arrays, but image is"),
    (lambda d: viz.show_grid(iter(d), MASKS), "show_grid draws arrays, but images is a tf.data iterator"),
])
def test_viz_names_a_dataset_given_where_it_draws_arrays(draw, name):
    with pytest.raises(ValueError, match=name) as caught:
        draw(a_dataset())
    assert "images, masks = next(iter(dataset))" in str(caught.value)


# 3. Masks (N, H, W, 1): squeezed where that is unambiguous; the message no longer contradicts itself.
def test_masks_with_a_trailing_channel_of_one_are_squeezed():
    masks = MASKS[..., None]
    figure = viz.show_grid(RAW, masks, {"fcn": MASKS})
    assert [ax.get_title() for ax in figure.axes[:3]] == ["image", "ground truth", "fcn"]
    assert viz.show_grid(RAW, masks, {"fcn": masks}).axes[2].get_images()[0].get_array().shape == (32, 32, 3)
    with pytest.raises(ValueError, match=r"Predictions of 'fcn' have shape \(4, 16, 16\); expected \(4 or more, "
                                         r"32, 32\), the masks' height and width"):
        viz.show_grid(RAW, masks, {"fcn": MASKS[:, :16, :16]})
    matrix = metrics.confusion_matrix(masks, MASKS, 2)
    np.testing.assert_array_equal(matrix, metrics.confusion_matrix(MASKS, MASKS, 2))
    np.testing.assert_array_equal(metrics.confusion_matrix(MASKS, masks, 2), matrix)
    assert metrics.trimap_iou(masks, masks, 2) == metrics.trimap_iou(MASKS, MASKS, 2) == 1.0
    assert metrics.trimap_iou(masks, MASKS, 2) == 1.0
    # Both masks and images (N, H, W, 1) through evaluate: the masks' channel is dropped too.
    assert metrics.evaluate(conv_model(2), (RAW, masks), 2)["confusion_matrix"].sum() == MASKS.size


# 4. One image (H, W, 3) at a predict or evaluate entry point: its shape, not its values.
@pytest.mark.parametrize("call, fix", [
    (lambda: metrics.evaluate(conv_model(2), (RAW[0], MASKS[0]), 2), "evaluate(model, (image[None], mask[None])"),
    (lambda: metrics.evaluate(conv_model(2), (IMAGES[0], MASKS[0]), 2), "image[None]"),
    (lambda: recipes.segment_images(conv_model(2), RAW[0]), "segment_images(model, image[None])[0]"),
    (lambda: train.fit(conv_model(2), (IMAGES[0], MASKS[0]), epochs=1, learning_rate=1e-3, verbose=0),
     "(image[None], mask[None])"),
    (lambda: diagnose.check_all(conv_model(2), IMAGES[0], MASKS[0], steps=2), "check_data(image[None]"),
    (lambda: viz.show_grid(RAW[0], MASKS[0]), "show_grid(image[None], mask[None])"),
])
def test_an_image_without_a_batch_axis_is_named_by_its_shape(call, fix):
    with pytest.raises(ValueError, match=r"one image of shape \(32, 32, 3\) without a batch axis; add one") as caught:
        call()
    message = str(caught.value)
    assert fix in message and len(message) < 200 and "[[" not in message  # No tensor printed.


# 5. A loss built for one number of classes, on outputs with another.
def test_a_loss_built_for_other_num_classes_names_both_numbers():
    masks = MASKS.astype("int32")
    cases = ((metrics.segmentation_loss(1), 2, 1), (metrics.segmentation_loss(2), 1, 2),
             (metrics.segmentation_loss(3), 2, 3), (metrics.MaskedBinaryCrossentropy(), 2, 1),
             (metrics.soft_dice_loss(2), 3, 2))
    for loss, channels, built_for in cases:
        pattern = rf"built for num_classes={built_for}.*outputs {channels} channel"
        with pytest.raises(ValueError, match=pattern):
            loss(masks, np.zeros((4, 32, 32, channels), "float32"))
        # The same sentence when Keras traces a training step, through train.fit and Keras' own fit.
        with pytest.raises(ValueError, match=pattern):
            train.fit(conv_model(channels), (IMAGES, masks), epochs=1, learning_rate=1e-3, loss=loss, metrics=[],
                      verbose=0, batch_size=2)
        model = conv_model(channels)
        model.compile("adam", loss)
        with pytest.raises(ValueError, match=pattern):
            model.fit(IMAGES, masks, epochs=1, verbose=0)
    # The matching losses still train, and segmentation_loss keeps Keras' class and config (so saved models
    # and the checkpoint cache's keys are as before).
    loss = metrics.segmentation_loss(2)
    assert type(loss) is keras.losses.SparseCategoricalCrossentropy
    assert loss.get_config() == keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255).get_config()
    model = conv_model(2)
    assert train.recipe_hash(model, loss) == train.recipe_hash(
        model, keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255))
    history = train.fit(conv_model(2), (IMAGES, masks), epochs=2, learning_rate=1e-2, loss=loss, metrics=[], verbose=0,
                        batch_size=2)
    assert np.isfinite(history["loss"]).all() and len(history["loss"]) == 2


# 6. --smoke --epochs N: the name says what was trained, and it trains that.
TINY_QUICK = dataclasses.replace(config.QUICK, name="tiny", image_size=64, num_train=16, num_val=8, num_test=8,
                                 batch_size=8, epochs=5)


def test_a_smoke_run_is_named_after_the_epochs_it_trained(tmp_path, monkeypatch, capsys):
    from fcnlib import cli

    monkeypatch.setitem(config.PROFILES, "quick", TINY_QUICK)
    status = cli.main(["--dataset", "synthetic", "--model", "fcn32s", "--smoke", "--epochs", "3", "--output",
                       str(tmp_path), "--verbose", "0"])
    assert status == 0, capsys.readouterr().err
    stem = "fcn32s-binary-fixed-tiny-e3-smoke"
    record = json.loads((tmp_path / f"{stem}.json").read_text())
    assert record["run"] == stem and record["epochs"] == 3 and record["smoke"]
    assert len(record["history"]["loss"]) == 3  # What was trained, not only what was asked.
    # Without --epochs a smoke run trains one epoch and its name says no epochs; a full run the profile's.
    for argv, epochs, name in ((["--smoke"], 1, "fcn8s-binary-staged-fixed-tiny-smoke"),
                               ([], 5, "fcn8s-binary-staged-fixed-tiny"),
                               (["--epochs", "2"], 2, "fcn8s-binary-staged-fixed-tiny-e2")):
        args = cli.parser().parse_args(["--dataset", "synthetic", *argv])
        assert (cli.trained_epochs(args, TINY_QUICK), cli.run_name(args, TINY_QUICK)) == (epochs, name)


# 7. An adversarial pass: what was silently wrong or unclear before.
def test_fit_refuses_raw_uint8_images_that_evaluate_would_preprocess():
    with pytest.raises(ValueError, match=r"train_data holds uint8 images \(raw pixels 0\.\.255\).*preprocess_vgg16"):
        train.fit(conv_model(2), (RAW, MASKS), epochs=1, learning_rate=1e-3, verbose=0)
    raw = tf.data.Dataset.from_tensor_slices((RAW, MASKS)).batch(2)
    with pytest.raises(ValueError, match=r"val_data yields uint8 images.*pipeline\.make_dataset"):
        train.fit(conv_model(2), (IMAGES, MASKS), raw, epochs=1, learning_rate=1e-3, verbose=0)
    assert len(train.fit(conv_model(2), pipeline.make_dataset((RAW, MASKS), 2), epochs=1, learning_rate=1e-3,
                         verbose=0)["loss"]) == 1


def test_fit_names_mask_values_the_model_has_no_channel_for_before_training():
    with pytest.raises(ValueError, match=r"masks hold value\(s\) \[3\], but the model outputs 2 channel\(s\).*"
                                         r"num_classes=2"):
        train.fit(conv_model(2), (IMAGES, MASKS * 3), epochs=1, learning_rate=1e-3, verbose=0)
    void = MASKS.copy()
    void[:, 0] = 255  # Void is no class: it trains.
    assert len(train.fit(conv_model(2), (IMAGES, void), epochs=1, learning_rate=1e-3, verbose=0, batch_size=2)["loss"]) == 1


def test_nan_images_are_named_as_nan():
    nan = IMAGES.copy()
    nan[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"evaluate: the images hold 1 NaN or inf value"):
        metrics.evaluate(conv_model(2), (nan, MASKS), 2)
    findings = diagnose.check_data(nan, MASKS, 2)
    assert [f.name for f in findings] == ["input_not_finite"] and findings[0].severity == "error"
    with pytest.raises(ValueError, match=r"The image holds 1 NaN or inf value"):
        viz.show_grid(nan, MASKS)
    with pytest.raises(ValueError, match=r"train\.fit's train_data: the images hold 1 NaN"):
        train.fit(conv_model(2), (nan, MASKS), epochs=1, learning_rate=1e-3, verbose=0)


def test_predict_labels_refuses_class_indices_and_images():
    with pytest.raises(ValueError, match=r"predict_labels takes a model's scores.*got uint8 values of shape \(4, 32, 32\)"):
        metrics.predict_labels(MASKS)
    with pytest.raises(ValueError, match=r"got uint8 values of shape \(32, 32, 3\)"):
        metrics.predict_labels(RAW[0])
    assert metrics.predict_labels(np.array([[[0.2, 0.9]]], "float16")).tolist() == [[1]]


def test_show_grid_takes_one_models_predictions_without_a_name():
    figure = viz.show_grid(RAW, MASKS, conv_model(2).predict(IMAGES, verbose=0))
    assert [ax.get_title() for ax in figure.axes[:3]] == ["image", "ground truth", "prediction"]
    figure = viz.show_errors(RAW[0], MASKS[0], MASKS[0])
    assert figure.axes[2].get_title() == "prediction"


def test_check_all_refuses_an_empty_batch():
    with pytest.raises(ValueError, match=r"check_data got an empty batch \(images \(0, 32, 32, 3\), masks \(0, 32, 32\)\)"):
        diagnose.check_all(conv_model(2), IMAGES[:0], MASKS[:0], steps=2)


@pytest.mark.parametrize("build", [metrics.StreamingMeanIoU, metrics.segmentation_loss, metrics.soft_dice_loss,
                                   lambda n: metrics.confusion_matrix(MASKS, MASKS, n)])
def test_num_classes_is_a_whole_number_of_at_least_one(build):
    for value, message in ((0, "at least 1, got 0"), (-2, "at least 1"), (2.5, "whole number"), ("2", "whole number")):
        with pytest.raises(ValueError, match=f"num_classes must be.*{message}"):
            build(value)
    build(np.int64(2))


def test_evaluate_names_what_is_no_model():
    with pytest.raises(ValueError, match=r"evaluate takes a Keras model first.*got tuple as the model"):
        metrics.evaluate((RAW, MASKS), conv_model(2), 2)


def test_fit_names_a_pair_holding_a_dataset():
    with pytest.raises(ValueError, match=r"train_data is a pair holding a tf\.data\.Dataset; pass the dataset itself"):
        train.fit(conv_model(2), (a_dataset(), MASKS), epochs=1, learning_rate=1e-3, verbose=0)


@pytest.mark.parametrize("call, message", [
    # Already clear before this round; pinned so that they stay so.
    (lambda: metrics.evaluate(conv_model(2), (RAW, MASKS * 5), 2), r"y_true holds value\(s\) \[5\] outside 0\.\.1"),
    (lambda: metrics.evaluate(conv_model(2), (RAW, MASKS[:3]), 2), "x has 4 images but y has 3 masks"),
    (lambda: metrics.evaluate(conv_model(6), (RAW, MASKS), 2), r"outputs 6 channel\(s\) but num_classes is 2"),
    (lambda: metrics.evaluate(conv_model(2), (RAW.astype("float64"), MASKS), 2), "look raw RGB"),
    (lambda: recipes.segment_images(conv_model(2), RAW / 255), r"look RGB scaled to \[0, 1\]"),
    (lambda: metrics.evaluate(conv_model(2), (RAW[..., :1], MASKS), 2), r"RGB images \(\.\.\., H, W, 3\)"),
    (lambda: pipeline.from_arrays(RAW[..., 0], MASKS), r"images must have shape \(N, H, W, 3\)"),
    (lambda: metrics.confusion_matrix(MASKS, np.zeros((4, 32, 32, 2)), 2), "pass class indices of the same shape"),
    (lambda: viz.colorize(np.full((4, 4), 0.5)), "fractional values"),
    (lambda: datasets.load_folder("/nonexistent/own data"), "No folder /nonexistent/own data/images"),
    (lambda: recipes.build("fcn8s", task="binery"), "Unknown task 'binery'"),
    (lambda: diagnose.check_model("fcn8s"), "check_model needs a keras.Model; got str"),
])
def test_errors_that_were_clear_stay_clear(call, message):
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        call()


def test_what_is_accepted_by_design():
    # A batch larger than the data gives one smaller batch, in training too (no drop_remainder).
    assert [len(x) for x, _ in pipeline.make_dataset((RAW, MASKS), 16, training=True)] == [4]
    assert len(train.fit(conv_model(2), (IMAGES, MASKS), epochs=1, learning_rate=1e-3, batch_size=64,
                         verbose=0)["loss"]) == 1
    # A model with more classes than the data uses trains (the data may lack some classes); scoring it as a
    # 2-class model is refused by name.
    six = conv_model(6)
    train.fit(six, (IMAGES, MASKS), epochs=1, learning_rate=1e-3, verbose=0, batch_size=2)
    with pytest.raises(ValueError, match=r"outputs 6 channel\(s\) but num_classes is 2"):
        metrics.evaluate(six, (RAW, MASKS), 2)
