"""The README and docs/ hold together: every relative link and anchor resolves, and committed results carry no machine paths.

Fast tier: reads text files only.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# Pages written on other branches at the same time as the README that links them. A link to one of
# these is accepted only while the page does not exist yet; once merged, its link is checked like any
# other. Empty this set after the merge.
PENDING: set[str] = set()  # pages another branch is still writing (none now)

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
# A machine's own folders: POSIX temp/home/work folders and Windows drive paths.
ABSOLUTE = re.compile(r"(?<![\w.~])/(?:tmp|work|root|home|Users|private/var|var/folders)/|\b[A-Za-z]:\\\\")


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|<[^>]+>", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M)}


def links(page: Path) -> list[str]:
    return LINK.findall(FENCE.sub("", page.read_text(encoding="utf-8")))


def broken_links(page: Path) -> list[str]:
    bad = []
    for target in links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        rel = dest.relative_to(ROOT).as_posix() if dest.is_relative_to(ROOT) else str(dest)
        if not dest.exists():
            if rel not in PENDING:
                bad.append(f"{target} (no file {rel})")
            continue
        if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{target} (no heading '#{anchor}' in {rel})")
    return bad


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page):
    assert broken_links(page) == [], f"{page.relative_to(ROOT)} links to what does not exist"


def test_link_checker_sees_a_broken_link(tmp_path, monkeypatch):
    """The checker itself: a missing file and a missing anchor are both reported, a good link is not."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# Title here\n\n## Second part\n", encoding="utf-8")
    page = tmp_path / "README.md"
    page.write_text(
        "[ok](docs/a.md#second-part) [gone](docs/b.md) [anchor](docs/a.md#nope) [web](https://example.org)\n"
        "```\n[in code](docs/c.md)\n```\n",
        encoding="utf-8",
    )
    assert broken_links(page) == ["docs/b.md (no file docs/b.md)", "docs/a.md#nope (no heading '#nope' in docs/a.md)"]


def test_committed_results_record_no_absolute_paths():
    """benchmarks/results/* are committed: a path of the machine they ran on means nothing to a reader."""
    files = [p for p in sorted((ROOT / "benchmarks" / "results").rglob("*")) if p.is_file()]
    assert files, "benchmarks/results holds no files"
    found = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if ABSOLUTE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:160]}")
    assert found == [], "absolute paths in committed results (write names relative to the repository):\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("line", "absolute"),
    [
        ('"error": "model /work/wt/x/runs/a/qat.keras does not exist"', True),
        ('"path": "/tmp/pytest-1/data.npz"', True),
        ('"path": "C:\\\\Users\\\\me\\\\model.keras"', True),
        ('"path": "runs/compression_zoo/text/qat.keras"', False),
        ('"unit": "ms/token", "ratio": "3/4"', False),
    ],
)
def test_absolute_path_pattern(line, absolute):
    assert bool(ABSOLUTE.search(line)) is absolute


def test_readme_is_short_and_its_test_markers_are_well_formed():
    """A newcomer's page: at most 300 lines; every `readme-test: skip` marker gives its reason (the slow test relies on it)."""
    from tests.test_readme import readme_blocks

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 300
    blocks = readme_blocks(text)  # raises ValueError naming the line of a bad marker
    assert all(b.skip is None or len(b.skip) >= 10 for b in blocks)
