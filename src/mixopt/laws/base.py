"""What every fitted law shares: the runs it is fitted on, its interface, and robust fitting."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np
from scipy.optimize import least_squares


class LawFitError(ValueError):
    """The data cannot identify a law's parameters; the message names the law and what is missing."""


@dataclass(frozen=True)
class Runs:
    """Checkpoints of training runs: row k is run ``run[k]`` after ``tokens[k]`` tokens.

    Attributes:
        mixtures: `n x d` training mixtures (rows on the simplex).
        params: `n` model parameters N.
        tokens: `n` training tokens D seen at the checkpoint.
        losses: `n x e` validation loss per evaluation domain.
        run: `n` run ids; the rows of one run are its checkpoints.
        domains: the `d` training domains; eval_domains: the `e` evaluation domains.
    """

    mixtures: np.ndarray
    params: np.ndarray
    tokens: np.ndarray
    losses: np.ndarray
    run: np.ndarray
    domains: tuple[str, ...]
    eval_domains: tuple[str, ...]

    def __post_init__(self) -> None:
        n = len(self.params)
        checks = {"mixtures": (self.mixtures.ndim == 2 and self.mixtures.shape == (n, len(self.domains)),
                               f"{n} x {len(self.domains)}"),
                  "tokens": (self.tokens.shape == (n,), f"{n}"),
                  "losses": (self.losses.ndim == 2 and self.losses.shape == (n, len(self.eval_domains)),
                             f"{n} x {len(self.eval_domains)}"),
                  "run": (len(self.run) == n, f"{n}")}
        for name, (ok, shape) in checks.items():
            if not ok:
                raise ValueError(f"Runs.{name}: expected shape {shape}, got {np.shape(getattr(self, name))}")
        if n == 0:
            raise LawFitError("no successful checkpoint to fit a law on")

    def mixture_ids(self) -> tuple[np.ndarray, np.ndarray]:
        """(`k x d` distinct mixtures, `n` index of each row's mixture among them)."""
        unique, inverse = np.unique(self.mixtures.round(6), axis=0, return_inverse=True)
        return unique, inverse.reshape(-1)

    def subset(self, mask: np.ndarray) -> "Runs":
        return Runs(self.mixtures[mask], self.params[mask], self.tokens[mask], self.losses[mask], self.run[mask],
                    self.domains, self.eval_domains)


class Law(abc.ABC):
    """A law fitted on runs that predicts per-domain losses of any mixture at any (N, D)."""

    name: ClassVar[str]

    @abc.abstractmethod
    def fit(self, runs: Runs) -> "Law":
        """Fit on ``runs`` and return self; LawFitError when the data cannot identify the law."""

    @abc.abstractmethod
    def _predict(self, mixtures: np.ndarray, params: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        """`m x d`, `m`, `m` -> `m x e`."""

    def predict(self, mixtures, params, tokens) -> np.ndarray:
        """`m x d` mixtures at N and D (scalars or `m`-vectors) -> `m x e` predicted losses."""
        if not getattr(self, "fitted_", False):
            raise RuntimeError(f"{self.name}: predict before fit")
        mixtures = np.atleast_2d(np.asarray(mixtures, dtype=float))
        m = len(mixtures)
        params = np.broadcast_to(np.asarray(params, dtype=float), (m,)).copy()
        tokens = np.broadcast_to(np.asarray(tokens, dtype=float), (m,)).copy()
        return self._predict(mixtures, params, tokens)


def require(count: int, needed: int, law: str, what: str) -> None:
    """LawFitError ``"<law>: <count> <what>, needs at least <needed>"`` when count < needed."""
    if count < needed:
        raise LawFitError(f"{law}: {count} {what}, needs at least {needed}")


def fit_least_squares(residuals: Callable[[np.ndarray], np.ndarray], starts: list[np.ndarray],
                      lower: np.ndarray, upper: np.ndarray, where: str, loss: str = "linear") -> np.ndarray:
    """Multi-start bounded least squares; the best start's parameters.

    Raises LawFitError (naming ``where``) with fewer residuals than parameters, or when the
    Jacobian at the solution is numerically rank deficient: some combination of parameters is
    not determined by the data.
    """
    best = None
    for x0 in starts:
        x0 = np.clip(np.asarray(x0, dtype=float), lower + 1e-9 * (upper - lower), upper - 1e-9 * (upper - lower))
        try:
            result = least_squares(residuals, x0, bounds=(lower, upper), loss=loss, f_scale=0.01, max_nfev=400 * len(x0))
        except ValueError:
            continue  # a start where the model is not finite
        if np.isfinite(result.cost) and (best is None or result.cost < best.cost):
            best = result
    if best is None:
        raise LawFitError(f"{where}: no start gave a finite fit")
    n, p = best.fun.size, best.x.size
    require(n, p, where, f"data point(s) for {p} parameters")
    s = np.linalg.svd(best.jac, compute_uv=False)
    if not s[0] > 0 or s[-1] < 1e-10 * s[0]:
        raise LawFitError(f"{where}: the data do not determine all {p} parameters (rank-deficient fit)")
    return best.x
