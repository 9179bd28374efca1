"""Palette masks are read by their colours where index and colour disagree (a re-ordered palette, GIF),
and a black-and-white mask saved as palette is refused like a greyscale one."""

import numpy as np
import pytest
from PIL import Image

from fcnlib import config, files

VOC = config.voc_palette()


def mask_with_classes():
    mask = np.zeros((8, 8), np.uint8)
    mask[2:5, 2:5], mask[5:, 5:], mask[0, :] = 15, 3, 255
    return mask


def save_palette(path, indices, palette_rows):
    image = Image.fromarray(indices, mode="P")
    image.putpalette([c for row in palette_rows for c in row] + [0] * (768 - 3 * len(palette_rows)))
    image.save(path)


def test_a_voc_palette_png_keeps_its_indices(tmp_path):
    mask = mask_with_classes()
    files.write_mask(tmp_path / "m.png", mask)
    np.testing.assert_array_equal(files.read_mask(tmp_path / "m.png"), mask)


def test_a_reordered_palette_is_read_by_colour_with_a_warning(tmp_path):
    mask = mask_with_classes()
    swap = np.arange(256, dtype=np.uint8)
    swap[0], swap[15] = 15, 0  # The editor swapped entries 0 and 15: background now has index 15.
    rows = [VOC[int(swap[i])] for i in range(256)]
    save_palette(tmp_path / "m.png", swap[mask], rows)
    with pytest.warns(UserWarning, match="re-ordered"):
        read = files.read_mask(tmp_path / "m.png")
    np.testing.assert_array_equal(read, mask)


def test_a_black_and_white_mask_saved_as_palette_is_refused(tmp_path):
    mask = np.zeros((8, 8), np.uint8)
    mask[2:6, 2:6] = 255
    save_palette(tmp_path / "bw.png", mask, [(i, i, i) for i in range(256)])
    with pytest.raises(ValueError, match="only 0 and 255: a black-and-white mask"):
        files.read_mask(tmp_path / "bw.png")


def test_a_gif_with_the_voc_palette_gives_its_classes(tmp_path):
    mask = mask_with_classes()
    image = Image.fromarray(mask, mode="P")
    image.putpalette([c for row in VOC for c in row])
    image.save(tmp_path / "m.gif")
    assert not np.array_equal(np.asarray(Image.open(tmp_path / "m.gif")), mask), "PIL renumbers GIF palettes"
    np.testing.assert_array_equal(files.read_mask(tmp_path / "m.gif"), mask)
