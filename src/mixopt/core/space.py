"""Which mixtures may be proposed at a fidelity: anywhere on the simplex, or a recorded pool.

A back end answers :meth:`MixtureSpace.mixtures_at`; the helpers here turn its answers into the
pool a strategy searches, so strategies never need to know which back end they run against.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

from mixopt.core.problem import Fidelity
from mixopt.core.simplex import is_among


class NotInSpace(ValueError):
    """No mixture can run at every fidelity a strategy needs."""


class MixtureSpace(Protocol):
    """What may be proposed at each fidelity."""

    def mixtures_at(self, fidelity: Fidelity) -> np.ndarray | None:
        """`m x d` mixtures that can run at ``fidelity``; ``None``: any mixture on the simplex."""
        ...


class Pool:
    """A fixed set of `m x d` candidate mixtures, runnable at every fidelity."""

    def __init__(self, mixtures: np.ndarray) -> None:
        self.mixtures = np.asarray(mixtures, dtype=float)

    def mixtures_at(self, fidelity: Fidelity) -> np.ndarray:
        return self.mixtures


def common_pool(space: MixtureSpace, fidelities: Sequence[Fidelity], name: str = "the pool") -> np.ndarray | None:
    """`m x d` mixtures that can run at *every* one of ``fidelities`` (``None``: any), in the order
    the space gives them at the first.

    Raises:
        NotInSpace: naming ``name`` and the fidelities when no mixture can.
    """
    pools = [space.mixtures_at(f) for f in fidelities]
    if any(p is None for p in pools):
        return None
    pool = pools[0]
    for other in pools[1:]:
        pool = pool[is_among(pool, other)]
    if len(pool) == 0:
        raise NotInSpace(f"{name}: no mixture is recorded at all of {[(f.scale, f.steps) for f in fidelities]}")
    return pool


def runnable_mask(space: MixtureSpace, mixtures: np.ndarray, fidelity: Fidelity) -> np.ndarray:
    """`k` booleans: which of `k x d` ``mixtures`` can run at ``fidelity``."""
    at = space.mixtures_at(fidelity)
    if at is None:
        return np.ones(len(np.atleast_2d(mixtures)), dtype=bool)
    return is_among(np.atleast_2d(mixtures), at)
