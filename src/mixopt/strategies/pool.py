"""Strategies over a pool: only the mixtures a back end recorded may run (a run table's pool).

:class:`PoolMixin` gives :class:`~mixopt.strategies.base.Strategy` its ``candidates`` (the
mixtures that may be proposed or recommended) and ``available`` (which of them can run at each
fidelity), and the helpers a strategy picks from them with. Without a pool (``candidates`` is
``None``) any mixture on the simplex may run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np
import pandas as pd

from mixopt.core.observations import at_fidelity, mixtures
from mixopt.core.problem import Fidelity
from mixopt.core.simplex import is_among
from mixopt.core.space import MixtureSpace, NotInSpace, common_pool, runnable_mask

if TYPE_CHECKING:
    from mixopt.core.constraints import MixtureBox
    from mixopt.core.problem import Problem


class PoolMixin:
    """The pool of a strategy (see the :class:`~mixopt.strategies.base.Strategy` docstring for
    ``candidates`` and ``available``); ``_restrict`` takes them from a back end."""

    name: str
    picks_fidelity: bool
    problem: Problem
    candidates: np.ndarray | None
    available: dict[Fidelity, np.ndarray] | None
    #: the strategy's (:class:`~mixopt.strategies.base.Strategy`)
    fidelities: Callable[[], list[Fidelity]]
    box: Callable[..., MixtureBox]

    def _restrict(self, space: MixtureSpace) -> None:
        """Take ``candidates`` and ``available`` from ``space`` and the constraints (see the class
        docstring)."""
        fidelities, target = self.fidelities(), self.problem.target
        if not self.picks_fidelity:
            everywhere = list(dict.fromkeys([*fidelities, target]))
            pool = common_pool(space, everywhere, name=self.name)
            if pool is not None:
                pool = pool[np.all([self.box(f).contains(pool) for f in everywhere], axis=0)]
                if len(pool) == 0:
                    raise NotInSpace(f"{self.name}: no recorded mixture keeps to the constraints")
            self.candidates = pool
            return
        pool = common_pool(space, [target], name=self.name)
        if pool is None:
            return
        pool = pool[self.box(target).contains(pool)]
        if len(pool) == 0:
            raise NotInSpace(f"{self.name}: no mixture recorded at the target keeps to the constraints")
        available = {f: runnable_mask(space, pool, f) & self.box(f).contains(pool) for f in fidelities}
        if not any(mask.any() for mask in available.values()):
            raise ValueError(f"{self.name}: none of the target's mixtures can run at "
                             f"{[(f.scale, f.steps) for f in fidelities]}")
        self.candidates, self.available = pool, available

    def snap(self, mixtures_: np.ndarray) -> np.ndarray:
        """`n x d` mixtures -> the nearest candidates (L1); unchanged when any mixture may run."""
        w = np.atleast_2d(mixtures_)
        if self.candidates is None:
            return w
        gaps = np.abs(w[:, None, :] - self.candidates[None, :, :]).sum(-1)
        return self.candidates[gaps.argmin(axis=1)]

    def runnable(self, fidelity: Fidelity) -> np.ndarray:
        """The candidates that can run at ``fidelity`` inside its constraints (`k x d`)."""
        assert self.candidates is not None
        if self.available is None or fidelity not in self.available:
            return self.candidates[self.box(fidelity).contains(self.candidates)]
        return self.candidates[self.available[fidelity]]

    def unobserved(self, observations: pd.DataFrame, fidelity: Fidelity | None = None) -> np.ndarray:
        """Candidates that can run at ``fidelity`` (default: the strategy's) without a trial there
        yet (`k x d`; all of them if none are left, since then only repeats remain)."""
        fidelity = fidelity or self.fidelity
        pool = self.runnable(fidelity)
        seen = mixtures(at_fidelity(observations, fidelity), self.problem)
        if len(seen) == 0:
            return pool
        fresh = pool[~is_among(pool, seen)]
        return fresh if len(fresh) else pool
