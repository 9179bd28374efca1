"""Every builder that accepts (None, None, 3) predicts several sizes in a row, each at its own size.

Keras traces ``predict`` again when the input shape changes, the second time for unknown sizes; a
layer that needs Python ints for a size works on the first size and fails on the next.
"""

import keras
import numpy as np
import pytest

from fcnlib import deeplab, models, resnet

SIZES = [(96, 96), (100, 132), (33, 47), (64, 64)]
BUILDERS = {
    "fcn32s": lambda: models.fcn32s(3, weights=None, width=0.0625),
    "fcn16s": lambda: models.fcn16s(3, weights=None, width=0.0625),
    "fcn8s": lambda: models.fcn8s(3, weights=None, width=0.0625),
    "fcn_resnet50": lambda: resnet.fcn_resnet50(3, width=0.0625, blocks=(1, 1, 1, 1), weights=None),
    "deeplabv3_plus": lambda: deeplab.deeplabv3_plus(3, input_shape=(None, None, 3), weights=None, width=0.0625,
                                                     blocks=(1, 1, 1, 1)),
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_predict_takes_one_size_after_another(name):
    keras.utils.set_random_seed(0)
    model = BUILDERS[name]()
    assert model.input_shape[1:3] == (None, None), f"{name} should accept any size"
    for height, width in SIZES:
        out = model.predict(np.zeros((1, height, width, 3), "float32"), verbose=0)
        assert out.shape == (1, height, width, 3), f"{name}: {height}x{width} gave {out.shape}"
