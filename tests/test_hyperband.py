"""Hyperband from SMAC3 behind the Strategy interface: budgets in steps, successive halving keeps
the best, a rerun replays the same batches, and a failed trial counts as a crash."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mixopt.core.observations import build_table
from mixopt.core.problem import Fidelity, Problem
from mixopt.core.space import Pool
from mixopt.strategies import make_strategy

DOMAINS = ("a", "b", "c")
PROBLEM = Problem(DOMAINS, np.array([1.0, 0.0, 0.0]), Fidelity("small", 270),
                  step_flops={"small": 6.0 * 1e6 * 1e4})


def loss(w: np.ndarray, steps: int) -> float:
    """Lower with more of domain a, and with more steps."""
    return float(3.0 - w[0] + 10.0 / steps)


def record(w: np.ndarray, fidelity: Fidelity, iteration: int, trial: int, fail: bool = False) -> dict:
    return {"iteration": iteration, "trial": trial, "status": "failed" if fail else "ok",
            "error": "boom" if fail else None, "scale": fidelity.scale, "steps": fidelity.steps,
            "mixture": dict(zip(DOMAINS, map(float, w))),
            "checkpoints": [] if fail else [{"step": fidelity.steps, "tokens": fidelity.steps * 1e4, "flops": 1.0,
                                             "losses": {"a": loss(w, fidelity.steps), "b": 0.0, "c": 0.0}}]}


def loop(iterations: int, n: int = 4, seed: int = 0, fail=lambda i, j: False) -> tuple[list[dict], list]:
    records, batches = [], []
    for i in range(iterations):
        batch = make_strategy("hyperband", PROBLEM, seed).propose(build_table(records, PROBLEM), n, i)
        batches.append(batch)
        records += [record(p.mixture, p.fidelity, i, j, fail(i, j)) for j, p in enumerate(batch.proposals)]
    return records, batches


def test_budgets_are_steps_from_min_to_the_full_run():
    s = make_strategy("hyperband", PROBLEM, 0)
    assert s.budgets() == (10, 270)  # a full run / eta^3
    assert [f.steps for f in s.fidelities()] == [10, 30, 90, 270]
    records, batches = loop(12)
    steps = {p.fidelity.steps for b in batches for p in b.proposals}
    assert steps <= {10, 30, 90, 270} and {10, 30} <= steps
    for b in batches:
        for p in b.proposals:
            assert np.all(p.mixture >= 0) and p.mixture.sum() == pytest.approx(1.0)


def test_successive_halving_promotes_the_best_of_a_rung():
    records, _ = loop(12)
    table = pd.DataFrame([{"w": tuple(np.round(list(r["mixture"].values()), 9)), "steps": r["steps"],
                           "loss": r["checkpoints"][0]["losses"]["a"]} for r in records])
    first = table[table["steps"] == 10]
    promoted = set(table[table["steps"] == 30]["w"]) & set(first["w"])
    assert promoted, "nothing was promoted from the first rung"
    for w in promoted:  # every promoted mixture beat at least the rung's worst
        assert first.loc[first["w"] == w, "loss"].iloc[0] < first["loss"].max()


def test_rerunning_an_iteration_gives_the_identical_batch():
    records, batches = loop(5)
    history = build_table([r for r in records if r["iteration"] < 4], PROBLEM)
    again = make_strategy("hyperband", PROBLEM, 0).propose(history, 4, 4)
    assert [(tuple(p.mixture), p.fidelity) for p in again.proposals] == \
           [(tuple(p.mixture), p.fidelity) for p in batches[4].proposals]


def test_a_failed_trial_is_a_crash_never_promoted_and_the_loop_goes_on():
    records, batches = loop(6, fail=lambda i, j: (i, j) == (0, 0))
    crashed = tuple(np.round(list(records[0]["mixture"].values()), 9))
    later = [tuple(np.round(p.mixture, 9)) for b in batches[1:] for p in b.proposals if p.fidelity.steps > 10]
    assert crashed not in later
    rec = make_strategy("hyperband", PROBLEM, 0).recommend(build_table(records, PROBLEM))
    assert rec.objective == min(r["checkpoints"][0]["losses"]["a"] for r in records
                                if r["status"] == "ok" and r["steps"] == rec.fidelity.steps)


def test_a_history_it_did_not_propose_is_one_clear_error():
    records, _ = loop(2)
    records[1]["mixture"] = {"a": 0.2, "b": 0.3, "c": 0.5}
    with pytest.raises(ValueError, match="iteration 0 trial 1 is not the trial it proposed"):
        make_strategy("hyperband", PROBLEM, 0).propose(build_table(records, PROBLEM), 4, 2)


def test_from_a_pool_it_proposes_only_candidates():
    pool = np.array([[0.6, 0.2, 0.2], [0.2, 0.6, 0.2], [0.2, 0.2, 0.6], [1 / 3, 1 / 3, 1 / 3]])
    s = make_strategy("hyperband", PROBLEM, 0, space=Pool(pool))
    batch = s.propose(build_table([], PROBLEM), 6, 0)
    assert all(np.abs(pool - p.mixture).max(axis=1).min() < 1e-12 for p in batch.proposals)
