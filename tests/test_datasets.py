"""Tests for fcnlib.datasets: tiny VOC, SBD, Pets and own-folder trees in their real layouts.

Expected arrays come from what the fixtures wrote (masks) or from PIL decoding the files directly
(JPEG images), never from the loaders themselves.
"""

import tarfile

import numpy as np
import pytest
import scipy.io
import scipy.sparse
import tensorflow as tf
from PIL import Image

from fcnlib import config, datasets, files
from fcnlib import download as dl

H, W = 24, 32


def _scene(seed, num_classes, void_border=True, shape=(H, W)):
    """A random image and a mask with one rectangle of a class, ringed by void like VOC objects."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    mask = np.zeros(shape, dtype=np.uint8)
    label = 1 + seed % (num_classes - 1)
    mask[4:16, 6:20] = 255 if void_border else label
    mask[5:15, 7:19] = label
    return image, mask


def _decoded(path):
    return np.asarray(Image.open(path).convert("RGB"))


def _collect(dataset):
    return [(image.numpy(), mask.numpy()) for image, mask in dataset]


def _make_voc(root, train, val, seed=0):
    """Writes VOCdevkit/VOC2012 with JPEGs, palette PNG masks (void borders) and the split lists."""
    voc = root / "VOCdevkit" / "VOC2012"
    masks = {}
    for offset, stem in enumerate(train + val):
        image, mask = _scene(seed + offset, 21)
        files.write_image(voc / "JPEGImages" / f"{stem}.jpg", image)
        files.write_mask(voc / "SegmentationClass" / f"{stem}.png", mask)
        masks[stem] = mask
    lists = voc / "ImageSets" / "Segmentation"
    lists.mkdir(parents=True)
    for name, stems in (("train", train), ("val", val), ("trainval", train + val)):
        (lists / f"{name}.txt").write_text("".join(f"{s}\n" for s in stems))
    return voc, masks


def _write_sbd_mat(path, segmentation):
    """An SBD class file: struct GTcls with Boundaries (cell of sparse), Segmentation, CategoriesPresent."""
    boundaries = np.empty((20, 1), dtype=object)
    for index in range(20):
        boundaries[index, 0] = scipy.sparse.csc_matrix(segmentation == index + 1, dtype=np.float64)
    present = np.unique(segmentation[(segmentation > 0) & (segmentation < 255)]).astype(np.uint8)
    gtcls = {"Boundaries": boundaries, "Segmentation": segmentation, "CategoriesPresent": present}
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, {"GTcls": gtcls})


def _make_sbd(root, train, val, seed=100):
    dataset = root / "benchmark_RELEASE" / "dataset"
    masks = {}
    for offset, stem in enumerate(train + val):
        image, mask = _scene(seed + offset, 21, void_border=False)
        files.write_image(dataset / "img" / f"{stem}.jpg", image)
        _write_sbd_mat(dataset / "cls" / f"{stem}.mat", mask)
        masks[stem] = mask
    (dataset / "train.txt").write_text("\n".join(train) + "\n")
    (dataset / "val.txt").write_text("\n".join(val) + "\n")
    return dataset, masks


def _make_pets(root, trainval=("Abyssinian_100", "beagle_12"), test=("Bombay_3",)):
    trimaps = {}
    for offset, name in enumerate(trainval + test):
        image, _ = _scene(offset, 2)
        trimap = np.full((H, W), 2, dtype=np.uint8)
        trimap[3 + offset : 18, 5:25] = 3
        trimap[5 + offset : 16, 7:23] = 1
        files.write_image(root / "images" / f"{name}.jpg", image)
        (root / "annotations" / "trimaps").mkdir(parents=True, exist_ok=True)
        Image.fromarray(trimap, mode="L").save(root / "annotations" / "trimaps" / f"{name}.png")
        trimaps[name] = trimap
    for split, names in (("trainval", trainval), ("test", test)):
        lines = [f"{name} {i + 1} {1 + i % 2} {i + 1}\n" for i, name in enumerate(names)]
        (root / "annotations" / f"{split}.txt").write_text("".join(lines))
    return trimaps


def _make_folder(root, stems=("a", "b", "c"), num_classes=3):
    masks = {}
    for offset, stem in enumerate(stems):
        image, mask = _scene(offset + 1, num_classes)
        files.write_image(root / "images" / f"{stem}.png", image)
        if offset % 2:  # Plain grayscale indices for some, palette PNGs for the others.
            (root / "masks").mkdir(parents=True, exist_ok=True)
            Image.fromarray(mask, mode="L").save(root / "masks" / f"{stem}.png")
        else:
            files.write_mask(root / "masks" / f"{stem}.png", mask)
        masks[stem] = (image, mask)
    (root / "classes.txt").write_text("background\nstop\ngive_way\n")
    return masks


def _tree(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


# VOC and SBD.


def test_voc_splits_pair_images_and_palette_masks(tmp_path):
    voc, masks = _make_voc(tmp_path, ["2007_000032", "2007_000039"], ["2007_000033"])
    for split, stems in (("train", ["2007_000032", "2007_000039"]), ("val", ["2007_000033"])):
        dataset = datasets.load_voc(tmp_path, split)
        assert dataset.element_spec[0].shape.as_list() == [None, None, 3]
        assert dataset.element_spec[0].dtype == tf.uint8 and dataset.element_spec[1].dtype == tf.uint8
        assert len(dataset) == len(stems)
        for (image, mask), stem in zip(_collect(dataset), stems, strict=False):
            np.testing.assert_array_equal(mask, masks[stem])
            np.testing.assert_array_equal(image, _decoded(voc / "JPEGImages" / f"{stem}.jpg"))
            assert 255 in mask  # The void border survives.
    assert len(datasets.load_voc(voc, "trainval")) == 3  # The VOC2012 folder itself works too.


def test_voc_train_aug_merges_sbd_without_val_overlap(tmp_path):
    voc, voc_masks = _make_voc(tmp_path / "voc", ["a1", "b2"], ["c3", "d4"])
    sbd, sbd_masks = _make_sbd(tmp_path / "sbd", train=["b2", "c3", "e5"], val=["f6", "a1"])
    dataset = datasets.load_voc(tmp_path / "voc", "train_aug", sbd_root=tmp_path / "sbd")
    pairs = _collect(dataset)
    # Expected by hand: (SBD train + SBD val + VOC train) minus VOC val, sorted.
    expected = ["a1", "b2", "e5", "f6"]
    assert len(pairs) == len(expected)
    for (image, mask), stem in zip(pairs, expected, strict=False):
        if stem in ("a1", "b2"):  # VOC masks win where VOC has one.
            np.testing.assert_array_equal(mask, voc_masks[stem])
            np.testing.assert_array_equal(image, _decoded(voc / "JPEGImages" / f"{stem}.jpg"))
        else:
            np.testing.assert_array_equal(mask, sbd_masks[stem])
            np.testing.assert_array_equal(image, _decoded(sbd / "img" / f"{stem}.jpg"))


def test_voc_errors_name_the_file(tmp_path):
    voc, _ = _make_voc(tmp_path, ["x1", "x2"], ["y1"])
    with pytest.raises(ValueError, match="Unknown VOC split"):
        datasets.load_voc(tmp_path, "test")
    with pytest.raises(FileNotFoundError, match="download_sbd"):
        datasets.load_voc(tmp_path, "train_aug", sbd_root=tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="download_voc"):
        datasets.load_voc(tmp_path / "empty", "train")
    (voc / "SegmentationClass" / "x2.png").unlink()
    with pytest.raises(FileNotFoundError, match="x2.png"):
        datasets.load_voc(tmp_path, "train")
    (voc / "ImageSets" / "Segmentation" / "val.txt").unlink()
    with pytest.raises(FileNotFoundError, match="val.txt"):
        datasets.load_voc(tmp_path, "val")


def test_voc_bad_masks_raise_when_read(tmp_path):
    voc, _ = _make_voc(tmp_path, ["good", "bad"], ["small"])
    unknown = np.zeros((H, W), np.uint8)
    unknown[0, 0] = 21  # One past the last VOC class, and not void.
    files.write_mask(voc / "SegmentationClass" / "bad.png", unknown)
    with pytest.raises(ValueError, match=r"bad\.png holds \[21\]"):
        datasets.load_voc(tmp_path, "train", validate=True)
    dataset = datasets.load_voc(tmp_path, "train")  # Lazy: fails while iterating, naming the file.
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"bad\.png"):
        _collect(dataset)
    files.write_mask(voc / "SegmentationClass" / "small.png", np.zeros((H, W - 1), np.uint8))
    with pytest.raises(ValueError, match=r"small\.jpg is 24x32 but its mask .*small\.png is 24x31"):
        datasets.load_voc(tmp_path, "val", validate=True)
    jpeg = voc / "JPEGImages" / "good.jpg"
    jpeg.write_bytes(jpeg.read_bytes()[:200])  # A truncated download.
    with pytest.raises(ValueError, match=r"good\.jpg"):
        datasets.load_voc(tmp_path, "train", validate=True)


def test_sbd_mat_without_gtcls_is_refused(tmp_path):
    _make_voc(tmp_path / "voc", ["a"], ["b"])
    sbd, _ = _make_sbd(tmp_path / "sbd", train=["e"], val=["f"])
    scipy.io.savemat(sbd / "cls" / "e.mat", {"GTinst": {"Segmentation": np.zeros((H, W), np.uint8)}})
    with pytest.raises(ValueError, match=r"e\.mat.*GTcls"):
        datasets.load_voc(tmp_path / "voc", "train_aug", sbd_root=sbd, validate=True)


# Oxford-IIIT Pet.


@pytest.mark.parametrize("border", ["void", "class"])
def test_pets_trimaps_map_to_documented_classes(tmp_path, border):
    trimaps = _make_pets(tmp_path)
    pairs = _collect(datasets.load_oxford_pets(tmp_path, "trainval", border=border))
    assert len(pairs) == 2
    border_value = 255 if border == "void" else 2
    for (image, mask), name in zip(pairs, ["Abyssinian_100", "beagle_12"], strict=False):
        expected = np.empty((H, W), np.uint8)
        for i in range(H):  # Brute force, pixel by pixel, from the documented meaning.
            for j in range(W):
                expected[i, j] = {1: 1, 2: 0, 3: border_value}[int(trimaps[name][i, j])]
        np.testing.assert_array_equal(mask, expected)
        np.testing.assert_array_equal(image, _decoded(tmp_path / "images" / f"{name}.jpg"))
    assert datasets.PETS_CLASSES[border][1] == "pet"
    assert len(datasets.load_oxford_pets(tmp_path, "test")) == 1


def test_pets_errors(tmp_path):
    _make_pets(tmp_path)
    with pytest.raises(ValueError, match="border"):
        datasets.load_oxford_pets(tmp_path, border="ignore")
    with pytest.raises(ValueError, match="split"):
        datasets.load_oxford_pets(tmp_path, "train")
    bad = np.full((H, W), 2, np.uint8)
    bad[0, :3] = [0, 4, 1]
    Image.fromarray(bad, mode="L").save(tmp_path / "annotations" / "trimaps" / "Bombay_3.png")
    with pytest.raises(ValueError, match=r"Bombay_3\.png holds values \[0, 4\]"):
        datasets.load_oxford_pets(tmp_path, "test", validate=True)
    (tmp_path / "images" / "beagle_12.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"beagle_12\.jpg"):
        datasets.load_oxford_pets(tmp_path, "trainval")
    (tmp_path / "annotations" / "test.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"test\.txt"):
        datasets.load_oxford_pets(tmp_path, "test")


def test_pets_download_from_local_archives(tmp_path, monkeypatch):
    source = tmp_path / "source"
    trimaps = _make_pets(source)
    archives = {}
    for name, folder in (("images.tar.gz", "images"), ("annotations.tar.gz", "annotations")):
        with tarfile.open(tmp_path / name, "w:gz") as tar:
            tar.add(source / folder, arcname=folder)
        url = (tmp_path / name).as_uri()
        archives[folder] = dl.Archive(name, (url,), files.sha256(tmp_path / name))
    monkeypatch.setattr(dl, "PETS_IMAGES", archives["images"])
    monkeypatch.setattr(dl, "PETS_ANNOTATIONS", archives["annotations"])
    outside = [p for p in _tree(tmp_path) if not p.startswith("fcn_data")]
    dataset = datasets.load_oxford_pets(split="test", border="class", download=True)
    assert [p for p in _tree(tmp_path) if not p.startswith("fcn_data")] == outside
    (_, mask), = _collect(dataset)
    np.testing.assert_array_equal(mask, np.array([99, 1, 0, 2], np.uint8)[trimaps["Bombay_3"]])
    target = config.data_dir() / "oxford_pets"
    assert (target / "images.tar.gz").is_file() and (target / "annotations" / "trimaps").is_dir()
    assert not [p for p in target.iterdir() if p.name.startswith(".")]  # No staging or .part left.


def test_offline_download_names_url_location_and_fallback(tmp_path, monkeypatch):
    monkeypatch.setattr(dl, "RETRY_DELAY_SECONDS", 0.0)
    url = "http://127.0.0.1:9/VOCtrainval_11-May-2012.tar"  # Port 9 (discard): nothing listens.
    monkeypatch.setattr(dl, "VOC_TRAINVAL", dl.Archive("VOCtrainval_11-May-2012.tar", (url,), None))
    with pytest.raises(dl.DownloadError) as info:
        datasets.load_voc(split="val", download=True)
    message = str(info.value)
    assert url in message and "fcnlib.synthetic" in message
    assert str(config.data_dir() / "voc" / "VOCtrainval_11-May-2012.tar") in message
    assert _tree(config.data_dir()) == ["voc"]  # Nothing but the (empty) target folder.


# Own folders.


def test_folder_pairs_by_stem_with_splits(tmp_path):
    expected = _make_folder(tmp_path)
    pairs = _collect(datasets.load_folder(tmp_path))
    assert len(pairs) == 3
    for (image, mask), stem in zip(pairs, ["a", "b", "c"], strict=False):
        np.testing.assert_array_equal(image, expected[stem][0])
        np.testing.assert_array_equal(mask, expected[stem][1])
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "val.txt").write_text("c\na\n")
    pairs = _collect(datasets.load_folder(tmp_path, split="val"))
    np.testing.assert_array_equal(pairs[0][1], expected["c"][1])
    np.testing.assert_array_equal(pairs[1][1], expected["a"][1])
    assert datasets.read_classes(tmp_path) == ("background", "stop", "give_way")


def test_folder_written_by_synthetic_reads_back(tmp_path):
    synthetic = pytest.importorskip("fcnlib.synthetic")
    images, masks = synthetic.generate(3, image_size=(H, W), task="multiclass", seed=3)
    synthetic.write_folder(tmp_path, images, masks, config.MULTICLASS_CLASSES, split="val")
    pairs = _collect(datasets.load_folder(tmp_path, split="val", validate=True))
    assert len(pairs) == 3
    for (image, mask), expected_image, expected_mask in zip(pairs, images, masks, strict=False):
        np.testing.assert_array_equal(image, expected_image)
        np.testing.assert_array_equal(mask, expected_mask)


def test_folder_errors(tmp_path):
    _make_folder(tmp_path)
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "train.txt").write_text("a\nzz\n")
    with pytest.raises(FileNotFoundError, match=r"No split file .*test\.txt; splits found: \['train'\]"):
        datasets.load_folder(tmp_path, split="test")
    with pytest.raises(FileNotFoundError, match="'zz'"):
        datasets.load_folder(tmp_path, split="train")
    # A mask value past the classes of classes.txt (3 classes), and the same with classes=4.
    files.write_mask(tmp_path / "masks" / "c.png", np.full((H, W), 3, np.uint8))
    with pytest.raises(ValueError, match=r"c\.png holds \[3\]"):
        datasets.load_folder(tmp_path, validate=True)
    assert len(_collect(datasets.load_folder(tmp_path, classes=4))) == 3
    (tmp_path / "masks" / "d.png").write_bytes((tmp_path / "masks" / "a.png").read_bytes())
    with pytest.raises(ValueError, match=r"d\.png"):
        datasets.load_folder(tmp_path)
    (tmp_path / "masks" / "d.png").unlink()
    (tmp_path / "masks" / "b.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"masks/b\.png"):
        datasets.load_folder(tmp_path)
    files.write_image(tmp_path / "masks" / "b.jpg", np.zeros((H, W, 3), np.uint8))
    with pytest.raises(ValueError, match=r"b\.jpg is a JPEG"):
        datasets.load_folder(tmp_path)
    (tmp_path / "masks" / "b.jpg").unlink()
    files.write_image(tmp_path / "images" / "a.jpg", np.zeros((H, W, 3), np.uint8))
    with pytest.raises(ValueError, match="share the stem 'a'"):
        datasets.load_folder(tmp_path)
    with pytest.raises(FileNotFoundError, match="No folder"):
        datasets.load_folder(tmp_path / "nothing")


def test_failed_loads_write_nothing(tmp_path):
    _make_folder(tmp_path / "own")
    files.write_mask(tmp_path / "own" / "masks" / "b.png", np.full((H, W), 9, np.uint8))
    before = _tree(tmp_path)
    with pytest.raises(ValueError):
        datasets.load_folder(tmp_path / "own", validate=True)
    with pytest.raises(tf.errors.InvalidArgumentError):
        _collect(datasets.load_folder(tmp_path / "own"))
    assert _tree(tmp_path) == before


def _own_folder(root, masks):
    images = np.random.default_rng(1).integers(0, 256, masks.shape + (3,), dtype=np.uint8)
    for index, (image, mask) in enumerate(zip(images, masks, strict=False)):
        files.write_image(root / "images" / f"photo {index}.png", image)
        files.write_mask(root / "masks" / f"photo {index}.png", mask)
    return root


def test_split_files_list_stems_with_spaces(tmp_path):
    root = _own_folder(tmp_path, np.zeros((2, 8, 8), np.uint8))
    (root / "splits").mkdir()
    (root / "splits" / "train.txt").write_text("photo 1  \n")
    pairs = list(datasets.load_folder(root, "train").as_numpy_iterator())
    np.testing.assert_array_equal(pairs[0][0], files.read_image(root / "images" / "photo 1.png"))
    assert len(pairs) == 1


def test_classes_as_a_comma_separated_string(tmp_path):
    masks = np.zeros((2, 8, 8), np.uint8)
    masks[1, 0, 0] = 5
    root = _own_folder(tmp_path, masks)
    assert datasets.parse_classes(" background, sign ") == ("background", "sign")
    data = datasets.load_folder(root, classes="background,sign")
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"photo 1\.png holds \[5\]"):
        list(data.as_numpy_iterator())  # 15 characters would have let 5 pass as a class.


@pytest.mark.parametrize("classes", [True, 0, 2.5, "background", "a,,b", ["a", "a"]])
def test_classes_that_are_no_class_list_are_refused(tmp_path, classes):
    root = _own_folder(tmp_path, np.zeros((1, 8, 8), np.uint8))
    with pytest.raises(ValueError, match="classes"):
        datasets.load_folder(root, classes=classes)


def test_voc_masks_outside_the_fast_path_are_read_by_python(tmp_path):
    voc, masks = _make_voc(tmp_path, ["a", "b", "c"], ["d"])
    # b: an own palette (the VOC colours moved), read by colour with a warning, as read_mask does.
    moved = Image.fromarray(masks["b"], mode="P")
    palette = config.voc_palette()
    moved.putpalette([c for colour in palette[1:] + palette[:1] for c in colour])
    moved.save(voc / "SegmentationClass" / "b.png")
    with pytest.warns(UserWarning, match="re-ordered"):
        expected = files.read_mask(voc / "SegmentationClass" / "b.png")
    with pytest.warns(UserWarning, match="re-ordered"):
        pairs = _collect(datasets.load_voc(tmp_path, "train"))
    np.testing.assert_array_equal(pairs[1][1], expected)
    np.testing.assert_array_equal(pairs[0][1], masks["a"])
    # A truncated JPEG is read by PIL, which names it.
    jpeg = voc / "JPEGImages" / "c.jpg"
    jpeg.write_bytes(jpeg.read_bytes()[:200])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"c\.jpg"):
        _collect(datasets.load_voc(tmp_path, "train"))
    # A mask of the wrong size read in the graph names both files.
    files.write_mask(voc / "SegmentationClass" / "d.png", np.zeros((H, W - 1), np.uint8))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"d\.jpg is 24x32 but its mask .*d\.png is 24x31"):
        _collect(datasets.load_voc(tmp_path, "val"))
