"""What is being optimised: the domains, the objective over their losses, and the target fidelity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np


@dataclass(frozen=True)
class Fidelity:
    """A training budget: a named model scale trained for a number of optimiser steps."""

    scale: str
    steps: int


@dataclass(frozen=True)
class Problem:
    """A mixture problem.

    Attributes:
        domains: the d domain names, in the order of every mixture vector.
        objective_weights: `d`-vector; the objective is ``objective_weights @ losses``.
        target: the fidelity whose objective is minimised and at which mixtures are recommended.
    """

    domains: tuple[str, ...]
    objective_weights: np.ndarray
    target: Fidelity

    @classmethod
    def from_config(cls, config: Mapping) -> "Problem":
        from mixopt.config import objective_weights, target_steps

        weights = objective_weights(config)
        domains = tuple(config["domains"])
        return cls(
            domains=domains,
            objective_weights=np.array([weights[d] for d in domains], dtype=float),
            target=Fidelity(config["target"]["scale"], target_steps(config)),
        )

    @property
    def dim(self) -> int:
        return len(self.domains)

    def objective(self, losses: np.ndarray) -> np.ndarray:
        """`... x d` per-domain losses -> `...` objective."""
        return np.asarray(losses, dtype=float) @ self.objective_weights

    def mixture_dict(self, w: np.ndarray) -> dict[str, float]:
        return {d: float(x) for d, x in zip(self.domains, w)}
