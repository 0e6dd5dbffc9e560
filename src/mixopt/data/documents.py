"""Reading user corpora: glob patterns -> files -> documents.

A domain is given as a list of glob patterns. Each matched file is one of

* ``.txt``     -- the whole file is one document;
* ``.jsonl``   -- one JSON object per line, the document is ``obj[text_field]``;
* ``.parquet`` -- one document per row of the string column ``text_field``.

Text is UTF-8. Bytes that are not valid UTF-8 are not fatal: they are decoded
as U+FFFD and counted, so a pipeline can report how dirty a corpus was.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from mixopt.core.errors import DataError

__all__ = [
    "SUPPORTED_SUFFIXES",
    "Document",
    "resolve_paths",
    "iter_documents",
    "decode_utf8",
]

SUPPORTED_SUFFIXES: tuple[str, ...] = (".txt", ".jsonl", ".parquet")

_REPLACEMENT = "\ufffd"
_REPLACEMENT_BYTES = _REPLACEMENT.encode("utf-8")
_BOM = "\ufeff"
# Rows pulled from a parquet file at a time; bounds memory on big files.
_PARQUET_BATCH_ROWS = 4096


class Document(NamedTuple):
    """One document of a corpus.

    Attributes:
        text: The document text (never empty or whitespace-only).
        replaced: Number of U+FFFD characters introduced while decoding
            invalid UTF-8 for this document (0 for clean input).
    """

    text: str
    replaced: int


def decode_utf8(raw: bytes) -> tuple[str, int]:
    """Decode UTF-8, replacing invalid bytes.

    Returns:
        ``(text, replaced)``: ``replaced`` counts the U+FFFD characters the
        decoding introduced, not those already encoded in ``raw``.
    """
    try:
        return raw.decode("utf-8"), 0
    except UnicodeDecodeError:
        text = raw.decode("utf-8", errors="replace")
        return text, text.count(_REPLACEMENT) - raw.count(_REPLACEMENT_BYTES)


def _suffix(path: Path) -> str:
    return path.suffix.lower()


def resolve_paths(patterns: list[str], base_dir: Path) -> list[Path]:
    """Expand glob patterns into a sorted, de-duplicated list of corpus files.

    Args:
        patterns: Glob patterns; relative ones are taken relative to
            ``base_dir``. ``**`` matches any number of directories. Matched
            directories are ignored.
        base_dir: Directory relative patterns are resolved against.

    Returns:
        Absolute paths, sorted; a file matched by several patterns (or through
        a symlink) appears once.

    Raises:
        DataError: a pattern matches no file; a matched file is empty or has
            a suffix other than ``.txt``, ``.jsonl``, ``.parquet``.
    """
    if isinstance(patterns, (str, os.PathLike)):
        # A bare string would be iterated character by character.
        patterns = [os.fspath(patterns)]
    if not patterns:
        raise DataError(f"no file patterns given (base directory {base_dir})")
    base = os.path.abspath(base_dir)
    found: dict[Path, Path] = {}
    for pattern in patterns:
        pattern = os.fspath(pattern)
        full = pattern if os.path.isabs(pattern) else os.path.join(glob.escape(base), pattern)
        files = [Path(os.path.abspath(m)) for m in glob.glob(full, recursive=True)]
        files = [f for f in files if f.is_file()]
        if not files:
            raise DataError(f"pattern {pattern!r} matches no file (relative to {base})")
        for f in files:
            found.setdefault(f.resolve(), f)
    paths = sorted(found.values())
    for path in paths:
        if _suffix(path) not in SUPPORTED_SUFFIXES:
            raise DataError(
                f"{path}: unsupported file type {path.suffix or '(no suffix)'!r}; "
                f"supported: {', '.join(SUPPORTED_SUFFIXES)}"
            )
        if path.stat().st_size == 0:
            raise DataError(f"{path}: file is empty")
    return paths


def _iter_txt(path: Path) -> Iterator[Document]:
    text, replaced = decode_utf8(path.read_bytes())
    yield Document(text.removeprefix(_BOM), replaced)


def _iter_jsonl(path: Path, text_field: str) -> Iterator[Document]:
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            # Counted on the whole line: invalid bytes can only sit inside strings.
            line, replaced = decode_utf8(raw)
            if lineno == 1:
                line = line.removeprefix(_BOM)
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}, line {lineno}: invalid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise DataError(
                    f"{path}, line {lineno}: expected a JSON object, got {type(obj).__name__}"
                )
            if text_field not in obj:
                raise DataError(f"{path}, line {lineno}: missing field {text_field!r}")
            text = obj[text_field]
            if not isinstance(text, str):
                raise DataError(
                    f"{path}, line {lineno}: field {text_field!r} is "
                    f"{type(text).__name__}, expected a string"
                )
            yield Document(text, replaced)


def _iter_parquet(path: Path, text_field: str) -> Iterator[Document]:
    import pyarrow as pa  # only parquet inputs need pyarrow's parquet reader
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path}: not a readable parquet file ({exc})") from None
    schema = pf.schema_arrow
    if text_field not in schema.names:
        raise DataError(
            f"{path}: no column {text_field!r} (columns: {', '.join(schema.names)})"
        )
    kind = schema.field(text_field).type
    if pa.types.is_string(kind) or pa.types.is_binary(kind):
        binary = pa.binary()
    elif pa.types.is_large_string(kind) or pa.types.is_large_binary(kind):
        binary = pa.large_binary()
    else:
        raise DataError(f"{path}: column {text_field!r} has type {kind}, expected strings")
    for batch in pf.iter_batches(batch_size=_PARQUET_BATCH_ROWS, columns=[text_field]):
        # Read raw bytes, so invalid UTF-8 is replaced and counted like elsewhere.
        column = batch.column(0).cast(binary)
        for raw in column.to_pylist():
            if raw is None:
                continue
            yield Document(*decode_utf8(raw))


def iter_documents(paths: list[Path], text_field: str = "text") -> Iterator[Document]:
    """Yield the non-blank documents of ``paths``, file by file, in order.

    Args:
        paths: Files as returned by :func:`resolve_paths`.
        text_field: JSON key (``.jsonl``) or column (``.parquet``) holding text.

    Yields:
        :class:`Document` tuples; empty and whitespace-only documents are skipped.

    Raises:
        DataError: a file has an unsupported suffix, a JSONL line is not a JSON
            object with a string ``text_field``, or a parquet file lacks the
            column (messages name the file, and the line for JSONL).
    """
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        suffix = _suffix(path)
        if suffix == ".txt":
            docs = _iter_txt(path)
        elif suffix == ".jsonl":
            docs = _iter_jsonl(path, text_field)
        elif suffix == ".parquet":
            docs = _iter_parquet(path, text_field)
        else:
            raise DataError(
                f"{path}: unsupported file type {path.suffix or '(no suffix)'!r}; "
                f"supported: {', '.join(SUPPORTED_SUFFIXES)}"
            )
        for doc in docs:
            if doc.text.strip():
                yield doc
