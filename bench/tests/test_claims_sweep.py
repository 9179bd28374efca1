"""bench.claims: seeded notebook copies, the slack of recorded claims, and the worst-case table."""

import json

import nbformat

from bench import claims as sweep
from fcnlib import claims


def test_claims_record_their_slack(tmp_path, monkeypatch):
    record = tmp_path / "claims.jsonl"
    monkeypatch.setenv("FCN_CLAIMS_FILE", str(record))
    fcn, dense, gain = 0.8, 0.3, 0.1
    claims.expect(fcn > dense + gain, "FCN beats dense", fcn=fcn, dense=dense)
    claims.expect(abs(fcn - 0.75) < 0.1 and dense < 0.5, "close and low")
    claims.expect(0.1 < dense < fcn, "between")
    claims.expect(bool(fcn), "no comparison")
    rows = [json.loads(line) for line in record.read_text().splitlines()]
    assert [round(r["slack"], 6) if r["slack"] is not None else None for r in rows] == [0.4, 0.05, 0.2, None]
    assert rows[0]["condition"] == "fcn > dense + gain"


def test_seeded_copy_sets_both_seeds_and_can_stop_before_exercises(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("SEED = 0  # weights\nOTHER_SEED = 0"),
        nbformat.v4.new_markdown_cell("## Exercises"),
        nbformat.v4.new_code_cell("x = 1")])
    path = tmp_path / "05_x.ipynb"
    nbformat.write(notebook, path)
    copy = sweep.seeded_copy(path, 3, lessons_only=True)
    assert "fcnlib.recipes.SEED = 3" in copy.cells[0].source
    assert copy.cells[1].source.startswith("SEED = 3  # weights\nOTHER_SEED = 0")
    assert len(copy.cells) == 2
    assert len(sweep.seeded_copy(path, 3).cells) == 4


def test_table_shows_the_worst_run_of_each_claim():
    records = [
        {"kind": "claim", "notebook": "05", "seed": s, "setting": st, "claim": "FCN-8s beats FCN-32s",
         "checked": True, "held": slack > 0, "slack": slack, "condition": "a > b + m"}
        for s, st, slack in [(0, "on", 0.2), (1, "on", 0.05), (0, "off", -0.01)]]
    records.append({"kind": "exercise", "notebook": "05", "seed": 0, "setting": "on", "claim": "ex05_1_tests",
                    "held": True})
    rows = sweep.summarise(records)
    assert rows[0]["held"] == 2 and rows[0]["runs"] == 3 and rows[0]["worst_run"] == "off/seed 0"
    text = sweep.table(records)
    assert "| 05 | FCN-8s beats FCN-32s | 2/3 | -0.01 | off/seed 0 |" in text
    assert "ex05_1_tests | 1/1" in text
