"""Token shards: one domain's corpus as flat token arrays on disk.

``tokenize_domain`` writes, under ``out_dir``::

    train.bin   all training documents' tokens, each followed by EOS
    val.bin     the same for validation documents
    meta.json   dtype, vocabulary, counts and provenance

The ``.bin`` files are raw little-endian arrays (no header) of ``uint16``
when the vocabulary fits, else ``uint32``; ``load_tokens`` memory-maps them.
Documents keep their corpus order within each split, so the same inputs give
byte-identical outputs, whatever the number of threads.

Tokenization streams: a reader thread parses documents into batches of about
``_BATCH_BYTES`` of text, the Rust tokenizer encodes each batch on its own
thread pool (it releases the GIL), and the ids go straight to the shards. By
hand rather than ``datasets.map``: that path first writes the whole corpus and
then all its token ids to an Arrow cache, and ran at 0.7x the tokenizer's own
speed; here memory stays at a few batches whatever the domain's size.
"""

from __future__ import annotations

import os

# Nothing in mixopt may reach the network at run time; set before the imports.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import json  # noqa: E402
import queue  # noqa: E402
import threading  # noqa: E402
from collections.abc import Iterator, Mapping  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, BinaryIO, NamedTuple  # noqa: E402

import numpy as np  # noqa: E402

from mixopt.core.atomic import atomic_open, write_json  # noqa: E402
from mixopt.core.errors import DataError  # noqa: E402
from mixopt.data.documents import Document, domain_documents  # noqa: E402
from mixopt.data.preflight import check_replaced  # noqa: E402
from mixopt.data.split import assign_splits  # noqa: E402

__all__ = ["SPLITS", "META_FILE", "tokenize_domain", "load_tokens", "load_meta", "train_tokens"]

SPLITS: tuple[str, ...] = ("train", "val")
META_FILE = "meta.json"

#: text per encoded batch: large enough to keep the tokenizer's threads busy, small enough
#: that the few batches in flight bound memory
_BATCH_BYTES = 1 << 20
_BATCH_DOCS = 4096
#: parsed batches waiting for the encoder
_QUEUE_BATCHES = 2


class _Batch(NamedTuple):
    """Consecutive documents of one domain, as the reader thread hands them over."""

    texts: list[str]
    is_val: list[bool]
    n_bytes: list[int]
    replaced: int


def _batches(documents: Iterator[tuple[Document, bool]]) -> Iterator[_Batch]:
    texts: list[str] = []
    is_val: list[bool] = []
    n_bytes: list[int] = []
    replaced = size = 0
    for doc, val in documents:
        texts.append(doc.text)
        is_val.append(val)
        n_bytes.append(len(doc.text.encode("utf-8")))
        replaced += doc.replaced
        size += n_bytes[-1]
        if size >= _BATCH_BYTES or len(texts) >= _BATCH_DOCS:
            yield _Batch(texts, is_val, n_bytes, replaced)
            texts, is_val, n_bytes, replaced, size = [], [], [], 0, 0
    if texts:
        yield _Batch(texts, is_val, n_bytes, replaced)


def _read_ahead(batches: Iterator[_Batch]) -> Iterator[_Batch]:
    """``batches``, produced on a thread so parsing overlaps encoding; its errors re-raised here."""
    handoff: queue.Queue = queue.Queue(maxsize=_QUEUE_BATCHES)
    stop = threading.Event()
    done = object()

    def offer(item: object) -> bool:
        """Put ``item`` unless the consumer has stopped; blocking forever would hang its join."""
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not offer(batch):
                    return
            offer(done)
        except BaseException as exc:  # handed to the consumer, which raises it
            offer(exc)

    reader = threading.Thread(target=produce, name="mixopt-read-documents", daemon=True)
    reader.start()
    try:
        while (item := handoff.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


def _dtype_for(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= np.iinfo(np.uint16).max else np.dtype(np.uint32)


def tokenize_domain(domain: str, paths: list[Path], tokenizer_dir: Path, out_dir: Path, validation_fraction: float,
                    seed: int, threads: int = 1, text_field: str = "text", max_bytes: int | None = None,
                    errors: str = "replace", max_replaced_fraction: float = 1.0) -> dict:
    """Split and tokenize one domain into ``train.bin``/``val.bin``/``meta.json``.

    Args:
        domain: Domain name (keys the split hash).
        paths: Corpus files, as from :func:`~mixopt.data.documents.resolve_paths`.
        tokenizer_dir: Directory written by :func:`~mixopt.data.tokenizer.train_tokenizer`.
        out_dir: Output directory (created; files in it replaced atomically).
        validation_fraction: Share of documents held out, in ``(0, 1)``; the
            split rule is :func:`~mixopt.data.split.assign_splits`.
        seed: Split seed.
        threads: the tokenizer's encoding threads (its Rust thread pool, sized
            through ``RAYON_NUM_THREADS`` before its first use in the process).
        text_field: JSON key / parquet column holding text.
        max_bytes: keep a seeded random sample of the documents up to this many bytes
            (:func:`~mixopt.data.documents.domain_documents`); ``None``: all of them.
        errors: ``strict``: any byte that is not UTF-8 is an error; ``replace``: replaced by
            U+FFFD, counted in ``replaced_characters``, up to ``max_replaced_fraction``.

    Returns:
        The content of ``meta.json``: ``{domain, dtype, vocab_size,
        eos_token_id, documents: {train, val}, bytes: {train, val},
        tokens: {train, val}, replaced_characters, val_unigram_entropy, files, ...}``.
        ``bytes`` are UTF-8 bytes of document text; ``tokens`` include one EOS per document;
        ``val_unigram_entropy`` (nats) is the entropy of val.bin's token frequencies, the loss
        that a proxy learning only how often each token occurs would reach.

    Raises:
        DataError: unreadable corpus or tokenizer, or fewer than 2 documents.
    """
    from mixopt.data.tokenizer import load_encoder  # the Rust tokenizer: only tokenizing needs it

    files = [str(p) for p in paths]
    if not files:
        raise DataError(f"domain {domain!r}: no corpus files given")
    # the rule's threads are the job's allocation. Read when the pool starts, at the first encode in
    # the process; later values are ignored.
    os.environ["RAYON_NUM_THREADS"] = str(max(1, threads))
    out_dir = Path(out_dir)
    tokenizer_dir = Path(tokenizer_dir).absolute()
    encoder, eos_id = load_encoder(tokenizer_dir)
    vocab_size = encoder.get_vocab_size(with_added_tokens=True)
    dtype = _dtype_for(vocab_size).newbyteorder("<")  # explicit little-endian: files are portable
    # a literal "<|endoftext|>" in a document is text, not a document boundary
    encoder.encode_special_tokens = True

    out_dir.mkdir(parents=True, exist_ok=True)
    # An old meta.json must not vouch for .bin files this run may leave half-replaced.
    (out_dir / META_FILE).unlink(missing_ok=True)
    documents = assign_splits(domain, domain_documents([Path(p) for p in files], text_field, max_bytes, seed, domain),
                              validation_fraction, seed)
    with atomic_open(out_dir / "train.bin", "wb") as train_f, atomic_open(out_dir / "val.bin", "wb") as val_f:
        counts, val_counts, replaced, characters = _write_splits(documents, encoder, eos_id, dtype, tokenizer_dir,
                                                                 {"train": train_f, "val": val_f})
        # the whole domain, past the config check's sample of each file; raised inside the `with`,
        # so no .bin file is left
        check_replaced(f"domains.{domain}", f"domain {domain!r} (all of it, past the config check's sample)", replaced,
                       characters, errors, max_replaced_fraction)

    meta = {
        "domain": domain, "dtype": dtype.name, "vocab_size": vocab_size, "eos_token_id": eos_id,
        **{key: {s: counts[s][key] for s in SPLITS} for key in ("documents", "bytes", "tokens")},
        "replaced_characters": replaced, "val_unigram_entropy": _entropy(val_counts), "files": files,
        "tokenizer": str(tokenizer_dir), "validation_fraction": validation_fraction, "seed": seed,
        "text_field": text_field, "max_bytes": max_bytes,
    }
    # meta.json last: its presence means the .bin files beside it are complete.
    write_json(meta, out_dir / META_FILE)
    return meta


def _write_splits(documents: Iterator[tuple[Document, bool]], encoder: Any, eos_id: int, dtype: np.dtype,
                  tokenizer_dir: Path, sinks: dict[str, BinaryIO]) -> tuple[dict, np.ndarray, int, int]:
    """Encode the documents (each followed by EOS) into ``sinks`` by split; returns the documents,
    bytes and tokens of each split, how often each token id occurs in val, and the replaced and
    all characters."""
    vocab_size = encoder.get_vocab_size(with_added_tokens=True)
    counts = {s: {"documents": 0, "bytes": 0, "tokens": 0} for s in SPLITS}
    replaced = characters = 0
    val_counts = np.zeros(vocab_size, dtype=np.int64)  # of each token id in val.bin
    for batch in _read_ahead(_batches(documents)):
        characters += sum(map(len, batch.texts))
        # encode_batch_fast: ids only, no character offsets (which cost a fifth of the time)
        encodings = encoder.encode_batch_fast(batch.texts, add_special_tokens=False)
        replaced += batch.replaced
        for split in SPLITS:
            want = split == "val"
            chosen = [i for i, v in enumerate(batch.is_val) if v is want]
            if not chosen:
                continue
            tokens: list[int] = []
            for i in chosen:
                tokens += encodings[i].ids
                tokens.append(eos_id)
            flat = np.array(tokens, dtype=np.int64)
            if int(flat.max()) >= vocab_size:
                raise DataError(f"{tokenizer_dir}: token id {int(flat.max())} outside vocabulary of {vocab_size}")
            sinks[split].write(flat.astype(dtype).tobytes())
            if want:
                val_counts += np.bincount(flat, minlength=vocab_size)
            c = counts[split]
            c["documents"] += len(chosen)
            c["bytes"] += sum(batch.n_bytes[i] for i in chosen)
            c["tokens"] += int(flat.size)
    return counts, val_counts, replaced, characters


def _entropy(counts: np.ndarray) -> float | None:
    """Entropy in nats of the frequencies ``counts`` ([vocab]); ``None`` when all are zero.

    Of val.bin's token ids, it is the loss of the best unigram model of that split (one fitted to
    it): a proxy whose validation loss is not well below it has learnt next to nothing from context.
    """
    total = int(counts.sum())
    if total == 0:
        return None
    p = counts[counts > 0] / total
    return float(-(p * np.log(p)).sum())


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
