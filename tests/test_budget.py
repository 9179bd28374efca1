"""fcnlib.budget: FLOPs counted from the architecture agree with the built models' layers, and the
gpu profile's notebooks fit their time limits."""

import dataclasses

import keras
import numpy as np
import pytest

from fcnlib import budget, config, recipes

SMALL = dataclasses.replace(config.QUICK, image_size=64, width=0.125)


def layer_flops(model) -> float:
    """2 x the multiply-adds of a built model's convolutions, transposed convolutions and dense layers.

    The check on :func:`fcnlib.budget.forward_flops`, which counts by hand without building anything.
    The model needs a fixed input size. A transposed convolution spends its kernel on every input
    position, a convolution on every output position.
    """
    total = 0.0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2DTranspose):
            total += 2.0 * np.prod(layer.kernel.shape) * np.prod(layer.input.shape[1:3])
        elif isinstance(layer, keras.layers.Conv2D):
            total += 2.0 * np.prod(layer.kernel.shape) * np.prod(layer.output.shape[1:3])
        elif isinstance(layer, keras.layers.Dense):
            total += 2.0 * np.prod(layer.kernel.shape)
    return float(total)


def test_layer_flops_match_a_count_by_hand():
    model = keras.Sequential([
        keras.Input((8, 6, 3)),
        keras.layers.Conv2D(4, 3, padding="same"),  # 8*6 positions x 3*3*3*4 taps
        keras.layers.Conv2DTranspose(2, 4, strides=2, padding="same"),  # 8*6 inputs x 4*4*2*4
        keras.layers.Flatten(),
        keras.layers.Dense(5),  # (16*12*2) x 5
    ])
    expected = 2 * (8 * 6 * 3 * 3 * 3 * 4 + 8 * 6 * 4 * 4 * 2 * 4 + 16 * 12 * 2 * 5)
    assert layer_flops(model) == expected


@pytest.mark.parametrize("variant", ["dense", "fcn32s", "fcn16s", "fcn8s"])
@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_counted_flops_match_the_layers_of_the_built_model(variant, task):
    if variant == "dense" and task == "multiclass":
        pytest.skip("the dense baseline is binary")
    size = SMALL.image_size
    model = recipes.build(variant, task, profile=SMALL, weights=None)
    if variant != "dense":  # FCNs accept any size; fix it so the layers have shapes to count.
        builder = {"fcn32s": recipes.models.fcn32s, "fcn16s": recipes.models.fcn16s,
                   "fcn8s": recipes.models.fcn8s}[variant]
        model = builder(model.output_shape[-1], input_shape=(size, size, 3), width=SMALL.width,
                        fc6_kernel=recipes.fc6_kernel(SMALL))
    assert budget.forward_flops(variant, SMALL, task) == pytest.approx(layer_flops(model), rel=1e-9)


def test_full_width_vgg16_count_matches_the_published_figure():
    # torchvision's model table (https://pytorch.org/vision/stable/models.html) lists VGG16 at
    # 15.47 GFLOPS for a 224x224 image, counting multiply-adds of the convolutions and fc layers.
    trunk, channels = budget._trunk(224, 1.0)
    fc_macs = 7 * 7 * 512 * 4096 + 4096 * 4096 + 4096 * 1000
    assert (trunk / 2 + fc_macs) / 1e9 == pytest.approx(15.47, abs=0.01)
    assert channels == [64, 128, 256, 512, 512]


def test_gpu_notebooks_fit_ten_minutes_on_a_t4_and_the_series_45():
    for notebook in budget.NOTEBOOK_RECIPES:
        fresh = budget.notebook_minutes(notebook, "gpu", "t4", cached=False)
        assert fresh <= budget.NOTEBOOK_LIMIT_MINUTES, (notebook, fresh)
    series = sum(budget.notebook_minutes(n, "gpu", "t4", cached=True) for n in budget.NOTEBOOK_RECIPES)
    assert series <= budget.SERIES_LIMIT_MINUTES
    # One more epoch would break the fresh-runtime limit of notebook 06: the profile's epochs are the most.
    longer = budget.with_epochs("gpu", config.GPU.epochs + 1)
    assert budget.notebook_minutes("06", longer, "t4") > budget.NOTEBOOK_LIMIT_MINUTES


def test_cached_counts_only_what_earlier_notebooks_did_not_train():
    profile = config.GPU
    fcn32s = budget.recipe_flops(("fcn32s", "binary", "fixed", "staged"), profile)
    dense = budget.recipe_flops(("dense", "binary", "fixed", "staged"), profile)
    scoring = profile.num_test * (budget.forward_flops("fcn32s", profile) + budget.forward_flops("dense", profile))
    assert budget.notebook_flops("02", profile) == pytest.approx(fcn32s + dense + scoring)
    assert budget.notebook_flops("02", profile, cached=True) == pytest.approx(fcn32s + scoring)  # 01 trained dense.
    # A staged FCN-8s in a fresh runtime trains FCN-32s and FCN-16s first.
    staged = sum(budget.recipe_flops((v, "binary", "fixed", "staged"), profile) for v in ("fcn32s", "fcn16s", "fcn8s"))
    assert budget._closure([("fcn8s", "binary", "fixed", "staged")])[0][0] == "fcn32s"
    assert budget.recipe_flops(("fcn8s", "binary", "fixed", "staged"), profile) < staged
    assert budget.notebook_flops("03", profile) == 0


def test_recipe_cost_follows_the_formula():
    profile = config.GPU
    epochs = recipes.stage_epochs(profile.epochs)
    assert epochs == max(1, round(profile.epochs * recipes.STAGED_EPOCH_SHARE))
    expected = epochs * (3 * profile.num_train + profile.num_val) * budget.forward_flops("fcn16s", profile)
    assert budget.recipe_flops(("fcn16s", "binary", "fixed", "staged"), profile) == pytest.approx(expected)


def test_bad_names_are_refused():
    with pytest.raises(ValueError, match="'09'"):
        budget.notebook_flops("09", "gpu")
    with pytest.raises(ValueError, match="'tpu'"):
        budget.notebook_minutes("02", "gpu", "tpu")


def test_describe_says_estimated_for_gpus_and_smoke_for_smoke():
    assert "estimated" in budget.describe("05", "gpu") and "not measured" in budget.describe("05", "gpu")
    assert "Smoke" in budget.describe("05", config.smoke_version(config.GPU))
    assert budget.describe("03", "gpu") == "This notebook trains no series model."


def test_docs_runtimes_shows_the_budget_figures():
    root = config.REPO_ROOT
    readme = (root / "docs" / "RUNTIMES.md").read_text()
    assert budget.markdown_table("gpu") in readme, "docs/RUNTIMES.md: regenerate the estimated-minutes table"


def test_notebook_05s_exercise_epoch_is_counted_in_every_runtime_and_matches_the_notebook():
    import json
    import re

    profile = config.GPU
    fcn8s = budget.forward_flops("fcn8s", profile)
    expected = 3 * profile.num_train * fcn8s  # Exercise 1: one epoch of FCN-8s, nothing else.
    assert budget.extra_flops("05", profile) == expected
    assert budget.extra_flops("06", profile) == 0.0
    for cached in (True, False):  # Nothing caches it: counted with and without the cache.
        without = budget.notebook_flops("05", profile, cached) - budget.extra_flops("05", profile)
        assert without > 0 and budget.notebook_flops("05", profile, cached) == without + expected
    (path,) = (config.REPO_ROOT / "notebooks").glob("05_*.ipynb")
    code = "\n".join("".join(cell["source"]) for cell in json.loads(path.read_text())["cells"])
    assert len(re.findall(r"\.fit\(", code)) == 1, "no training in 05 beyond its recipes and exercise 1"
    assert re.search(r"train\.fit\(my_fcn8s, .*epochs=1\b", code), "exercise 1 trains one epoch"
