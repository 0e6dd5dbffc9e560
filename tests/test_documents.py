"""Reading user corpora: globbing, the three readers, bad input, bad bytes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydoc_data.topics import topics

from mixopt.data.documents import Document, decode_utf8, iter_documents, resolve_paths
from mixopt.core.errors import DataError

# Real text that ships with Python: the pydoc topic pages.
TOPICS = [topics[k] for k in sorted(topics)]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A corpus folder with one file of each supported type."""
    (tmp_path / "txt" / "deep").mkdir(parents=True)
    (tmp_path / "txt" / "a.txt").write_text(TOPICS[0], encoding="utf-8")
    (tmp_path / "txt" / "deep" / "b.txt").write_text(TOPICS[1], encoding="utf-8")
    write_jsonl(tmp_path / "c.jsonl", [{"text": t, "id": i} for i, t in enumerate(TOPICS[2:6])])
    pq.write_table(pa.table({"content": TOPICS[6:9]}), tmp_path / "d.parquet")
    return tmp_path


# ------------------------------------------------------------ resolve_paths


def test_resolve_paths_globs_sorted_and_deduplicated(corpus: Path) -> None:
    paths = resolve_paths(["txt/**/*.txt", "*.jsonl", "txt/a.txt", "*.parquet"], corpus)
    assert paths == [corpus / "c.jsonl", corpus / "d.parquet", corpus / "txt/a.txt", corpus / "txt/deep/b.txt"]
    assert all(p.is_absolute() for p in paths)


def test_resolve_paths_absolute_pattern(corpus: Path) -> None:
    assert resolve_paths([str(corpus / "*.jsonl")], Path("/nonexistent")) == [corpus / "c.jsonl"]


def test_resolve_paths_no_match_names_pattern(corpus: Path) -> None:
    with pytest.raises(DataError, match=r"pattern 'nothing/\*\.txt' matches no file"):
        resolve_paths(["*.jsonl", "nothing/*.txt"], corpus)


def test_resolve_paths_empty_file_names_file(corpus: Path) -> None:
    (corpus / "empty.txt").touch()
    with pytest.raises(DataError, match=r"empty\.txt: file is empty"):
        resolve_paths(["*.txt", "txt/*.txt"], corpus)


def test_resolve_paths_bad_suffix_names_file(corpus: Path) -> None:
    (corpus / "table.csv").write_text("text\nhello\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"table\.csv: unsupported file type '\.csv'"):
        resolve_paths(["*"], corpus)


# ----------------------------------------------------------------- readers


def test_txt_whole_file_is_one_document(corpus: Path) -> None:
    docs = list(iter_documents([corpus / "txt/a.txt", corpus / "txt/deep/b.txt"]))
    assert docs == [Document(TOPICS[0], 0), Document(TOPICS[1], 0)]


def test_jsonl_one_document_per_line(corpus: Path) -> None:
    assert [d.text for d in iter_documents([corpus / "c.jsonl"])] == TOPICS[2:6]


def test_jsonl_custom_field_and_blank_documents(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(
        json.dumps({"body": TOPICS[0]}) + "\n\n"  # blank line: skipped
        + json.dumps({"body": "  \n\t"}) + "\n"  # whitespace-only: skipped
        + json.dumps({"body": TOPICS[1]}) + "\n",
        encoding="utf-8",
    )
    assert [d.text for d in iter_documents([path], text_field="body")] == TOPICS[:2]


def test_parquet_column(corpus: Path) -> None:
    assert [d.text for d in iter_documents([corpus / "d.parquet"], "content")] == TOPICS[6:9]


def test_parquet_nulls_and_large_strings_are_read(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    column = pa.array([TOPICS[0], None, "", TOPICS[1]], type=pa.large_string())
    pq.write_table(pa.table({"text": column}), path)
    assert [d.text for d in iter_documents([path])] == TOPICS[:2]


def test_mixed_files_in_order(corpus: Path) -> None:
    paths = resolve_paths(["**/*.txt", "*.jsonl"], corpus)
    texts = [d.text for d in iter_documents(paths)]
    assert texts == TOPICS[2:6] + [TOPICS[0], TOPICS[1]]


# ------------------------------------------------------------- bad records


def test_jsonl_missing_field_names_file_and_line(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [{"text": TOPICS[0]}, {"content": TOPICS[1]}])
    with pytest.raises(DataError, match=r"bad\.jsonl, line 2: missing field 'text'"):
        list(iter_documents([path]))


def test_jsonl_non_string_field_names_file_and_line(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [{"text": ["not", "a", "string"]}])
    with pytest.raises(DataError, match=r"bad\.jsonl, line 1: field 'text' is list"):
        list(iter_documents([path]))


def test_jsonl_invalid_json_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "fine"}\n{"text": oops}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.jsonl, line 2, column \d+: invalid JSON"):
        list(iter_documents([path]))


def test_jsonl_non_object_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('"just a string"\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.jsonl, line 1: expected a JSON object"):
        list(iter_documents([path]))


def test_parquet_missing_column_names_file(corpus: Path) -> None:
    with pytest.raises(DataError, match=r"d\.parquet: no column 'text' \(columns: content\)"):
        list(iter_documents([corpus / "d.parquet"]))


def test_parquet_non_string_column(tmp_path: Path) -> None:
    path = tmp_path / "n.parquet"
    pq.write_table(pa.table({"text": [1, 2, 3]}), path)
    with pytest.raises(DataError, match=r"n\.parquet: column 'text' has type int64"):
        list(iter_documents([path]))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"gone\.txt: no such file"):
        list(iter_documents([tmp_path / "gone.txt"]))


# ----------------------------------------------------------- invalid UTF-8

# Three invalid bytes (a lone Latin-1 "é", and 0xFF 0xFE) plus one U+FFFD that
# is genuinely in the data and must not be counted.
DIRTY = "Caf".encode() + b"\xe9 au lait \xff\xfe, " + "\ufffd kept".encode()


def test_decode_counts_only_introduced_replacements() -> None:
    text, replaced = decode_utf8(DIRTY)
    assert replaced == 3
    assert text.count("\ufffd") == 4
    assert decode_utf8("clean \ufffd".encode()) == ("clean \ufffd", 0)


def test_non_utf8_txt_is_replaced_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "dirty.txt"
    path.write_bytes(DIRTY)
    [doc] = iter_documents(resolve_paths(["dirty.txt"], tmp_path))
    assert doc.replaced == 3
    assert doc.text.startswith("Caf\ufffd au lait")


def test_non_utf8_jsonl_is_replaced_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "dirty.jsonl"
    clean = json.dumps({"text": TOPICS[0]}).encode()
    path.write_bytes(clean + b"\n" + b'{"text": "' + DIRTY + b'"}\n')
    docs = list(iter_documents([path]))
    assert [d.replaced for d in docs] == [0, 3]


def test_non_utf8_parquet_is_replaced_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "dirty.parquet"
    pq.write_table(pa.table({"text": pa.array([DIRTY, b"fine"], type=pa.binary())}), path)
    assert [d.replaced for d in iter_documents([path])] == [3, 0]


# ----------------------------------------------------------------- compressed and Hugging Face inputs


def _lines(rows: list[dict]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


@pytest.fixture
def real_formats(tmp_path: Path) -> tuple[Path, list[str]]:
    """The same 6 documents as SlimPajama's .jsonl.zst, Dolma's .json.gz, a .jsonl.gz, an Arrow
    file and a save_to_disk folder (one with a bad byte, to show it is counted everywhere)."""
    import datasets
    import zstandard

    texts = TOPICS[:5] + ["caf\u00e9 au lait"]
    rows = [{"text": t, "id": i} for i, t in enumerate(texts)]
    compressor = zstandard.ZstdCompressor()
    half = len(_lines(rows[:3]))
    (tmp_path / "slim.jsonl.zst").write_bytes(compressor.compress(_lines(rows)[:half])  # two frames
                                              + compressor.compress(_lines(rows)[half:]))
    (tmp_path / "dolma.json.gz").write_bytes(gzip.compress(_lines(rows)))
    (tmp_path / "plain.jsonl.gz").write_bytes(gzip.compress(_lines(rows)))
    datasets.disable_progress_bars()
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "saved"))
    arrow = next((tmp_path / "saved").glob("*.arrow"))
    (tmp_path / "file.arrow").write_bytes(arrow.read_bytes())
    return tmp_path, texts


@pytest.mark.parametrize("name", ["slim.jsonl.zst", "dolma.json.gz", "plain.jsonl.gz", "file.arrow", "saved"])
def test_compressed_and_hugging_face_inputs_give_the_same_documents(real_formats, name) -> None:
    folder, texts = real_formats
    paths = resolve_paths([name], folder)
    assert paths == [folder / name]
    assert [d.text for d in iter_documents(paths)] == texts


def test_a_saved_dataset_matched_by_a_recursive_pattern_is_read_once(real_formats) -> None:
    folder, texts = real_formats
    paths = resolve_paths(["**/*"], folder)
    assert folder / "saved" in paths and not any(p.parent == folder / "saved" for p in paths)


def test_corrupt_archives_and_missing_columns_name_the_file(real_formats) -> None:
    import zstandard

    folder, _ = real_formats
    (folder / "bad.jsonl.gz").write_bytes(b"not gzip")
    (folder / "cut.jsonl.gz").write_bytes(gzip.compress(_lines([{"text": "x" * 5000}]))[:-20])
    (folder / "cut.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(_lines([{"text": "y" * 5000}]))[:-9])
    (folder / "junk.jsonl.zst").write_bytes(b"junk")
    for name, message in [("bad.jsonl.gz", "Not a gzipped file"), ("cut.jsonl.gz", "ended before"),
                          ("cut.jsonl.zst", "ends inside a frame"), ("junk.jsonl.zst", "zstd")]:
        with pytest.raises(DataError, match=rf"{name}(, after line \d+)?: not a readable .*{message}"):
            list(iter_documents([folder / name]))
    with pytest.raises(DataError, match=r"saved: no column 'body' \(columns: text, id\)"):
        list(iter_documents([folder / "saved"], text_field="body"))
    with pytest.raises(DataError, match=r"line 1: missing field 'body'"):
        list(iter_documents([folder / "dolma.json.gz"], text_field="body"))


# ----------------------------------------------------------------- max_bytes: a sample, not a prefix


def test_max_bytes_draws_a_seeded_sample_from_across_all_files(tmp_path: Path) -> None:
    """Three files of 200 documents each, sorted as a corpus often is (by year): a third of the
    bytes must come from all three files, not only the first, and stay within the budget."""
    from mixopt.data.documents import domain_documents

    for year in (1800, 1900, 2000):
        write_jsonl(tmp_path / f"{year}.jsonl", [{"text": f"{year} speech {i} " + "word " * (i % 17 + 5)}
                                                 for i in range(200)])
    paths = resolve_paths(["*.jsonl"], tmp_path)
    everything = list(iter_documents(paths))
    total = sum(len(d.text.encode()) for d in everything)
    budget = total // 3
    sample = list(domain_documents(paths, max_bytes=budget, seed=0, domain="speeches"))
    size = sum(len(d.text.encode()) for d in sample)
    assert budget - 200 < size <= budget  # up to the document that would not fit
    years = [d.text[:4] for d in sample]
    assert set(years) == {"1800", "1900", "2000"}
    assert min(years.count(y) for y in set(years)) > 40  # about 67 each
    positions = [everything.index(d) for d in sample]
    assert positions == sorted(positions)  # kept in corpus order
    assert list(domain_documents(paths, max_bytes=budget, seed=0, domain="speeches")) == sample  # seeded
    assert list(domain_documents(paths, max_bytes=budget, seed=1, domain="speeches")) != sample
    assert list(domain_documents(paths)) == everything  # no budget: every document
