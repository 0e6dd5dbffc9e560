"""The benchmark suite and its table for the docs, in one command.

Runs ``mixopt suite`` on a suite file (resumable: an interrupted run picks up where it stopped with
the same ``--out``) and writes its table as Markdown, with the command, date, commit and machine,
to ``docs/benchmarks/suite.md`` (``--quick``: ``suite_quick.md``; or ``--markdown``). Compute is
in target runs to best + relative epsilon; a seed that never reached counts as the budget cap
(``>=``).

    .venv/bin/python benchmarks/suite.py                  # the full suite (configs/suite.yaml)
    .venv/bin/python benchmarks/suite.py --quick          # its quick subset
    .venv/bin/python benchmarks/suite.py --smoke          # seconds: one tiny problem, 2 seeds
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from markdown_table import ROOT, write
from mixopt.bench.problems import load_suite
from mixopt.bench.suite_runner import geometric_means, run_suite
from mixopt.core.errors import ConfigError

SMOKE = {"seeds": 2, "jobs": 1, "strategies": {"auto": {"name": "auto"}, "random": {"name": "random"}},
         "defaults": {"budget": {"initial_design": 4, "trials_per_iteration": 2}, "max_iterations": 6},
         "problems": {"tiny": {"synthetic": {"kind": "near_ties", "seed": 0, "proxy_pool": 12, "target_pool": 8},
                               "target": {"scale": "1B"}}}}


def _compute(row: pd.Series) -> str:
    mark = ">=" if row["censored_relative"] else ""
    return (f"{mark}{row['median_relative']:.1f} [{row['q25_relative']:.1f}, {row['q75_relative']:.1f}]")


def _speed(row: pd.Series, base: str) -> str:
    x = float(row[f"vs_{base}_relative"])
    return "-" if np.isnan(x) else f"{row[f'bound_{base}_relative']}{x:.2f}x"


def problem_sections(summary: pd.DataFrame, facts: dict) -> list[tuple[str, list[str], list[list[object]]]]:
    """One table per problem: reached share, median [q25, q75] compute, speed-ups, seconds per seed."""
    header = ["strategy", "reached", "target runs to best + rel. eps: median [q25, q75]", "vs random",
              "vs the best baseline", "s / seed"]
    sections = []
    for name, block in summary.groupby("problem", sort=False):
        f = facts[name]
        pool = f"pool of {f['pool']} at the target" if f["pool"] else "any mixture (a simulator)"
        caption = (f"{name}: {f['note'] or f['table'].split(' (')[0]}; target {f['target']}, scales "
                   f"{', '.join(f['scales'])}; {pool}; the best baseline in hindsight: "
                   f"{block['best_baseline_relative'].iloc[0] or '-'}")
        rows = [[r["strategy"], f"{r['reached_relative']:.0%}", _compute(r), _speed(r, "random"), _speed(r, "best"),
                 f"{r['seconds_per_seed']:.1f}"] for _, r in block.iterrows()]
        rows += [[label, "cannot run here", why.split(": ", 1)[-1], "", "", ""] for label, why in f["refused"].items()]
        sections.append((caption, header, rows))
    return sections


def closing_section(summary: pd.DataFrame, facts: dict) -> tuple[str, list[str], list[list[object]]]:
    """Per strategy: geometric means vs random (all problems, multi-scale ones), worst problems."""
    multi = [n for n, f in facts.items() if len(f["scales"]) > 1]
    every, several = geometric_means(summary), geometric_means(summary[summary["problem"].isin(multi)])
    rows = []
    for label, r in every.iterrows():
        m = several.loc[label] if label in several.index else None
        rows.append([label, f"{r['bound']}{r['geomean']:.2f}x ({int(r['problems'])})",
                     "-" if m is None else f"{m['bound']}{m['geomean']:.2f}x ({int(m['problems'])})",
                     f"{r['worst']} ({r['worst_speedup']:.2f}x)",
                     f"{r['worst_vs_best']} ({r['worst_vs_best_ratio']:.2f}x)"])
    header = ["strategy", "geometric mean vs random (problems)", "over the multi-scale problems",
              "worst problem vs random", "worst problem: its compute / the best baseline's"]
    return "Across problems (speed-ups to best + relative epsilon; '<=': rests on seeds that never reached)", header, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite", nargs="?", default=str(ROOT / "configs" / "suite.yaml"))
    parser.add_argument("--quick", action="store_true", help="the suite's quick subset")
    parser.add_argument("--smoke", action="store_true", help="one tiny problem, 2 seeds (seconds); writes nothing in docs")
    parser.add_argument("--seeds", type=int, help="seeds per strategy and problem (default: the suite's)")
    parser.add_argument("--jobs", type=int, help="worker processes (default: the suite's)")
    parser.add_argument("--problems", nargs="+", help="these problems of the suite file only")
    parser.add_argument("--out", default=str(ROOT / "results" / "suite"), help="the suite's output folder")
    parser.add_argument("--markdown", help="where the table goes (default docs/benchmarks/suite.md; "
                                           "--quick: docs/benchmarks/suite_quick.md)")
    args = parser.parse_args()
    scratch = tempfile.TemporaryDirectory() if args.smoke else None
    if scratch is not None:
        args.suite = str(Path(scratch.name) / "smoke.yaml")
        Path(args.suite).write_text(yaml.safe_dump(SMOKE))
        args.out = str(Path(scratch.name) / "out")
        args.markdown = str(Path(scratch.name) / "suite.md")
        args.quick, args.seeds = False, None  # the smoke file is its own small suite
    if args.markdown is None:
        args.markdown = str(ROOT / "docs" / "benchmarks" / ("suite_quick.md" if args.quick else "suite.md"))
    t0 = time.perf_counter()
    try:
        # the flags go through the suite file's own checks (load_suite), as mixopt suite's do
        suite = load_suite(args.suite, quick=args.quick, out_dir=args.out, base_dir=ROOT, seeds=args.seeds,
                           jobs=args.jobs, problems=args.problems)
        summary = run_suite(suite, args.out, base_dir=ROOT)
    except ConfigError as e:
        print(f"suite.py: {e}", file=sys.stderr)
        return 2
    meta = json.loads((Path(args.out) / "suite.json").read_text())
    facts = meta["problems"]
    # the seeds' own time, cached ones included: what the whole table costs to run from scratch
    seed_seconds = float(pd.read_csv(Path(args.out) / "seeds.csv")["seconds"].sum())
    notes = [f"{suite.seeds} seeds per strategy and problem; {time.perf_counter() - t0:.0f} s for this run "
             "(seeds finished by an earlier run of the same output folder are not run again); the seeds "
             f"took {seed_seconds / 60:.0f} min in all, one seed per worker ({suite.jobs} workers: about "
             f"{seed_seconds / 60 / suite.jobs:.0f} min from scratch)."]
    notes += [f"{name}: skipped ({why})" for name, why in meta["skipped"].items()]
    write(args.markdown, [*problem_sections(summary, facts), closing_section(summary, facts)], notes)
    if scratch is not None:
        scratch.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
