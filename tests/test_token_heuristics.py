"""Issue 33: the token-count heuristics (natural, temperature, UniMax) as strategies and as the
config's ``reference``, and Sobol search continued across iterations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from mixopt.config import ConfigError, check_config, with_defaults
from mixopt.core.constraints import Constraints
from mixopt.core.observations import build_table, mixtures
from mixopt.core.token_heuristics import natural, temperature, unimax
from mixopt.core.trial import Trial
from mixopt.strategies import make_strategy
from mixopt.strategies.sobol import sobol_simplex
from mixopt.workflow.reference import reference_mixture

from conftest import REPO
from test_constraints import STEPS, TOKENS_PER_STEP, law_problem, law_record, law_table, table_backend

TOKENS = {"web": 8e6, "code": 1e5, "books": 2e6, "papers": 5e5}


def test_temperature_and_unimax_match_hand_computed_mixtures():
    t = np.array([1.0, 4.0, 16.0])
    assert np.allclose(natural(t), [1 / 21, 4 / 21, 16 / 21])
    assert np.allclose(temperature(t, 2.0), [1 / 7, 2 / 7, 4 / 7])  # sqrt(t) / 7
    assert np.allclose(temperature(t, 1.0), natural(t))
    assert np.ptp(temperature(t, 1e6)) < 1e-5  # a hot temperature is uniform
    # UniMax on 10, 100, 1000 tokens, a budget of 600 and 2 epochs: the smallest takes its cap of
    # 20, the next min(580 / 2, 200) = 200, the largest the 380 left
    assert np.allclose(unimax(np.array([10.0, 100.0, 1000.0]), 600.0, 2.0), np.array([20, 200, 380]) / 600)
    # no cap binds: uniform; every cap binds: the budgets scale up together, the natural mixture
    assert np.allclose(unimax(t * 100, 30.0, 1.0), 1 / 3)
    assert np.allclose(unimax(t, 1e6, 1.0), natural(t))
    with pytest.raises(ValueError, match="positive"):
        natural(np.array([1.0, 0.0]))


@pytest.mark.parametrize("name, options, expected", [
    ("natural", {}, lambda t, d: natural(t)),
    ("temperature", {"tau": 2.0}, lambda t, d: temperature(t, 2.0)),
    # 2 epochs of each domain at most, in the target's STEPS x TOKENS_PER_STEP tokens
    ("unimax", {"max_epochs": 2}, lambda t, d: unimax(t, d, 2.0)),
    ("unimax", {}, lambda t, d: unimax(t, d, 4.0)),  # default: constraints.max_repetition
])
def test_each_heuristic_strategy_trains_its_mixture_and_recommends_it(name, options, expected):
    problem = law_problem()
    constraints = Constraints(problem, tokens_available=TOKENS, max_repetition=4)
    t = np.array([TOKENS[d] for d in problem.domains])
    want = expected(t, float(STEPS * TOKENS_PER_STEP))
    strategy = make_strategy(name, problem, 0, options, constraints=constraints)
    batch = strategy.propose(build_table([], problem), 3, 0)
    assert all(np.allclose(p.mixture, want) for p in batch.proposals)
    records = [law_record(p.mixture, "T", STEPS, 0, j) for j, p in enumerate(batch.proposals)]
    assert np.allclose(strategy.recommend(build_table(records, problem)).mixture, want)


def test_unimax_spends_the_targets_tokens_uniformly_up_to_each_domains_cap():
    problem = law_problem()  # the target trains STEPS x TOKENS_PER_STEP = 1e5 tokens
    t = np.array([TOKENS[d] for d in problem.domains])
    # 0.1 epochs of code's 1e5 tokens is 1e4 < its uniform 2.5e4; the 9e4 left go to the others
    capped = make_strategy("unimax", problem, 0, {"max_epochs": 0.1},
                           constraints=Constraints(problem, tokens_available=TOKENS))
    assert np.allclose(capped.mixture, [0.3, 0.1, 0.3, 0.3])
    # a 1e9-token target: every domain at its cap falls short, so the mixture is the natural one
    long_run = law_problem(target_tokens=1e9)
    natural_again = make_strategy("unimax", long_run, 0, {"max_epochs": 1e-3},
                                  constraints=Constraints(long_run, tokens_available=TOKENS, max_repetition=1e6))
    assert np.allclose(natural_again.mixture, natural(t))


def test_a_heuristic_from_a_pool_is_the_nearest_recorded_mixture():
    backend = table_backend(law_table())
    problem = backend.problem
    constraints = Constraints(problem, tokens_available={d: 1e12 * (k + 1) for k, d in enumerate(problem.domains)})
    strategy = make_strategy("temperature", problem, 0, {"tau": 1.5}, space=backend, constraints=constraints)
    pool = strategy.candidates
    want = strategy.mixture
    w = strategy.propose(build_table([], problem), 2, 0).proposals[0].mixture
    assert np.abs(pool - w).max(axis=1).min() <= 1e-9  # a recorded mixture
    assert np.abs(w - want).sum() == pytest.approx(np.abs(pool - want).sum(axis=1).min())


def test_heuristics_as_the_reference_mixture():
    problem = law_problem()
    constraints = Constraints(problem, tokens_available=TOKENS, max_repetition=4)
    t = np.array([TOKENS[d] for d in problem.domains])
    for name, want in [("natural", natural(t)), ("temperature", temperature(t, 3.33)),
                       ("unimax", unimax(t, STEPS * TOKENS_PER_STEP, 4.0))]:
        w, label = reference_mixture(name, problem, constraints=constraints)
        assert label == name and np.allclose(w, want)
    with pytest.raises(ConfigError, match=r"config key 'reference': 'unimax' needs the token counts of \['web'"):
        reference_mixture("unimax", problem, constraints=Constraints(problem, tokens_available={"code": 1e5}))


def regmix_config(**changes) -> dict:
    config = yaml.safe_load((REPO / "configs" / "regmix.yaml").read_text())
    config.pop("bench")
    return with_defaults(config | changes)


@pytest.mark.parametrize("changes, message", [
    ({"strategy": {"name": "natural"}},
     r"config key 'strategy.name': 'natural' is computed from each domain's share of the training tokens; "
     r"give domains.<d>.tokens for \['arxiv'"),
    ({"reference": "unimax"}, r"config key 'reference': 'unimax' is computed"),
    ({"strategy": {"name": "temperature", "options": {"tau": 0}}},
     r"config key 'strategy.options': temperature: option 'tau' must be a positive number, got 0"),
    ({"strategy": {"name": "unimax", "options": {"max_epochs": "four"}}},
     r"config key 'strategy.options': unimax: option 'max_epochs' must be a positive number or null"),
    ({"strategy": {"name": "sobol", "options": {"alpha": 1}}}, r"unknown option\(s\) \['alpha'\] for strategy 'sobol'"),
])
def test_bad_heuristic_settings_are_one_error_naming_the_key(changes, message):
    with pytest.raises(ConfigError, match=message):
        check_config(regmix_config(**changes))


def test_sobol_continues_one_sequence_across_iterations_and_fills_the_simplex():
    problem = law_problem()
    strategy = make_strategy("sobol", problem, 7)
    records, proposed = [], []
    for iteration, n in enumerate([5, 3, 4]):
        batch = strategy.propose(build_table(records, problem), n, iteration)
        for j, p in enumerate(batch.proposals):
            proposed.append(p.mixture)
            records.append(law_record(p.mixture, "T", STEPS, iteration, j))
    assert np.allclose(np.array(proposed), sobol_simplex(12, 4, seed=7))
    assert not np.allclose(sobol_simplex(12, 4, seed=8), sobol_simplex(12, 4, seed=7))
    many = sobol_simplex(1024, 4, seed=0)
    assert np.allclose(many.sum(axis=1), 1) and (many >= 0).all()
    assert np.allclose(many.mean(axis=0), 0.25, atol=2e-3)  # uniform on the simplex: mean 1/d
    # the share of points with w_0 > 1/2 is (1/2)^3 under the uniform law
    assert (many[:, 0] > 0.5).mean() == pytest.approx(0.125, abs=0.01)


def test_sobol_keeps_to_the_constraints_and_takes_unrun_pool_mixtures():
    problem = law_problem()
    constraints = Constraints(problem, bounds={"web": (0.1, 0.5)}, tokens_available={"code": 0.15 * STEPS * TOKENS_PER_STEP / 4})
    strategy = make_strategy("sobol", problem, 0, constraints=constraints)
    batch = strategy.propose(build_table([], problem), 16, 0)
    assert all(constraints.check(p.mixture, p.fidelity) == [] for p in batch.proposals)
    assert batch.diagnostics.get("projected_onto_constraints") is None  # inside by construction

    backend = table_backend(law_table())
    problem = backend.problem
    strategy = make_strategy("sobol", problem, 0, space=backend)
    records = []
    for iteration in range(3):
        batch = strategy.propose(build_table(records, problem), 4, iteration)
        for j, p in enumerate(batch.proposals):
            records.append(backend.run(Trial(p.mixture, p.fidelity, iteration=iteration, index=j)))
    assert all(r["status"] == "ok" for r in records)  # recorded mixtures only
    ran = mixtures(build_table(records, problem), problem)
    assert len(np.unique(ran.round(9), axis=0)) == 12  # never the same mixture twice


#: The Pile's own proportions of RegMix's 17 domains (configs/regmix.yaml's ``human`` mixture) as
#: token counts of a 300B-token corpus: natural is then that mixture
PILE_SHARES = yaml.safe_load((REPO / "configs" / "regmix.yaml").read_text())["bench"]["strategies"]["human"]["options"]["mixture"]


@pytest.mark.slow
# natural, temperature and unimax are one TokenHeuristic each with its own rule (their mixtures
# and pool picks are tested above, without the workflow): one heuristic's loop covers the three
@pytest.mark.parametrize("name", ["sobol", "unimax"])
def test_each_new_strategy_runs_the_workflow_on_the_run_table(tmp_path, name):
    from test_workflow import snakemake, write_config

    config = yaml.safe_load((REPO / "configs" / "regmix.yaml").read_text())
    config.pop("bench")
    config["strategy"] = {"name": name}
    config["budget"] = {"iterations": 1, "initial_design": 3}
    config["domains"] = {d: {"tokens": 3e11 * share} for d, share in PILE_SHARES.items()}
    config["reference"] = "natural"
    write_config(tmp_path, config)
    snakemake(tmp_path, "results/best_mixture.yaml")  # the loop and its answer; the figures are another test's

    obs = pd.read_csv(tmp_path / "results" / "observations.csv")
    assert len(obs[["iteration", "trial"]].drop_duplicates()) == 3 and (obs["status"] == "ok").all()
    best = yaml.safe_load((tmp_path / "results" / "best_mixture.yaml").read_text())
    columns = [f"w_{d}" for d in PILE_SHARES]
    ran = obs[columns].drop_duplicates().to_numpy()
    if name == "sobol":
        assert len(ran) == 3  # three distinct recorded mixtures
    else:
        assert len(ran) == 1  # the heuristic's mixture (its nearest recorded one), every trial
    assert best["versus_reference"]["reference"] == "natural"
