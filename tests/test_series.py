"""scripts/run_series.py, the code path of `make series`: pages with figures, a report, readable files.

The end-to-end test runs notebook 03 (the quickest, about 10 s) through `run_series.main` and counts
the figures its kernel creates with a hook of its own, installed through an IPython startup file, so
the expected number comes from the notebook's own plotting calls and not from the code under test.
"""

import importlib.util
import json
import os
import re
import stat
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("run_series", ROOT / "scripts" / "run_series.py")
run_series = sys.modules["run_series"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_series)

NOTEBOOK = ROOT / "notebooks" / "03_transposed_convolution.ipynb"

# Runs in the kernel before the notebook: logs every Matplotlib figure created (with the source of the
# cell that created it), the kernel's own peak RSS after each cell, and one claim, written the way
# fcnlib's claims are, to show that the claims file reaches the kernel.
STARTUP = '''
import json as _json, os as _os
import matplotlib.figure as _figure
from IPython import get_ipython as _get_ipython

_log_path = _os.environ["FCN_TEST_KERNEL_LOG"]
_current = {"cell": None}


def _log(**record):
    with open(_log_path, "a") as _handle:
        _handle.write(_json.dumps(record) + "\\n")


_original_init = _figure.Figure.__init__


def _counting_init(self, *args, **kwargs):
    _original_init(self, *args, **kwargs)
    _log(figure_in_cell=_current["cell"])


_figure.Figure.__init__ = _counting_init
_get_ipython().events.register("pre_run_cell", lambda info: _current.update(cell=info.raw_cell))


def _high_water_kib():
    # VmHWM, not getrusage's ru_maxrss: Linux keeps ru_maxrss across execve, so a kernel started
    # from a large process (a long pytest run) would report its parent's peak.
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmHWM:")).split()[1])


_get_ipython().events.register("post_run_cell", lambda result: _log(maxrss_kib=_high_water_kib()))
with open(_os.environ["FCN_CLAIMS_FILE"], "a") as _handle:
    _handle.write(_json.dumps({"claim": "the kernel saw the claims file", "numbers": {"answer": 42},
                               "checked": True, "held": True}) + "\\n")
'''


def _images(output) -> int:
    return sum(key.startswith("image/") for key in output.get("data", {}))


@pytest.mark.skipif(sys.platform != "linux", reason="the kernel's peak RSS is compared in kB (Linux)")
def test_series_pages_hold_every_figure_the_notebook_draws(tmp_path, monkeypatch):
    ipython_dir = tmp_path / "ipython"
    startup = ipython_dir / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-count-figures.py").write_text(STARTUP)
    log = tmp_path / "kernel.jsonl"
    monkeypatch.setenv("IPYTHONDIR", str(ipython_dir))
    monkeypatch.setenv("FCN_TEST_KERNEL_LOG", str(log))
    monkeypatch.setenv("MPLBACKEND", "Agg")  # As `make test` sets it: it must not reach the kernel.
    monkeypatch.setenv("FCN_PROFILE", "quick")
    measured = tmp_path / "runtimes.json"  # Not the repository's docs/runtimes.json.
    monkeypatch.setattr(run_series.runtimes, "RUNTIMES_FILE", measured)
    output = tmp_path / "series"
    previous_umask = os.umask(0o022)
    try:
        assert run_series.main([str(NOTEBOOK), "--output", str(output), "--timeout", "300"]) == 0
    finally:
        os.umask(previous_umask)

    # The measured wall time went into the runtimes file, with the date and the machine.
    entry = json.loads(measured.read_text())["notebooks"][NOTEBOOK.name[:2]]
    assert 0 < entry["seconds"] < 300 and entry["date"] and "cores" in entry["machine"]

    records = [json.loads(line) for line in log.read_text().splitlines()]
    created = {}
    for record in records:
        if "figure_in_cell" in record:
            created[record["figure_in_cell"]] = created.get(record["figure_in_cell"], 0) + 1
    assert sum(created.values()) >= 2, f"the notebook should draw figures; the hook saw {created}"

    executed = nbformat.read(output / NOTEBOOK.name, as_version=4)
    code_cells = [cell for cell in executed.cells if cell.cell_type == "code"]
    shown = {cell.source: sum(_images(out) for out in cell.outputs) for cell in code_cells}
    shown = {source: number for source, number in shown.items() if number}
    assert shown == created, "image outputs per cell (source: number) != figures created there"
    widget_cells = [cell.source for cell in executed.cells if "viz.interactive(" in cell.source]
    assert widget_cells and all(shown.get(source) for source in widget_cells), \
        "the static widget fallback should draw its figure"

    html = (output / NOTEBOOK.with_suffix(".html").name).read_text(encoding="utf-8")
    assert len(re.findall(r'<img[^>]*\ssrc="data:image/', html)) == sum(created.values())

    report = (output / "report.md").read_text()
    rows = [line for line in report.splitlines() if line.startswith(f"| {NOTEBOOK.name}")]
    assert len(rows) == 1, "report.md should have one row for the notebook"
    _, name, status, seconds, memory, figures, held, *_ = [cell.strip() for cell in rows[0].split("|")]
    # The notebook's own claims (one call each, none in a loop) and the one this test adds.
    claims = 1 + sum(cell.source.count("claims.expect(") for cell in code_cells)
    assert (status, int(figures), held) == ("ok", sum(created.values()), f"{claims} of {claims}")
    assert "the kernel saw the claims file: answer = 42 (held)" in report
    kernel_peak_mib = max(r["maxrss_kib"] for r in records if "maxrss_kib" in r) / 1024
    assert kernel_peak_mib * 0.98 <= float(memory.replace(",", "")) <= kernel_peak_mib * 1.5 + 50, \
        f"reported peak {memory} MiB; the kernel itself reports {kernel_peak_mib:.0f} MiB"

    for path in output.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, f"{path.name} is not readable as umask 022 allows"


def test_a_series_over_a_cache_holding_models_is_not_recorded(tmp_path, monkeypatch, capsys):
    def fake_run(path, output, timeout):  # Stands in for the kernel: every notebook "runs" in 7 s.
        return run_series.Result(path.name, "ok", 7.0, 0, None)

    monkeypatch.setattr(run_series, "run_notebook", fake_run)
    monkeypatch.setenv("FCN_PROFILE", "quick")
    measured = tmp_path / "runtimes.json"
    monkeypatch.setattr(run_series.runtimes, "RUNTIMES_FILE", measured)
    cache = tmp_path / "cache"
    monkeypatch.setenv("FCN_CACHE_DIR", str(cache))
    cache.mkdir()
    (cache / "fcn32s-0123456789ab.weights.h5").write_bytes(b"weights")
    assert run_series.main([str(NOTEBOOK), "--output", str(tmp_path / "warm")]) == 0
    assert not measured.exists(), "times over a warm cache must not replace the cold series' times"
    assert "held 1 trained models when the series started" in capsys.readouterr().out

    (cache / "fcn32s-0123456789ab.weights.h5").unlink()  # As after `make clean-cache`.
    assert run_series.main([str(NOTEBOOK), "--output", str(tmp_path / "cold")]) == 0
    assert json.loads(measured.read_text())["notebooks"]["03"]["seconds"] == 7.0


def test_kernel_env_uses_the_inline_backend_whatever_the_caller_set(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.delenv("FCN_STATIC_WIDGETS", raising=False)
    env = run_series.kernel_env(tmp_path / "claims.jsonl")
    assert env["MPLBACKEND"] == "module://matplotlib_inline.backend_inline"
    assert env["FCN_STATIC_WIDGETS"] == "1"
    assert env["FCN_CLAIMS_FILE"] == str(tmp_path / "claims.jsonl")
    assert os.environ["MPLBACKEND"] == "Agg", "the caller's own environment is left alone"


def test_read_claims_of_a_hand_written_file(tmp_path):
    path = tmp_path / "claims.jsonl"
    path.write_text(
        '{"claim": "dense head predicts background", "numbers": {"accuracy": 0.8213, "iou_sign": 0.0}, '
        '"checked": true, "held": true}\n'
        "\n"
        '{"claim": "FCN-8s beats FCN-32s", "numbers": {"fcn8s": 0.9612, "fcn32s": 0.861, "epochs": 6}, '
        '"checked": true, "held": false}\n'
        '{"claim": "skipped on GPU", "numbers": {}, "checked": false, "held": false}\n',
        encoding="utf-8",
    )
    claims = run_series.read_claims(path)
    assert [claim["claim"] for claim in claims] == ["dense head predicts background", "FCN-8s beats FCN-32s",
                                                    "skipped on GPU"]
    assert claims[1]["numbers"] == {"fcn8s": 0.9612, "fcn32s": 0.861, "epochs": 6}
    assert [run_series.format_claim(claim) for claim in claims] == [
        "dense head predicts background: accuracy = 0.8213, iou_sign = 0 (held)",
        "FCN-8s beats FCN-32s: fcn8s = 0.9612, fcn32s = 0.861, epochs = 6 (DID NOT HOLD)",
        "skipped on GPU: no numbers (not checked)",
    ]
    assert run_series.read_claims(tmp_path / "absent.jsonl") == []


@pytest.mark.parametrize("line, message", [
    ('{"claim": "x", "numbers": {}, "checked": true', "line 2: not JSON"),
    ('["x"]', "line 2: expected a JSON object"),
    ('{"claim": "x", "numbers": [1], "checked": true, "held": true}', "line 2: field 'numbers' must be a dict"),
    ('{"claim": "x", "numbers": {}, "checked": true}', "line 2: field 'held' must be a bool"),
])
def test_read_claims_names_file_and_line_of_a_bad_record(tmp_path, line, message):
    path = tmp_path / "bad claims.jsonl"
    path.write_text('{"claim": "fine", "numbers": {}, "checked": true, "held": true}\n' + line + "\n")
    with pytest.raises(ValueError, match=re.escape(f"bad claims.jsonl, {message}")):
        run_series.read_claims(path)


def test_report_lists_each_notebook_and_its_key_numbers():
    claim = {"claim": "mean IoU | sign", "numbers": {"iou": 0.91234}, "checked": True, "held": True}
    results = [run_series.Result("01_a.ipynb", "ok", 12.4, 6, 3 * 2**30, [claim]),
               run_series.Result("02_b.ipynb", "FAILED", 3.0, 0, None, [], "AssertionError: no\nmore")]
    text = run_series.report(results, "quick")
    assert "| 01_a.ipynb | ok | 12 | 3,072 | 6 | 1 of 1 | [01_a.html](01_a.html) |  |" in text
    assert "| 02_b.ipynb | FAILED | 3 | n/a | 0 | 0 of 0 | [02_b.html](02_b.html) | AssertionError: no more |" in text
    assert "- mean IoU \\| sign: iou = 0.9123 (held)" in text
    assert "### 02_b.ipynb\n\nNo claims recorded." in text


def test_count_figures_counts_image_outputs_only():
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(outputs=[
            nbformat.v4.new_output("display_data", data={"image/png": "iVBOR", "text/plain": "<Figure>"}),
            nbformat.v4.new_output("stream", text="hello"),
            nbformat.v4.new_output("execute_result", data={"image/svg+xml": "<svg/>"}, execution_count=1),
        ]),
        nbformat.v4.new_markdown_cell("![badge](https://colab.research.google.com/assets/colab-badge.svg)"),
        nbformat.v4.new_code_cell(outputs=[nbformat.v4.new_output("display_data", data={"text/html": "<b>"})]),
    ])
    assert run_series.count_figures(notebook) == 2


def test_main_names_a_missing_notebook(tmp_path, capsys):
    assert run_series.main([str(tmp_path / "99_nothing.ipynb"), "--output", str(tmp_path)]) == 1
    assert "99_nothing.ipynb" in capsys.readouterr().err


def test_quote_runtimes_rewrites_headers_and_readme_from_the_file(tmp_path):
    import shutil

    runtimes = run_series.runtimes

    for name in ("notebooks", "docs"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    measured = tmp_path / "docs" / "runtimes.json"
    assert run_series.quote_runtimes(tmp_path, measured) == [], "the repository's quotes already agree"
    runtimes.record({"03": 42.0, "05": 800.0}, measured, date="2030-01-02",
                    machine_text="x86_64, 2 cores, load average 0.5")
    changed = run_series.quote_runtimes(tmp_path, measured)
    assert sorted(Path(p).name for p in changed) == ["03_transposed_convolution.ipynb", "05_skip_connections.ipynb",
                                                     "INSTRUCTORS.md", "README.md"]
    header = " ".join("".join(json.loads((tmp_path / "notebooks" / "03_transposed_convolution.ipynb")
                                         .read_text())["cells"][0]["source"]).split())
    assert runtimes.header_sentence("03", measured) in header and header.count("**Time:**") == 1
    readme = (tmp_path / "README.md").read_text()
    assert re.search(r"^\| 03 \| .*\| 40 s \|", readme, flags=re.M)
    assert re.search(rf"^\| time for the series \| {re.escape(runtimes.series_cell(measured))} \|", readme, flags=re.M), \
        "the profile table's series time follows the file too"
    assert re.search(r"^\| 03_transposed_convolution \| about 40 s \|", (tmp_path / "docs" / "INSTRUCTORS.md")
                     .read_text(), flags=re.M), "the instructors' runtime column follows the file too"
    assert run_series.quote_runtimes(tmp_path, measured) == [], "a second run changes nothing"


def test_kernels_talk_over_private_unix_sockets_so_ipykernel_has_no_tcp_warning(tmp_path):
    manager = run_series.kernel_manager(tmp_path)
    if os.name != "posix":
        assert manager is None
        return
    assert manager.transport == "ipc" and manager.ip.startswith(str(tmp_path))
