"""Every strategy proposes mixtures on the simplex; the GP is reproducible and learns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mixopt.core.constraints import Constraints
from mixopt.core.observations import build_table
from mixopt.core.problem import Fidelity, Problem
from mixopt.core.simplex import space_filling
from mixopt.strategies import STRATEGIES, make_strategy

DOMAINS = ("web", "code", "books", "papers")
PROBLEM = Problem(DOMAINS, np.full(4, 0.25), Fidelity("small", 100), step_flops={"small": 6.0 * 1000 * 64},
                  params={"small": 1000.0})
FAST_GP = {"raw_samples": 64, "num_restarts": 4, "mc_samples": 64}


def synthetic_losses(w: np.ndarray) -> np.ndarray:
    """Each domain's loss falls with its own share; the mean is lowest near w* below."""
    need = np.array([0.4, 0.3, 0.2, 0.1])
    return 3.0 + 0.2 * need / (w + 0.05)


def metrics(w: np.ndarray, iteration: int, trial: int, status: str = "ok") -> dict:
    points = []
    if status == "ok":
        for step, extra in [(50, 0.4), (100, 0.0)]:
            points.append({"step": step, "tokens": step * 64, "flops": 6.0 * 1000 * step * 64,
                           "losses": dict(zip(DOMAINS, (synthetic_losses(w) + extra).tolist()))})
    return {"iteration": iteration, "trial": trial, "status": status, "error": None if status == "ok" else "boom",
            "scale": "small", "seed": trial, "n_params": 1000, "steps": 100,
            "mixture": dict(zip(DOMAINS, w.tolist())), "checkpoints": points}


def table(n: int, failed: int = 0) -> pd.DataFrame:
    W = space_filling(n + failed, len(DOMAINS), seed=3)
    ms = [metrics(w, 0, j) for j, w in enumerate(W[:n])]
    ms += [metrics(w, 0, n + k, status="failed") for k, w in enumerate(W[n:])]
    return build_table(ms, PROBLEM)


def options(name: str) -> dict:
    if name == "fixed":
        return {"mixture": {"web": 0.5, "code": 0.2, "books": 0.2, "papers": 0.1}}
    return FAST_GP if name == "gp" else {}


def constraints(name: str) -> Constraints | None:
    """A token heuristic's token counts (the train back end's shards, or domains.<d>.tokens)."""
    if not STRATEGIES[name].needs_token_counts:
        return None
    return Constraints(PROBLEM, tokens_available={"web": 8e6, "code": 4e6, "books": 2e6, "papers": 1e6})


#: their proposals from observations fit GPs with the default effort (seconds): in the full suite only
SLOW_AFTER_DESIGN = {"auto", "gp"}


@pytest.mark.parametrize("iteration, name", [
    pytest.param(iteration, name, marks=pytest.mark.slow) if iteration and name in SLOW_AFTER_DESIGN else (iteration, name)
    for iteration in (0, 1) for name in sorted(STRATEGIES)])
def test_proposals_on_simplex_at_target(name, iteration):
    """Failed trials in the observations (status failed, no losses) are ignored, not fatal."""
    if name == "hyperband" and iteration:
        pytest.skip("hyperband replays only its own history (a foreign one is an error: test_hyperband)")
    observations = table(6, failed=2) if iteration else table(0)
    strategy = make_strategy(name, PROBLEM, 0, options(name), constraints=constraints(name))
    batch = strategy.propose(observations, 3, iteration)
    if name == "gp" and iteration:
        assert batch.diagnostics["design"] == "qLogNEI" and batch.diagnostics["observations"] == 6
    # DoReMi's reference and proxy runs, and the online run, are one trial each
    one_run = name == "doremi" or (name == "online" and iteration == 0)
    assert len(batch.proposals) == (1 if one_run else 3)
    for p in batch.proposals:
        assert p.mixture.shape == (4,)
        assert np.all(p.mixture >= 0) and np.isclose(p.mixture.sum(), 1.0, atol=1e-9)
        # a multi-fidelity strategy may stop a run early; the others train the target's full run
        assert p.fidelity in strategy.fidelities()
        if name not in ("mfms", "hyperband"):
            assert p.fidelity == PROBLEM.target


def test_fixed_and_uniform_propose_their_mixture():
    fixed = make_strategy("fixed", PROBLEM, 0, options("fixed")).propose(table(0), 2, 0)
    assert np.allclose(fixed.proposals[1].mixture, [0.5, 0.2, 0.2, 0.1])
    uniform = make_strategy("uniform", PROBLEM, 0, {}).propose(table(0), 2, 0)
    assert np.allclose(uniform.proposals[0].mixture, 0.25)


def test_random_differs_per_iteration_and_repeats_per_seed():
    a = make_strategy("random", PROBLEM, 5, {}).propose(table(0), 2, 1).proposals
    b = make_strategy("random", PROBLEM, 5, {}).propose(table(0), 2, 1).proposals
    c = make_strategy("random", PROBLEM, 5, {}).propose(table(0), 2, 2).proposals
    assert np.array_equal(a[0].mixture, b[0].mixture)
    assert not np.allclose(a[0].mixture, c[0].mixture)


@pytest.mark.slow
def test_gp_proposals_reproducible_distinct_and_model_based():
    obs = table(8)
    first = make_strategy("gp", PROBLEM, 7, FAST_GP).propose(obs, 3, 1)
    again = make_strategy("gp", PROBLEM, 7, FAST_GP).propose(obs, 3, 1)
    assert first.diagnostics["design"] == "qLogNEI"
    for p, q in zip(first.proposals, again.proposals):
        assert np.array_equal(p.mixture, q.mixture)
    W = np.stack([p.mixture for p in first.proposals])
    assert np.min(np.linalg.norm(W[:, None] - W[None], axis=-1)[np.triu_indices(3, 1)]) > 1e-3
    assert set(first.diagnostics["hyperparameters"]) == set(DOMAINS)


@pytest.mark.slow
def test_gp_recommendation_beats_design_on_known_function():
    """On a smooth known loss the GP's recommended mixture is better than the best trial it saw."""
    obs = table(16)
    rec = make_strategy("gp", PROBLEM, 0, FAST_GP).recommend(obs)
    best_seen = obs[obs["step"] == 100]["objective"].min()
    true_value = PROBLEM.objective(synthetic_losses(rec.mixture))
    assert np.isclose(rec.mixture.sum(), 1.0) and np.all(rec.mixture >= 0)
    assert true_value <= best_seen + 1e-6
    assert rec.objective_std is not None and rec.objective_std > 0
    assert rec.losses.shape == (4,) and np.all(rec.loss_std > 0)
    # the prediction is close to the truth at the recommended point
    assert abs(rec.objective - true_value) < 0.05


def test_best_observed_for_baselines_and_clear_error_when_nothing_succeeded():
    obs = table(5)
    rec = make_strategy("random", PROBLEM, 0, {}).recommend(obs)
    assert np.isclose(rec.objective, obs[obs["step"] == 100]["objective"].min())
    assert rec.objective_std is None
    only_failures = build_table([metrics(np.full(4, 0.25), 0, 0, status="failed")], PROBLEM)
    with pytest.raises(ValueError, match="no successful trial at the target"):
        make_strategy("uniform", PROBLEM, 0, {}).recommend(only_failures)


def test_when_the_objective_is_one_domains_loss_a_recommendation_after_a_proposal_reuses_its_gp(monkeypatch):
    """The GP of the objective is then that domain's GP: the bench's recommendation on the data a
    proposal was made from fits nothing again, and answers as a fresh strategy does."""
    import mixopt.strategies.gp_model as gp_model

    one_loss = Problem(DOMAINS, np.array([0.0, 1.0, 0.0, 0.0]), PROBLEM.target, step_flops=PROBLEM.step_flops,
                       params=PROBLEM.params)
    observations = build_table([metrics(w, 0, j) for j, w in enumerate(space_filling(8, len(DOMAINS), seed=3))],
                               one_loss)
    fits = []
    fit = gp_model.fit_gpytorch_mll
    monkeypatch.setattr(gp_model, "fit_gpytorch_mll", lambda mll, **kw: fits.append(1) or fit(mll, **kw))
    strategy = make_strategy("gp", one_loss, 0, FAST_GP)
    strategy.propose(observations, 2, 1)
    assert len(fits) == 1
    answer = strategy.recommend(observations, per_domain=False)
    assert len(fits) == 1
    fresh = make_strategy("gp", one_loss, 0, FAST_GP).recommend(observations, per_domain=False)
    assert np.array_equal(answer.mixture, fresh.mixture)
