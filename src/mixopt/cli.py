"""The ``mixopt`` command: ``mixopt bench CONFIG``, ``mixopt suite SUITE``, ``mixopt predict CONFIG``,
``mixopt check CONFIG``, ``mixopt status [DIR]`` and ``mixopt unlock [DIR]``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


#: ``mixopt bench`` flags -> the ``bench.<key>`` they override (and are checked as)
BENCH_FLAGS = {"seeds": "--seeds", "epsilon": "--epsilon", "jobs": "--jobs", "budget_flops": "--budget-flops"}


def check_surrogate_flag(path: Path, mode: str) -> None:
    """``--surrogate``: a fitted simulator file, only for a config in surrogate mode."""
    from mixopt.config import ConfigError

    if mode != "surrogate":
        raise ConfigError(f"--surrogate {path}: the config's backend.mode is {mode!r}; a fitted simulator is "
                          "only used with backend.mode: surrogate")
    if not path.is_file():
        raise ConfigError(f"--surrogate {path}: file not found")


def _bench(args: argparse.Namespace) -> int:
    # imports inside each command: `mixopt --help` answers without loading torch or pandas
    from mixopt.backends.table import fit_simulator
    from mixopt.bench.suite import run_bench
    from mixopt.config import ConfigError, load_settings
    from mixopt.settings import check_flag

    base_dir = args.base_dir or Path.cwd()
    overrides = {key: getattr(args, key) for key in BENCH_FLAGS if getattr(args, key) is not None}
    try:
        settings = load_settings(args.config, base_dir=base_dir)
        for key, value in overrides.items():
            check_flag(BENCH_FLAGS[key], value, f"bench.{key}")
        if args.surrogate is not None:
            check_surrogate_flag(Path(args.surrogate), settings.backend.mode)
    except ConfigError as e:
        print(f"mixopt bench: {e}", file=sys.stderr)
        return 2
    if settings.backend.name != "table":
        print(f"mixopt bench: {args.config} must use `backend: {{name: table, ...}}`", file=sys.stderr)
        return 2
    bench = settings.bench.replace(**overrides)
    if args.strategies:
        unknown = [s for s in args.strategies if s not in bench.strategies]
        if unknown:
            print(f"mixopt bench: unknown strategy label(s) {unknown}; known: {sorted(bench.strategies)}",
                  file=sys.stderr)
            return 2
        bench = bench.replace(strategies={s: bench.strategies[s] for s in args.strategies})
    settings = settings.replace(bench=bench)
    surrogate = args.surrogate
    if settings.backend.mode == "surrogate" and surrogate is None:
        surrogate = Path(args.out) / "surrogate.pt"
        fit_simulator(settings, surrogate, base_dir=base_dir)
    t0 = time.perf_counter()
    run_bench(settings, args.out, base_dir=base_dir, surrogate_path=surrogate)
    print(f"bench: {time.perf_counter() - t0:.1f} s; files in {args.out}")
    return 0


def _suite(args: argparse.Namespace) -> int:
    # imports inside each command: `mixopt --help` answers without loading torch or pandas
    from mixopt.bench.problems import load_suite
    from mixopt.bench.suite_runner import run_suite
    from mixopt.config import ConfigError

    t0 = time.perf_counter()
    try:
        suite = load_suite(args.suite, quick=args.quick, out_dir=args.out, base_dir=args.base_dir, seeds=args.seeds,
                           jobs=args.jobs, problems=args.problems)
    except ConfigError as e:
        print(f"mixopt suite: {e}", file=sys.stderr)
        return 2
    for name, why in suite.skipped.items():
        print(f"mixopt suite: problem '{name}' skipped: {why}")
    if not suite.problems:
        print("mixopt suite: no problem can run here", file=sys.stderr)
        return 2
    try:
        run_suite(suite, args.out, base_dir=args.base_dir or Path.cwd())
    except ConfigError as e:  # no strategy can run on any problem
        print(f"mixopt suite: {e}", file=sys.stderr)
        return 2
    print(f"suite: {time.perf_counter() - t0:.1f} s; files in {args.out}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    # imports inside each command: `mixopt --help` answers without loading torch or pandas
    from mixopt.backends.table import TableBackend
    from mixopt.config import ConfigError, load_settings
    from mixopt.core.atomic import atomic_open, write_text
    from mixopt.prediction import (PREDICTORS, evaluate, format_scores, make_predictors, plot, runs_from_table,
                                   score, split_scales)
    from mixopt.tables.runtable import RunTableError

    base_dir = args.base_dir or Path.cwd()
    try:
        settings = load_settings(args.config, base_dir=base_dir)
        if settings.backend.name != "table":
            raise ConfigError(f"{args.config} must use `backend: {{name: table, ...}}`")
        backend = TableBackend.from_settings(settings, base_dir)
        table = backend.table
        fit_scales, test_scales = split_scales(table, args.fit_up_to, args.predict)
        predictors = make_predictors(args.predictors or list(PREDICTORS), seed=settings.seed,
                                     size_exponent=args.size_exponent)
        objective_weights = backend.problem.objective_weights
        fit_runs = runs_from_table(table, fit_scales)
        test_runs = runs_from_table(table, test_scales, final_only=True)
    except (ConfigError, RunTableError, ValueError) as e:
        print(f"mixopt predict: {e}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    predictions, failures = evaluate(predictors, fit_runs, test_runs, objective_weights,
                                     log=lambda line: print(line, flush=True))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    scale_of = {table.params(s): s for s in test_scales}
    header = (f"predict: {table.name}: fit on {fit_scales} ({len(fit_runs.params)} checkpoints), "
              f"predict the full runs at {test_scales} ({len(test_runs.params)} runs)")
    lines = [header]
    if not predictions.empty:
        scores = score(predictions, scale_of)
        with atomic_open(out / "predictions.csv") as f:
            predictions.to_csv(f, index=False)
        with atomic_open(out / "scores.csv") as f:
            scores.to_csv(f, index=False)
        plot(predictions, scale_of, out / "predicted_vs_observed.png")
        lines.append(format_scores(scores))
        for caveat in dict.fromkeys(c for c in predictions["caveat"] if c):
            lines.append(f"unsupported: {caveat}")
    for row in failures.itertuples():
        lines.append(f"{row.predictor}: could not be fitted: {row.error}")
    with atomic_open(out / "failures.csv") as f:
        failures.to_csv(f, index=False)
    lines.append(f"predict: {time.perf_counter() - t0:.1f} s; files in {out}")
    write_text(out / "summary.txt", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def _check(args: argparse.Namespace) -> int:
    # the config check the workflow runs before any job, for a file given with --configfile too
    # (Snakemake parses such a file itself first, and its syntax error names no line)
    from mixopt.config import ConfigError, load_settings

    try:
        settings = load_settings(args.config, base_dir=args.base_dir or Path.cwd(), deep=args.deep)
    except ConfigError as e:
        print(f"mixopt check: {e}", file=sys.stderr)
        return 2
    print(f"mixopt check: {args.config}: ok ({len(settings.domains)} domains, back end {settings.backend.name}, "
          f"strategy {settings.strategy.name})")
    return 0


def _status(args: argparse.Namespace) -> int:
    # light imports only: status is run often, also while the loop trains
    from mixopt.workflow.status import format_status, loop_status

    project_dir = Path(args.dir)
    if not project_dir.is_dir():
        print(f"mixopt status: {project_dir} is not a directory", file=sys.stderr)
        return 2
    print(format_status(loop_status(project_dir, Path(args.configfile) if args.configfile else None)))
    return 0


def _unlock(args: argparse.Namespace) -> int:
    from mixopt.workflow.locks import unlock

    if not Path(args.dir).is_dir():
        print(f"mixopt unlock: {args.dir} is not a directory", file=sys.stderr)
        return 2
    code, message = unlock(args.dir)
    print(f"mixopt unlock: {message}", file=sys.stderr if code else sys.stdout)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mixopt", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench", help="score strategies x seeds on recorded runs (the table back end)")
    bench.add_argument("config", help="a mixopt config with backend.name: table")
    bench.add_argument("--out", default="results/bench", help="output folder (default results/bench)")
    bench.add_argument("--seeds", type=int)
    bench.add_argument("--strategies", nargs="+", help="labels from bench.strategies (default: all)")
    bench.add_argument("--budget-flops", dest="budget_flops", type=float)
    bench.add_argument("--epsilon", type=float)
    bench.add_argument("--jobs", type=int)
    bench.add_argument("--surrogate", help="a fitted simulator file (surrogate mode); default: fit one")
    bench.add_argument("--base-dir", dest="base_dir", help="where relative paths in the config start (default: cwd)")
    bench.set_defaults(run=_bench)
    suite = sub.add_parser("suite", help="score strategies on every problem of a benchmark suite")
    suite.add_argument("suite", help="a suite file, e.g. configs/suite.yaml")
    suite.add_argument("--quick", action="store_true", help="the suite's quick subset (fewer seeds and problems)")
    suite.add_argument("--out", default="results/suite", help="output folder (default results/suite)")
    suite.add_argument("--seeds", type=int)
    suite.add_argument("--problems", nargs="+", help="run these problems of the suite file only")
    suite.add_argument("--jobs", type=int, help="worker processes (default: the suite's jobs)")
    suite.add_argument("--base-dir", dest="base_dir", help="where relative paths in the suite start (default: cwd)")
    suite.set_defaults(run=_suite)

    predict = sub.add_parser("predict", help="fit predictors on small scales of a run table, score them on larger ones")
    predict.add_argument("config", help="a mixopt config with backend.name: table")
    predict.add_argument("--fit-up-to", dest="fit_up_to", required=True,
                         help="fit on this scale and every smaller one")
    predict.add_argument("--predict", nargs="+", help="scales to predict (default: every larger one)")
    predict.add_argument("--predictors", nargs="+", help="default: every one (see mixopt.prediction.PREDICTORS)")
    predict.add_argument("--size-exponent", dest="size_exponent", type=float,
                         help="fix the size exponent of the laws (needed when the fitted runs span only 2 sizes)")
    predict.add_argument("--out", default="results/predict", help="output folder (default results/predict)")
    predict.add_argument("--base-dir", dest="base_dir", help="where relative paths in the config start (default: cwd)")
    predict.set_defaults(run=_predict)

    check = sub.add_parser("check", help="the workflow's config check, before any job: keys, files, text, strategies")
    check.add_argument("config", help="a mixopt config, e.g. config.yaml")
    check.add_argument("--base-dir", dest="base_dir",
                       help="where relative paths in the config start (default: cwd, as for snakemake)")
    check.add_argument("--deep", action="store_true",
                       help="read every corpus file to its end (the default check reads the first MiB of each)")
    check.set_defaults(run=_check)

    status = sub.add_parser("status", help="one screen on a running or finished loop: iterations, trials, best so far")
    status.add_argument("dir", nargs="?", default=".", help="the project directory holding results/ (default: .)")
    status.add_argument("--configfile", help="the config the loop ran with (default: DIR/config.yaml)")
    status.set_defaults(run=_status)

    unlock = sub.add_parser("unlock", help="remove the lock a killed snakemake left, unless a snakemake still runs there "
                                         "(the config is not read: it need not check)")
    unlock.add_argument("dir", nargs="?", default=".", help="the project directory (default: .)")
    unlock.set_defaults(run=_unlock)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
