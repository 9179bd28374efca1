"""The input pipeline's CPU cost on VOC-sized photographs: the former way and the current one.

    python -m bench.pipeline [--images 256] [--epochs 3] [--repeats 3] [--output build/bench/pipeline.md]

Writes a VOC-layout folder of synthetic scenes at 500x375 (JPEG images, palette PNG masks in the VOC
palette, the split lists), then times the gpu profile's training pipeline (augmentation on, its image
size and batch) and its evaluation pipeline, first epoch and later epochs, built the former way and the
current way. The former way is kept below as it was: masks read by PIL in ``tf.py_function``, images
resized to float, a shuffle buffer of 1,000 decoded pairs refilled each epoch, no cache, a last partial
batch. The current way is :func:`fcnlib.datasets.load_voc` and :func:`fcnlib.pipeline.make_dataset`.

CPU time is ``time.process_time()`` over one pass: the CPU seconds of every thread of the process
(tf.data's workers included), divided by the images the pass delivered, so it is in core-milliseconds
per image: a 2-vCPU machine supplies 2 of them per millisecond. Wall time is ``time.perf_counter()``.
Each number is the median of ``--repeats`` runs, each on a freshly built pipeline; the machine this runs
on may be shared, so run it under ``nice`` and read the medians. The lab notes: bench/notes/pipeline.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from fcnlib import config, datasets, files, pipeline, synthetic

VOC_SIZE = (375, 500)  # Height, width of a typical PASCAL VOC photograph (landscape).
WAYS = ("former", "current")
PIPELINES = ("training", "evaluation")


def write_voc(root, num_images, size=VOC_SIZE, seed=0, num_scenes=8) -> Path:
    """Writes ``root/VOCdevkit/VOC2012`` as the VOC tests' fixture lays it out, with photo-like scenes.

    ``num_scenes`` synthetic street scenes (:func:`fcnlib.synthetic.generate`, multiclass) are drawn
    small, enlarged to ``size`` (images bicubic with a little sensor noise, so that the JPEGs weigh
    about what VOC's do; masks nearest, void borders kept) and written ``num_images`` times, each copy
    flipped or shifted, as ``JPEGImages/<stem>.jpg`` (quality 95) and ``SegmentationClass/<stem>.png``
    (:func:`fcnlib.files.write_mask`: a palette PNG in the VOC palette). Every stem is in ``train.txt``
    and ``val.txt``. Returns the ``VOC2012`` folder.
    """
    from PIL import Image

    num_images, num_scenes = config.count(num_images, "num_images"), config.count(num_scenes, "num_scenes")
    height, width = size
    small = (max(16, height // 4), max(16, width // 4))
    images, masks = synthetic.generate(min(num_scenes, num_images), image_size=small, task="multiclass",
                                       seed=seed)
    voc = Path(root) / "VOCdevkit" / "VOC2012"
    rng = np.random.default_rng(seed)
    stems = []
    for index in range(num_images):
        image = np.asarray(Image.fromarray(images[index % len(images)]).resize((width, height), Image.BICUBIC))
        mask = np.asarray(Image.fromarray(masks[index % len(masks)]).resize((width, height), Image.NEAREST))
        if index // len(images) % 2:
            image, mask = image[:, ::-1], mask[:, ::-1]
        shift = int(rng.integers(0, width))
        image, mask = np.roll(image, shift, axis=1), np.roll(mask, shift, axis=1)
        noisy = np.clip(image.astype(np.int16) + rng.normal(0, 4, image.shape).round().astype(np.int16), 0, 255)
        stem = f"2012_{index:06d}"
        files.write_image(voc / "JPEGImages" / f"{stem}.jpg", noisy.astype(np.uint8))
        files.write_mask(voc / "SegmentationClass" / f"{stem}.png", mask)
        stems.append(stem)
    lists = voc / "ImageSets" / "Segmentation"
    lists.mkdir(parents=True, exist_ok=True)
    for name in ("train", "val", "trainval"):
        (lists / f"{name}.txt").write_text("".join(f"{stem}\n" for stem in stems))
    return voc


# The former way, as fcnlib had it: kept here only to be measured against.

def former_voc(voc, split="train") -> tf.data.Dataset:
    """VOC pairs read the former way: JPEGs decoded in the graph, masks by PIL in ``tf.py_function``."""
    stems = datasets._read_list(Path(voc) / "ImageSets" / "Segmentation" / f"{split}.txt")
    pairs = [(Path(voc) / "JPEGImages" / f"{s}.jpg", Path(voc) / "SegmentationClass" / f"{s}.png") for s in stems]
    num_classes = len(config.VOC_CLASSES)

    def read_mask(index, image_shape):
        image_path, mask_path = pairs[int(index)]
        mask = files.read_mask(mask_path)
        if tuple(int(side) for side in image_shape)[:2] != mask.shape:
            raise ValueError(f"Image {image_path} and its mask {mask_path} differ in size.")
        values = np.unique(mask)
        bad = values[(values >= num_classes) & (values != config.IGNORE_LABEL)]
        if bad.size:
            raise ValueError(f"Mask {mask_path} holds {bad.tolist()}, which are no class.")
        return mask

    image_paths = tf.constant([str(image) for image, _ in pairs])

    def load(index):
        image = tf.io.decode_jpeg(tf.io.read_file(tf.gather(image_paths, index)), channels=3,
                                  dct_method="INTEGER_ACCURATE")
        mask = tf.py_function(read_mask, [index, tf.shape(image)], tf.uint8)
        image.set_shape((None, None, 3))
        mask.set_shape((None, None))
        return image, mask

    return tf.data.Dataset.range(len(pairs)).map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def former_make_dataset(source, batch_size, training=False, image_size=None, augment=False, seed=0,
                        shuffle_buffer=1000, autotune=None) -> tf.data.Dataset:
    """``pipeline.make_dataset`` as it was for a ``tf.data`` source of uint8 pairs (no cache asked)."""
    size = pipeline._size(image_size)
    dataset = source.map(lambda x, y: (tf.image.resize(x, size, method="bilinear"),
                                       tf.image.resize(y[..., None], size, method="nearest")[..., 0]),
                         num_parallel_calls=tf.data.AUTOTUNE)
    if training:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        if augment:
            keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
            dataset = tf.data.Dataset.zip(dataset, keys).map(
                lambda pair, key: pipeline._augment_pair(pair, key, seed), num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.batch(batch_size).map(lambda x, y: (pipeline.preprocess_vgg16(x), tf.cast(y, tf.int32)),
                                            num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.autotune.enabled = pipeline.autotune_default() if autotune is None else bool(autotune)
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(options)


def build(way, pipeline_name, voc, profile, autotune) -> tf.data.Dataset:
    """One of the four pipelines: ``way`` in WAYS, ``pipeline_name`` in PIPELINES, at the profile's sizes."""
    training = pipeline_name == "training"
    kwargs = dict(training=training, image_size=profile.image_size, augment=training, seed=0, autotune=autotune)
    if way == "former":
        return former_make_dataset(former_voc(voc), profile.batch_size, **kwargs)
    return pipeline.make_dataset(datasets.load_voc(voc, "train"), profile.batch_size, **kwargs)


@dataclasses.dataclass
class Pass:
    images: int
    cpu_s: float
    wall_s: float


def time_epochs(dataset, epochs) -> list[Pass]:
    """Iterates ``dataset`` ``epochs`` times; the CPU (all threads) and wall seconds of each pass."""
    passes = []
    for _ in range(epochs):
        cpu, wall, images = time.process_time(), time.perf_counter(), 0
        for batch, _ in dataset:
            images += int(batch.shape[0])
        passes.append(Pass(images, time.process_time() - cpu, time.perf_counter() - wall))
    return passes


def measure(voc, profile, epochs=3, repeats=3, autotune=True) -> list[dict]:
    """Rows of the table: per pipeline, way and epoch kind, the median over ``repeats`` fresh builds.

    "first" is the first pass over a freshly built pipeline; "later" the mean of passes 2..``epochs``.
    """
    epochs, repeats = config.count(epochs, "epochs", 2), config.count(repeats, "repeats")
    rows = []
    for name in PIPELINES:
        for way in WAYS:
            runs = [time_epochs(build(way, name, voc, profile, autotune), epochs) for _ in range(repeats)]
            for kind, chosen in (("first", lambda p: p[:1]), ("later", lambda p: p[1:])):
                cpu = [sum(x.cpu_s for x in chosen(r)) / sum(x.images for x in chosen(r)) * 1e3 for r in runs]
                wall = [sum(x.wall_s for x in chosen(r)) / sum(x.images for x in chosen(r)) * 1e3 for r in runs]
                images = chosen(runs[0])[0].images
                rows.append({"pipeline": name, "way": way, "epochs": kind, "images": images,
                             "cpu_ms": statistics.median(cpu), "wall_ms": statistics.median(wall),
                             "cpu_range": (min(cpu), max(cpu))})
    return rows


def render(rows, profile, num_images, epochs, repeats, autotune) -> str:
    lines = [f"{num_images} VOC-layout pairs of {VOC_SIZE[1]}x{VOC_SIZE[0]} (JPEG, palette PNG); profile "
             f"{profile.name!r}: {profile.image_size}x{profile.image_size}, batch {profile.batch_size}; "
             f"{epochs} epochs, median of {repeats} builds; tf.data autotune {'on' if autotune else 'off'}.",
             f"Machine: {platform.machine()}, {_cores()} cores, Python {platform.python_version()}, "
             f"TensorFlow {tf.__version__}.", "",
             "| pipeline | way | epochs | images per pass | CPU ms per image (all threads) | range | wall ms per image |",
             "|---|---|---|---:|---:|---|---:|"]
    for row in rows:
        low, high = row["cpu_range"]
        lines.append(f"| {row['pipeline']} | {row['way']} | {row['epochs']} | {row['images']} | "
                     f"{row['cpu_ms']:.2f} | {low:.2f}..{high:.2f} | {row['wall_ms']:.2f} |")
    return "\n".join(lines)


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__.splitlines()[0])
    cli.add_argument("--images", type=int, default=256, help="pairs written and read per pass (default 256)")
    cli.add_argument("--epochs", type=int, default=3, help="passes per build, at least 2 (default 3)")
    cli.add_argument("--repeats", type=int, default=3, help="fresh builds per number; the median is shown")
    cli.add_argument("--profile", default="gpu", choices=sorted(config.PROFILES),
                     help="whose image size and batch (default gpu)")
    cli.add_argument("--autotune", choices=("on", "off"), default="on",
                     help="tf.data's autotuner: on as next to a GPU (default), off as on a CPU-only machine")
    cli.add_argument("--output", type=Path, default=config.REPO_ROOT / "build" / "bench" / "pipeline.md",
                     help="where the table is written (atomically)")
    return cli


def main(argv=None, profile=None) -> str:
    """Writes the files in a temporary folder, measures, prints and writes the table; returns it."""
    args = parser().parse_args(argv)
    for name in ("images", "repeats"):
        config.count(getattr(args, name), f"--{name}")
    config.count(args.epochs, "--epochs", 2)
    profile = profile or config.get_profile(args.profile)
    autotune = args.autotune == "on"
    with tempfile.TemporaryDirectory(prefix="fcn_pipeline_bench_") as root:
        voc = write_voc(root, args.images)
        rows = measure(voc, profile, args.epochs, args.repeats, autotune)
    text = render(rows, profile, args.images, args.epochs, args.repeats, autotune) + "\n"
    with files.atomic_path(args.output) as tmp:
        tmp.write_text(text, encoding="utf-8")
    print(text)
    print(f"Written to {args.output}")
    return text


if __name__ == "__main__":
    main()
