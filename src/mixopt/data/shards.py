"""Token shards: one domain's corpus as flat token arrays on disk.

``tokenize_domain`` writes, under ``out_dir``::

    train.bin   all training documents' tokens, each followed by EOS
    val.bin     the same for validation documents
    meta.json   dtype, vocabulary, counts and provenance

The ``.bin`` files are raw little-endian arrays (no header) of ``uint16``
when the vocabulary fits, else ``uint32``; ``load_tokens`` memory-maps them.
Documents keep their corpus order within each split, so the same inputs give
byte-identical outputs.
"""

from __future__ import annotations

import os

# Nothing in mixopt may reach the network at run time; set before the imports.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import contextlib  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
from collections.abc import Iterator, Mapping  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from mixopt.core.atomic import atomic_open, write_json  # noqa: E402
from mixopt.data.documents import domain_documents  # noqa: E402
from mixopt.core.errors import DataError  # noqa: E402
from mixopt.data.split import assign_splits  # noqa: E402

__all__ = ["SPLITS", "META_FILE", "CACHE_DIR", "tokenize_domain", "load_tokens", "load_meta", "train_tokens"]

SPLITS: tuple[str, ...] = ("train", "val")
META_FILE = "meta.json"
#: Scratch space for HF ``datasets`` inside the output directory; removed after.
CACHE_DIR = ".cache"

_BATCH_DOCS = 256

# Per-process tokenizer cache, keyed by (pid, path): a worker forked from a
# parent that already holds a tokenizer must load its own. Reusing the
# parent's Rust tokenizer after fork serialises all work in one worker.
_TOKENIZERS: dict[tuple[int, str], object] = {}


def _tokenizer_for(tokenizer_dir: str):
    from mixopt.data.tokenizer import load_tokenizer  # transformers: seconds, only tokenizing needs it

    key = (os.getpid(), tokenizer_dir)
    if key not in _TOKENIZERS:
        _TOKENIZERS[key] = load_tokenizer(Path(tokenizer_dir))
    return _TOKENIZERS[key]


def _rows(
    domain: str, paths_json: str, fraction: float, seed: int, text_field: str, max_bytes: int | None = None
) -> Iterator[dict]:
    """Generator behind ``Dataset.from_generator``: one row per document.

    ``paths_json`` is a JSON list: ``datasets`` would shard a plain list
    argument and call the generator once per file, breaking the split rule.
    """
    docs = domain_documents([Path(p) for p in json.loads(paths_json)], text_field, max_bytes, seed, domain)
    for doc, is_val in assign_splits(domain, docs, fraction, seed):
        yield {"text": doc.text, "val": is_val, "replaced": doc.replaced}


def _tokenize_batch(batch: dict, tokenizer_dir: str) -> dict:
    """``Dataset.map`` function: text -> token ids with EOS appended."""
    tokenizer = _tokenizer_for(tokenizer_dir)
    eos = tokenizer.eos_token_id
    # split_special_tokens: a literal "<|endoftext|>" in a document is text,
    # not a document boundary.
    encoded = tokenizer(
        batch["text"], add_special_tokens=False, split_special_tokens=True
    )["input_ids"]
    return {
        "ids": [ids + [eos] for ids in encoded],
        "n_bytes": [len(t.encode("utf-8")) for t in batch["text"]],
    }


def _dtype_for(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= np.iinfo(np.uint16).max else np.dtype(np.uint32)


def _from_generator(datasets, generator, **kwargs):
    """``Dataset.from_generator``, re-raising our DataError instead of its wrapper."""
    try:
        return datasets.Dataset.from_generator(generator, **kwargs)
    except datasets.exceptions.DatasetGenerationError as exc:
        cause = exc.__cause__
        if isinstance(cause, DataError):
            raise cause from None
        raise


@contextlib.contextmanager
def _quiet_datasets() -> Iterator[None]:
    """Silence ``datasets`` progress bars for the duration, then restore them."""
    import datasets  # seconds to import: only shard writing needs it

    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def tokenize_domain(
    domain: str,
    paths: list[Path],
    tokenizer_dir: Path,
    out_dir: Path,
    validation_fraction: float,
    seed: int,
    num_proc: int = 1,
    text_field: str = "text",
    max_bytes: int | None = None,
) -> dict:
    """Split and tokenize one domain into ``train.bin``/``val.bin``/``meta.json``.

    Args:
        domain: Domain name (keys the split hash).
        paths: Corpus files, as from :func:`~mixopt.data.documents.resolve_paths`.
        tokenizer_dir: Directory written by :func:`~mixopt.data.tokenizer.train_tokenizer`.
        out_dir: Output directory (created; files in it replaced atomically).
        validation_fraction: Share of documents held out, in ``(0, 1)``; the
            split rule is :func:`~mixopt.data.split.assign_splits`.
        seed: Split seed.
        num_proc: Worker processes for tokenization.
        text_field: JSON key / parquet column holding text.
        max_bytes: keep a seeded random sample of the documents up to this many bytes
            (:func:`~mixopt.data.documents.domain_documents`); ``None``: all of them.

    Returns:
        The content of ``meta.json``: ``{domain, dtype, vocab_size,
        eos_token_id, documents: {train, val}, bytes: {train, val},
        tokens: {train, val}, replaced_characters, files}``. ``bytes`` are
        UTF-8 bytes of document text; ``tokens`` include one EOS per document.

    Raises:
        DataError: unreadable corpus or tokenizer, or fewer than 2 documents.
    """
    import datasets  # seconds to import: only shard writing needs it
    import pyarrow.compute as pc

    from mixopt.data.tokenizer import load_tokenizer  # transformers: seconds, only tokenizing needs it

    out_dir = Path(out_dir)
    tokenizer_dir = Path(tokenizer_dir).absolute()
    tokenizer = load_tokenizer(tokenizer_dir)  # fail early, in the parent
    vocab_size = len(tokenizer)
    eos_id = int(tokenizer.eos_token_id)
    dtype = _dtype_for(vocab_size)
    del tokenizer  # workers load their own; see _TOKENIZERS
    files = [str(p) for p in paths]
    if not files:
        raise DataError(f"domain {domain!r}: no corpus files given")

    out_dir.mkdir(parents=True, exist_ok=True)
    # An old meta.json must not vouch for .bin files this run may leave half-replaced.
    (out_dir / META_FILE).unlink(missing_ok=True)
    cache = out_dir / CACHE_DIR
    # A stale cache would be reused by fingerprint even if the corpus changed.
    shutil.rmtree(cache, ignore_errors=True)
    try:
        with _quiet_datasets():
            features = datasets.Features(
                {
                    "text": datasets.Value("string"),
                    "val": datasets.Value("bool"),
                    "replaced": datasets.Value("int64"),
                }
            )
            rows = _from_generator(
                datasets,
                _rows,
                features=features,
                gen_kwargs={
                    "domain": domain,
                    "paths_json": json.dumps(files),
                    "fraction": validation_fraction,
                    "seed": seed,
                    "text_field": text_field,
                    "max_bytes": max_bytes,
                },
                cache_dir=str(cache),
            )
            tokens = rows.map(
                _tokenize_batch,
                batched=True,
                batch_size=_BATCH_DOCS,
                num_proc=num_proc if num_proc > 1 else None,
                fn_kwargs={"tokenizer_dir": str(tokenizer_dir)},
                remove_columns=["text"],
                desc=f"tokenize {domain}",
            )
            counts = {s: {"documents": 0, "bytes": 0, "tokens": 0} for s in SPLITS}
            replaced = 0
            with (
                atomic_open(out_dir / "train.bin", "wb") as train_f,
                atomic_open(out_dir / "val.bin", "wb") as val_f,
            ):
                sinks = {"train": train_f, "val": val_f}
                for table in tokens.with_format("arrow").iter(batch_size=4096):
                    is_val = table.column("val")
                    replaced += int(pc.sum(table.column("replaced")).as_py() or 0)
                    for split, mask in (("train", pc.invert(is_val)), ("val", is_val)):
                        part = table.filter(mask)
                        if part.num_rows == 0:
                            continue
                        flat = pc.list_flatten(part.column("ids")).to_numpy()
                        if flat.size and int(flat.max()) >= vocab_size:
                            raise DataError(
                                f"{tokenizer_dir}: token id {int(flat.max())} outside "
                                f"vocabulary of {vocab_size}"
                            )
                        # astype to the explicit little-endian type: files are portable.
                        sinks[split].write(flat.astype(dtype.newbyteorder("<")).tobytes())
                        c = counts[split]
                        c["documents"] += part.num_rows
                        c["bytes"] += int(pc.sum(part.column("n_bytes")).as_py())
                        c["tokens"] += int(flat.size)
            del rows, tokens  # release memory maps on the cache before removing it
    finally:
        shutil.rmtree(cache, ignore_errors=True)

    meta = {
        "domain": domain,
        "dtype": dtype.name,
        "vocab_size": vocab_size,
        "eos_token_id": eos_id,
        "documents": {s: counts[s]["documents"] for s in SPLITS},
        "bytes": {s: counts[s]["bytes"] for s in SPLITS},
        "tokens": {s: counts[s]["tokens"] for s in SPLITS},
        "replaced_characters": replaced,
        "files": files,
        "tokenizer": str(tokenizer_dir),
        "validation_fraction": validation_fraction,
        "seed": seed,
        "text_field": text_field,
        "max_bytes": max_bytes,
    }
    # meta.json last: its presence means the .bin files beside it are complete.
    write_json(meta, out_dir / META_FILE)
    return meta


def load_meta(shard_dir: Path) -> dict:
    """Read ``meta.json`` of a shard directory.

    Raises:
        DataError: the file is missing or not valid JSON.
    """
    path = Path(shard_dir) / META_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{shard_dir}: no {META_FILE}; run tokenize_domain first") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: invalid JSON ({exc.msg})") from None


def load_tokens(shard_dir: Path, split: str) -> np.memmap:
    """Memory-map the tokens of one split.

    Args:
        shard_dir: Directory written by :func:`tokenize_domain`.
        split: ``"train"`` or ``"val"``.

    Returns:
        Read-only 1-D array of token ids (dtype from ``meta.json``), documents
        concatenated, each ending in ``meta["eos_token_id"]``.

    Raises:
        DataError: unknown split, or ``meta.json``/the ``.bin`` file is missing
            or its size disagrees with ``meta.json``.
    """
    if split not in SPLITS:
        raise DataError(f"split must be one of {SPLITS}, got {split!r}")
    shard_dir = Path(shard_dir)
    meta = load_meta(shard_dir)
    try:
        dtype = np.dtype(meta["dtype"]).newbyteorder("<")
        expected = int(meta["tokens"][split])
    except (KeyError, TypeError) as exc:
        raise DataError(f"{shard_dir / META_FILE}: missing or bad key {exc}") from None
    path = shard_dir / f"{split}.bin"
    if not path.is_file():
        raise DataError(f"{shard_dir}: no {split}.bin")
    size = path.stat().st_size
    if size != expected * dtype.itemsize:
        raise DataError(
            f"{path}: {size} bytes, but {META_FILE} says {expected} {dtype.name} tokens"
        )
    if expected == 0:
        return np.zeros(0, dtype=dtype)  # type: ignore[return-value]  # mmap refuses empty files
    return np.memmap(path, dtype=dtype, mode="r")


def train_tokens(metas: Mapping[str, str | Path]) -> dict[str, float]:
    """Domain -> training tokens, from each domain's ``meta.json`` (domain -> its path)."""
    return {name: float(json.loads(Path(path).read_text())["tokens"]["train"]) for name, path in metas.items()}
