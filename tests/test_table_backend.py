"""The table back end: pool mode only ever proposes recorded mixtures, and trials return the
recorded learning curve up to the requested step."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mixopt.config import ConfigError, check_config, with_defaults
from mixopt.core.observations import build_table
from mixopt.core.problem import Fidelity, Problem
from mixopt.backends.table import TableBackend
from mixopt.core.trial import Trial
from mixopt.settings import Settings
from mixopt.strategies import make_strategy, strategy_from_settings
from mixopt.tables.loaders import load_regmix
from mixopt.tables.runtable import RunTable
from test_bench import COST_S, COST_T, LOSS_T, hand_table


def regmix_config(**changes) -> dict:
    config = {"backend": {"name": "table", "table": {"format": "regmix"}}, "target": {"scale": "60M"},
              "objective": {"type": "weighted", "weights": {"pile_cc": 1.0}}, "strategy": {"name": "gp"},
              "budget": {"iterations": 2, "initial_design": 4, "trials_per_iteration": 3}}
    config.update(changes)
    return with_defaults(config)


def in_pool(w: np.ndarray, pool: np.ndarray) -> bool:
    return bool((np.abs(pool - w).max(axis=1) <= 1e-6).any())


@pytest.mark.parametrize("name, options", [
    ("random", {}), ("uniform", {}), pytest.param("gp", {"min_observations": 3, "raw_samples": 64}, marks=pytest.mark.slow),
    ("fixed", {"mixture": {d: (1.0 if d == "pile_cc" else 0.0) for d in load_regmix().mixture_domains}}),
    ("random", {"scale": "1M"}), pytest.param("gp", {"scale": "1M", "min_observations": 3}, marks=pytest.mark.slow),
])
def test_pool_mode_never_proposes_or_recommends_outside_the_table(name, options):
    config = regmix_config(strategy={"name": name, "options": options})
    settings = Settings.from_config(config)
    backend = TableBackend.from_settings(settings)
    problem = backend.problem
    strategy = strategy_from_settings(settings.strategy, problem, settings.seed, space=backend)
    pool_here = backend.candidates([strategy.fidelity])
    pool_target = backend.candidates([problem.target])
    records = []
    for iteration, n in enumerate((4, 3, 3)):
        batch = strategy.propose(build_table(records, problem), n, iteration)
        assert len(batch.proposals) == n
        for j, p in enumerate(batch.proposals):
            assert p.fidelity == strategy.fidelity
            assert in_pool(p.mixture, pool_here) and in_pool(p.mixture, pool_target)
            records.append(backend.run(Trial(p.mixture, p.fidelity, iteration=iteration, index=j)))
        if name in ("random", "gp"):  # distinct, and never a mixture already tried
            keys = [tuple(np.round(p.mixture, 6)) for p in batch.proposals]
            assert len(set(keys)) == n
    assert all(r["status"] == "ok" for r in records)
    rec = strategy.recommend(build_table(records, problem))
    assert in_pool(rec.mixture, pool_target)


def test_trials_return_the_recorded_curve_up_to_the_requested_step():
    table = hand_table()
    problem = Problem(domains=("x", "y"), objective_weights=np.array([1.0]), target=Fidelity("T", 20),
                      eval_domains=("valid",), full_steps={"S": 10, "T": 20})
    backend = TableBackend(table, problem)
    d = np.array([0.7, 0.3])
    full = backend.run(Trial(d, Fidelity("T", 20)))
    assert [c["step"] for c in full["checkpoints"]] == [10, 20]
    assert [c["losses"]["valid"] for c in full["checkpoints"]] == [LOSS_T["d"] + 0.5, LOSS_T["d"]]
    assert full["checkpoints"][-1]["flops"] == pytest.approx(COST_T)
    half = backend.run(Trial(d, Fidelity("T", 10)))
    assert [c["step"] for c in half["checkpoints"]] == [10]
    # a mixture the table never ran: a failed trial naming the scale, not an exception
    missing = backend.run(Trial(np.array([0.3, 0.7]), Fidelity("T", 20)))
    assert missing["status"] == "failed" and "not recorded" in missing["error"] and "'T'" in missing["error"]
    assert missing["checkpoints"] == []


def test_pool_needs_mixtures_recorded_at_both_the_proxy_and_the_target():
    config = regmix_config(target={"scale": "1B"})
    backend = TableBackend.from_settings(Settings.from_config(config))
    with pytest.raises(ValueError, match="no mixture is recorded at all of"):
        make_strategy("random", backend.problem, 0, {"scale": "1M"}, space=backend)


@pytest.mark.parametrize("changes, message", [
    ({"target": {"scale": "7B"}}, "target.*'7B' is not in run table"),
    ({"target": {"scale": "60M", "tokens": 123}}, "no checkpoint at scale '60M' with 123 tokens"),
    ({"domains": {"web": {"builtin": "books"}, "code": {"builtin": "code"}}}, "'domains.web': only 'tokens' is used with the table back end"),
    ({"objective": {"type": "weighted", "weights": {"web": 1.0}}}, r"objective.weights.*unknown domain\(s\) \['web'\]"),
    ({"strategy": {"name": "gp", "options": {"scale": "2M"}}}, r"strategy.options.scale.*'2M' is not a scale"),
    ({"backend": {"name": "table", "table": {"format": "mixinglaws"}}}, "backend.table.*needs a 'path'"),
])
def test_table_config_errors_name_the_key(changes, message):
    config = regmix_config(**changes)
    with pytest.raises(ConfigError, match=message):
        check_config(config)


@pytest.mark.slow
def test_mfms_gets_the_target_pool_with_a_mask_of_what_each_fidelity_recorded():
    # mixture c was never run at the small scale S: mfms may propose it at T only
    table = hand_table()
    table = RunTable.from_long(table.data[~((table.data["scale"] == "S") & (table.data["w_x"] == 0.1))], "hand-made")
    problem = Problem(domains=("x", "y"), objective_weights=np.array([1.0]), target=Fidelity("T", 20),
                      eval_domains=("valid",), full_steps={"S": 10, "T": 20},
                      step_flops={"S": COST_S / 10, "T": COST_T / 20}, recorded_steps={"S": (5, 10), "T": (10, 20)})
    backend = TableBackend(table, problem)
    strategy = make_strategy("mfms", problem, 0, {"scales": ["S"], "step_fractions": [1.0], "min_observations": 2},
                             space=backend)
    assert len(strategy.candidates) == 4  # every mixture recorded at the target
    c = [i for i, w in enumerate(strategy.candidates) if w[0] == pytest.approx(0.1)]
    assert strategy.available[Fidelity("S", 10)][c].tolist() == [False]
    records = []
    for iteration, n in enumerate((2, 2, 2)):
        for j, p in enumerate(strategy.propose(build_table(records, problem), n, iteration).proposals):
            record = backend.run(Trial(p.mixture, p.fidelity, iteration=iteration, index=j))
            assert record["status"] == "ok", record["error"]  # never asks the table for what it lacks
            records.append(record)


def test_a_full_run_is_the_longest_checkpoint_most_runs_reached():
    # one run of four extended to 40 steps at S: the full run at S stays 10 steps
    table = hand_table()
    extra = table.data[(table.data["run_id"] == "S-a") & (table.data["step"] == 10)].assign(step=40, tokens=4000.0)
    table = RunTable.from_long(pd.concat([table.data, extra]), "hand-made")
    assert table.steps("S") == [5, 10, 40] and table.full_steps("S") == 10 and table.full_steps("T") == 20
