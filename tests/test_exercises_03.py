"""Shortcuts a student might submit for notebook 03's exercises fail; the reference solutions pass."""

import exercise_harness as harness

# The lesson's scatter-add helpers (sections 2, 3 and 6), renamed: what a student who copies them would have.
_LESSON_SCATTER = '''
def scatter(values, taps, step):
    values, taps = np.asarray(values, dtype=np.float64), np.asarray(taps, dtype=np.float64)
    rows, cols = values.shape
    kr, kc = taps.shape
    result = np.zeros(((rows - 1) * step + kr, (cols - 1) * step + kc))
    for r in range(rows):
        for c in range(cols):
            result[r * step : r * step + kr, c * step : c * step + kc] += taps * values[r, c]
    return result


def grow(array, size):
    return np.pad(array, [(0, size - array.shape[0]), (0, size - array.shape[1])])


def crop_like_keras(full, n, k, s, mode):
    target = n * s + max(k - s, 0) if mode == "valid" else n * s
    begin = max(full.shape[0] - target, 0) // 2
    return grow(full[begin : begin + target, begin : begin + target], target)
'''

SHORTCUTS = {
    "ex03_1": {
        # The first visible case's answer, typed in.
        "hard-coded": "return np.array([[1, 1, 0] * 4, [1, 1, 0] * 4, [2, 2, 0] * 4, [1, 1, 0] * 4, "
                      "[2, 2, 0] * 4, [1, 1, 0] * 4])",
        # Let Keras count: an all-ones layer on an all-ones input.
        "library": "layer = keras.layers.Conv2DTranspose(1, kernel_size, strides=strides, padding=padding, "
                   "output_padding=output_padding, use_bias=False, kernel_initializer='ones')\n"
                   "out = layer(np.ones((1, *input_shape, 1), 'float32'))\n"
                   "return np.rint(keras.ops.convert_to_numpy(out)[0, :, :, 0]).astype(int)",
        # The gradient view of section 4: the transposed convolution as the gradient of a Conv2D.
        "lesson helper": "big = (np.array(input_shape) - 1) * np.array(strides) + np.array(kernel_size)\n"
                         "x = tf.Variable(np.ones((1, *big, 1), 'float32'))\n"
                         "conv = keras.layers.Conv2D(1, kernel_size, strides=strides, padding=padding, "
                         "use_bias=False, kernel_initializer='ones')\n"
                         "with tf.GradientTape() as tape:\n"
                         "    loss = tf.reduce_sum(conv(x))\n"
                         "return np.rint(tape.gradient(loss, x).numpy()[0, :, :, 0]).astype(int)",
        # Sections 2, 3 and 6 renamed: overlap_map(n, k, s) cropped by keras_crop; square, one stride.
        "reworded lesson cell": _LESSON_SCATTER + (
            "n, k, s = input_shape[0], kernel_size[0], strides[0]\n"
            "return crop_like_keras(scatter(np.ones((n, n)), np.ones((k, k)), s), n, k, s, padding).astype(int)"),
    },
    "ex03_2": {
        # Always "yes", and the kernel back unchanged.
        "hard-coded": ["return True", "return np.asarray(kernel, dtype=np.float64)"],
        # Let Keras upsample a constant image and look for a ripple; balance by dividing by Keras' output.
        "library": [
            "kernel = np.asarray(kernel, 'float32')\n"
            "layer = keras.layers.Conv2DTranspose(1, kernel.shape, strides=stride, use_bias=False)\n"
            "layer.build((None, None, None, 1))\n"
            "layer.set_weights([kernel[:, :, None, None]])\n"
            "out = keras.ops.convert_to_numpy(layer(np.ones((1, 12, 12, 1), 'float32')))[0, :, :, 0]\n"
            "inner = out[kernel.shape[0] - 1 : 11 * stride + 1, kernel.shape[1] - 1 : 11 * stride + 1]\n"
            "return bool(np.ptp(inner) > 1e-4 * np.abs(inner).max())",
            "return np.asarray(kernel, dtype=np.float64)"],
        # Section 6's upsample_constant and ripple, with the kernel as a Constant initializer.
        "lesson helper": [
            "def upsample_constant(kernel_size, initializer, stride=2, side=12):\n"
            "    layer = keras.layers.Conv2DTranspose(1, kernel_size, strides=stride, padding='same', use_bias=False,\n"
            "                                         kernel_initializer=initializer)\n"
            "    out = keras.ops.convert_to_numpy(layer(np.ones((1, side, side, 1), 'float32')))[0, :, :, 0]\n"
            "    return out[kernel_size:-kernel_size, kernel_size:-kernel_size]\n"
            "def ripple(image):\n"
            "    return (image.max() - image.min()) / np.abs(image).mean()\n"
            "k = max(np.shape(kernel))\n"
            "padded = np.zeros((k, k, 1, 1), 'float32')\n"
            "padded[: np.shape(kernel)[0], : np.shape(kernel)[1], 0, 0] = kernel\n"
            "return bool(ripple(upsample_constant(k, keras.initializers.Constant(padded), stride)) > 1e-4)",
            "return np.asarray(kernel, dtype=np.float64)"],
        # Section 6's rule, reworded: count the stamps of an all-ones kernel, ignore the weights; for the fix,
        # the lesson's remedy 1 (a kernel size divisible by the stride) by zero-padding the kernel.
        "reworded lesson cell": [
            _LESSON_SCATTER + (
                "k = max(np.shape(kernel))\n"
                "counts = scatter(np.ones((12, 12)), np.ones((k, k)), stride).astype(int)\n"
                "inner = counts[k - 1 : 11 * stride + 1, k - 1 : 11 * stride + 1]\n"
                "return inner.min() != inner.max()"),
            "kernel = np.asarray(kernel, dtype=np.float64)\n"
            "size = -(-max(kernel.shape) // stride) * stride\n"
            "return np.pad(kernel, [(0, size - kernel.shape[0]), (0, size - kernel.shape[1])])"],
    },
}
NO_SHORTCUT = {}
TRAINS = set()

harness.shortcut_tests(globals(), "03")
