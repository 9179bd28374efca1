"""fcnlib.environment.setup: the time estimate, downloads on first use, and a clean stop."""

import os

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


@pytest.mark.parametrize("line, notice", [
    ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR", True),
    ("I0000 00:00:1796099555.782561   28413 port.cc:153] oneDNN custom operations are on.", True),
    ("E0000 00:00:1718000000.123456   12345 cuda_dnn.cc:8310] Unable to register cuDNN factory", True),
    ("W1201 04:32:11.000001    7 computation_placer.cc:177] computation placer already registered", True),
    ("F0000 00:00:1796099555.782561   28413 port.cc:153] a fatal error", False),
    ("Traceback (most recent call last):", False),
    ("I0000 is how a note might start", False),
])
def test_is_startup_notice_knows_absl_lines(line, notice):
    assert environment.is_startup_notice(line) is notice


def test_import_tensorflow_quietly_holds_back_the_notices_and_turns_onednn_on(tmp_path):
    import os
    import platform
    import subprocess
    import sys

    script = ("import sys\nfrom fcnlib import environment\ntf = environment.import_tensorflow_quietly()\n"
              "import os; os.write(2, b'a line of our own\\n')\n"
              "from tensorflow.python.util import _pywrap_util_port\n"
              "print(tf.__version__, _pywrap_util_port.IsMklEnabled())\n")
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS")}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stderr == "a line of our own\n", f"start-up noise got through:\n{run.stderr[-2000:]}"
    # TensorFlow picks oneDNN by default from the CPU's features (off on an x86 CPU with AVX2 but no
    # AVX-512); the quiet import turns it on unless TF_ENABLE_ONEDNN_OPTS says otherwise.
    if platform.machine() in ("x86_64", "AMD64"):
        assert run.stdout.split()[1] == "True", f"oneDNN is off after the quiet import: {run.stdout}"
    off = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**env, "TF_ENABLE_ONEDNN_OPTS": "0"}, timeout=300)
    assert off.returncode == 0, off.stderr[-2000:]
    assert off.stdout.split()[1] == "False", "TF_ENABLE_ONEDNN_OPTS=0 did not keep oneDNN off"


def test_start_sets_the_profile_for_later_calls_and_returns_it(capsys, monkeypatch):
    import fcnlib

    monkeypatch.delenv("FCN_PROFILE", raising=False)
    monkeypatch.delenv("FCN_SMOKE", raising=False)
    profile = fcnlib.start("03", "quick")
    assert profile.name == "quick" and os.environ["FCN_PROFILE"] == "quick"
    assert config.get_profile().name == "quick"
    assert "Profile     quick" in capsys.readouterr().out


def test_a_profile_typo_stops_with_the_valid_names_and_no_traceback(monkeypatch):
    monkeypatch.setenv("FCN_PROFILE", "quik")
    with pytest.raises(environment.SetupStopped, match=r"Unknown profile 'quik'.*\['full', 'gpu', 'quick'\]") as caught:
        environment.check(verbose=False)
    assert caught.value._render_traceback_()[0].startswith("SetupStopped: Unknown profile")


def test_google_drive_keeps_archives_and_models_and_the_runtime_disk_the_rest(monkeypatch, tmp_path, capsys):
    import sys
    import types

    from fcnlib import budget, download, train

    mounted = []
    colab = types.ModuleType("google.colab")
    colab.drive = types.SimpleNamespace(mount=mounted.append)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    for variable in (download.ARCHIVE_DIR_ENV, train.BACKUP_DIR_ENV):  # Restored after the test.
        monkeypatch.setenv(variable, "set by the test")
        monkeypatch.delenv(variable)
    root = environment.DRIVE_ROOT
    environment.use_google_drive()
    assert mounted == ["/content/drive"]
    assert download.archive_dir() == root / "data" and config.cache_dir() == root / "cache"
    assert train.on_drive(download.archive_dir()) and train.on_drive(config.cache_dir())
    assert config.data_dir() == environment.LOCAL_ROOT / "data" and not train.on_drive(config.data_dir())
    assert train.backup_dir() == environment.LOCAL_ROOT / "backups" and not train.on_drive(train.backup_dir())
    assert f"{budget.drive_bytes('gpu') / 1e9:.1f} GB" in capsys.readouterr().out


def test_space_is_checked_where_the_archive_and_the_unpacked_data_go(monkeypatch, tmp_path):
    from fcnlib import download

    archives, data = tmp_path / "drive", tmp_path / "local"
    monkeypatch.setenv("FCN_PROFILE", "gpu")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv(download.ARCHIVE_DIR_ENV, str(archives))
    monkeypatch.setenv("FCN_DATA_DIR", str(data))
    free = {archives: 10**9, data: 10**12}
    monkeypatch.setattr(environment.shutil, "disk_usage", lambda path: type("U", (), {"free": free[path]})())
    with pytest.raises(environment.SetupStopped, match=f"Not enough space.*{archives}.*FCN_ARCHIVE_DIR"):
        environment.setup("00")
    # The archive kept on Drive by an earlier runtime needs no room there; the local disk needs room.
    (archives / "voc").mkdir(parents=True)
    (archives / "voc" / download.VOC_TRAINVAL.filename).write_bytes(b"kept")
    free[data] = 10**9
    with pytest.raises(environment.SetupStopped, match=f"Not enough space.*{data}.*FCN_DATA_DIR"):
        environment.setup("00")
