"""What is being optimised: the mixture domains, the objective over evaluation losses, the fidelities."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np


#: how the objective combines the per-domain losses (see :class:`Problem`)
OBJECTIVE_KINDS = ("linear", "worst", "worst_excess")


@dataclass(frozen=True)
class Fidelity:
    """A training budget: a named model scale trained for a number of optimiser steps."""

    scale: str
    steps: int


@dataclass(frozen=True)
class Problem:
    """A mixture problem.

    Attributes:
        domains: the `d` training domains, in the order of every mixture vector.
        objective_weights: `e`-vector a; the objective of losses L (see ``objective_kind``).
        target: the fidelity whose objective is minimised and at which mixtures are recommended.
        eval_domains: the `e` domains whose validation losses are recorded; the training domains
            unless the runs are evaluated elsewhere (RegMix: 17 training, 13 validation domains).
        full_steps: scale -> steps of a full run at that scale (a proxy strategy's fidelity).
        step_flops: scale -> training FLOPs of one optimiser step (6 x params x tokens per step).
        recorded_steps: scale -> the only steps a run can stop at (recorded runs); empty: any step.
        params: scale -> model parameters N (what a scaling law extrapolates in).
        target_tokens: training tokens of a run at the target, as the user or the table gives
            them (``None``: ``tokens(target)``).
        objective_kind: ``linear``: ``a @ L``; ``worst``: ``max_i a_i L_i`` over the domains of
            non-zero weight; ``worst_excess``: ``max_i a_i (L_i - R_i)``, R the losses of
            ``objective_reference`` trained at the same scale and step (DoReMi's excess loss).
        objective_reference: the `d` reference mixture of ``worst_excess``.
    """

    domains: tuple[str, ...]
    objective_weights: np.ndarray
    target: Fidelity
    eval_domains: tuple[str, ...] = ()
    full_steps: Mapping[str, int] = field(default_factory=dict)
    step_flops: Mapping[str, float] = field(default_factory=dict)
    recorded_steps: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    params: Mapping[str, float] = field(default_factory=dict)
    target_tokens: float | None = None
    objective_kind: str = "linear"
    objective_reference: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not self.eval_domains:
            object.__setattr__(self, "eval_domains", tuple(self.domains))
        if len(self.objective_weights) != len(self.eval_domains):
            raise ValueError(f"{len(self.objective_weights)} objective weights for {len(self.eval_domains)} "
                             "evaluation domains")
        object.__setattr__(self, "full_steps", {self.target.scale: self.target.steps} | dict(self.full_steps))
        if self.objective_kind not in OBJECTIVE_KINDS:
            raise ValueError(f"objective kind {self.objective_kind!r} is not one of {OBJECTIVE_KINDS}")
        if self.objective_kind == "worst_excess" and self.objective_reference is None:
            raise ValueError("the worst_excess objective needs a reference mixture")

    @property
    def dim(self) -> int:
        return len(self.domains)

    def fidelity(self, scale: str | None) -> Fidelity:
        """A full run at ``scale`` (the target when ``None``)."""
        if scale is None or scale == self.target.scale:
            return self.target
        if scale not in self.full_steps:
            raise ValueError(f"unknown scale {scale!r}; scales are {sorted(self.full_steps)}")
        return Fidelity(scale, int(self.full_steps[scale]))

    def cost(self, fidelity: Fidelity) -> float:
        """Training FLOPs of a run to ``fidelity``."""
        if fidelity.scale not in self.step_flops:
            raise ValueError(f"no FLOPs per step known for scale {fidelity.scale!r}")
        return float(self.step_flops[fidelity.scale]) * fidelity.steps

    def n_params(self, scale: str) -> float:
        """Parameters N of the model at ``scale``."""
        if scale not in self.params:
            raise ValueError(f"no parameter count known for scale {scale!r}")
        return float(self.params[scale])

    def tokens(self, fidelity: Fidelity) -> float:
        """Training tokens D of a run to ``fidelity`` (its FLOPs are 6 N D)."""
        return self.cost(fidelity) / (6.0 * self.n_params(fidelity.scale))

    @property
    def is_linear(self) -> bool:
        """Whether the objective is linear in the losses (its GP posterior is then Gaussian)."""
        return self.objective_kind == "linear"

    def objective(self, losses: np.ndarray, reference_losses: np.ndarray | None = None) -> np.ndarray:
        """`... x e` per-domain losses -> `...` objective; ``reference_losses`` (`... x e`, the
        reference mixture's at the same fidelity) for ``worst_excess``."""
        losses = np.asarray(losses, dtype=float)
        if self.objective_kind == "linear":
            return losses @ self.objective_weights
        if self.objective_kind == "worst_excess":
            if reference_losses is None:
                raise ValueError("the worst_excess objective needs the reference mixture's losses")
            losses = losses - np.asarray(reference_losses, dtype=float)
        weighed = self.objective_weights > 0
        return (losses * self.objective_weights)[..., weighed].max(axis=-1)

    def mixture_dict(self, w: np.ndarray) -> dict[str, float]:
        return {d: float(x) for d, x in zip(self.domains, w)}
