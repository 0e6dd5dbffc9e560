"""The uniform mixture, every trial: the baseline every method must beat."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mixopt.strategies.base import ProposalBatch, Strategy


class Uniform(Strategy):
    """Proposes 1/d for every domain. Repeated trials differ only in their training seed, so they
    measure the run-to-run noise of the objective. From a pool: the candidate nearest to uniform."""

    name = "uniform"

    def search(self, observations: pd.DataFrame, n: int, iteration: int) -> ProposalBatch:
        w = self.snap(np.full((n, self.problem.dim), 1.0 / self.problem.dim))
        return ProposalBatch(self.proposals_at(w), {} if self.candidates is None else {"design": "pool candidate nearest to uniform"})
