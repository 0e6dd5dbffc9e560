"""Time of one propose step against the number of observed checkpoints (target: <= 20 s at 5,000,
a 500-run swarm of 10 checkpoints each, on 2 CPU cores). Synthetic learning curves on 5 domains at
two proxy scales and the target; prints one line per size and strategy.

    .venv/bin/python benchmarks/propose_speed.py [--sizes 500 5000] [--strategies auto gp mfms] [--q 4]
    .venv/bin/python benchmarks/propose_speed.py --smoke     # seconds: that it runs

``--markdown FILE`` also writes the table, with the command, date, commit and machine, to FILE
(docs/benchmarks/propose_speed.md is the one the docs include).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import markdown_table  # beside this script

from mixopt.core.observations import build_table
from mixopt.core.problem import Fidelity, Problem
from mixopt.strategies import make_strategy
from mixopt.strategies.gp_model import GPModelStrategy

DOMAINS = ("academic", "prose", "dialogue", "symbolic", "internet")
STEP_FLOPS = {"70M": 6 * 70e6 * 1e6, "160M": 6 * 160e6 * 1e6, "410M": 6 * 410e6 * 1e6}
CHECKPOINTS = tuple(range(3000, 30001, 3000))  # 10 per run
PROBLEM = Problem(domains=DOMAINS, objective_weights=np.full(5, 0.2), target=Fidelity("410M", 30000),
                  full_steps={"70M": 30000, "160M": 30000, "410M": 30000}, step_flops=STEP_FLOPS)


def synthetic_runs(n_observations: int, seed: int = 0) -> list[dict]:
    """Runs of 10 checkpoints at the proxy and target scales until ``n_observations`` checkpoints."""
    rng = np.random.default_rng(seed)
    records, k = [], 0
    while sum(len(r["checkpoints"]) for r in records) < n_observations:
        w = rng.dirichlet(np.ones(5))
        scale = ["70M", "160M", "410M"][k % 3]
        size = {"70M": 0.0, "160M": -0.15, "410M": -0.3}[scale]
        points = []
        for step in CHECKPOINTS:
            base = 3.0 + size + 2.0 * (step / 1000) ** -0.3
            losses = base + 0.5 * (w - 0.2) ** 2 * np.arange(1, 6) + rng.normal(0, 0.01, 5)
            points.append({"step": step, "tokens": step * 1e6, "flops": STEP_FLOPS[scale] * step,
                           "losses": dict(zip(DOMAINS, losses.tolist()))})
        records.append({"iteration": 0, "trial": k, "status": "ok", "scale": scale, "steps": 30000,
                        "mixture": dict(zip(DOMAINS, w.tolist())), "checkpoints": points})
        k += 1
    return records


def used_by_model(strategy, table) -> int:
    """How many observations the strategy's GP(s) are fitted on: gp the target's final checkpoints,
    mfms every checkpoint (at most its max_checkpoints), auto the final checkpoints at its proxies and
    at the target."""
    if isinstance(strategy, GPModelStrategy):
        return len(strategy.training_data(table, strategy.outputs(objective_only=True))[0])
    gps = [*getattr(strategy, "proxy_gps", {}).values(), getattr(strategy, "target_gp", None)]
    gps = [g for g in gps if g is not None]
    return sum(len(g.training_data(table, g.outputs(objective_only=True))[0]) for g in gps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 5000])
    parser.add_argument("--strategies", nargs="+", default=["auto", "gp", "mfms"])
    parser.add_argument("--q", type=int, default=4)
    parser.add_argument("--smoke", action="store_true", help="one small size: that every strategy proposes (seconds)")
    parser.add_argument("--markdown", metavar="FILE", help="also write the table as Markdown, with what produced it")
    args = parser.parse_args()
    if args.smoke:
        args.sizes = [40]
    print(f"torch threads: {torch.get_num_threads()}")
    rows = []
    for n in args.sizes:
        table = build_table(synthetic_runs(n), PROBLEM)
        for name in args.strategies:
            strategy = make_strategy(name, PROBLEM, 0, {})
            used = used_by_model(strategy, table)
            t0 = time.perf_counter()
            strategy.propose(table, args.q, iteration=1)
            seconds = time.perf_counter() - t0
            rows.append([name, n, used, args.q, f"{seconds:.1f}"])
            print(f"{name:>5}: {n:4d} checkpoints in the table, {used:4d} used by the model, "
                  f"propose q={args.q}: {seconds:6.1f} s", flush=True)
    if args.markdown:
        markdown_table.write(args.markdown, [("", ["strategy", "checkpoints in the table", "used by the model",
                                                   "q", "seconds per propose"], rows)],
                             notes=[f"torch threads: {torch.get_num_threads()}."])


if __name__ == "__main__":
    main()
