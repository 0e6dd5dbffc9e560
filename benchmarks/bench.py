"""Strategies on recorded runs: ``mixopt bench`` and its table for the docs, in one command.

Runs ``mixopt bench CONFIG`` in this process (every strategy of the config's ``bench.strategies``
x seed on the table back end; its files go to ``--out``), then writes the table as Markdown, with
the command, date, commit and machine, to ``docs/benchmarks/bench.md`` (``--markdown``): per
strategy, the seeds that reached the best mixture at the target, the compute to reach it in target
runs (median [q25, q75] over seeds; "never" where a quartile's seeds did not reach it within the
budget) and the speed-up of the medians against random search. Every figure of the table is
printed too.

    .venv/bin/python benchmarks/bench.py --seeds 20 --jobs 2       # configs/mixinglaws.yaml (../shared)
    .venv/bin/python benchmarks/bench.py configs/regmix.yaml --strategies random gp
    .venv/bin/python benchmarks/bench.py --smoke                   # seconds: a tiny synthetic table, 2 seeds
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from markdown_table import ROOT, write

# --smoke: a synthetic table (mixopt.tables.synthetic, as the suite's smoke problem) of 12 mixtures
# at three proxy sizes and 8 at the target (1B), two cheap strategies, 2 seeds
SMOKE_TABLE = {"kind": "near_ties", "seed": 0, "proxy_pool": 12, "target_pool": 8}
SMOKE_BENCH = {"seeds": 2, "jobs": 1, "max_iterations": 6,
               "strategies": {"random": {"name": "random"}, "gp_20M": {"name": "gp", "options": {"scale": "20M"}}}}


def smoke_config(folder: Path, bench: dict | None = None) -> Path:
    """Write the smoke table (long CSV) and a table-back-end config over it to ``folder``; the config's path."""
    from mixopt.tables.synthetic import synthetic_table

    table = folder / "smoke_runs.csv"
    synthetic_table(**SMOKE_TABLE).write(table)
    config = {"seed": 0, "backend": {"name": "table", "table": {"format": "long", "path": str(table)}, "mode": "pool"},
              "target": {"scale": "1B"}, "objective": {"type": "mean"}, "strategy": {"name": "random"},
              "budget": {"iterations": 1, "initial_design": 4, "trials_per_iteration": 2}}
    if bench is not None:
        config["bench"] = bench
    path = folder / "smoke.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def missing_table(config: str | Path, tool: str) -> str | None:
    """One line saying that the config's run table is not on this machine (e.g. ../shared), or None.

    Relative paths start at the checkout, as this script's runs do (``--base-dir``)."""
    try:
        raw = yaml.safe_load(Path(config).read_text())
        path = raw["backend"]["table"]["path"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return None  # not this check's business: mixopt's own checks name what is wrong
    full = Path(path) if Path(path).is_absolute() else (ROOT / path).resolve()
    if full.exists():
        return None
    return (f"{tool}: run table not found: {full} (backend.table.path {path!r} of {config}, relative to {ROOT}); "
            "the benchmark folder is not on this machine")


def table_name(name: str) -> str:
    """A run table's name without its file (``mixinglaws 5Mix``); a long-format table's, its file's name."""
    name = name.split(" (")[0]
    return Path(name).name if "/" in name else name


def _cell(x: float, unit: float) -> str:
    return f"{x / unit:.1f}" if math.isfinite(x) else "never"


def _options(options: dict) -> str:
    def value(v: object) -> str:
        return "[" + ", ".join(map(str, v)) + "]" if isinstance(v, (list, tuple)) else str(v)

    return ", ".join(f"{k}: {value(v)}" for k, v in options.items())


def strategy_cell(label: str, spec: dict) -> str:
    """``label`` and, where the label does not say it all, the strategy and its options."""
    said = ([] if spec["name"] == label else [spec["name"]]) + ([_options(spec["options"])] if spec["options"] else [])
    return f"`{label}`" + (f" ({'; '.join(said)})" if said else "")


def bench_section(summary: pd.DataFrame, meta: dict) -> tuple[str, list[str], list[list[object]]]:
    """The table: one row per strategy label, compute to the best in target runs."""
    unit = float(meta["target"]["flops_per_run"])
    target = meta["target"]
    pool = (f"pool of {meta['pool_size']} mixtures at the target" if meta["pool_size"]
            else "any mixture (a fitted simulator)")
    caption = (f"{table_name(meta['table'])}: target {target['scale']} at {target['steps']} steps, {pool}; "
               f"compute to reach the best mixture at the target in target runs ({unit:.3g} FLOPs each), "
               f"median [q25, q75] over {meta['seeds']} seeds; budget {meta['budget_flops'] / unit:.1f} target runs")
    header = ["strategy", "reached", "to best: median [q25, q75]", "vs random"]
    rows = []
    for _, r in summary.iterrows():
        speed = r.get("speedup_best_vs_random", math.nan)
        speed = "-" if pd.isna(speed) else (f"{speed:.2f}x" if math.isfinite(speed) else "random never reached it")
        rows.append([strategy_cell(r["strategy"], meta["strategies"][r["strategy"]]),
                     f"{int(r['reached_best'])}/{int(r['seeds'])}",
                     f"{_cell(r['median_flops_to_best'], unit)} [{_cell(r['q25_flops_to_best'], unit)}, "
                     f"{_cell(r['q75_flops_to_best'], unit)}]",
                     speed])
    return caption, header, rows


def show(sections: list[tuple[str, list[str], list[list[object]]]]) -> None:
    """Print the tables as they will be written."""
    for caption, header, rows in sections:
        print(f"\n{caption}")
        print(" | ".join(header))
        for row in rows:
            print(" | ".join(str(c) for c in row))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", nargs="?", default=str(ROOT / "configs" / "mixinglaws.yaml"),
                        help="a mixopt config with backend.name: table (default configs/mixinglaws.yaml)")
    parser.add_argument("--seeds", type=int, help="seeds per strategy (default: the config's bench.seeds)")
    parser.add_argument("--strategies", nargs="+", help="labels from bench.strategies (default: all)")
    parser.add_argument("--jobs", type=int, help="worker processes (default: the config's bench.jobs)")
    parser.add_argument("--out", help="mixopt bench's output folder (default results/bench; --smoke: a temporary one)")
    parser.add_argument("--markdown", help="where the table goes (default docs/benchmarks/bench.md; "
                                           "--smoke: a temporary file)")
    parser.add_argument("--smoke", action="store_true",
                        help="a tiny synthetic table, 2 cheap strategies, 2 seeds (seconds); writes nothing in docs")
    args = parser.parse_args()
    scratch = tempfile.TemporaryDirectory() if args.smoke else None
    if scratch is not None:
        args.config = str(smoke_config(Path(scratch.name), SMOKE_BENCH))
        args.out = args.out or str(Path(scratch.name) / "out")
        args.markdown = args.markdown or str(Path(scratch.name) / "bench.md")
    out = Path(args.out or ROOT / "results" / "bench")
    markdown = args.markdown or str(ROOT / "docs" / "benchmarks" / "bench.md")
    try:
        missing = missing_table(args.config, "bench.py")
        if missing:
            print(missing, file=sys.stderr)
            return 2
        from mixopt.cli import main as mixopt

        argv = ["bench", args.config, "--out", str(out), "--base-dir", str(ROOT)]
        argv += ["--seeds", str(args.seeds)] if args.seeds is not None else []
        argv += ["--jobs", str(args.jobs)] if args.jobs is not None else []
        argv += ["--strategies", *args.strategies] if args.strategies else []
        t0 = time.perf_counter()
        code = mixopt(argv)  # mixopt bench, in this process; it names a bad config or flag itself
        if code != 0:
            return code
        seconds = time.perf_counter() - t0
        summary = pd.read_csv(out / "summary.csv")
        meta = json.loads((out / "bench.json").read_text())
        sections = [bench_section(summary, meta)]
        show(sections)
        notes = [f"{seconds:.0f} s for this run" + (" (a tiny synthetic table)." if scratch is not None else ".")]
        print(*notes, sep="\n")
        write(markdown, sections, notes)
    finally:
        if scratch is not None:
            scratch.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
