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
    assert budget.markdown_table("gpu") in readme, (
        "docs/RUNTIMES.md: paste the table that "
        "`python -c \"from fcnlib import budget; print(budget.markdown_table('gpu'))\"` prints")


def test_notebook_05s_exercise_epoch_is_counted_in_every_runtime_and_matches_the_notebook():
    import json
    import re

    profile = config.GPU
    fcn8s = budget.forward_flops("fcn8s", profile)
    expected = 3 * min(5, profile.epochs) * profile.num_train * fcn8s  # Exercise 1: FCN-8s, at most 5 epochs.
    assert budget.extra_flops("05", profile) == expected
    assert budget.extra_flops("06", profile) == 0.0
    for cached in (True, False):  # Nothing caches it: counted with and without the cache.
        without = budget.notebook_flops("05", profile, cached) - budget.extra_flops("05", profile)
        assert without > 0 and budget.notebook_flops("05", profile, cached) == without + expected
    (path,) = (config.REPO_ROOT / "notebooks").glob("05_*.ipynb")
    code = "\n".join("".join(cell["source"]) for cell in json.loads(path.read_text())["cells"])
    assert len(re.findall(r"\.fit\(", code)) == 1, "no training in 05 beyond its recipes and exercise 1"
    assert re.search(r"train\.fit\(model, train_data, epochs=min\(5, PROFILE\.epochs\)", code), (
        "exercise 1 trains min(5, epochs) epochs")


def kept_activations(model) -> int:
    """Values a built model's forward pass keeps for backprop, by the rule budget.model_size states:
    the outputs of every layer from the first one with trainable weights on, plus that layer's input."""
    layers = list(model.layers)
    first = next(i for i, layer in enumerate(layers) if layer.trainable_weights)
    kept = int(np.prod(layers[first].input.shape[1:]))
    return kept + sum(int(np.prod(layer.output.shape[1:])) for layer in layers[first:])


def small_model(name):
    """The built counterpart of budget.layer_counts(name, SMALL) at a fixed input size."""
    from fcnlib import backbone

    base, _, upsampling = name.partition("-")
    size = SMALL.image_size
    if name == "dense":
        return recipes.build("dense", profile=SMALL, weights=None)
    if name == "vgg16":
        return backbone.vgg16_classifier((96, 96, 3), len(config.MULTICLASS_CLASSES) - 1, width=SMALL.width)
    if name == "dense-head":
        units = int(config.FC_UNITS * SMALL.width)
        return keras.Sequential([keras.Input((units,)), keras.layers.Dense(size * size, activation="sigmoid")])
    builder = {"fcn32s": recipes.models.fcn32s, "fcn16s": recipes.models.fcn16s, "fcn8s": recipes.models.fcn8s}[base]
    return builder(2, input_shape=(size, size, 3), width=SMALL.width, upsampling=upsampling or "fixed",
                   fc6_kernel=recipes.fc6_kernel(SMALL))


@pytest.mark.parametrize("name", ["dense", "fcn32s", "fcn16s", "fcn8s", "fcn32s-learned", "fcn8s-random",
                                  "vgg16", "dense-head"])
def test_counted_parameters_and_activations_match_the_built_model(name):
    model = small_model(name)
    size = budget.model_size(name, SMALL)
    assert size.params == model.count_params()
    assert size.trainable == sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert size.activations == kept_activations(model)
    assert [row[0] for row in budget.layer_counts(name, SMALL)][-1] == model.layers[-1].name or name == "dense-head"


def test_adam_holds_two_slots_per_trainable_value_plus_two_scalars():
    model = recipes.build("dense", profile=SMALL, weights=None)  # Frozen backbone: few trainable values.
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    held = sum(int(np.prod(v.shape)) for v in optimizer.variables)
    trainable = budget.model_size("dense", SMALL).trainable
    assert trainable < model.count_params() and held == budget.adam_values(trainable)


def test_the_gpu_profile_counts_match_the_published_models():
    assert budget.model_size("dense", "gpu").params == 339_831_616  # models.dense_reshape_vgg16's docstring
    assert budget.model_size("dense", "gpu").trainable == 205_571_072
    # keras.applications.VGG16 (https://keras.io/api/applications/: 138.4M parameters).
    assert budget.model_size("vgg16", "gpu").params == 138_357_544


def test_every_gpu_notebook_peaks_within_the_limit_and_the_release_is_what_brings_it_there():
    for notebook in budget.NOTEBOOK_RECIPES:
        peak = budget.notebook_peak_gb(notebook, "gpu")
        assert (peak > 0) == (notebook in budget.GPU_NOTEBOOKS), notebook
        assert peak <= budget.PEAK_LIMIT_GB, (notebook, peak)
    before = {n: budget.notebook_peak_gb(n, "gpu", released=False, edits=False) for n in budget.GPU_NOTEBOOKS}
    assert before["01"] > budget.PEAK_LIMIT_GB and before["06"] > budget.PEAK_LIMIT_GB
    # Releasing Adam's state after train_or_load brings 06 within the limit; 01 needs its edit too.
    assert budget.notebook_peak_gb("06", "gpu", edits=False) <= budget.PEAK_LIMIT_GB
    assert budget.notebook_peak_gb("01", "gpu", edits=False) > budget.PEAK_LIMIT_GB


def test_section_bytes_follow_the_formula():
    profile = config.GPU
    fcn, dense = budget.model_size("fcn8s", profile), budget.model_size("dense", profile)
    section = budget.Section("x", (budget.Alive("dense", "recipe"), budget.Alive("fcn32s", "adam"),
                                   budget.Alive("fcn16s", edit="01-del-heads")), trains="fcn8s")
    fcn32 = budget.model_size("fcn32s", profile)
    counted = budget.section_bytes(section, profile)
    assert counted["weights"] == 4 * (dense.params + fcn32.params + fcn.params)  # fcn16s deleted by its edit
    assert counted["optimizer"] == 4 * (budget.adam_values(fcn32.trainable) + budget.adam_values(fcn.trainable))
    assert counted["gradients"] == 4 * fcn.trainable
    assert counted["activations"] == 4 * profile.batch_size * fcn.activations
    assert counted["total"] == sum(v for k, v in counted.items() if k != "total")
    unreleased = budget.section_bytes(section, profile, released=False, edits=False)
    assert unreleased["optimizer"] - counted["optimizer"] == 4 * budget.adam_values(dense.trainable)
    assert unreleased["weights"] - counted["weights"] == 4 * budget.model_size("fcn16s", profile).params
    with pytest.raises(ValueError, match="'kept'"):
        budget.section_bytes(budget.Section("x", (budget.Alive("dense", "kept"),)), profile)
    with pytest.raises(ValueError, match="'fcn4s'"):
        budget.model_size("fcn4s")


def test_the_sections_train_what_the_notebooks_recipes_train():
    for notebook in budget.GPU_NOTEBOOKS:
        recipes_ = {v if u == "fixed" else f"{v}-{u}" for v, _, u, _ in budget.NOTEBOOK_RECIPES[notebook]}
        trained = {s.trains for s in budget.notebook_sections(notebook, "gpu") if s.trains}
        assert recipes_ <= trained, (notebook, recipes_ - trained)
    for edit, (notebook, line, _) in budget.NOTEBOOK_EDITS.items():
        marked = [a for s in budget.notebook_sections(notebook) for a in s.alive if a.edit == edit]
        assert marked and line.startswith("del "), edit


def _notebook_code_cells(number):
    import json

    (path,) = (config.REPO_ROOT / "notebooks").glob(f"{number}_*.ipynb")
    return ["".join(cell["source"]) for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]
            if cell["cell_type"] == "code"]


def test_notebook_01_deletes_the_heads_of_section_5():
    notebook, line, _ = budget.NOTEBOOK_EDITS["01-del-heads"]
    cells = _notebook_code_cells(notebook)
    trained = next(i for i, code in enumerate(cells) if "scrambled_head.fit(" in code)
    assert any(code.splitlines()[-1].startswith(line) for code in cells[trained:trained + 1])
    assert not any("real_head" in code or "scrambled_head" in code for code in cells[trained + 1:])


def test_the_drive_holds_weights_only_entries_and_the_voc_archive():
    profile = config.GPU
    recipes_ = budget.cached_recipes()
    assert len(recipes_) == len(set(recipes_)) == 6  # dense, three FCN-32s, staged FCN-16s and FCN-8s
    weights = sum(4 * budget.model_size(v if u == "fixed" else f"{v}-{u}", profile).params
                  for v, _, u, _ in recipes_)
    assert budget.drive_bytes(profile) == weights + budget.VOC_BYTES
    assert 5.9e9 < budget.drive_bytes(profile) < 6.2e9  # The figure README.md states.
    assert budget.drive_bytes("quick") == sum(budget.entry_bytes(r, "quick") for r in recipes_)


def test_an_entry_file_is_the_counted_weights_plus_hdf5_bookkeeping():
    from fcnlib import train

    model, _ = train.train_or_load(lambda: small_model("fcn32s"), {"entry": "size"},
                                   (np.zeros((2, 64, 64, 3), "float32"), np.zeros((2, 64, 64), "int32")),
                                   epochs=1, learning_rate=1e-3, verbose=0, batch_size=2)
    (entry,) = config.cache_dir().glob("fcn32s-*.weights.h5")
    counted = budget.entry_bytes(("fcn32s", "binary", "fixed", "staged"), SMALL)
    assert counted == 4 * model.count_params()
    assert counted < entry.stat().st_size < counted + 4_096 * len(model.layers)  # not 3x: no Adam slots


def test_docs_runtimes_shows_the_peak_memory():
    table = budget.markdown_table("gpu")
    assert "peak GPU memory" in table.splitlines()[0]
    assert f"| {budget.notebook_peak_gb('01'):.1f} GB |" in table and "| none |" in table


def test_readme_states_the_drive_figure():
    readme = (config.REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert f"the series keeps about {budget.drive_bytes('gpu') / 1e9:.1f} GB there" in readme
    assert f"VOC's {budget.VOC_BYTES / 1e9:.1f} GB archive" in readme
