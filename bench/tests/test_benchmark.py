"""The benchmark's pieces: FLOP counting and the report; it times models and builds none."""

import ast
import dataclasses
import inspect
import json

import numpy as np
import pytest

from bench import benchmark, published
from fcnlib import config

TINY = dataclasses.replace(config.QUICK, name="tiny", image_size=64, num_train=8, num_val=4,
                           num_test=4, batch_size=4, epochs=1)


def test_report_has_every_row_and_the_ratios(tmp_path):
    rows = [("FCN-8s", 1234, 10.0, 0.9, 0.8, 0.7, 0.6, 50.0), ("d2l FCN", 99, 5.0, 0.8, 0.5, 0.2, 0.3, 80.0)]
    report = tmp_path / "report.md"
    report.write_text("| notebook | status |\n| 00_setup_and_data.ipynb | ok | 12 | x.html |  |\n")
    text = benchmark.render(TINY, 1, rows, (30.0, 60.0), (2.0, 40.0), benchmark.notebook_times(report))
    assert "| FCN-8s | 1,234 | 10 | 0.900 | 0.800 | 0.700 | 0.600 | 50 |" in text
    assert "ratio 0.50" in text and "(5%)" in text and "00_setup_and_data" in text
    assert "run `make series` first" in benchmark.render(TINY, 1, rows, (1, 1), (1, 1), None)
    assert benchmark.notebook_times(tmp_path / "missing.md") is None


def builds_models(source: str) -> list:
    """The calls in ``source`` that construct a Keras model or input (keras.Model, Sequential...)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            if name.split(".")[-1] in ("Model", "Sequential", "Input", "Functional"):
                found.append(name)
    return found


def test_bench_builds_no_model_and_times_every_published_recipe():
    assert builds_models(inspect.getsource(benchmark)) == []
    assert builds_models("m = keras.Model(i, o)\nx = keras.Input((2,))") == ["keras.Model", "keras.Input"]
    assert [key for _, key in benchmark.PUBLISHED] == list(published.BUILDERS)
    assert [key for _, key in benchmark.EXPERIMENTS] == list(published.EXPERIMENTS)



def test_the_readme_table_and_the_committed_results_file_agree():
    results = benchmark.read_results(benchmark.results_path(config.QUICK))
    readme = (config.REPO_ROOT / "bench" / "README.md").read_text(encoding="utf-8")
    rows = [tuple(row[column] for column in benchmark.COLUMNS) for row in results["rows"]]
    table = "\n".join(benchmark.table_lines(rows))
    assert table in readme, "bench/README.md's table differs from data/bench_quick.json"
    assert f"Machine: {results['machine']}." in readme
    rates, flops = results["pipeline_images_per_s"], results["gflops"]
    assert (f"{rates['make_dataset']:.0f} training images/s through `pipeline.make_dataset`, "
            f"{rates['in_memory']:.0f} from in-memory tensors") in readme
    assert f"achieves {flops['fcn8s_training_step']:.1f} GFLOP/s" in readme
    assert results["profile"] == "quick"
    names = {name for name, _ in benchmark.SERIES + benchmark.EXPERIMENTS + benchmark.PUBLISHED}
    assert {row[0] for row in rows} <= names, "a row of the file is no model of the bench"


def test_results_json_round_trips_and_a_broken_file_is_named(tmp_path):
    rows = [("FCN-8s staged", 1234, 10.0, 0.9, 0.8, 0.7, 0.6, 50.0)]
    path = tmp_path / "benchmark.json"
    path.write_text(json.dumps(benchmark.results_json(TINY, 1, rows, (30.0, 60.0), (2.0, 40.0))))
    results = benchmark.read_results(path)
    assert results["profile"] == "tiny" and results["settings"]["epochs"] == 1
    assert [tuple(r[c] for c in benchmark.COLUMNS) for r in results["rows"]] == rows
    assert "| FCN-8s staged | 1,234 | 10 |" in benchmark.table_lines(rows)[2]
    del results["rows"][0]["fg_iou"]
    path.write_text(json.dumps(results))
    with pytest.raises(ValueError, match=r"benchmark.json.*fg_iou"):
        benchmark.read_results(path)
    path.write_text("{")
    with pytest.raises(ValueError, match="benchmark.json"):
        benchmark.read_results(path)


def test_read_results_takes_a_file_written_before_the_trimap_rename(tmp_path):
    rows = [("FCN-8s staged", 1234, 10.0, 0.9, 0.8, 0.7, 0.6, 50.0)]
    results = benchmark.results_json(TINY, 1, rows, (30.0, 60.0), (2.0, 40.0))
    results["rows"][0]["boundary_iou"] = results["rows"][0].pop("trimap_iou")  # As 0.2.0 wrote it.
    path = tmp_path / "benchmark.json"
    path.write_text(json.dumps(results))
    assert benchmark.read_results(path)["rows"][0]["trimap_iou"] == 0.6


def test_pipeline_ratio_times_both_inputs_after_warming_each_up(monkeypatch):
    fits = []

    class Recorder:
        def compile(self, *args, **kwargs):
            pass

        def fit(self, **kwargs):
            fits.append("dataset" if "y" not in kwargs else "memory")

    monkeypatch.setattr(benchmark.recipes, "build", lambda *args, **kwargs: Recorder())
    profile = config.smoke_version(config.QUICK)
    dataset_rate, memory_rate = benchmark.pipeline_ratio(profile, steps=2, repeats=3)
    assert fits == ["dataset", "memory"] + ["dataset", "memory"] * 3
    assert dataset_rate > 0 and memory_rate > 0


def test_the_1x1_fc6_head_keeps_the_centre_tap_of_the_pretrained_fc6():
    wide = benchmark._fcn32s_variant(TINY)
    narrow = benchmark._fcn32s_variant(TINY, "glorot_uniform", "learned", fc6="centre")
    wide_kernel, wide_bias = wide.get_layer("fc6").get_weights()
    narrow_kernel, narrow_bias = narrow.get_layer("fc6").get_weights()
    assert wide_kernel.shape[:2] == (3, 3) and narrow_kernel.shape[:2] == (1, 1)
    assert (narrow_kernel[0, 0] == wide_kernel[1, 1]).all() and (narrow_bias == wide_bias).all()
    for name in ("block1_conv1", "block5_conv3", "fc7"):  # The rest is the same pretrained network.
        for a, b in zip(wide.get_layer(name).get_weights(), narrow.get_layer(name).get_weights(), strict=False):
            assert (a == b).all(), name
    assert narrow.get_layer("upscore32").trainable and not wide.get_layer("upscore32").trainable


def test_the_score_scale_multiplies_only_the_initial_score_layer():
    benchmark.train.set_seed(0)
    plain = benchmark._fcn32s_variant(TINY, "glorot_uniform", "learned")
    benchmark.train.set_seed(0)
    scaled = benchmark._fcn32s_variant(TINY, "glorot_uniform", "learned", score_scale=0.2)
    (plain_kernel, plain_bias), (scaled_kernel, scaled_bias) = (
        model.get_layer("score_fr").get_weights() for model in (plain, scaled))
    assert np.abs(plain_kernel).max() > 0 and np.allclose(scaled_kernel, 0.2 * plain_kernel)
    assert (scaled_bias == plain_bias).all()
    for name in ("fc7", "upscore32"):
        for a, b in zip(plain.get_layer(name).get_weights(), scaled.get_layer(name).get_weights(), strict=False):
            assert (a == b).all(), name
    benchmark.train.set_seed(0)
    narrow = benchmark._fcn32s_variant(TINY, "glorot_uniform", "learned", fc6="centre", score_scale=0.2)
    assert np.allclose(narrow.get_layer("score_fr").get_weights()[0], 0.2 * plain_kernel), "1x1 fc6 too"


def test_the_command_line_trains_only_the_variants_it_names(monkeypatch, tmp_path):
    calls, sizes = [], []

    def head(profile, seeds, epochs, variants):
        calls.append(("head", tuple(seeds), variants))
        return [{"variant": name, "seed": seed, "fg_iou": 0.5} for seed in seeds for name in variants]

    def schedules(profile, seeds, epochs, variants):
        calls.append(("schedules", tuple(seeds), variants))
        sizes.append(profile.image_size)
        return [{"variant": name, "seed": seed, "epochs": 6, "seconds": 1.0, "fg_iou": 0.5}
                for seed in seeds for name in variants]

    monkeypatch.setattr(benchmark, "fcn32s_head_experiment", head)
    monkeypatch.setattr(benchmark, "fcn8s_schedule_experiment", schedules)
    output = tmp_path / "results.md"
    text = benchmark.main(["--fcn32s-head", "--seeds", "4", "--variants", "d2l head, fixed upsampler",
                       "--output", str(output)])
    assert calls == [("head", (4,), ["d2l head, fixed upsampler"])]
    assert "| d2l head, fixed upsampler | 0.500 | 0.500 | 0.000 |" in text
    assert (tmp_path / "fcn32s_head.md").read_text(encoding="utf-8") == text
    benchmark.main(["--fcn8s-schedules", "--output", str(output)])
    assert calls[-1] == ("schedules", (0, 1, 2), list(benchmark.SCHEDULE_VARIANTS))
    with pytest.raises(ValueError, match="'no such head'"):
        benchmark.main(["--fcn32s-head", "--variants", "no such head", "--output", str(output)])
    assert len(calls) == 2, "an unknown variant is refused before anything trains"
    assert sizes == [config.get_profile().image_size]
    text = benchmark.main(["--fcn8s-schedules", "--variants", "staged", "--image-size", "128", "--output", str(output)])
    assert sizes[-1] == 128 and "(128x128 scenes)" in text
    for wrong in (["--image-size", "128"], ["--plateau", "--image-size", "128"],
                  ["--fcn8s-schedules", "--image-size", "100"], ["--fcn8s-schedules", "--image-size", "0"]):
        with pytest.raises(SystemExit):
            benchmark.main(wrong + ["--output", str(output)])
    assert len(calls) == 3, "a wrong --image-size is refused before anything trains"


def test_the_head_experiment_trains_each_variant_per_seed_and_restores_the_seed():
    names = ["FCN-32s (paper): zero score, fixed upsampler", "d2l head: no fc6/fc7, Glorot score, learned"]
    before = benchmark.recipes.SEED
    runs = benchmark.fcn32s_head_experiment(TINY, seeds=(0, 1), variants=names)
    assert [(run["variant"], run["seed"]) for run in runs] == [(n, s) for s in (0, 1) for n in names]
    assert all(0.0 <= run["fg_iou"] <= 1.0 and 0.0 <= run["mean_iou"] <= 1.0 for run in runs)
    assert benchmark.recipes.SEED == before
    with pytest.raises(ValueError, match="no such head"):
        benchmark.fcn32s_head_experiment(TINY, variants=["no such head"])


def test_the_head_table_shows_each_seed_the_mean_and_the_range():
    runs = [{"variant": "a", "seed": 0, "fg_iou": 0.5}, {"variant": "a", "seed": 1, "fg_iou": 0.7},
            {"variant": "b", "seed": 0, "fg_iou": 0.2}, {"variant": "b", "seed": 1, "fg_iou": 0.2}]
    lines = benchmark.head_table_lines(runs)
    assert lines[0] == "| variant | seed 0 | seed 1 | mean | range |"
    assert lines[2] == "| a | 0.500 | 0.700 | 0.600 | 0.200 |"
    assert lines[3] == "| b | 0.200 | 0.200 | 0.200 | 0.000 |"


def test_the_schedule_experiment_scores_each_stage_and_each_half_and_restores_the_seed(monkeypatch):
    transfers = []
    real = benchmark.models.transfer_weights
    monkeypatch.setattr(benchmark.models, "transfer_weights",
                        lambda source, target: transfers.append((source.name, target.name)) or real(source, target))
    builds, built = [], []
    real_build = benchmark.recipes.build

    def build(variant, task, skip_scaling=False, **kwargs):
        builds.append((variant, skip_scaling))
        built.append(real_build(variant, task, skip_scaling=skip_scaling, **kwargs))
        return built[-1]

    monkeypatch.setattr(benchmark.recipes, "build", build)
    before = benchmark.recipes.SEED
    runs = benchmark.fcn8s_schedule_experiment(TINY, seeds=(1,), epochs=2)  # Not the recipes' seed 0.
    assert builds == [("fcn32s", False), ("fcn16s", False), ("fcn8s", False), ("fcn8s", True), ("fcn8s", False),
                      ("fcn8s", False)]
    learned = [model.get_layer(name).trainable for model in built[2:]
               for name in ("upscore8", "upscore2", "upscore_pool4")]
    assert learned == [False] * 9 + [True, False, False], "only the last variant learns upscore8, and only it"
    points = [(run["variant"], run["epochs"]) for run in runs]
    one_seed = [("staged FCN-32s", 2), ("staged FCN-16s", 3), ("staged FCN-8s", 4),
                ("at once, scaled skips", 1), ("at once, scaled skips", 2),
                ("at once, unscaled skips", 1), ("at once, unscaled skips", 2),
                ("at once, unscaled skips, learned upscore8", 1), ("at once, unscaled skips, learned upscore8", 2)]
    assert points == one_seed and all(run["seed"] == 1 for run in runs)
    assert transfers == [("fcn32s", "fcn16s"), ("fcn16s", "fcn8s")], "each stage starts from the one before"
    staged = [run["seconds"] for run in runs[:3]]
    assert 0 < staged[0] < staged[1] < staged[2], "a stage's seconds include the stages before it"
    assert runs[3]["seconds"] < runs[4]["seconds"]
    assert all(0.0 <= run["fg_iou"] <= 1.0 and 0.0 <= run["mean_iou"] <= 1.0 for run in runs)
    assert benchmark.recipes.SEED == before
    with pytest.raises(ValueError, match="no such schedule"):
        benchmark.fcn8s_schedule_experiment(TINY, variants=["no such schedule"])


def test_the_table_can_show_epochs_and_seconds_per_row():
    runs = [{"variant": "a", "seed": 0, "epochs": 3, "seconds": 10.0, "fg_iou": 0.5},
            {"variant": "a", "seed": 1, "epochs": 3, "seconds": 12.0, "fg_iou": 0.7},
            {"variant": "a", "seed": 0, "epochs": 6, "seconds": 20.0, "fg_iou": 0.8},
            {"variant": "a", "seed": 1, "epochs": 6, "seconds": 22.0, "fg_iou": 0.8}]
    lines = benchmark.head_table_lines(runs, ("epochs", "seconds"))
    assert lines[0] == "| variant | epochs | seconds | seed 0 | seed 1 | mean | range |"
    assert lines[1] == "|---|---:|---:|---:|---:|---:|---:|"
    assert lines[2] == "| a | 3 | 11 | 0.500 | 0.700 | 0.600 | 0.200 |"
    assert lines[3] == "| a | 6 | 21 | 0.800 | 0.800 | 0.800 | 0.000 |"


def test_an_experiment_that_fails_puts_the_recipes_seed_back(monkeypatch):
    def broken(*args, **kwargs):
        assert benchmark.recipes.SEED == 7, "the experiment sets the seed before it builds"
        raise RuntimeError("out of memory")

    monkeypatch.setattr(benchmark.recipes, "build", broken)
    before = benchmark.recipes.SEED
    with pytest.raises(RuntimeError, match="out of memory"):
        benchmark.fcn8s_schedule_experiment(TINY, seeds=(7,), epochs=1)
    assert benchmark.recipes.SEED == before


def test_the_autotune_experiment_trains_the_same_run_with_the_autotuner_on_and_off(monkeypatch):
    fed = []
    real_fit = benchmark.train.fit
    monkeypatch.setattr(benchmark.train, "fit", lambda model, train_data, val_data, **kwargs: fed.append(
        (train_data.options().autotune.enabled, val_data.options().autotune.enabled, kwargs["epochs"]))
        or real_fit(model, train_data, val_data, **kwargs))
    runs = benchmark.autotune_experiment(TINY, repeats=2, epochs=2)
    assert fed == [(True, True, 2), (False, False, 2)] * 2, "on, then off, twice, validation included"
    assert [(run["autotune"], run["repeat"]) for run in runs] == [(True, 0), (False, 0), (True, 1), (False, 1)]
    assert all(run["seconds"] > 0 and 0.0 <= run["fg_iou"] <= 1.0 for run in runs)
    # The same seeded weights and batches: the switch changes the speed, not the model.
    assert len({round(run["fg_iou"], 3) for run in runs}) == 1


def test_the_autotune_table_shows_each_run_the_mean_and_the_ious():
    runs = [{"autotune": True, "repeat": 0, "seconds": 110.0, "fg_iou": 0.391},
            {"autotune": False, "repeat": 0, "seconds": 80.0, "fg_iou": 0.391},
            {"autotune": True, "repeat": 1, "seconds": 114.0, "fg_iou": 0.391},
            {"autotune": False, "repeat": 1, "seconds": 84.0, "fg_iou": 0.392}]
    lines = benchmark.autotune_table_lines(runs)
    assert lines[0] == "| tf.data autotune | run 1 (s) | run 2 (s) | mean (s) | foreground IoU |"
    assert lines[1] == "|---|---:|---:|---:|---:|"
    assert lines[2] == "| on | 110.0 | 114.0 | 112.0 | 0.391 |"
    assert lines[3] == "| off | 80.0 | 84.0 | 82.0 | 0.391, 0.392 |"


def test_the_xla_experiment_compiles_the_step_with_xla_and_without_on_the_same_run(monkeypatch):
    fed = []
    real_fit = benchmark.train.fit

    def recording_fit(model, train_data, val_data, **kwargs):
        history = real_fit(model, train_data, val_data, **kwargs)
        fed.append((kwargs["jit_compile"], bool(model.jit_compile), kwargs["epochs"]))
        return history

    monkeypatch.setattr(benchmark.train, "fit", recording_fit)
    runs = benchmark.xla_experiment(TINY, repeats=1, epochs=1)
    assert fed == [(True, True, 1), (False, False, 1)], "XLA on, then off; the model compiled as asked"
    assert [(run["xla"], run["repeat"]) for run in runs] == [(True, 0), (False, 0)]
    assert all(run["seconds"] > 0 and 0.0 <= run["fg_iou"] <= 1.0 for run in runs)


def test_an_on_off_table_names_its_switch():
    runs = [{"xla": True, "repeat": 0, "seconds": 35.5, "fg_iou": 0.39},
            {"xla": False, "repeat": 0, "seconds": 26.4, "fg_iou": 0.391}]
    lines = benchmark.on_off_table_lines(runs, "xla", "XLA (jit_compile)")
    assert lines == ["| XLA (jit_compile) | run 1 (s) | mean (s) | foreground IoU |", "|---|---:|---:|---:|",
                     "| on | 35.5 | 35.5 | 0.390 |", "| off | 26.4 | 26.4 | 0.391 |"]


def test_coarse_ideal_draws_block_aligned_stripes_exactly_and_loses_thin_ones(monkeypatch):
    from fcnlib import synthetic

    rows = {}

    def scenes(num, size, task, seed):
        masks = np.zeros((num, size, size), np.uint8)
        masks[:, rows["top"]:rows["bottom"]] = 1  # A full-width stripe: one-dimensional interpolation.
        return np.zeros((num, size, size, 3), np.uint8), masks

    monkeypatch.setattr(synthetic, "generate", scenes)
    rows.update(top=16, bottom=48)  # Aligned to blocks of 16 and 8: drawn back exactly.
    assert benchmark.coarse_ideal(sizes=(64,), strides=(16, 8), num_scenes=1)[-1] == "| 64x64 | 1.000 | 1.000 |"
    rows.update(top=20, bottom=44)  # 12 of 32 rows in each 32-row block: every block averages 0.375.
    lines = benchmark.coarse_ideal(sizes=(64,), strides=(32,), num_scenes=1)
    assert lines[0] == "| scene size | stride 32 |" and lines[-1] == "| 64x64 | 0.000 |"


def test_the_plateau_experiment_trains_one_fcn8s_per_size_and_scores_it_on_the_way(monkeypatch, tmp_path):
    monkeypatch.setenv(config.CACHE_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(benchmark, "PLATEAU_SCORE_AT", (1, 5))
    built = []
    real_build = benchmark.recipes.build
    monkeypatch.setattr(benchmark.recipes, "build", lambda variant, task, **kwargs: built.append(
        (variant, kwargs.get("skip_scaling", False), kwargs["profile"].image_size))
        or real_build(variant, task, **kwargs))
    before = benchmark.recipes.SEED
    runs = benchmark.plateau_experiment(TINY, sizes=(64, 96), epochs=2, seed=3)
    assert built == [("fcn8s", False, 64), ("fcn8s", False, 96)], "one unscaled FCN-8s per scene size"
    assert [(run["size"], run["epochs"]) for run in runs] == [(64, 1), (64, 2), (96, 1), (96, 2)]
    assert runs[0]["seconds"] < runs[1]["seconds"] and runs[2]["seconds"] < runs[3]["seconds"]
    assert all(0.0 <= run["fg_iou"] <= 1.0 and 0.0 <= run["mean_iou"] <= 1.0 for run in runs)
    assert benchmark.recipes.SEED == before, "the experiment puts the recipes' seed back"
    for bad in ({"epochs": 0}, {"sizes": ()}):
        with pytest.raises(ValueError, match="plateau experiment needs"):
            benchmark.plateau_experiment(TINY, **bad)


def test_the_plateau_table_has_a_row_per_size_and_scored_epoch():
    runs = [{"size": 96, "epochs": 6, "seconds": 62.6, "fg_iou": 0.81, "mean_iou": 0.891},
            {"size": 128, "epochs": 40, "seconds": 700.4, "fg_iou": 0.8844, "mean_iou": 0.9351}]
    assert benchmark.plateau_table_lines(runs) == [
        "| scene size | epochs | training (s) | foreground IoU | mean IoU |", "|---:|---:|---:|---:|---:|",
        "| 96x96 | 6 | 63 | 0.810 | 0.891 |", "| 128x128 | 40 | 700 | 0.884 | 0.935 |"]
