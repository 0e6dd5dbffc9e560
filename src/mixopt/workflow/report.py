"""best_mixture.yaml: the recommendation as a person reads it."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
import yaml

from mixopt.core.atomic import write_text
from mixopt.core.observations import at_fidelity, successful, trial_costs
from mixopt.core.problem import Problem
from mixopt.core.space import MixtureSpace
from mixopt.strategies.base import Recommendation, Strategy, best_observed
from mixopt.workflow.evidence import (
    domain_effects,
    evidence_model,
    probability_best,
    rank_correlations,
    trained_scales,
    versus_reference,
)


def _num(x: float | None, digits: int = 6) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), digits)


def recommendation_report(rec: Recommendation, problem: Problem, table: pd.DataFrame,
                          strategy: str, target_tokens: int) -> dict:
    """A plain mapping: mixture, predicted objective +- std, per-domain losses, provenance."""
    at_target = at_fidelity(table, problem.target)
    costs = trial_costs(table)
    weights = problem.mixture_dict(rec.mixture)
    domains = {}
    for i, d in enumerate(problem.eval_domains):
        domains[d] = ({"weight": weights[d]} if d in weights else {}) | {
            "loss": _num(rec.losses[i]),
            "loss_std": None if rec.loss_std is None else _num(rec.loss_std[i]),
            "objective_weight": _num(problem.objective_weights[i]),
        }
    report = {
        "strategy": strategy,
        "method": rec.method,
        "target": {
            "scale": problem.target.scale,
            "steps": problem.target.steps,
            "tokens": int(target_tokens),
            "trials_at_target": int(len(at_target)),
        },
        # full precision: the weights are copied into training configs and must sum to one
        "mixture": {d: float(w) for d, w in zip(problem.domains, rec.mixture)},
        "objective": {
            "value": _num(rec.objective),
            "std": _num(rec.objective_std),
            "kind": "predicted" if rec.objective_std is not None else "observed",
        },
        "domains": domains,
        "trials": {
            "total": int(len(costs)),
            "ok": len(successful(costs)),
            "failed": int((costs["status"] != "ok").sum()),
            "flops": float(costs["flops"].sum()),
        },
    }
    if not at_target.empty:
        best = best_observed(table, problem)
        report["best_observed"] = {
            "iteration": best.details["iteration"],
            "trial": best.details["trial"],
            "objective": _num(best.objective),
            "mixture": {d: float(w) for d, w in zip(problem.domains, best.mixture)},
        }
    if rec.fidelity != problem.target:
        # a proxy strategy's answer: its losses are predicted or observed at the proxy, not the target
        report["found_at"] = {"scale": rec.fidelity.scale, "steps": rec.fidelity.steps}
        report["objective"]["at"] = f"proxy scale {rec.fidelity.scale}, not the target: evaluate it at the target"
    if rec.details:
        report["details"] = {k: v for k, v in rec.details.items() if k != "hyperparameters"}
    return report


#: P(worse than the reference) from which the headline names a domain
SACRIFICE_PROBABILITY = 0.9


def headline(report: Mapping, problem: Problem) -> str:
    """One line a person reads first: the predicted objective, the trade-off against the reference
    (and the domain most likely to be sacrificed), how sure the model is it is the best, and
    whether the figure is an extrapolation."""
    objective, versus = report["objective"], report.get("versus_reference") or {}
    value = objective["value"]
    std = f" ± {objective['std']:.4g}" if objective.get("std") is not None else ""
    parts = [f"{objective['kind']} objective {value:.4g}{std} at {problem.target.scale}"
             if value is not None else "no objective predicted"]
    parts += _versus_best_observed(report)
    gap = (versus.get("objective") or {})
    if versus.get("recommended_is_reference"):
        parts.append(f"the recommendation is the {versus['reference']} reference itself")
    elif gap.get("difference") is not None:
        parts.append(f"{gap['difference']:+.4g} vs the {versus['reference']} reference "
                     f"(P(worse) {gap['p_worse']:.2f})")
    # the domains the recommendation probably sacrifices, worst first: what the mean hides
    worse = sorted(((d, v) for d, v in (versus.get("domains") or {}).items()
                    if v.get("p_worse") is not None and v["p_worse"] >= SACRIFICE_PROBABILITY),
                   key=lambda dv: -dv[1]["difference"])
    if worse and not versus.get("recommended_is_reference"):
        parts.append("worse than the reference on " + ", ".join(
            f"{d} {v['difference']:+.4g} (P {v['p_worse']:.2f})" for d, v in worse))
    no_worse = (report.get("details") or {}).get("no_worse_than_reference")
    if no_worse and not no_worse["meet"]:
        parts.append(f"NO_WORSE_THAN_REFERENCE NOT MET: none of {no_worse['considered']} considered is predicted "
                     f"within {no_worse['tolerance']:g} of the reference on every domain with P >= "
                     f"{no_worse['required_probability']:g} (this one: P {no_worse['probability']:.2f})")
    p_best = (report.get("transfer") or {}).get("p_best") or {}
    if p_best.get("value") is not None:
        parts.append(f"P(best of {p_best['among']} considered) {p_best['value']:.2f}")
    if report["target"]["trials_at_target"] == 0:
        scales = sorted({s for s in report.get("transfer", {}).get("scales_trained", [])})
        parts.append(f"EXTRAPOLATION: nothing ran at the target scale {problem.target.scale}; "
                     f"predicted from {', '.join(scales) or 'no trained scale'}")
    return "; ".join(parts)


def _versus_best_observed(report: Mapping) -> list[str]:
    """The best trial run at the target, and why the recommendation is another mixture when it is."""
    best = report.get("best_observed")
    if best is None:
        return []
    where = f"iteration {best['iteration']}, trial {best['trial']}"
    if np.allclose(list(best["mixture"].values()), list(report["mixture"].values()), atol=1e-9):
        return [f"the best trial observed at the target ({where})"]
    value, details = report["objective"]["value"], report.get("details") or {}
    why = f"{report['method']}" + (f", from {details['from']}" if details.get("from") else "")
    if value is not None and best["objective"] is not None and value > best["objective"]:
        why += (f"; the model predicts the best observed trial at more than its {best['objective']:.4g} (it reads "
                "part of that trial's value as noise) and this mixture lower still")
    return [f"not the best trial observed ({best['objective']:.4g}, {where}): recommended by {why}"]


def evidence_report(strategy: Strategy, table: pd.DataFrame, reference_name: str, target_tokens: int,
                    space: MixtureSpace | None = None) -> dict:
    """best_mixture.yaml's content: the headline, the strategy's recommendation, the reference
    mixture (``strategy.reference``), ``versus_reference`` and ``transfer``."""
    problem, reference = strategy.problem, strategy.reference
    assert reference is not None, "evidence_report needs the strategy's reference mixture"
    rec = strategy.recommend(table)
    model = evidence_model(strategy, table, space=space)
    report = recommendation_report(rec, problem, table, strategy.name, target_tokens)
    report["reference"] = {"name": reference_name, "mixture": problem.mixture_dict(reference)}
    report["versus_reference"] = versus_reference(rec, reference, reference_name, model, table, problem)
    report["domain_effects"] = domain_effects(rec, model, table, problem)
    report["transfer"] = {
        "rank_correlation": rank_correlations(table, problem),
        "p_best": probability_best(rec, model, table, strategy.seed),
        "scales_trained": trained_scales(table),
    }
    return {"headline": headline(report, problem)} | report


def write_report(report: Mapping, path: str | Path) -> None:
    write_text(path, yaml.safe_dump(dict(report), sort_keys=False, default_flow_style=False, allow_unicode=True))
