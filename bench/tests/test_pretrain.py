"""Tests for bench.pretrain and the backbone weights it shipped in data/."""

import itertools

import numpy as np
import pytest

from bench import pretrain
from fcnlib import backbone, config, deeplab, files, models, pipeline, resnet, synthetic


def test_shipped_weights_match_their_checksum():
    recorded = config.QUICK_BACKBONE_SHA256_FILE.read_text().split()
    assert recorded[1] == config.QUICK_BACKBONE_FILE.name
    assert files.sha256(config.QUICK_BACKBONE_FILE) == recorded[0]
    assert config.QUICK_BACKBONE_FILE.stat().st_size < 20 * 2**20
    assert recorded[0] in (config.SHIPPED_DATA_DIR / "README.md").read_text()


def test_synthetic_weights_fill_every_backbone_layer_of_a_quick_fcn():
    fcn = models.fcn32s(6, width=config.QUICK.width, fc6_kernel=3)
    copied = backbone.load_backbone_weights(fcn, "synthetic")
    convs = [f"block{b}_conv{i}" for b, n in enumerate((2, 2, 3, 3, 3), 1) for i in range(1, n + 1)]
    assert copied == convs + ["fc6", "fc7"]
    classifier = backbone.quick_classifier()
    classifier.load_weights(config.QUICK_BACKBONE_FILE)
    fc1 = classifier.get_layer("fc1").kernel.numpy()
    fc6 = fcn.get_layer("fc6").kernel.numpy()
    # fc1's input row for position (i, j), channel c of the 3x3x128 block5_pool map: (3 i + j) 128 + c.
    for i, j, c in [(0, 0, 0), (2, 1, 77), (1, 2, 127)]:
        np.testing.assert_array_equal(fc6[i, j, c], fc1[(3 * i + j) * 128 + c])
    np.testing.assert_array_equal(fcn.get_layer("fc7").kernel.numpy()[0, 0],
                                  classifier.get_layer("fc2").kernel.numpy())


def test_shipped_backbone_recognises_signs_on_unseen_scenes():
    images, masks = synthetic.generate(96, config.QUICK.image_size, "multiclass", seed=999)
    labels = synthetic.presence_labels(masks, len(config.MULTICLASS_CLASSES))
    classifier = backbone.quick_classifier()
    classifier.load_weights(config.QUICK_BACKBONE_FILE)
    logits = classifier.predict(pipeline.preprocess_vgg16(images), verbose=0)
    assert pretrain.label_scores(labels, logits)["auc"].mean() > 0.7  # Chance is 0.5.


def test_label_scores_against_pairwise_counting():
    rng = np.random.default_rng(0)
    labels = (rng.random((40, 3)) < 0.4).astype(np.float32)
    logits = np.round(rng.normal(size=(40, 3)) + labels, 1)  # Rounded, so that some scores tie.
    scores = pretrain.label_scores(labels, logits)
    for column in range(3):
        pos = logits[labels[:, column] == 1, column]
        neg = logits[labels[:, column] == 0, column]
        wins = [1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg)]
        assert scores["auc"][column] == pytest.approx(np.mean(wins))
        predicted, truth = logits[:, column] > 0, labels[:, column] == 1
        precision, recall = (predicted & truth).sum() / predicted.sum(), (predicted & truth).sum() / truth.sum()
        assert scores["f1"][column] == pytest.approx(2 * precision * recall / (precision + recall))
    assert scores["label_accuracy"] == pytest.approx(((logits > 0) == (labels == 1)).mean())
    assert np.isnan(pretrain.label_scores(np.ones((4, 1)), np.zeros((4, 1)))["auc"][0])


def test_entry_point_smoke_run(tmp_path):
    output = tmp_path / "tiny.weights.h5"
    args = ["--epochs", "1", "--num-images", "8", "--num-val", "8", "--batch-size", "4",
            "--output", str(output), "--quiet"]
    written = pretrain.main(args)
    assert written["weights"] == output and output.is_file()
    assert written["sha256"] == tmp_path / "tiny.sha256"
    assert written["sha256"].read_text() == f"{files.sha256(output)}  tiny.weights.h5\n"
    readme = written["readme"].read_text()
    assert written["readme"] == tmp_path / "tiny.README.md" and "--num-images 8" in readme
    assert written["digest"] in readme
    assert not list(tmp_path.glob("*.part"))  # Atomic writes leave no temporary files behind.
    fcn = models.fcn8s(6, width=config.QUICK.width, fc6_kernel=3)
    assert "fc7" in backbone.load_backbone_weights(fcn, output)
    # The same seed gives the same weights.
    again = pretrain.main(args[:-3] + ["--output", str(tmp_path / "again.weights.h5"), "--quiet"])
    assert again["digest"] == written["digest"]


def test_bad_arguments_fail_before_training(tmp_path):
    with pytest.raises(ValueError, match="weights.h5"):
        pretrain.main(["--output", str(tmp_path / "model.h5")])
    with pytest.raises(ValueError, match="epochs"):
        pretrain.train_backbone(epochs=0)


# Notebook 08's small ResNet50: resnet.quick_resnet_classifier(), shipped as config.QUICK_RESNET_FILE.

def test_shipped_resnet_weights_match_their_checksum_and_recipe():
    recorded = config.QUICK_RESNET_SHA256_FILE.read_text().split()
    assert recorded[1] == config.QUICK_RESNET_FILE.name
    assert files.sha256(config.QUICK_RESNET_FILE) == recorded[0]
    assert config.QUICK_RESNET_FILE.stat().st_size < 20 * 2**20
    readme = pretrain.companion_paths(config.QUICK_RESNET_FILE)[1]
    assert readme == config.SHIPPED_DATA_DIR / "resnet50_eighth_synthetic.README.md"
    assert recorded[0] in readme.read_text() and "--backbone resnet50" in readme.read_text()


def test_synthetic_resnet_weights_load_by_name_into_the_d2l_fcn_and_deeplab():
    classifier = resnet.quick_resnet_classifier(pretrained=True)
    fcn = resnet.fcn_resnet50(6, width=resnet.QUICK_WIDTH, blocks=resnet.QUICK_BLOCKS, weights="synthetic")
    trunk = [layer.name for layer in classifier.layers if layer.weights and layer.name.startswith("conv")]
    assert [layer.name for layer in fcn.layers if layer.name in trunk] == trunk
    for name in ("conv1_conv", "conv3_block1_2_bn", "conv5_block1_3_conv"):
        for mine, theirs in zip(fcn.get_layer(name).get_weights(), classifier.get_layer(name).get_weights(), strict=False):
            np.testing.assert_array_equal(mine, theirs)  # BatchNorm's moving statistics too.
    lab = deeplab.deeplabv3_plus(6, width=resnet.QUICK_WIDTH, blocks=resnet.QUICK_BLOCKS,
                                 image_size=resnet.QUICK_IMAGE_SIZE, weights="synthetic")
    np.testing.assert_array_equal(lab.get_layer("conv5_block1_2_conv").kernel.numpy(),
                                  classifier.get_layer("conv5_block1_2_conv").kernel.numpy())
    with pytest.raises(ValueError, match="conv2_block2.*blocks"):  # ResNet50's depth: more blocks than shipped.
        resnet.fcn_resnet50(6, width=resnet.QUICK_WIDTH, blocks=(2, 1, 1, 1), weights="synthetic")
    with pytest.raises(ValueError, match="conv1_conv.*width"):
        resnet.fcn_resnet50(6, width=0.25, blocks=resnet.QUICK_BLOCKS, weights="synthetic")


def test_shipped_resnet_recognises_signs_on_unseen_scenes():
    images, masks = synthetic.generate(96, resnet.QUICK_IMAGE_SIZE, "multiclass", seed=999)
    labels = synthetic.presence_labels(masks, len(config.MULTICLASS_CLASSES))
    logits = resnet.quick_resnet_classifier(pretrained=True).predict(pipeline.preprocess_vgg16(images), verbose=0)
    assert pretrain.label_scores(labels, logits)["auc"].mean() > 0.75  # Chance is 0.5.


def test_shipped_resnet_is_checked_before_use(tmp_path, monkeypatch):
    weights, sha = tmp_path / "r.weights.h5", tmp_path / "r.sha256"
    monkeypatch.setattr(config, "QUICK_RESNET_FILE", weights)
    monkeypatch.setattr(config, "QUICK_RESNET_SHA256_FILE", sha)
    with pytest.raises(FileNotFoundError, match="r.weights.h5.*--backbone resnet50"):
        resnet.quick_resnet_classifier(pretrained=True)
    weights.write_bytes(b"weights")
    sha.write_text("0" * 64 + "  r.weights.h5\n")
    with pytest.raises(ValueError, match="SHA-256.*--backbone resnet50"):
        resnet.fcn_resnet50(6, width=resnet.QUICK_WIDTH, blocks=resnet.QUICK_BLOCKS, weights="synthetic")


def test_resnet_entry_point_smoke_run(tmp_path):
    output = tmp_path / "small.weights.h5"
    args = ["--backbone", "resnet50", "--epochs", "1", "--num-images", "8", "--num-val", "8",
            "--batch-size", "4", "--output", str(output), "--quiet"]
    written = pretrain.main(args)
    assert written["sha256"].read_text() == f"{files.sha256(output)}  small.weights.h5\n"
    readme = written["readme"].read_text()
    assert "ResNet50" in readme and "--backbone resnet50 --epochs 1" in readme and written["digest"] in readme
    assert not list(tmp_path.glob("*.part"))
    fcn = resnet.fcn_resnet50(6, width=resnet.QUICK_WIDTH, blocks=resnet.QUICK_BLOCKS, weights=output)
    source = resnet.quick_resnet_classifier()
    source.load_weights(output)
    np.testing.assert_array_equal(fcn.get_layer("conv1_conv").kernel.numpy(),
                                  source.get_layer("conv1_conv").kernel.numpy())
    with pytest.raises(SystemExit):
        pretrain.main(["--backbone", "alexnet"])
