"""Time of one propose step against the number of observations (issue target: <= 20 s at 500 on
2 CPU cores). Synthetic learning curves on 5 domains, two proxy scales; prints one line per size.

    .venv/bin/python benchmarks/propose_speed.py [--sizes 100 250 500] [--strategies gp mfms] [--q 4]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from mixopt.core.observations import build_table
from mixopt.core.problem import Fidelity, Problem
from mixopt.strategies import make_strategy

DOMAINS = ("academic", "prose", "dialogue", "symbolic", "internet")
STEP_FLOPS = {"70M": 6 * 70e6 * 1e6, "160M": 6 * 160e6 * 1e6, "410M": 6 * 410e6 * 1e6}
PROBLEM = Problem(domains=DOMAINS, objective_weights=np.full(5, 0.2), target=Fidelity("410M", 30000),
                  full_steps={"70M": 30000, "160M": 30000, "410M": 30000}, step_flops=STEP_FLOPS)


def synthetic_runs(n_observations: int, seed: int = 0) -> list[dict]:
    """Runs of 4 checkpoints at the proxy and target scales until ``n_observations`` checkpoints."""
    rng = np.random.default_rng(seed)
    records, k = [], 0
    while sum(len(r["checkpoints"]) for r in records) < n_observations:
        w = rng.dirichlet(np.ones(5))
        scale = ["70M", "160M", "410M"][k % 3]
        size = {"70M": 0.0, "160M": -0.15, "410M": -0.3}[scale]
        points = []
        for step in (7500, 15000, 22500, 30000):
            base = 3.0 + size + 2.0 * (step / 1000) ** -0.3
            losses = base + 0.5 * (w - 0.2) ** 2 * np.arange(1, 6) + rng.normal(0, 0.01, 5)
            points.append({"step": step, "tokens": step * 1e6, "flops": STEP_FLOPS[scale] * step,
                           "losses": dict(zip(DOMAINS, losses.tolist()))})
        records.append({"iteration": 0, "trial": k, "status": "ok", "scale": scale, "steps": 30000,
                        "mixture": dict(zip(DOMAINS, w.tolist())), "checkpoints": points})
        k += 1
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 250, 500])
    parser.add_argument("--strategies", nargs="+", default=["gp", "mfms"])
    parser.add_argument("--q", type=int, default=4)
    args = parser.parse_args()
    print(f"torch threads: {torch.get_num_threads()}")
    for n in args.sizes:
        table = build_table(synthetic_runs(n), PROBLEM)
        for name in args.strategies:
            # gp sees the target-scale final checkpoints only; mfms every checkpoint
            strategy = make_strategy(name, PROBLEM, 0, {})
            used = len(strategy._training_data(table)[0])
            t0 = time.perf_counter()
            strategy.propose(table, args.q, iteration=1)
            print(f"{name:>5}: {n:4d} checkpoints in the table, {used:4d} used by the model, "
                  f"propose q={args.q}: {time.perf_counter() - t0:6.1f} s", flush=True)


if __name__ == "__main__":
    main()
