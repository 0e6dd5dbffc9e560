"""Random search: independent Dirichlet draws every iteration."""

from __future__ import annotations

import pandas as pd

from mixopt.simplex import dirichlet
from mixopt.strategies.base import ProposalBatch, Strategy


class RandomSearch(Strategy):
    """Dirichlet(alpha) mixtures at the target fidelity; alpha = 1 is uniform on the simplex."""

    name = "random"
    defaults = {"alpha": 1.0}

    @classmethod
    def check_options(cls, options, domains) -> None:
        super().check_options(options, domains)
        alpha = options.get("alpha", 1.0)
        if not isinstance(alpha, (int, float)) or alpha <= 0:
            raise ValueError(f"random: alpha must be a positive number, got {alpha!r}")

    def propose(self, observations: pd.DataFrame, n: int, iteration: int) -> ProposalBatch:
        w = dirichlet(n, self.problem.dim, self.options["alpha"], self.iteration_seed(iteration))
        return ProposalBatch(self.at_target(w), {"alpha": self.options["alpha"]})
