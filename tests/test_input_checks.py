"""Inputs on the wrong scale, fractional masks and outputs that do not match num_classes are refused
by name at every entry point, where they used to give a plausible wrong score."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from fcnlib import metrics, pipeline, recipes

RNG = np.random.default_rng(0)
RAW = (RNG.random((2, 8, 8, 3)) * 255).astype("float32")
MASKS = np.zeros((2, 8, 8), "uint8")


def conv_model(channels, activation=None, bias=0.0):
    inputs = keras.Input((None, None, 3))
    return keras.Model(inputs, keras.layers.Conv2D(channels, 1, activation=activation, kernel_initializer="zeros",
                                                   bias_initializer=keras.initializers.Constant(bias))(inputs))


@pytest.mark.parametrize("images, scale", [
    (RAW.astype("uint8"), "raw"), (RAW, "raw"), (RAW / 255, "unit"), (pipeline.preprocess_vgg16(RAW), "preprocessed")])
def test_input_scale_tells_the_three_scales_apart(images, scale):
    assert pipeline.input_scale(images) == scale


def test_fractional_truth_is_refused_not_truncated():
    with pytest.raises(ValueError, match="y_true holds fractional values.*nearest neighbour"):
        metrics.confusion_matrix(np.array([0.0, 0.5, 1.0]), np.array([0, 1, 1]), 2)
    metric = metrics.StreamingMeanIoU(2)
    with pytest.raises(tf.errors.InvalidArgumentError, match="fractional values"):
        metric.update_state(np.full((1, 4, 4), 0.5, "float32"), np.zeros((1, 4, 4, 2), "float32"))


def test_a_channel_count_that_does_not_match_num_classes_is_named():
    with pytest.raises(ValueError, match=r"outputs 6 channel\(s\) but the metric was built for num_classes=2"):
        metrics.StreamingMeanIoU(2).update_state(np.zeros((1, 4, 4)), np.zeros((1, 4, 4, 6)))
    with pytest.raises(ValueError, match=r"outputs 6 channel\(s\) but num_classes is 2"):
        metrics.evaluate(conv_model(6), (RAW.astype("uint8"), MASKS), 2)
    assert metrics.evaluate(conv_model(1, "sigmoid"), (RAW.astype("uint8"), MASKS), 2)["pixel_accuracy"] == 1.0


def test_one_channel_logits_are_not_thresholded_as_probabilities():
    with pytest.raises(ValueError, match=r"outside \[0, 1\]: logits"):
        metrics.evaluate(conv_model(1, bias=-3.0), (RAW.astype("uint8"), MASKS), 1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="logits"):
        metrics.StreamingMeanIoU(1).update_state(np.zeros((1, 4, 4)), np.full((1, 4, 4, 1), -3.0, "float32"))


def test_evaluate_refuses_float_images_that_are_not_preprocessed():
    with pytest.raises(ValueError, match="evaluate expects VGG-preprocessed.*look raw RGB"):
        metrics.evaluate(conv_model(2), (RAW, MASKS), 2)
    with pytest.raises(ValueError, match="look RGB scaled to"):
        metrics.evaluate(conv_model(2), (RAW / 255, MASKS), 2)
    assert metrics.evaluate(conv_model(2), (pipeline.preprocess_vgg16(RAW), MASKS), 2)["pixel_accuracy"] == 1.0


def test_make_dataset_refuses_unit_scaled_or_preprocessed_float_datasets():
    for images in (RAW / 255, pipeline.preprocess_vgg16(RAW)):
        data = tf.data.Dataset.from_tensor_slices((images.astype("float32"), MASKS))
        with pytest.raises(tf.errors.InvalidArgumentError, match="make_dataset expects images with raw RGB"):
            list(pipeline.make_dataset(data, 2))
    with pytest.raises(ValueError, match="look RGB scaled to"):
        pipeline.make_dataset((RAW / 255, MASKS), 2)
    raw = tf.data.Dataset.from_tensor_slices((RAW, MASKS))
    assert len(list(pipeline.make_dataset(raw, 2))) == 1


def test_segment_images_refuses_images_preprocessed_twice():
    with pytest.raises(ValueError, match="recipes.segment_images expects raw RGB.*before preprocess_vgg16"):
        recipes.segment_images(conv_model(2), pipeline.preprocess_vgg16(RAW))
    assert recipes.segment_images(conv_model(2), RAW.astype("uint8")).shape == (2, 8, 8)
