"""Issue 33: DoReMi and online mixing through the workflow on the train back end: the trials that
change their mixture while they train, their proposals, and the errors before any job."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from mixopt.config import ConfigError, check_config, with_defaults
from mixopt.core.observations import build_table
from mixopt.core.problem import Fidelity, Problem
from mixopt.strategies import make_strategy
from mixopt.workflow.proposals import read_proposal, write_proposals

from conftest import REPO

PROBLEM = Problem(("a", "b", "c"), np.full(3, 1 / 3), Fidelity("s", 10))


def test_a_trial_that_trains_in_a_special_way_keeps_it_in_proposals_csv(tmp_path):
    batch = make_strategy("doremi", PROBLEM, 0).propose(build_table([], PROBLEM), 4, 0)
    table = write_proposals(batch, PROBLEM, 0, 0, tmp_path / "p.csv", tmp_path / "d.json")
    assert list(table.columns)[-1] == "run" and len(table) == 1
    row = read_proposal(tmp_path / "p.csv", 0, PROBLEM)
    assert row["run"] == {"save_model": True} and np.allclose(list(row["mixture"].values()), 1 / 3)
    edited = pd.read_csv(tmp_path / "p.csv")
    edited.loc[0, "run"] = "{not json"
    edited.to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(ValueError, match="trial 0: column run is not JSON"):
        read_proposal(tmp_path / "p.csv", 0, PROBLEM)


@pytest.mark.parametrize("strategy, message", [
    ({"name": "doremi"}, "config key 'strategy.name': 'doremi' changes the mixture while a model trains, which only "
                         "the train back end can do"),
    ({"name": "online"}, "'online' changes the mixture while a model trains"),
    ({"name": "doremi", "options": {"smoothing": 1.0}},
     r"config key 'strategy.options': doremi: option 'smoothing' must be a number in \[0, 1\), got 1.0"),
    ({"name": "online", "options": {"reward_smoothing": -0.1}}, "option 'reward_smoothing' must be a number in"),
])
def test_bad_adaptive_settings_are_one_error_naming_the_key(strategy, message):
    config = yaml.safe_load((REPO / "configs" / "regmix.yaml").read_text())
    config.pop("bench")
    with pytest.raises(ConfigError, match=message):
        check_config(with_defaults(config | {"strategy": strategy}))


@pytest.mark.slow
def test_doremi_trains_a_reference_then_a_proxy_then_its_answer_at_the_target(tmp_path, tiny_config):
    from test_workflow import snakemake, write_config

    config = tiny_config
    config["scales"]["pico"] = {"layers": 1, "width": 16, "heads": 2, "context": 32, "batch": 4, "lr": 0.01}
    config["strategy"] = {"name": "doremi", "options": {"scale": "pico", "step_size": 2.0}}
    config["budget"] = {"iterations": 3, "initial_design": 3, "trials_per_iteration": 2}
    write_config(tmp_path, config)
    snakemake(tmp_path, "results/best_mixture.yaml", "results/summary/domain_weights.png")  # no other figure

    results = tmp_path / "results"
    reference = json.loads((results / "iter_0/trial_0/metrics.json").read_text())
    proxy = json.loads((results / "iter_1/trial_0/metrics.json").read_text())
    assert reference["status"] == proxy["status"] == "ok" and reference["scale"] == proxy["scale"] == "pico"
    assert (results / "iter_0/trial_0/model.pt").is_file() and "domain_weights" not in reference
    used = np.array(proxy["domain_weights"]["steps"])
    assert proxy["domain_weights"]["method"] == "doremi" and used.shape == (proxy["steps"], 3)
    assert np.allclose(used[0], 1 / 3) and np.ptp(used[-1]) > 1e-4  # Group DRO moved the weights
    average = dict(zip(proxy["domain_weights"]["domains"], used.mean(0)))
    assert proxy["mixture"] == pytest.approx(average)

    answers = pd.read_csv(results / "iter_2/proposals.csv")
    assert len(answers) == 2 and set(answers["scale"]) == {"nano"}  # the average weights at the target
    assert np.allclose(answers[["w_code", "w_docs", "w_prose"]].to_numpy(),
                       [[average["code"], average["docs"], average["prose"]]] * 2, atol=1e-8)
    best = yaml.safe_load((results / "best_mixture.yaml").read_text())
    assert best["mixture"] == pytest.approx(average, abs=1e-8) and best["target"]["trials_at_target"] == 2
    assert (results / "summary" / "domain_weights.png").stat().st_size > 5_000


@pytest.mark.slow
def test_online_mixing_is_one_run_at_the_target_whose_realised_mixture_is_the_answer(tmp_path, tiny_config):
    from test_workflow import snakemake, write_config

    config = tiny_config
    config["strategy"] = {"name": "online"}
    config["budget"] = {"iterations": 1, "initial_design": 3}
    write_config(tmp_path, config)
    snakemake(tmp_path, "results/best_mixture.yaml")  # the run and its answer, no figure

    results = tmp_path / "results"
    assert len(pd.read_csv(results / "iter_0/proposals.csv")) == 1
    run = json.loads((results / "iter_0/trial_0/metrics.json").read_text())
    assert run["status"] == "ok" and run["scale"] == "nano" and run["domain_weights"]["method"] == "online"
    used = np.array(run["domain_weights"]["steps"])
    assert np.allclose(used.mean(0), [run["mixture"][d] for d in run["domain_weights"]["domains"]])
    best = yaml.safe_load((results / "best_mixture.yaml").read_text())
    assert best["mixture"] == pytest.approx(run["mixture"], abs=1e-8)


def test_the_phases_of_doremi_and_the_answer_of_online_mixing_from_their_records():
    from test_constraints import STEPS, law_problem, law_record

    problem = law_problem(full_steps={"S": STEPS, "T": STEPS})
    doremi = make_strategy("doremi", problem, 0, {"scale": "S", "smoothing": 0.01})
    first = doremi.propose(build_table([], problem), 4, 0).proposals
    assert len(first) == 1 and first[0].run == {"save_model": True} and first[0].fidelity.scale == "S"
    records = [law_record(first[0].mixture, "S", STEPS, 0, 0)]
    second = doremi.propose(build_table(records, problem), 4, 1).proposals
    rule = second[0].run["weighting"]
    assert rule == {"method": "doremi", "step_size": 1.0, "smoothing": 0.01, "reference": {"iteration": 0, "trial": 0}}
    average = np.array([0.4, 0.3, 0.2, 0.1])  # what the proxy run's metrics.json records as its mixture
    records.append(law_record(average, "S", STEPS, 1, 0))
    third = doremi.propose(build_table(records, problem), 3, 2).proposals
    assert len(third) == 3 and all(p.fidelity == problem.target and p.run is None for p in third)
    assert np.allclose([p.mixture for p in third], average)
    before = doremi.recommend(build_table(records, problem))
    assert before.fidelity.scale == "S" and "not trained at the target" in before.details["note"]
    records += [law_record(p.mixture, "T", STEPS, 2, j) for j, p in enumerate(third)]
    after = doremi.recommend(build_table(records, problem))
    assert after.fidelity == problem.target and np.allclose(after.mixture, average)

    online = make_strategy("online", problem, 0)
    realised = np.array([0.1, 0.2, 0.3, 0.4])
    records = [law_record(realised, "T", STEPS, 0, 0)]
    rec = online.recommend(build_table(records, problem))
    assert np.allclose(rec.mixture, realised) and "changed as it trained" in rec.details["note"]
    fixed = online.propose(build_table(records, problem), 2, 1).proposals
    assert all(p.run is None and np.allclose(p.mixture, realised) for p in fixed)
    records += [law_record(realised, "T", STEPS, 1, 0)]
    rec = online.recommend(build_table(records, problem))
    assert rec.details.get("iteration") == 1  # the realised mixture as trained as a fixed one
