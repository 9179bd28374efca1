"""Benchmarks: the series' models and the recipes learners copy, on the same data with one budget.

    python -m bench [--epochs N] [--output build/bench/results.md] [--json data/bench_quick.json]
    python -m bench --fcn32s-head [--seeds 0 1 2]   # why d2l's head beats the series' FCN-32s
    python -m bench --fcn8s-schedules [--seeds 0 1 2]   # FCN-8s staged or at once, scaled or not
    python -m bench --fcn32s-head --variants "d2l head, fixed upsampler"   # one variant's row
    python -m bench --fcn8s-schedules --variants staged --image-size 128   # on larger scenes
    python -m bench --coarse-ideal   # ideal coarse masks per scene size and stride
    python -m bench --plateau [--epochs 40]   # where FCN-8s levels off, per scene size

Every model trains on the profile's binary training split for the same number of epochs with Adam
at the profile's learning rate (the copied recipes keep their own optimiser settings where those
are the point), then is scored on the same held-out test split. Nothing comes from the checkpoint
cache: each run trains afresh in a temporary cache, so the seconds are real (a staged FCN-16s or
FCN-8s is charged only its own stage; the earlier stages have their own rows). The run also
measures the input pipeline against in-memory tensors, the achieved GFLOP/s of a training step
against a matrix multiply, and copies each notebook's wall time from the last ``make series``
report. The result is one markdown file, which bench/README.md shows, and the same numbers as JSON in
``data/bench_<profile>.json`` (:func:`results_json`: the machine, the date, the profile's settings and
one object per row, each with its kind), which the lessons read through :mod:`fcnlib.results`;
``bench/tests/test_benchmark.py`` checks that bench/README.md's table and the quick profile's file agree.

Each experiment that runs instead of the table is a row of :data:`EXPERIMENTS_BY_FLAG`; they all
end in the same place: the report's lines, written atomically next to ``--output``, printed, returned.

The copied recipes (keras.io, d2l, the TF1 blog) are built and trained by :mod:`bench.published`,
which names their sources; this module only times and scores them.

The ResNet50 FCN (d2l's head) and DeepLabv3+ rows are :func:`fcnlib.resnet.for_profile` and
:func:`fcnlib.deeplab.for_profile`: ImageNet ResNet50 where the profile's VGG16 is ImageNet's,
else random weights at the profile's width (notebook 08).

The lab notes, one entry per experiment: bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from bench import published
from fcnlib import budget, config, files, metrics, models, pipeline, recipes, results, train

PUBLISHED = [  # (row name, published.BUILDERS key): the recipes learners copy, each trained its own way.
    ("keras.io FCN-8S", "keras_io_fcn8s"), ("d2l FCN", "d2l_fcn"), ("TF1 blog FCN-8s", "tf1_blog_fcn8s"),
    ("U-Net (TF tutorial, frozen encoder)", "tf_tutorial_unet"),
    ("U-Net (TF tutorial, fine-tuned)", "tf_tutorial_unet_fine_tuned"),
    ("ResNet50 FCN, d2l's head", "resnet50_fcn"), ("DeepLabv3+ (ResNet50)", "deeplabv3_plus"),
]
# Why d2l's head beats the series' FCN-32s: its Glorot score layer, with a fixed and a learned upsampler.
EXPERIMENTS = [("FCN-32s fixed, Glorot score", "fcn32s_glorot_score"),
               ("FCN-32s learned, Glorot score", "fcn32s_learned_glorot_score")]
SERIES = [  # (row name, recipes.train_model arguments)
    ("dense baseline", ("dense",)), ("FCN-32s fixed", ("fcn32s",)),
    ("FCN-32s learned", ("fcn32s", "binary", "learned")),
    ("FCN-32s random", ("fcn32s", "binary", "random")), ("FCN-16s staged", ("fcn16s",)),
    ("FCN-8s staged", ("fcn8s",)), ("FCN-8s at-once", ("fcn8s", "binary", "fixed", "at_once")),
]



def _fcn32s_variant(profile, score="zeros", upsampling="fixed", dropout=0.5, fc6="profile", score_scale=1.0):
    """The series' FCN-32s with one or more of d2l's choices; ``fc6="centre"`` makes it 1x1.

    A 1x1 ``fc6`` keeps the centre tap of the pretrained ``fc6`` (the classifier's ``fc1`` at the
    middle cell of its k x k window), so each score cell sees only its own 32x32 block instead of
    a k x k window of them (the whole 96x96 image in the quick profile, where k = 3).
    ``score_scale`` multiplies ``score_fr``'s initial kernel.
    """
    kernel = recipes.fc6_kernel(profile)

    def build(weights, fc6_kernel):
        return models.fcn32s(2, weights=weights, width=profile.width, upsampling=upsampling,
                             fc6_kernel=fc6_kernel, dropout=dropout, score_initializer=score)

    model = build(profile.backbone_weights, kernel)
    if fc6 != "profile":
        narrow = build(None, 1)
        models.transfer_weights(model, narrow)  # Everything but fc6, whose kernel differs in size.
        fc6_kernel, fc6_bias = model.get_layer("fc6").get_weights()
        middle = kernel // 2
        narrow.get_layer("fc6").set_weights([fc6_kernel[middle:middle + 1, middle:middle + 1], fc6_bias])
        model = narrow
    if score_scale != 1.0:
        score_fr = model.get_layer("score_fr")
        score_kernel, score_bias = score_fr.get_weights()
        score_fr.set_weights([score_kernel * score_scale, score_bias])
    return model


# The FCN-32s head experiment (``python -m bench --fcn32s-head``): the series' FCN-32s with
# d2l's choices added one at a time, and d2l's head itself, each trained the same way.
HEAD_VARIANTS = {
    "FCN-32s (paper): zero score, fixed upsampler": lambda p: _fcn32s_variant(p),
    "zero score, learned upsampler": lambda p: _fcn32s_variant(p, upsampling="learned"),
    "Glorot score, fixed upsampler": lambda p: _fcn32s_variant(p, score="glorot_uniform"),
    "Glorot score, learned upsampler": lambda p: _fcn32s_variant(p, "glorot_uniform", "learned"),
    "Glorot score, learned, no dropout": lambda p: _fcn32s_variant(p, "glorot_uniform", "learned", 0.0),
    "Glorot score, learned, 1x1 fc6": lambda p: _fcn32s_variant(p, "glorot_uniform", "learned", fc6="centre"),
    # fc7's 1,024 ReLU features give Glorot scores about 4.6 times the spread of d2l's on pool5's 128
    # (standard deviation 2.8 against 0.6 on 16 test scenes); x0.2 starts them at d2l's size.
    "Glorot score x0.2, learned": lambda p: _fcn32s_variant(p, "glorot_uniform", "learned", score_scale=0.2),
    "d2l head: no fc6/fc7, Glorot score, learned": lambda p: published.d2l_fcn(p),
    "d2l head, fixed upsampler": lambda p: published.d2l_fcn(p, upsampling="fixed"),
}


def fcn32s_head_experiment(profile, seeds=(0, 1, 2), epochs=None, variants=None) -> list[dict]:
    """Trains every head variant once per seed; returns one ``{variant, seed, fg_iou, mean_iou}`` each.

    Every run trains like the series' recipes (Adam at the profile's learning rate,
    ``metrics.segmentation_loss``, a freshly built training split) from a seeded start: the seed
    sets the weights that are not pretrained, the dropout masks and the batch order.
    """
    names = _chosen(variants, HEAD_VARIANTS, "head variants")
    epochs = epochs or profile.epochs
    data = recipes.make_datasets("binary", profile)
    runs = []
    with _per_seed(seeds, names) as pairs:
        for seed, name in pairs:
            train.set_seed(seed)
            model = HEAD_VARIANTS[name](profile)
            train.set_seed(seed)
            train.fit(model, data.rebuild_train(), data["val"], epochs=epochs,
                      learning_rate=profile.learning_rate, verbose=0)
            scores = recipes.scores(model, data["test"])
            runs.append({"variant": name, "seed": seed, "fg_iou": float(scores["iou"][1]),
                         "mean_iou": float(scores["mean_iou"])})
            print(f"  seed {seed}, {name}: foreground IoU {runs[-1]['fg_iou']:.3f}", flush=True)
    return runs


def _chosen(variants, allowed, what) -> list:
    """``variants`` as a list (all of ``allowed`` when None); names the unknown ones."""
    names = list(allowed) if variants is None else list(variants)
    unknown = sorted(set(names) - set(allowed))
    if unknown:
        raise ValueError(f"Unknown {what} {unknown}; choose from {list(allowed)}.")
    return names


@contextlib.contextmanager
def _per_seed(seeds, names):
    """Yields the ``(seed, name)`` pairs of an experiment, setting ``recipes.SEED`` to each seed (the
    training split's shuffle reads it) and putting it back on exit, also after an error."""
    saved = recipes.SEED

    def pairs():
        for seed in seeds:
            recipes.SEED = seed
            for name in names:
                yield seed, name

    try:
        yield pairs()
    finally:
        recipes.SEED = saved


# The FCN-8s schedule experiment (``python -m bench --fcn8s-schedules``): the staged chain of
# the series against FCN-8s trained at once from the backbone, with the reference implementation's
# fixed skip scaling (x0.01, x0.0001) and without it, scored at each stage and at half the epochs.
# The last variant also learns its final 8x upsampler (``upscore8``, bilinear start): does the fixed
# bilinear kernel cap FCN-8s, as it caps FCN-32s on a 3x3 score map?
SCHEDULE_VARIANTS = ("staged", "at once, scaled skips", "at once, unscaled skips",
                     "at once, unscaled skips, learned upscore8")
STAGE_NAMES = {"fcn32s": "FCN-32s", "fcn16s": "FCN-16s", "fcn8s": "FCN-8s"}


def _train_epochs(model, train_data, epochs, learning_rate, score_at, data, on_score):
    """Trains ``model`` for ``epochs`` (compiled once, so Adam keeps its state between epochs) and
    calls ``on_score(epochs_done, seconds, scores)`` after each epoch in ``score_at``."""
    seconds = 0.0
    for done in range(1, epochs + 1):
        start = time.perf_counter()
        train.fit(model, train_data, epochs=1, learning_rate=learning_rate if done == 1 else None,
                  verbose=0)
        seconds += time.perf_counter() - start
        if done in score_at:
            on_score(done, seconds, recipes.scores(model, data["test"]))
    return seconds


def fcn8s_schedule_experiment(profile, seeds=(0, 1, 2), epochs=None, variants=None) -> list[dict]:
    """Trains FCN-8s staged and at once (with and without the skip scaling) once per seed.

    The last of ``SCHEDULE_VARIANTS`` is the unscaled at-once FCN-8s with ``upscore8`` trainable
    (bilinear start); every other upsampler of every variant stays fixed, as in the series.

    Returns one ``{variant, seed, epochs, seconds, fg_iou, mean_iou}`` per scored point: the staged
    chain after each stage (FCN-32s after ``epochs``, FCN-16s and FCN-8s after
    ``recipes.STAGED_EPOCH_SHARE`` of them more each, as ``recipes.train_model`` trains them), and
    each at-once FCN-8s after half its ``epochs`` and after all of them. ``epochs`` counts from the
    backbone; ``seconds`` is the training time up to that point (scoring not included). Every stage
    trains like the series' recipes: Adam at the profile's learning rate,
    ``metrics.segmentation_loss``, a freshly built training split, seeded weights and batch order.
    """
    names = _chosen(variants, SCHEDULE_VARIANTS, "schedules")
    epochs = epochs or profile.epochs
    stage_epochs = recipes.stage_epochs(epochs)
    data = recipes.make_datasets("binary", profile)
    runs = []
    with _per_seed(seeds, names) as pairs:
        for seed, name in pairs:
            def record(done, seconds, scores, name=name, seed=seed, offset=(0, 0.0), label=None):
                runs.append({"variant": label or name, "seed": seed, "epochs": offset[0] + done,
                             "seconds": offset[1] + seconds, "fg_iou": float(scores["iou"][1]),
                             "mean_iou": float(scores["mean_iou"])})
                print(f"  seed {seed}, {runs[-1]['variant']}, {runs[-1]['epochs']} epochs: "
                      f"foreground IoU {runs[-1]['fg_iou']:.3f}", flush=True)

            if name == "staged":
                previous, done, spent = None, 0, 0.0
                for variant, own in (("fcn32s", epochs), ("fcn16s", stage_epochs), ("fcn8s", stage_epochs)):
                    train.set_seed(seed)
                    model = recipes.build(variant, "binary", profile=profile)
                    if previous is not None:
                        models.transfer_weights(previous, model)
                    train.set_seed(seed)
                    label = f"staged {STAGE_NAMES[variant]}"
                    spent += _train_epochs(
                        model, data.rebuild_train(), own, profile.learning_rate, {own}, data,
                        lambda d, s, sc, o=(done, spent), lb=label: record(d, s, sc, offset=o, label=lb))
                    previous, done = model, done + own
                continue
            train.set_seed(seed)
            model = recipes.build("fcn8s", "binary", skip_scaling=name == "at once, scaled skips",
                                  profile=profile)
            model.get_layer("upscore8").trainable = name.endswith("learned upscore8")
            train.set_seed(seed)
            _train_epochs(model, data.rebuild_train(), epochs, profile.learning_rate,
                          {max(1, epochs // 2), epochs}, data, record)
    return runs


# The plateau experiment (``python -m bench --plateau``): how far FCN-8s goes when it trains
# many times the series' epochs, per scene size; scored at these epochs (and at the last one).
PLATEAU_SIZES = (96, 128)
PLATEAU_EPOCHS = 40
PLATEAU_SCORE_AT = (6, 12, 20, 30, 40, 60, 80)


def plateau_experiment(profile, sizes=PLATEAU_SIZES, epochs=PLATEAU_EPOCHS, seed=0) -> list[dict]:
    """Trains one FCN-8s at once (unscaled skips) per scene size for ``epochs``; scores it on the way.

    The profile's data at each size in ``sizes`` (the synthetic scenes scale with the image, so the
    same signs in more pixels), the profile's number of scenes, batch and learning rate, Adam compiled
    once, seeded weights and batch order. It answers "is it the budget or the model?": where the
    test split's foreground IoU levels off when the training time is not the limit. Returns one
    ``{size, epochs, seconds, fg_iou, mean_iou}`` per scored point (after each epoch of
    ``PLATEAU_SCORE_AT`` below ``epochs``, and after the last); ``seconds`` is the training time up to
    that point, scoring not included.
    """
    if epochs < 1 or not sizes:
        raise ValueError(f"The plateau experiment needs epochs >= 1 and at least one size; got epochs={epochs!r}, "
                         f"sizes={sizes!r}.")
    score_at = {done for done in PLATEAU_SCORE_AT if done < epochs} | {epochs}
    runs = []
    with _per_seed((seed,), ("at once, unscaled skips",)) as pairs:
        for _ in pairs:
            for size in sizes:
                sized = dataclasses.replace(profile, image_size=size)
                data = recipes.make_datasets("binary", sized)

                def record(done, seconds, scores, size=size):
                    runs.append({"size": size, "epochs": done, "seconds": seconds,
                                 "fg_iou": float(scores["iou"][1]), "mean_iou": float(scores["mean_iou"])})
                    print(f"  {size}x{size}, {done} epochs, {seconds:.0f} s: foreground IoU "
                          f"{runs[-1]['fg_iou']:.3f}", flush=True)

                train.set_seed(seed)
                model = recipes.build("fcn8s", "binary", profile=sized)
                train.set_seed(seed)
                _train_epochs(model, data.rebuild_train(), epochs, profile.learning_rate, score_at, data, record)
    return runs


def plateau_table_lines(runs) -> list[str]:
    """A markdown table of :func:`plateau_experiment`: per scene size and epochs, seconds and IoUs."""
    lines = ["| scene size | epochs | training (s) | foreground IoU | mean IoU |", "|---:|---:|---:|---:|---:|"]
    for run in runs:
        lines.append(f"| {run['size']}x{run['size']} | {run['epochs']} | {run['seconds']:.0f} | "
                     f"{run['fg_iou']:.3f} | {run['mean_iou']:.3f} |")
    return lines


def autotune_experiment(profile, repeats=2, epochs=None) -> list[dict]:
    """Trains the series' FCN-32s with tf.data's autotuner on and off, in turn, ``repeats`` times.

    Every run is ``recipes.train_model``'s: the same seeded weights and batches, Adam at the
    profile's rate, validation after each epoch; only ``tf.data.Options().autotune.enabled`` of the
    training and validation sets differs (``pipeline.make_dataset``'s ``autotune``). Returns one
    ``{autotune, repeat, seconds, fg_iou}`` per run: training seconds and the test split's
    foreground IoU, which should not depend on the switch.
    """
    data = {enabled: recipes.make_datasets("binary", profile, autotune=enabled) for enabled in (True, False)}
    return _on_off_runs(profile, "autotune", repeats, epochs, lambda enabled: data[enabled], lambda enabled: {},
                        data[False]["test"])


def xla_experiment(profile, repeats=2, epochs=None) -> list[dict]:
    """Trains the series' FCN-32s with its training step compiled by XLA and without, in turn.

    As :func:`autotune_experiment`, with ``jit_compile`` of ``train.fit`` as the switch (Keras'
    ``"auto"`` leaves XLA off on a CPU). The seconds include the compilation of the first epoch.
    Returns one ``{xla, repeat, seconds, fg_iou}`` per run.
    """
    data = recipes.make_datasets("binary", profile)
    return _on_off_runs(profile, "xla", repeats, epochs, lambda enabled: data,
                        lambda enabled: {"jit_compile": enabled}, data["test"])


def _on_off_runs(profile, switch, repeats, epochs, data_for, fit_options, test_data) -> list[dict]:
    """Trains the seeded FCN-32s with ``switch`` on and off, in turn, ``repeats`` times; times and scores it."""
    epochs = epochs or profile.epochs
    runs = []
    for repeat in range(repeats):
        for enabled in (True, False):
            train.set_seed(recipes.SEED)
            model = recipes.build("fcn32s", "binary", profile=profile)
            train.set_seed(recipes.SEED)  # As train_model: the shuffle's seed comes from the global one.
            data = data_for(enabled)
            train_data = data.rebuild_train()
            start = time.perf_counter()
            train.fit(model, train_data, data["val"], epochs=epochs, learning_rate=profile.learning_rate,
                      verbose=0, **fit_options(enabled))
            seconds = time.perf_counter() - start
            runs.append({switch: enabled, "repeat": repeat, "seconds": seconds,
                         "fg_iou": float(recipes.scores(model, test_data)["iou"][1])})
            print(f"  {switch} {'on' if enabled else 'off'}, run {repeat + 1}: {seconds:.1f} s, "
                  f"foreground IoU {runs[-1]['fg_iou']:.3f}", flush=True)
    return runs


def coarse_ideal(sizes=(64, 96, 128, 160), strides=(32, 16, 8), num_scenes=200) -> list[str]:
    """Table lines: the foreground IoU of ideal coarse masks per scene size and output stride.

    An ideal coarse mask is the true sign mask averaged over each stride x stride block, resized
    back bilinearly (as an FCN's fixed upsampler does) and thresholded at one half (notebook 05,
    section 1, at the profile's size). It is a yardstick, not a ceiling: a trained FCN's scores are
    sharper than block averages, so it can draw better masks (the quick FCN-32s beats stride 32's).
    The scenes are the test split's (seed ``synthetic.SPLIT_SEEDS["test"]``) drawn at each size; the
    synthetic scenes scale with the image, so a larger size means the same signs in more pixels.
    """
    from fcnlib import synthetic

    lines = ["| scene size | " + " | ".join(f"stride {s}" for s in strides) + " |",
             "|---:|" + "---:|" * len(strides)]
    for size in sizes:
        _, masks = synthetic.generate(num_scenes, size, "binary", synthetic.SPLIT_SEEDS["test"])
        truth = masks.astype(bool)
        cells = []
        for stride in strides:
            coarse = tf.nn.avg_pool2d(masks[..., None].astype("float32"), stride, stride, "VALID")
            drawn = tf.image.resize(coarse, masks.shape[1:3], method="bilinear").numpy()[..., 0] > 0.5
            cells.append(f"{(drawn & truth).sum() / (drawn | truth).sum():.3f}")
        lines.append(f"| {size}x{size} | " + " | ".join(cells) + " |")
    return lines


def autotune_table_lines(runs) -> list[str]:
    """A markdown table of :func:`autotune_experiment`: seconds per run, their mean, the IoUs."""
    return on_off_table_lines(runs, "autotune", "tf.data autotune")


def on_off_table_lines(runs, switch, label) -> list[str]:
    """A markdown table of on/off runs (``switch`` names their field): seconds per run, the mean, the IoUs."""
    repeats = sorted({run["repeat"] for run in runs})
    lines = [f"| {label} | " + " | ".join(f"run {r + 1} (s)" for r in repeats)
             + " | mean (s) | foreground IoU |", "|---|" + "---:|" * (len(repeats) + 2)]
    for enabled in (True, False):
        group = [run for run in runs if run[switch] is enabled]
        if not group:
            continue
        ious = sorted({f"{run['fg_iou']:.3f}" for run in group})
        lines.append(f"| {'on' if enabled else 'off'} | "
                     + " | ".join(f"{run['seconds']:.1f}" for run in group)
                     + f" | {np.mean([run['seconds'] for run in group]):.1f} | {', '.join(ious)} |")
    return lines


def head_table_lines(runs, columns=()) -> list[str]:
    """A markdown table of experiment runs: per variant, each seed's foreground IoU, the mean and range.

    ``columns`` names more fields of the runs (``"epochs"``, ``"seconds"``) to show after the
    variant: one row per variant and value of those fields, the field averaged over the seeds.
    """
    seeds = sorted({run["seed"] for run in runs})
    extra = "".join(f" {column} |" for column in columns)
    head = [f"| variant |{extra} " + " | ".join(f"seed {s}" for s in seeds) + " | mean | range |",
            "|---|" + "---:|" * (len(columns) + len(seeds) + 2)]
    lines = []
    for name in dict.fromkeys((run["variant"], run.get("epochs")) for run in runs):
        group = [run for run in runs if (run["variant"], run.get("epochs")) == name]
        by_seed = {run["seed"]: run["fg_iou"] for run in group}
        values = list(by_seed.values())
        cells = " | ".join(f"{by_seed[s]:.3f}" if s in by_seed else "" for s in seeds)
        shown = "".join(f" {_cell(np.mean([run[c] for run in group]))} |" for c in columns)
        lines.append(f"| {name[0]} |{shown} {cells} | {np.mean(values):.3f} | {max(values) - min(values):.3f} |")
    return head + lines


def _cell(value) -> str:
    return f"{value:.0f}" if abs(value - round(value)) < 1e-9 or value >= 10 else f"{value:.1f}"


# The columns of a row, in the order of the README's table; the JSON file names them the same way.
COLUMNS = ("model", "parameters", "training_s", "pixel_accuracy", "mean_iou", "fg_iou", "trimap_iou",
           "images_per_s")


def results_path(profile) -> Path:
    """Where the profile's measured results live: ``data/bench_<profile>.json``, shipped as fcnlib.data."""
    return results.path(profile.name)


def _images_per_second(model, data):
    model.predict(data.take(1), verbose=0)  # Warm-up: tracing and memory.
    start = time.perf_counter()
    count = sum(int(x.shape[0]) for x, _ in data)
    model.predict(data, verbose=0)
    return count / (time.perf_counter() - start)


def _row(name, model, seconds, data):
    test = data["test"]
    scores = recipes.scores(model, test)
    truth = np.concatenate([y.numpy() for _, y in test])
    pred = np.concatenate([metrics.predict_labels(model.predict(x, verbose=0)) for x, _ in test])
    return (name, model.count_params(), seconds, scores["pixel_accuracy"], scores["mean_iou"],
            scores["iou"][1], metrics.trimap_iou(truth, pred, 2), _images_per_second(model, test))


def model_table(profile, epochs):
    """Trains and scores every row; returns the rows as tuples."""
    data = recipes.make_datasets("binary", profile)
    rows = []
    for name, args in SERIES:
        start = time.perf_counter()
        model, _ = recipes.train_model(*args, profile=profile, datasets=data, epochs=epochs, verbose=0)
        rows.append(_row(name, model, time.perf_counter() - start, data))
        print(f"  {name}: {rows[-1][2]:.0f} s", flush=True)
    for name, recipe in EXPERIMENTS + PUBLISHED:
        start = time.perf_counter()
        model = published.train_recipe(recipe, profile, data, epochs)
        rows.append(_row(name, model, time.perf_counter() - start, data))
        print(f"  {name}: {rows[-1][2]:.0f} s", flush=True)
    return rows


def pipeline_ratio(profile, steps=30, repeats=2):
    """Training images/s of FCN-8s fed by ``pipeline.make_dataset`` and by in-memory tensors.

    Each input gets one warm-up epoch of ``steps`` batches (tracing, the first pass of its data
    path), then the two are timed in turn ``repeats`` times; each keeps its best rate, so that a
    moment of load on the machine does not decide the ratio.

    Returns:
        ``(dataset images/s, in-memory images/s)``.
    """
    images, masks = recipes.synthetic_splits("binary", profile)["train"]
    n = steps * profile.batch_size
    model = recipes.build("fcn8s", profile=profile)
    model.compile(keras.optimizers.Adam(profile.learning_rate), metrics.segmentation_loss(2))
    fed = pipeline.make_dataset((images[:n], masks[:n]), profile.batch_size, training=True)
    memory = (pipeline.preprocess_vgg16(images[:n]), masks[:n].astype("int32"))
    inputs = ({"x": fed}, {"x": memory[0], "y": memory[1], "batch_size": profile.batch_size})
    for kwargs in inputs:  # Warm-up of each.
        model.fit(epochs=1, verbose=0, **kwargs)
    rates = [0.0, 0.0]
    for _ in range(repeats):
        for index, kwargs in enumerate(inputs):
            start = time.perf_counter()
            model.fit(epochs=1, verbose=0, **kwargs)
            rates[index] = max(rates[index], n / (time.perf_counter() - start))
    return rates[0], rates[1]


def compute_efficiency(profile, steps=10):
    """(achieved GFLOP/s of an FCN-8s training step, matmul GFLOP/s) on this machine."""
    size, batch = profile.image_size, profile.batch_size
    model = models.fcn8s(2, input_shape=(size, size, 3), width=profile.width,
                         fc6_kernel=recipes.fc6_kernel(profile), weights=None)
    model.compile(keras.optimizers.Adam(1e-4), metrics.segmentation_loss(2))
    x = np.random.default_rng(0).normal(0, 50, (batch * steps, size, size, 3)).astype("float32")
    y = np.zeros((batch * steps, size, size), "int32")
    model.fit(x[:batch], y[:batch], batch_size=batch, verbose=0)
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    # A training step costs about three forward passes (forward, and two for the backward); the
    # forward FLOPs are fcnlib.budget's count, which tests/test_budget.py checks against built models.
    achieved = 3 * budget.forward_flops("fcn8s", profile) * batch * steps / seconds / 1e9
    a = tf.random.normal((1024, 1024))
    tf.matmul(a, a)
    start, repeats = time.perf_counter(), 20
    for _ in range(repeats):
        result = tf.matmul(a, a)
    float(tf.reduce_sum(result))
    matmul = 2 * 1024**3 * repeats / (time.perf_counter() - start) / 1e9
    return achieved, matmul


def notebook_times(report=config.REPO_ROOT / "build" / "series" / "report.md"):
    """Rows of the last ``make series`` report, or None when there is none."""
    if not Path(report).is_file():
        return None
    return [line for line in Path(report).read_text().splitlines() if line.startswith("| 0")]


def table_lines(rows) -> list[str]:
    """The markdown table of the rows (tuples in ``COLUMNS`` order), as the README shows it."""
    head = ["| model | parameters | training s | pixel acc. | mean IoU | fg IoU | trimap IoU | inference img/s |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    return head + [f"| {r[0]} | {r[1]:,} | {r[2]:.0f} | {r[3]:.3f} | {r[4]:.3f} | {r[5]:.3f} | {r[6]:.3f} | "
                   f"{r[7]:.0f} |" for r in rows]


def machine() -> str:
    """This machine and its software, in the words of the report."""
    return (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"TensorFlow {tf.__version__}, Keras {keras.__version__}")


def row_kind(name: str) -> str:
    """A row's kind in the results file: "series", "experiment" or "copied" (fcnlib.results.KINDS)."""
    for kind, rows in (("series", SERIES), ("experiment", EXPERIMENTS), ("copied", PUBLISHED)):
        if name in {row_name for row_name, _ in rows}:
            return kind
    raise KeyError(f"{name!r} is no row of the benchmark")


def results_json(profile, epochs, rows, rates, efficiency, provenance=None) -> dict:
    """The measured results as one JSON-ready dict: what ``data/bench_<profile>.json`` holds.

    Args:
        profile: The profile the rows were measured in.
        epochs: Epochs of each model (staged stages train ``recipes.STAGED_EPOCH_SHARE`` of them).
        rows: Tuples in ``COLUMNS`` order, as :func:`model_table` returns them.
        rates: (training images/s through ``pipeline.make_dataset``, from in-memory tensors).
        efficiency: (achieved GFLOP/s of an FCN-8s training step, matmul GFLOP/s).
        provenance: Where the numbers come from; a ``python -m bench`` run when None.
    """
    return {
        "provenance": provenance or "Measured by python -m bench on the machine below.",
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "profile": profile.name,
        "settings": {"num_train": profile.num_train, "num_test": profile.num_test,
                     "image_size": profile.image_size, "batch_size": profile.batch_size,
                     "epochs": epochs, "staged_epochs": recipes.stage_epochs(epochs),
                     "task": "binary"},
        "machine": machine(),
        "columns": list(COLUMNS),
        "rows": [{**dict(zip(COLUMNS, row, strict=False)), "kind": row_kind(row[0])} for row in rows],
        "pipeline_images_per_s": {"make_dataset": rates[0], "in_memory": rates[1]},
        "gflops": {"fcn8s_training_step": efficiency[0], "matmul_1024": efficiency[1]},
    }


def read_results(path) -> dict:
    """Reads a results file written by :func:`results_json` (:func:`fcnlib.results.load`)."""
    return results.load(Path(path))


def render(profile, epochs, rows, rates, efficiency, notebooks) -> str:
    """The markdown report: the profile and machine, one row per model, pipeline, compute, notebooks.

    Args:
        profile: The ``config.Profile`` the models trained in.
        epochs: Epochs per model (staged stages take ``recipes.STAGED_EPOCH_SHARE`` of them).
        rows: Tuples from :func:`model_table`.
        rates: ``(dataset images/s, in-memory images/s)`` from :func:`pipeline_ratio`.
        efficiency: ``(achieved GFLOP/s, matmul GFLOP/s)`` from :func:`compute_efficiency`.
        notebooks: Rows from :func:`notebook_times`, or None.
    """
    lines = [f"Profile `{profile.name}`: {profile.num_train} training / {profile.num_test} test scenes of "
             f"{profile.image_size}x{profile.image_size}, binary task, {epochs} epochs each "
             f"(staged stages {recipes.stage_epochs(epochs)}), batch "
             f"{profile.batch_size}. Machine: {machine()}.", "", *table_lines(rows), "",
             f"Input pipeline: {rates[0]:.0f} training images/s through `pipeline.make_dataset`, "
             f"{rates[1]:.0f} from in-memory tensors (ratio {rates[0] / rates[1]:.2f}).",
             f"Compute: an FCN-8s training step achieves {efficiency[0]:.1f} GFLOP/s (3 x forward "
             f"FLOPs, counted layer by layer); a 1024x1024 float32 matmul reaches {efficiency[1]:.1f} "
             f"GFLOP/s ({efficiency[0] / efficiency[1]:.0%}).", ""]
    if notebooks:
        lines += ["Notebook wall times (from the last `make series` report):", "",
                  "| notebook | status | wall time (s) | executed copy | detail |", "|---|---|---|---|---|",
                  *notebooks]
    else:
        lines.append("Notebook wall times: run `make series` first; its report.md holds them.")
    return "\n".join(lines) + "\n"


def _plateau(args, profile, epochs):
    epochs = args.epochs or PLATEAU_EPOCHS
    print(f"Plateau experiment: FCN-8s at once, {epochs} epochs at each of {list(PLATEAU_SIZES)} ...", flush=True)
    return [f"Profile `{profile.name}` ({profile.num_train} training scenes, batch {profile.batch_size}, Adam at "
            f"{profile.learning_rate}), FCN-8s at once, seed 0, test split. Machine: {machine()}.", "",
            *plateau_table_lines(plateau_experiment(profile, epochs=epochs))]


def _coarse_ideal(args, profile, epochs):
    return ["Foreground IoU of ideal coarse masks (true masks averaged per block, resized bilinearly, "
            "thresholded at 0.5) on 200 test scenes per size.", "", *coarse_ideal()]


def _on_off(switch, label, experiment):
    def run(args, profile, epochs):
        print(f"{label} experiment: FCN-32s, {epochs} epochs, on and off, twice ...", flush=True)
        return [f"Profile `{profile.name}` ({profile.image_size}x{profile.image_size} scenes), {epochs} epochs, "
                f"FCN-32s training seconds (validation included) and the test split's foreground IoU. "
                f"Machine: {machine()}.", "", *on_off_table_lines(experiment(profile, epochs=epochs), switch, label)]
    return run


def _seeded(title, variants, experiment, columns):
    def run(args, profile, epochs):
        names = _chosen(args.variants, variants, "variants")
        print(f"{title}: {len(names)} variants x {len(args.seeds)} seeds, {epochs} epochs each ...", flush=True)
        runs = experiment(profile, args.seeds, epochs, names)
        return [f"Profile `{profile.name}` ({profile.image_size}x{profile.image_size} scenes), {epochs} epochs, "
                f"foreground IoU on the test split. Machine: {machine()}.", "", *head_table_lines(runs, columns)]
    return run


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One experiment of the command line: its flag, what it asks, how it runs, where it writes.

    ``run(args, profile, epochs)`` returns the report's lines; ``output`` is the file name next to
    ``--output`` (None: printed only); ``sized`` says whether ``--image-size`` applies.
    """

    flag: str
    question: str
    run: object
    output: str | None
    sized: bool = False


# The experiments that run instead of the table; bench/README.md has one entry for each.
EXPERIMENTS_BY_FLAG = {experiment.flag: experiment for experiment in (
    Experiment("fcn32s-head", "the FCN-32s head experiment (foreground IoU per seed)",
               _seeded("FCN-32s head experiment", HEAD_VARIANTS, lambda *a: fcn32s_head_experiment(*a), ()),
               "fcn32s_head.md", sized=True),
    Experiment("fcn8s-schedules", "FCN-8s staged vs at once, scaled and unscaled skips",
               _seeded("FCN-8s schedule experiment", SCHEDULE_VARIANTS,
                       lambda *a: fcn8s_schedule_experiment(*a), ("epochs", "seconds")),
               "fcn8s_schedules.md", sized=True),
    Experiment("autotune", "FCN-32s trained with tf.data's autotuner on and off",
               _on_off("autotune", "tf.data autotune", lambda *a, **k: autotune_experiment(*a, **k)),
               "autotune.md", sized=True),
    Experiment("xla", "FCN-32s trained with its step compiled by XLA and without",
               _on_off("xla", "XLA (jit_compile)", lambda *a, **k: xla_experiment(*a, **k)), "xla.md", sized=True),
    Experiment("coarse-ideal", "ideal coarse masks' foreground IoU per scene size and stride", _coarse_ideal, None),
    Experiment("plateau", f"FCN-8s trained at once for many epochs (default {PLATEAU_EPOCHS}) at scene sizes "
               f"{list(PLATEAU_SIZES)}, scored on the way", _plateau, "plateau.md"),
)}


def _table(args, profile, epochs):
    """The benchmark table: trains every row afresh, writes the JSON results too; returns the report's lines."""
    with tempfile.TemporaryDirectory() as cache:
        os.environ[config.CACHE_DIR_ENV] = cache  # Every model trains afresh and is timed.
        print(f"Training {len(SERIES) + len(EXPERIMENTS) + len(PUBLISHED)} models, {epochs} epochs each ...",
              flush=True)
        rows = model_table(profile, epochs)
    rates, efficiency = pipeline_ratio(profile), compute_efficiency(profile)
    json_path = args.json or results_path(profile)
    _write(json_path, json.dumps(results_json(profile, epochs, rows, rates, efficiency), indent=1) + "\n")
    print(f"Written to {json_path}")
    return render(profile, epochs, rows, rates, efficiency, notebook_times()).splitlines()


def _write(path, text):
    with files.atomic_path(Path(path)) as tmp:
        tmp.write_text(text, encoding="utf-8")


def parser() -> argparse.ArgumentParser:
    """The command line of ``python -m bench``: the table, or one experiment of ``EXPERIMENTS_BY_FLAG``."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="default: the profile's")
    parser.add_argument("--output", type=Path, default=config.REPO_ROOT / "build" / "bench" / "results.md",
                        help="the table's report; an experiment writes its own file in the same folder")
    parser.add_argument("--json", type=Path, default=None,
                        help="the results as JSON; default data/bench_<profile>.json (the lessons read it)")
    for experiment in EXPERIMENTS_BY_FLAG.values():
        parser.add_argument(f"--{experiment.flag}", action="store_true",
                            help=f"instead of the table: {experiment.question}")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="seeds of --fcn32s-head and --fcn8s-schedules")
    parser.add_argument("--variants", nargs="+", default=None, metavar="NAME",
                        help="only these variants of --fcn32s-head or --fcn8s-schedules (default: all)")
    parser.add_argument("--image-size", type=int, default=None, metavar="N",
                        help="draw the profile's scenes at NxN (a multiple of 32) for "
                             + ", ".join(f"--{e.flag}" for e in EXPERIMENTS_BY_FLAG.values() if e.sized)
                             + "; the table keeps the profile's size")
    return parser


def main(argv=None) -> str:
    """Runs ``python -m bench``: the table or one experiment; writes, prints and returns the report."""
    cli = parser()
    args = cli.parse_args(argv)
    chosen = [e for e in EXPERIMENTS_BY_FLAG.values() if getattr(args, e.flag.replace("-", "_"))]
    if len(chosen) > 1:
        cli.error("choose one experiment: " + ", ".join(f"--{e.flag}" for e in chosen))
    experiment = chosen[0] if chosen else None
    profile = config.get_profile()
    if args.image_size is not None:
        if experiment is None or not experiment.sized:
            cli.error("--image-size is for " + ", ".join(f"--{e.flag}" for e in EXPERIMENTS_BY_FLAG.values()
                                                          if e.sized)
                      + "; the table and data/bench_<profile>.json hold the profile's own size, and the "
                        "other experiments choose their sizes themselves")
        if args.image_size < 32 or args.image_size % 32:
            cli.error(f"--image-size must be a positive multiple of 32; got {args.image_size}")
        profile = dataclasses.replace(profile, image_size=args.image_size)
    epochs = args.epochs or profile.epochs
    if experiment is None:
        run, output = _table, args.output
    else:
        run, output = experiment.run, experiment.output and args.output.with_name(experiment.output)
    text = "\n".join(run(args, profile, epochs)) + "\n"
    if output:
        _write(output, text)
    print(text)
    if output:
        print(f"Written to {output}")
    return text


if __name__ == "__main__":
    main()
