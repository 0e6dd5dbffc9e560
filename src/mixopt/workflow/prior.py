"""Warm start: earlier runs (``prior_runs``, a long-format run table) as observations of the loop.

Each run of the table whose mixture lives on the problem's domains becomes a trial record of
iteration -1, marked ``prior``: every strategy sees it from iteration 0 on, no job retrains it,
and it costs the search nothing. Iteration 0's design shrinks by the mixtures they cover.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mixopt.core.errors import ConfigError
from mixopt.core.observations import mixtures, own_trials
from mixopt.core.problem import Problem
from mixopt.settings import Settings
from mixopt.tables.runtable import RunTableError, read_run_table

#: the iteration prior runs are filed under: before the loop's first
PRIOR_ITERATION = -1


def prior_metrics(path: str | Path, problem: Problem) -> list[dict]:
    """The runs of the long-format table at ``path`` as trial records (metrics.json's schema).

    A run that puts weight on a domain the problem lacks is left out (it trained on other data),
    and so is a run at a scale the problem lacks (no model of the config knows its size); both are
    counted in the printed summary.

    Raises:
        ConfigError: naming ``prior_runs`` when the table cannot be read or lacks one of the
            problem's mixture or evaluation domains.
    """
    try:
        table = read_run_table(path)
    except (RunTableError, OSError) as e:
        raise ConfigError(f"config key 'prior_runs': {e}") from None
    missing = [d for d in problem.domains if d not in table.mixture_domains]
    unevaluated = [d for d in problem.eval_domains if d not in table.eval_domains]
    if missing or unevaluated:
        raise ConfigError(f"config key 'prior_runs': {path} lacks "
                          + "; ".join(part for part in (f"mixture column(s) w_<d> for {missing}" if missing else "",
                                                        f"losses on {unevaluated}" if unevaluated else "") if part))
    extra = [f"w_{d}" for d in table.mixture_domains if d not in problem.domains]
    records, other_data, other_scale = [], 0, set()
    for k, (run_id, rows) in enumerate(table.data.groupby("run_id", sort=True)):
        first = rows.iloc[0]
        if extra and (first[extra].to_numpy(dtype=float) > 0).any():
            other_data += 1
            continue
        if str(first["scale"]) not in problem.full_steps:
            other_scale.add(str(first["scale"]))
            continue
        checkpoints = []
        for step, at in rows.groupby("step", sort=True):
            loss = dict(zip(at["domain"], at["loss"].astype(float)))
            tokens = float(at["tokens"].iloc[0])
            checkpoints.append({"step": int(step), "tokens": tokens, "flops": 6.0 * float(first["params"]) * tokens,
                                "losses": {d: loss.get(d) for d in problem.eval_domains}})
        records.append({
            "iteration": PRIOR_ITERATION, "trial": k, "status": "ok", "error": None, "prior": True,
            "run_id": str(run_id), "scale": str(first["scale"]), "seed": None, "n_params": float(first["params"]),
            "steps": int(rows["step"].max()), "wall_time_s": None,
            "mixture": {d: float(first[f"w_{d}"]) for d in problem.domains}, "checkpoints": checkpoints,
        })
    if other_data or other_scale:
        print(f"prior_runs {path}: {len(records)} runs used; left out {other_data} on other domains"
              + (f", the runs at scales {sorted(other_scale)}, which the config lacks" if other_scale else ""))
    return records


def prior_mixtures(table: pd.DataFrame, problem: Problem) -> np.ndarray:
    """`k x d` distinct mixtures of the observations' prior runs."""
    if "prior" not in table.columns or table.empty:
        return np.zeros((0, problem.dim))
    prior = table[table["prior"].astype(bool)]
    return np.unique(mixtures(prior, problem), axis=0) if len(prior) else np.zeros((0, problem.dim))


def initial_design_size(initial_design: int, trials_per_iteration: int, covered: int) -> int:
    """Iteration 0's trials when earlier runs cover ``covered`` distinct mixtures: the design less
    those, but at least ``trials_per_iteration`` (then iteration 0 is a search iteration like any other)."""
    return max(initial_design - covered, trials_per_iteration)


def trials_to_propose(settings: Settings, problem: Problem, table: pd.DataFrame, iteration: int) -> int:
    """Trials of ``iteration``: the budget's, but iteration 0's initial design less the distinct
    mixtures the prior runs cover (at least ``trials_per_iteration``: then iteration 0 is a
    search iteration like any other)."""
    budget = settings.budget
    if iteration != 0 or len(own_trials(table)) == len(table):
        return budget.trials(iteration)
    return initial_design_size(budget.initial_design, budget.trials_per_iteration, len(prior_mixtures(table, problem)))
