"""Shortcuts a student might submit for notebook 05's exercises fail; the reference solutions pass."""

import re
import textwrap

import exercise_harness as harness
import nbformat
import pytest

from fcnlib.selfcheck import ExerciseError


def _reference_blocks(grade):
    """The reference code between each BEGIN/END SOLUTION pair of exercise `grade`'s solution cell."""
    notebook = nbformat.read(harness.notebook_path("05"), as_version=4)
    source = harness.exercise_cells(notebook, grade)["solution"]
    return [textwrap.dedent(block) for block in re.findall(r"### BEGIN SOLUTION\n(.*?)\n\s*### END SOLUTION", source, re.S)]


BUILD, TRAIN = _reference_blocks("ex05_1")
# The lesson's fcn16s_by_hand (section 2) with its names changed, as a student might paste it.
RENAMED_FCN16S = """
inp = keras.Input((None, None, 3), name="image")
feats = backbone.vgg16_trunk(fcnlib.layers.PadToMultiple(STRIDE, name="pad")(inp), width)
n_units = int(config.FC_UNITS * width)
h = keras.layers.Conv2D(n_units, fc6_kernel, padding="same", activation="relu", name="fc6")(feats["block5_pool"])
h = keras.layers.Dropout(0.5, name="drop6")(h)
h = keras.layers.Conv2D(n_units, 1, activation="relu", name="fc7")(h)
h = keras.layers.Dropout(0.5, name="drop7")(h)
coarse = keras.layers.Conv2D(num_classes, 1, kernel_initializer="zeros", name="score_fr")(h)
up2 = fcnlib.layers.upsample_layer(num_classes, 2, "fixed", name="upscore2")(coarse)
skip4 = keras.layers.Conv2D(num_classes, 1, kernel_initializer="zeros", name="score_pool4")(feats["block4_pool"])
fused = keras.layers.Add(name="fuse_pool4")([up2, skip4])
up16 = fcnlib.layers.upsample_layer(num_classes, 16, "fixed", name="upscore16")(fused)
out = fcnlib.layers.CropToMatch(name="crop")([up16, inp])
net = keras.Model(inp, out)
backbone.load_backbone_weights(net, weights)
return net
"""
# Right layer names, wrong wiring: the 1/8 skip scores block4_pool and the fusions concatenate.
WRONG_WIRING = BUILD.replace('pools["block3_pool"]', 'pools["block4_pool"]')
CONCATENATED = BUILD.replace("keras.layers.Add(", "keras.layers.Concatenate(")

SHORTCUTS = {
    "ex05_1": {
        # Typed-in weights instead of training: a bias that says "background" everywhere, no step taken.
        "hard-coded": [BUILD, 'model.get_layer("score_fr").set_weights([model.get_layer("score_fr").get_weights()[0], '
                              'np.array([5.0, -5.0], "float32")])'],
        "library": ["return fcnlib.models.fcn8s(num_classes, weights=weights, width=width, fc6_kernel=fc6_kernel)",
                    TRAIN],
        # The lesson's own route: the recipe model, and section 3's trained FCN-8s from the cache.
        "lesson helper": [BUILD, 'fcnlib.models.transfer_weights(recipes.train_model("fcn8s", TASK)[0], model)'],
        "reworded lesson cell": [RENAMED_FCN16S, TRAIN],
    },
    "ex05_2": {
        "hard-coded": 'return {96: "ok", 112: "fuse_pool4", 100: "crop"}.get(n, "ok")',
        # The library's FCN-8s pads, so it builds at every size.
        "library": 'fcnlib.models.fcn8s(2, input_shape=(n, n, 3), width=0.0625, fc6_kernel=1)\nreturn "ok"',
        # Section 2.3's check, for FCN-16s: only the 1/32 and 1/16 maps.
        "reworded lesson cell": 'side = n\nsizes = []\nfor block in range(1, 6):\n    side //= 2\n    sizes.append(side)\n'
                                'return "fuse_pool4" if 2 * sizes[4] != sizes[3] else "ok"',
    },
}
NO_SHORTCUT = {
    "ex05_2": {"lesson helper": "the lesson's helper (fcn16s_by_hand, section 2) is outside the exercise's "
                                "context, and building an unpadded skeleton with Keras is an allowed way to answer"},
}
TRAINS = {"ex05_1"}  # reference trains a model: nbval runs it in the notebook, not this file

harness.shortcut_tests(globals(), "05")


@pytest.mark.parametrize("build", [WRONG_WIRING, CONCATENATED], ids=["skip-on-block4_pool", "concatenated-skips"])
def test_wrong_architecture_fails_before_training(build):
    """A model with the right names but the wrong graph fails in the checks, before train_fcn8s runs."""
    outcome = harness.run_exercise("05", 1, [build, 'raise RuntimeError("training started")'])
    assert not outcome.passed and outcome.cell == "tests", outcome.describe()
    assert isinstance(outcome.error, ExerciseError), outcome.describe()


def test_reference_build_passes_the_checks_before_training():
    """The reference's graph passes every check up to the training, which a stand-in stops at once."""
    outcome = harness.run_exercise("05", 1, [BUILD, 'raise RuntimeError("training started")'])
    assert not outcome.passed and outcome.cell == "tests", outcome.describe()
    assert "raised RuntimeError: training started" in str(outcome.error), outcome.describe()
