"""The one interface every optimiser and baseline implements: :class:`Strategy` proposes trials
and recommends a mixture; :class:`Proposal`, :class:`ProposalBatch` and :class:`Recommendation`
are what it returns.

What every strategy shares lives beside it: its pool of candidates (:mod:`.pool`), the reference
runs of the worst-excess objective (:mod:`.reference_runs`) and option declarations (:mod:`.options`).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Mapping

import numpy as np
import pandas as pd

from mixopt.core.constraints import Constraints, MixtureBox
from mixopt.core.observations import at_fidelity, losses, mixtures
from mixopt.core.problem import Fidelity, Problem
from mixopt.core.simplex import check_mixture, is_among, project
from mixopt.core.space import MixtureSpace
from mixopt.strategies import options as opt
from mixopt.strategies.pool import PoolMixin
from mixopt.strategies.reference_runs import reference_runs


@dataclass(frozen=True)
class Proposal:
    """One trial to run: a mixture (`d`) trained at a fidelity (``run``: how it trains besides
    its mixture, :class:`~mixopt.core.trial.Trial`; ``None``: a plain run)."""

    mixture: np.ndarray
    fidelity: Fidelity
    run: Mapping[str, Any] | None = None


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


class SettingRefused(ValueError):
    """A strategy refuses a config value. ``key`` names it: below the strategy's own key for its
    options (``options.scale``), else from the top of the config (``objective.type``); ``reason``
    says why (the config check prints ``config key '<key>': <reason>``)."""

    def __init__(self, strategy: str, key: str, reason: str, message: str | None = None) -> None:
        super().__init__(message or f"{strategy}: {key}: {reason}")
        self.key, self.reason = key, reason


class Strategy(PoolMixin, abc.ABC):
    """Proposes trials from the observations so far and recommends a mixture for the target.

    Args:
        problem: domains, objective and fidelities.
        seed: makes ``propose`` and ``recommend`` reproducible.
        space: which mixtures may run at each fidelity (a run table's pool); ``None``: the whole
            simplex everywhere.
        constraints: the bounds and repetition caps every proposal (at its own fidelity) and the
            recommendation (at the target) keep to, and the outcome constraint against the
            reference; ``None``: none.
        reference: the `d` mixture the user compares recommendations with (``None``: none).
        options: strategy-specific options (declared in ``declared_options``), plus the option
            every strategy takes, ``scale``: search at that (proxy) scale's full run instead of
            the target; the recommendation is then the best mixture *at that scale*, and who uses
            it at the target must evaluate it there.

    A strategy implements ``search`` (and may override ``answer``); ``propose`` and ``recommend``
    wrap them with what holds for every strategy: no proposal or recommendation breaks the
    constraints, and the worst-excess objective gets the reference runs it is measured against.

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
    #: the options that name a scale, or a list of scales, of the problem (checked against it).
    scale_options: ClassVar[tuple[str, ...]] = ("scale",)
    #: True for strategies with a model of each domain's loss (``no_worse_than_reference`` needs one).
    models_domains: ClassVar[bool] = False
    #: False for strategies whose batches cannot take the reference runs of ``worst_excess``.
    runs_references: ClassVar[bool] = True
    #: True for strategies whose trials change their mixture while they train (the train back end only).
    weights_during_run: ClassVar[bool] = False
    #: True for strategies computed from every domain's training tokens (the token heuristics).
    needs_token_counts: ClassVar[bool] = False
    #: True for strategies whose proposals start from ``reference`` (DoReMi's reference run).
    searches_from_reference: ClassVar[bool] = False

    def __init__(self, problem: Problem, seed: int = 0, space: MixtureSpace | None = None,
                 constraints: Constraints | None = None, reference: np.ndarray | None = None,
                 **options: Any) -> None:
        self.check_options(options, problem)
        self.problem = problem
        self.seed = int(seed)
        self.options = opt.resolve(self.all_options(), options)
        self.fidelity = problem.fidelity(self.options["scale"])
        self.constraints = constraints or Constraints(problem)
        self.check_problem(problem, self.constraints)
        self.candidates: np.ndarray | None = None
        self.available: dict[Fidelity, np.ndarray] | None = None
        self.reference: np.ndarray | None = None if reference is None else np.asarray(reference, dtype=float)
        if space is not None:
            self._restrict(space)

    @classmethod
    def all_options(cls) -> dict[str, opt.Option]:
        return {**COMMON_OPTIONS, **cls.declared_options}

    @classmethod
    def check_options(cls, options: Mapping[str, Any], problem: Problem) -> None:
        """ValueError naming an unknown or bad option; :class:`SettingRefused` (key
        ``options.<name>``) for a scale option that names no scale of ``problem``."""
        opt.check(cls.name, cls.all_options(), options)
        scales = list(problem.full_steps)
        for option in cls.scale_options:
            value = options.get(option)
            if isinstance(value, str) and value not in scales:
                raise SettingRefused(cls.name, f"options.{option}", f"{value!r} is not a scale; scales are {scales}",
                                     f"{cls.name}: option {option!r}: unknown scale {value!r}; scales are {scales}")
            unknown = [s for s in value if s not in scales] if isinstance(value, list) else []
            if unknown:
                raise SettingRefused(cls.name, f"options.{option}", f"{unknown} not among the scales {scales}")

    @classmethod
    def check_problem(cls, problem: Problem, constraints: Constraints) -> None:
        """:class:`SettingRefused` naming the config key when the strategy cannot serve the
        problem's objective or its constraints."""
        if constraints.no_worse_than_reference is not None and not cls.models_domains:
            raise SettingRefused(cls.name, "constraints.no_worse_than_reference",
                                 f"needs a model of each domain's loss, which strategy {cls.name!r} lacks; "
                                 "use gp, mfms or multiscale")
        if problem.objective_kind == "worst_excess" and not cls.runs_references:
            raise SettingRefused(cls.name, "objective.type", f"worst_excess needs reference runs that strategy "
                                 f"{cls.name!r} cannot interleave with its batches")

    def fidelities(self) -> list[Fidelity]:
        """The fidelities this strategy may propose trials at."""
        return [self.fidelity]

    @classmethod
    def own_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """The options specific to this strategy (without the common ones)."""
        return {k: v for k, v in options.items() if k not in COMMON_OPTIONS}

    def iteration_seed(self, iteration: int) -> int:
        return self.seed * 100_003 + iteration

    def propose(self, observations: pd.DataFrame, n: int, iteration: int) -> ProposalBatch:
        """``n`` trials for ``iteration`` given the observations of earlier iterations (the
        strategy's ``search``), each inside the constraints at its own fidelity."""
        batch = self.search(observations, n, iteration)
        projected = 0
        for k, p in enumerate(batch.proposals):
            if self.constraints.check(p.mixture, p.fidelity):
                if self.candidates is not None:
                    raise RuntimeError(f"{self.name} proposed a pool mixture that breaks the constraints: "
                                       f"{self.constraints.check(p.mixture, p.fidelity)}")
                # an optimiser that cannot take bounds (SMAC, a law's minimiser): its nearest feasible point
                batch.proposals[k] = replace(p, mixture=self.box(p.fidelity).project(p.mixture)[0])
                projected += 1
        if projected:
            batch.diagnostics["projected_onto_constraints"] = projected
        if self.problem.objective_kind == "worst_excess":  # the runs it is measured against
            swaps = reference_runs(observations, batch.proposals, self.problem, self.constraints)
            ref = np.asarray(self.problem.objective_reference, dtype=float)
            batch.proposals = [Proposal(ref, swaps[k]) if k in swaps else p for k, p in enumerate(batch.proposals)]
        return batch

    @abc.abstractmethod
    def search(self, observations: pd.DataFrame, n: int, iteration: int) -> ProposalBatch:
        """Propose ``n`` trials for ``iteration`` given the observations of earlier iterations."""

    def recommend(self, observations: pd.DataFrame, per_domain: bool = True) -> Recommendation:
        """The mixture to train at the target (the strategy's ``answer``), inside the constraints
        at the target: an answer that is not (a fallback to an observed trial) is replaced by the
        best observed mixture that is.

        ``per_domain=False``: only the mixture and its objective are needed (a benchmark), so a
        model-based strategy may skip its per-domain models (``losses`` are then NaN).
        """
        rec = self.answer(observations, per_domain)
        broken = self.constraints.check(rec.mixture, self.problem.target)
        if broken:
            rec = best_observed(observations, self.problem, rec.fidelity, box=self.box(self.problem.target))
            rec.details["note"] = f"{self.name}'s answer breaks the constraints at the target ({'; '.join(broken)})"
        return rec

    def answer(self, observations: pd.DataFrame, per_domain: bool = True) -> Recommendation:
        """Default: the best observed mixture at the strategy's fidelity that may run at the target."""
        return best_observed(observations, self.problem, self.fidelity, box=self.box(self.problem.target))

    # -- helpers -------------------------------------------------------------------------------

    def box(self, fidelity: Fidelity | None = None) -> MixtureBox:
        """The bounds and repetition caps of a run to ``fidelity`` (default: the strategy's)."""
        return self.constraints.box(fidelity or self.fidelity)

    def with_reference(self, mixtures_: np.ndarray) -> np.ndarray:
        """`k x d` candidate answers, plus the reference when it may be recommended (no pool, or
        it is in the pool; inside the constraints at the target) and is not among them already."""
        w = np.atleast_2d(mixtures_)
        ref = self.reference
        if ref is None or (len(w) and is_among(ref[None], w)[0]):
            return w
        if self.candidates is not None and not is_among(ref[None], self.candidates)[0]:
            return w
        if self.constraints.check(ref, self.problem.target):
            return w
        return np.vstack([w, ref[None]])

    def proposals_at(self, mixtures_: np.ndarray, fidelity: Fidelity | None = None) -> list[Proposal]:
        """`n x d` mixtures -> proposals at ``fidelity`` (default: the strategy's)."""
        out = []
        for w in project(np.atleast_2d(mixtures_)):
            check_mixture(w, self.problem.domains)
            out.append(Proposal(w, fidelity or self.fidelity))
        return out

    def initial_design(self, n: int, iteration: int, observations: pd.DataFrame | None = None,
                       fidelity: Fidelity | None = None) -> list[Proposal]:
        """Scrambled Sobol points on the simplex at ``fidelity`` (default: the strategy's), inside
        its constraints; from a pool, the nearest distinct unused candidates that can run there."""
        fidelity = fidelity or self.fidelity
        points = self.box(fidelity).sample(n, self.iteration_seed(iteration))
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


def best_observed(observations: pd.DataFrame, problem: Problem, fidelity: Fidelity | None = None,
                  box: MixtureBox | None = None) -> Recommendation:
    """The observed mixture with the lowest objective at ``fidelity`` (default: the target), among
    those inside ``box`` (default: all)."""
    fidelity = fidelity or problem.target
    rows = at_fidelity(observations, fidelity)
    if box is not None and len(rows):
        rows = rows[box.contains(mixtures(rows, problem))]
    if rows.empty:
        where = "the target" if fidelity == problem.target else "proxy"
        raise ValueError(f"no successful trial at {where} ({fidelity.scale}, {fidelity.steps} steps)"
                         + (" inside the constraints" if box is not None and not box.is_unconstrained else "")
                         + " to recommend from")
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
