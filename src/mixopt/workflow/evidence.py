"""What a recommendation rests on: its trade-off against a reference mixture, and whether the
proxies' rankings carry over to the target.

Both are failure modes a mixture search hides behind one number: a lower *mean* loss bought by
making one domain much worse than the mixture in use, and a proxy optimum that does not transfer
to the target size. The figures come from the model's joint posterior (the strategy's own, or a GP
fitted for this when the strategy has none) and from the trials themselves.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from mixopt.core.observations import at_fidelity, losses, mixtures, successful
from mixopt.core.problem import Fidelity, Problem
from mixopt.core.simplex import is_among, match, mixture_key
from mixopt.core.space import MixtureSpace
from mixopt.strategies.base import Recommendation, Strategy
from mixopt.strategies.gp import GPStrategy
from mixopt.strategies.gp_model import GPModelStrategy
from mixopt.strategies.multiscale import MultiScaleStrategy

#: The weight moved towards one domain to measure its effect on the objective (domain_effects).
EFFECT_STEP = 0.05
#: P(best) is estimated over at most this many of the considered mixtures (those the model ranks
#: best, and the recommendation): a joint sample over a whole 768-mixture pool adds nothing.
MAX_COMPARED = 512


def _num(x: Any, digits: int = 6) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), digits)


def evidence_model(strategy: Strategy, observations: pd.DataFrame,
                   space: MixtureSpace | None = None) -> GPModelStrategy:
    """The strategy itself when it has a GP, else a GP fitted only to weigh the evidence:
    multi-scale when trials ran at several scales, else at the target."""
    if isinstance(strategy, GPModelStrategy):
        return strategy
    scales = successful(observations)["scale"].nunique()
    cls = MultiScaleStrategy if scales > 1 else GPStrategy
    return cls(strategy.problem, seed=strategy.seed, space=space)


def observed_at_target(table: pd.DataFrame, problem: Problem, w: np.ndarray) -> tuple[float, np.ndarray] | None:
    """Mean objective and `e` per-domain losses of the trials of mixture ``w`` at the target, or
    ``None`` when it never ran there."""
    rows = at_fidelity(table, problem.target)
    if rows.empty:
        return None
    rows = rows[is_among(mixtures(rows, problem), np.asarray(w)[None])]
    if rows.empty:
        return None
    return float(rows["objective"].mean()), np.nanmean(losses(rows, problem), axis=0)


def _comparison(values: np.ndarray, observed: tuple[float | None, float | None]) -> dict:
    """One row of versus_reference: predicted difference, its std, P(worse), observed values."""
    out = {"difference": _num(values[0]), "std": _num(values[1]), "p_worse": _num(values[2], 4)}
    rec, ref = observed
    if ref is not None:
        out["observed_reference"] = _num(ref)
        if rec is not None:
            out["observed_difference"] = _num(rec - ref)
    return out


def versus_reference(rec: Recommendation, reference: np.ndarray, reference_name: str, model: GPModelStrategy,
                     table: pd.DataFrame, problem: Problem) -> dict:
    """The ``versus_reference`` block: recommended - reference at the target, for the objective and
    each evaluation domain, from the joint posterior of the two mixtures."""
    same = bool(np.abs(np.asarray(rec.mixture) - reference).max() <= 1e-6)
    out: dict[str, Any] = {"reference": reference_name, "recommended_is_reference": same,
                           # False: the strategy cannot answer it (not in the run table's pool, or
                           # a strategy that only recommends mixtures it ran)
                           "reference_considered": bool(same or (rec.considered is not None and len(rec.considered)
                                                                 and is_among(reference[None], rec.considered)[0]))}
    rec_seen, ref_seen = observed_at_target(table, problem, rec.mixture), observed_at_target(table, problem, reference)
    posterior = model.joint_posterior(table, np.vstack([rec.mixture, reference]))
    e = len(problem.eval_domains)
    if posterior is None:
        out["model"] = None
        out["note"] = "too few successful trials to fit a model: observed values only"
        values, reference_mean = np.full((1 + e, 3), np.nan), np.full(1 + e, np.nan)
    else:
        out["model"] = posterior.model
        diff = posterior.difference(0, 1)
        values = np.vstack([diff["objective"], diff["losses"]])
        reference_mean = np.concatenate([posterior.objective_mean[1:2], posterior.loss_mean[1]])
    out["objective"] = {"reference": _num(reference_mean[0])} | _comparison(
        values[0], (rec_seen and rec_seen[0], ref_seen and ref_seen[0]))
    out["domains"], skipped = {}, []
    for i, name in enumerate(problem.eval_domains):
        observed = (rec_seen and float(rec_seen[1][i]), ref_seen and float(ref_seen[1][i]))
        if not np.isfinite(values[1 + i, 0]) and (observed[1] is None or not np.isfinite(observed[1])):
            skipped.append(name)
            continue
        out["domains"][name] = {"reference": _num(reference_mean[1 + i])} | _comparison(values[1 + i], observed)
    if skipped:  # e.g. the 12 other Pile domains when the objective is Pile-CC alone
        out["not_modelled"] = skipped
    return out


def domain_effects(rec: Recommendation, model: GPModelStrategy, table: pd.DataFrame, problem: Problem,
                   step: float = EFFECT_STEP) -> dict:
    """Which domains matter at the recommendation, and how much: for each domain i, the predicted
    change of the target objective when the mixture moves ``step`` of its weight to domain i (the
    others shrinking in proportion), ``(1 - step) w + step e_i``, as mean and std of the
    difference from the joint posterior (a finite-difference directional derivative of the
    model, with its uncertainty). A negative change: more of that domain helps.

    Returns:
        ``{"step", "model", "domains": {domain: {"change", "std", "p_worse", "per_unit_weight"}}}``,
        domains sorted by the size of their change; ``model: None`` with a note when too few
        trials fit a model.
    """
    w = np.asarray(rec.mixture, dtype=float)
    moved = (1.0 - step) * w[None, :] + step * np.eye(problem.dim)
    posterior = model.joint_posterior(table, np.vstack([w, moved]))
    if posterior is None:
        return {"step": step, "model": None, "note": "too few successful trials to fit a model", "domains": {}}
    effects = {}
    for i, name in enumerate(problem.domains):
        change, std, p_worse = posterior.difference(1 + i, 0)["objective"]
        effects[name] = {"change": _num(change), "std": _num(std), "p_worse": _num(p_worse, 4),
                         "per_unit_weight": _num(change / (step * (1.0 - w[i])) if w[i] < 1 else np.nan)}
    ranked = sorted(effects, key=lambda d: -abs(effects[d]["change"] or 0.0))
    return {"step": step, "model": posterior.model, "domains": {d: effects[d] for d in ranked}}


def transfer_pairs(table: pd.DataFrame, problem: Problem, scale: str) -> pd.DataFrame:
    """Mixtures run to the full length at both ``scale`` and the target: columns ``proxy`` and
    ``target`` (mean objective over repeats), one row per mixture."""
    def by_mixture(fidelity: Fidelity) -> pd.Series:
        rows = at_fidelity(table, fidelity)
        keys = pd.Series([str(mixture_key(w)) for w in mixtures(rows, problem)], index=rows.index)
        return rows["objective"].astype(float).groupby(keys).mean()

    proxy = by_mixture(Fidelity(scale, problem.full_steps[scale]))
    target = by_mixture(problem.target)
    both = pd.concat([proxy.rename("proxy"), target.rename("target")], axis=1, join="inner")
    return both.reset_index(drop=True)


def trained_scales(table: pd.DataFrame) -> list[str]:
    """The scales with at least one successful trial, sorted by name."""
    return sorted(successful(table)["scale"].astype(str).unique().tolist())


def trained_proxies(table: pd.DataFrame, problem: Problem) -> list[str]:
    """The scales other than the target's with a successful trial, in the problem's order."""
    trained = set(trained_scales(table))
    return [s for s in problem.full_steps if s != problem.target.scale and s in trained]


def rank_correlations(table: pd.DataFrame, problem: Problem) -> dict[str, dict]:
    """Trained proxy scale -> Spearman rank correlation of its objectives with the target's over
    the mixtures run to the full length at both (``None`` with the reason when fewer than 3)."""
    out = {}
    for scale in trained_proxies(table, problem):
        pairs = transfer_pairs(table, problem, scale)
        entry: dict[str, Any] = {"mixtures": int(len(pairs))}
        if len(pairs) < 3:
            entry |= {"spearman": None, "reason": f"fewer than 3 mixtures run at both {scale} and the target"}
        elif pairs["proxy"].nunique() < 2 or pairs["target"].nunique() < 2:
            entry |= {"spearman": None, "reason": "the objectives are all equal at one of the two scales"}
        else:
            entry["spearman"] = _num(spearmanr(pairs["proxy"], pairs["target"]).statistic, 4)
        out[scale] = entry
    return out


def probability_best(rec: Recommendation, model: GPModelStrategy, table: pd.DataFrame, seed: int) -> dict:
    """P(the recommendation has the lowest target objective among the mixtures the strategy
    considered), from joint posterior samples of ``model``."""
    if rec.considered is None or len(rec.considered) == 0:
        return {"value": None, "reason": "the strategy did not choose among a finite set of mixtures"}
    w = np.unique(np.atleast_2d(rec.considered), axis=0)
    if match(w, np.asarray(rec.mixture)) is None:
        w = np.vstack([w, rec.mixture])
    unfitted = {"value": None, "reason": "too few successful trials to fit a model"}
    if len(w) > MAX_COMPARED:  # the contenders: those with the lowest posterior means, and the answer
        parts = [model.joint_posterior(table, part) for part in np.array_split(w, int(np.ceil(len(w) / MAX_COMPARED)))]
        if parts[0] is None:
            return unfitted
        means = np.concatenate([part.objective_mean for part in parts])
        others = [i for i in np.argsort(means) if i != match(w, np.asarray(rec.mixture))]
        w = np.vstack([w[others[:MAX_COMPARED - 1]], rec.mixture])
    posterior = model.joint_posterior(table, w)
    if posterior is None:
        return unfitted
    index = match(w, np.asarray(rec.mixture))
    assert index is not None
    return {"value": _num(posterior.probability_best(index, seed=seed), 4), "among": int(len(w)),
            "model": posterior.model}
