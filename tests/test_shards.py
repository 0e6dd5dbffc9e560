"""Train/validation split and token shards."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from pydoc_data.topics import topics

from mixopt.data.documents import iter_documents
from mixopt.core.errors import DataError
from mixopt.data import shards
from mixopt.data.shards import _dtype_for, load_meta, load_tokens, tokenize_domain
from mixopt.data.split import assign_splits, is_validation
from mixopt.data.tokenizer import EOS_TOKEN, load_tokenizer, train_tokenizer

FRACTION = 0.1
SEED = 3
STDLIB = Path(sysconfig.get_paths()["stdlib"])
TOPICS = [topics[k] for k in sorted(topics)]

# ------------------------------------------------------------------- split


def test_is_validation_deterministic_across_processes() -> None:
    here = [is_validation("docs", i, 0.3, 11) for i in range(200)]
    code = (
        "from mixopt.data.split import is_validation;"
        "print(''.join('1' if is_validation('docs', i, 0.3, 11) else '0' for i in range(200)))"
    )
    for hashseed in ("0", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=hashseed)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert out.stdout.strip() == "".join("1" if v else "0" for v in here)


def test_is_validation_rate_and_keys() -> None:
    n = 20_000
    share = sum(is_validation("books", i, 0.1, 0) for i in range(n)) / n
    assert 0.09 < share < 0.11
    a = [is_validation("books", i, 0.5, 0) for i in range(64)]
    assert a != [is_validation("code", i, 0.5, 0) for i in range(64)]  # domain is in the key
    assert a != [is_validation("books", i, 0.5, 1) for i in range(64)]  # so is the seed


def test_assign_splits_always_has_both_splits() -> None:
    for n in (2, 3, 5, 8):
        for seed in range(200):
            for fraction in (0.01, 0.5, 0.99):
                splits = [v for _, v in assign_splits("d", range(n), fraction, seed)]
                assert any(splits) and not all(splits), (n, seed, fraction)


def test_assign_splits_only_overrides_last_document() -> None:
    n = 500
    splits = [v for _, v in assign_splits("d", range(n), 0.1, 0)]
    assert splits == [is_validation("d", i, 0.1, 0) for i in range(n)]


def test_assign_splits_needs_two_documents() -> None:
    with pytest.raises(DataError, match=r"domain 'tiny' has 1 non-empty document"):
        list(assign_splits("tiny", ["only one"], 0.1, 0))
    with pytest.raises(DataError, match="validation fraction must be in"):
        is_validation("d", 0, 1.0, 0)


# ------------------------------------------------------------------ shards


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("corpus")
    jsonl = root / "topics.jsonl"
    jsonl.write_text("".join(json.dumps({"text": t}) + "\n" for t in TOPICS), encoding="utf-8")
    txt = root / "textwrap.txt"
    txt.write_bytes((STDLIB / "textwrap.py").read_bytes())
    return [jsonl, txt]


@pytest.fixture(scope="module")
def tokenizer_dir(corpus: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tok") / "tokenizer"
    train_tokenizer({"docs": corpus}, 2048, out, 200_000, FRACTION, SEED)
    return out


@pytest.fixture(scope="module")
def shard(corpus: list[Path], tokenizer_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("shards") / "docs"
    tokenize_domain("docs", corpus, tokenizer_dir, out, FRACTION, SEED)
    return out


def split_documents(tokens: np.ndarray, eos: int) -> list[list[int]]:
    ends = np.flatnonzero(tokens == eos)
    starts = np.concatenate([[0], ends[:-1] + 1])
    return [tokens[s:e].tolist() for s, e in zip(starts, ends)]


def test_outputs_and_meta(shard: Path, corpus: list[Path], tokenizer_dir: Path) -> None:
    assert sorted(p.name for p in shard.iterdir()) == ["meta.json", "train.bin", "val.bin"]
    meta = load_meta(shard)
    tok = load_tokenizer(tokenizer_dir)
    assert meta["domain"] == "docs"
    assert meta["dtype"] == "uint16"
    assert meta["vocab_size"] == len(tok) == 2048
    assert meta["eos_token_id"] == tok.eos_token_id
    assert meta["files"] == [str(p) for p in corpus]
    assert meta["replaced_characters"] == 0
    docs = list(iter_documents(corpus))
    assert meta["documents"]["train"] + meta["documents"]["val"] == len(docs) == len(TOPICS) + 1
    assert meta["documents"]["val"] >= 1
    assert meta["bytes"]["train"] + meta["bytes"]["val"] == sum(len(d.text.encode()) for d in docs)
    for split in ("train", "val"):
        tokens = load_tokens(shard, split)
        assert tokens.dtype == np.uint16
        assert (shard / f"{split}.bin").stat().st_size == 2 * meta["tokens"][split] == 2 * len(tokens)
        # One EOS per document, and every document ends with it.
        assert int((tokens == meta["eos_token_id"]).sum()) == meta["documents"][split]
        assert tokens[-1] == meta["eos_token_id"]
    # the loss of the best unigram model of val.bin, computed here from the file itself
    freq = np.unique(load_tokens(shard, "val"), return_counts=True)[1] / meta["tokens"]["val"]
    assert meta["val_unigram_entropy"] == pytest.approx(-(freq * np.log(freq)).sum(), rel=1e-12)
    assert 0 < meta["val_unigram_entropy"] < math.log(meta["vocab_size"])


def test_splits_are_disjoint_and_decode_to_the_documents(
    shard: Path, corpus: list[Path], tokenizer_dir: Path
) -> None:
    tok = load_tokenizer(tokenizer_dir)
    expected = {"train": [], "val": []}
    for doc, is_val in assign_splits("docs", iter_documents(corpus), FRACTION, SEED):
        expected["val" if is_val else "train"].append(doc.text)
    decoded = {
        split: [tok.decode(ids) for ids in split_documents(load_tokens(shard, split), tok.eos_token_id)]
        for split in ("train", "val")
    }
    assert decoded == expected
    assert not set(decoded["train"]) & set(decoded["val"])


def test_deterministic_whatever_the_threads_and_batches(
    shard: Path, corpus: list[Path], tokenizer_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same bytes again, with the tokenizer's pool at 2 threads (a fresh process: the pool is sized
    once per process), and in batches of 3 documents (reader thread and encoder hand over often)."""
    meta = tokenize_domain("docs", corpus, tokenizer_dir, tmp_path / "again", FRACTION, SEED)
    assert meta == load_meta(shard)
    code = ("import sys; from pathlib import Path; from mixopt.data.shards import tokenize_domain; "
            "tokenize_domain('docs', [Path(p) for p in sys.argv[3:]], Path(sys.argv[1]), Path(sys.argv[2]), "
            f"{FRACTION}, {SEED}, threads=2)")
    subprocess.run([sys.executable, "-c", code, str(tokenizer_dir), str(tmp_path / "two_threads"), *map(str, corpus)],
                   check=True)
    monkeypatch.setattr(shards, "_BATCH_DOCS", 3)
    tokenize_domain("docs", corpus, tokenizer_dir, tmp_path / "small_batches", FRACTION, SEED)
    for name in ("again", "two_threads", "small_batches"):
        for f in ("train.bin", "val.bin", "meta.json"):
            assert (tmp_path / name / f).read_bytes() == (shard / f).read_bytes(), (name, f)


def test_error_in_a_later_batch_names_the_line_and_writes_nothing(
    tokenizer_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad line the reader thread meets after batches were written: the error reaches the caller
    with the file and line, and no meta.json is left (an earlier one included) to vouch for the shards."""
    corpus = tmp_path / "late.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in TOPICS[:20]) + "{not json\n", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "meta.json").write_text("{}")  # from an earlier run
    monkeypatch.setattr(shards, "_BATCH_DOCS", 4)
    with pytest.raises(DataError, match=r"late\.jsonl, line 21, column 2: invalid JSON"):
        tokenize_domain("late", [corpus], tokenizer_dir, out, FRACTION, SEED)
    assert sorted(p.name for p in out.iterdir()) == []


def test_literal_eos_text_and_bad_bytes(tokenizer_dir: Path, tmp_path: Path) -> None:
    dirty = tmp_path / "dirty.txt"
    dirty.write_bytes(b"caf\xe9 \xff " + TOPICS[0].encode())
    quoted = tmp_path / "quoted.jsonl"
    quoted.write_text(
        "".join(json.dumps({"text": f"{t} {EOS_TOKEN} more"}) + "\n" for t in TOPICS[1:6]),
        encoding="utf-8",
    )
    meta = tokenize_domain("mixed", [dirty, quoted], tokenizer_dir, tmp_path / "out", 0.3, SEED)
    assert meta["replaced_characters"] == 2
    eos = meta["eos_token_id"]
    total_eos = sum(int((load_tokens(tmp_path / "out", s) == eos).sum()) for s in ("train", "val"))
    assert total_eos == 6 == meta["documents"]["train"] + meta["documents"]["val"]


def test_bad_bytes_break_the_domains_errors_policy(tokenizer_dir: Path, tmp_path: Path) -> None:
    """The tokenize step enforces domains.<d>.errors on the whole domain (the config check reads
    only the start of each file), and leaves no shard behind."""
    dirty = tmp_path / "dirty.txt"
    dirty.write_bytes(TOPICS[0].encode() + b" caf\xe9 \xff")
    clean = tmp_path / "clean.txt"
    clean.write_text(TOPICS[1])
    out = tmp_path / "out"
    with pytest.raises(DataError, match=r"'domains.web.errors': domain 'web' \(all of it.*\) is not UTF-8 text \(2 of [\d,]+ characters"):
        tokenize_domain("web", [dirty, clean], tokenizer_dir, out, 0.5, SEED, errors="strict")
    assert list(out.iterdir()) == []
    with pytest.raises(DataError, match=r"'domains.web.max_replaced_fraction': domain 'web' .* has 0\.\d+% replaced"):
        tokenize_domain("web", [dirty, clean], tokenizer_dir, out, 0.5, SEED, max_replaced_fraction=1e-6)
    assert list(out.iterdir()) == []
    meta = tokenize_domain("web", [dirty, clean], tokenizer_dir, out, 0.5, SEED, max_replaced_fraction=0.01)
    assert meta["replaced_characters"] == 2


def test_too_few_documents(tokenizer_dir: Path, tmp_path: Path) -> None:
    one = tmp_path / "one.txt"
    one.write_text(TOPICS[0], encoding="utf-8")
    with pytest.raises(DataError, match=r"domain 'solo' has 1 non-empty document"):
        tokenize_domain("solo", [one], tokenizer_dir, tmp_path / "out", FRACTION, SEED)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []  # nothing half-written


def test_bad_tokenizer_dir(corpus: list[Path], tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a tokenizer directory"):
        tokenize_domain("docs", corpus, tmp_path, tmp_path / "out", FRACTION, SEED)


def test_load_tokens_errors(shard: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=rf"{tmp_path}: no meta\.json"):
        load_tokens(tmp_path, "train")
    with pytest.raises(DataError, match="split must be one of"):
        load_tokens(shard, "test")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "meta.json").write_bytes((shard / "meta.json").read_bytes())
    with pytest.raises(DataError, match=rf"{broken}: no val\.bin"):
        load_tokens(broken, "val")
    (broken / "val.bin").write_bytes((shard / "val.bin").read_bytes()[:-2])
    with pytest.raises(DataError, match=r"val\.bin: \d+ bytes, but meta\.json says"):
        load_tokens(broken, "val")


def test_dtype_choice() -> None:
    assert _dtype_for(65535) == np.uint16
    assert _dtype_for(65536) == np.uint32


def test_reader_thread_ends_when_the_encoder_stops_early() -> None:
    """The encoder side fails after one batch while the reader has more queued: no hang, no thread left."""
    import threading

    batches = (shards._Batch([f"doc {i}"], [False], [5], 0) for i in range(50))
    reading = shards._read_ahead(batches)
    assert next(reading).texts == ["doc 0"]
    reading.close()  # what an exception in the consumer's loop does
    assert not any(t.name == "mixopt-read-documents" for t in threading.enumerate())
