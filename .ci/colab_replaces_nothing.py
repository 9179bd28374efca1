"""Checks that installing fcnlib as a Colab notebook's setup cell replaces no installed package.

Run it with the Python of an environment that holds Colab's versions (.ci/colab-constraints.txt;
the CI job "colab" builds one with `make setup CONSTRAINTS=...`). It asks pip what
`pip install -e <repo>` would install (`--dry-run --report`, no constraints, as on Colab) and fails,
naming each one, if that would replace an installed distribution, above all one of Colab's pins.
"""

import importlib.metadata
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def normalise(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def main():
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", (ROOT / ".ci" / "colab-constraints.txt").read_text(),
                           flags=re.M))
    installed = {normalise(dist.metadata["Name"]): dist.version for dist in importlib.metadata.distributions()}
    with tempfile.TemporaryDirectory() as folder:
        report_path = Path(folder) / "report.json"
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--report",
                        str(report_path), "-e", str(ROOT)], check=True)
        report = json.loads(report_path.read_text())
    replaced = []
    for item in report["install"]:
        name, version = normalise(item["metadata"]["name"]), item["metadata"]["version"]
        if name != "fcnlib" and name in installed:
            pinned = " (one of Colab's pins)" if name in map(normalise, pins) else ""
            replaced.append(f"{name} {installed[name]} -> {version}{pinned}")
    missing = [name for name in pins if normalise(name) not in installed and name != "tensorflow"]
    if missing:
        sys.exit(f"This environment lacks Colab's pins {missing}: install them first.")
    if replaced:
        sys.exit("Installing fcnlib on Colab's versions would replace: " + "; ".join(replaced))
    new = [item["metadata"]["name"] for item in report["install"] if normalise(item["metadata"]["name"]) != "fcnlib"]
    print(f"Installing fcnlib replaces none of {len(installed)} installed distributions "
          f"(Colab's pins: {', '.join(f'{k}=={v}' for k, v in pins.items())}); new: {', '.join(new) or 'none'}.")


if __name__ == "__main__":
    main()
