"""Warm start: earlier runs (``prior_runs``) as observations of the loop.

The runs become trial records of iteration -1 (:func:`mixopt.tables.prior_runs.prior_metrics`);
iteration 0's design shrinks by the mixtures they cover.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mixopt.core.observations import mixtures, own_trials
from mixopt.core.problem import Problem
from mixopt.settings import Settings
from mixopt.tables.prior_runs import PRIOR_ITERATION, prior_metrics

__all__ = ["PRIOR_ITERATION", "initial_design_size", "prior_metrics", "prior_mixtures", "trials_to_propose"]


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
