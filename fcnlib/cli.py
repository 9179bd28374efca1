"""The command line: train one recipe, score it on the test split, write the scores as JSON.

Three ways to start it, all running :func:`main`: the ``fcn-train`` script that installing the
package creates (``[project.scripts]`` in pyproject.toml), ``python -m fcnlib`` (``fcnlib/__main__.py``)
and ``python -m fcnlib.cli``. It trains through
``recipes.train_model`` (so the checkpoint cache of the notebooks is shared: a model a notebook
trained is loaded, not trained again), evaluates with ``recipes.scores``, prints the FCN paper's
four scores and the IoU of every class, and writes them to ``<output>/<run>.json`` atomically.
GPU switches: ``--mixed-precision``, ``--xla`` / ``--no-xla``; several GPUs or a TPU are used
through ``devices.default_strategy()``. docs/FULL_PROFILE.md is the walk-through for PASCAL VOC.

Examples::

    fcn-train --dataset synthetic --model fcn8s                         # offline, CPU, minutes
    python -m fcnlib --dataset voc --download --model fcn8s --task multiclass \\
        --mixed-precision                                                # GPU, the paper's 21 classes
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

# Dataset -> the profile it goes with: the embedded scenes run the quick profile, VOC the full one.
DATASET_PROFILES = {"synthetic": "quick", "voc": "full"}
DEFAULT_OUTPUT = Path("build") / "scores"
SMOKE_BATCHES = 2  # --smoke: batches per split, one epoch (or --epochs), no checkpoint cache.
SCORE_NAMES = (("pixel_accuracy", "pixel accuracy"), ("mean_accuracy", "mean accuracy"),
               ("mean_iou", "mean IU"), ("frequency_weighted_iou", "frequency weighted IU"))


def parser() -> argparse.ArgumentParser:
    """The argument parser of ``fcn-train`` (also ``python -m fcnlib`` / ``fcnlib.cli``).

    The model and task choices are ``recipes.VARIANTS`` and ``recipes.TASKS``: a variant added there
    is one the command line trains.
    """
    from fcnlib import recipes

    p = argparse.ArgumentParser(
        prog="fcn-train",
        description="Train an FCN (or the dense baseline) with the series' recipe, or load it from "
                    "the checkpoint cache, then score it on the test split: pixel accuracy, mean "
                    "accuracy, mean IU, frequency weighted IU and per-class IoU, printed and "
                    "written as JSON.",
        epilog="Also started as python -m fcnlib or python -m fcnlib.cli. Data: VOC is "
               "read from $FCN_DATA_DIR/voc and $FCN_DATA_DIR/sbd (FCN_DATA_DIR "
               "defaults to ~/fcn_data); checkpoints go to $FCN_CACHE_DIR (default .cache/fcnlib "
               "in a checkout, the user cache folder otherwise). Full walk-through: docs/FULL_PROFILE.md.",
    )
    p.add_argument("--dataset", choices=sorted(DATASET_PROFILES), default=None,
                   help="synthetic: the embedded street scenes, offline (quick profile); voc: "
                        "PASCAL VOC 2012 + SBD (full profile). Default: the profile's dataset.")
    p.add_argument("--model", choices=recipes.VARIANTS, default="fcn8s",
                   help="The variant to train; dense is the learner's baseline (binary only). "
                        "Default: %(default)s.")
    p.add_argument("--task", choices=recipes.TASKS, default="binary",
                   help="binary: object vs background; multiclass: every class (21 on VOC, the "
                        "paper's setting). Default: %(default)s.")
    p.add_argument("--schedule", choices=("staged", "at_once"), default="staged",
                   help="FCN-16s/8s: start from the trained coarser FCN (staged) or train from the "
                        "backbone with scaled skips (at_once). Default: %(default)s.")
    p.add_argument("--upsampling", choices=("fixed", "learned", "random"), default="fixed",
                   help="Transposed convolutions: frozen bilinear, bilinear start and trained, or "
                        "random start and trained. Default: %(default)s.")
    p.add_argument("--profile", choices=("quick", "gpu", "full"), default=None,
                   help="Settings from fcnlib.config: quick (CPU, synthetic), gpu (VOC train, 224, "
                        "4 epochs: minutes), full (VOC + SBD, 320, 30 epochs: hours). Default: the "
                        "one that goes with --dataset (voc: full); without --dataset, FCN_PROFILE "
                        "or detection (gpu with a GPU, else quick).")
    p.add_argument("--epochs", type=int, default=None,
                   help="Epochs of FCN-32s / at-once / dense runs (staged stages take half). "
                        "Default: the profile's.")
    p.add_argument("--batch-size", type=int, default=None,
                   help="Global batch (split across GPUs). Default: the profile's. Changes the "
                        "cache key.")
    p.add_argument("--mixed-precision", action="store_true",
                   help="Compute in float16 (bfloat16 on a TPU) with float32 weights and output; "
                        "faster on GPUs with tensor cores. A separate cache entry.")
    p.add_argument("--xla", action=argparse.BooleanOptionalAction, default=None,
                   help="Compile the training step with XLA (jit_compile). Default: Keras' choice, "
                        "on for one GPU, off on a CPU and with several devices.")
    p.add_argument("--download", action="store_true",
                   help="Download what is missing of VOC 2012 (~2 GB) and the SBD (~1.4 GB) into "
                        "$FCN_DATA_DIR first.")
    p.add_argument("--smoke", action="store_true",
                   help=f"Check the set-up in minutes: {SMOKE_BATCHES} batches per split, one "
                        "epoch (or --epochs), no checkpoint cache. The scores mean nothing.")
    p.add_argument("--no-cache", action="store_true",
                   help="Train afresh without reading or writing the checkpoint cache.")
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                   help="Folder for the JSON of scores. Default: %(default)s.")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                   help="Keras verbosity: 0 silent, 1 progress bar, 2 one line per epoch (logs). "
                        "Default: %(default)s.")
    return p


def resolve_profile(args, fail):
    """Returns ``(profile, dataset)`` for parsed arguments; calls ``fail(message)`` on a clash."""
    from fcnlib import config

    if args.profile is not None:
        profile = config.get_profile(args.profile)
    elif args.dataset is not None:
        profile = config.get_profile(DATASET_PROFILES[args.dataset])
    else:
        profile = config.get_profile()
    dataset = args.dataset or profile.dataset
    if profile.dataset != dataset:
        fitting = " or ".join(name for name, p in config.PROFILES.items() if p.dataset == dataset)
        fail(f"--dataset {dataset} goes with --profile {fitting or DATASET_PROFILES.get(dataset)}; "
             f"profile {profile.name} uses {profile.dataset}.")
    if args.model == "dense" and args.task != "binary":
        fail("--model dense is the learner's binary model; use --task binary.")
    for name in ("epochs", "batch_size"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            fail(f"--{name.replace('_', '-')} must be a positive integer.")
    if args.batch_size is not None:
        profile = dataclasses.replace(profile, batch_size=args.batch_size)
    return profile, dataset


def check_voc(download_missing=False) -> str | None:
    """Checks that VOC is there (downloading it first if asked); returns a warning or None.

    Raises:
        FileNotFoundError: With what is missing, where it is expected and the three ways out.
    """
    from fcnlib import config, datasets, download

    if download_missing:
        download.download_voc()
        download.download_sbd()
    try:
        datasets.load_voc(split="val")
    except FileNotFoundError as error:
        raise FileNotFoundError(voc_missing_message(error)) from error
    try:
        datasets.load_voc(split="train_aug")
    except FileNotFoundError:
        return (f"No SBD under {config.data_dir() / 'sbd'}: training on VOC 'train' (1,464 "
                "images) instead of 'train_aug' (10,582). Expect mean IU well below the paper's; "
                "add --download to fetch the SBD (~1.4 GB).")
    return None


def voc_missing_message(error) -> str:
    """What to do when VOC is missing: where it goes, how to download it, the offline fallback."""
    from fcnlib import config

    root = config.data_dir()
    source = (f"{config.DATA_DIR_ENV}={os.environ[config.DATA_DIR_ENV]}"
              if os.environ.get(config.DATA_DIR_ENV) else f"{config.DATA_DIR_ENV} is not set")
    return (
        f"PASCAL VOC 2012 was not found ({error}).\n"
        f"Expected location: {root / 'voc' / 'VOCdevkit' / 'VOC2012'} and the SBD in "
        f"{root / 'sbd' / 'benchmark_RELEASE'} ({source}).\n"
        "Download them (about 2 GB + 1.4 GB, verified and resumable):\n"
        "    python -m fcnlib --dataset voc --download ...\n"
        "or in Python: from fcnlib import download; download.download_voc(); "
        "download.download_sbd()\n"
        "or copy them there by hand (docs/FULL_PROFILE.md, 'When the servers are down').\n"
        "Without any download: python -m fcnlib --dataset synthetic")


def check_output(folder) -> str | None:
    """Returns why ``folder`` cannot take the scores' JSON, or None; creates it if needed.

    Checked before training, so that a run of hours never ends in an unwritable folder.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        return (f"--output {folder} cannot take the scores ({error.strerror or error}). Choose a "
                "writable folder with --output, or make this one writable, and run again.")
    return None


def trained_epochs(args, profile) -> int:
    """The epochs the run trains (FCN-32s, at once, dense; staged stages take ``recipes.stage_epochs``).

    ``--epochs`` when given, smoke run or not; else one in a smoke run and the profile's otherwise. The run's
    name and its JSON record say this number, so that they say what was trained.
    """
    if args.epochs is not None:
        return args.epochs
    return 1 if args.smoke else profile.epochs


def run_name(args, profile) -> str:
    """The JSON's file name stem, e.g. ``fcn8s-multiclass-staged-fixed-full``.

    ``-e<N>`` appears when ``--epochs`` is given; a smoke run trains those epochs too (one without it).
    """
    parts = [args.model, args.task]
    if args.model in ("fcn16s", "fcn8s"):
        parts.append(args.schedule)
    if args.model != "dense":
        parts.append(args.upsampling)
    parts.append(profile.name)
    if args.batch_size is not None:
        parts.append(f"b{args.batch_size}")
    if args.epochs is not None:
        parts.append(f"e{args.epochs}")
    if args.mixed_precision:
        parts.append("mp")
    if args.smoke:
        parts.append("smoke")
    return "-".join(parts)


def _plain(value):
    """JSON-ready copy: arrays become lists, NaN becomes None."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def format_scores(scores: dict, names) -> str:
    """The four paper scores and a per-class IoU table, as text."""
    lines = [f"  {label:<24}{scores[key]:8.3f}" for key, label in SCORE_NAMES]
    lines += ["", f"  {'class':<24}{'IoU':>8}"]
    for name, iou in zip(names, scores["iou"], strict=False):
        lines.append(f"  {name:<24}{'n/a' if not math.isfinite(iou) else f'{iou:.3f}':>8}")
    return "\n".join(lines)


def main(argv=None) -> int:
    """Runs ``fcn-train`` (``python -m fcnlib``, ``python -m fcnlib.cli``); returns the exit status.

    0: done; 1: the scores could not be written (they are printed instead); 2: bad arguments or
    data, found before training (``--output`` is checked first).
    """
    p = parser()
    args = p.parse_args(argv)
    profile, dataset = resolve_profile(args, p.error)
    problem = check_output(args.output)
    if problem:
        p.error(problem)
    # The command line's --mixed-precision decides the precision, whatever the profile's default.
    profile = dataclasses.replace(profile, mixed_precision=bool(args.mixed_precision))

    import keras
    import tensorflow as tf

    import fcnlib
    from fcnlib import devices, files, recipes

    if args.model == "dense":  # ImageNet VGG16's fc1 takes 224x224 images only.
        profile = recipes.dense_profile(profile)

    if dataset == "voc":
        try:
            warning = check_voc(args.download)
        except FileNotFoundError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
    strategy = devices.default_strategy()
    gpus = tf.config.list_physical_devices("GPU")
    on_tpu = isinstance(strategy, tf.distribute.TPUStrategy)
    policy = devices.mixed_precision_policy(strategy) if args.mixed_precision else "float32"
    if args.mixed_precision and not (gpus or on_tpu):
        print("warning: --mixed-precision without a GPU or TPU: it runs, but slower than float32.",
              file=sys.stderr)
    jit_compile = "auto" if args.xla is None else args.xla
    device_names = [d.name for d in gpus] or ["CPU"]
    print(f"{run_name(args, profile)}: {dataset}, profile {profile.name} "
          f"(image {profile.image_size}, batch {profile.batch_size}), devices {device_names}, "
          f"{strategy.num_replicas_in_sync} replica(s), policy {policy}, XLA {jit_compile}")

    started = time.perf_counter()
    with devices.precision_policy(policy):
        data = recipes.make_datasets(args.task, profile, cache=not (args.smoke or args.no_cache))
        if args.smoke:
            data = {name: split.take(SMOKE_BATCHES) for name, split in data.items()}
        model, history = recipes.train_model(
            args.model, args.task, args.upsampling, args.schedule, profile=profile, datasets=data,
            epochs=trained_epochs(args, profile), verbose=args.verbose,
            cache=not (args.smoke or args.no_cache), strategy=strategy, jit_compile=jit_compile)
        trained = time.perf_counter() - started
        scores = recipes.scores(model, data["test"], args.task, profile)
    names = recipes.class_names(args.task, profile)
    split = "VOC 2012 val" if dataset == "voc" else "held-out scenes"
    print(f"\n{model.name} on the {dataset} test split ({split}):")
    print(format_scores(scores, names))

    record = {
        "run": run_name(args, profile), "model": args.model, "task": args.task,
        "schedule": args.schedule, "upsampling": args.upsampling, "dataset": dataset,
        "split": "test", "smoke": args.smoke, "profile": dataclasses.asdict(profile),
        "epochs": trained_epochs(args, profile),
        "dtype_policy": policy, "jit_compile": jit_compile,
        "replicas": strategy.num_replicas_in_sync, "devices": device_names,
        "seconds_train_or_load": round(trained, 1),
        "seconds_total": round(time.perf_counter() - started, 1),
        "versions": {"fcnlib": fcnlib.__version__, "tensorflow": tf.__version__,
                     "keras": keras.__version__},
        "scores": {key: scores[key] for key, _ in SCORE_NAMES},
        "iou": dict(zip(names, scores["iou"], strict=False)),
        "class_accuracy": dict(zip(names, scores["class_accuracy"], strict=False)),
        "confusion_matrix": scores["confusion_matrix"], "history": history,
    }
    path = Path(args.output) / f"{record['run']}.json"
    text = json.dumps(_plain(record), indent=2, allow_nan=False)
    try:
        with files.atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    except OSError as error:
        # The folder was writable before training; keep the results on the screen instead.
        print(text)
        print(f"error: could not write {path} ({error}); the scores are printed above. Free "
              "some space or choose another --output.", file=sys.stderr)
        return 1
    print(f"\nScores written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
