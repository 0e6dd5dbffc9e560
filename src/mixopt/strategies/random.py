"""Random search: independent Dirichlet draws every iteration."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mixopt.core.simplex import dirichlet
from mixopt.strategies import options as opt
from mixopt.strategies.base import ProposalBatch, Strategy


class RandomSearch(Strategy):
    """Dirichlet(alpha) mixtures; alpha = 1 is uniform on the simplex. From a pool of candidates:
    distinct candidates not yet tried, uniformly at random (alpha is then unused)."""

    name = "random"
    declared_options = {"alpha": opt.positive_number(1.0)}

    def search(self, observations: pd.DataFrame, n: int, iteration: int) -> ProposalBatch:
        if self.candidates is not None:
            free = self.unobserved(observations)
            rng = np.random.default_rng(self.iteration_seed(iteration))
            pick = rng.choice(len(free), size=n, replace=n > len(free))
            return ProposalBatch(self.proposals_at(free[pick]), {"design": "random pool candidates"})
        seed, box = self.iteration_seed(iteration), self.box()
        w = dirichlet(n, self.problem.dim, self.options["alpha"], seed)
        if box.is_unconstrained:
            return ProposalBatch(self.proposals_at(w), {"alpha": self.options["alpha"]})
        # Dirichlet draws inside the constraints (rejection keeps their law there); a box too thin
        # for rejection to fill gets space-filling points inside it
        draws = dirichlet(64 * n, self.problem.dim, self.options["alpha"], seed)
        inside = draws[box.contains(draws)][:n]
        w = np.vstack([inside, box.sample(n - len(inside), seed)])
        return ProposalBatch(self.proposals_at(w), {"alpha": self.options["alpha"], "inside_constraints": len(inside)})
