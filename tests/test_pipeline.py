"""Tests for fcnlib.pipeline: preprocessing, joint augmentation, nearest-only masks, batches."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from fcnlib import pipeline

VOID = 255
CLASSES = (0, 2, 5)  # Gaps on purpose: blending 0 and 2 or 2 and 5 would invent 1, 3 or 4.
COLOURS = {0: (200, 30, 30), 2: (30, 200, 30), 5: (30, 30, 200)}
MEAN_RGB = np.round(np.array([123.68, 116.779, 103.939])).astype(int)


def colour_coded(num_images=6, height=40, width=56, seed=0):
    """Masks of 4x4 blocks of classes 0/2/5 and images whose colour is the class colour."""
    rng = np.random.default_rng(seed)
    blocks = rng.choice(CLASSES, (num_images, 4, 4))
    masks = np.repeat(np.repeat(blocks, height // 4, axis=1), width // 4, axis=2).astype(np.uint8)
    images = np.zeros(masks.shape + (3,), np.uint8)
    for value, colour in COLOURS.items():
        images[masks == value] = colour
    return images, masks


def assert_aligned(image, mask):
    """Every non-void pixel inside a class region has its class colour; void pixels are the mean."""
    image, mask = np.asarray(image).astype(int), np.asarray(mask)
    padded = np.pad(mask, 1, mode="edge")
    neighbours = np.stack([padded[1 + di:1 + di + mask.shape[0], 1 + dj:1 + dj + mask.shape[1]]
                           for di in (-1, 0, 1) for dj in (-1, 0, 1)])
    interior = np.all(neighbours == mask, axis=0)
    checked = 0
    for value, colour in COLOURS.items():
        where = interior & (mask == value)
        assert np.abs(image[where] - colour).max(initial=0) <= 1, f"class {value} pixels off colour"
        checked += where.sum()
    assert checked > 0.6 * np.sum(mask != VOID)
    where = interior & (mask == VOID)
    assert np.abs(image[where] - MEAN_RGB).max(initial=0) <= 1, "padded pixels are not the mean"


def test_preprocess_matches_keras_vgg16():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 5, 7, 3)).astype(np.uint8)
    expected = keras.applications.vgg16.preprocess_input(images.astype(np.float32))
    got = pipeline.preprocess_vgg16(images)
    assert isinstance(got, np.ndarray) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-4)
    as_tensor = pipeline.preprocess_vgg16(tf.constant(images))
    assert isinstance(as_tensor, tf.Tensor) and as_tensor.dtype == tf.float32
    np.testing.assert_allclose(as_tensor.numpy(), expected, atol=1e-4)
    np.testing.assert_array_equal(pipeline.deprocess_vgg16(got), images)
    with pytest.raises(ValueError, match=r"\(2, 5, 7\)"):
        pipeline.preprocess_vgg16(np.zeros((2, 5, 7)))


def test_from_arrays_gives_uint8_pairs():
    images, masks = colour_coded()
    dataset = pipeline.from_arrays(images.astype(np.float64), masks[..., None].astype(np.int32))
    image, mask = next(iter(dataset))
    assert image.dtype == tf.uint8 and image.shape == (40, 56, 3)
    assert mask.dtype == tf.uint8 and mask.shape == (40, 56)
    np.testing.assert_array_equal(mask.numpy(), masks[0])


@pytest.mark.parametrize("images, masks, message", [
    (np.zeros((6, 40, 56, 3)), np.zeros((6, 40, 50)), r"\(6, 40, 56, 3\).*\(6, 40, 50\)"),
    (np.zeros((6, 40, 56, 3)), np.zeros((5, 40, 56)), r"\(6, 40, 56, 3\).*\(5, 40, 56\)"),
    (np.zeros((6, 40, 56, 3)), np.zeros((6, 40, 56, 3)), r"masks must have shape.*\(6, 40, 56, 3\)"),
    (np.zeros((6, 40, 56, 3)), np.zeros((40, 56)), r"masks must have shape.*\(40, 56\)"),
    (np.zeros((40, 56, 3)), np.zeros((40, 56)), r"images must have shape.*\(40, 56, 3\)"),
    (np.full((2, 4, 4, 3), 300, np.int32), np.zeros((2, 4, 4)), r"int32\) hold values 300\.\.300"),
    (np.full((2, 4, 4, 3), -104.0), np.zeros((2, 4, 4)), r"-104\.\.-104"),
    (np.full((2, 4, 4, 3), 0.5), np.zeros((2, 4, 4)), r"\[0, 1\]"),
    (np.zeros((2, 4, 4, 3), np.uint8), np.full((2, 4, 4), 0.5), r"\[0\.5\]"),
    (np.zeros((2, 4, 4, 3), np.uint8), np.full((2, 4, 4), 256), r"\[256\]"),
])
def test_bad_input_names_shapes_and_values(images, masks, message):
    with pytest.raises(ValueError, match=message):
        pipeline.from_arrays(images, masks)


def test_augment_never_invents_classes():
    images, masks = colour_coded()
    allowed = set(CLASSES) | {VOID}
    for seed in range(12):
        _, mask = pipeline.augment(images[seed % 6], masks[seed % 6], seed=(seed, 1),
                                   crop_size=(36, 60), scale_range=(0.6, 1.4))
        assert set(np.unique(mask.numpy())) <= allowed
    # The check can fail: bilinear resizing of the same masks creates the classes 1, 3 and 4.
    bilinear = tf.image.resize(masks[..., None], (53, 71), method="bilinear")
    invented = set(np.unique(np.round(bilinear.numpy()).astype(int))) - allowed
    assert invented & {1, 3, 4}


def test_augment_keeps_image_and_mask_aligned():
    images, masks = colour_coded()
    for seed in range(12):
        image, mask = pipeline.augment(images[seed % 6], masks[seed % 6], seed=(7, seed),
                                       crop_size=(40, 56), scale_range=(0.75, 1.25))
        assert image.dtype == tf.uint8 and mask.dtype == tf.uint8
        assert image.shape == (40, 56, 3) and mask.shape == (40, 56)
        assert_aligned(image, mask)


def test_augment_pads_small_scenes_with_void_and_mean():
    images, masks = colour_coded(num_images=1)
    image, mask = pipeline.augment(images[0], masks[0], seed=3, crop_size=(64, 80),
                                   flip=False, scale_range=(1, 1))
    mask = mask.numpy()
    assert np.all(mask[40:] == VOID) and np.all(mask[:, 56:] == VOID)
    np.testing.assert_array_equal(mask[:40, :56], masks[0])
    np.testing.assert_array_equal(image.numpy()[50, 70], MEAN_RGB)
    assert_aligned(image, mask)


def test_flip_is_applied_to_image_and_mask_together():
    images, masks = colour_coded(num_images=1)
    outcomes = set()
    for seed in range(10):
        image, mask = pipeline.augment(images[0], masks[0], seed=(seed, 0), scale_range=(1, 1))
        flipped = np.array_equal(mask.numpy(), masks[0][:, ::-1])
        assert flipped or np.array_equal(mask.numpy(), masks[0])
        np.testing.assert_array_equal(image.numpy(), images[0][:, ::-1] if flipped else images[0])
        outcomes.add(flipped)
    assert outcomes == {True, False}


def epochs(dataset, count=2):
    return [[(x.numpy(), y.numpy()) for x, y in dataset] for _ in range(count)]


def test_make_dataset_is_deterministic_with_a_seed():
    images, masks = colour_coded()
    kwargs = dict(batch_size=4, training=True, augment=True)
    first = epochs(pipeline.make_dataset((images, masks), seed=3, **kwargs))
    again = epochs(pipeline.make_dataset((images, masks), seed=3, **kwargs))
    other = epochs(pipeline.make_dataset((images, masks), seed=4, **kwargs))
    for a, b in zip(sum(first, []), sum(again, []), strict=False):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(first[0][0][1], other[0][0][1])
    # With a shuffle buffer of 1 the order stays fixed, so any change between epochs is a new draw.
    fixed_order = epochs(pipeline.make_dataset((images, masks), seed=3, shuffle_buffer=1, **kwargs))
    assert not np.array_equal(fixed_order[0][0][1], fixed_order[1][0][1])


def nearest_reference(masks, height, width):
    """Nearest-neighbour resizing with half-pixel centres, written with index arithmetic."""
    rows = np.minimum(((np.arange(height) + 0.5) * masks.shape[1] / height).astype(int), masks.shape[1] - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * masks.shape[2] / width).astype(int), masks.shape[2] - 1)
    return masks[:, rows][:, :, cols]


def test_make_dataset_batches_shapes_and_dtypes():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (6, 40, 56, 3)).astype(np.uint8)
    masks = rng.choice(CLASSES, (6, 40, 56)).astype(np.uint8)
    dataset = pipeline.make_dataset((images, masks), batch_size=4, image_size=(32, 48))
    batches = list(dataset)
    assert [tuple(x.shape) for x, _ in batches] == [(4, 32, 48, 3), (2, 32, 48, 3)]
    assert [tuple(y.shape) for _, y in batches] == [(4, 32, 48), (2, 32, 48)]
    assert all(x.dtype == tf.float32 and y.dtype == tf.int32 for x, y in batches)
    got_masks = np.concatenate([y.numpy() for _, y in batches])
    np.testing.assert_array_equal(got_masks, nearest_reference(masks, 32, 48))
    resized = tf.image.resize(images.astype(np.float32), (32, 48)).numpy()
    expected = keras.applications.vgg16.preprocess_input(resized)
    np.testing.assert_allclose(np.concatenate([x.numpy() for x, _ in batches]), expected, atol=1e-3)


def test_make_dataset_augments_only_when_training():
    images, masks = colour_coded()
    plain = list(pipeline.make_dataset((images, masks), 6, augment=True))[0]
    np.testing.assert_array_equal(plain[1].numpy(), masks)
    x, y = list(pipeline.make_dataset((images, masks), 6, training=True, augment=True, seed=1))[0]
    assert x.shape == (6, 40, 56, 3) and y.shape == (6, 40, 56)
    assert set(np.unique(y.numpy())) <= set(CLASSES) | {VOID}
    for image, mask in zip(pipeline.deprocess_vgg16(x.numpy()), y.numpy(), strict=False):
        assert_aligned(image, mask)


def test_make_dataset_from_a_tf_dataset():
    images, masks = colour_coded()
    source = tf.data.Dataset.from_tensor_slices((images, masks[..., None]))
    (x, y), = list(pipeline.make_dataset(source, 6))
    np.testing.assert_array_equal(y.numpy(), masks)
    ragged = tf.data.Dataset.from_generator(
        lambda: iter([(images[0], masks[0])]),
        output_signature=(tf.TensorSpec((None, None, 3), tf.uint8), tf.TensorSpec((None, None), tf.uint8)))
    with pytest.raises(ValueError, match="image_size"):
        pipeline.make_dataset(ragged, 2)
    assert list(pipeline.make_dataset(ragged, 2, image_size=16))[0][0].shape == (1, 16, 16, 3)
    with pytest.raises(ValueError, match="unbatched"):
        pipeline.make_dataset(source.batch(2), 2)


def test_autotune_is_off_on_a_cpu_only_machine_and_the_batches_do_not_depend_on_it(monkeypatch):
    images, masks = colour_coded()
    kwargs = dict(batch_size=4, training=True, augment=True, seed=5)
    tuned = pipeline.make_dataset((images, masks), autotune=True, **kwargs)
    untuned = pipeline.make_dataset((images, masks), autotune=False, **kwargs)
    assert tuned.options().autotune.enabled is True
    assert untuned.options().autotune.enabled is False
    # The default: off where TensorFlow sees no GPU or TPU, on where it sees one.
    for seen, expected in (({}, False), ({"GPU"}, True), ({"TPU"}, True)):
        monkeypatch.setattr(tf.config, "list_physical_devices",
                            lambda kind=None, seen=seen: ["an accelerator"] if kind in seen else [])
        assert pipeline.autotune_default() is expected
        assert pipeline.make_dataset((images, masks), **kwargs).options().autotune.enabled is expected
    for a, b in zip(sum(epochs(tuned), []), sum(epochs(untuned), []), strict=False):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


# The quick profile's batches, from embedded arrays, must not change when the file pipeline does.

# sha256 of the element spec, the cardinality and every batch's bytes, recorded with fcnlib's
# make_dataset before file caching and drop_remainder existed (fcnlib 0.3.0, TensorFlow 2.21.0, Keras
# 3.15.1), after `train.set_seed(0)` as the recipes call it: a shuffle's seed pairs its own seed with the
# global one, so without it the digests would depend on what ran before in the process. The quick training
# split over 2 epochs, its validation split, and the training arrays augmented.
QUICK_DIGESTS = {
    "train": "6257a7d91611fff8428e9f0ee10aafebc5c0e0569414a46e4aa723cc6232cd33",
    "val": "d4417ee7ab7cbbe2e40f8823f5eed1286241312e94e9f94ce7198be0aa5e66d0",
    "augmented": "4a932a8effa8b856bc8e8a188e4d2a32a211747131176df6261e9c27b6bb933a",
}


def _digest(dataset, epochs):
    import hashlib

    digest = hashlib.sha256()
    digest.update(repr(dataset.element_spec).encode())
    digest.update(str(int(dataset.cardinality())).encode())
    for _ in range(epochs):
        for x, y in dataset:
            digest.update(x.numpy().tobytes())
            digest.update(y.numpy().tobytes())
    return digest.hexdigest()


def _former_array_batches(images, masks, batch_size, seed, augment):
    """make_dataset's steps for arrays as they were, written out with plain tf.data."""
    dataset = tf.data.Dataset.from_tensor_slices((images, masks)).shuffle(1000, seed=seed,
                                                                          reshuffle_each_iteration=True)
    if augment:
        keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        dataset = tf.data.Dataset.zip(dataset, keys).map(lambda pair, key: pipeline._augment_pair(pair, key, seed))
    return dataset.batch(batch_size).map(lambda x, y: (pipeline.preprocess_vgg16(x), tf.cast(y, tf.int32)))


def test_quick_profile_batches_are_bit_identical_to_before():
    from fcnlib import config, recipes

    images, masks = recipes.synthetic_splits("binary", config.QUICK, cache=False)["train"]
    augmented = pipeline.make_dataset((images, masks), 16, training=True, augment=True, seed=0)
    # Against the former steps, on any TensorFlow: the same spec, the same bytes, epoch after epoch.
    former = _former_array_batches(images, masks, 16, 0, augment=True)
    assert augmented.element_spec[0].shape.as_list() == [None, 96, 96, 3]  # No dropped remainder.
    for _ in range(2):
        pairs = list(zip(augmented, former, strict=True))
        assert len(pairs) == 50
        for (x, y), (x0, y0) in pairs:
            np.testing.assert_array_equal(x.numpy(), x0.numpy())
            np.testing.assert_array_equal(y.numpy(), y0.numpy())
    if tf.__version__ != "2.21.0":
        pytest.skip(f"The recorded digests are TensorFlow 2.21.0's; this is {tf.__version__}.")
    from fcnlib import train

    train.set_seed(0)  # As the recipes do before they build their data.
    data = recipes.make_datasets("binary", "quick", cache=False)
    assert _digest(data["train"], 2) == QUICK_DIGESTS["train"]
    assert _digest(data["val"], 1) == QUICK_DIGESTS["val"]
    again = pipeline.make_dataset((images, masks), 16, training=True, augment=True, seed=0)
    assert _digest(again, 2) == QUICK_DIGESTS["augmented"]


# Pairs read from files: cached once, shuffled by epoch, whole batches.

def _voc_files(tmp_path, count, size=(30, 40)):
    from fcnlib import datasets, files

    voc = tmp_path / "VOC2012"
    masks = {}
    for index in range(count):
        stem = f"s{index:03d}"
        mask = np.full(size, index % 21, np.uint8)  # The class is the pair's number: it names the pair.
        mask[:2] = 255
        image = np.repeat(np.full(size, index * 3, np.uint8)[..., None], 3, -1)
        files.write_image(voc / "JPEGImages" / f"{stem}.jpg", image)
        files.write_mask(voc / "SegmentationClass" / f"{stem}.png", mask)
        masks[stem] = mask
    (voc / "ImageSets" / "Segmentation").mkdir(parents=True)
    (voc / "ImageSets" / "Segmentation" / "train.txt").write_text("".join(f"{s}\n" for s in masks))
    return datasets.load_voc(voc, "train")


def _reads_counted(dataset):
    """The same pairs, counting each read of a file (in a Python function, which a cache skips)."""
    reads = []

    def count(image, mask):
        def note(value):
            reads.append(int(value))
            return value
        seen = tf.py_function(note, [mask[5, 5]], tf.uint8)
        seen.set_shape([])
        return image, mask + seen * 0

    return dataset.map(count), reads


def test_file_pairs_are_read_once_and_shuffled_each_epoch(tmp_path):
    source = _voc_files(tmp_path, 21)
    batches = pipeline.make_dataset(source, 4, training=True, image_size=(16, 24), seed=1)
    assert batches.element_spec[0].shape.as_list() == [4, 16, 24, 3]  # The remainder is dropped.
    orders = []
    for _ in range(3):
        labels = [int(y[0, 8, 8]) for _, y in batches for y in [y[i:i + 1] for i in range(4)]]
        assert len(labels) == 20 and len(set(labels)) == 20  # 5 whole batches of distinct pairs.
        orders.append(labels)
    assert orders[0] != orders[1] != orders[2]
    evaluation = list(pipeline.make_dataset(source, 4, image_size=(16, 24)))
    assert [int(y.shape[0]) for _, y in evaluation] == [4, 4, 4, 4, 4, 1]  # Evaluation keeps them all.
    assert [int(v) for _, y in evaluation for v in y[:, 8, 8]] == list(range(21))


def test_file_pairs_are_cached_unless_a_step_is_random(tmp_path, monkeypatch):
    source = _voc_files(tmp_path, 6)
    counted, reads = _reads_counted(source)  # A py_function: stateful, so never cached.
    batches = pipeline.make_dataset(counted, 2, training=True, image_size=(16, 24))
    for _ in range(2):
        list(batches)
    assert len(reads) == 12  # Read again in the second epoch.
    assert pipeline._read_from_files(source) and pipeline._read_from_files(source.map(lambda x, y: (x, y)))
    assert not pipeline._read_from_files(source.map(lambda x, y: (tf.image.random_flip_left_right(x), y)))
    assert not pipeline._read_from_files(tf.data.Dataset.from_tensor_slices((np.zeros((2, 4, 4, 3), np.uint8),
                                                                             np.zeros((2, 4, 4), np.uint8))))
    # The cache in use: after the first epoch the files may go, the batches stay.
    batches = pipeline.make_dataset(source, 2, training=True, image_size=(16, 24))
    first = sorted(int(v) for _, y in batches for v in y[:, 8, 8])
    for path in (tmp_path / "VOC2012" / "JPEGImages").iterdir():
        path.unlink()
    assert sorted(int(v) for _, y in batches for v in y[:, 8, 8]) == first == list(range(6))
    monkeypatch.setattr(pipeline, "cache_budget", lambda: 0)  # Too large to cache: read every epoch.
    source = _voc_files(tmp_path / "again", 6)
    uncached = pipeline.make_dataset(source, 2, training=True, image_size=(16, 24))
    assert sorted(int(v) for _, y in uncached for v in y[:, 8, 8]) == list(range(6))
    for path in (tmp_path / "again" / "VOC2012" / "JPEGImages").iterdir():
        path.unlink()
    with pytest.raises(tf.errors.NotFoundError):
        list(uncached)


def test_cache_argument_is_checked():
    images, masks = colour_coded()
    with pytest.raises(ValueError, match="cache must be"):
        pipeline.make_dataset((images, masks), 2, cache=3)
