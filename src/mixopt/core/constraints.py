"""Which mixtures a run may train on: per-domain bounds, and the data each domain has.

Both of issue 16's feasibility constraints are boxes on the simplex. A bound is
``lo_i <= w_i <= hi_i``. A repetition cap is ``w_i * D <= r_max * T_i``: a run of D training tokens
may repeat domain i's T_i tokens at most r_max times, so ``w_i <= r_max * T_i / D``. The cap depends
on D, so a proxy (small D) may take mixtures the target (large D) may not. So each fidelity has its
own :class:`MixtureBox`, and the intersection with the simplex is what a strategy may propose there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from mixopt.core.problem import Fidelity, Problem
from mixopt.core.simplex import SUM_TOLERANCE, space_filling

__all__ = ["Constraints", "MixtureBox", "InfeasibleBox", "repetition_caps"]


class InfeasibleBox(ValueError):
    """No mixture satisfies the bounds: the lower bounds sum above 1 or the upper ones below 1."""


@dataclass(frozen=True)
class MixtureBox:
    """``lower <= w <= upper`` elementwise, on the simplex.

    Attributes:
        domains: the `d` domain names, in mixture order.
        lower, upper: `d` bounds in [0, 1].
        why: domain -> what set its upper bound (e.g. "4 epochs of 5.0e9 tokens"), for messages.
    """

    domains: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    why: Mapping[str, str]

    @classmethod
    def unconstrained(cls, domains: Sequence[str]) -> "MixtureBox":
        d = len(domains)
        return cls(tuple(domains), np.zeros(d), np.ones(d), {})

    @classmethod
    def of(cls, domains: Sequence[str], bounds: Mapping[str, Sequence[float]] | None = None,
           caps: Mapping[str, tuple[float, str]] | None = None) -> "MixtureBox":
        """The box of ``bounds`` (domain -> [lo, hi]) and ``caps`` (domain -> (largest weight,
        why)); raises :class:`InfeasibleBox` naming the domains when no mixture fits."""
        domains = tuple(domains)
        lower, upper, why = np.zeros(len(domains)), np.ones(len(domains)), {}
        for i, name in enumerate(domains):
            if bounds and name in bounds:
                lower[i], upper[i] = float(bounds[name][0]), float(bounds[name][1])
                why[name] = f"bounds [{lower[i]:g}, {upper[i]:g}]"
            if caps and name in caps and caps[name][0] < upper[i]:
                upper[i] = max(0.0, float(caps[name][0]))
                why[name] = caps[name][1]
        box = cls(domains, lower, upper, why)
        box.check_feasible()
        return box

    def check_feasible(self) -> None:
        bad = [n for n, lo, hi in zip(self.domains, self.lower, self.upper) if lo > hi + SUM_TOLERANCE]
        if bad:
            raise InfeasibleBox(f"lower bound above the upper one for {bad}: "
                                + ", ".join(f"{n}: {self.why.get(n, '')}" for n in bad))
        if self.lower.sum() > 1 + SUM_TOLERANCE:
            named = {n: round(float(lo), 6) for n, lo in zip(self.domains, self.lower) if lo > 0}
            raise InfeasibleBox(f"the lower bounds sum to {self.lower.sum():.6g} > 1: {named}")
        if self.upper.sum() < 1 - SUM_TOLERANCE:
            named = {n: self.why.get(n, f"at most {hi:g}") for n, hi in zip(self.domains, self.upper)}
            raise InfeasibleBox(f"the largest weights sum to {self.upper.sum():.6g} < 1, so no mixture "
                                f"fits: {named}")

    @property
    def is_unconstrained(self) -> bool:
        return bool((self.lower <= 0).all() and (self.upper >= 1).all())

    def contains(self, w: np.ndarray, tol: float = SUM_TOLERANCE) -> np.ndarray:
        """`k x d` mixtures -> `k` booleans: inside the box."""
        w = np.atleast_2d(w)
        return ((w >= self.lower - tol) & (w <= self.upper + tol)).all(axis=1)

    def violations(self, w: np.ndarray) -> list[str]:
        """What a `d` mixture breaks, one phrase per domain (empty: none)."""
        out = []
        for name, x, lo, hi in zip(self.domains, np.asarray(w, dtype=float), self.lower, self.upper):
            if x < lo - SUM_TOLERANCE:
                out.append(f"{name} {x:.6g} < {lo:.6g} ({self.why.get(name, 'bound')})")
            elif x > hi + SUM_TOLERANCE:
                out.append(f"{name} {x:.6g} > {hi:.6g} ({self.why.get(name, 'bound')})")
        return out

    def project(self, w: np.ndarray) -> np.ndarray:
        """`k x d` mixtures -> the nearest (Euclidean) points of the box on the simplex.

        The projection is ``clip(w - t, lower, upper)`` for the shift ``t`` that makes it sum to
        one (its KKT conditions); the sum falls as ``t`` grows, so bisection finds ``t``. Written
        here because scipy has no projection onto a box intersected with a hyperplane.
        """
        w = np.atleast_2d(np.asarray(w, dtype=float))
        low = (w - self.upper[None]).min(axis=1, keepdims=True)
        high = (w - self.lower[None]).max(axis=1, keepdims=True)
        for _ in range(100):
            mid = 0.5 * (low + high)
            over = np.clip(w - mid, self.lower, self.upper).sum(axis=1, keepdims=True) > 1.0
            low, high = np.where(over, mid, low), np.where(over, high, mid)
        x = np.clip(w - 0.5 * (low + high), self.lower, self.upper)
        return x / x.sum(axis=1, keepdims=True)

    def sample(self, n: int, seed: int) -> np.ndarray:
        """`n x d` space-filling mixtures inside the box.

        Scrambled Sobol points on the simplex, shifted onto ``lower + (1 - sum lower) * v`` (that
        keeps the lower bounds and the sum), then those that break an upper bound are replaced by
        the next points of a longer sequence. Rejection keeps the design uniform on the feasible
        set; without upper bounds it is exact in one draw.
        """
        if n == 0:
            return np.zeros((0, len(self.domains)))
        if self.is_unconstrained:
            return space_filling(n, len(self.domains), seed)
        slack = 1.0 - self.lower.sum()
        drawn, size = np.zeros((0, len(self.domains))), max(2 * n, 64)
        for _ in range(8):
            points = self.lower + slack * space_filling(size, len(self.domains), seed)
            drawn = points[self.contains(points)]
            if len(drawn) >= n:
                return drawn[:n]
            size *= 8
        if len(drawn) == 0:  # a feasible set too thin for rejection sampling to find
            raise InfeasibleBox(f"no space-filling point satisfies the bounds of {list(self.domains)} "
                                f"in {size // 8} draws: the feasible set is too small to search")
        return drawn[np.arange(n) % len(drawn)]


def repetition_caps(tokens_available: Mapping[str, float], run_tokens: float,
                    max_repetition: float) -> dict[str, tuple[float, str]]:
    """Domain -> (largest weight, why) of a run of ``run_tokens`` that repeats no domain more than
    ``max_repetition`` times its ``tokens_available``."""
    return {name: (max_repetition * float(t) / float(run_tokens),
                   f"{max_repetition:g} epochs of {float(t):.3g} tokens in a run of {float(run_tokens):.3g}")
            for name, t in tokens_available.items()}


@dataclass
class Constraints:
    """Which mixtures a run at each fidelity may train on: the user's bounds and the repetition
    cap of each domain's tokens, plus the outcome constraint against the reference mixture.

    Attributes:
        problem: the domains and each fidelity's training tokens D (``Problem.tokens``; the
            target's own ``target_tokens`` when the user gave them).
        bounds: domain -> (lo, hi).
        tokens_available: domain -> its training tokens T (empty: no repetition cap).
        max_repetition: the epochs r of a domain a run may take: ``w_i * D <= r * T_i``.
        no_worse_than_reference: (tolerance, probability): only mixtures whose loss on every
            modelled domain is at most the reference's + tolerance with at least that posterior
            probability may be proposed and recommended (``None``: no such constraint).
    """

    problem: Problem
    bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    tokens_available: Mapping[str, float] = field(default_factory=dict)
    max_repetition: float = 4.0
    no_worse_than_reference: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        self._boxes: dict[Fidelity, MixtureBox] = {}

    def run_tokens(self, fidelity: Fidelity) -> float:
        """Training tokens D of a run to ``fidelity``."""
        if fidelity == self.problem.target and self.problem.target_tokens:
            return float(self.problem.target_tokens)
        return self.problem.tokens(fidelity)

    def box(self, fidelity: Fidelity) -> MixtureBox:
        """The box a run to ``fidelity`` must keep to; :class:`InfeasibleBox` naming the domains
        when the bounds and that run's repetition caps leave no mixture."""
        if fidelity not in self._boxes:
            caps = (repetition_caps(self.tokens_available, self.run_tokens(fidelity), self.max_repetition)
                    if self.tokens_available else None)
            try:
                self._boxes[fidelity] = MixtureBox.of(self.problem.domains, self.bounds, caps)
            except InfeasibleBox as e:
                raise InfeasibleBox(f"at {fidelity.scale}, {fidelity.steps} steps: {e}") from None
        return self._boxes[fidelity]

    @property
    def is_unconstrained(self) -> bool:
        """No bound and no repetition cap: every mixture may run everywhere."""
        return not self.bounds and not self.tokens_available

    def check(self, w: np.ndarray, fidelity: Fidelity) -> list[str]:
        """What a `d` mixture run to ``fidelity`` breaks (empty: nothing)."""
        return [] if self.is_unconstrained else self.box(fidelity).violations(w)
