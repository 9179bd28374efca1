"""Own folders: images and masks are paired by stem across formats, names and encodings as users save them."""

import unicodedata

import numpy as np
import pytest
from PIL import Image

from fcnlib import datasets, files


def folder(tmp_path, stems, image_suffix=".png"):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for stem in stems:
        Image.fromarray(np.full((8, 8, 3), 120, np.uint8)).save(tmp_path / "images" / f"{stem}{image_suffix}",
                                                                 format="JPEG" if image_suffix == ".jfif" else None)
        mask = np.zeros((8, 8), np.uint8)
        mask[2:5, 2:5] = 1
        files.write_mask(tmp_path / "masks" / f"{unicodedata.normalize('NFC', stem)}.png", mask)
    return tmp_path


def test_a_jfif_photo_is_an_image(tmp_path):
    pairs = list(datasets.load_folder(folder(tmp_path, ["a", "b"], ".jfif"), validate=True))
    assert len(pairs) == 2


def test_names_match_whatever_their_unicode_form(tmp_path):
    decomposed = unicodedata.normalize("NFD", "straße_café")  # as macOS writes it
    root = folder(tmp_path, [decomposed])
    (root / "splits").mkdir()
    (root / "splits" / "train.txt").write_text(unicodedata.normalize("NFC", "straße_café") + "\n", encoding="utf-8")
    assert len(list(datasets.load_folder(root, "train", validate=True))) == 1


def test_a_bom_from_notepad_is_no_part_of_the_first_name(tmp_path):
    root = folder(tmp_path, ["a", "b"])
    (root / "splits").mkdir()
    (root / "splits" / "train.txt").write_text("a\nb\n", encoding="utf-8-sig")
    (root / "classes.txt").write_text("background\nsign\n", encoding="utf-8-sig")
    assert datasets.read_classes(root) == ("background", "sign")
    assert len(list(datasets.load_folder(root, "train", validate=True))) == 2


def test_a_home_relative_path_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "signs").mkdir()
    folder(tmp_path / "signs", ["a"])
    assert len(list(datasets.load_folder("~/signs"))) == 1


def test_a_mask_in_a_format_it_does_not_read_is_named(tmp_path):
    root = folder(tmp_path, ["a"])
    (root / "masks" / "a.png").rename(root / "masks" / "a.webp")
    with pytest.raises(FileNotFoundError, match=r"have no mask.*found a\.webp, which is no lossless mask format"):
        datasets.load_folder(root)
