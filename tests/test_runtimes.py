"""scripts/runtimes.py: one measured file (docs/runtimes.json) behind every quick runtime the project states."""

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import runtimes  # noqa: E402  (scripts/runtimes.py, beside run_series.py and classroom.py)

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _header(path):
    return "".join(json.loads(path.read_text(encoding="utf-8"))["cells"][0]["source"])


def test_every_notebook_has_a_measured_runtime():
    measured = runtimes.load()["notebooks"]
    assert sorted(measured) == [path.name[:2] for path in NOTEBOOKS], "run `make series` to measure every notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_header_quotes_the_measured_runtime(path):
    header = " ".join(_header(path).split())  # The header wraps lines anywhere.
    sentence = runtimes.header_sentence(path.name[:2])
    assert sentence in header, f"{path.name}: its header should say, from docs/runtimes.json: {sentence}"
    # No second figure for the same thing, and no run log (dates, machine load) in a lesson's header.
    assert header.count("**Time:**") == 1 and "**Runtime" not in header and "load average" not in header


def test_readme_table_quotes_the_measured_runtimes():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        number = path.name[:2]
        (row,) = re.findall(rf"^\| {number} \| \[.*\]\(notebooks/{path.name}\) \|.*$", readme, flags=re.M)
        quick = [cell.strip() for cell in row.strip("|").split("|")][3]
        assert quick == runtimes.readme_cell(number), f"README row {number}: {quick!r}, the measured file says " \
                                                      f"{runtimes.readme_cell(number)!r}"


def test_readme_profile_table_quotes_the_measured_series_time():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (row,) = re.findall(r"^\| time for the series \|.*$", readme, flags=re.M)
    quick = [cell.strip() for cell in row.strip("|").split("|")][1]
    assert quick == runtimes.series_cell(), f"README profile table: {quick!r}, the measured file says " \
                                            f"{runtimes.series_cell()!r}"


def test_the_series_time_is_the_sum_of_the_notebooks(tmp_path):
    path = tmp_path / "runtimes.json"
    runtimes.record({"00": 10.0, "01": 100.0, "02": 611.0}, path, date="2026-01-02", machine_text="m")
    assert runtimes.series_seconds(path) == 721.0
    assert runtimes.series_cell(path).startswith("about 12 min on 2 CPU cores")


def test_figures_are_rounded_from_the_seconds(tmp_path):
    path = tmp_path / "runtimes.json"
    runtimes.record({"03": 9.4, "05": 188.6}, path, date="2026-01-02", machine_text="x86_64, 2 cores")
    assert runtimes.readme_cell("03", path) == "9 s" and runtimes.readme_cell("05", path) == "190 s"
    assert runtimes.header_sentence("05", path).startswith("**Time:** about 190 s on a 2-core CPU (quick); about ")
    assert "(gpu: it trains no model)" in runtimes.header_sentence("03", path)
    assert [runtimes.rounded(s) for s in (0.6, 29.4, 31, 47.4, 49, 161)] == [1, 29, 30, 45, 50, 160]


def test_record_updates_some_notebooks_and_keeps_the_others(tmp_path):
    path = tmp_path / "runtimes.json"
    runtimes.record({"00": 12.04, "01": 49}, path, date="2026-01-01", machine_text="m1")
    data = runtimes.record({"01": 51.26}, path, date="2026-01-03")
    assert data == json.loads(path.read_text())
    assert data["notebooks"]["00"] == {"seconds": 12.0, "date": "2026-01-01", "machine": "m1"}
    assert data["notebooks"]["01"]["seconds"] == 51.3 and data["notebooks"]["01"]["date"] == "2026-01-03"
    assert "cores" in data["notebooks"]["01"]["machine"]


def test_bad_files_and_values_are_named(tmp_path):
    path = tmp_path / "runtimes.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="runtimes.json"):
        runtimes.load(path)
    path.write_text(json.dumps({"profile": "quick", "notebooks": {"03": {"seconds": -1, "date": "d", "machine": "m"}}}))
    with pytest.raises(ValueError, match="'03'"):
        runtimes.load(path)
    path.write_text(json.dumps({"profile": "quick", "notebooks": {}}))
    with pytest.raises(KeyError, match="'04'"):
        runtimes.entry("04", path)
    with pytest.raises(ValueError, match="'3'"):
        runtimes.record({"3": 10.0}, path)
    with pytest.raises(ValueError, match="'05'"):
        runtimes.record({"05": 0}, path)
