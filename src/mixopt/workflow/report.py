"""best_mixture.yaml: the recommendation as a person reads it."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
import yaml

from mixopt.core.atomic import write_text
from mixopt.core.observations import at_fidelity, trial_costs
from mixopt.core.problem import Problem
from mixopt.strategies.base import Recommendation, best_observed


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
            "ok": int((costs["status"] == "ok").sum()),
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


def write_report(report: Mapping, path: str | Path) -> None:
    write_text(path, yaml.safe_dump(dict(report), sort_keys=False, default_flow_style=False))
