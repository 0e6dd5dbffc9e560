"""A given mixture, every trial: to evaluate a mixture someone already has (e.g. a published one)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mixopt.core.simplex import check_mixture
from mixopt.strategies import options as opt
from mixopt.strategies.base import ProposalBatch, Strategy


class Fixed(Strategy):
    """Options: ``mixture``, domain -> weight (every domain named, weights sum to 1). From a pool:
    the candidate nearest to it."""

    name = "fixed"
    declared_options = {"mixture": opt.Option(None, "a mapping of every domain to its weight",
                                              lambda v: isinstance(v, dict))}

    @classmethod
    def check_options(cls, options, problem) -> None:
        mixture = options.get("mixture")
        if not isinstance(mixture, dict):
            raise ValueError(f"fixed: 'mixture' must map every domain to a weight, got {mixture!r}")
        super().check_options(options, problem)
        domains = problem.domains
        unknown = sorted(set(mixture) - set(domains))
        missing = sorted(set(domains) - set(mixture))
        if unknown or missing:
            raise ValueError(f"fixed: mixture has unknown domain(s) {unknown} and lacks {missing}")
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in mixture.values()):
            raise ValueError(f"fixed: mixture weights must be numbers, got {mixture}")
        try:
            check_mixture(np.array([mixture[d] for d in domains], dtype=float), tuple(domains))
        except ValueError as e:
            raise ValueError(f"fixed: {e}") from None

    def search(self, observations: pd.DataFrame, n: int, iteration: int) -> ProposalBatch:
        w = np.array([self.options["mixture"][d] for d in self.problem.domains], dtype=float)
        return ProposalBatch(self.proposals_at(self.snap(np.tile(w, (n, 1)))),
                             {} if self.candidates is None else {"design": "pool candidate nearest to the mixture"})
