"""Reading user corpora: glob patterns -> files -> documents.

A domain is given as a list of glob patterns. Each match is one of

* ``.txt``                 -- the whole file is one document;
* ``.jsonl``, ``.jsonl.gz``, ``.json.gz``, ``.jsonl.zst``, ``.json.zst``
                           -- one JSON object per line (Dolma's ``.json.gz`` and SlimPajama's
                              ``.jsonl.zst`` are JSON lines), the document is ``obj[text_field]``;
* ``.parquet``             -- one document per row of the string column ``text_field``;
* ``.arrow``               -- an Arrow file of a Hugging Face dataset, read with ``datasets``;
* a folder written by ``Dataset.save_to_disk`` (``state.json`` and ``dataset_info.json`` in it),
  read with ``datasets.load_from_disk``.

Compressed lines are decompressed as a stream (gzip from the standard library, zstd with
``zstandard``), so memory does not grow with the file. They are not read through ``datasets``' JSON
builder: it can neither count replaced bytes nor name the bad line, and it converts every file to an
Arrow cache first. Text is UTF-8. Bytes that are not valid UTF-8
are not fatal: they are decoded as U+FFFD and counted, so a pipeline can report how dirty a corpus
was. Every error names the file (and the line, for JSON lines).
"""

from __future__ import annotations

import contextlib
import glob
import gzip
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from mixopt.core.errors import DataError

__all__ = [
    "SUPPORTED_SUFFIXES",
    "Document",
    "domain_documents",
    "is_saved_dataset",
    "resolve_paths",
    "iter_documents",
    "decode_utf8",
]

#: JSON-lines suffixes and how each is decompressed
_JSON_LINES = {".jsonl": None, ".jsonl.gz": "gzip", ".json.gz": "gzip", ".jsonl.zst": "zstd", ".json.zst": "zstd"}
SUPPORTED_SUFFIXES: tuple[str, ...] = (".txt", *_JSON_LINES, ".parquet", ".arrow")
#: what marks a folder written by ``Dataset.save_to_disk``
_SAVED_DATASET_FILES = ("state.json", "dataset_info.json")
_ARROW_BATCH_ROWS = 4096
#: compressed bytes read at a time from a .zst file
_READ_BYTES = 1 << 20

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
    """The longest supported suffix of ``path`` (``.jsonl.gz`` before ``.gz``), else its last one."""
    name = path.name.lower()
    return next((s for s in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True) if name.endswith(s)), path.suffix.lower())


def is_saved_dataset(path: Path) -> bool:
    """Whether ``path`` is a folder written by ``datasets.Dataset.save_to_disk``."""
    return path.is_dir() and all((path / f).is_file() for f in _SAVED_DATASET_FILES)


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
            an unsupported suffix (see the module docstring). Matched folders are
            ignored unless ``save_to_disk`` wrote them.
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
        files = [f for f in files if f.is_file() or is_saved_dataset(f)]
        if not files:
            raise DataError(f"pattern {pattern!r} matches no file (relative to {base})")
        for f in files:
            found.setdefault(f.resolve(), f)
    paths = sorted(found.values())
    saved = [p for p in paths if p.is_dir()]
    # a saved dataset's own .arrow files, matched by a recursive pattern too, are read through it
    paths = [p for p in paths if not any(p != d and d in p.parents for d in saved)]
    for path in paths:
        if path.is_dir():
            continue
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


@contextlib.contextmanager
def _open_lines(path: Path) -> Iterator[Iterator[bytes]]:
    """The lines of ``path``'s decompressed bytes, as a stream."""
    codec = _JSON_LINES[_suffix(path)]
    if codec is None:
        with open(path, "rb") as f:
            yield f
    elif codec == "gzip":  # a truncated gzip stream raises EOFError at its end
        with gzip.open(path, "rb") as f:
            yield f
    else:
        with open(path, "rb") as raw:
            yield _lines(_zstd_chunks(raw, path))


def _zstd_chunks(raw: io.BufferedIOBase, path: Path) -> Iterator[bytes]:
    """Decompressed chunks of a (multi-frame) zstd stream. By hand around ``decompressobj``:
    zstandard's ``stream_reader`` ends a truncated frame silently, and a cut-off corpus must be
    an error, not fewer documents."""
    import zstandard  # only .zst corpora need it

    decoder, chunk = zstandard.ZstdDecompressor().decompressobj(), raw.read(_READ_BYTES)
    while chunk:
        try:
            yield decoder.decompress(chunk)
        except zstandard.ZstdError as exc:
            raise DataError(f"{path}: not a readable .zst file ({exc})") from None
        chunk = decoder.unused_data if decoder.eof and decoder.unused_data else raw.read(_READ_BYTES)
        if decoder.eof and chunk:  # the next frame
            decoder = zstandard.ZstdDecompressor().decompressobj()
    if not decoder.eof:
        raise DataError(f"{path}: not a readable .zst file (the compressed stream ends inside a frame)")


def _lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    pending = b""
    for chunk in chunks:
        *complete, pending = (pending + chunk).split(b"\n")
        yield from (line + b"\n" for line in complete)
    if pending:
        yield pending


def _iter_jsonl(path: Path, text_field: str) -> Iterator[Document]:
    read = [0]  # lines read so far: where a truncated or corrupt stream broke off
    try:
        yield from _iter_json_lines(path, text_field, read)
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError; a truncated stream, EOFError
        raise DataError(f"{path}, after line {read[0]}: not a readable {_suffix(path)} file ({exc})") from None


def _iter_json_lines(path: Path, text_field: str, read: list[int]) -> Iterator[Document]:
    with _open_lines(path) as f:
        for lineno, raw in enumerate(f, start=1):
            read[0] = lineno
            # Counted on the whole line: invalid bytes can only sit inside strings.
            line, replaced = decode_utf8(raw)
            if lineno == 1:
                line = line.removeprefix(_BOM)
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}, line {lineno}, column {exc.colno}: invalid JSON ({exc.msg})") from None
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


def _iter_hf_dataset(path: Path, text_field: str) -> Iterator[Document]:
    """A Hugging Face dataset: an ``.arrow`` file or a ``save_to_disk`` folder (memory-mapped)."""
    import datasets  # seconds to import: only these inputs need it
    import pyarrow as pa

    try:
        ds = datasets.load_from_disk(str(path)) if path.is_dir() else datasets.Dataset.from_file(str(path))
    except (pa.ArrowException, OSError, ValueError, FileNotFoundError) as exc:
        raise DataError(f"{path}: not a readable Hugging Face dataset ({exc})") from None
    if isinstance(ds, datasets.DatasetDict):
        raise DataError(f"{path}: a DatasetDict with splits {list(ds)}; give one split's folder")
    if text_field not in ds.column_names:
        raise DataError(f"{path}: no column {text_field!r} (columns: {', '.join(ds.column_names)})")
    kind = ds.features[text_field]
    if not (isinstance(kind, datasets.Value) and kind.dtype in ("string", "large_string")):
        raise DataError(f"{path}: column {text_field!r} has type {kind}, expected strings")
    for batch in ds.select_columns([text_field]).with_format("arrow").iter(batch_size=_ARROW_BATCH_ROWS):
        # raw bytes, so text is decoded (and bad bytes counted) as for every other input
        for raw in batch.column(0).cast(pa.large_binary()).to_pylist():
            if raw is not None:
                yield Document(*decode_utf8(raw))


def domain_documents(paths: list[Path], text_field: str = "text", max_bytes: int | None = None,
                     seed: int = 0, domain: str = "") -> Iterator[Document]:
    """A domain's documents (:func:`iter_documents`), or with ``max_bytes`` a seeded random sample
    of them from across all its files up to that many UTF-8 bytes (two passes over the files)."""
    if max_bytes is None:
        return iter_documents(paths, text_field)
    from mixopt.data.sample import sample_documents

    return sample_documents(lambda: iter_documents(paths, text_field), lambda d: len(d.text.encode("utf-8")),
                            max_bytes, seed, domain)


def iter_documents(paths: list[Path], text_field: str = "text") -> Iterator[Document]:
    """Yield the non-blank documents of ``paths``, file by file, in order.

    Args:
        paths: Files (and saved-dataset folders) as returned by :func:`resolve_paths`.
        text_field: JSON key (JSON lines) or column (parquet, Arrow, saved datasets) holding text.

    Yields:
        :class:`Document` tuples; empty and whitespace-only documents are skipped.

    Raises:
        DataError: a file has an unsupported suffix or is a corrupt archive, a JSON
            line is not a JSON object with a string ``text_field``, or a table lacks
            the column (messages name the file, and the line for JSON lines).
    """
    for path in paths:
        path = Path(path)
        suffix = _suffix(path)
        if is_saved_dataset(path):
            docs = _iter_hf_dataset(path, text_field)
        elif not path.is_file():
            raise DataError(f"{path}: no such file")
        elif suffix == ".txt":
            docs = _iter_txt(path)
        elif suffix in _JSON_LINES:
            docs = _iter_jsonl(path, text_field)
        elif suffix == ".parquet":
            docs = _iter_parquet(path, text_field)
        elif suffix == ".arrow":
            docs = _iter_hf_dataset(path, text_field)
        else:
            raise DataError(
                f"{path}: unsupported file type {path.suffix or '(no suffix)'!r}; "
                f"supported: {', '.join(SUPPORTED_SUFFIXES)}"
            )
        for doc in docs:
            if doc.text.strip():
                yield doc
