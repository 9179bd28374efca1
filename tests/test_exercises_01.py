"""Shortcuts a student might submit for notebook 01's exercises fail; the reference solutions pass."""

import exercise_harness as harness

WEIGHT = "POS_WEIGHT = 7.0"  # The second solution block: the student's choice of weight.

SHORTCUTS = {
    # Each submission is [the body of weighted_bce, the POS_WEIGHT block].
    "ex01_2": {
        # Keras' plain cross-entropy and a typed-in weight: right for pos_weight 1 only.
        "hard-coded": ["return keras.losses.binary_crossentropy", WEIGHT],
        # Keras' own class balancing (focal loss with alpha, gamma 0) is another loss than the one asked for.
        "library": ["return keras.losses.BinaryFocalCrossentropy(apply_class_balancing=True,\n"
                    "                                            alpha=pos_weight / (1 + pos_weight), gamma=0.0)",
                    WEIGHT],
        # The lesson's binary_cross_entropy (section 4), renamed and wrapped: unweighted, NumPy, one number.
        "reworded lesson cell": ["def loss(truth, q):\n"
                                 "    q = np.clip(q, 1e-7, 1 - 1e-7)\n"
                                 "    return float(-np.mean(truth * np.log(q) + (1 - truth) * np.log(1 - q)))\n"
                                 "return loss", WEIGHT],
        # The lesson's own helper binary_cross_entropy (section 4), pasted as it is and scaled by the weight.
        "lesson helper": ["def binary_cross_entropy(p, truth):\n"
                          "    p = np.clip(p, 1e-7, 1 - 1e-7)\n"
                          "    return float(-np.mean(truth * np.log(p) + (1 - truth) * np.log(1 - p)))\n"
                          "def loss(y_true, y_pred):\n"
                          "    return pos_weight * binary_cross_entropy(y_pred, y_true)\n"
                          "return loss", WEIGHT],
    },
}
NO_SHORTCUT = {}
TRAINS = {"ex01_2"}  # The reference trains two dense heads: nbval runs it in the notebook, not this file.

harness.shortcut_tests(globals(), "01")
