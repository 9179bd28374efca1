"""fcnlib.environment.setup: the time estimate, downloads on first use, and a clean stop."""

import pytest

from fcnlib import config, environment, synthetic


def test_quick_profile_needs_nothing_and_reports_its_estimate(capsys, monkeypatch):
    monkeypatch.setenv("FCN_PROFILE", "quick")
    monkeypatch.setenv("FCN_OFFLINE", "1")
    profile = environment.setup("02")
    assert profile is config.QUICK
    out = capsys.readouterr().out
    assert "Profile     quick" in out and "2-core CPU" in out


def test_gpu_profile_offline_without_data_stops_with_the_way_out(monkeypatch, tmp_path):
    monkeypatch.setenv("FCN_PROFILE", "gpu")
    monkeypatch.setenv("FCN_OFFLINE", "1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with pytest.raises(environment.SetupStopped) as caught:
        environment.setup("01")
    message = str(caught.value)
    assert "PASCAL VOC 2012" in message and "FCN_PROFILE=quick" in message and "FCN_OFFLINE" in message
    assert caught.value._render_traceback_()[0].startswith("SetupStopped: ")
    # A notebook that reads no data and builds no backbone does not stop.
    assert environment.setup("03").name == "gpu"


def test_gpu_profile_stops_when_imagenet_weights_cannot_be_had(monkeypatch, tmp_path):
    synthetic.write_voc_tree(tmp_path / "fcn_data" / "voc", 2, 2)  # Data present, weights missing.
    monkeypatch.setenv("FCN_DATA_DIR", str(tmp_path / "fcn_data"))
    monkeypatch.setenv("FCN_PROFILE", "gpu")
    monkeypatch.setenv("FCN_OFFLINE", "1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with pytest.raises(environment.SetupStopped, match="ImageNet weights"):
        environment.setup("05")
    assert environment.setup("00").name == "gpu"  # 00 reads data but builds no backbone.


def test_no_space_stops_before_downloading(monkeypatch, tmp_path):
    monkeypatch.setenv("FCN_PROFILE", "gpu")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(environment.shutil, "disk_usage", lambda path: type("U", (), {"free": 10**9})())
    with pytest.raises(environment.SetupStopped, match="Not enough space.*FCN_DATA_DIR"):
        environment.setup("00")


def test_smoke_run_of_gpu_profile_needs_no_weights(monkeypatch, tmp_path):
    synthetic.write_voc_tree(tmp_path / "fcn_data" / "voc", 2, 2)
    monkeypatch.setenv("FCN_DATA_DIR", str(tmp_path / "fcn_data"))
    monkeypatch.setenv("FCN_PROFILE", "gpu")
    monkeypatch.setenv("FCN_SMOKE", "1")
    monkeypatch.setenv("FCN_OFFLINE", "1")
    assert environment.setup("06").smoke
