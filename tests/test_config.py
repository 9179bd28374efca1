"""Profiles, paths and the VOC palette."""

import pytest

from fcnlib import config


def test_profile_override_and_bad_name(monkeypatch):
    monkeypatch.setenv("FCN_PROFILE", "full")
    assert config.get_profile().name == "full"
    monkeypatch.setenv("FCN_PROFILE", " Quick ")
    assert config.get_profile() is config.QUICK
    monkeypatch.setenv("FCN_PROFILE", "fast")
    with pytest.raises(ValueError, match="FCN_PROFILE"):
        config.get_profile()
    with pytest.raises(ValueError, match="'fast'"):
        config.get_profile("fast")


def test_profiles_use_sizes_the_skip_architecture_accepts():
    for profile in config.PROFILES.values():
        assert profile.image_size % 32 == 0
        assert 0 < profile.width <= 1


def test_voc_palette_matches_published_colours():
    palette = config.voc_palette()
    # Colours of the VOC development kit: background, aeroplane, person (15), void (255).
    assert palette[0] == (0, 0, 0)
    assert palette[1] == (128, 0, 0)
    assert palette[2] == (0, 128, 0)
    assert palette[15] == (192, 128, 128)
    assert palette[255] == (224, 224, 192)
    assert len(set(palette)) == 256


def test_directories_follow_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FCN_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("FCN_CACHE_DIR", str(tmp_path / "c"))
    assert config.data_dir() == tmp_path / "d"
    assert config.cache_dir() == tmp_path / "c"
