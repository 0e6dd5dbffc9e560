"""Sobol search: one scrambled Sobol sequence on the simplex, continued from iteration to iteration."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import qmc

from mixopt.core.observations import own_trials
from mixopt.strategies.base import ProposalBatch, Strategy


def sobol_simplex(n: int, d: int, seed: int) -> np.ndarray:
    """The first ``n`` points (`n x d`) of a scrambled Sobol sequence mapped onto the simplex.

    A point ``u`` of the `d - 1` cube becomes the spacings of its sorted coordinates, which is
    uniform on the simplex (Devroye 1986, ch. V.2); scipy's QMC has no simplex of its own.
    """
    if d == 1:
        return np.ones((n, 1))
    sobol = qmc.Sobol(d - 1, scramble=True, seed=seed)
    u = np.sort(sobol.random_base2(max(0, int(np.ceil(np.log2(max(n, 1)))))), axis=1)[:n]
    edges = np.hstack([np.zeros((len(u), 1)), u, np.ones((len(u), 1))])
    return np.diff(edges, axis=1)


class SobolSearch(Strategy):
    """Scrambled Sobol points (scipy.stats.qmc, seeded by ``seed``) on the simplex, inside the
    constraints; each iteration takes the next points of the same sequence, so the trials of all
    iterations together fill the simplex evenly. From a pool: for each point, the nearest
    candidate (L1) not run yet."""

    name = "sobol"

    def search(self, observations: pd.DataFrame, n: int, iteration: int) -> ProposalBatch:
        own = own_trials(observations)
        # the points already taken: one per trial of this search (a failed trial's too)
        done = len(own[["iteration", "trial"]].drop_duplicates()) if len(own) else 0
        points = self._sequence(done + n)[done:]
        if self.candidates is None:
            return ProposalBatch(self.proposals_at(points), {"sobol_index": done})
        free = self.unobserved(observations)
        chosen: list[int] = []
        for w in points:
            gaps = np.abs(free - w).sum(-1)
            gaps[chosen] = np.inf
            if not np.isfinite(gaps).any():  # fewer unrun candidates than trials: repeats
                gaps = np.abs(free - w).sum(-1)
            chosen.append(int(gaps.argmin()))
        return ProposalBatch(self.proposals_at(free[chosen]),
                             {"sobol_index": done, "design": "pool candidates nearest to Sobol points"})

    def _sequence(self, n: int) -> np.ndarray:
        """The first ``n`` points of the sequence inside the box of the strategy's fidelity: the
        simplex points shifted onto ``lower + (1 - sum lower) * v`` (keeps the lower bounds and
        the sum), those above an upper bound skipped (the feasible part stays evenly filled)."""
        box, d = self.box(), self.problem.dim
        size = max(n, 1)
        for _ in range(12):
            points = box.lower + (1.0 - box.lower.sum()) * sobol_simplex(size, d, self.seed)
            inside = points[box.contains(points)]
            if len(inside) >= n:
                return inside[:n]
            size *= 4
        raise ValueError(f"sobol: fewer than {n} of {size // 4} Sobol points satisfy the constraints of "
                         f"{list(self.problem.domains)}: the feasible set is too small to search")
