"""What a recommendation rests on: its difference from a reference mixture from the joint posterior,
the reference as a possible answer, observed values, proxy-to-target rank correlations, the
probability of being the best, and a headline that says when the figure is an extrapolation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from botorch.acquisition.objective import ScalarizedPosteriorTransform

from mixopt.config import check_config
from mixopt.core.errors import ConfigError
from mixopt.core.observations import build_table
from mixopt.core.problem import Fidelity, Problem
from mixopt.settings import with_defaults
from mixopt.strategies import make_strategy
from mixopt.strategies.gp_model import DTYPE
from mixopt.strategies.posterior import JointPosterior
from mixopt.workflow.evidence import rank_correlations, transfer_pairs, versus_reference
from mixopt.workflow.report import evidence_report

DOMAINS = ("a", "b", "c")
STEP_FLOPS = {"small": 6 * 1e6 * 1e4, "large": 6 * 1e8 * 1e4}
PROBLEM = Problem(domains=DOMAINS, objective_weights=np.full(3, 1 / 3), target=Fidelity("large", 100),
                  full_steps={"small": 100, "large": 100}, step_flops=STEP_FLOPS)
UNIFORM = np.full(3, 1 / 3)
FAST_GP = {"raw_samples": 64, "num_restarts": 4, "mc_samples": 64, "min_observations": 3}


def domain_losses(w: np.ndarray, scale: str) -> np.ndarray:
    """Each domain's loss falls with its share; at the small scale domain a is easier to learn
    (its proxy ranking differs from the target's)."""
    need = np.array([0.5, 0.3, 0.2]) if scale == "large" else np.array([0.2, 0.3, 0.5])
    return 3.0 + 0.2 * need / (np.asarray(w) + 0.05) + (0.5 if scale == "small" else 0.0)


def run(w, scale: str, iteration: int, trial: int, losses_of=domain_losses) -> dict:
    losses = losses_of(np.asarray(w), scale)
    return {"iteration": iteration, "trial": trial, "status": "ok", "scale": scale, "steps": 100,
            "mixture": dict(zip(DOMAINS, map(float, w))),
            "checkpoints": [{"step": 100, "tokens": 1e6, "flops": STEP_FLOPS[scale] * 100,
                             "losses": dict(zip(DOMAINS, losses.tolist()))}]}


def observations(runs: list[tuple[np.ndarray, str]], losses_of=domain_losses) -> pd.DataFrame:
    return build_table([run(w, s, 0, j, losses_of) for j, (w, s) in enumerate(runs)], PROBLEM)


def mixtures(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.ones(3), n)


def gp_at_target(table: pd.DataFrame, reference=UNIFORM):
    strategy = make_strategy("gp", PROBLEM, 0, FAST_GP, reference=reference)
    return strategy


def test_the_difference_from_the_reference_uses_the_covariance_of_the_two_predictions():
    """Two nearby mixtures: their errors largely cancel, so the difference is far more certain
    than two independent marginals say; its spread matches BoTorch's own joint samples."""
    table = observations([(w, "large") for w in mixtures(10, seed=1)])
    strategy = gp_at_target(table)
    a, b = np.array([0.30, 0.35, 0.35]), np.array([0.32, 0.34, 0.34])
    posterior = strategy.joint_posterior(table, np.vstack([a, b]))
    diff = posterior.difference(0, 1)["objective"]
    marginal_sd = np.sqrt(np.diag(posterior.objective_cov))
    assert diff[1] < 0.5 * np.sqrt((marginal_sd ** 2).sum())  # correlated: far below the independent figure

    model = strategy.fit(table, strategy.outputs(objective_only=False))
    X = torch.tensor(np.vstack([a, b]), dtype=DTYPE)
    with torch.no_grad():
        post = model.posterior(X, posterior_transform=ScalarizedPosteriorTransform(torch.full((3,), 1 / 3, dtype=DTYPE)))
        torch.manual_seed(0)
        draws = post.rsample(torch.Size([20_000]))[..., 0]  # 20000 x 2
    gaps = (draws[:, 0] - draws[:, 1]).numpy()
    assert diff[0] == pytest.approx(gaps.mean(), abs=3 * gaps.std() / np.sqrt(len(gaps)) + 1e-9)
    assert diff[1] == pytest.approx(gaps.std(), rel=0.05)
    assert diff[2] == pytest.approx(float((gaps > 0).mean()), abs=0.02)
    per_domain = posterior.difference(0, 1)["losses"]
    assert per_domain.shape == (3, 3) and np.isfinite(per_domain).all()


@pytest.mark.slow
def test_the_reference_can_be_the_recommendation_and_its_observed_values_are_given():
    """The objective is lowest at the uniform mixture, which ran at the target: a strategy that
    ranks the mixtures it ran picks it, and the block says so with observed values."""
    bowl = lambda w, scale: 3.0 + 4.0 * (np.asarray(w) - 1 / 3) ** 2  # noqa: E731
    runs = [(w, "large") for w in mixtures(8, seed=2)] + [(UNIFORM, "large")]
    table = observations(runs, losses_of=bowl)
    strategy = make_strategy("mfms", PROBLEM, 0, {"raw_samples": 64}, reference=UNIFORM)
    report = evidence_report(strategy, table, "uniform", 10 ** 6)
    versus = report["versus_reference"]
    assert versus["recommended_is_reference"] and versus["reference_considered"]
    assert report["mixture"] == pytest.approx(dict(zip(DOMAINS, UNIFORM)))
    assert versus["objective"]["difference"] == pytest.approx(0.0, abs=1e-9)
    assert versus["objective"]["observed_reference"] == pytest.approx(3.0)
    assert versus["objective"]["observed_difference"] == pytest.approx(0.0)
    assert "reference itself" in report["headline"]


@pytest.mark.slow
def test_an_unobserved_reference_is_weighed_among_the_answers():
    """The reference never ran, yet the model predicts it best: a strategy that recommends among
    the mixtures it ran also weighs the reference, and recommends it."""
    bowl = lambda w, scale: 3.0 + 4.0 * (np.asarray(w) - 1 / 3) ** 2  # noqa: E731
    table = observations([(w, "large") for w in mixtures(12, seed=3)], losses_of=bowl)
    strategy = make_strategy("mfms", PROBLEM, 0, {"raw_samples": 64}, reference=UNIFORM)
    assert np.allclose(strategy.recommend(table).mixture, UNIFORM)
    strategy.reference = None
    assert not np.allclose(strategy.recommend(table).mixture, UNIFORM)


@pytest.mark.slow
def test_a_sacrificed_domain_shows_in_the_block_and_the_headline():
    """Recommended vs reference where the objective improves but domain a gets worse: a is the
    cheapest domain to give up (the mean is lowest at (0, 0.5, 0.5)), the reference has 0.6 of it."""
    cost = np.array([1.0, 2.0, 2.0])
    quadratic = lambda w, scale: 3.0 + cost * (1.0 - np.asarray(w)) ** 2  # noqa: E731
    reference = np.array([0.6, 0.2, 0.2])
    table = observations([(w, "large") for w in mixtures(12, seed=4)], losses_of=quadratic)
    rec_strategy = gp_at_target(table, reference=reference)
    report = evidence_report(rec_strategy, table, "given", 10 ** 6)
    versus = report["versus_reference"]
    rec = np.array([report["mixture"][d] for d in DOMAINS])
    assert rec[0] < 0.3  # the objective needs less of a than the reference has ...
    assert versus["domains"]["a"]["difference"] > 0 and versus["domains"]["a"]["p_worse"] > 0.5  # ... so a suffers
    assert versus["objective"]["difference"] < 0
    assert "worse than the reference on a +" in report["headline"]


def test_rank_correlation_per_proxy_scale_needs_three_shared_mixtures():
    """Small and large rank the shared mixtures differently here (the need vector flips); with two
    shared mixtures the figure is null with the reason."""
    shared = mixtures(6, seed=5)
    runs = [(w, "small") for w in shared] + [(w, "large") for w in shared]
    table = observations(runs)
    pairs = transfer_pairs(table, PROBLEM, "small")
    expected = pd.Series(pairs["proxy"]).rank().corr(pd.Series(pairs["target"]).rank())
    corr = rank_correlations(table, PROBLEM)
    assert corr["small"]["mixtures"] == 6 and corr["small"]["spearman"] == pytest.approx(expected, abs=1e-4)
    few = observations([(w, "small") for w in shared] + [(w, "large") for w in shared[:2]])
    assert rank_correlations(few, PROBLEM)["small"] == {
        "mixtures": 2, "spearman": None, "reason": "fewer than 3 mixtures run at both small and the target"}


def test_probability_best_from_joint_samples():
    """A clear winner is the best in (nearly) every joint draw; two exchangeable mixtures split."""
    clear = JointPosterior(np.zeros((2, 1)), np.zeros((1, 2, 2)), np.array([1.0, 2.0]), np.eye(2) * 1e-4, "m")
    assert clear.probability_best(0) == 1.0
    tie = JointPosterior(np.zeros((2, 1)), np.zeros((1, 2, 2)), np.array([1.0, 1.0]), np.eye(2), "m")
    assert tie.probability_best(0) == pytest.approx(0.5, abs=0.03)


@pytest.mark.slow
def test_nothing_at_the_target_is_an_extrapolation_from_the_scales_trained():
    table = observations([(w, "small") for w in mixtures(8, seed=6)])
    strategy = make_strategy("mfms", PROBLEM, 0, {"raw_samples": 64}, reference=UNIFORM)
    report = evidence_report(strategy, table, "uniform", 10 ** 6)
    assert "EXTRAPOLATION: nothing ran at the target scale large; predicted from small" in report["headline"]
    assert report["transfer"]["rank_correlation"]["small"]["spearman"] is None
    assert 0.0 <= report["transfer"]["p_best"]["value"] <= 1.0


def test_a_strategy_without_a_model_gets_the_evidence_from_a_gp():
    table = observations([(w, "large") for w in mixtures(8, seed=7)])
    strategy = make_strategy("random", PROBLEM, 0, reference=UNIFORM)
    report = evidence_report(strategy, table, "uniform", 10 ** 6)
    assert report["versus_reference"]["model"] == "gp model at the target"
    assert report["objective"]["kind"] == "observed"
    assert report["versus_reference"]["objective"]["std"] > 0


def test_without_enough_trials_only_observed_values_are_given():
    table = observations([(UNIFORM, "large")])
    strategy = make_strategy("random", PROBLEM, 0, reference=UNIFORM)
    versus = versus_reference(strategy.recommend(table), UNIFORM, "uniform",
                              make_strategy("gp", PROBLEM, 0, FAST_GP), table, PROBLEM)
    assert versus["model"] is None and versus["objective"]["observed_reference"] is not None


@pytest.mark.parametrize("reference, message", [
    ({"web": 1.0}, "config key 'reference': unknown domain(s) ['web']"),
    ({"pile_cc": 0.5}, "config key 'reference': weights must sum to 1"),
    ("natural", "config key 'reference': 'natural' is computed from each domain's share"),
])
def test_a_bad_reference_is_one_error_naming_the_key(reference, message):
    config = with_defaults({"backend": {"name": "table", "table": {"format": "regmix"}}, "target": {"scale": "60M"},
                            "strategy": {"name": "random"}, "budget": {"iterations": 1}, "reference": reference})
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
                       .replace("]", r"\]")):
        check_config(config)
