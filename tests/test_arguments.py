"""Sizes, counts and rates are checked where they enter, by name; NumPy integers are whole numbers."""

import numpy as np
import pytest

from fcnlib import config, metrics, pipeline, train

IMAGES, MASKS = np.zeros((2, 8, 8, 3), np.uint8), np.zeros((2, 8, 8), np.uint8)


@pytest.mark.parametrize("value", [3, np.int64(3), np.int32(3)])
def test_whole_numbers_include_numpy_integers(value):
    assert config.count(value, "epochs") == 3 and type(config.count(value, "epochs")) is int


@pytest.mark.parametrize("value, message", [(0, "at least 1, got 0"), (-1, "at least 1"), (2.0, "whole number"),
                                            ("3", "whole number"), (True, "whole number")])
def test_a_bad_count_names_the_argument(value, message):
    with pytest.raises(ValueError, match=f"batch_size must be.*{message}"):
        config.count(value, "batch_size")


@pytest.mark.parametrize("value", ["1e-3", 0, -1e-3, float("nan"), True])
def test_a_bad_rate_names_the_argument(value):
    with pytest.raises(ValueError, match="learning_rate must be a positive number"):
        config.positive(value, "learning_rate")
    assert config.positive(np.float32(1e-3), "learning_rate") == pytest.approx(1e-3)


def test_entry_points_refuse_zero_sizes_by_name():
    with pytest.raises(ValueError, match="batch_size must be at least 1, got 0"):
        pipeline.make_dataset((IMAGES, MASKS), 0)
    with pytest.raises(ValueError, match="image_size must be at least 1, got 0"):
        pipeline.make_dataset((IMAGES, MASKS), 2, image_size=0)
    with pytest.raises(ValueError, match="image_size height must be at least 1"):
        pipeline.make_dataset((IMAGES, MASKS), 2, image_size=(0, 8))
    assert len(list(pipeline.make_dataset((IMAGES, MASKS), np.int64(2), image_size=np.int64(4)))) == 1
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        metrics.evaluate(None, (IMAGES, MASKS), 2, batch_size=0)
    for width in (0, -1):
        with pytest.raises(ValueError, match="width must be at least 1"):
            metrics.trimap_iou(MASKS, MASKS, 2, width=width)


def test_fit_names_a_rate_given_as_text_and_takes_numpy_epochs():
    import keras

    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1)(inputs))
    with pytest.raises(ValueError, match="learning_rate must be a positive number, got '1e-3'"):
        train.fit(model, (IMAGES.astype("float32"), MASKS), epochs=1, learning_rate="1e-3", verbose=0)
    history = train.fit(model, (IMAGES.astype("float32"), MASKS), epochs=np.int64(1), learning_rate=1e-3,
                        verbose=0, batch_size=np.int64(2))
    assert len(history["loss"]) == 1
    with pytest.raises(ValueError, match="seed must be at least 0"):
        train.set_seed(-1)


def test_containers_users_pass_are_taken_or_named():
    import keras
    from PIL import Image

    from fcnlib import environment, viz

    picture = Image.fromarray(np.zeros((4, 5, 3), np.uint8))
    assert pipeline.preprocess_vgg16(picture).shape == (4, 5, 3)
    assert pipeline.preprocess_vgg16([[[0, 0, 0]] * 5] * 4).shape == (4, 5, 3)
    with pytest.raises(ValueError, match=r"RGB images \(\.\.\., H, W, 3\), got shape \(4, 5\)"):
        pipeline.preprocess_vgg16(np.zeros((4, 5)))
    history = keras.callbacks.History()
    history.history = {"loss": [1.0, 0.5], "mean_iou": [0.2, 0.4]}
    assert len(viz.plot_history(history).axes) == 2
    assert len(viz.plot_history({"fcn": history}).axes) == 2
    with pytest.raises(ValueError, match="plot_history takes a history dict.*got list"):
        viz.plot_history([1.0, 0.5])
    with pytest.raises(environment.SetupStopped, match="Unknown notebook '2': pass its two-digit number"):
        environment.setup("2")
