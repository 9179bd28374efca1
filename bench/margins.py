"""How much room the one-batch overfitting check leaves, over seeds and CPU kernels.

``diagnose.overfit_one_batch`` (and ``check_all``, which runs it) says a set-up is sound when a copy of
the model, trained on one small batch, drives the loss well below the loss of predicting the batch's
class frequencies everywhere. This command trains the series' sound set-ups and the broken ones the
lessons show on one batch, for several seeds and with oneDNN off, on, and on but held to AVX2 (TensorFlow
reads ``TF_ENABLE_ONEDNN_OPTS`` and oneDNN ``ONEDNN_MAX_CPU_ISA`` once, so each setting runs in its own
process), and prints, per set-up, the ratios of its loss to the class-frequency loss over every run, and
how far the worst run stays from the bar ``diagnose.overfit_one_batch`` applies.

Usage (from the repository root):

    python -m bench.margins [--seeds 5] [--settings off on avx2] [--json build/margins/overfit.jsonl]
    python -m bench.margins --table-only   # the table of the records written before
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

SETTINGS = {  # name -> environment of the worker process
    "off": {"TF_ENABLE_ONEDNN_OPTS": "0"},
    "on": {"TF_ENABLE_ONEDNN_OPTS": "1"},
    "avx2": {"TF_ENABLE_ONEDNN_OPTS": "1", "ONEDNN_MAX_CPU_ISA": "AVX2"},
}
# name -> (sound?, steps, learning rate): the calls the notebooks make (07: 50 steps at 1e-3; 08: 24 at 3e-3
# on models trained for 5 epochs; check_all's default 40 at 1e-3).
SETUPS = {
    "quick FCN-32s, binary (check_all default)": (True, 40, 1e-3),
    "quick FCN-8s, binary (check_all default)": (True, 40, 1e-3),
    "07 FCN-32s, multiclass": (True, 50, 1e-3),
    "08 VGG FCN-8s, trained 5 epochs": (True, 24, 3e-3),
    "08 ResNet50 FCN, d2l's head, trained 5 epochs": (True, 24, 3e-3),
    "08 DeepLabv3+, trained 5 epochs": (True, 24, 3e-3),
    "softmax twice (07)": (False, 50, 1e-3),
    "frozen model (07)": (False, 50, 1e-3),
    "blind model: one bias per class": (False, 50, 1e-2),
}


def _worker(seeds, out):
    import keras
    import numpy as np

    from fcnlib import config, deeplab, diagnose, metrics, pipeline, recipes, resnet, synthetic

    def batch(task, size, seed, count=4):
        images, masks = synthetic.generate(count, size, task, seed=1000 + seed)
        return pipeline.preprocess_vgg16(images), masks

    def trained(model, task, seed):
        images, masks = synthetic.generate(192, resnet.QUICK_IMAGE_SIZE, task, seed=seed)
        model.compile(keras.optimizers.Adam(1e-3), metrics.segmentation_loss(model.output_shape[-1]))
        model.fit(pipeline.preprocess_vgg16(images), masks, batch_size=16, epochs=5, verbose=0)
        return model

    def build(name, seed):
        keras.utils.set_random_seed(seed)
        if name.startswith("quick FCN-32s"):
            return recipes.build("fcn32s", "binary", profile=config.QUICK), batch("binary", 96, seed)
        if name.startswith("quick FCN-8s"):
            return recipes.build("fcn8s", "binary", profile=config.QUICK), batch("binary", 96, seed)
        if name.startswith("07"):
            return recipes.build("fcn32s", "multiclass", profile=config.QUICK), batch("multiclass", 96, seed)
        size = resnet.QUICK_IMAGE_SIZE
        kwargs = dict(width=resnet.QUICK_WIDTH, blocks=resnet.QUICK_BLOCKS, weights="synthetic")
        if name.startswith("08 VGG"):
            model = recipes.build("fcn8s", "multiclass", profile=config.QUICK)
        elif name.startswith("08 ResNet"):
            model = resnet.fcn_resnet50(6, **kwargs)
        elif name.startswith("08 DeepLab"):
            model = deeplab.deeplabv3_plus(6, image_size=size, **kwargs)
            for layer in model.layers:
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.momentum = 0.9
        elif name.startswith("softmax twice"):
            inner = recipes.build("fcn32s", "multiclass", profile=config.QUICK)
            model = keras.Model(inner.input, keras.layers.Softmax(name="softmax")(inner.output))
            return model, batch("multiclass", 96, seed)
        elif name.startswith("frozen"):
            model = recipes.build("fcn32s", "multiclass", profile=config.QUICK)
            model.trainable = False
            return model, batch("multiclass", 96, seed)
        else:  # A model that sees no input: it can learn the class frequencies and nothing else.
            inputs = keras.Input((None, None, 3))
            zeros = keras.layers.Rescaling(0.0, name="blind")(inputs)
            model = keras.Model(inputs, keras.layers.Conv2D(6, 1, name="bias_only")(zeros))
            return model, batch("multiclass", 96, seed)
        return trained(model, "multiclass", seed), batch("multiclass", size, seed)

    for seed in seeds:
        for name, (_, steps, rate) in SETUPS.items():
            model, (x, y) = build(name, seed)
            start = time.perf_counter()
            loss = metrics.segmentation_loss(6 if "binary" not in name else 2)
            finding = diagnose.overfit_one_batch(model, x, y, steps=steps, learning_rate=rate, loss=loss)
            losses, constant = finding.details["losses"], finding.details["constant_loss"]
            record = {"setup": name, "seed": seed, "steps": steps, "learning_rate": rate,
                      "constant_loss": constant, "first": losses[0], "last": losses[-1],
                      "best": float(np.nanmin(losses)) if np.isfinite(losses).any() else float("nan"),
                      "severity": finding.severity, "seconds": time.perf_counter() - start}
            out.write(json.dumps(record) + "\n")
            out.flush()
            keras.backend.clear_session()


def table(records, bar=None):
    """One row per set-up: worst ratios over every seed and setting, and the margin to today's bar.

    The verdict is recomputed from the recorded losses with ``diagnose.FREQUENCY_RATIO``, so the table
    holds for the library as it is, whatever version wrote the records. (Softmax applied twice also
    fails through the loss-and-output check, whatever its loss does.)
    """
    if bar is None:
        from fcnlib import diagnose

        bar = diagnose.FREQUENCY_RATIO
    lines = [f"| set-up | sound? | steps, rate | runs | last / frequency loss | lowest / frequency loss | "
             f"margin to the bar {bar:g} |", "|---|---|---|---|---|---|---|"]
    for name, (sound, steps, rate) in SETUPS.items():
        rows = [r for r in records if r["setup"] == name]
        if not rows:
            continue
        last = [r["last"] / r["constant_loss"] for r in rows]
        best = [r["best"] / r["constant_loss"] for r in rows]
        margin = bar - max(best) if sound else min(best) - bar  # Positive: every run on the right side.
        lines.append(f"| {name} | {'yes' if sound else 'no'} | {steps}, {rate:g} | {len(rows)} | "
                     f"{min(last):.2f}-{max(last):.2f} | {min(best):.2f}-{max(best):.2f} | {margin:+.2f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--settings", nargs="+", choices=sorted(SETTINGS), default=["off", "on", "avx2"])
    parser.add_argument("--json", type=Path, default=Path("build/margins/overfit.jsonl"))
    parser.add_argument("--table-only", action="store_true", help="print the table of the records in --json")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.table_only:
        print(table([json.loads(line) for line in args.json.read_text().splitlines()]))
        return 0
    if args.worker:
        with open(args.worker, "a", encoding="utf-8") as out:
            _worker(range(args.seeds), out)
        return 0
    args.json.parent.mkdir(parents=True, exist_ok=True)
    records = []
    for setting in args.settings:
        part = args.json.with_suffix(f".{setting}.jsonl")
        part.unlink(missing_ok=True)
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **SETTINGS[setting]}
        subprocess.run([sys.executable, "-m", "bench.margins", "--worker", str(part), "--seeds", str(args.seeds)],
                       env=env, check=True)
        records += [{**json.loads(line), "setting": setting} for line in part.read_text().splitlines()]
    args.json.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    print(table(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
