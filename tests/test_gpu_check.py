"""scripts/gpu_check.py: the gpu profile's measurement runs its whole path on the CPU in a smoke mode."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import gpu_check  # noqa: E402


def test_the_smoke_mode_trains_every_model_and_reports_both_epochs(tmp_path, capsys, monkeypatch):
    import os

    monkeypatch.delenv("FCN_OFFLINE", raising=False)
    assert gpu_check.main(["--smoke", "--json", str(tmp_path / "rows.json")]) == 0
    assert "FCN_OFFLINE" not in os.environ, "the check leaves the caller's environment as it was"
    out = capsys.readouterr().out
    rows = __import__("json").loads((tmp_path / "rows.json").read_text())
    assert [row["model"] for row in rows] == list(gpu_check.VARIANTS)
    for row in rows:
        assert len(row["epoch_s"]) == 2 and all(s > 0 for s in row["epoch_s"])
        assert row["device"] == "cpu" and row["peak_gib"] is None and row["estimated_epoch_s"] > 0
        assert row["images_per_s"] == pytest.approx(row["images"] / row["epoch_s"][-1])
        assert f"| {row['model']} |" in out
    assert "n/a (CPU)" in out


def test_a_count_below_one_is_refused_by_name(capsys):
    with pytest.raises(SystemExit):
        gpu_check.main(["--images", "0"])
    assert "--images must be at least 1, got 0" in capsys.readouterr().err
