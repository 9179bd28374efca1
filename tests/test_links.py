"""Every relative link in the notebooks, README and docs resolves inside the repository, and nothing
points at files outside it (learners only have the repository)."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _documents():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        yield path, "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown")
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "data" / "README.md"]:
        if path.exists():
            yield path, path.read_text(encoding="utf-8")


def _relative_targets(text):
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # A URL (https:, mailto:) or an anchor on the same page.
        yield target.split("#", 1)[0]


def test_relative_links_resolve_inside_the_repository():
    broken = []
    for path, text in _documents():
        for target in _relative_targets(text):
            resolved = (path.parent / target).resolve()
            if not resolved.is_relative_to(ROOT) or not resolved.exists():
                broken.append(f"{path.relative_to(ROOT)} -> {target}")
    assert not broken, "links that do not resolve inside the repository:\n" + "\n".join(broken)


def test_nothing_refers_to_files_outside_the_repository():
    outside = re.compile(r"\.\./shared|\.\./\.library|CONTEXT\.md|STYLE\.md")
    hits = [str(path.relative_to(ROOT)) for path, text in _documents() if outside.search(text)]
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):  # Code cells and comments too.
        if outside.search(path.read_text(encoding="utf-8")):
            hits.append(str(path.relative_to(ROOT)))
    for path in [*(ROOT / "fcnlib").glob("*.py"), *(ROOT / "scripts").glob("*.py")]:
        if outside.search(path.read_text(encoding="utf-8")):
            hits.append(str(path.relative_to(ROOT)))
    assert not hits, f"files that refer to files outside the repository: {hits}"


def test_the_link_check_finds_a_broken_link(tmp_path):
    text = "see [the data](missing/file.md) and [the paper](https://arxiv.org/abs/1411.4038) and [top](#setup)"
    assert list(_relative_targets(text)) == ["missing/file.md"]
