"""fcnlib.results: the shipped benchmark results, read the same way in a checkout and an install."""

import json

import pytest

from fcnlib import config, results


def test_the_shipped_file_has_every_column_and_a_known_kind_per_row():
    assert results.path("quick").parent == config.SHIPPED_DATA_DIR
    rows = results.rows("quick")
    assert "FCN-8s staged" in rows and rows["FCN-8s staged"]["kind"] == "series"
    assert set(results.rows("quick", kind="copied")) < set(rows)
    assert {row["kind"] for row in rows.values()} <= set(results.KINDS)


def test_bad_files_are_named_with_what_is_wrong(tmp_path):
    good = json.loads(results.path("quick").read_text())
    with pytest.raises(ValueError, match="Cannot read.*missing.json"):
        results.load(tmp_path / "missing.json")
    broken = tmp_path / "no_kind.json"
    good["rows"][0].pop("kind")
    broken.write_text(json.dumps(good))
    with pytest.raises(ValueError, match=r"Row 0 .*lacks \['kind'\]"):
        results.load(broken)
    good["rows"][0]["kind"] = "guess"
    broken.write_text(json.dumps(good))
    with pytest.raises(ValueError, match="kind 'guess'"):
        results.load(broken)
    with pytest.raises(KeyError, match="no row 'FCN-64s'"):
        results.row("FCN-64s")
