"""The one interface every optimiser and baseline implements."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

import numpy as np
import pandas as pd

from mixopt.observations import at_fidelity, losses, mixtures
from mixopt.problem import Fidelity, Problem
from mixopt.simplex import check_mixture, project, space_filling


@dataclass(frozen=True)
class Proposal:
    """One trial to run: a mixture (`d`) trained at a fidelity."""

    mixture: np.ndarray
    fidelity: Fidelity


@dataclass
class ProposalBatch:
    """The q trials of one iteration, with what the strategy wants a person to see."""

    proposals: list[Proposal]
    diagnostics: dict[str, Any] = field(default_factory=dict)


@dataclass
class Recommendation:
    """The mixture to train at the target.

    ``objective_std`` and ``loss_std`` are ``None`` when the strategy has no model of uncertainty
    (it recommends the best mixture it observed).
    """

    mixture: np.ndarray
    fidelity: Fidelity
    objective: float
    objective_std: float | None
    losses: np.ndarray
    loss_std: np.ndarray | None
    method: str
    details: dict[str, Any] = field(default_factory=dict)


class Strategy(abc.ABC):
    """Proposes trials from the observations so far and recommends a mixture for the target.

    Args:
        problem: domains, objective and target fidelity.
        seed: makes ``propose`` and ``recommend`` reproducible.
        options: strategy-specific options, checked by :meth:`check_options`.
    """

    name: ClassVar[str]
    #: option name -> default; an option not listed here is an error.
    defaults: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, problem: Problem, seed: int = 0, **options: Any) -> None:
        self.check_options(options, problem.domains)
        self.problem = problem
        self.seed = int(seed)
        self.options = {**self.defaults, **options}

    @classmethod
    def check_options(cls, options: Mapping[str, Any], domains: tuple[str, ...] | list[str]) -> None:
        """Raise ValueError naming an unknown or bad option."""
        unknown = sorted(set(options) - set(cls.defaults))
        if unknown:
            raise ValueError(f"unknown option(s) {unknown} for strategy {cls.name!r}; known: {sorted(cls.defaults)}")

    def iteration_seed(self, iteration: int) -> int:
        return self.seed * 100_003 + iteration

    @abc.abstractmethod
    def propose(self, observations: pd.DataFrame, n: int, iteration: int) -> ProposalBatch:
        """Propose ``n`` trials for ``iteration`` given the observations of earlier iterations."""

    def recommend(self, observations: pd.DataFrame) -> Recommendation:
        """Default: the best mixture observed at the target fidelity."""
        return best_observed(observations, self.problem)

    def at_target(self, mixtures_: np.ndarray) -> list[Proposal]:
        """`n x d` mixtures -> proposals at the target fidelity."""
        out = []
        for w in project(np.atleast_2d(mixtures_)):
            check_mixture(w, self.problem.domains)
            out.append(Proposal(w, self.problem.target))
        return out

    def initial_design(self, n: int, iteration: int) -> list[Proposal]:
        return self.at_target(space_filling(n, self.problem.dim, self.iteration_seed(iteration)))


def best_observed(observations: pd.DataFrame, problem: Problem) -> Recommendation:
    """The observed mixture with the lowest objective at the target fidelity."""
    at_target = at_fidelity(observations, problem.target)
    if at_target.empty:
        raise ValueError(
            f"no successful trial at the target ({problem.target.scale}, {problem.target.steps} steps) "
            "to recommend from"
        )
    best = at_target.loc[at_target["objective"].idxmin()]
    row = best.to_frame().T
    return Recommendation(
        mixture=mixtures(row, problem)[0],
        fidelity=problem.target,
        objective=float(best["objective"]),
        objective_std=None,
        losses=losses(row, problem)[0],
        loss_std=None,
        method="best observed",
        details={"iteration": int(best["iteration"]), "trial": int(best["trial"])},
    )
