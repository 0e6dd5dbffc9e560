"""Issue 33: domain insight. At the recommendation, each domain's effect on the target objective
(the model's change when weight moves to that domain, with its uncertainty), in best_mixture.yaml
and as a figure."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from mixopt.strategies.base import Recommendation
from mixopt.workflow.evidence import EFFECT_STEP, domain_effects
from mixopt.workflow.figures import plot_domain_effects
from mixopt.workflow.report import evidence_report
from test_evidence import FAST_GP, PROBLEM, UNIFORM, domain_losses, gp_at_target, mixtures, observations


def true_change(w: np.ndarray, i: int) -> float:
    moved = (1 - EFFECT_STEP) * w + EFFECT_STEP * np.eye(3)[i]
    return float(domain_losses(moved, "large").mean() - domain_losses(w, "large").mean())


def test_each_domains_effect_matches_the_true_change_within_its_uncertainty(tmp_path):
    table = observations([(w, "large") for w in mixtures(24, seed=3)])
    strategy = gp_at_target(table)
    rec = Recommendation(UNIFORM, PROBLEM.target, 0.0, None, np.zeros(3), None, "given")
    effects = domain_effects(rec, strategy, table, PROBLEM)
    assert effects["step"] == EFFECT_STEP and effects["model"]
    truth = {d: true_change(UNIFORM, i) for i, d in enumerate(PROBLEM.domains)}
    # domain a needs the most weight: moving weight to it helps; to c (needs least) it hurts
    assert truth["a"] < 0 < truth["c"]
    for d, e in effects["domains"].items():
        assert abs(e["change"] - truth[d]) <= 3 * e["std"] + 0.02 * abs(truth[d]), (d, e, truth[d])
        assert np.sign(e["change"]) == np.sign(truth[d])
        assert e["per_unit_weight"] == pytest.approx(e["change"] / (EFFECT_STEP * (1 - 1 / 3)), rel=1e-3)
    changes = [abs(e["change"]) for e in effects["domains"].values()]
    assert changes == sorted(changes, reverse=True)  # the domain that matters most first
    assert effects["domains"]["a"]["p_worse"] < 0.5 < effects["domains"]["c"]["p_worse"]

    report = evidence_report(strategy, table, "uniform", 10 ** 6)
    assert set(report["domain_effects"]["domains"]) == set(PROBLEM.domains)
    yaml.safe_dump(report)  # plain values only
    plot_domain_effects(report, tmp_path / "effects.png")
    assert (tmp_path / "effects.png").stat().st_size > 5_000


def test_without_enough_trials_the_effects_say_why():
    table = observations([(UNIFORM, "large")])
    rec = Recommendation(UNIFORM, PROBLEM.target, 0.0, None, np.zeros(3), None, "given")
    effects = domain_effects(rec, gp_at_target(table), table, PROBLEM)
    assert effects["model"] is None and "too few" in effects["note"] and effects["domains"] == {}
