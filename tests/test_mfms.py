"""The multi-fidelity, multi-scale strategy: what a batch looks like, which fidelity it buys, what
it learns from, and where it recommends."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mixopt.core.observations import build_table
from mixopt.core.problem import Fidelity, Problem
from mixopt.strategies import make_strategy

DOMAINS = ("a", "b", "c")
STEP_FLOPS = {"small": 6 * 1e6 * 1e4, "large": 6 * 1e8 * 1e4}
PROBLEM = Problem(domains=DOMAINS, objective_weights=np.array([1.0]), target=Fidelity("large", 100),
                  eval_domains=("valid",), full_steps={"small": 100, "large": 100}, step_flops=STEP_FLOPS)


def loss(w: np.ndarray, scale: str, step: int) -> float:
    """The same mixture landscape at every size and step: a cheap run tells as much as a costly one."""
    return float(3.0 + 2.0 * (w[0] - 0.6) ** 2 + 1.5 * (w[1] - 0.3) ** 2 + 0.0 * step)


def run(w, scale, steps, iteration, trial, checkpoints=(25, 50, 100)) -> dict:
    points = [c for c in checkpoints if c <= steps]
    return {"iteration": iteration, "trial": trial, "status": "ok", "scale": scale, "steps": steps,
            "mixture": dict(zip(DOMAINS, map(float, w))),
            "checkpoints": [{"step": c, "tokens": c * 1e4, "flops": STEP_FLOPS[scale] * c,
                             "losses": {"valid": loss(np.asarray(w), scale, c)}} for c in points]}


def observations(n_small=8, n_large=2, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    records = [run(w, "small", 100, 0, j) for j, w in enumerate(rng.dirichlet(np.ones(3), n_small))]
    records += [run(w, "large", 100, 0, n_small + j) for j, w in enumerate(rng.dirichlet(np.ones(3), n_large))]
    return build_table(records, PROBLEM)


def strategy(**options):
    return make_strategy("mfms", PROBLEM, 0, {"raw_samples": 256, **options})


def test_every_checkpoint_of_every_run_is_an_observation():
    obs = observations()
    s = strategy()
    X, Y = s.training_data(obs, s.outputs(objective_only=False))
    assert len(X) == len(obs) == 10 * 3  # 3 checkpoints per run
    assert X.shape[1] == len(DOMAINS) + 2


def test_batch_is_on_the_simplex_and_distinct():
    batch = strategy().propose(observations(), 4, iteration=1)
    assert len(batch.proposals) == 4
    w = np.array([p.mixture for p in batch.proposals])
    assert np.all(w >= 0) and np.allclose(w.sum(axis=1), 1.0)
    assert len({tuple(np.round(x, 6)) for x in w}) == 4


@pytest.mark.slow
def test_a_cheap_fidelity_that_is_as_informative_is_preferred():
    # the landscape is identical at both sizes and every step, so the 100x cheaper scale wins
    batch = strategy().propose(observations(), 2, iteration=1)
    assert all(p.fidelity.scale == "small" for p in batch.proposals)
    # ... because it is nearly as informative about the target, not because cost is all that counts
    s = strategy()
    obs = observations()
    outputs = s.outputs(objective_only=False)
    model = s.fit(obs, outputs)
    best = s.incumbent(model, obs, outputs)
    w = np.array([p.mixture for p in batch.proposals])
    small = s.value_of_observing(model, w, Fidelity("small", 100), best, outputs)
    large = s.value_of_observing(model, w, PROBLEM.target, best, outputs)
    assert np.all(small > 0.5 * large) and np.all(small <= large * 1.05)
    # with the cost exponent cooled to 0, cost no longer matters: the choice is information alone
    assert strategy(cooling_iterations=1).cost_exponent(5) == 0.0


def test_recommendation_is_at_the_target_and_says_whether_it_was_trained():
    rec = strategy().recommend(observations())
    assert rec.fidelity == PROBLEM.target
    assert np.all(rec.mixture >= 0) and rec.mixture.sum() == pytest.approx(1.0)
    assert rec.details["target_scale_trained"] is True
    untrained = strategy().recommend(observations(n_large=0))
    assert untrained.details["target_scale_trained"] is False and "never trained" in untrained.details["note"]


def test_a_long_history_is_thinned_to_max_checkpoints_keeping_every_runs_last():
    """A 500-run swarm of 10 checkpoints: the GP sees at most max_checkpoints rows, every run's
    final checkpoint among them and the rest evenly spread over each run; a short one is kept whole."""
    from mixopt.strategies.mfms import thinned_checkpoints

    rows = pd.DataFrame([{"iteration": 0, "trial": t, "step": s} for t in range(500) for s in range(100, 1001, 100)])
    keep = thinned_checkpoints(rows, 1000)
    kept = rows[keep]
    assert len(kept) == 1000
    assert (kept.groupby("trial")["step"].max() == 1000).all()
    assert set(kept.groupby("trial")["step"].min()) == {100}  # 2 per run: the first and the last
    assert thinned_checkpoints(rows.head(30), 1000).all()
    assert thinned_checkpoints(rows, 300).sum() == 500  # never below one per run


def test_the_pruned_scores_pick_what_scoring_every_mixture_picks():
    """``scores`` skips mixtures whose bound (EI at the target with the target's own sd) is below
    the best exact score: its argmax is the argmax of every mixture scored at every fidelity."""
    s, obs = strategy(), observations(n_small=12, n_large=3)
    outputs = s.outputs(objective_only=True)
    model = s.fit(obs, outputs)
    grid = s.grid()
    best = s.incumbent(model, obs, outputs)
    w = s._mixture_candidates(model, obs, 0, outputs, s.box(PROBLEM.target))
    unit = s.cost(PROBLEM.target)
    for alpha in (1.0, 0.5, 0.0):
        divisor = np.array([(s.cost(f) / unit) ** alpha for f in grid])
        done = s._already_observed(obs, w, grid)
        every = np.stack([s.value_of_observing(model, w, f, best, outputs) / divisor[i] for i, f in enumerate(grid)])
        every[done] = -np.inf
        pruned = s.scores(model, w, grid, best, outputs, np.ones(len(w)), divisor, done)
        assert np.unravel_index(np.argmax(pruned), pruned.shape) == np.unravel_index(np.argmax(every), every.shape)
        scored = np.isfinite(pruned)
        assert np.allclose(pruned[scored], every[scored])
        assert (every[~scored & ~done] <= pruned.max()).all()  # what was skipped could not have won
        assert not scored.any(axis=0).all()  # and some mixtures were skipped
