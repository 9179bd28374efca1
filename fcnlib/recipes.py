"""The series' shared recipes: which data, which model, how it trains, under one cache key each.

Notebooks train through :func:`train_model`, so a model trained in one notebook (FCN-32s in 02) is
loaded from the checkpoint cache by a later one (05 starts FCN-16s from it, 06 compares everything)
instead of being trained again. Everything profile-dependent lives here: the quick profile uses the
synthetic scenes, the quarter-width VGG16 pretrained on them and ``fc6`` of 3x3; the full profile
uses PASCAL VOC 2012 (with SBD when present), ImageNet VGG16 and ``fc6`` of 7x7, as in the paper.

Tasks: ``"binary"`` (sign, or any VOC object, against background; the learner's problem) and
``"multiclass"`` (the five sign classes, or the 20 VOC classes, with void 255).

Example:

>>> from fcnlib import recipes
>>> data = recipes.make_datasets("binary")  # doctest: +SKIP
>>> fcn8s, history = recipes.train_model("fcn8s", "binary", datasets=data)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import functools
import zipfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from fcnlib import _scene_painter, config, datasets, devices, files, metrics, models, pipeline, synthetic, train

VARIANTS = ("dense", "fcn32s", "fcn16s", "fcn8s")
SCHEDULES = ("staged", "at_once")
TASKS = ("binary", "multiclass")
# The variant each staged FCN starts from (the paper's FCN-32s -> FCN-16s -> FCN-8s).
STAGED_FROM = {"fcn16s": "fcn32s", "fcn8s": "fcn16s"}
SEED = 0  # Seed of every recipe: weights, shuffling, dropout.
# A staged FCN-16s or FCN-8s fine-tunes for this share of the profile's epochs (at least one): it
# starts from a trained model, as in the paper, where the later stages train for less time.
STAGED_EPOCH_SHARE = 0.5


def stage_epochs(epochs: int) -> int:
    """The epochs a staged FCN-16s or FCN-8s fine-tunes for, when FCN-32s trains ``epochs``.

    ``STAGED_EPOCH_SHARE`` of them, at least one. ``train_model``, :mod:`fcnlib.budget` and the
    benchmark all count the stages with this function, so they agree on what a staged chain costs.
    """
    return max(1, round(epochs * STAGED_EPOCH_SHARE))


def _profile(profile) -> config.Profile:
    return profile if isinstance(profile, config.Profile) else config.get_profile(profile)


def _check(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"Unknown {name} {value!r}; choose one of {allowed}.")


def class_names(task: str = "binary", profile=None) -> tuple[str, ...]:
    """Returns the class names of ``task`` on the profile's dataset (index = class)."""
    _check("task", task, TASKS)
    if task == "binary":
        return ("background", "object") if _profile(profile).dataset == "voc" else config.BINARY_CLASSES
    return config.VOC_CLASSES if _profile(profile).dataset == "voc" else config.MULTICLASS_CLASSES


@functools.lru_cache(maxsize=4)
def synthetic_splits(task: str, profile: config.Profile, cache: bool = True) -> dict:
    """The profile's synthetic splits as arrays, generated once and then read from the cache.

    Generating the quick profile's 1,100 scenes takes seconds, which every notebook that trains
    would spend again; the first call saves them in ``config.cache_dir() / "data"`` (one ``.npz``,
    written atomically) and later calls, in any process, read them back in a fraction of a second.
    The file name holds the task, the split sizes, the image size and a digest of the generator's
    source and of NumPy's version, so a changed generator or profile never reads old scenes. A file
    that cannot be read, or holds arrays of other shapes, is reported and replaced; a cache folder
    that cannot be written only costs the time. ``cache=False`` generates them and leaves the cache
    folder alone.
    """
    path = _splits_file(task, profile)
    if cache and path.exists():
        try:
            with np.load(path) as saved:
                loaded = {name: (saved[f"{name}_images"], saved[f"{name}_masks"]) for name in synthetic.SPLIT_SEEDS}
            if all(_split_shapes(*arrays) == _expected_shapes(profile, name) for name, arrays in loaded.items()):
                return loaded
            print(f"The saved scenes in {path} have other shapes than the profile's; generating them again.")
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
            print(f"The saved scenes in {path} cannot be read ({type(error).__name__}: {error}); "
                  "generating them again.")
    generated = synthetic.splits(task, profile=profile)
    if not cache:
        return generated
    try:
        with files.atomic_path(path) as tmp, open(tmp, "wb") as stream:
            np.savez(stream, **{f"{name}_{kind}": array for name, (images, masks) in generated.items()
                                for kind, array in (("images", images), ("masks", masks))})
    except OSError as error:
        print(f"Could not save the scenes in {path} ({error}); the next process generates them again.")
    return generated


def _splits_file(task: str, profile: config.Profile) -> Path:
    """Where :func:`synthetic_splits` keeps the profile's scenes of ``task``."""
    generator = b"".join(Path(module.__file__).read_bytes() for module in (synthetic, _scene_painter))
    digest = files.sha256(generator + np.__version__.encode())[:12]
    sizes = "-".join(str(size) for size in (profile.num_train, profile.num_val, profile.num_test))
    return config.cache_dir() / "data" / f"synthetic-{task}-{sizes}-{profile.image_size}px-{digest}.npz"


def _expected_shapes(profile: config.Profile, split: str):
    count = {"train": profile.num_train, "val": profile.num_val, "test": profile.num_test}[split]
    side = profile.image_size
    return (count, side, side, 3), (count, side, side), np.dtype(np.uint8)


def _split_shapes(images, masks):
    return images.shape, masks.shape, images.dtype if images.dtype == masks.dtype else None


def _binarize(image, mask):
    """VOC classes 1..20 become 1 ("object"); background stays 0 and void stays 255."""
    object_ = tf.logical_and(mask > 0, mask != config.IGNORE_LABEL)
    return image, tf.where(object_, tf.ones_like(mask), mask)


def make_datasets(task: str = "binary", profile=None, augment: bool | None = None,
                  autotune: bool | None = None, cache: bool = True) -> dict:
    """Returns ``{"train", "val", "test"}`` batched ``tf.data`` datasets of the profile.

    Quick: the synthetic splits (800 / 100 / 200 scenes of 96x96), no augmentation. ``gpu``: VOC
    ``train`` (1,464 images) for training, random scale / crop / flip to ``image_size``, and VOC
    ``val`` for both validation and test (the paper reports on val too). Full: the same with
    ``train_aug`` (VOC + SBD, 10,582 images; ``train`` when the SBD is missing).

    Args:
        task: ``"binary"`` or ``"multiclass"``.
        profile: A profile name or :class:`config.Profile`; the active one when None.
        augment: Override the profile's choice of training augmentation.
        autotune: tf.data's autotuner for every split, as ``pipeline.make_dataset`` takes it (None:
            on next to a GPU or TPU, off on a CPU-only machine).
        cache: False to generate the synthetic scenes without saving them in the cache folder
            (:func:`synthetic_splits`); other datasets are read from their files either way.

    Returns:
        A :class:`Splits` dict of datasets of ``(float32 images, int32 masks)`` batches.
    """
    _check("task", task, TASKS)
    profile = _profile(profile)
    size, batch = profile.image_size, profile.batch_size
    augment = (profile.dataset != "synthetic") if augment is None else augment
    if profile.dataset == "synthetic":
        sources = synthetic_splits(task, profile, cache)
    elif profile.dataset == "voc":
        train_split = None
        if profile.train_split == "train_aug":  # VOC + SBD; VOC train alone when the SBD is missing.
            try:
                train_split = datasets.load_voc(split="train_aug")
            except FileNotFoundError:
                print("The SBD masks are missing: training on VOC 2012 train (1,464 images) only.")
        if train_split is None:
            train_split = datasets.load_voc(split="train")
        val_split = datasets.load_voc(split="val")
        # Validation (the curves) uses the first num_val images of VOC val, the test scores num_test.
        sources = {"train": train_split, "val": val_split.take(profile.num_val),
                   "test": val_split.take(profile.num_test)}
        if profile.smoke:  # A smoke run walks the path on a handful of images.
            sources["train"] = train_split.take(profile.num_train)
        if task == "binary":
            sources = {k: v.map(_binarize) for k, v in sources.items()}
    else:
        raise ValueError(f"Profile {profile.name!r} has dataset {profile.dataset!r}; recipes know "
                         "'synthetic' and 'voc'. Use fcnlib.pipeline.make_dataset for other data.")

    def batches(name):
        return pipeline.make_dataset(sources[name], batch, training=name == "train",
                                     image_size=size, augment=augment and name == "train", seed=SEED,
                                     autotune=autotune)

    return Splits({name: batches(name) for name in sources}, lambda: batches("train"))


class Splits(dict):
    """``{"train", "val", "test"}`` datasets that can also rebuild their training split.

    A seeded ``tf.data`` shuffle gives a new order each time the same dataset object is iterated
    (each epoch), and that count runs on across ``fit`` calls in one process. A run that trains on
    a freshly built training split therefore sees the same batches whatever trained before it.
    """

    def __init__(self, splits: dict, rebuild_train):
        super().__init__(splits)
        self.rebuild_train = rebuild_train


def dense_profile(profile=None) -> config.Profile:
    """The profile the dense baseline trains in: ImageNet VGG16's ``fc1`` needs 224x224 inputs.

    With the quick backbone it is the profile itself (96x96); with ImageNet weights the same
    profile at ``image_size=224``, as in the learner's model. Score the dense baseline (and any
    model compared with it) on ``make_datasets(task, dense_profile(profile))``.
    """
    profile = _profile(profile)
    if profile.backbone_weights == "imagenet" and profile.image_size != 224:
        return dataclasses.replace(profile, image_size=224)
    return profile


def _image_size(data) -> tuple:
    return tuple(data.element_spec[0].shape[1:3])


def fc6_kernel(profile=None) -> int:
    """``fc6``'s kernel: 7 for ImageNet VGG16 (224 / 32), 3 for the quick backbone (96 / 32).

    ``fc6`` is the classifier's ``fc1`` turned into a convolution, so its kernel is the side of the
    pool5 map the backbone was pretrained on. :mod:`fcnlib.budget` counts FLOPs with this rule too.
    """
    return 7 if _profile(profile).backbone_weights == "imagenet" else config.QUICK.image_size // 32


def build(variant: str, task: str = "binary", upsampling: str = "fixed", skip_scaling: bool = False,
          profile=None, weights="profile") -> keras.Model:
    """Builds a variant of the series with the profile's backbone, width and ``fc6`` kernel.

    ``"dense"`` is the learner's dense-reshape baseline at the profile's image size (binary only:
    one sigmoid channel); the FCNs output ``len(class_names(task))`` logits at any input size.
    ``weights="profile"`` loads the profile's backbone weights; pass None for random ones.

    Under a mixed-precision policy (``devices.precision_policy("mixed_float16")``) every layer
    computes in float16, the last one included; the model then ends in one more layer,
    ``output_float32``, a float32 identity, so that the softmax, the loss and the metrics see
    float32 scores (the Keras mixed-precision guide's advice). Under float32 nothing is added.
    """
    _check("variant", variant, VARIANTS)
    profile = _profile(profile)
    weights = profile.backbone_weights if weights == "profile" else weights
    if variant == "dense":
        if task != "binary":
            raise ValueError("The dense baseline is the learner's binary model; use task='binary'.")
        size = dense_profile(profile).image_size
        return _float32_output(models.dense_reshape_vgg16((size, size, 3), 1, weights=weights,
                                                          width=profile.width))
    builder = {"fcn32s": models.fcn32s, "fcn16s": models.fcn16s, "fcn8s": models.fcn8s}[variant]
    return _float32_output(builder(len(class_names(task, profile)), weights=weights,
                                   width=profile.width, upsampling=upsampling,
                                   fc6_kernel=fc6_kernel(profile), skip_scaling=skip_scaling))


def _float32_output(model: keras.Model) -> keras.Model:
    """Appends a float32 identity layer when the model computes in float16 or bfloat16."""
    if model.output.dtype == "float32":
        return model
    to_float32 = keras.layers.Activation("linear", dtype="float32", name="output_float32")
    outputs = to_float32(model.output)
    return keras.Model(model.input, outputs, name=model.name)


def _precision_key() -> dict:
    """``{"dtype_policy": name}`` under a mixed-precision policy; nothing in float32."""
    policy = keras.mixed_precision.global_policy().name
    return {} if policy == "float32" else {"dtype_policy": policy}


def train_model(variant: str, task: str = "binary", upsampling: str = "fixed",
                schedule: str = "staged", *, profile=None, datasets=None, epochs=None,
                verbose="auto", cache=True, strategy=None, jit_compile="auto"):
    """Trains a variant with the series' recipe, or loads it from the checkpoint cache.

    FCNs train with Adam at the profile's learning rate, ``metrics.segmentation_loss`` (void
    ignored) and ``StreamingMeanIoU``. ``schedule="staged"`` starts FCN-16s from the trained
    FCN-32s and FCN-8s from the trained FCN-16s (same task and upsampling), each trained for the
    profile's epochs; ``"at_once"`` trains FCN-16s / FCN-8s from the backbone with the skip
    inputs scaled (0.01, 0.0001). Staged stages train for ``STAGED_EPOCH_SHARE`` of the epochs,
    so the staged FCN-8s has seen 1 + 0.5 + 0.5 times the epochs of the at-once one.

    The dense baseline trains as the learner did, binary cross-entropy on its sigmoid output and
    Keras ``accuracy`` as the metric, in :func:`dense_profile` (224x224 with ImageNet weights;
    ``datasets`` of another size are replaced). The cross-entropy skips void pixels (VOC's
    borders; the synthetic binary task has none, so there it is plain binary cross-entropy).

    Args:
        variant: One of ``VARIANTS``.
        task: One of ``TASKS``.
        upsampling: ``"fixed"``, ``"learned"`` or ``"random"`` (see ``layers.upsample_layer``).
        schedule: One of ``SCHEDULES`` (only matters for FCN-16s and FCN-8s).
        profile: A profile name or :class:`config.Profile`; the active one when None.
        datasets: The output of :func:`make_datasets` (built when None).
        epochs: Epochs of an FCN-32s, an at-once FCN or the dense baseline; the profile's when
            None. Staged stages take ``STAGED_EPOCH_SHARE`` of it.
        verbose: Keras verbosity.
        cache: False to train without the checkpoint cache (and, when it builds the datasets, without
            saving the synthetic scenes there either).
        strategy: A ``tf.distribute.Strategy`` (e.g. ``devices.default_strategy()``) to build and
            train in; None trains on the default device. It splits each batch across replicas,
            so the result does not depend on it and it is not part of the cache key.
        jit_compile: XLA for the training step, as in ``train.fit`` (``"auto"``, True, False).

    A profile with ``mixed_precision`` (``gpu``, ``full``) builds and trains in ``mixed_float16``
    unless the caller set a global policy itself. The policy is part of the cache key, so a model
    trained in float16 is never loaded as the float32 one, and vice versa.

    Returns:
        ``(model, history)`` as from ``train.train_or_load``.

    Introduced in notebooks/02_fully_convolutional.ipynb.
    """
    _check("variant", variant, VARIANTS)
    _check("schedule", schedule, SCHEDULES)
    profile = dense_profile(profile) if variant == "dense" else _profile(profile)
    size = (profile.image_size, profile.image_size)
    if datasets is None or (variant == "dense" and _image_size(datasets["train"]) != size):
        datasets = make_datasets(task, profile, cache=cache)  # The dense head only takes its own size.
    staged = variant in STAGED_FROM and schedule == "staged"
    key = {"recipe": variant, "task": task, "upsampling": upsampling,
           "schedule": schedule if variant in STAGED_FROM else None, "seed": SEED,
           "profile": dataclasses.asdict(profile)}

    def build_fn():
        previous = None
        if staged:  # Trained (or loaded) first, so the seed below starts every run alike.
            previous, _ = train_model(STAGED_FROM[variant], task, upsampling, schedule,
                                      profile=profile, datasets=datasets, epochs=epochs,
                                      verbose=verbose, cache=cache, strategy=strategy,
                                      jit_compile=jit_compile)
        train.set_seed(SEED)
        model = build(variant, task, upsampling, skip_scaling=variant in STAGED_FROM and not staged,
                      profile=profile)
        if previous is not None:
            models.transfer_weights(previous, model)
        return model

    loss = metric = None
    if variant == "dense":
        loss, metric = metrics.MaskedBinaryCrossentropy(), ["accuracy"]
    epochs = epochs or profile.epochs
    own_epochs = stage_epochs(epochs) if staged else epochs
    train.set_seed(SEED)  # The shuffle's seed comes from the global seed too: fix both, then build.
    train_data = datasets.rebuild_train() if isinstance(datasets, Splits) else datasets["train"]
    with _profile_precision(profile, strategy):
        key.update(_precision_key())
        return train.train_or_load(build_fn, key, train_data, datasets["val"],
                                   epochs=own_epochs, learning_rate=profile.learning_rate, loss=loss,
                                   metrics=metric, verbose=verbose, cache=cache, strategy=strategy,
                                   profile=profile, jit_compile=jit_compile)


def _profile_precision(profile, strategy=None):
    """The profile's precision for building and training: mixed where it asks for it, else as is.

    A global policy the caller set (``devices.precision_policy``) is left alone; a profile with
    ``mixed_precision`` (``gpu``, ``full``) trains in ``mixed_float16`` (``mixed_bfloat16`` on a
    TPU) only when no such policy is set.
    """
    import contextlib

    if not profile.mixed_precision or keras.mixed_precision.global_policy().name != "float32":
        return contextlib.nullcontext()
    return devices.precision_policy(devices.mixed_precision_policy(strategy))


def scores(model, data, task: str = "binary", profile=None) -> dict:
    """``metrics.evaluate`` with the task's class count (1 for the sigmoid dense baseline)."""
    channels = model.output_shape[-1]
    num_classes = 1 if channels == 1 else len(class_names(task, profile))
    return metrics.evaluate(model, data, num_classes)


def segment_images(model, images) -> np.ndarray:
    """Class indices (N, H, W) for raw images (N, H, W, 3), preprocessed as the series does.

    The whole path from raw images: ``pipeline.preprocess_vgg16``, ``model.predict``, then
    :func:`fcnlib.metrics.predict_labels`, which turns model outputs into class indices.
    """
    metrics._check_batch_axis(images, "recipes.segment_images", "segment_images(model, image[None])[0]")
    pipeline.check_scale(images, "raw", "recipes.segment_images")
    return metrics.predict_labels(model.predict(pipeline.preprocess_vgg16(images), verbose=0))
