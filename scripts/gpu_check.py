"""Measures the gpu profile's training on the machine at hand: seconds per epoch, images/s, peak memory.

The gpu profile's times in the README and the notebook headers are estimates, counted from FLOPs
(fcnlib.budget). On a machine with a GPU and no network this script measures them instead: it writes a
PASCAL-VOC-layout tree of synthetic scenes, builds each model of the series at the gpu profile's size and
width with random weights (nothing is downloaded), trains it for two epochs (the first includes tracing
and XLA compilation, the second is the steady rate) and prints, per model, both epoch times, training
images per second, the peak GPU memory, and the ratio of the measured second epoch to the budget's
estimate for this device. ``--smoke`` runs the same path on the CPU at toy size, in seconds; the tests
run it so that the script keeps working.

Usage (from the repository root):

    python scripts/gpu_check.py [--images 256] [--json build/gpu_check.json]   # on the GPU machine
    python scripts/gpu_check.py --smoke                                       # anywhere, in seconds
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

VARIANTS = ("dense", "fcn32s", "fcn16s", "fcn8s")


def _EpochTimer():
    """A Keras callback that keeps the wall seconds of every epoch in ``.seconds``."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)

    return EpochTimer()


def check(images: int = 256, smoke: bool = False, epochs: int = 2) -> list[dict]:
    """Trains each variant for ``epochs`` on synthetic VOC-layout scenes; returns one row per variant."""
    import keras
    import tensorflow as tf

    from fcnlib import budget, config, devices, recipes, synthetic, train

    gpus = tf.config.list_physical_devices("GPU")
    profile = dataclasses.replace(config.GPU, backbone_weights=None, num_train=images, num_val=8, num_test=8)
    if smoke:
        profile = dataclasses.replace(config.smoke_version(config.GPU), num_train=8, num_val=4, num_test=4,
                                      mixed_precision=False)
    device = "t4" if gpus else "cpu"
    policy = "mixed_float16" if profile.mixed_precision and gpus else "float32"
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        side = profile.image_size
        synthetic.write_voc_tree(Path(folder) / "voc", num_train=profile.num_train, num_val=profile.num_val,
                                 image_size=(side, side))
        saved = {name: os.environ.get(name) for name in (config.DATA_DIR_ENV, config.OFFLINE_ENV)}
        os.environ.update({config.DATA_DIR_ENV: folder, config.OFFLINE_ENV: "1"})
        try:
            data = recipes.make_datasets("binary", profile, augment=False, cache=False)
        finally:  # The caller's environment as it was (the tests call this in their own process).
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        for variant in VARIANTS:
            keras.backend.clear_session()
            if gpus:
                tf.config.experimental.reset_memory_stats("GPU:0")
            with devices.precision_policy(policy):
                model = recipes.build(variant, "binary", profile=profile, weights=None)
                timer = _EpochTimer()
                train.fit(model, data["train"], epochs=epochs, verbose=0, callbacks=[timer], profile=profile)
            seconds = timer.seconds
            estimate = (3 * profile.num_train * budget.forward_flops(variant, profile, "binary")
                        / budget.THROUGHPUT[device][0])
            peak = tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**30 if gpus else None
            rows.append({"model": variant, "device": gpus[0].name if gpus else "cpu", "policy": policy,
                         "image_size": side, "images": profile.num_train, "epoch_s": seconds,
                         "images_per_s": profile.num_train / seconds[-1], "peak_gib": peak,
                         "estimated_epoch_s": estimate, "measured_over_estimate": seconds[-1] / estimate})
            del model
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| model | epoch 1 (s) | last epoch (s) | images/s | peak GPU memory | estimated epoch (s) | "
             "measured / estimated |", "|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        peak = "n/a (CPU)" if row["peak_gib"] is None else f"{row['peak_gib']:.1f} GiB"
        lines.append(f"| {row['model']} | {row['epoch_s'][0]:.1f} | {row['epoch_s'][-1]:.1f} | "
                     f"{row['images_per_s']:.0f} | {peak} | {row['estimated_epoch_s']:.1f} | "
                     f"{row['measured_over_estimate']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256, help="training scenes per epoch (default 256)")
    parser.add_argument("--smoke", action="store_true", help="toy size on the CPU: checks the path only")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args(argv)
    if args.images < 1:
        parser.error(f"--images must be at least 1, got {args.images}")
    rows = check(args.images, args.smoke)
    if args.json:
        from fcnlib import files

        args.json.parent.mkdir(parents=True, exist_ok=True)
        with files.atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
