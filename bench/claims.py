"""Every claim of the lessons, and every exercise check, over seeds and CPU settings: the worst slack of each.

The quick profile's margins (fcnlib/margins.py) must hold on any machine a learner has. This command runs
each notebook in a fresh kernel for every (setting, seed) pair and records each ``claims.expect`` with its
slack (how far its condition is from failing, in the units it compares: see fcnlib.claims) and each graded
test cell's verdict (the exercise checks on the reference solutions). The seed replaces the recipes' seed
(``fcnlib.recipes.SEED``: weights, shuffling, dropout) and the notebook's own ``SEED = 0`` line; the data
stay the same. Each (setting, seed) trains in its own cache folder under --work, so nothing is reused
across settings. TensorFlow reads ``TF_ENABLE_ONEDNN_OPTS`` and ``ONEDNN_MAX_CPU_ISA`` when it starts, and
every notebook starts its own kernel.

Usage (from the repository root; a full sweep trains the whole series once per pair: about 7 minutes each
on a 2-core CPU):

    python -m bench.claims [--seeds 0 1 2 3 4] [--settings off on] [--notebooks 04 05]
                           [--work build/claims] [--lessons-only]
    python -m bench.claims --table-only [--work build/claims]   # the table of the records written before

Settings: off (TF_ENABLE_ONEDNN_OPTS=0), on (=1), avx2 (=1 and ONEDNN_MAX_CPU_ISA=AVX2), avx512
(=1 and ONEDNN_MAX_CPU_ISA=AVX512_CORE): use the ISAs this CPU offers (`grep -o 'avx[^ ]*' /proc/cpuinfo`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = {
    "off": {"TF_ENABLE_ONEDNN_OPTS": "0"},
    "on": {"TF_ENABLE_ONEDNN_OPTS": "1"},
    "avx2": {"TF_ENABLE_ONEDNN_OPTS": "1", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "avx512": {"TF_ENABLE_ONEDNN_OPTS": "1", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE"},
}
SEED_LINE = re.compile(r"^SEED = 0\b", re.M)


def seeded_copy(path: Path, seed: int, lessons_only: bool = False):
    """The notebook with its seeds set to ``seed`` (and cut before its exercises when ``lessons_only``)."""
    notebook = nbformat.read(path, as_version=4)
    cells = []
    for cell in notebook.cells:
        if lessons_only and cell.cell_type == "markdown" and re.match(r"##\s+Exercises", cell.source.strip()):
            break
        if cell.cell_type == "code":
            cell.source = SEED_LINE.sub(f"SEED = {seed}", cell.source)
        cells.append(cell)
    first = nbformat.v4.new_code_cell(f"import fcnlib.recipes\nfcnlib.recipes.SEED = {seed}  # bench.claims")
    notebook.cells = [first, *cells]
    return notebook


def run_one(path: Path, seed: int, setting: str, work: Path, lessons_only: bool, timeout: int) -> list[dict]:
    """Runs one notebook for one (setting, seed); returns its records (claims, graded cells, errors)."""
    from nbclient import NotebookClient

    notebook = seeded_copy(path, seed, lessons_only)
    cache = work / f"cache-{setting}-{seed}"
    cache.mkdir(parents=True, exist_ok=True)
    base = {"notebook": path.name[:2], "seed": seed, "setting": setting}
    with tempfile.TemporaryDirectory(prefix="fcn-bench-claims-") as scratch:
        claims_file = Path(scratch) / "claims.jsonl"
        env = dict(os.environ) | SETTINGS[setting] | {
            "FCN_CLAIMS_FILE": str(claims_file), "FCN_CACHE_DIR": str(cache), "FCN_PROFILE": "quick",
            "FCN_STATIC_WIDGETS": "1", "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "3"}
        manager = None
        if os.name == "posix":  # Sockets in a private folder: ipykernel does not warn about unencrypted TCP.
            from jupyter_client.manager import KernelManager

            manager = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(scratch) / "kernel"))
        client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", allow_errors=True, km=manager,
                                resources={"metadata": {"path": str(path.parent)}})
        client.owns_km = True
        start = time.perf_counter()
        try:
            client.execute(env=env)
        except Exception as error:  # noqa: BLE001  (a dead kernel or a timeout is a record, not a crash)
            records = [base | {"kind": "run", "error": f"{type(error).__name__}: {error}"[:300]}]
        else:
            records = []
        seconds = time.perf_counter() - start
        if claims_file.exists():
            for line in claims_file.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    records.append(base | {"kind": "claim"} | json.loads(line))
    for index, cell in enumerate(notebook.cells):
        grade = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if grade.endswith("_tests"):
            records.append(base | {"kind": "exercise", "claim": grade, "held": not errors,
                                   "detail": (errors[0]["evalue"][:200] if errors else "")})
        elif errors and errors[0].get("ename") != "ClaimError":
            records.append(base | {"kind": "error", "claim": f"cell {index}",
                                   "held": False, "detail": f"{errors[0]['ename']}: {errors[0]['evalue'][:200]}"})
    records.append(base | {"kind": "run", "seconds": round(seconds, 1)})
    return records


def summarise(records: list[dict]) -> list[dict]:
    """One row per claim (notebook, text): runs, how many held, the worst slack and the run it came from."""
    rows = {}
    for record in records:
        if record["kind"] not in ("claim", "exercise", "error") or not record.get("checked", True):
            continue
        key = (record["notebook"], record["kind"], record["claim"])
        row = rows.setdefault(key, {"notebook": key[0], "kind": key[1], "claim": key[2], "runs": 0, "held": 0,
                                    "worst_slack": None, "worst_run": "", "condition": record.get("condition")})
        row["runs"] += 1
        row["held"] += bool(record.get("held"))
        slack = record.get("slack")
        run = f"{record['setting']}/seed {record['seed']}"
        if slack is not None and (row["worst_slack"] is None or slack < row["worst_slack"]):
            row["worst_slack"], row["worst_run"] = slack, run
        elif not record.get("held") and not row["worst_run"]:
            row["worst_run"] = run
    return sorted(rows.values(), key=lambda row: (row["notebook"], row["kind"] != "claim", row["claim"]))


def table(records: list[dict]) -> str:
    """The Markdown table of the lab notes."""
    runs = {(r["setting"], r["seed"]) for r in records}
    settings = sorted({s for s, _ in runs})
    seeds = sorted({s for _, s in runs})
    lines = [f"Runs: settings {', '.join(settings)} × seeds {', '.join(map(str, seeds))}.", "",
             "| nb | claim or check | held | worst slack | worst run | condition |", "|---|---|---:|---:|---|---|"]
    for row in summarise(records):
        slack = "" if row["worst_slack"] is None else f"{row['worst_slack']:+.3g}"
        condition = (row["condition"] or "").replace("|", "\\|")
        lines.append(f"| {row['notebook']} | {row['claim'][:70]} | {row['held']}/{row['runs']} | {slack} "
                     f"| {row['worst_run']} | `{condition[:60]}` |" if condition else
                     f"| {row['notebook']} | {row['claim'][:70]} | {row['held']}/{row['runs']} | {slack} "
                     f"| {row['worst_run']} | |")
    return "\n".join(lines)


def read_records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.claims", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--settings", nargs="+", choices=sorted(SETTINGS), default=["off", "on"])
    parser.add_argument("--notebooks", nargs="+", default=None, help="two-digit numbers (default: 01 to 08)")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "claims")
    parser.add_argument("--lessons-only", action="store_true", help="stop each notebook before its exercises")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args(argv)
    records_file = args.work / "records.jsonl"
    if not args.table_only:
        paths = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
        wanted = set(args.notebooks or [p.name[:2] for p in paths if p.name[:2] != "00"])
        unknown = wanted - {p.name[:2] for p in paths}
        if unknown:
            parser.error(f"--notebooks: no notebook numbered {', '.join(sorted(unknown))}")
        args.work.mkdir(parents=True, exist_ok=True)
        done = {(r["notebook"], r["seed"], r["setting"]) for r in read_records(records_file)
                if r["kind"] == "run" and "seconds" in r}
        for setting in args.settings:
            for seed in args.seeds:
                for path in paths:
                    if path.name[:2] not in wanted or (path.name[:2], seed, setting) in done:
                        continue
                    print(f"{setting} seed {seed} {path.name} ...", end=" ", flush=True)
                    records = run_one(path, seed, setting, args.work, args.lessons_only, args.timeout)
                    with open(records_file, "a", encoding="utf-8") as stream:
                        stream.writelines(json.dumps(r) + "\n" for r in records)
                    failed = [r for r in records if r["kind"] in ("claim", "exercise", "error") and
                              r.get("checked", True) and not r.get("held")]
                    print(f"{records[-1]['seconds']:.0f} s, {len(failed)} not held", flush=True)
    records = read_records(records_file)
    if not records:
        print(f"No records in {records_file}: run without --table-only first.", file=sys.stderr)
        return 1
    print(table(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
