"""The config fuzzer's long run: many generated and mutated configs and suite files.

Runs the properties of tests/test_fuzz_config.py (strategies and checks in
tests/config_mutations.py) with ``--examples`` examples each, counting failures instead of stopping
at the first, and writes the counts, with the command, date, commit and machine, to
``docs/fuzz_config.md`` (``--out``). A failure is an input that `mixopt check` or the suite
loader answered with anything but acceptance or one ``ConfigError`` line (exit 2, nothing
written); the first few are listed.

    python benchmarks/fuzz_config.py
    python benchmarks/fuzz_config.py --examples 2000 --seed 1
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import yaml  # noqa: E402
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from mixopt.core.machine import commit, cpu_model  # noqa: E402
from config_mutations import check_failure, from_schema, mutated, suite_failure  # noqa: E402
from test_fuzz_config import VALID_SUITES, valid_configs  # noqa: E402

SHOWN = 5  # failures listed in the page, per property


def corpora(folder: Path) -> dict[str, list[str]]:
    """Small corpora for the train config (the test suite's fixture makes richer ones)."""
    import json

    (folder / "code").mkdir()
    for name in ("textwrap.py", "bisect.py", "heapq.py"):
        (folder / "code" / f"{name}.txt").write_text((Path(os.__file__).parent / name).read_text())
    with (folder / "docs.jsonl").open("w") as f:
        for k in range(200):
            f.write(json.dumps({"text": f"document {k}: " + "words " * 200}) + "\n")
    import pandas as pd

    pd.DataFrame({"body": [f"prose {k}: " + "text " * 300 for k in range(100)]}).to_parquet(folder / "prose.parquet")
    return {"code": [str(folder / "code" / "*.txt")], "docs": [str(folder / "docs.jsonl")],
            "prose": [str(folder / "prose.parquet")]}


def run(name: str, strategy, failure_of, examples: int, random_seed: int) -> dict:
    """``examples`` inputs of ``strategy`` through ``failure_of``; the count and the failures."""
    seen, accepted, failures = [0], [0], []

    @seed(random_seed)
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(value=strategy)
    def property_(value):
        seen[0] += 1
        outcome, failure = failure_of(value)
        accepted[0] += outcome == "accepted"
        if failure is not None:
            failures.append((value, failure))

    t0 = time.perf_counter()
    property_()
    print(f"{name}: {seen[0]} examples ({accepted[0]} accepted), {len(failures)} failures, "
          f"{time.perf_counter() - t0:.0f} s", flush=True)
    return {"name": name, "examples": seen[0], "accepted": accepted[0], "failures": failures,
            "seconds": time.perf_counter() - t0}


def page(results: list[dict], command: str, tested: str) -> str:
    lines = [
        "# Config fuzzer: the long run",
        "",
        "Written by `benchmarks/fuzz_config.py`; do not edit by hand. Each example is a config or suite",
        "file generated from the schema or a valid one mutated (a key dropped or unknown, a wrong type, a",
        "number out of range, an unknown domain, a bad path). A failure is an input that `mixopt check`",
        "or the suite loader answered with anything but acceptance or one `ConfigError` line (exit 2,",
        "nothing written). The test suite runs the same properties with a few examples each",
        "(`tests/test_fuzz_config.py`).",
        "",
        f"- command: `{command}`",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- commit: {tested}",
        f"- machine: {cpu_model()}, {os.cpu_count()} cores",
        "",
        "| property | examples | accepted | refused in one line | failures | seconds |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {r['name']} | {r['examples']} | {r['accepted']} | {r['examples'] - r['accepted'] - len(r['failures'])} "
              f"| {len(r['failures'])} | {r['seconds']:.0f} |" for r in results]
    for r in results:
        for value, failure in r["failures"][:SHOWN]:
            lines += ["", f"**{r['name']}**: `{yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()}`",
                      "", "```text", failure.strip().splitlines()[0][:500], "```"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=300, help="examples per property (default 300)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "docs" / "fuzz_config.md"))
    args = parser.parse_args()
    tested = commit(ROOT)  # before the run: the code it exercised
    config_schema = yaml.safe_load((ROOT / "schemas" / "config.schema.yaml").read_text())
    suite_schema = yaml.safe_load((ROOT / "schemas" / "suite.schema.yaml").read_text())
    with tempfile.TemporaryDirectory() as folder:
        configs = valid_configs(corpora(Path(folder)))
        results = [
            run("mutated configs", mutated(configs), lambda c: check_failure(c, ROOT), args.examples, args.seed),
            run("configs from the schema", from_schema(config_schema), lambda c: check_failure(c, ROOT),
                args.examples, args.seed),
            run("suite files (mutated and from the schema)", mutated(VALID_SUITES) | from_schema(suite_schema),
                lambda s: suite_failure(s, ROOT), args.examples, args.seed),
        ]
    command = "python benchmarks/fuzz_config.py" + "".join(
        f" --{k} {v}" for k, v in (("examples", args.examples), ("seed", args.seed)))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(page(results, command, tested))
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
