"""mixopt bench: the charging rule and compute-to-best on a tiny hand-made table whose answers
are known, and the summary statistics."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mixopt.bench.run import StrategySpec, run_seed
from mixopt.bench.summary import flops_to_reach, per_seed, summarise
from mixopt.core.problem import Fidelity, Problem
from mixopt.backends.table import TableBackend
from mixopt.tables.runtable import RunTable

# Four mixtures of two domains, recorded at a small scale S (1e3 params, 10 steps of 100 tokens)
# and at the target T (1e5 params, 20 steps of 100 tokens). Loss on the one evaluation domain.
MIXTURES = {"a": (0.5, 0.5), "b": (0.9, 0.1), "c": (0.1, 0.9), "d": (0.7, 0.3)}
LOSS_S = {"a": 3.0, "b": 2.0, "c": 3.5, "d": 2.5}  # b is the best proxy
LOSS_T = {"a": 2.2, "b": 1.5, "c": 2.4, "d": 1.1}  # d is the best at the target: b does not transfer
COST_S = 6 * 1e3 * 10 * 100
COST_T = 6 * 1e5 * 20 * 100


def hand_table() -> RunTable:
    rows = []
    for scale, params, steps, table in (("S", 1e3, 10, LOSS_S), ("T", 1e5, 20, LOSS_T)):
        for name, (w1, w2) in MIXTURES.items():
            for step in (steps // 2, steps):  # a half-way checkpoint, 0.5 worse
                loss = table[name] + (0.5 if step < steps else 0.0)
                rows.append({"run_id": f"{scale}-{name}", "scale": scale, "params": params, "step": step,
                             "tokens": step * 100.0, "domain": "valid", "loss": loss, "w_x": w1, "w_y": w2})
    return RunTable.from_long(pd.DataFrame(rows), name="hand-made")


@pytest.fixture
def setup():
    table = hand_table()
    problem = Problem(domains=("x", "y"), objective_weights=np.array([1.0]), target=Fidelity("T", 20),
                      eval_domains=("valid",), full_steps={"S": 10, "T": 20})
    return problem, TableBackend(table, problem)


def test_a_proxy_recommendation_is_charged_once_at_the_target(setup):
    problem, backend = setup
    # `fixed` at the proxy: trains b at S every iteration, recommends b, which must be run at T
    spec = StrategySpec("fixed_S", "fixed", {"mixture": {"x": 0.9, "y": 0.1}, "scale": "S"})
    curve = run_seed(spec, 0, backend, budget_flops=2 * COST_T, initial_design=2, trials_per_iteration=1)

    first, second = curve.iloc[0], curve.iloc[1]
    # the design's two trials are the same recorded run: a pool replays it, so it is charged once
    assert first["trial_flops"] == pytest.approx(COST_S)
    assert first["charged"] and first["eval_flops"] == pytest.approx(COST_T)
    assert first["cumulative_flops"] == pytest.approx(COST_S + COST_T)
    assert first["recommended_objective"] == pytest.approx(LOSS_T["b"])  # the target loss, not the proxy's
    # the same recommendation again: already evaluated, not charged again
    assert not second["charged"] and second["eval_flops"] == 0
    assert second["cumulative_flops"] == pytest.approx(COST_S + COST_T)  # a repeat trains nothing new
    assert curve["best_objective"].max() == pytest.approx(LOSS_T["b"])
    # iteration 1 only repeated a recorded trial: in pool mode nothing more can be learnt, it stops
    assert len(curve) == 2


def test_a_target_trial_is_not_charged_twice(setup):
    problem, backend = setup
    spec = StrategySpec("fixed_T", "fixed", {"mixture": {"x": 0.7, "y": 0.3}})
    curve = run_seed(spec, 0, backend, budget_flops=3 * COST_T, initial_design=1, trials_per_iteration=1)
    assert not curve["charged"].any()
    assert curve["eval_flops"].sum() == 0
    assert curve["cumulative_flops"].tolist() == pytest.approx([COST_T, COST_T])  # then only repeats, free
    # d is the best at the target: compute to reach it is one target run
    assert flops_to_reach(curve, LOSS_T["d"]) == pytest.approx(COST_T)


def test_compute_to_best_counts_the_evaluation(setup):
    problem, backend = setup
    spec = StrategySpec("fixed_S", "fixed", {"mixture": {"x": 0.7, "y": 0.3}, "scale": "S"})
    curve = run_seed(spec, 0, backend, budget_flops=COST_T, initial_design=1, trials_per_iteration=1)
    # d at the proxy costs COST_S, then its evaluation at the target COST_T
    assert flops_to_reach(curve, LOSS_T["d"]) == pytest.approx(COST_S + COST_T)
    # a strategy stuck on b never reaches d
    stuck = run_seed(StrategySpec("b", "fixed", {"mixture": {"x": 0.9, "y": 0.1}, "scale": "S"}), 0,
                     backend, budget_flops=COST_T, initial_design=1, trials_per_iteration=1)
    assert math.isinf(flops_to_reach(stuck, LOSS_T["d"]))
    assert flops_to_reach(stuck, LOSS_T["d"] + 0.5) == pytest.approx(COST_S + COST_T)  # within epsilon 0.5


def test_a_budget_and_an_iteration_cap_stop_a_seed(setup):
    problem, backend = setup
    spec = StrategySpec("random_S", "random", {"scale": "S"})
    capped = run_seed(spec, 0, backend, budget_flops=100 * COST_T, initial_design=1,
                      trials_per_iteration=1, max_iterations=2)
    assert len(capped) == 2
    spent = run_seed(StrategySpec("random", "random"), 0, backend, budget_flops=1.5 * COST_T,
                     initial_design=1, trials_per_iteration=1)
    assert len(spent) == 2 and spent["cumulative_flops"].iloc[-1] == pytest.approx(2 * COST_T)


def test_pool_random_search_stops_at_the_best_and_never_leaves_the_pool(setup):
    problem, backend = setup
    curve = run_seed(StrategySpec("random", "random"), 3, backend, budget_flops=10 * COST_T,
                     initial_design=1, trials_per_iteration=1, stop_at=LOSS_T["d"])
    # without replacement, 4 candidates: the best is found within 4 target runs, then it stops
    assert curve["best_objective"].iloc[-1] == pytest.approx(LOSS_T["d"])
    assert curve["cumulative_flops"].iloc[-1] <= 4 * COST_T + 1e-6
    assert set(curve["recommended_objective"].dropna()) <= set(LOSS_T.values())


def test_summary_medians_and_speedups():
    curves = []
    # random reaches the goal after 4, 6, 8 units; gp after 1, 2, 3 (units of 1 FLOP)
    for label, hits in (("random", (4, 6, 8)), ("gp", (1, 2, 3))):
        for seed, hit in enumerate(hits):
            x = np.arange(1, 11, dtype=float)
            curves.append(pd.DataFrame({"strategy": label, "seed": seed, "iteration": range(10),
                                        "cumulative_flops": x, "best_objective": np.where(x >= hit, 1.0, 2.0)}))
    curves.append(pd.DataFrame({"strategy": "stuck", "seed": [0, 0], "iteration": [0, 1],
                                "cumulative_flops": [1.0, 2.0], "best_objective": [2.0, 2.0]}))
    seeds = per_seed(pd.concat(curves), best=1.0, epsilon=0.0)
    summary = summarise(seeds).set_index("strategy")
    assert summary.loc["random", "median_flops_to_best"] == 6
    assert summary.loc["gp", "median_flops_to_best"] == 2
    assert summary.loc["gp", "speedup_best_vs_random"] == pytest.approx(3.0)
    assert summary.loc["random", "speedup_best_vs_random"] == pytest.approx(1.0)
    assert summary.loc["stuck", "reached_best"] == 0
    assert math.isinf(summary.loc["stuck", "median_flops_to_best"])
    assert summary.loc["stuck", "speedup_best_vs_random"] == 0.0  # finite / inf: never reached


def test_summary_median_of_an_even_count_is_the_mean_of_the_middle_two():
    flops = {"bimodal": [1.0, 1.0, 9.0, 9.0], "half_stuck": [1.0, 2.0, math.inf, math.inf],
             "one_stuck": [1.0, 2.0, 4.0, math.inf]}
    seeds = pd.DataFrame([{"strategy": k, "seed": i, "flops_to_best": f, "flops_to_epsilon": f,
                           "final_best": 1.0, "flops_spent": 9.0}
                          for k, v in flops.items() for i, f in enumerate(v)])
    summary = summarise(seeds, baseline="bimodal").set_index("strategy")
    assert summary.loc["bimodal", "median_flops_to_best"] == 5.0
    assert math.isinf(summary.loc["half_stuck", "median_flops_to_best"])
    assert summary.loc["one_stuck", "median_flops_to_best"] == 3.0
    assert summary.loc["one_stuck", "q25_flops_to_best"] == pytest.approx(1.75)
