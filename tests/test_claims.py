"""fcnlib.claims: checked claims assert and print their numbers; smoke runs say 'not checked'."""

import json

import numpy as np
import pytest

from fcnlib import claims


def test_a_claim_that_holds_prints_its_numbers(capsys, monkeypatch):
    monkeypatch.delenv("FCN_SMOKE", raising=False)
    assert claims.expect(0.8 > 0.1, "FCN beats dense", fcn=np.float32(0.8), dense=0.1) is True
    out = capsys.readouterr().out
    assert out.startswith("✓ FCN beats dense") and "fcn=0.8" in out and "dense=0.1" in out


def test_a_claim_that_fails_raises_with_its_numbers(monkeypatch):
    monkeypatch.delenv("FCN_SMOKE", raising=False)
    with pytest.raises(AssertionError, match=r"FCN beats dense.*fcn=0\.05"):
        claims.expect(0.05 > 0.1, "FCN beats dense", fcn=0.05, dense=0.1)


def test_smoke_runs_do_not_check_and_say_so(capsys, monkeypatch):
    monkeypatch.setenv("FCN_SMOKE", "1")
    assert claims.expect(False, "FCN beats dense", fcn=0.0) is False
    assert "not checked (smoke run" in capsys.readouterr().out


def test_claims_are_recorded_as_json_lines(tmp_path, monkeypatch):
    record = tmp_path / "claims.jsonl"
    monkeypatch.setenv("FCN_CLAIMS_FILE", str(record))
    monkeypatch.delenv("FCN_SMOKE", raising=False)
    claims.expect(True, "first", value=np.int64(3), name="fcn8s")
    with pytest.raises(AssertionError):
        claims.expect(False, "second", value=0.5)
    monkeypatch.setenv("FCN_SMOKE", "yes")
    claims.expect(True, "third")
    entries = [json.loads(line) for line in record.read_text().splitlines()]
    assert entries == [
        {"claim": "first", "numbers": {"value": 3, "name": "'fcn8s'"}, "checked": True, "held": True,
         "condition": "True", "slack": None},
        {"claim": "second", "numbers": {"value": 0.5}, "checked": True, "held": False, "condition": "False",
         "slack": None},
        {"claim": "third", "numbers": {}, "checked": False, "held": None},
    ]


def test_a_missed_claim_informs_in_a_profile_with_estimated_margins(capsys, monkeypatch):
    monkeypatch.delenv("FCN_SMOKE", raising=False)
    monkeypatch.setenv("FCN_PROFILE", "gpu")
    assert claims.expect(0.05 > 0.1, "FCN beats dense", fcn=0.05) is False
    out = capsys.readouterr().out
    assert "not seen in this run (gpu profile" in out and "fcn=0.05" in out
    monkeypatch.setenv("FCN_PROFILE", "quick")
    with pytest.raises(claims.ClaimError):
        claims.expect(0.05 > 0.1, "FCN beats dense", fcn=0.05)
