"""Tests of fcnlib.synthetic: determinism, value sets, the void band, files, presence labels, difficulty."""

import dataclasses
import time

import numpy as np
import pytest
from scipy import ndimage

from fcnlib import config, files, synthetic

VOID = config.IGNORE_LABEL


@pytest.fixture(scope="module")
def scenes():
    """Forty 64x64 scenes of one seed, with binary and multiclass masks."""
    images, binary = synthetic.generate(40, 64, "binary", seed=3)
    images_mc, multiclass = synthetic.generate(40, 64, "multiclass", seed=3)
    return images, binary, images_mc, multiclass


def test_shapes_and_dtypes_for_square_and_odd_sizes():
    for size, (height, width) in [(48, (48, 48)), ((37, 70), (37, 70)), ([80, 50], (80, 50)), (16, (16, 16))]:
        images, masks = synthetic.generate(2, size)
        assert images.shape == (2, height, width, 3) and images.dtype == np.uint8
        assert masks.shape == (2, height, width) and masks.dtype == np.uint8


def test_same_seed_gives_identical_bytes_and_prefixes_are_stable():
    first = synthetic.generate(6, (40, 56), "multiclass", seed=11)
    second = synthetic.generate(6, (40, 56), "multiclass", seed=11)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(first, second, strict=False))
    # Scene i depends on (seed, i) only: asking for fewer scenes gives the same first ones.
    prefix = synthetic.generate(3, (40, 56), "multiclass", seed=11)
    assert all(np.array_equal(a[:3], b) for a, b in zip(first, prefix, strict=False))
    other = synthetic.generate(6, (40, 56), "multiclass", seed=12)
    assert not np.array_equal(first[0], other[0])
    # No two scenes of a seed are alike.
    assert len({image.tobytes() for image in first[0]}) == 6


def test_tasks_share_images_and_value_sets(scenes):
    images, binary, images_mc, multiclass = scenes
    np.testing.assert_array_equal(images, images_mc)
    assert set(np.unique(binary).tolist()) == {0, 1}
    assert set(np.unique(multiclass).tolist()) == {0, 1, 2, 3, 4, 5, VOID}
    # Outside the void band, the multiclass mask says "sign" exactly where the binary one does.
    labelled = multiclass != VOID
    np.testing.assert_array_equal(multiclass[labelled] > 0, binary[labelled] == 1)


def _outline(mask):
    """Pixels with a 4-neighbour of another value (an independent border finder)."""
    changes = np.zeros(mask.shape, dtype=bool)
    vertical = mask[:-1] != mask[1:]
    horizontal = mask[:, :-1] != mask[:, 1:]
    changes[:-1] |= vertical
    changes[1:] |= vertical
    changes[:, :-1] |= horizontal
    changes[:, 1:] |= horizontal
    return changes


def test_void_band_follows_every_outline_and_only_outlines(scenes):
    _, binary, _, multiclass = scenes
    for sign, labels in zip(binary, multiclass, strict=False):
        outline = _outline(sign)
        void = labels == VOID
        # Every void pixel is within 2 px of a sign/background change (occluders' edges included)...
        near = ndimage.binary_dilation(outline, structure=np.ones((5, 5), bool))
        assert not (void & ~near).any()
        # ...and the band covers the whole outline, so no border pixel keeps a class.
        assert void[outline].all()
    assert 0.01 < (multiclass == VOID).mean() < 0.15


def test_occluders_hide_sign_pixels():
    """Whatever an occluder paints over a sign is background in the mask."""
    from PIL import Image

    from fcnlib import _scene_painter

    hidden = 0
    for seed in range(40):
        canvas = _scene_painter.Canvas(Image.new("RGB", (32, 32), (128, 128, 128)))
        canvas.polygon(_scene_painter.CIRCLE * 10 + 16, (200, 20, 30), label=4)
        before = np.asarray(canvas.image)[1::3, 1::3].copy()
        _scene_painter._occlude(canvas, np.random.default_rng(seed), 32, 32, 16.0, 16.0, 10.0)
        after = np.asarray(canvas.image)[1::3, 1::3]
        _, labels = canvas.finish()
        painted = (before != after).any(axis=-1)
        assert (labels[painted] == 0).all()
        hidden += painted.sum()
    assert hidden > 0


def test_sign_pixels_carry_sign_colours(scenes):
    """The mask lines up with the drawing: labelled pixels have their class's colours."""
    images, _, _, multiclass = scenes
    pixels = images.astype(np.float32)
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    brightest, darkest = pixels.max(axis=-1), pixels.min(axis=-1)
    white = (darkest > 0.72 * brightest) & (brightest > 80)
    red = (r > 1.4 * g) & (r > 1.4 * b)
    blue = (b > 1.2 * r) & (b > g)
    yellow = (r > 1.4 * b) & (g > 1.4 * b) & (g > 0.6 * r)
    black = brightest < 70
    colours = {1: red | white, 2: red | white, 3: red | white | yellow | black,
               4: red | white | black, 5: blue | white}
    for label, allowed in colours.items():
        assert allowed[multiclass == label].mean() > 0.9, config.MULTICLASS_CLASSES[label]


def test_canvas_mask_is_crisp_and_matches_the_antialiased_drawing():
    """The label canvas and the supersampled image come from the same polygon."""
    from matplotlib.path import Path
    from PIL import Image

    from fcnlib import _scene_painter

    rng = np.random.default_rng(0)
    offsets = (np.arange(8) + 0.5) / 8
    samples = (np.arange(32)[:, None] + offsets).ravel()
    ys, xs = np.meshgrid(samples, samples, indexing="ij")
    for shape in (_scene_painter.CIRCLE, _scene_painter.OCTAGON, _scene_painter.TRIANGLE_DOWN, _scene_painter.ARROW) * 5:
        angle, radius = rng.uniform(0, 2 * np.pi), rng.uniform(2, 12)
        matrix = radius * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        points = shape @ matrix.T + rng.uniform(10, 22, 2)
        canvas = _scene_painter.Canvas(Image.new("RGB", (32, 32)))
        canvas.polygon(points, (255, 255, 255), label=4)
        image, labels = canvas.finish()
        assert set(np.unique(labels).tolist()) <= {0, 4}
        # A labelled pixel has some white in it, an unlabelled one some black.
        assert (image[labels == 4] > 0).all() and (image[labels == 0] < 255).all()
        # Against the exact polygon (8x8 samples per pixel): covered pixels are labelled, and labels
        # stay within a pixel of the shape.
        inside = Path(points).contains_points(np.stack([xs.ravel(), ys.ravel()], axis=1))
        coverage = inside.reshape(32, 8, 32, 8).mean(axis=(1, 3))
        assert (labels[coverage >= 0.9] == 4).all()
        near = ndimage.binary_dilation(coverage > 0, structure=np.ones((3, 3), bool))
        assert not ((labels == 4) & ~near).any()


def test_void_band_matches_a_loop():
    labels = np.random.default_rng(0).integers(0, 3, (9, 11)).astype(np.uint8)
    labels[3:7, 2:9] = 2
    expected = labels.copy()
    for y in range(9):
        for x in range(11):
            neighbours = labels[max(0, y - 1):y + 2, max(0, x - 1):x + 2]
            if (neighbours != labels[y, x]).any():
                expected[y, x] = VOID
    np.testing.assert_array_equal(synthetic.void_band(labels), expected)


def test_write_folder_round_trip(tmp_path):
    images, masks = synthetic.generate(3, (40, 48), "multiclass", seed=5)
    root = synthetic.write_folder(tmp_path / "signs", images, masks, config.MULTICLASS_CLASSES, split="val")
    stems = (root / "splits" / "val.txt").read_text().split()
    assert stems == ["val_00000", "val_00001", "val_00002"]
    assert (root / "classes.txt").read_text().splitlines() == list(config.MULTICLASS_CLASSES)
    for index, stem in enumerate(stems):
        np.testing.assert_array_equal(files.read_image(root / "images" / f"{stem}.png"), images[index])
        np.testing.assert_array_equal(files.read_mask(root / "masks" / f"{stem}.png"), masks[index])
    # A second split joins the same folder; nothing half-written is left behind.
    synthetic.write_folder(root, images[:1], masks[:1], config.MULTICLASS_CLASSES, split="train")
    assert len(list((root / "images").iterdir())) == 4
    assert not list(root.rglob("*.part"))
    with pytest.raises(ValueError, match="other classes"):
        synthetic.write_folder(root, images, masks > 0, config.BINARY_CLASSES)
    wrong = np.zeros_like(masks)
    wrong[0, 0, :4] = (1, 2, VOID, 7)
    with pytest.raises(ValueError, match=r"values \[7\]"):
        synthetic.write_folder(tmp_path / "b", images, wrong, ("background", "sign", "other"))
    with pytest.raises(ValueError, match="shape"):
        synthetic.write_folder(tmp_path / "c", images, masks[:2], config.MULTICLASS_CLASSES)


def test_presence_labels_match_a_loop(scenes):
    _, binary, _, multiclass = scenes
    for masks, num_classes in [(multiclass, 6), (binary, 2)]:
        for min_pixels in (1, synthetic.MIN_PRESENCE_PIXELS, 200):
            expected = np.zeros((len(masks), num_classes - 1), np.float32)
            for n, mask in enumerate(masks):
                for c in range(1, num_classes):
                    expected[n, c - 1] = float(np.count_nonzero(mask == c) >= min_pixels)
            result = synthetic.presence_labels(masks, num_classes, min_pixels=min_pixels)
            assert result.dtype == np.float32
            np.testing.assert_array_equal(result, expected)
    # A class counts from exactly min_pixels pixels on; void pixels never count.
    masks = np.zeros((2, 8, 8), np.uint8)
    masks[0, 0, :4], masks[1, 0, :3], masks[1, 1, :] = 2, 2, VOID
    np.testing.assert_array_equal(synthetic.presence_labels(masks, 3, min_pixels=4), [[0, 1], [0, 0]])
    with pytest.raises(ValueError, match="value 5"):
        synthetic.presence_labels(multiclass, 5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_images=0), "num_images"),
        (dict(num_images=2.5), "num_images"),
        (dict(num_images=1, image_size=8), "at least 16"),
        (dict(num_images=1, image_size=(64, 15)), "at least 16"),
        (dict(num_images=1, image_size="big"), "image_size"),
        (dict(num_images=1, image_size=(64,)), "image_size"),
        (dict(num_images=1, image_size=64.0), "image_size"),
        (dict(num_images=1, task="instance"), r"\['binary', 'multiclass'\]"),
        (dict(num_images=1, seed=-1), "seed"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        synthetic.generate(**kwargs)


def test_splits_are_sized_by_the_profile_and_disjoint():
    profile = dataclasses.replace(config.QUICK, image_size=40, num_train=5, num_val=2, num_test=3)
    data = synthetic.splits("multiclass", profile=profile)
    assert {name: x.shape for name, (x, _) in data.items()} == {
        "train": (5, 40, 40, 3), "val": (2, 40, 40, 3), "test": (3, 40, 40, 3)}
    seen = [image.tobytes() for x, _ in data.values() for image in x]
    assert len(set(seen)) == len(seen)
    again = synthetic.splits("multiclass", profile=profile)
    np.testing.assert_array_equal(again["test"][1], data["test"][1])


def test_colour_alone_does_not_find_the_signs():
    """A red-or-blue threshold scores low; background is the large majority, as in real data."""
    images, masks = synthetic.generate(250, 96, "binary", seed=21)
    r, g, b = (images[..., channel].astype(np.int32) for channel in range(3))
    red = (r > 1.5 * g) & (r > 1.5 * b) & (r > 90)
    blue = (b > 1.3 * r) & (b > 1.1 * g) & (b > 80)
    truth = masks == 1
    guess = red | blue
    iou = (guess & truth).sum() / (guess | truth).sum()
    background = 1 - truth.mean()
    print(f"colour-threshold foreground IoU {iou:.3f}, background share {background:.3f}")
    assert iou < 0.45
    assert 0.78 < background < 0.92
    # Every sign class appears in some scenes, and most scenes hold a sign.
    _, multiclass = synthetic.generate(250, 96, "multiclass", seed=21)
    present = synthetic.presence_labels(multiclass, 6)
    assert present.min(axis=0).sum() == 0 and present.max(axis=0).sum() == 5
    assert 0.8 < present.max(axis=1).mean() < 1.0


def test_generation_speed_is_printed():
    for size, count in ((96, 100), (224, 20)):
        start = time.perf_counter()
        synthetic.generate(count, size)
        elapsed = (time.perf_counter() - start) / count
        print(f"synthetic.generate: {elapsed * 1e3:.2f} ms per {size}x{size} scene")


def test_write_folder_refuses_or_replaces_older_scenes(tmp_path):
    root = tmp_path / "signs"
    images, masks = synthetic.generate(5, 16, "binary", seed=1)
    synthetic.write_folder(root, images, masks, config.BINARY_CLASSES, split="train")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        synthetic.write_folder(root, images[:3], masks[:3], config.BINARY_CLASSES, split="train")
    assert len(list((root / "images").iterdir())) == 5, "a refusal touches nothing"
    synthetic.write_folder(root, images[:3], masks[:3], "background,sign", split="train",
                           overwrite=True)
    assert sorted(p.name for p in (root / "images").iterdir()) == [
        f"train_0000{i}.png" for i in range(3)]
    assert sorted(p.name for p in (root / "masks").iterdir()) == [
        f"train_0000{i}.png" for i in range(3)]
    assert (root / "classes.txt").read_text() == "background\nsign\n"


def test_write_folder_refuses_a_second_writer_at_the_same_time(tmp_path):
    root = tmp_path / "signs"
    root.mkdir()
    images, masks = synthetic.generate(1, 16, "binary", seed=1)
    with synthetic._exclusive(root):
        with pytest.raises(FileExistsError, match="right now"):
            synthetic.write_folder(root, images, masks, config.BINARY_CLASSES)
    synthetic.write_folder(root, images, masks, config.BINARY_CLASSES)  # Free again.
