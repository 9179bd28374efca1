"""Profiles, paths and the VOC palette."""

import sys
from pathlib import Path

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


def test_gpu_profile_is_the_default_with_a_gpu_and_full_only_on_request(monkeypatch):
    monkeypatch.delenv("FCN_PROFILE", raising=False)
    monkeypatch.delenv("FCN_SMOKE", raising=False)
    monkeypatch.setattr(config, "_gpu_available", lambda: True)
    assert config.get_profile() is config.GPU
    monkeypatch.setattr(config, "_gpu_available", lambda: False)
    assert config.get_profile() is config.QUICK
    monkeypatch.setenv("FCN_PROFILE", "gpu")
    assert config.get_profile() is config.GPU
    gpu = config.GPU
    assert (gpu.dataset, gpu.image_size, gpu.width, gpu.backbone_weights) == ("voc", 224, 1.0, "imagenet")
    assert gpu.train_split == "train" and gpu.mixed_precision and not config.QUICK.mixed_precision


def test_smoke_shrinks_the_profile_but_keeps_its_path(monkeypatch):
    monkeypatch.setenv("FCN_PROFILE", "gpu")
    monkeypatch.setenv("FCN_SMOKE", "1")
    smoke = config.get_profile()
    assert smoke.smoke and smoke.name == "gpu" and smoke.dataset == "voc" and smoke.mixed_precision
    assert smoke.backbone_weights is None and smoke.image_size % 32 == 0 and smoke.epochs == 1
    for off in ("", "0", "false", "No", " off "):
        monkeypatch.setenv("FCN_SMOKE", off)
        assert config.get_profile() is config.GPU


@pytest.mark.parametrize("value, expected", [("1", True), ("TRUE", True), ("yes", True), ("On", True),
                                             ("0", False), ("false", False), ("no", False), ("OFF", False)])
def test_yes_no_variables_take_the_usual_words(monkeypatch, value, expected):
    monkeypatch.setenv("FCN_SMOKE", value)
    assert config.smoke_mode() is expected


@pytest.mark.parametrize("value", ["disabled", "none", "n", "2"])
def test_other_values_of_a_yes_no_variable_are_refused_by_name(monkeypatch, value):
    monkeypatch.setenv("FCN_OFFLINE", value)
    with pytest.raises(ValueError, match=f"FCN_OFFLINE='{value}' is neither yes nor no"):
        config.offline()


def test_a_smoke_run_of_the_quick_profile_builds_its_models(monkeypatch):
    from fcnlib import recipes

    monkeypatch.setenv("FCN_PROFILE", "quick")
    monkeypatch.setenv("FCN_SMOKE", "1")
    profile = config.get_profile()
    assert profile.smoke and profile.backbone_weights is None and profile.width == 0.0625
    model = recipes.build("fcn8s", "binary", profile=profile)
    assert model.output_shape[-1] == 2


@pytest.mark.parametrize("system, expected", [
    ("Linux", "{xdg}/fcnlib"), ("Darwin", "{home}/Library/Caches/fcnlib"), ("Windows", "{local}/fcnlib/Cache"),
])
def test_user_cache_dir_follows_each_platforms_convention(monkeypatch, tmp_path, system, expected):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))
    wanted = expected.format(home=tmp_path / "home", xdg=tmp_path / "xdg", local=tmp_path / "local")
    assert config.user_cache_dir(system) == Path(wanted)


def test_cache_dir_in_a_checkout_is_the_repositorys_unless_set(monkeypatch, tmp_path):
    monkeypatch.delenv(config.CACHE_DIR_ENV, raising=False)
    assert config.FROM_CHECKOUT
    assert config.cache_dir() == config.REPO_ROOT / ".cache" / "fcnlib"
    monkeypatch.setattr(config, "FROM_CHECKOUT", False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    if sys.platform.startswith("linux"):
        assert config.cache_dir() == tmp_path / "fcnlib"
    monkeypatch.setenv(config.CACHE_DIR_ENV, str(tmp_path / "mine"))
    assert config.cache_dir() == tmp_path / "mine"
