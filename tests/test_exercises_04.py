"""Shortcuts a student might submit for notebook 04's exercises fail; the reference solutions pass."""

import exercise_harness as harness

# Exercise 2: a 1x1 score layer and a bilinear x16 upsampler on the given features, left untrained.
_UNTRAINED_HEADS = '''
trained_models = {}
for mode in ("fixed", "learned"):
    x = keras.Input(train_features.shape[1:])
    up = keras.layers.Conv2DTranspose(NUM_CLASSES, 32, strides=16, padding="same", use_bias=False,
                                      kernel_initializer=fcnlib.layers.BilinearInitializer())
    up.trainable = mode == "learned"
    trained_models[mode] = keras.Model(x, up(keras.layers.Conv2D(NUM_CLASSES, 1)(x)))
'''

SHORTCUTS = {
    "ex04_1": {
        # The kernel of the visible case, factors (2, 4), typed in.
        "hard-coded": "rows = np.array([0.25, 0.75, 0.75, 0.25])\n"
                      "cols = np.array([0.125, 0.375, 0.625, 0.875, 0.875, 0.625, 0.375, 0.125])\n"
                      "kernel = np.zeros((4, 8, channels, channels), 'float32')\n"
                      "for c in range(channels):\n"
                      "    kernel[:, :, c, c] = np.outer(rows, cols)\n"
                      "layer = keras.layers.Conv2DTranspose(channels, (4, 8), strides=(2, 4), padding='same', "
                      "use_bias=False)\n"
                      "layer.build((None, None, None, channels))\n"
                      "layer.set_weights([kernel])\n"
                      "return layer",
        # fcnlib's initializer on a rectangular kernel.
        "library": "layer = keras.layers.Conv2DTranspose(channels, (2 * factor_h, 2 * factor_w), "
                   "strides=(factor_h, factor_w), padding='same', use_bias=False, "
                   "kernel_initializer=fcnlib.layers.BilinearInitializer())\n"
                   "layer.build((None, None, None, channels))\n"
                   "return layer",
        # Section 1 and 2's kernel_size, tent, bilinear_kernel_by_hand and bilinear_upsampler, renamed: square.
        "reworded lesson cell": "def size_of(f):\n"
                                "    return 2 * f - f % 2\n"
                                "def one_d(f):\n"
                                "    n = size_of(f)\n"
                                "    mid = f - 1 if n % 2 == 1 else f - 0.5\n"
                                "    return 1 - np.abs(np.arange(n) - mid) / f\n"
                                "w = one_d(factor_h)\n"
                                "kern = np.zeros((len(w), len(w), channels, channels), dtype='float32')\n"
                                "for ch in range(channels):\n"
                                "    kern[:, :, ch, ch] = np.outer(w, w)\n"
                                "up = keras.layers.Conv2DTranspose(channels, 2 * factor_h, strides=factor_h, "
                                "padding='same', use_bias=False)\n"
                                "up.build((None, None, None, channels))\n"
                                "up.set_weights([kern])\n"
                                "return up",
    },
    "ex04_2": {
        # Untrained models and the IoUs of a run, typed in.
        "hard-coded": _UNTRAINED_HEADS + 'fg_iou = {"fixed": 0.35, "learned": 0.42}',
        # fcnlib's FCN-32s with a Glorot score layer, in both modes, and the benchmark's numbers.
        "library": "trained_models = {mode: fcnlib.models.fcn32s(NUM_CLASSES, width=0.25, fc6_kernel=3, upsampling=mode,\n"
                   "                                     score_initializer='glorot_uniform')\n"
                   "          for mode in ('fixed', 'learned')}\n"
                   "fg_iou = {'fixed': 0.338, 'learned': 0.385}",
        # Section 3's loop over the upsampling modes (fcnlib.layers.upsample_layer), reworded, evaluated
        # honestly but never trained.
        "reworded lesson cell": "trained_models, fg_iou = {}, {}\n"
                                "for way in ('fixed', 'learned'):\n"
                                "    inp = keras.Input(train_features.shape[1:])\n"
                                "    layer = fcnlib.layers.upsample_layer(NUM_CLASSES, 16, way, name=f'upscore16_{way}')\n"
                                "    trained_models[way] = keras.Model(inp, layer(keras.layers.Conv2D(NUM_CLASSES, 1)(inp)))\n"
                                "    hit = np.argmax(trained_models[way].predict(test_features, verbose=0), -1) == 1\n"
                                "    fg_iou[way] = float(np.sum(hit & (test_masks == 1)) / np.sum(hit | (test_masks == 1)))",
    },
}
NO_SHORTCUT = {
    "ex04_1": {"lesson helper": "the task does not forbid the lesson's tent(); its bilinear_upsampler makes square "
                                "kernels only, which the reworded-lesson shortcut shows to fail"},
    "ex04_2": {"lesson helper": "the task does not forbid the lesson's helpers (upsample_layer or BilinearInitializer "
                                "may build the upsampler); the lesson's own trained models are FCN-32s on images, "
                                "which the library shortcut shows to be refused"},
}
TRAINS = {"ex04_2"}  # Its reference trains two models: nbval runs it in the notebook.

harness.shortcut_tests(globals(), "04")
