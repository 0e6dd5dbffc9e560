"""The ``mixopt`` command: ``mixopt bench CONFIG``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _bench(args: argparse.Namespace) -> int:
    from mixopt.bench.suite import run_bench
    from mixopt.config import ConfigError, load_config

    try:
        config = load_config(args.config, base_dir=args.base_dir or Path.cwd())
    except ConfigError as e:
        print(f"mixopt bench: {e}", file=sys.stderr)
        return 2
    if config.get("backend", {}).get("name") != "table":
        print(f"mixopt bench: {args.config} must use `backend: {{name: table, ...}}`", file=sys.stderr)
        return 2
    bench = config.setdefault("bench", {})
    for key in ("seeds", "epsilon", "jobs", "budget_flops"):
        if getattr(args, key) is not None:
            bench[key] = getattr(args, key)
    if args.strategies:
        known = bench.get("strategies") or {}
        from mixopt.bench.suite import DEFAULT_STRATEGIES

        known = {**DEFAULT_STRATEGIES, **known}
        unknown = [s for s in args.strategies if s not in known]
        if unknown:
            print(f"mixopt bench: unknown strategy label(s) {unknown}; known: {sorted(known)}", file=sys.stderr)
            return 2
        bench["strategies"] = {s: known[s] for s in args.strategies}
    surrogate = args.surrogate
    if config["backend"].get("mode") == "surrogate" and surrogate is None:
        surrogate = _fit_surrogate(config, Path(args.out), args.base_dir or Path.cwd())
    t0 = time.perf_counter()
    run_bench(config, args.out, base_dir=args.base_dir or Path.cwd(), surrogate_path=surrogate)
    print(f"bench: {time.perf_counter() - t0:.1f} s; files in {args.out}")
    return 0


def _fit_surrogate(config: dict, out: Path, base_dir) -> Path:
    from mixopt.tables.backend import table_for_config
    from mixopt.tables.surrogate import Surrogate

    settings = config["backend"].get("surrogate", {})
    surrogate = Surrogate.fit(table_for_config(config, base_dir), seed=settings.get("seed", 0),
                              extrapolate=settings.get("extrapolate", False))
    path = out / "surrogate.pt"
    out.mkdir(parents=True, exist_ok=True)
    surrogate.save(path)
    print(surrogate.summary())
    return path


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
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
