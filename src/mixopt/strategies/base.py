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
        problem: domains, objective and fidelities.
        seed: makes ``propose`` and ``recommend`` reproducible.
        candidates: `m x d` mixtures, the only ones that may be proposed or recommended (a run
            table's pool); ``None`` searches the whole simplex.
        options: strategy-specific options, checked by :meth:`check_options`, plus the option
            every strategy takes, ``scale``: search at that (proxy) scale's full run instead of
            the target; the recommendation is then the best mixture *at that scale*, and who uses
            it at the target must evaluate it there.

    Attributes:
        available: with ``candidates``, fidelity -> `m` booleans: which candidates can run at that
            fidelity (a run table records some mixtures only at some scales and steps); ``None``:
            every candidate at every fidelity. Only strategies that pick the fidelity of each
            trial (``picks_fidelity``) are given one.
    """

    name: ClassVar[str]
    #: True for strategies that choose each trial's fidelity (their pool may differ per fidelity).
    picks_fidelity: ClassVar[bool] = False
    #: option name -> default; an option not listed here (or in COMMON_DEFAULTS) is an error.
    defaults: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, problem: Problem, seed: int = 0, candidates: np.ndarray | None = None,
                 **options: Any) -> None:
        self.check_options(options, problem.domains)
        self.problem = problem
        self.seed = int(seed)
        self.options = {**COMMON_DEFAULTS, **self.defaults, **options}
        self.fidelity = problem.fidelity(self.options["scale"])
        self.candidates = None if candidates is None else np.asarray(candidates, dtype=float)
        if self.candidates is not None and (self.candidates.ndim != 2 or self.candidates.shape[1] != problem.dim
                                            or len(self.candidates) == 0):
            raise ValueError(f"candidates must be a non-empty m x {problem.dim} array, got shape "
                             f"{self.candidates.shape}")
        self.available: dict[Fidelity, np.ndarray] | None = None

    @classmethod
    def check_options(cls, options: Mapping[str, Any], domains: tuple[str, ...] | list[str]) -> None:
        """Raise ValueError naming an unknown or bad option."""
        unknown = sorted(set(options) - set(cls.defaults) - set(COMMON_DEFAULTS))
        if unknown:
            raise ValueError(f"unknown option(s) {unknown} for strategy {cls.name!r}; "
                             f"known: {sorted({*cls.defaults, *COMMON_DEFAULTS})}")
        scale = options.get("scale")
        if scale is not None and not isinstance(scale, str):
            raise ValueError(f"option 'scale' must be a scale name, got {scale!r}")

    def fidelities(self) -> list[Fidelity]:
        """The fidelities this strategy may propose trials at."""
        return [self.fidelity]

    @classmethod
    def own_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """The options specific to this strategy (without the common ones)."""
        return {k: v for k, v in options.items() if k not in COMMON_DEFAULTS}

    def iteration_seed(self, iteration: int) -> int:
        return self.seed * 100_003 + iteration

    @abc.abstractmethod
    def propose(self, observations: pd.DataFrame, n: int, iteration: int) -> ProposalBatch:
        """Propose ``n`` trials for ``iteration`` given the observations of earlier iterations."""

    def recommend(self, observations: pd.DataFrame, per_domain: bool = True) -> Recommendation:
        """The mixture to train at the target; default: the best observed at the strategy's fidelity.

        ``per_domain=False``: only the mixture and its objective are needed (a benchmark), so a
        model-based strategy may skip its per-domain models (``losses`` are then NaN).
        """
        return best_observed(observations, self.problem, self.fidelity)

    # -- helpers -------------------------------------------------------------------------------

    def proposals_at(self, mixtures_: np.ndarray, fidelity: Fidelity | None = None) -> list[Proposal]:
        """`n x d` mixtures -> proposals at ``fidelity`` (default: the strategy's)."""
        out = []
        for w in project(np.atleast_2d(mixtures_)):
            check_mixture(w, self.problem.domains)
            out.append(Proposal(w, fidelity or self.fidelity))
        return out

    def snap(self, mixtures_: np.ndarray) -> np.ndarray:
        """`n x d` mixtures -> the nearest candidates (L1); unchanged when any mixture may run."""
        w = np.atleast_2d(mixtures_)
        if self.candidates is None:
            return w
        gaps = np.abs(w[:, None, :] - self.candidates[None, :, :]).sum(-1)
        return self.candidates[gaps.argmin(axis=1)]

    def runnable(self, fidelity: Fidelity) -> np.ndarray:
        """The candidates that can run at ``fidelity`` (`k x d`)."""
        assert self.candidates is not None
        if self.available is None or fidelity not in self.available:
            return self.candidates
        return self.candidates[self.available[fidelity]]

    def unobserved(self, observations: pd.DataFrame, fidelity: Fidelity | None = None) -> np.ndarray:
        """Candidates that can run at ``fidelity`` (default: the strategy's) without a trial there
        yet (`k x d`; all of them if none are left, since then only repeats remain)."""
        fidelity = fidelity or self.fidelity
        pool = self.runnable(fidelity)
        seen = mixtures(at_fidelity(observations, fidelity), self.problem)
        if len(seen) == 0:
            return pool
        gaps = np.abs(pool[:, None, :] - seen[None, :, :]).max(-1).min(-1)
        fresh = pool[gaps > 1e-6]
        return fresh if len(fresh) else pool

    def initial_design(self, n: int, iteration: int, observations: pd.DataFrame | None = None,
                       fidelity: Fidelity | None = None) -> list[Proposal]:
        """Scrambled Sobol points on the simplex at ``fidelity`` (default: the strategy's); from a
        pool, the nearest distinct unused candidates that can run there."""
        fidelity = fidelity or self.fidelity
        points = space_filling(n, self.problem.dim, self.iteration_seed(iteration))
        if self.candidates is None:
            return self.proposals_at(points, fidelity)
        free = self.unobserved(observations, fidelity) if observations is not None else self.runnable(fidelity)
        chosen: list[int] = []
        for w in points:
            gaps = np.abs(free - w).sum(-1)
            gaps[chosen] = np.inf
            if np.isfinite(gaps).any():
                chosen.append(int(gaps.argmin()))
        return self.proposals_at(free[chosen], fidelity)


COMMON_DEFAULTS: Mapping[str, Any] = {"scale": None}


def best_observed(observations: pd.DataFrame, problem: Problem, fidelity: Fidelity | None = None) -> Recommendation:
    """The observed mixture with the lowest objective at ``fidelity`` (default: the target)."""
    fidelity = fidelity or problem.target
    rows = at_fidelity(observations, fidelity)
    if rows.empty:
        where = "the target" if fidelity == problem.target else "proxy"
        raise ValueError(f"no successful trial at {where} ({fidelity.scale}, {fidelity.steps} steps) to recommend from")
    best = rows.loc[rows["objective"].idxmin()]
    row = best.to_frame().T
    return Recommendation(
        mixture=mixtures(row, problem)[0],
        fidelity=fidelity,
        objective=float(best["objective"]),
        objective_std=None,
        losses=losses(row, problem)[0],
        loss_std=None,
        method="best observed",
        details={"iteration": int(best["iteration"]), "trial": int(best["trial"])},
    )
