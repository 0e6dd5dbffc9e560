"""Tokenization throughput and peak memory of the tokenize step, against the tokenizer alone.

Generates a JSONL domain of ``--mb`` MB (documents of real English text, the pydoc topics, cut
and shuffled), trains a byte-level BPE on a sample of it, then runs in fresh processes:

* mixopt's tokenize step (:func:`mixopt.data.shards.tokenize_domain`: read, split, tokenize, write
  the shards) with ``--procs`` worker processes;
* the reference: the same tokenizer's own ``encode_batch`` over the same documents, held in memory,
  with ``--procs`` threads (the Rust tokenizer's parallelism; RAYON_NUM_THREADS), and its
  ``encode_batch_fast`` (ids only, no character offsets), which is what the tokenize step calls.

It prints MB/s of each, mixopt's ratio to each (the issue's goal: >= 0.8 of ``encode_batch``) and
each process's peak resident memory (VmHWM; not ru_maxrss, which Linux carries across exec from the forking parent).

    python benchmarks/tokenize_throughput.py --mb 200 --procs 1 2
    python benchmarks/tokenize_throughput.py --mb 2000 --procs 2 --no-reference   # the 2 GB domain
    python benchmarks/tokenize_throughput.py --smoke      # a 1 MB domain, 1 thread: seconds (the tests)

``--markdown FILE`` also writes the table, with the command, date, commit and machine, to FILE
(the docs include docs/benchmarks/tokenize_throughput.md).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import markdown_table  # beside this script

OURS = """
import re, sys, time
from pathlib import Path
from mixopt.data.shards import tokenize_domain
t = time.perf_counter()
tokenize_domain("bench", [Path(sys.argv[1])], Path(sys.argv[2]), Path(sys.argv[3]), 0.01, 0, threads=int(sys.argv[4]))
seconds = time.perf_counter() - t
print(seconds, int(re.search(r"VmHWM:\s+(\d+)", open("/proc/self/status").read()).group(1)) / 1024)
"""

REFERENCE = """
import json, re, sys, time
from tokenizers import Tokenizer
from pathlib import Path
tok = Tokenizer.from_file(str(Path(sys.argv[2]) / "tokenizer.json"))
texts = [json.loads(line)["text"] for line in open(sys.argv[1], encoding="utf-8")]
encode = getattr(tok, sys.argv[3])
t = time.perf_counter()
for i in range(0, len(texts), 1024):
    encode(texts[i:i + 1024], add_special_tokens=False)
seconds = time.perf_counter() - t
print(seconds, int(re.search(r"VmHWM:\s+(\d+)", open("/proc/self/status").read()).group(1)) / 1024)
"""


def write_domain(path: Path, mb: int) -> int:
    """A JSONL file of about ``mb`` MB of shuffled English documents; returns its text bytes."""
    from pydoc_data.topics import topics

    paragraphs = [p for t in topics.values() for p in t.split("\n\n") if p.strip()]
    rng, written = random.Random(0), 0
    with path.open("w", encoding="utf-8") as f:
        while written < mb * 1_000_000:
            text = "\n\n".join(rng.sample(paragraphs, 8))
            f.write(json.dumps({"text": text}) + "\n")
            written += len(text.encode("utf-8"))
    return written


def run(code: str, *args: str, threads: int | None) -> tuple[float, float]:
    """Run ``code`` in a fresh process; ``threads``: the reference's RAYON_NUM_THREADS (None: unset)."""
    env = dict(os.environ, TOKENIZERS_PARALLELISM="true")
    env.pop("RAYON_NUM_THREADS", None)
    if threads is not None:
        env["RAYON_NUM_THREADS"] = str(threads)
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True, env=env)
    seconds, peak_mb = map(float, out.stdout.split()[-2:])
    return seconds, peak_mb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=int, default=200, help="size of the generated domain")
    ap.add_argument("--procs", type=int, nargs="+", default=[1, 2], help="the tokenize step's threads (and the reference's)")
    ap.add_argument("--no-reference", action="store_true", help="time mixopt only (the reference holds the domain in memory)")
    ap.add_argument("--smoke", action="store_true", help="a 1 MB domain, 1 thread: seconds, to check it runs")
    ap.add_argument("--markdown", metavar="FILE", help="also write the table as Markdown, with what produced it")
    args = ap.parse_args()
    if args.smoke:
        args.mb, args.procs = 1, [1]
    from mixopt.data.tokenizer import train_tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        corpus = tmp / "bench.jsonl"
        t = time.perf_counter()
        text_bytes = write_domain(corpus, args.mb)
        print(f"domain: {text_bytes / 1e6:.0f} MB of text in {corpus.stat().st_size / 1e6:.0f} MB of JSONL "
              f"({time.perf_counter() - t:.0f} s to write)")
        train_tokenizer({"bench": [corpus]}, vocab_size=4096, out_dir=tmp / "tok",
                        bytes_per_domain=min(5_000_000, text_bytes // 2), validation_fraction=0.01, seed=0)
        mb = text_bytes / 1e6
        header = ["threads", "mixopt MB/s", "encode_batch MB/s", "ratio", "encode_batch_fast MB/s", "ratio",
                  "mixopt peak MB", "reference peak MB"]
        print(" | ".join(header))
        rows: list[list[object]] = []
        for procs in args.procs:
            ours_s, ours_peak = run(OURS, str(corpus), str(tmp / "tok"), str(tmp / f"shards{procs}"), str(procs),
                                    threads=None)  # the step sizes the pool from its threads argument
            if args.no_reference:
                rows.append([procs, f"{mb / ours_s:.2f}", "-", "-", "-", "-", f"{ours_peak:.0f}", "-"])
            else:
                ref_s, ref_peak = run(REFERENCE, str(corpus), str(tmp / "tok"), "encode_batch", threads=procs)
                fast_s, _ = run(REFERENCE, str(corpus), str(tmp / "tok"), "encode_batch_fast", threads=procs)
                rows.append([procs, f"{mb / ours_s:.2f}", f"{mb / ref_s:.2f}", f"{ref_s / ours_s:.2f}",
                             f"{mb / fast_s:.2f}", f"{fast_s / ours_s:.2f}", f"{ours_peak:.0f}", f"{ref_peak:.0f}"])
            print(" | ".join(str(c) for c in rows[-1]), flush=True)
        if args.markdown:
            markdown_table.write(args.markdown, [
                (f"Tokenizing a generated {mb:.0f} MB JSONL domain: mixopt's tokenize step against the tokenizer "
                 "alone on the same documents held in memory; peak memory is each process's VmHWM",
                 header, rows)])


if __name__ == "__main__":
    main()
