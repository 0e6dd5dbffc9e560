"""Mixing laws on recorded runs: ``mixopt predict`` and its tables for the docs, in one command.

Runs ``mixopt predict CONFIG --fit-up-to SCALE [--size-exponent X]`` in this process once per
``--run`` (each run's files go to its own folder under ``--out``), then writes one table per run as
Markdown, with the command, date, commit and machine, to ``docs/benchmarks/predict.md``
(``--markdown``): per predictor and predicted scale, the objective's mean relative error and
Spearman across the mixtures of that scale. The lowest error of each column is in bold; a
prediction outside what its predictor's data support is marked "(unsupported)", a predictor the
data cannot identify "could not be fitted". Every figure of the tables is printed too.

A run is ``fit-up-to=SCALE`` and optionally ``,size-exponent=X`` (the laws' size exponent, fixed:
needed when the fitted runs span only 2 sizes):

    .venv/bin/python benchmarks/predict.py --run fit-up-to=410M --run fit-up-to=160M,size-exponent=0.34
    .venv/bin/python benchmarks/predict.py configs/regmix.yaml --run fit-up-to=1M --markdown FILE
    .venv/bin/python benchmarks/predict.py --smoke      # seconds: a tiny synthetic table, 2 cheap predictors
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from bench import missing_table, show, smoke_config, table_name
from markdown_table import ROOT, write

#: --smoke: both kinds of run on the smoke table (20M, 60M, 200M, 1B), with two cheap predictors
SMOKE_RUNS = ["fit-up-to=200M", "fit-up-to=60M,size-exponent=0.3"]
SMOKE_PREDICTORS = ["dml", "regmix_linear"]
RUN_KEYS = {"fit-up-to": "--fit-up-to", "size-exponent": "--size-exponent"}


def parse_run(text: str) -> dict[str, str]:
    """``fit-up-to=410M,size-exponent=0.34`` -> {"fit-up-to": "410M", "size-exponent": "0.34"}."""
    run = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in RUN_KEYS or not value:
            raise argparse.ArgumentTypeError(f"{part!r}: a run is KEY=VALUE pairs joined by commas, "
                                             f"KEY one of {list(RUN_KEYS)}")
        run[key] = value
    if "fit-up-to" not in run:
        raise argparse.ArgumentTypeError(f"{text!r}: a run needs fit-up-to=SCALE")
    if "size-exponent" in run:
        try:
            float(run["size-exponent"])
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: size-exponent must be a number") from None
    return run


def run_folder(run: dict[str, str]) -> str:
    """A run's output folder under --out: fit-up-to-160M_size-exponent-0.34."""
    return "_".join(f"{key}-{value}" for key, value in run.items())


def _cell(row: pd.Series, bold: bool) -> str:
    spearman = "-" if math.isnan(row["spearman"]) else f"{row['spearman']:.3f}"
    text = f"{100 * row['mre']:.2f}%, {spearman}"
    text = f"**{text}**" if bold else text
    return text + ("" if row["supported"] else " (unsupported)")


def predict_section(scores: pd.DataFrame, failures: pd.DataFrame, order: list[str], name: str,
                    fit_scales: list[str], size_exponent: str | None) -> tuple[str, list[str], list[list[object]]]:
    """One run's table: a row per predictor, a column per predicted scale (the objective's scores)."""
    objective = scores[scores["domain"] == "objective"]
    scales = list(dict.fromkeys(objective["scale"]))
    runs = {s: int(objective.loc[objective["scale"] == s, "n"].iloc[0]) for s in scales}
    best = {s: objective.loc[objective["scale"] == s, "mre"].min() for s in scales}
    fixed = f" (size exponent fixed at {size_exponent})" if size_exponent is not None else ""
    caption = (f"{name}: fit on {', '.join(fit_scales)}{fixed}; predict {', '.join(scales) or 'nothing'}; "
               "each cell: the objective's mean relative error and Spearman across the mixtures of the predicted scale")
    header = ["predictor", *(f"→ {s} ({runs[s]} runs)" for s in scales)]
    rows = []
    fitted = set(objective["predictor"])
    failed = dict(zip(failures["predictor"], failures["error"])) if len(failures) else {}
    for label in order:
        if label in fitted:
            mine = objective[objective["predictor"] == label].set_index("scale")
            rows.append([f"`{label}`", *(_cell(mine.loc[s], mine.loc[s, "mre"] == best[s]) if s in mine.index else "-"
                                         for s in scales)])
        elif label in failed:
            rows.append([f"`{label}`", *("could not be fitted" for _ in scales)])
    return caption, header, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", nargs="?", default=str(ROOT / "configs" / "mixinglaws.yaml"),
                        help="a mixopt config with backend.name: table (default configs/mixinglaws.yaml)")
    parser.add_argument("--run", dest="runs", action="append", type=parse_run,
                        metavar="fit-up-to=SCALE[,size-exponent=X]",
                        help="one mixopt predict run, a table of its own; repeat for several (required)")
    parser.add_argument("--predictors", nargs="+", help="default: every one (see mixopt.prediction.PREDICTORS)")
    parser.add_argument("--out", help="the runs' output folders go under it (default results/predict; "
                                      "--smoke: a temporary one)")
    parser.add_argument("--markdown", help="where the tables go (default docs/benchmarks/predict.md; "
                                           "--smoke: a temporary file)")
    parser.add_argument("--smoke", action="store_true",
                        help="a tiny synthetic table, 2 runs of 2 cheap predictors (seconds); writes nothing in docs")
    args = parser.parse_args()
    scratch = tempfile.TemporaryDirectory() if args.smoke else None
    if scratch is not None:
        args.config = str(smoke_config(Path(scratch.name)))
        args.runs = args.runs or [parse_run(r) for r in SMOKE_RUNS]
        args.predictors = args.predictors or SMOKE_PREDICTORS
        args.out = args.out or str(Path(scratch.name) / "out")
        args.markdown = args.markdown or str(Path(scratch.name) / "predict.md")
    if not args.runs:
        parser.error("give at least one --run fit-up-to=SCALE[,size-exponent=X]")
    out = Path(args.out or ROOT / "results" / "predict")
    markdown = args.markdown or str(ROOT / "docs" / "benchmarks" / "predict.md")
    try:
        missing = missing_table(args.config, "predict.py")
        if missing:
            print(missing, file=sys.stderr)
            return 2
        from mixopt.backends.table import cached_table
        from mixopt.cli import main as mixopt
        from mixopt.config import load_settings
        from mixopt.prediction import PREDICTORS, split_scales

        sections, notes = [], []
        for run in args.runs:
            folder = out / run_folder(run)
            argv = ["predict", args.config, "--out", str(folder), "--base-dir", str(ROOT)]
            argv += [x for key, value in run.items() for x in (RUN_KEYS[key], value)]
            argv += ["--predictors", *args.predictors] if args.predictors else []
            print(f"\n== mixopt {' '.join(argv)}", flush=True)
            # an earlier run's: mixopt predict writes none when no predictor fits
            (folder / "scores.csv").unlink(missing_ok=True)
            t0 = time.perf_counter()
            code = mixopt(argv)  # mixopt predict, in this process; it names a bad config, scale or predictor
            if code != 0:
                return code
            seconds = time.perf_counter() - t0
            # the run has loaded the table: this is its cached copy
            table = cached_table(load_settings(args.config, base_dir=ROOT).backend.table, str(ROOT.resolve()))
            fit_scales, _ = split_scales(table, run["fit-up-to"])
            scores_file = folder / "scores.csv"
            scores = (pd.read_csv(scores_file, dtype={"scale": str}) if scores_file.exists()
                      else pd.DataFrame(columns=["predictor", "scale", "domain", "n", "mre", "spearman", "supported"]))
            failures = pd.read_csv(folder / "failures.csv").fillna("")
            sections.append(predict_section(scores, failures, args.predictors or list(PREDICTORS),
                                            table_name(table.name), fit_scales,
                                            run.get("size-exponent")))
            notes.append(f"{run_folder(run)}: {seconds:.0f} s.")
            notes += [f"{run_folder(run)}: `{label}` could not be fitted: {error}"
                      for label, error in zip(failures["predictor"], failures["error"])]
        show(sections)
        print(*notes, sep="\n")
        write(markdown, sections, notes)
    finally:
        if scratch is not None:
            scratch.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
