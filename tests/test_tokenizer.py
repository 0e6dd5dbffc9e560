"""Byte-level BPE tokenizer: exact round trip, train split only, equal budgets."""

from __future__ import annotations

import json
import sysconfig
import unicodedata
from html.entities import html5
from pathlib import Path

import pytest
from pydoc_data.topics import topics
from transformers import PreTrainedTokenizerFast

from mixopt.data.documents import iter_documents
from mixopt.core.errors import DataError
from mixopt.data.split import assign_splits
from mixopt.data.tokenizer import (
    EOS_TOKEN,
    TRAINING_STATS_FILE,
    _training_texts,
    load_encoder,
    load_tokenizer,
    train_tokenizer,
)

FRACTION = 0.2
SEED = 7
STDLIB = Path(sysconfig.get_paths()["stdlib"])
CODE_FILES = ["json/decoder.py", "json/encoder.py", "csv.py", "textwrap.py", "fnmatch.py", "shlex.py"]


def write_jsonl(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    return path


def unicode_documents() -> list[str]:
    """Real non-ASCII text from Python's HTML5 entity table, 40 entities a document."""
    lines = [
        f"&{name} {char} " + " / ".join(unicodedata.name(c, f"U+{ord(c):04X}") for c in char)
        for name, char in sorted(html5.items())
    ]
    return ["\n".join(lines[i : i + 40]) for i in range(0, len(lines), 40)]


@pytest.fixture(scope="module")
def domains(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    root = tmp_path_factory.mktemp("corpora")
    code = []
    for rel in CODE_FILES:
        path = root / rel.replace("/", "_").replace(".py", ".txt")
        path.write_bytes((STDLIB / rel).read_bytes())
        code.append(path)
    docs = write_jsonl(root / "docs.jsonl", [topics[k] for k in sorted(topics)])
    uni = write_jsonl(root / "unicode.jsonl", unicode_documents())
    return {"code": sorted(code), "docs": [docs], "unicode": [uni]}


@pytest.fixture(scope="module")
def trained(domains: dict[str, list[Path]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tok") / "tokenizer"
    train_tokenizer(domains, 1024, out, 60_000, FRACTION, SEED)
    return out


def test_saved_and_loadable_with_eos(trained: Path) -> None:
    tok = load_tokenizer(trained)
    assert isinstance(tok, PreTrainedTokenizerFast)
    assert tok.eos_token == EOS_TOKEN
    assert tok.convert_ids_to_tokens(tok.eos_token_id) == EOS_TOKEN
    assert len(tok) == 1024
    # Encoding adds nothing: EOS placement is the shard writer's job.
    assert tok.eos_token_id not in tok("def f(x):\n    return x\n")["input_ids"]
    assert not [p.name for p in trained.parent.iterdir() if p.name.startswith(".tmp")]


def test_round_trip_is_exact_for_every_domain(trained: Path, domains: dict[str, list[Path]]) -> None:
    tok = load_tokenizer(trained)
    for name, paths in domains.items():
        for doc in list(iter_documents(paths))[:10]:
            ids = tok(doc.text, add_special_tokens=False)["input_ids"]
            assert tok.decode(ids) == doc.text, name


@pytest.mark.parametrize(
    "text",
    [
        "  leading spaces, trailing spaces   ",
        "Grüße, naïve café — 日本語のテキスト, Ελληνικά, עברית, 🙂👍🏽 e\u0301",
        "tabs\tand\r\nCRLF\rCR\n\n\nblank lines\u00a0nbsp\u200bzwsp",
        f"a literal {EOS_TOKEN} inside text",
    ],
)
def test_round_trip_unicode_and_whitespace(trained: Path, text: str) -> None:
    tok = load_tokenizer(trained)
    ids = tok(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]
    assert tok.decode(ids) == text
    assert tok.eos_token_id not in ids


def test_equal_byte_budget_per_domain(trained: Path, domains: dict[str, list[Path]]) -> None:
    stats = json.loads((trained / TRAINING_STATS_FILE).read_text())
    assert sorted(stats["domains"]) == ["code", "docs", "unicode"]
    for name, paths in domains.items():
        train_bytes = sum(
            len(doc.text.encode())
            for doc, is_val in assign_splits(name, iter_documents(paths), FRACTION, SEED)
            if not is_val
        )
        assert stats["domains"][name]["bytes"] == min(60_000, train_bytes)
    assert stats["domains"]["docs"]["bytes"] == 60_000  # the big domain was capped


def test_training_text_is_a_sample_from_across_the_domain(tmp_path: Path) -> None:
    """A sorted source: the tokenizer sees documents from its whole range, not its first ones,
    exactly the budget, and the same ones for the same seed."""
    texts = [f"entry {i:04d} " + topics[k][:400] for i, k in enumerate(sorted(topics) * 3)]
    corpus = write_jsonl(tmp_path / "sorted.jsonl", texts)
    train_texts = [t for t, is_val in assign_splits("d", texts, FRACTION, SEED) if not is_val]
    budget = sum(len(t.encode()) for t in train_texts) // 4

    def drawn(seed: int) -> tuple[list[str], dict]:
        stats: dict = {}
        return list(_training_texts("d", [corpus], budget, FRACTION, seed, "text", stats)), stats

    sample, stats = drawn(SEED)
    assert stats["d"]["bytes"] == budget == sum(len(t.encode()) for t in sample)
    whole = [t for t in sample if t in train_texts]
    assert len(whole) >= len(sample) - 1  # at most the document that crosses the budget is cut
    positions = sorted(train_texts.index(t) for t in whole)
    assert positions[-1] > 0.75 * len(train_texts) and positions[0] < 0.25 * len(train_texts)
    assert positions != list(range(len(positions)))  # not a prefix
    assert drawn(SEED)[0] == sample and drawn(SEED + 1)[0] != sample


def test_a_domain_of_one_long_training_document_still_contributes(tmp_path: Path) -> None:
    long_text = " ".join(topics[k] for k in sorted(topics)[:40])
    corpus = write_jsonl(tmp_path / "long.jsonl", [long_text, long_text[::-1]])
    stats: dict = {}
    texts = list(_training_texts("d", [corpus], 10_000, 0.5, SEED, "text", stats))
    assert stats["d"] == {"documents": 1, "bytes": 10_000} and len(texts[0].encode()) == 10_000


def test_trained_on_training_split_only(tmp_path: Path) -> None:
    """A word that appears only in validation documents is not learned."""
    body = [topics[k][:1500] for k in sorted(topics)[:30]]
    splits = [v for _, v in assign_splits("d", body, FRACTION, SEED)]
    assert 0 < sum(splits) < len(splits)
    seen, held_out = "plumbusgrotto", "vexillumjabberwock"
    texts = [
        t + (f" {held_out}" if is_val else f" {seen}") * 50 for t, is_val in zip(body, splits)
    ]
    corpus = write_jsonl(tmp_path / "d.jsonl", texts)
    tok = train_tokenizer({"d": [corpus]}, 1024, tmp_path / "tok", 10**7, FRACTION, SEED)
    assert len(tok.tokenize(" " + seen)) == 1  # frequent in training text: one token
    assert len(tok.tokenize(" " + held_out)) > 3  # only in validation: never merged


def test_deterministic(domains: dict[str, list[Path]], trained: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    train_tokenizer(domains, 1024, again, 60_000, FRACTION, SEED)
    assert (again / "tokenizer.json").read_bytes() == (trained / "tokenizer.json").read_bytes()


def test_out_dir_is_replaced(domains: dict[str, list[Path]], tmp_path: Path) -> None:
    out = tmp_path / "tok"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    train_tokenizer({"docs": domains["docs"]}, 300, out, 20_000, FRACTION, SEED)
    assert not (out / "stale.txt").exists()
    assert len(load_tokenizer(out)) == 300


def test_bad_arguments(domains: dict[str, list[Path]], tmp_path: Path) -> None:
    with pytest.raises(DataError, match="vocab_size must be at least"):
        train_tokenizer(domains, 100, tmp_path / "t", 1000, FRACTION, SEED)
    with pytest.raises(DataError, match="no domains"):
        train_tokenizer({}, 1000, tmp_path / "t", 1000, FRACTION, SEED)
    assert not (tmp_path / "t").exists()


def test_load_rejects_non_tokenizer_dir(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=rf"{tmp_path}: not a tokenizer directory"):
        load_tokenizer(tmp_path)
    with pytest.raises(DataError, match=r"missing: not a tokenizer directory"):
        load_tokenizer(tmp_path / "missing")


def test_load_rejects_tokenizer_without_eos(trained: Path, tmp_path: Path) -> None:
    tok = load_tokenizer(trained)
    no_eos = PreTrainedTokenizerFast(tokenizer_object=tok.backend_tokenizer)
    no_eos.save_pretrained(tmp_path / "no_eos")
    with pytest.raises(DataError, match=r"no_eos: tokenizer has no EOS token"):
        load_tokenizer(tmp_path / "no_eos")


def test_load_encoder_matches_the_transformers_tokenizer(trained: Path, tmp_path: Path) -> None:
    """The tokenize step's encoder (no transformers import) has the same vocabulary and EOS."""
    encoder, eos_id = load_encoder(trained)
    tok = load_tokenizer(trained)
    assert eos_id == tok.eos_token_id and encoder.get_vocab_size(with_added_tokens=True) == len(tok)
    text = topics[sorted(topics)[0]]
    assert encoder.encode(text, add_special_tokens=False).ids == tok(text, add_special_tokens=False)["input_ids"]
    no_eos = PreTrainedTokenizerFast(tokenizer_object=tok.backend_tokenizer)
    no_eos.save_pretrained(tmp_path / "no_eos")
    with pytest.raises(DataError, match=r"no_eos: tokenizer has no EOS token"):
        load_encoder(tmp_path / "no_eos")


def test_load_rejects_corrupt_tokenizer(tmp_path: Path) -> None:
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(DataError, match=rf"{tmp_path}: cannot load tokenizer"):
        load_tokenizer(tmp_path)


def test_per_domain_text_field(domains: dict[str, list[Path]], tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    body = tmp_path / "prose.parquet"
    pq.write_table(pa.table({"body": unicode_documents()}), body)
    paths = {"docs": domains["docs"], "prose": [body]}
    train_tokenizer(paths, 300, tmp_path / "tok", 20_000, FRACTION, SEED, text_field={"prose": "body"})
    stats = json.loads((tmp_path / "tok" / TRAINING_STATS_FILE).read_text())["domains"]
    assert stats["prose"]["text_field"] == "body" and stats["prose"]["bytes"] == 20_000
    assert stats["docs"]["text_field"] == "text"
    with pytest.raises(DataError, match=r"prose\.parquet: no column 'text'"):
        train_tokenizer(paths, 300, tmp_path / "t2", 20_000, FRACTION, SEED)
    with pytest.raises(DataError, match=r"unknown domain\(s\) \['web'\]"):
        train_tokenizer(paths, 300, tmp_path / "t2", 20_000, FRACTION, SEED, text_field={"web": "x"})
