"""One benchmark run: a strategy and a seed on the table back end, in-process, under a FLOPs budget.

Charging rule (as in arXiv 2503.21023): trials are charged their FLOPs (in pool mode a repeat of a
run already recorded that far is not: it trains nothing new), and mixtures *evaluated at the
target* count. After each
iteration the strategy's recommendation is evaluated at the target fidelity; that run is charged
unless the same mixture already ran there (as a trial or an earlier evaluation). A strategy
searching at a small proxy therefore pays for every answer it gives, at the target's price.
The curve reports, against cumulative FLOPs, the target objective of the current recommendation
and the best target objective evaluated so far.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from mixopt.backends.table import TableBackend
from mixopt.core.constraints import Constraints
from mixopt.core.observations import build_table
from mixopt.core.problem import Problem
from mixopt.core.simplex import mixture_key
from mixopt.core.trial import Trial
from mixopt.strategies.base import Strategy
from mixopt.strategies.registry import make_strategy
from mixopt.workflow.prior import initial_design_size
from mixopt.workflow.proposals import trial_seed

CURVE_COLUMNS = ["strategy", "seed", "iteration", "trials", "trial_flops", "eval_flops", "cumulative_flops",
                 "recommended_objective", "charged", "best_objective"]


@dataclass(frozen=True)
class StrategySpec:
    """A strategy as the benchmark runs it: a label, a strategy name and its options."""

    label: str
    name: str
    options: Mapping[str, Any] = field(default_factory=dict)


def reference_at_target(backend: TableBackend) -> np.ndarray | None:
    """`e` losses of the worst_excess reference at the target (``None`` for another objective)."""
    problem = backend.problem
    if problem.objective_kind != "worst_excess":
        return None
    return backend.losses(problem.objective_reference, problem.target)[1][-1]


def _run_batch(proposals: list, records: list[dict], evaluated: dict[tuple, float], backend: TableBackend, seed: int,
               iteration: int, excess_reference: np.ndarray | None) -> tuple[float, bool]:
    """Run an iteration's proposals on ``backend``, adding their records to ``records`` and their
    target objectives to ``evaluated``; returns the FLOPs charged for them and whether (in pool
    mode) they only repeated runs already made."""
    problem, trial_flops, seen = backend.problem, 0.0, {}
    for r in records:  # (mixture, scale) -> the longest run so far: a shorter one is a repeat
        k = (mixture_key(list(r["mixture"].values())), r["scale"])
        seen[k] = max(seen.get(k, -1), r["steps"] if r["status"] == "ok" else -1)
    repeats_only = backend.mode == "pool" and all(
        seen.get((mixture_key(p.mixture), p.fidelity.scale), -1) >= p.fidelity.steps for p in proposals)
    for j, proposal in enumerate(proposals):
        record = backend.run(Trial(proposal.mixture, proposal.fidelity, trial_seed(seed, iteration, j),
                                   iteration=iteration, index=j))
        records.append(record)
        k = (mixture_key(proposal.mixture), proposal.fidelity.scale)
        # a pool only replays recorded runs: a repeat (a pool smaller than the batch) trains nothing new
        repeat = backend.mode == "pool" and seen.get(k, -1) >= proposal.fidelity.steps
        if record["checkpoints"] and not repeat:
            trial_flops += record["checkpoints"][-1]["flops"]
        if record["status"] == "ok":
            seen[k] = max(seen.get(k, -1), proposal.fidelity.steps)
        if record["status"] == "ok" and proposal.fidelity == problem.target:
            evaluated[mixture_key(proposal.mixture)] = _final_objective(record, problem, excess_reference)
    return trial_flops, repeats_only


def _evaluate_recommendation(strategy: Strategy, records: list[dict], evaluated: dict[tuple, float],
                             backend: TableBackend, excess_reference: np.ndarray | None) -> tuple[float, bool, float]:
    """The strategy's recommendation from ``records``, run at the target unless it was already
    (and added to ``evaluated``); returns the FLOPs charged for it, whether it was charged, and its
    target objective (NaN: no recommendation yet, or its run failed)."""
    problem = backend.problem
    try:
        rec = strategy.recommend(build_table(records, problem), per_domain=False)  # only the mixture is charged
    except ValueError:  # nothing succeeded yet
        return 0.0, False, np.nan
    eval_flops, charged, key = 0.0, False, mixture_key(rec.mixture)
    if key not in evaluated:
        record = backend.run(Trial(rec.mixture, problem.target))
        charged = True
        if record["status"] == "ok":
            eval_flops = record["checkpoints"][-1]["flops"]
            evaluated[key] = _final_objective(record, problem, excess_reference)
    return eval_flops, charged, evaluated.get(key, np.nan)


def _final_objective(record: dict, problem: Problem, reference: np.ndarray | None) -> float:
    """The objective at a trial record's last checkpoint (a target run; ``reference``: the
    worst_excess reference's losses there, :func:`reference_at_target`)."""
    losses = record["checkpoints"][-1]["losses"]
    return float(problem.objective(np.array([losses[d] for d in problem.eval_domains]), reference))


def run_seed(spec: StrategySpec, seed: int, backend: TableBackend, budget_flops: float,
             initial_design: int, trials_per_iteration: int, stop_at: float | None = None,
             max_iterations: int | None = None, constraints: Constraints | None = None,
             prior: list[dict] | None = None, reference: np.ndarray | None = None) -> pd.DataFrame:
    """Run one strategy with one seed until ``budget_flops`` is spent; one curve row per iteration.

    A seed also stops when an iteration learns nothing new: in pool mode a repeated trial returns
    the recorded result again, so once a strategy only repeats mixtures it has tried and its
    recommendation is already evaluated, more iterations cannot change its curve.

    Args:
        stop_at: stop early once the best evaluated target objective is at or below this (the
            table's best: nothing can improve after it).
        max_iterations: a cap on iterations (a proxy strategy may need thousands of its cheap
            runs to spend a budget counted in target runs).
        constraints: what every proposal and recommendation keeps to (``None``: nothing).
        prior: trial records of earlier runs (``prior_runs``), seen from iteration 0 and never
            charged; iteration 0's design shrinks by the mixtures they cover.
        reference: the `d` reference mixture (the config's ``reference``): a possible answer, and
            what ``no_worse_than_reference`` compares with.

    Returns:
        A frame with :data:`CURVE_COLUMNS`.
    """
    problem = backend.problem
    target = problem.target
    strategy = make_strategy(spec.name, problem, seed, spec.options, space=backend, constraints=constraints,
                             reference=reference)
    excess_reference = reference_at_target(backend)  # once: every target run is scored against it
    records: list[dict] = list(prior or [])
    evaluated: dict[tuple, float] = {  # mixture -> objective at the target
        mixture_key(list(r["mixture"].values())): _final_objective(r, problem, excess_reference) for r in records
        if r["scale"] == target.scale and r["checkpoints"] and r["checkpoints"][-1]["step"] == target.steps}
    covered = len({mixture_key(list(r["mixture"].values())) for r in records})
    first = initial_design_size(initial_design, trials_per_iteration, covered)
    spent, rows, iteration = 0.0, [], 0
    while spent < budget_flops:
        n = first if iteration == 0 else trials_per_iteration
        table = build_table(records, problem)
        batch = strategy.propose(table, n, iteration)
        trial_flops, repeats_only = _run_batch(batch.proposals, records, evaluated, backend, seed, iteration,
                                               excess_reference)
        eval_flops, charged, rec_objective = _evaluate_recommendation(strategy, records, evaluated, backend,
                                                                      excess_reference)
        spent += trial_flops + eval_flops
        rows.append({
            "strategy": spec.label, "seed": seed, "iteration": iteration, "trials": len(batch.proposals),
            "trial_flops": trial_flops, "eval_flops": eval_flops, "cumulative_flops": spent,
            "recommended_objective": rec_objective, "charged": charged,
            "best_objective": min(evaluated.values()) if evaluated else np.nan,
        })
        iteration += 1
        if stop_at is not None and evaluated and min(evaluated.values()) <= stop_at:
            break
        if (repeats_only and not charged) or (max_iterations and iteration >= max_iterations):
            break
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)
