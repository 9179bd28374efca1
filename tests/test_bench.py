"""The benchmark's pieces: FLOP counting and the report; it times models and builds none."""

import ast
import dataclasses
import inspect

import keras

from fcnlib import bench, config, published

TINY = dataclasses.replace(config.QUICK, name="tiny", image_size=64, num_train=8, num_val=4,
                           num_test=4, batch_size=4, epochs=1)


def test_forward_flops_match_a_count_by_hand():
    model = keras.Sequential([
        keras.Input((8, 6, 3)),
        keras.layers.Conv2D(4, 3, padding="same"),  # 8*6 positions x 3*3*3*4 taps
        keras.layers.Conv2DTranspose(2, 4, strides=2, padding="same"),  # 8*6 inputs x 4*4*2*4
        keras.layers.Flatten(),
        keras.layers.Dense(5),  # (16*12*2) x 5
    ])
    expected = 2 * (8 * 6 * 3 * 3 * 3 * 4 + 8 * 6 * 4 * 4 * 2 * 4 + 16 * 12 * 2 * 5)
    assert bench.forward_flops(model) == expected


def test_report_has_every_row_and_the_ratios(tmp_path):
    rows = [("FCN-8s", 1234, 10.0, 0.9, 0.8, 0.7, 0.6, 50.0), ("d2l FCN", 99, 5.0, 0.8, 0.5, 0.2, 0.3, 80.0)]
    report = tmp_path / "report.md"
    report.write_text("| notebook | status |\n| 00_setup_and_data.ipynb | ok | 12 | x.html |  |\n")
    text = bench.render(TINY, 1, rows, (30.0, 60.0), (2.0, 40.0), bench.notebook_times(report))
    assert "| FCN-8s | 1,234 | 10 | 0.900 | 0.800 | 0.700 | 0.600 | 50 |" in text
    assert "ratio 0.50" in text and "(5%)" in text and "00_setup_and_data" in text
    assert "run `make series` first" in bench.render(TINY, 1, rows, (1, 1), (1, 1), None)
    assert bench.notebook_times(tmp_path / "missing.md") is None


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
    assert builds_models(inspect.getsource(bench)) == []
    assert builds_models("m = keras.Model(i, o)\nx = keras.Input((2,))") == ["keras.Model", "keras.Input"]
    assert [key for _, key in bench.PUBLISHED] == list(published.BUILDERS)

