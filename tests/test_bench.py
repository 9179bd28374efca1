"""The benchmark's pieces: FLOP counting, the copied recipes' models, their data, the report."""

import dataclasses
import json

import keras
import numpy as np
import pytest

from fcnlib import bench, config, layers

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


def test_copied_recipes_keep_their_defining_choices():
    x = np.random.default_rng(0).normal(0, 50, (1, 50, 70, 3)).astype("float32")
    kio = bench.keras_io_fcn8s(TINY)
    out = kio(x).numpy()
    assert out.shape == (1, 50, 70, 2)
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-5)  # Probabilities, not logits.
    assert not kio.get_layer("block1_conv1").trainable and not kio.get_layer("fc6").trainable
    assert kio.get_layer("kio_score").get_config()["activation"] == "relu"
    d2l = bench.d2l_fcn(TINY)
    ups = [layer for layer in d2l.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert len(ups) == 1 and ups[0].kernel.shape[0] == 64 and ups[0].trainable
    np.testing.assert_allclose(ups[0].kernel.numpy(), layers.bilinear_kernel(64, 2, 2), atol=1e-6)
    tf1 = bench.tf1_blog_fcn8s(TINY)
    assert tf1(x).shape == (1, 50, 70, 2)
    kernels = sorted(layer.kernel.shape[0] for layer in tf1.layers
                     if isinstance(layer, keras.layers.Conv2DTranspose))
    assert kernels == [4, 4, 16]
    assert len(tf1.losses) == 6  # L2 on three 1x1 scores and three transposed convolutions.


def test_bilinear_mask_data_erodes_objects_but_invents_no_class():
    data = bench._bilinear_mask_data(TINY)
    masks = np.concatenate([y.numpy() for _, y in data])
    assert masks.shape == (8, 64, 64) and set(np.unique(masks)) <= {0, 1}
    from fcnlib import synthetic
    import tensorflow as tf
    _, big = synthetic.generate(8, 128, "binary", synthetic.SPLIT_SEEDS["train"])
    nearest = tf.image.resize(big[..., None], (64, 64), "nearest")[..., 0].numpy()
    # Truncating bilinear fractions shrinks every object: fewer foreground pixels than nearest.
    assert masks.sum() < nearest.sum()


def test_report_has_every_row_and_the_ratios(tmp_path):
    rows = [("FCN-8s", 1234, 10.0, 0.9, 0.8, 0.7, 0.6, 50.0), ("d2l FCN", 99, 5.0, 0.8, 0.5, 0.2, 0.3, 80.0)]
    report = tmp_path / "report.md"
    report.write_text("| notebook | status |\n| 00_setup_and_data.ipynb | ok | 12 | x.html |  |\n")
    text = bench.render(TINY, 1, rows, (30.0, 60.0), (2.0, 40.0), bench.notebook_times(report))
    assert "| FCN-8s | 1,234 | 10 | 0.900 | 0.800 | 0.700 | 0.600 | 50 |" in text
    assert "ratio 0.50" in text and "(5%)" in text and "00_setup_and_data" in text
    assert "run `make series` first" in bench.render(TINY, 1, rows, (1, 1), (1, 1), None)
    assert bench.notebook_times(tmp_path / "missing.md") is None


def test_the_readme_table_and_the_committed_results_file_agree():
    results = bench.read_results(bench.results_path(config.QUICK))
    readme = (config.REPO_ROOT / "README.md").read_text(encoding="utf-8")
    rows = [tuple(row[column] for column in bench.COLUMNS) for row in results["rows"]]
    table = "\n".join(bench.table_lines(rows))
    assert table in readme, "README's benchmark table differs from docs/bench_quick.json"
    assert f"Machine: {results['machine']}." in readme
    rates, flops = results["pipeline_images_per_s"], results["gflops"]
    assert (f"{rates['make_dataset']:.0f} training images/s through `pipeline.make_dataset`, "
            f"{rates['in_memory']:.0f} from in-memory tensors") in readme
    assert f"achieves {flops['fcn8s_training_step']:.1f} GFLOP/s" in readme
    assert results["profile"] == "quick" and len(rows) == len(bench.SERIES) + 3


def test_results_json_round_trips_and_a_broken_file_is_named(tmp_path):
    rows = [("FCN-8s", 1234, 10.0, 0.9, 0.8, 0.7, 0.6, 50.0)]
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(bench.results_json(TINY, 1, rows, (30.0, 60.0), (2.0, 40.0))))
    results = bench.read_results(path)
    assert results["profile"] == "tiny" and results["settings"]["epochs"] == 1
    assert [tuple(r[c] for c in bench.COLUMNS) for r in results["rows"]] == rows
    assert "| FCN-8s | 1,234 | 10 |" in bench.table_lines(rows)[2]
    del results["rows"][0]["fg_iou"]
    path.write_text(json.dumps(results))
    with pytest.raises(ValueError, match=r"bench.json.*fg_iou"):
        bench.read_results(path)
    path.write_text("{")
    with pytest.raises(ValueError, match="bench.json"):
        bench.read_results(path)
