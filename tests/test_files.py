"""Image and mask reading/writing, checked against PIL and hand-made files."""

import os
import stat

import numpy as np
import pytest
from PIL import Image

from fcnlib import config, files


def _refused(read, path, message):
    """``read(path)`` raises a ValueError matching ``message`` whose text names the file."""
    with pytest.raises(ValueError, match=message) as error:
        read(path)
    assert str(path) in str(error.value)


def test_atomic_path_keeps_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with files.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target], "the temporary file must be removed"


def test_atomic_path_replaces_on_success(tmp_path):
    target = tmp_path / "sub dir" / "ünï.txt"
    with files.atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"



@pytest.mark.skipif(os.name != "posix", reason="file modes and umask are POSIX")
@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077], ids=oct)
def test_atomic_path_gives_the_mode_open_gives(tmp_path, umask):
    # A file written atomically must be as readable as one open() creates under the same umask, not
    # 0600 (the mode of tempfile.mkstemp), or a web server or another user cannot read the pages.
    previous = os.umask(umask)
    try:
        with open(tmp_path / "by_open.txt", "w") as handle:
            handle.write("x")
        with files.atomic_path(tmp_path / "atomic.txt") as tmp:
            tmp.write_text("x")
        written = files.write_mask(tmp_path / "mask.png", np.zeros((2, 2), np.uint8))
    finally:
        os.umask(previous)
    expected = stat.S_IMODE((tmp_path / "by_open.txt").stat().st_mode)
    assert expected == 0o666 & ~umask
    for path in (tmp_path / "atomic.txt", written):
        assert oct(stat.S_IMODE(path.stat().st_mode)) == oct(expected), path.name

@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK", "P", "RGB"])
def test_read_image_converts_modes_to_rgb(tmp_path, mode):
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    image = Image.fromarray(rgb).convert(mode)
    path = tmp_path / ("x.jpg" if mode == "CMYK" else "x.png")
    image.save(path)
    array = files.read_image(path)
    assert array.shape == (5, 7, 3) and array.dtype == np.uint8
    if mode in ("RGB", "RGBA"):
        np.testing.assert_array_equal(array, rgb)


def test_read_image_16_bit(tmp_path):
    values = np.array([[0, 1000], [30000, 65535]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    array = files.read_image(path)
    assert array.shape == (2, 2, 3)
    assert array[0, 0, 0] == 0 and array[1, 1, 0] == 255


def test_read_image_errors_name_the_file(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.png"):
        files.read_image(empty)
    good = tmp_path / "good.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8) + 7).save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:60])
    with pytest.raises(ValueError, match="truncated.png"):
        files.read_image(truncated)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        files.read_image(tmp_path / "missing.png")


def test_mask_round_trip_as_palette_png(tmp_path):
    mask = np.array([[0, 1, 255], [5, 20, 0]], dtype=np.uint8)
    path = files.write_mask(tmp_path / "m.png", mask)
    assert Image.open(path).mode == "P"
    np.testing.assert_array_equal(files.read_mask(path), mask)


def test_read_mask_grayscale_16_bit_and_rgb_palette(tmp_path):
    mask = np.array([[0, 1], [2, 255]], dtype=np.uint8)
    Image.fromarray(mask, mode="L").save(tmp_path / "gray.png")
    np.testing.assert_array_equal(files.read_mask(tmp_path / "gray.png"), mask)
    Image.fromarray(mask.astype(np.uint16)).save(tmp_path / "deep.png")
    np.testing.assert_array_equal(files.read_mask(tmp_path / "deep.png"), mask)
    palette = config.voc_palette()
    rgb = np.array([[palette[v] for v in row] for row in mask], dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(files.read_mask(tmp_path / "rgb.png"), mask)


def test_read_mask_rejects_unknown_colours_and_large_values(tmp_path):
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[0, 0] = (1, 2, 3)
    Image.fromarray(rgb).save(tmp_path / "odd colours.png")
    with pytest.raises(ValueError, match=r"odd colours.png.*\(1, 2, 3\)"):
        files.read_mask(tmp_path / "odd colours.png")
    Image.fromarray(np.array([[0, 300]], dtype=np.uint16)).save(tmp_path / "big.png")
    with pytest.raises(ValueError, match="big.png.*300"):
        files.read_mask(tmp_path / "big.png")


def test_write_mask_rejects_bad_shapes(tmp_path):
    with pytest.raises(ValueError, match="2-D"):
        files.write_mask(tmp_path / "m.png", np.zeros((2, 2, 3), np.uint8))
    assert not (tmp_path / "m.png").exists()


def test_read_arrays_are_writable(tmp_path):
    # Arrays over PIL's buffers are read-only; a learner editing a loaded mask must not hit that.
    mask = files.read_mask(files.write_mask(tmp_path / "m.png", np.ones((3, 4), np.uint8)))
    image = files.read_image(files.write_image(tmp_path / "i.png", np.zeros((3, 4, 3), np.uint8)))
    mask[0, 0], image[0, 0, 0] = 2, 9
    assert mask.flags.writeable and image.flags.writeable


# Own photographs: the mistakes a learner's own files bring.

def test_read_image_applies_the_exif_orientation(tmp_path):
    stored = np.zeros((32, 32, 3), np.uint8)
    stored[:8, :, 0] = 255  # A red band along the top of the stored pixels.
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = 6  # "Rotate 90 degrees clockwise to display."
    path = tmp_path / "phone.jpg"
    image.save(path, exif=exif, quality=98)
    upright = files.read_image(path).astype(int)
    assert np.abs(upright - np.rot90(stored, k=-1)).mean() < 5  # The band is now on the right.


@pytest.mark.parametrize("values, expected", [(np.array([[0, 1000]], np.uint16), [0, 4]),
                                              (np.array([[0, 0.5]], np.float32), [0, 128])])
def test_deep_images_are_scaled_by_their_type_not_their_maximum(tmp_path, values, expected):
    path = tmp_path / ("deep.png" if values.dtype == np.uint16 else "deep.tif")
    Image.fromarray(values).save(path)
    assert files.read_image(path)[0, :, 0].tolist() == expected


@pytest.mark.parametrize("values, message", [(np.array([[0, 1000]], np.int32), "32-bit integer"),
                                             (np.array([[0, 3.0]], np.float32), r"0\.\.3"),
                                             (np.array([[0, np.nan]], np.float32), "NaN")])
def test_images_without_a_known_range_are_refused(tmp_path, values, message):
    path = tmp_path / "odd.tif"
    Image.fromarray(values).save(path)
    _refused(files.read_image, path, message)


def test_a_decompression_bomb_names_the_file(tmp_path, monkeypatch):
    path = tmp_path / "huge.png"
    Image.new("L", (100, 100)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 10,000 pixels is over twice the limit.
    _refused(files.read_image, path, "MAX_IMAGE_PIXELS")


def test_a_black_and_white_mask_is_refused_but_a_palette_0_255_mask_is_not(tmp_path):
    mask = np.zeros((8, 8), np.uint8)
    mask[2:6, 2:6] = 255
    Image.fromarray(mask).save(tmp_path / "bw.png")
    _refused(files.read_mask, tmp_path / "bw.png", "only 0 and 255")
    files.write_mask(tmp_path / "void.png", mask)  # A palette PNG: 255 is void, as in VOC.
    np.testing.assert_array_equal(files.read_mask(tmp_path / "void.png"), mask)


def test_lossy_mask_data_is_refused_whatever_its_name(tmp_path):
    path = tmp_path / "mask.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 6, (16, 16), dtype=np.uint8)).save(
        path, format="JPEG")
    _refused(files.read_mask, path, "JPEG data")


def test_a_greyscale_mask_saved_as_rgb_is_refused_or_warned(tmp_path):
    grey = np.zeros((8, 8), np.uint8)
    grey[2:6, 2:6] = 1
    Image.fromarray(np.stack([grey] * 3, -1)).save(tmp_path / "rgb01.png")
    with pytest.raises(ValueError, match="R = G = B"):
        files.read_mask(tmp_path / "rgb01.png")
    # Grey colours that are also palette colours (128, 128, 128 is VOC class 7) read with a warning.
    Image.fromarray(np.stack([grey * 128] * 3, -1)).save(tmp_path / "rgb0128.png")
    with pytest.warns(UserWarning, match="rgb0128.png"):
        assert set(np.unique(files.read_mask(tmp_path / "rgb0128.png"))) == {0, 7}


def test_a_one_bit_mask_reads_as_0_and_1(tmp_path):
    grey = np.zeros((8, 8), bool)
    grey[2:6, 2:6] = True
    Image.fromarray(grey).save(tmp_path / "bits.png")
    np.testing.assert_array_equal(files.read_mask(tmp_path / "bits.png"), grey.astype(np.uint8))


@pytest.mark.parametrize("write, array, message", [
    (files.write_image, np.full((4, 4, 3), 0.5), "float64"),
    (files.write_image, np.full((4, 4, 3), 300), r"0\.\.300"),
    (files.write_image, np.zeros((4, 4, 4), np.uint8), r"\(H, W, 3\)"),
    (files.write_mask, np.full((4, 4), 1.7), "float64"),
    (files.write_mask, np.full((4, 4), np.nan), "float64"),
    (files.write_mask, np.zeros((0, 0), np.uint8), "empty"),
])
def test_writers_refuse_arrays_that_uint8_would_change(tmp_path, write, array, message):
    path = tmp_path / "out.png"
    with pytest.raises(ValueError, match=message) as error:
        write(path, array)
    assert str(path) in str(error.value)
    assert not list(tmp_path.iterdir()), "nothing is written"


def test_sha256_of_a_file_and_of_bytes_matches_hashlib(tmp_path):
    import hashlib

    payload = bytes(range(256)) * 5000  # More than one 1 MiB chunk.
    (tmp_path / "blob").write_bytes(payload)
    expected = hashlib.sha256(payload).hexdigest()
    assert files.sha256(tmp_path / "blob") == files.sha256(str(tmp_path / "blob")) == expected
    assert files.sha256(payload) == files.sha256(memoryview(payload)) == expected
    assert files.sha256(b"abc").startswith("ba7816bf8f01cfea")  # FIPS 180-2's example.
    with pytest.raises(ValueError, match="path or bytes; got int"):
        files.sha256(3)



# Reading masks and JPEGs in a tf.data graph.


def _graph_read(path):
    import tensorflow as tf

    contents = tf.io.read_file(str(path))
    fast = bool(files.png_voc_palette(contents))
    return fast, (files.decode_voc_mask(contents).numpy() if fast else None)


def test_graph_reads_every_voc_index_as_read_mask_does(tmp_path):
    mask = np.arange(256, dtype=np.uint8).reshape(16, 16)  # Every index, each colour once.
    files.write_mask(tmp_path / "all.png", mask)
    fast, decoded = _graph_read(tmp_path / "all.png")
    assert fast
    np.testing.assert_array_equal(decoded, mask)
    np.testing.assert_array_equal(decoded, files.read_mask(tmp_path / "all.png"))
    short = Image.fromarray(mask[:2], mode="P")  # A palette of 21 colours: VOC's start.
    short.putpalette([c for colour in config.voc_palette(21) for c in colour])
    short.save(tmp_path / "short.png")
    assert _graph_read(tmp_path / "short.png")[0]


def test_graph_leaves_other_masks_to_read_mask(tmp_path):
    import tensorflow as tf

    mask = np.zeros((8, 8), np.uint8)
    mask[2:5, 2:5] = 7
    ramp = Image.fromarray(mask * 9, mode="P")  # Values 0 and 63 in a grey-ramp palette: indices.
    ramp.putpalette([i for i in range(256) for _ in range(3)])
    ramp.save(tmp_path / "ramp.png")
    Image.fromarray(mask, mode="L").save(tmp_path / "grey.png")
    files.write_mask(tmp_path / "voc.png", mask)
    whole = (tmp_path / "voc.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(whole[:-12])  # No IEND.
    (tmp_path / "empty.png").write_bytes(b"")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "rgb.png")
    for name in ("ramp.png", "grey.png", "truncated.png", "empty.png", "rgb.png"):
        assert not _graph_read(tmp_path / name)[0], name
    np.testing.assert_array_equal(files.read_mask(tmp_path / "ramp.png"), mask * 9)  # Not VOC's 63 -> 56.
    assert _graph_read(tmp_path / "voc.png")[0]
    jpeg = tmp_path / "photo.jpg"
    files.write_image(jpeg, np.zeros((8, 8, 3), np.uint8))
    assert bool(files.jpeg_complete(tf.io.read_file(str(jpeg))))
    jpeg.write_bytes(jpeg.read_bytes()[:100])
    assert not bool(files.jpeg_complete(tf.io.read_file(str(jpeg))))
    assert not bool(files.jpeg_complete(tf.io.read_file(str(tmp_path / "voc.png"))))
