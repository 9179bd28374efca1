"""Trains the quick profile's backbone: a quarter-width VGG16 that learns which signs a scene holds.

The full profile starts its FCNs from ImageNet VGG16. The quick profile has no internet and a CPU,
so it starts from a small VGG16 (``backbone.quick_classifier()``: width 0.25, 96x96 input) trained
here on synthetic multiclass scenes to answer "which of the five sign classes appear?", a
multi-label task (``synthetic.presence_labels``) with a sigmoid cross-entropy on logits. The
classifier must find and tell signs apart, so its features are a useful start for segmenting them.

The result ships in ``data/``: the weights (``config.QUICK_BACKBONE_FILE``), their SHA-256
(``config.QUICK_BACKBONE_SHA256_FILE``) and ``data/README.md`` with the recipe and the measured
scores. Rebuild them with::

    python -m bench.pretrain [--epochs N --num-images N --seed S --output PATH]

The scenes come from seeds that the FCN splits (``synthetic.SPLIT_SEEDS``) never use, so the
backbone has seen none of the FCNs' validation or test images.

``--backbone resnet50`` trains notebook 08's small ResNet50 (``resnet.quick_resnet_classifier()``: 1/8 wide,
one bottleneck block per stage, 64x64 input) on the same task and writes
``config.QUICK_RESNET_FILE`` with its checksum and ``resnet50_eighth_synthetic.README.md``. With
BatchNorm after every convolution it needs neither the data-dependent start nor the warm-up.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from scipy import stats

from fcnlib import backbone, config, files, pipeline, resnet, synthetic

# Seeds of the pretraining scenes: train uses TRAIN_SEED + seed, validation VAL_SEED + seed.
TRAIN_SEED, VAL_SEED = 100, 200
DEFAULTS = dict(epochs=6, num_images=3600, num_val=400, seed=0, batch_size=32, learning_rate=5e-4)
RESNET_DEFAULTS = dict(epochs=20, num_images=4000, num_val=400, seed=0, batch_size=32, learning_rate=1e-3)
BACKBONES = ("vgg16", "resnet50")


def _dataset(images, labels, batch_size, seed=None):
    data = tf.data.Dataset.from_tensor_slices((images, labels))
    if seed is not None:  # Training: reshuffle each epoch, flip half the scenes left-right.
        data = data.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
        data = data.map(lambda x, y: (tf.image.random_flip_left_right(x, seed=seed), y))
    return data.batch(batch_size).map(lambda x, y: (pipeline.preprocess_vgg16(x), y))


def label_scores(labels: np.ndarray, logits: np.ndarray) -> dict:
    """Per-label ROC AUC and F1 (at probability 0.5), plus label and exact-match accuracy.

    The AUC is the Mann-Whitney statistic: the chance that a random positive scene scores above a
    random negative one (ties count half).
    """
    predicted = logits > 0
    auc, f1 = [], []
    for column in range(labels.shape[1]):
        truth, score = labels[:, column] > 0.5, logits[:, column]
        positives, negatives = truth.sum(), (~truth).sum()
        ranks = stats.rankdata(score)
        pairs = positives * negatives  # No pairs (only one kind of scene): the AUC is undefined.
        auc.append((ranks[truth].sum() - positives * (positives + 1) / 2) / pairs if pairs else np.nan)
        hits = (predicted[:, column] & truth).sum()
        f1.append(2 * hits / max(predicted[:, column].sum() + positives, 1))
    return {
        "auc": np.array(auc), "f1": np.array(f1),
        "label_accuracy": float((predicted == (labels > 0.5)).mean()),
        "exact_match": float((predicted == (labels > 0.5)).all(axis=1).mean()),
    }


def start_from_scratch(model: keras.Model, sample: np.ndarray, prior: np.ndarray, seed: int = 0):
    """Initialises a VGG without batch normalisation so that signals neither die nor explode.

    Each convolution and dense layer gets He-normal weights, rescaled so that its pre-activation
    values have unit standard deviation on ``sample`` (layer by layer, in order: a data-dependent
    start in the spirit of LSUV). The ``predictions`` layer starts at zero weights and a bias of the
    labels' log prior odds, so the first loss is that of always predicting the label frequencies.
    With Keras's default Glorot start and caffe-scaled inputs (values up to +-150) this network did
    not learn in our runs; see data/README.md.

    Args:
        model: A fresh ``backbone.quick_classifier()``.
        sample: Preprocessed images to measure the activations on.
        prior: Share of positive scenes per label.
        seed: Seeds the He-normal draws.
    """
    x = keras.ops.convert_to_tensor(sample)
    for index, layer in enumerate(model.layers[1:]):
        if layer.name == "predictions":
            layer.kernel.assign(np.zeros(layer.kernel.shape, np.float32))
            layer.bias.assign(np.log(prior / (1 - prior)).astype(np.float32))
            break
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            layer.kernel.assign(keras.initializers.HeNormal(seed + index)(layer.kernel.shape))
            if isinstance(layer, keras.layers.Conv2D):
                z = keras.ops.conv(x, layer.kernel, padding="same") + layer.bias
            else:
                z = keras.ops.matmul(x, layer.kernel) + layer.bias
            layer.kernel.assign(layer.kernel / keras.ops.std(z))
        x = layer(x)


def train_backbone(epochs=DEFAULTS["epochs"], num_images=DEFAULTS["num_images"],
                   num_val=DEFAULTS["num_val"], seed=DEFAULTS["seed"],
                   batch_size=DEFAULTS["batch_size"], learning_rate=DEFAULTS["learning_rate"],
                   verbose=2):
    """Trains ``backbone.quick_classifier()`` on synthetic scene-level sign labels.

    Args:
        epochs: Passes over the training scenes.
        num_images: Training scenes (generated, 96x96, multiclass).
        num_val: Validation scenes, from a separate seed.
        seed: Seeds the scenes, the initial weights, the shuffling and the flips.
        batch_size: Scenes per step.
        learning_rate: Adam's learning rate.
        verbose: Keras progress output (0 silent, 1 bar, 2 one line per epoch).

    Returns:
        ``(model, report)``: the trained classifier and a dict of the settings, the validation
        scores of :func:`label_scores` and the training time in seconds.

    Example:

    >>> model, report = train_backbone(epochs=1, num_images=64, num_val=32)  # doctest: +SKIP
    """
    return _train_classifier("vgg16", epochs, num_images, num_val, seed, batch_size, learning_rate, verbose)


def _check_counts(**counts):
    for name, value in counts.items():
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}.")


def train_resnet_backbone(epochs=RESNET_DEFAULTS["epochs"], num_images=RESNET_DEFAULTS["num_images"],
                          num_val=RESNET_DEFAULTS["num_val"], seed=RESNET_DEFAULTS["seed"],
                          batch_size=RESNET_DEFAULTS["batch_size"],
                          learning_rate=RESNET_DEFAULTS["learning_rate"], verbose=2):
    """Trains ``resnet.quick_resnet_classifier()`` on synthetic scene-level sign labels (64x64 scenes).

    The task, the seeds, the flips and the loss are :func:`train_backbone`'s; the start is Keras'
    default (BatchNorm keeps the signal in range) and Adam's rate follows a cosine from
    ``learning_rate`` down to zero. Arguments and result as :func:`train_backbone`.

    Example:

    >>> model, report = train_resnet_backbone(epochs=1, num_images=64, num_val=32)  # doctest: +SKIP
    """
    return _train_classifier("resnet50", epochs, num_images, num_val, seed, batch_size, learning_rate,
                             verbose)


def _train_classifier(kind, epochs, num_images, num_val, seed, batch_size, learning_rate, verbose):
    """The training behind :func:`train_backbone` (``kind="vgg16"``) and :func:`train_resnet_backbone`."""
    _check_counts(epochs=epochs, num_images=num_images, num_val=num_val)
    vgg = kind == "vgg16"
    size = config.QUICK.image_size if vgg else resnet.QUICK_IMAGE_SIZE
    num_classes = len(config.MULTICLASS_CLASSES)
    train_x, train_masks = synthetic.generate(num_images, size, "multiclass", TRAIN_SEED + seed)
    val_x, val_masks = synthetic.generate(num_val, size, "multiclass", VAL_SEED + seed)
    train_y = synthetic.presence_labels(train_masks, num_classes)
    val_y = synthetic.presence_labels(val_masks, num_classes)
    keras.utils.set_random_seed(seed)
    steps = -(-num_images // batch_size)
    if vgg:
        model = backbone.quick_classifier()
        prior = np.clip(train_y.mean(axis=0), 0.01, 0.99)
        start_from_scratch(model, pipeline.preprocess_vgg16(train_x[:64]), prior, seed)
        # Warm up linearly for one epoch (large first Adam steps kill ReLUs in a net without batch
        # normalisation), then decay along a cosine to zero.
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=max(1, (epochs - 1) * steps), warmup_target=learning_rate, warmup_steps=steps
        )
    else:  # BatchNorm: Keras' default start, no warm-up.
        model = resnet.quick_resnet_classifier()
        schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=epochs * steps)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[keras.metrics.BinaryAccuracy(threshold=0.0, name="label_accuracy"),
                 keras.metrics.AUC(multi_label=True, from_logits=True, name="auc")],
    )
    start = time.perf_counter()
    model.fit(_dataset(train_x, train_y, batch_size, seed), epochs=epochs, verbose=verbose,
              validation_data=_dataset(val_x, val_y, batch_size), shuffle=False)  # Shuffled above.
    seconds = time.perf_counter() - start
    logits = model.predict(_dataset(val_x, val_y, batch_size), verbose=0)
    settings = dict(epochs=epochs, num_images=num_images, num_val=num_val, seed=seed,
                    batch_size=batch_size, learning_rate=learning_rate)
    report = {"settings": settings, "scores": label_scores(val_y, logits), "seconds": seconds,
              "positive_share": val_y.mean(axis=0)}
    return model, report


def companion_paths(output) -> tuple[Path, Path]:
    """Where the checksum and the recipe of a weights file go: ``data/`` names for the shipped
    file, ``<stem>.sha256`` and ``<stem>.README.md`` beside any other output."""
    output = Path(output)
    if output.resolve() == Path(config.QUICK_BACKBONE_FILE).resolve():
        return Path(config.QUICK_BACKBONE_SHA256_FILE), Path(config.SHIPPED_DATA_DIR) / "README.md"
    stem = output.name.removesuffix(".h5").removesuffix(".weights")
    return output.with_name(f"{stem}.sha256"), output.with_name(f"{stem}.README.md")


def _score_rows(report) -> str:
    scores = report["scores"]
    return "\n".join(
        f"| {name} | {share:.2f} | {auc:.3f} | {f1:.3f} |"
        for name, share, auc, f1 in zip(config.MULTICLASS_CLASSES[1:], report["positive_share"],
                                        scores["auc"], scores["f1"], strict=False)
    )


def _resnet_readme(output, report, digest, argv, sha_name) -> str:
    s, scores = report["settings"], report["scores"]
    names = config.MULTICLASS_CLASSES[1:]
    command = "python -m bench.pretrain" + "".join(f" {arg}" for arg in argv)
    return f"""# Shipped data: notebook 08's small ResNet50

`{output.name}` holds the weights of `fcnlib.resnet.quick_resnet_classifier()`: ResNet50's stem and four
stages with the layer names of `keras.applications.ResNet50`, at width {resnet.QUICK_WIDTH} (8 to 256
channels) with {resnet.QUICK_BLOCKS} bottleneck blocks per stage (ResNet50 has (3, 4, 6, 3)),
{resnet.QUICK_IMAGE_SIZE}x{resnet.QUICK_IMAGE_SIZE} RGB input with caffe preprocessing
(`keras.applications.resnet50.preprocess_input`, the same as `fcnlib.pipeline.preprocess_vgg16`),
global average pooling and {len(names)} logits. `fcnlib.resnet.load_resnet50_weights(model, "synthetic")`
copies its `conv*` layers (BatchNorm moving statistics included) into any model built on
`resnet50_trunk(width={resnet.QUICK_WIDTH}, blocks={resnet.QUICK_BLOCKS})`, after checking the file
against `{sha_name}`.

## Recipe

    {command}

- Task: multi-label "which sign classes appear in the scene" (`synthetic.presence_labels`; a class
  counts when it covers at least {synthetic.MIN_PRESENCE_PIXELS} pixels): {", ".join(names)}.
- Data: {s["num_images"]} training scenes, `synthetic.generate(n, {resnet.QUICK_IMAGE_SIZE}, "multiclass", seed={TRAIN_SEED + s["seed"]})`,
  with random left-right flips; {s["num_val"]} validation scenes from seed {VAL_SEED + s["seed"]}. The FCN
  splits use seeds {sorted(synthetic.SPLIT_SEEDS.values())}, so the backbone never saw an FCN validation or test scene.
- Loss and optimiser: sigmoid binary cross-entropy on the logits; Adam, batch {s["batch_size"]}, {s["epochs"]} epochs;
  the learning rate follows a cosine from {s["learning_rate"]} down to zero. Keras' default start; seeded with
  `keras.utils.set_random_seed({s["seed"]})`.

## Result on the {s["num_val"]} validation scenes

Label accuracy {scores["label_accuracy"]:.3f}; exact match (all five labels right) {scores["exact_match"]:.3f};
mean ROC AUC {np.nanmean(scores["auc"]):.3f}; mean F1 {np.nanmean(scores["f1"]):.3f}.

| class | share present | ROC AUC | F1 (p > 0.5) |
|---|---|---|---|
{_score_rows(report)}

Training took {report["seconds"] / 60:.1f} minutes on {_machine()} (TensorFlow {tf.__version__},
Keras {keras.__version__}).

## File

`{output.name}`: {output.stat().st_size:,} bytes (float32), SHA-256
`{digest}`.
Check it with `sha256sum -c {sha_name}` in this folder.
"""


def _readme(output, report, digest, argv, sha_name) -> str:
    s, scores = report["settings"], report["scores"]
    names = config.MULTICLASS_CLASSES[1:]
    rows = _score_rows(report)
    command = "python -m bench.pretrain" + "".join(f" {arg}" for arg in argv)
    return f"""# Shipped data: the quick profile's backbone

`{output.name}` holds the weights of `fcnlib.backbone.quick_classifier()`: VGG16 at width
{config.QUICK.width} (channels 16-32-64-128-128, `fc1` and `fc2` of {int(4096 * config.QUICK.width)} units),
{config.QUICK.image_size}x{config.QUICK.image_size} RGB input with caffe preprocessing, {len(names)} logits.
`fcnlib.backbone.load_backbone_weights(model, "synthetic")` copies its `block*` convolutions into
any quick-profile model and reshapes `fc1` / `fc2` into an FCN's `fc6` (3x3) and `fc7` (1x1),
after checking the file against `{Path(config.QUICK_BACKBONE_SHA256_FILE).name}`.

## Recipe

    {command}

- Task: multi-label "which sign classes appear in the scene" (`synthetic.presence_labels`; a class
  counts when it covers at least {synthetic.MIN_PRESENCE_PIXELS} pixels): {", ".join(names)}.
- Data: {s["num_images"]} training scenes, `synthetic.generate(n, 96, "multiclass", seed={TRAIN_SEED + s["seed"]})`,
  with random left-right flips; {s["num_val"]} validation scenes from seed {VAL_SEED + s["seed"]}. The FCN
  splits use seeds {sorted(synthetic.SPLIT_SEEDS.values())}, so the backbone never saw an FCN validation or test scene.
- Loss and optimiser: sigmoid binary cross-entropy on the logits; Adam, batch {s["batch_size"]}, {s["epochs"]} epochs;
  the learning rate rises linearly to {s["learning_rate"]} during the first epoch, then follows a
  cosine down to zero.
- Start (`pretrain.start_from_scratch`): He-normal weights rescaled layer by layer to unit
  pre-activation spread on 64 training scenes; `predictions` at zero weights and the labels' log
  prior odds as bias. Seeded with `keras.utils.set_random_seed({s["seed"]})`; the same command gives the
  same file.
- What did not train: a VGG without batch normalisation is fragile. With the Keras default (Glorot)
  start the validation AUC stayed at 0.5-0.63; Adam at 1e-3 without warm-up, or at 3e-4 with
  batch 16, killed the ReLUs (constant outputs, AUC 0.5).

## Result on the {s["num_val"]} validation scenes

Label accuracy {scores["label_accuracy"]:.3f}; exact match (all five labels right) {scores["exact_match"]:.3f};
mean ROC AUC {np.nanmean(scores["auc"]):.3f}; mean F1 {np.nanmean(scores["f1"]):.3f}.

| class | share present | ROC AUC | F1 (p > 0.5) |
|---|---|---|---|
{rows}

Training took {report["seconds"] / 60:.1f} minutes on {_machine()} (TensorFlow {tf.__version__},
Keras {keras.__version__}).

## File

`{output.name}`: {output.stat().st_size:,} bytes (float32), SHA-256
`{digest}`.
Check it with `sha256sum -c {sha_name}` in this folder.
"""


def _machine() -> str:
    return f"a {os.cpu_count()}-core {platform.machine()} CPU"


def _check_output(output) -> Path:
    output = Path(output)
    if not output.name.endswith(".weights.h5"):
        raise ValueError(f"The output must be a Keras weights file ending in .weights.h5; got {output}.")
    return output


def write_outputs(model, report, output, argv=(), kind="vgg16") -> dict:
    """Writes the weights, their SHA-256 and the recipe README, each atomically.

    ``kind`` is the backbone (``"vgg16"`` or ``"resnet50"``), which picks the README.
    """
    output = _check_output(output)
    if kind not in BACKBONES:
        raise ValueError(f"kind must be one of {BACKBONES}; got {kind!r}.")
    sha_path, readme_path = companion_paths(output)
    with tempfile.TemporaryDirectory() as folder:
        staged = Path(folder) / output.name  # Keras insists on the .weights.h5 suffix.
        # A compiled model would also save its optimizer's state (three times the size); a fresh
        # copy holds the weights alone.
        bare = backbone.quick_classifier() if kind == "vgg16" else resnet.quick_resnet_classifier()
        bare.set_weights(model.get_weights())
        bare.save_weights(staged)
        with files.atomic_path(output) as tmp:
            shutil.copyfile(staged, tmp)
    digest = files.sha256(output)
    with files.atomic_path(sha_path) as tmp:
        tmp.write_text(f"{digest}  {output.name}\n")
    with files.atomic_path(readme_path) as tmp:
        readme = _readme if kind == "vgg16" else _resnet_readme
        tmp.write_text(readme(output, report, digest, argv, sha_path.name))
    return {"weights": output, "sha256": sha_path, "readme": readme_path, "digest": digest}


def main(argv=None) -> dict:
    """The command line: trains, then writes the weights, checksum and README; returns their paths."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="python -m bench.pretrain", description=__doc__.split("\n")[0])
    parser.add_argument("--backbone", choices=BACKBONES, default="vgg16",
                        help="vgg16: the quick profile's backbone; resnet50: notebook 08's")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--num-images", type=int)
    parser.add_argument("--num-val", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--quiet", action="store_true", help="no per-epoch progress lines")
    args = parser.parse_args(argv)
    vgg = args.backbone == "vgg16"
    defaults = DEFAULTS if vgg else RESNET_DEFAULTS
    settings = {name: defaults[name] if getattr(args, name) is None else getattr(args, name)
                for name in defaults}
    output = args.output or (config.QUICK_BACKBONE_FILE if vgg else config.QUICK_RESNET_FILE)
    _check_output(output)
    trainer = train_backbone if vgg else train_resnet_backbone
    model, report = trainer(**settings, verbose=0 if args.quiet else 2)
    written = write_outputs(model, report, output, argv, kind=args.backbone)
    scores = report["scores"]
    print(f"Validation: label accuracy {scores['label_accuracy']:.3f}, mean AUC "
          f"{scores['auc'].mean():.3f}, mean F1 {scores['f1'].mean():.3f}; "
          f"{report['seconds']:.0f} s. Wrote {written['weights']} ({written['digest'][:12]}...).")
    return written


if __name__ == "__main__":
    main()
