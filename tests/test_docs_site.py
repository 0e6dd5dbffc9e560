"""The documentation builds, links where it says, and the README stays a user's first page.

`mkdocs build --strict` fails on a broken link or anchor, a page missing from the nav, or a
benchmark table that is not there (pymdownx.snippets with check_paths)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

import pytest
from markdown_it import MarkdownIt

from conftest import REPO

README = REPO / "README.md"


def _links(path) -> list[str]:
    tokens = MarkdownIt("commonmark").parse(path.read_text(encoding="utf-8"))
    found = []
    for token in tokens:
        for child in token.children or []:
            if child.type == "link_open":
                found.append(child.attrGet("href"))
            elif child.type == "image":
                found.append(child.attrGet("src"))
    return found


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None,
                    reason="mkdocs or mkdocs-material is not installed (the `docs` extra; setup.sh installs it)")
def test_the_site_builds_strictly(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", "mkdocs.yml",
                           "--site-dir", str(tmp_path / "site")], cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert (tmp_path / "site" / "configuration" / "index.html").exists()


def test_readme_links_point_at_files_that_exist():
    broken = []
    for href in _links(README):
        if re.match(r"[a-z]+:", href) or href.startswith("#"):
            continue
        target = href.split("#", 1)[0]
        if not (REPO / target).exists():
            broken.append(href)
    assert broken == [], f"README.md links to missing files: {broken}"


def test_readme_is_a_first_page_not_a_lab_notebook():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 300
    assert not re.search(r"(?<![\w/.])/(work|tmp|home|Users|root)/", text), "an absolute path of one machine"
    assert not re.search(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}\b", text), "a commit hash"
    assert "docs/img/convergence.png" in _links(README)


@pytest.mark.parametrize("page", [README, *sorted((REPO / "docs").rglob("*.md"))], ids=lambda p: p.name)
def test_no_page_shows_a_folder_of_the_machine_it_was_written_on(page):
    """Benchmark tables included in the docs record their command: a folder of the machine that
    ran it (``--out /tmp/x``) would be shown to every reader."""
    text = page.read_text(encoding="utf-8")
    found = re.search(r"(?<![\w/.])/(work|tmp|home|Users|root|var)/\S*", text)
    assert not found, f"{page.relative_to(REPO)}: {found.group(0)}"
