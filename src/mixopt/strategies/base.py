"""The one interface every optimiser and baseline implements."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

import numpy as np
import pandas as pd

from mixopt.core.observations import at_fidelity, losses, mixtures
from mixopt.core.problem import Fidelity, Problem
from mixopt.core.simplex import check_mixture, is_among, project, space_filling
from mixopt.core.space import MixtureSpace, common_pool, runnable_mask
from mixopt.strategies import options as opt


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
    (it recommends the best mixture it observed). ``considered``: the `k x d` mixtures the strategy
    chose among (``None``: not a finite set, or not known).
    """

    mixture: np.ndarray
    fidelity: Fidelity
    objective: float
    objective_std: float | None
    losses: np.ndarray
    loss_std: np.ndarray | None
    method: str
    details: dict[str, Any] = field(default_factory=dict)
    considered: np.ndarray | None = None


class Strategy(abc.ABC):
    """Proposes trials from the observations so far and recommends a mixture for the target.

    Args:
        problem: domains, objective and fidelities.
        seed: makes ``propose`` and ``recommend`` reproducible.
        space: which mixtures may run at each fidelity (a run table's pool); ``None``: the whole
            simplex everywhere.
        options: strategy-specific options (declared in ``declared_options``), plus the option
            every strategy takes, ``scale``: search at that (proxy) scale's full run instead of
            the target; the recommendation is then the best mixture *at that scale*, and who uses
            it at the target must evaluate it there.

    Attributes:
        candidates: `m x d` mixtures, the only ones that may be proposed or recommended (from
            ``space``); ``None`` searches the whole simplex. A strategy that picks the fidelity of
            each trial (``picks_fidelity``) gets every mixture that can run at the target; any
            other gets those that can run at all its fidelities and at the target (where its
            recommendation is evaluated).
        available: with ``candidates``, fidelity -> `m` booleans: which candidates can run at that
            fidelity (a run table records some mixtures only at some scales and steps); ``None``:
            every candidate at every fidelity. Only ``picks_fidelity`` strategies get one.
        reference: a `d` mixture the user compares recommendations with (``None``: none). A model
            strategy weighs it among its answers, so "keep the reference" can be the recommendation.
    """

    name: ClassVar[str]
    #: True for strategies that choose each trial's fidelity (their pool may differ per fidelity).
    picks_fidelity: ClassVar[bool] = False
    #: option name -> its default and check; ``scale`` is added for every strategy.
    declared_options: ClassVar[Mapping[str, opt.Option]] = {}

    def __init__(self, problem: Problem, seed: int = 0, space: MixtureSpace | None = None,
                 **options: Any) -> None:
        self.check_options(options, problem.domains)
        self.problem = problem
        self.seed = int(seed)
        self.options = opt.resolve(self.all_options(), options)
        self.fidelity = problem.fidelity(self.options["scale"])
        self.candidates: np.ndarray | None = None
        self.available: dict[Fidelity, np.ndarray] | None = None
        self.reference: np.ndarray | None = None
        if space is not None:
            self._restrict(space)

    def _restrict(self, space: MixtureSpace) -> None:
        """Take ``candidates`` and ``available`` from ``space`` (see the class docstring)."""
        fidelities, target = self.fidelities(), self.problem.target
        if not self.picks_fidelity:
            self.candidates = common_pool(space, list(dict.fromkeys([*fidelities, target])), name=self.name)
            return
        pool = common_pool(space, [target], name=self.name)
        if pool is None:
            return
        available = {f: runnable_mask(space, pool, f) for f in fidelities}
        if not any(mask.any() for mask in available.values()):
            raise ValueError(f"{self.name}: none of the target's mixtures can run at "
                             f"{[(f.scale, f.steps) for f in fidelities]}")
        self.candidates, self.available = pool, available

    @classmethod
    def all_options(cls) -> dict[str, opt.Option]:
        return {**COMMON_OPTIONS, **cls.declared_options}

    @classmethod
    def check_options(cls, options: Mapping[str, Any], domains: tuple[str, ...] | list[str]) -> None:
        """Raise ValueError naming an unknown or bad option."""
        opt.check(cls.name, cls.all_options(), options)

    def fidelities(self) -> list[Fidelity]:
        """The fidelities this strategy may propose trials at."""
        return [self.fidelity]

    @classmethod
    def own_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """The options specific to this strategy (without the common ones)."""
        return {k: v for k, v in options.items() if k not in COMMON_OPTIONS}

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

    def with_reference(self, mixtures_: np.ndarray) -> np.ndarray:
        """`k x d` candidate answers, plus the reference when it may be recommended (no pool, or
        it is in the pool) and is not among them already."""
        w = np.atleast_2d(mixtures_)
        ref = self.reference
        if ref is None or (len(w) and is_among(ref[None], w)[0]):
            return w
        if self.candidates is not None and not is_among(ref[None], self.candidates)[0]:
            return w
        return np.vstack([w, ref[None]])

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
        fresh = pool[~is_among(pool, seen)]
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


#: The option every strategy takes: search at that scale's full run instead of the target.
COMMON_OPTIONS: Mapping[str, opt.Option] = {
    "scale": opt.Option(None, "a scale name", lambda v: v is None or isinstance(v, str)),
}


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
        considered=np.unique(mixtures(rows, problem), axis=0),
    )


def fallback(observations: pd.DataFrame, problem: Problem, fidelity: Fidelity, note: str) -> Recommendation:
    """The best observed mixture at ``fidelity``, saying why the strategy's own model was not used."""
    rec = best_observed(observations, problem, fidelity)
    rec.details["note"] = note
    return rec
