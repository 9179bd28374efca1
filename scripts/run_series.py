"""Runs the whole notebook series headless, in order, and writes what someone can open afterwards.

Usage (from the repository root; `make series` calls it after setting up the environment):

    python scripts/run_series.py [--output build/series] [--timeout 900] [notebooks/03_*.ipynb ...]

For every notebook it writes the executed notebook (`<output>/<name>.ipynb`) and an HTML page
(`<output>/<name>.html`), both with the notebook's figures inline, as JupyterLab shows them. Last, it
writes a report (`<output>/report.md`): each notebook's status, wall time, figure count, peak
resident memory and the key numbers its claims asserted. Models trained by an earlier notebook are
reused by later ones through the checkpoint cache. The exit status is non-zero if any notebook failed.

In the quick profile, when the checkpoint cache held no trained model at the start (`make clean-cache`),
it also records the wall time of each notebook that ran without error, with the date and the machine, in
`docs/runtimes.json` (`scripts/runtimes.py`): the one source of the quick runtimes that
the README and the notebook headers quote (`--no-record` leaves that file alone), and rewrites those quotes
from it (`--quote-only` does just that); commit the file with them. `tests/test_runtimes.py` fails where a
quote and the file disagree.

The kernels run with Matplotlib's inline backend (the one ipykernel picks in JupyterLab), whatever
``MPLBACKEND`` the caller has set: a non-interactive backend such as Agg would draw nothing into the
notebook. Widgets are replaced by one static drawing (``FCN_STATIC_WIDGETS=1``, see
``fcnlib.viz.interactive``) unless the caller sets that variable otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
import runtimes  # noqa: E402  (scripts/runtimes.py: the measured runtimes of docs/runtimes.json)
from fcnlib import config, files  # noqa: E402

# The backend ipykernel selects in Jupyter(Lab) when MPLBACKEND is unset: figures go into the outputs.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
# The notebooks' `fcnlib.claims.expect` appends one JSON object per line to the file this names.
CLAIMS_ENV = "FCN_CLAIMS_FILE"
CLAIM_FIELDS = {"claim": str, "numbers": dict, "checked": bool, "held": bool}


@dataclasses.dataclass
class Result:
    """What running one notebook gave: the columns of report.md."""

    name: str
    status: str
    seconds: float
    figures: int
    peak_bytes: int | None
    claims: list = dataclasses.field(default_factory=list)
    detail: str = ""


def kernel_env(claims_file: Path) -> dict:
    """The environment of a notebook's kernel: the caller's, with the inline backend and a claims file."""
    env = dict(os.environ)
    env["MPLBACKEND"] = INLINE_BACKEND  # Replaces an inherited MPLBACKEND=Agg, which would draw nothing.
    env.setdefault("FCN_STATIC_WIDGETS", "1")  # No browser drives the widgets: draw their first view.
    env[CLAIMS_ENV] = str(claims_file)
    return env


def count_figures(notebook) -> int:
    """The number of image outputs (PNG, JPEG or SVG figures) in an executed notebook."""
    return sum(
        1
        for cell in notebook.cells if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if any(key.startswith("image/") for key in output.get("data", {}))
    )


def read_claims(path: Path) -> list[dict]:
    """Reads the claims a notebook recorded: one JSON object per line; no file means no claims.

    Raises:
        ValueError: For a line that is no JSON object with the fields "claim" (str), "numbers"
            (object), "checked" and "held" (booleans); the message names the file and the line.
    """
    path = Path(path)
    if not path.exists():
        return []
    claims = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            claim = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}, line {number}: not JSON ({error.msg}): {line[:80]!r}") from None
        if not isinstance(claim, dict):
            raise ValueError(f"{path}, line {number}: expected a JSON object, got {line[:80]!r}")
        for field, kind in CLAIM_FIELDS.items():
            if not isinstance(claim.get(field), kind):
                raise ValueError(f"{path}, line {number}: field {field!r} must be a {kind.__name__}; "
                                 f"got {claim.get(field)!r}")
        claims.append(claim)
    return claims


def _format_value(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(_format_value(item) for item in value) + "]"
    return str(value)


def format_claim(claim: dict) -> str:
    """One claim as a line of the report: its text, its numbers, and whether it held."""
    numbers = ", ".join(f"{key} = {_format_value(value)}" for key, value in claim["numbers"].items())
    verdict = "held" if claim["held"] else "DID NOT HOLD"
    if not claim["checked"]:
        verdict = "not checked"
    return f"{claim['claim']}: {numbers or 'no numbers'} ({verdict})"


def _high_water_mark(process: psutil.Process) -> int:
    """The peak resident memory of a process so far (Linux: VmHWM); elsewhere its current RSS."""
    try:
        with open(f"/proc/{process.pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return process.memory_info().rss


class PeakMemory:
    """Follows a kernel's peak resident memory, the processes it starts included.

    Each sample adds up the high-water marks of the kernel and of its living descendants. On Linux
    the kernel's own high-water mark (VmHWM) is exact, however short its peak; elsewhere only the
    resident memory at the samples is seen. Samples are taken every ``interval`` seconds and
    whenever :meth:`sample` is called (after each cell), so the last one falls before the kernel
    shuts down.
    """

    def __init__(self, interval: float = 0.5):
        self.interval = interval
        self.peak_bytes: int | None = None
        self._process = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def watch(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self.sample()
        self._thread.start()

    def sample(self) -> None:
        if self._process is None:
            return
        total = 0
        try:
            for process in [self._process, *self._process.children(recursive=True)]:
                try:
                    total += _high_water_mark(process)
                except psutil.Error:
                    continue  # A child that ended between listing and reading.
        except psutil.Error:
            return  # The kernel has ended.
        with self._lock:
            self.peak_bytes = max(self.peak_bytes or 0, total)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def kernel_manager(folder: Path):
    """A kernel manager whose kernel talks over Unix sockets in ``folder``; None (nbclient's TCP) on Windows.

    Over TCP, ipykernel warns on every start that its traffic is not encrypted, a warning that would
    precede each notebook's line of ``make series``. Sockets in a private temporary folder are local
    to the machine, so there is nothing to warn about.
    """
    if os.name != "posix":
        return None
    from jupyter_client.manager import KernelManager

    return KernelManager(kernel_name="python3", transport="ipc", ip=str(folder / "kernel"))


def run_notebook(path: Path, output: Path, timeout: int) -> Result:
    """Executes one notebook in a fresh kernel; writes its executed copy and HTML page into ``output``."""
    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    memory = PeakMemory()
    status, detail = "ok", ""
    with tempfile.TemporaryDirectory(prefix="fcn-claims-") as scratch:
        client = NotebookClient(
            notebook, timeout=timeout, kernel_name="python3", km=kernel_manager(Path(scratch)),
            resources={"metadata": {"path": str(path.parent)}}
        )
        client.owns_km = True  # Shut the kernel down after the run, as for nbclient's own manager.

        def on_start(**_):
            pid = getattr(client.km.provisioner, "pid", None) if client.km is not None else None
            if pid is not None:
                memory.watch(pid)

        client.on_notebook_start = on_start
        client.on_cell_executed = lambda **_: memory.sample()
        claims_file = Path(scratch) / "claims.jsonl"
        start = time.perf_counter()
        try:
            client.execute(env=kernel_env(claims_file))
        except CellExecutionError as error:
            status, detail = "FAILED", str(error).strip().splitlines()[-1]
        except (CellTimeoutError, DeadKernelError) as error:
            status, detail = "FAILED", f"{type(error).__name__}: {str(error).strip().splitlines()[-1]}"
        finally:
            memory.stop()
        seconds = time.perf_counter() - start
        try:
            claims = read_claims(claims_file)
        except ValueError as error:
            claims, status, detail = [], "FAILED", f"unreadable claims: {error}"
    with files.atomic_path(output / path.name) as tmp:
        nbformat.write(notebook, str(tmp))
    html, _ = HTMLExporter().from_notebook_node(notebook)
    with files.atomic_path(output / (path.stem + ".html")) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return Result(path.name, status, seconds, count_figures(notebook), memory.peak_bytes, claims, detail)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def report(results: list[Result], profile: str) -> str:
    """The Markdown report: a table of all notebooks, then the key numbers of each."""
    lines = [
        f"# Notebook series run (profile: {profile})", "",
        "Peak memory: the most resident memory the notebook's kernel held (processes it started "
        "included), in MiB.", "",
        "| notebook | status | wall time (s) | peak memory (MiB) | figures | claims held | page | detail |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for result in results:
        memory = "n/a" if result.peak_bytes is None else f"{result.peak_bytes / 2**20:,.0f}"
        held = sum(claim["held"] for claim in result.claims)
        page = Path(result.name).with_suffix(".html").name
        lines.append(f"| {result.name} | {result.status} | {result.seconds:.0f} | {memory} | "
                     f"{result.figures} | {held} of {len(result.claims)} | [{page}]({page}) | "
                     f"{_cell(result.detail)} |")
    lines += ["", "## Key numbers", ""]
    for result in results:
        lines.append(f"### {result.name}")
        lines.append("")
        lines += [f"- {_cell(format_claim(claim))}" for claim in result.claims] or ["No claims recorded."]
        lines.append("")
    return "\n".join(lines)


def cached_models(cache: Path | None = None) -> list[Path]:
    """The trained models in the checkpoint cache (``config.cache_dir()`` when None), by weights file."""
    cache = config.cache_dir() if cache is None else cache
    return sorted(cache.glob("*.weights.h5")) if cache.is_dir() else []


def record_runtimes(results: list[Result], profile: str, path: Path | None = None) -> dict:
    """Writes the wall seconds of the notebooks that ran without error into the runtimes file (quick only)."""
    path = runtimes.RUNTIMES_FILE if path is None else path
    if profile != runtimes.PROFILE or config.smoke_mode():
        return {}
    measured = {result.name[:2]: result.seconds for result in results if result.status == "ok"}
    if measured:
        runtimes.record(measured, path)
    return measured


REPOSITORY_RUNTIMES = Path(runtimes.RUNTIMES_FILE)  # The file the README and the headers quote.
HEADER_SENTENCE = re.compile(r"\*\*Time:\*\*.*?\)\.", flags=re.S)


def quote_runtimes(root: Path = ROOT, path: Path | None = None) -> list[str]:
    """Rewrites every quick runtime the project quotes from the runtimes file: each notebook header's
    sentence, the README table's "quick" cell, the profile table's time for the series and the runtime column of docs/INSTRUCTORS.md's
    generated table (``classroom.py list --write``). Returns the files it changed (atomic writes)."""
    from fcnlib import environment

    environment.import_tensorflow_quietly()  # The gpu estimates read recipes, which load TensorFlow: quietly.
    path = runtimes.RUNTIMES_FILE if path is None else path
    changed = []
    readme_path = root / "README.md"
    readme = readme_path.read_text(encoding="utf-8")
    for notebook in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        number = notebook.name[:2]
        text = notebook.read_text(encoding="utf-8")
        data = json.loads(text)
        title = "".join(data["cells"][0]["source"])
        if not HEADER_SENTENCE.search(title):
            raise ValueError(f"{notebook}: its title cell has no '**Time:**' sentence")
        sentence = runtimes.header_sentence(number, path)
        new_title = HEADER_SENTENCE.sub(lambda _, s=sentence: "\n".join(textwrap.wrap(s, 110)), title, count=1)
        if new_title != title:
            data["cells"][0]["source"] = new_title.splitlines(keepends=True)
            with files.atomic_path(notebook) as tmp:
                text = nbformat.writes(nbformat.from_dict(data), version=nbformat.NO_CONVERT)
                tmp.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
            changed.append(str(notebook))
        row = re.compile(rf"^(\| {number} \| \[.*?\]\(notebooks/{re.escape(notebook.name)}\) \|[^|]*\|)[^|]*(\|.*)$",
                         flags=re.M)
        if not row.search(readme):
            raise ValueError(f"{readme_path}: no table row for {notebook.name}")
        readme = row.sub(lambda m, n=number: f"{m.group(1)} {runtimes.readme_cell(n, path)} {m.group(2)}", readme)
    series_row = re.compile(r"^(\| time for the series \|)[^|]*(\|.*)$", flags=re.M)
    if not series_row.search(readme):
        raise ValueError(f"{readme_path}: no '| time for the series |' row in the profile table")
    readme = series_row.sub(lambda m: f"{m.group(1)} {runtimes.series_cell(path)} {m.group(2)}", readme)
    if readme != readme_path.read_text(encoding="utf-8"):
        with files.atomic_path(readme_path) as tmp:
            tmp.write_text(readme, encoding="utf-8")
        changed.append(str(readme_path))
    classroom = _classroom()
    guide = root / "docs" / "INSTRUCTORS.md"
    if guide.exists():
        table = classroom.exercise_table(classroom.series_notebooks(root / "notebooks"), path)
        if classroom.write_table(guide, table):
            changed.append(str(guide))
    return changed


def _classroom():
    """scripts/classroom.py as a module (scripts/ is not a package)."""
    import importlib.util

    if "classroom" not in sys.modules:
        spec = importlib.util.spec_from_file_location("classroom", Path(__file__).with_name("classroom.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules["classroom"] = module
        spec.loader.exec_module(module)
    return sys.modules["classroom"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb in order")
    parser.add_argument("--output", type=Path, default=ROOT / "build" / "series")
    parser.add_argument("--timeout", type=int, default=900, help="seconds allowed per cell")
    parser.add_argument("--no-record", action="store_true",
                        help="do not write the wall times into docs/runtimes.json")
    parser.add_argument("--quote-only", action="store_true",
                        help="run nothing: rewrite the headers' and README's runtimes from docs/runtimes.json")
    args = parser.parse_args(argv)
    if args.quote_only:
        print("\n".join(quote_runtimes()) or "Every quoted runtime already agrees with docs/runtimes.json.")
        return 0
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        print("No notebooks found in notebooks/.", file=sys.stderr)
        return 1
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        print(f"No such notebook: {', '.join(missing)}", file=sys.stderr)
        return 1
    # docs/runtimes.json holds a cold series, each notebook training the models it introduces: times
    # measured over a cache that already holds models (a second run) would quote a fraction of that.
    warm = cached_models()
    results = []
    for path in paths:
        print(f"running {path.name} ...", flush=True)
        result = run_notebook(path, args.output, args.timeout)
        memory = "n/a" if result.peak_bytes is None else f"{result.peak_bytes / 2**20:,.0f} MiB"
        print(f"  {result.status} in {result.seconds:.0f} s, {result.figures} figures, peak memory {memory} "
              f"{result.detail}", flush=True)
        results.append(result)
    profile = os.environ.get("FCN_PROFILE", "detected")
    with files.atomic_path(args.output / "report.md") as tmp:
        tmp.write_text(report(results, profile), encoding="utf-8")
    print(f"\nExecuted notebooks, HTML pages and report.md are in {args.output}")
    record = not args.no_record and not warm
    if warm and not args.no_record:
        print(f"Not recorded in {runtimes.RUNTIMES_FILE}: the checkpoint cache ({config.cache_dir()}) held "
              f"{len(warm)} trained models when the series started, and that file holds a cold series, each "
              "notebook training the models it introduces. Run `make clean-cache`, then `make series`, to "
              "measure one.")
    measured = record_runtimes(results, profile) if record else {}
    if measured:
        print(f"Quick-profile wall times of {', '.join(sorted(measured))} written to {runtimes.RUNTIMES_FILE}")
        if Path(runtimes.RUNTIMES_FILE) == REPOSITORY_RUNTIMES:  # Not when a caller measures into another file.
            print("Quoted anew in " + (", ".join(quote_runtimes()) or "nothing (every figure already agreed)"))
    return 1 if any(result.status != "ok" for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
