"""Tests for fcnlib.metrics against brute-force loops, hand-computed examples and NumPy losses."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from fcnlib import metrics

VOID = 255


def brute_confusion(y_true, y_pred, num_classes):
    """One pixel at a time, the way the definition reads."""
    matrix = [[0] * num_classes for _ in range(num_classes)]
    for t, p in zip(np.ravel(y_true).tolist(), np.ravel(y_pred).tolist(), strict=False):
        if t != VOID:
            matrix[t][p] += 1
    return np.array(matrix)


def brute_scores(matrix):
    """The FCN paper's formulas, one class at a time, skipping undefined terms."""
    c = len(matrix)
    t = [sum(matrix[i][j] for j in range(c)) for i in range(c)]
    col = [sum(matrix[j][i] for j in range(c)) for i in range(c)]
    n_ii = [matrix[i][i] for i in range(c)]
    accs = [n_ii[i] / t[i] for i in range(c) if t[i] > 0]
    ious = {i: n_ii[i] / (t[i] + col[i] - n_ii[i]) for i in range(c) if t[i] + col[i] > 0}
    return {
        "pixel_accuracy": sum(n_ii) / sum(t),
        "mean_accuracy": sum(accs) / len(accs),
        "mean_iou": sum(ious.values()) / len(ious),
        "frequency_weighted_iou": sum(t[i] * ious[i] for i in ious) / sum(t),
    }


def random_masks(rng, shape, num_classes, void_share=0.15):
    masks = rng.integers(0, num_classes, shape)
    masks[rng.random(shape) < void_share] = VOID
    return masks.astype(np.uint8)


def test_confusion_matrix_matches_pixel_loop():
    rng = np.random.default_rng(0)
    y_true = random_masks(rng, (2, 12, 16), 4)
    y_pred = rng.integers(0, 4, (2, 12, 16))
    got = metrics.confusion_matrix(y_true, y_pred, 4)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, brute_confusion(y_true, y_pred, 4))
    assert got.sum() == np.sum(y_true != VOID)


def test_confusion_matrix_rejects_bad_values():
    with pytest.raises(ValueError, match=r"\[3\]"):
        metrics.confusion_matrix([0, 1, 3, 255], [0, 1, 1, 1], num_classes=3)
    with pytest.raises(ValueError, match=r"y_pred holds value\(s\) \[7\]"):
        metrics.confusion_matrix([0, 1, 2], [0, 7, 1], num_classes=3)
    with pytest.raises(ValueError, match="probabilities"):
        metrics.confusion_matrix([0, 1], [0.2, 0.9], num_classes=2)
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        metrics.confusion_matrix([0, 1], [0, 1, 1], num_classes=2)
    # A wrong prediction at a void pixel is not an error: void pixels are skipped entirely.
    assert metrics.confusion_matrix([255, 1], [9, 1], num_classes=2).sum() == 1


def test_scores_of_a_hand_computed_example():
    # Truth [0 0 0 1 1 2 2 2 2 255], prediction [0 0 1 1 1 2 2 0 2 1]:
    # n = [[2, 1, 0], [0, 2, 0], [1, 0, 3]], t = (3, 2, 4), predicted = (3, 3, 3).
    truth = [0, 0, 0, 1, 1, 2, 2, 2, 2, 255]
    pred = [0, 0, 1, 1, 1, 2, 2, 0, 2, 1]
    matrix = metrics.confusion_matrix(truth, pred, 3)
    np.testing.assert_array_equal(matrix, [[2, 1, 0], [0, 2, 0], [1, 0, 3]])
    scores = metrics.segmentation_scores(matrix)
    assert scores["pixel_accuracy"] == pytest.approx(7 / 9)
    assert scores["mean_accuracy"] == pytest.approx((2 / 3 + 2 / 2 + 3 / 4) / 3)
    iou = [2 / (3 + 3 - 2), 2 / (2 + 3 - 2), 3 / (4 + 3 - 3)]
    np.testing.assert_allclose(scores["iou"], iou)
    assert scores["mean_iou"] == pytest.approx(sum(iou) / 3)
    assert scores["frequency_weighted_iou"] == pytest.approx((3 * iou[0] + 2 * iou[1] + 4 * iou[2]) / 9)


def test_scores_match_paper_formulas_on_random_matrices():
    rng = np.random.default_rng(1)
    for _ in range(20):
        matrix = rng.integers(0, 50, (5, 5))
        matrix[rng.integers(5)] = 0  # One class absent from the truth (it may still be predicted).
        scores = metrics.segmentation_scores(matrix)
        for key, value in brute_scores(matrix.tolist()).items():
            assert scores[key] == pytest.approx(value), key


def test_absent_classes_are_nan_and_skipped():
    # Class 2 appears neither in truth nor prediction; class 1 is predicted but never true.
    matrix = np.array([[4, 1, 0], [0, 0, 0], [0, 0, 0]])
    scores = metrics.segmentation_scores(matrix)
    assert math.isnan(scores["iou"][2]) and scores["iou"][1] == 0.0
    assert math.isnan(scores["class_accuracy"][1])
    assert scores["mean_iou"] == pytest.approx((4 / 5 + 0.0) / 2)
    assert scores["mean_accuracy"] == pytest.approx(4 / 5)
    assert math.isnan(metrics.segmentation_scores(np.zeros((2, 2)))["mean_iou"])


def test_predict_labels():
    logits = np.array([[[0.1, 3.0, -1.0], [2.0, 0.0, 1.0]]])
    np.testing.assert_array_equal(metrics.predict_labels(logits), [[1, 0]])
    probabilities = np.array([[[0.2], [0.7]], [[0.5], [0.51]]])
    np.testing.assert_array_equal(metrics.predict_labels(probabilities), [[0, 1], [0, 1]])


def brute_boundary_band(mask, width):
    h, w = len(mask), len(mask[0])
    band = np.zeros((h, w), bool)
    for i in range(h):
        for j in range(w):
            values = {mask[a][b] for a in range(max(i - width, 0), min(i + width + 1, h))
                      for b in range(max(j - width, 0), min(j + width + 1, w))}
            band[i, j] = len(values) > 1
    return band


def test_trimap_iou_matches_brute_force():
    rng = np.random.default_rng(2)
    truth = np.zeros((2, 20, 24), np.uint8)
    truth[0, 4:14, 5:15] = 1
    truth[0, 3, 5:15] = VOID
    truth[1, 10:, :12] = 2
    pred = truth.copy()
    pred[pred == VOID] = 0
    flips = rng.random(pred.shape) < 0.2
    pred[flips] = rng.integers(0, 3, flips.sum())
    band = np.stack([brute_boundary_band(m.tolist(), 2) for m in truth])
    band_truth = np.where(band, truth, VOID)
    expected = brute_scores(brute_confusion(band_truth, pred, 3).tolist())["mean_iou"]
    assert metrics.trimap_iou(truth, pred, 3, width=2) == pytest.approx(expected)
    # Errors far from any boundary do not count.
    far = truth.copy()
    far[1, 0, 23] = 2
    assert metrics.trimap_iou(truth, far, 3, width=2) == 1.0


def test_boundary_iou_is_the_old_name_of_trimap_iou_and_warns():
    truth = np.zeros((12, 12), np.uint8)
    truth[3:9, 3:9] = 1
    pred = np.roll(truth, 1, axis=1)
    with pytest.warns(DeprecationWarning, match="trimap_iou"):
        old = metrics.boundary_iou(truth, pred, 2, width=1)
    assert old == metrics.trimap_iou(truth, pred, 2, width=1) < 1.0


def tiny_model(num_classes, seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((None, None, 3))
    outputs = keras.layers.Conv2D(num_classes, 3, padding="same")(inputs)
    return keras.Model(inputs, outputs)


def test_evaluate_streams_dataset_and_arrays():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 8, 12, 3)).astype(np.float32) * 50
    y = random_masks(rng, (5, 8, 12), 3)
    model = tiny_model(3)
    pred = np.argmax(model.predict(x, verbose=0), axis=-1)
    expected = brute_confusion(y, pred, 3)
    from_arrays = metrics.evaluate(model, (x, y), 3, batch_size=2)
    np.testing.assert_array_equal(from_arrays["confusion_matrix"], expected)
    assert from_arrays["mean_iou"] == pytest.approx(brute_scores(expected.tolist())["mean_iou"])
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(3)
    from_dataset = metrics.evaluate(model, dataset, 3)
    np.testing.assert_array_equal(from_dataset["confusion_matrix"], expected)


def test_streaming_mean_iou_equals_numpy_scores():
    rng = np.random.default_rng(4)
    metric = metrics.StreamingMeanIoU(4)
    total = np.zeros((4, 4), np.int64)
    for _ in range(3):
        y = random_masks(rng, (2, 10, 14), 4)
        logits = rng.normal(size=(2, 10, 14, 4)).astype(np.float32)
        metric.update_state(y, logits)
        total += brute_confusion(y, np.argmax(logits, -1), 4)
    assert float(metric.result()) == pytest.approx(brute_scores(total.tolist())["mean_iou"], abs=1e-6)
    # ignore_class reaches Keras: with class 0 ignored, its pixels drop out of the matrix.
    y[y == VOID] = 1
    metric = metrics.StreamingMeanIoU(4, ignore_class=0)
    metric.update_state(y, logits)
    expected = brute_confusion(np.where(y == 0, VOID, y), np.argmax(logits, -1), 4)
    assert float(metric.result()) == pytest.approx(brute_scores(expected.tolist())["mean_iou"], abs=1e-6)


def test_streaming_mean_iou_with_one_sigmoid_channel():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, (2, 6, 8, 1)).astype(np.float32)
    probabilities = rng.random((2, 6, 8, 1)).astype(np.float32)
    metric = metrics.StreamingMeanIoU(1)
    metric.update_state(y, probabilities)
    expected = brute_confusion(y[..., 0].astype(int), (probabilities[..., 0] > 0.5).astype(int), 2)
    assert float(metric.result()) == pytest.approx(brute_scores(expected.tolist())["mean_iou"])


def test_plain_mean_iou_fed_probabilities_is_wrong_ours_is_right():
    rng = np.random.default_rng(6)
    # The binary case: (B, H, W, 1) masks and sigmoid probabilities, the dense baseline's output.
    y = rng.integers(0, 2, (2, 8, 8, 1))
    # A good model: probabilities mostly on the right side of 0.5.
    probabilities = np.clip(0.2 + 0.6 * y + rng.normal(0, 0.2, y.shape), 0, 0.99).astype(np.float32)
    right = brute_scores(brute_confusion(y, (probabilities > 0.5).astype(int), 2).tolist())
    plain = keras.metrics.MeanIoU(num_classes=2)  # sparse_y_pred=True: expects class indices.
    plain.update_state(y, probabilities)
    # Every probability below 1 is truncated to class 0: IoU(0) = share of 0s, IoU(1) = 0.
    assert float(plain.result()) == pytest.approx(np.mean(y == 0) / 2, abs=1e-6)
    assert abs(float(plain.result()) - right["mean_iou"]) > 0.2
    ours = metrics.StreamingMeanIoU(1)
    ours.update_state(y, probabilities)
    assert float(ours.result()) == pytest.approx(right["mean_iou"], abs=1e-6)

    # The multiclass case with one-hot masks and softmax probabilities, as in many tutorials:
    # both flatten to the same length, so plain MeanIoU reports a number, and it is wrong.
    labels = rng.integers(0, 3, (2, 8, 8))
    logits = rng.normal(size=(2, 8, 8, 3)).astype(np.float32)
    softmax = keras.ops.convert_to_numpy(keras.ops.softmax(logits))
    right = brute_scores(brute_confusion(labels, np.argmax(logits, -1), 3).tolist())
    plain = keras.metrics.MeanIoU(num_classes=3)
    plain.update_state(np.eye(3)[labels], softmax)
    assert float(plain.result()) == pytest.approx((2 / 3 + 0) / 2, abs=1e-6)
    assert abs(float(plain.result()) - right["mean_iou"]) > 0.05
    ours = metrics.StreamingMeanIoU(3)
    ours.update_state(labels, softmax)
    assert float(ours.result()) == pytest.approx(right["mean_iou"], abs=1e-6)


def test_streaming_mean_iou_serialises_and_works_in_fit():
    metric = metrics.StreamingMeanIoU(3, name="val_iou_test")
    clone = keras.metrics.deserialize(keras.metrics.serialize(metric))
    assert isinstance(clone, metrics.StreamingMeanIoU)
    assert clone.get_config() == metric.get_config()
    model = tiny_model(3)
    model.compile("adam", metrics.segmentation_loss(3), metrics=[metrics.StreamingMeanIoU(3)])
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(4, 8, 8, 3)), random_masks(rng, (4, 8, 8), 3)
    history = model.fit(x, y, batch_size=2, epochs=1, validation_data=(x, y), verbose=0)
    assert {"mean_iou", "val_mean_iou"} <= set(history.history)


def numpy_cross_entropy(y, logits):
    shifted = logits - logits.max(-1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    terms = [-log_p[index + (label,)] for index, label in np.ndenumerate(y) if label != VOID]
    return np.mean(terms)


def test_segmentation_loss_ignores_void_and_matches_numpy():
    rng = np.random.default_rng(8)
    y = random_masks(rng, (2, 6, 7), 4, void_share=0.3)
    logits = rng.normal(size=(2, 6, 7, 4)).astype(np.float32)
    loss = metrics.segmentation_loss(4)
    assert float(loss(y, logits)) == pytest.approx(numpy_cross_entropy(y, logits), rel=1e-5)
    changed = logits.copy()
    changed[y == VOID] = rng.normal(size=(np.sum(y == VOID), 4)) * 100
    assert float(loss(y, changed)) == pytest.approx(float(loss(y, logits)), rel=1e-6)


def test_binary_loss_for_one_sigmoid_channel():
    rng = np.random.default_rng(9)
    y = rng.integers(0, 2, (2, 5, 6)).astype(np.uint8)
    y[0, 0, :3] = VOID
    p = rng.uniform(0.05, 0.95, (2, 5, 6, 1)).astype(np.float32)
    valid = y != VOID
    q = p[..., 0][valid]
    expected = np.mean(-(y[valid] * np.log(q) + (1 - y[valid]) * np.log(1 - q)))
    loss = metrics.segmentation_loss(1)
    assert float(loss(y, p)) == pytest.approx(expected, rel=1e-5)
    changed = p.copy()
    changed[~valid] = 0.999
    assert float(loss(y, changed)) == pytest.approx(expected, rel=1e-5)
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(clone, metrics.MaskedBinaryCrossentropy)
    assert float(clone(y, p)) == pytest.approx(expected, rel=1e-5)


def numpy_soft_dice(y, logits, num_classes, smooth=1.0):
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    valid = y != VOID
    dice = []
    for c in range(num_classes):
        pc, gc = p[..., c][valid], (y[valid] == c).astype(float)
        dice.append((2 * np.sum(pc * gc) + smooth) / (np.sum(pc) + np.sum(gc) + smooth))
    return 1 - np.mean(dice)


def test_soft_dice_ignores_void_and_matches_numpy():
    rng = np.random.default_rng(10)
    y = random_masks(rng, (2, 6, 7), 3, void_share=0.3)
    logits = (rng.normal(size=(2, 6, 7, 3)) * 3).astype(np.float32)
    loss = metrics.soft_dice_loss(3)
    assert float(loss(y, logits)) == pytest.approx(numpy_soft_dice(y, logits, 3), rel=1e-5)
    changed = logits.copy()
    changed[y == VOID] = rng.normal(size=(np.sum(y == VOID), 3)) * 100
    assert float(loss(y, changed)) == pytest.approx(float(loss(y, logits)), rel=1e-6)
    # A perfect, confident prediction has a loss near zero.
    perfect = np.where(np.eye(3)[np.where(y == VOID, 0, y)] > 0, 20.0, -20.0).astype(np.float32)
    assert float(loss(y, perfect)) < 1e-3
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert float(clone(y, logits)) == pytest.approx(float(loss(y, logits)))


def _constant_model(value, channels=2):
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Lambda(lambda x: x[..., :1] * 0 + value * tf.ones((channels,)))(inputs)
    return keras.Model(inputs, outputs)


def test_a_model_that_outputs_nan_is_refused_not_scored_as_background():
    x, y = np.ones((2, 8, 8, 3), np.float32), np.zeros((2, 8, 8), np.uint8)
    y[:, :2] = 1
    with pytest.raises(ValueError, match="NaN or inf"):
        metrics.evaluate(_constant_model(float("nan")), (x, y), 2)
    with pytest.raises(ValueError, match="NaN or inf"):
        metrics.predict_labels(np.full((1, 2, 2, 3), np.inf))
    with pytest.raises(ValueError, match="y_pred holds NaN"):
        metrics.confusion_matrix([0, 1], np.array([0.0, np.nan]), 2)
    with pytest.raises(ValueError, match="y_true holds NaN"):
        metrics.confusion_matrix(np.array([0.0, np.nan]), [0, 1], 2)


def test_evaluate_refuses_empty_data_and_all_void_masks():
    model = _constant_model(0.0)
    with pytest.raises(ValueError, match="no images"):
        metrics.evaluate(model, (np.zeros((0, 8, 8, 3), np.float32), np.zeros((0, 8, 8))), 2)
    with pytest.raises(ValueError, match="every pixel is void"):
        metrics.evaluate(model, (np.zeros((1, 8, 8, 3), np.float32), np.full((1, 8, 8), VOID)), 2)


LABEL_5 = np.array([[[0, 5], [1, VOID]]], np.int32)


@pytest.mark.parametrize("make, channels", [(lambda: metrics.segmentation_loss(1), 1),
                                            (lambda: metrics.soft_dice_loss(3), 3),
                                            (lambda: metrics.StreamingMeanIoU(3), 3)])
def test_losses_and_metric_refuse_labels_out_of_range_and_nan(make, channels):
    def apply(y, p):
        fn = make()
        if isinstance(fn, keras.metrics.Metric):
            fn.update_state(y, p)
            return fn.result()
        return fn(y, p)

    zeros = tf.zeros((1, 2, 2, channels))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"outside 0\.\.\d.*\n?.*5"):
        apply(tf.constant(LABEL_5), zeros)
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or inf"):
        apply(tf.zeros((1, 2, 2), tf.int32), zeros + float("nan"))
    apply(tf.constant([[[0, 1], [1, VOID]]]), zeros)  # Valid labels and void pass.


def test_a_one_channel_sigmoid_model_refuses_labels_0_to_5_in_fit():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(1, 1, activation="sigmoid")(inputs))
    model.compile("adam", metrics.segmentation_loss(1), metrics=[metrics.StreamingMeanIoU(1)])
    labels = np.random.default_rng(0).integers(0, 6, (4, 8, 8)).astype(np.uint8)
    with pytest.raises(tf.errors.InvalidArgumentError, match="1 sigmoid channel"):
        model.fit(np.ones((4, 8, 8, 3), np.float32), labels, epochs=1, verbose=0)


def test_under_xla_a_bad_batch_gives_a_nan_loss():
    # XLA compiles assertions away; the loss then turns NaN rather than training on.
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 1)(inputs))
    model.compile("adam", metrics.soft_dice_loss(3), jit_compile=True)
    history = model.fit(np.ones((2, 8, 8, 3), np.float32), np.full((2, 8, 8), 5, np.uint8),
                        epochs=1, verbose=0)
    assert math.isnan(history.history["loss"][0])
