"""What every fitted law shares: the runs it is fitted on, its interface, and robust curve fitting."""

from __future__ import annotations

import abc
import contextlib
import functools
from dataclasses import dataclass
from typing import Callable, ClassVar, ContextManager, Sequence, TypeVar

import numpy as np
from scipy.optimize import least_squares

#: Rows of ``Runs.mixtures`` must sum to one within this (recorded mixtures are often rounded).
SUM_TOLERANCE = 1e-3


class LawFitError(ValueError):
    """The data cannot identify a law's parameters; the message names the law, where (domain,
    scale) and what is missing."""


def require(count: int, needed: int, law: str, what: str) -> None:
    """LawFitError ``"<law>: <count> <what>, needs at least <needed>"`` when count < needed."""
    if count < needed:
        raise LawFitError(f"{law}: {count} {what}, needs at least {needed}")


def require_varying(mixtures: np.ndarray, domains: Sequence[str], law: str) -> None:
    """LawFitError naming the first training domain whose proportion is the same in every
    mixture (`k x d`): a law with a parameter per domain cannot tell that domain's effect apart."""
    for j, domain in enumerate(domains):
        if np.ptp(mixtures[:, j]) <= 1e-9:
            raise LawFitError(f"{law}: training domain {domain!r} has the same proportion ({mixtures[0, j]:.3g}) in "
                              "every mixture, its parameters cannot be fitted")


@dataclass(frozen=True)
class Runs:
    """Checkpoints of training runs: row k is run ``run[k]`` after ``tokens[k]`` training tokens.

    Attributes:
        mixtures: `n x d` training mixtures (rows on the simplex).
        params: `n` model parameters N.
        tokens: `n` training tokens D seen at the checkpoint.
        losses: `n x e` validation loss per evaluation domain.
        run: `n` run ids; the rows of one run are its checkpoints.
        domains: the `d` training domains (columns of ``mixtures``).
        eval_domains: the `e` evaluation domains (columns of ``losses``); they may differ from
            the training domains.

    Arrays are converted to NumPy on construction; a malformed field is a ValueError naming it,
    and no row at all is a LawFitError (nothing to fit a law on).
    """

    mixtures: np.ndarray
    params: np.ndarray
    tokens: np.ndarray
    losses: np.ndarray
    run: np.ndarray
    domains: tuple[str, ...]
    eval_domains: tuple[str, ...]

    def __post_init__(self) -> None:
        # frozen: normalise the fields in place once, so every law can rely on their types
        for name in ("mixtures", "params", "tokens", "losses"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=float))
        object.__setattr__(self, "run", np.asarray(self.run))
        object.__setattr__(self, "domains", tuple(self.domains))
        object.__setattr__(self, "eval_domains", tuple(self.eval_domains))
        n, d, e = len(self.params), len(self.domains), len(self.eval_domains)
        if n == 0:
            raise LawFitError("no checkpoint to fit a law on")
        shapes = {"params": (n,), "mixtures": (n, d), "tokens": (n,), "losses": (n, e), "run": (n,)}
        for name, shape in shapes.items():
            got = getattr(self, name).shape
            if got != shape:
                raise ValueError(f"Runs.{name}: expected shape {shape} (n={n}, d={d}, e={e}), got {got}")
        for name in ("params", "tokens"):
            values = getattr(self, name)
            if not np.all(np.isfinite(values) & (values > 0)):
                raise ValueError(f"Runs.{name}: must be finite and positive")
        if not np.all(np.isfinite(self.losses)):
            raise ValueError("Runs.losses: must be finite (drop checkpoints without a loss)")
        if not np.all(np.isfinite(self.mixtures)) or np.any(self.mixtures < -1e-9) or \
                np.any(np.abs(self.mixtures.sum(axis=1) - 1) > SUM_TOLERANCE):
            raise ValueError("Runs.mixtures: rows must be non-negative and sum to 1")

    def __len__(self) -> int:
        return len(self.params)

    def mixture_ids(self) -> tuple[np.ndarray, np.ndarray]:
        """(`k x d` distinct mixtures, `n` index of each row's mixture among them)."""
        unique, inverse = np.unique(self.mixtures.round(6), axis=0, return_inverse=True)
        return unique, inverse.reshape(-1)

    def run_rows(self) -> list[np.ndarray]:
        """Row indices of each run (its checkpoints, in table order), runs in order of appearance."""
        _, first, inverse = np.unique(self.run, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
        return [np.flatnonzero(inverse == k) for k in np.argsort(first)]

    def thin(self, max_points: int) -> Runs:
        """At most ``max_points`` checkpoints: every run's last one, then evenly spaced others
        (a fit's cost grows with the checkpoints; the learning curves are smooth)."""
        n = len(self)
        if n <= max_points:
            return self
        last = np.zeros(n, dtype=bool)
        for rows in self.run_rows():
            last[rows[np.argmax(self.tokens[rows])]] = True
        keep, others = np.flatnonzero(last), np.flatnonzero(~last)
        room = max(0, max_points - len(keep))
        if room and len(others):
            keep = np.concatenate([keep, others[np.linspace(0, len(others) - 1, min(room, len(others))).astype(int)]])
        return self.subset(np.sort(keep))

    def subset(self, mask: np.ndarray) -> Runs:
        """The rows selected by ``mask`` (boolean `n` or indices)."""
        return Runs(self.mixtures[mask], self.params[mask], self.tokens[mask], self.losses[mask], self.run[mask],
                    self.domains, self.eval_domains)

    def final(self) -> Runs:
        """Each run's last checkpoint (its largest token count)."""
        return self.subset(np.array([rows[np.argmax(self.tokens[rows])] for rows in self.run_rows()]))


class Law(abc.ABC):
    """A law fitted on runs that predicts the per-domain losses of any mixture at any (N, D).

    Subclasses implement ``fit`` (ending with ``self._fitted(runs)``) and ``_predict``, which
    receives validated arrays.
    """

    name: ClassVar[str]
    fitted_: bool = False

    @abc.abstractmethod
    def fit(self, runs: Runs) -> Law:
        """Fit on ``runs`` and return self; LawFitError when the data cannot identify the law."""

    @abc.abstractmethod
    def _predict(self, mixtures: np.ndarray, params: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        """`m x d`, `m`, `m` -> `m x e`."""

    def unsupported(self, params: np.ndarray) -> str | None:
        """Why predictions at the `m` model sizes ``params`` leave what the fitted runs support, or
        ``None``. A law with a power law in N extrapolates in size by its form: ``None``."""
        return None

    def _fitted(self, runs: Runs) -> None:
        self.domains_, self.eval_domains_ = runs.domains, runs.eval_domains
        self.fitted_ = True

    def predict(self, mixtures, params, tokens) -> np.ndarray:
        """`m x d` mixtures (or one `d` mixture) at N and D (scalars or `m`-vectors) -> `m x e`
        predicted losses, columns in the order of the fitted runs' ``eval_domains``."""
        if not self.fitted_:
            raise RuntimeError(f"{self.name}: predict before fit; call fit(runs) first")
        mixtures = np.atleast_2d(np.asarray(mixtures, dtype=float))
        domains = getattr(self, "domains_", None)
        if mixtures.ndim != 2 or (domains is not None and mixtures.shape[1] != len(domains)):
            raise ValueError(f"{self.name}: mixtures must be m x {len(domains) if domains else 'd'}, "
                             f"got shape {mixtures.shape}")
        m = len(mixtures)
        out = []
        for label, value in (("params", params), ("tokens", tokens)):
            value = np.asarray(value, dtype=float)
            if value.ndim > 1 or value.size not in (1, m):
                raise ValueError(f"{self.name}: {label} must be a scalar or an {m}-vector, got shape {value.shape}")
            if not np.all(np.isfinite(value) & (value > 0)):
                raise ValueError(f"{self.name}: {label} must be finite and positive")
            out.append(np.broadcast_to(value.reshape(-1), (m,)).copy())
        return self._predict(mixtures, *out)


def fit_curve(residuals: Callable[[np.ndarray], np.ndarray], starts: np.ndarray,
              bounds: tuple[np.ndarray, np.ndarray], where: str, *, names: Sequence[str] | None = None,
              jac: Callable[[np.ndarray], np.ndarray] | str = "2-point", loss: str = "linear", f_scale: float = 1.0,
              random_starts: int = 2, jitter: float = 0.5, seed: int = 0, rank_tol: float = 1e-7) -> np.ndarray:
    """Multi-start bounded least squares; the parameters (`p`) of the start with the lowest cost.

    Args:
        residuals: `p` parameters -> residuals (relative errors, for the laws here).
        starts: `k x p` initial points; ``random_starts`` more are drawn from a seeded RNG by
            adding N(0, ``jitter``) to randomly chosen starts (parameters that must be positive
            are fitted in log space by the callers, so a jitter is a relative change there).
        bounds: (`p` lower, `p` upper); starts are clipped into them.
        where: names the law and domain in errors.
        names: the `p` parameter names, for the error naming undetermined ones.
        jac: `p` parameters -> `n x p` Jacobian of the residuals, or scipy's finite differences.
        loss, f_scale: scipy's robust loss (``soft_l1``, ``huber``) and its residual scale.
        rank_tol: smallest singular value, relative to the largest, of the Jacobian (columns
            scaled to unit length) that counts as determined.

    Raises LawFitError with fewer residuals than parameters, when no start gives a finite fit,
    or when the Jacobian at the solution is numerically rank deficient: some combination of the
    parameters is not determined by the data (parameters at a bound, or whose effect vanished,
    e.g. a coefficient driven towards zero in log space, are fixed and left out). Deterministic
    given ``seed``.
    """
    lower, upper = (np.asarray(b, dtype=float) for b in bounds)
    starts = np.atleast_2d(np.asarray(starts, dtype=float))
    p = starts.shape[1]
    names = list(names) if names is not None else [f"p{i}" for i in range(p)]
    rng = np.random.default_rng(seed)
    jittered = starts[rng.integers(len(starts), size=random_starts)] + rng.normal(0.0, jitter, (random_starts, p))
    n = np.asarray(residuals(np.clip(starts[0], lower, upper))).size
    if n < p:
        raise LawFitError(f"{where}: {n} data point(s) for {p} parameters")
    best = None
    with one_blas_thread():
        for x0 in np.vstack([starts, jittered]):
            try:
                result = least_squares(residuals, np.clip(x0, lower, upper), jac=jac, bounds=(lower, upper), loss=loss,
                                       f_scale=f_scale, max_nfev=50 * p)
            except ValueError:
                continue  # a start where the residuals are not finite
            if np.isfinite(result.cost) and (best is None or result.cost < best.cost):
                best = result
        if best is None:
            raise LawFitError(f"{where}: no start gave a finite fit")
        # scipy's default tolerances stop every start early enough not to crawl along the flat
        # valleys of noisy data; the best one alone is then polished to full precision
        polished = least_squares(residuals, best.x, jac=jac, bounds=(lower, upper), loss=loss, f_scale=f_scale,
                                 ftol=1e-13, xtol=1e-13, gtol=1e-13, max_nfev=30 * p)
        if polished.cost <= best.cost:
            best = polished
        undetermined = _undetermined(best.jac, best.active_mask, rank_tol)
    if undetermined:
        raise LawFitError(f"{where}: the data do not determine the parameters "
                          f"{', '.join(names[i] for i in undetermined)} (rank-deficient fit)")
    return best.x


@functools.cache
def _blas_controller():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # optional: only a speed-up
        return None
    return ThreadpoolController()  # finding the libraries is the slow part: once


def one_blas_thread() -> ContextManager:
    """BLAS on one thread. The matrices of these fits are tiny (`n x p`, p < 50); BLAS threads
    waiting for busy cores (beside torch's OpenMP pool) made each SVD of the solver 100x slower."""
    controller = _blas_controller()
    return contextlib.nullcontext() if controller is None else controller.limit(limits=1, user_api="blas")


F = TypeVar("F", bound=Callable)


def single_threaded(fn: F) -> F:
    """Run ``fn`` under :func:`one_blas_thread`."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with one_blas_thread():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _undetermined(jac: np.ndarray, active: np.ndarray, tol: float) -> list[int]:
    """Indices of the parameters in the least-determined direction of ``jac`` (`n x p`) when it
    is numerically rank deficient, else []. Parameters at a bound are fixed by it and left out;
    columns are scaled to unit length so the test does not depend on the parameters' units."""
    jac = np.asarray(jac, dtype=float)
    if not np.all(np.isfinite(jac)):
        return np.flatnonzero(~np.isfinite(jac).all(axis=0)).tolist()
    norms = np.linalg.norm(jac, axis=0)
    # a parameter without effect at the solution (a coefficient driven towards zero, in log space)
    # is as fixed as one at its bound; the laws check beforehand that the data vary where a
    # parameter needs them to
    free = np.flatnonzero((active == 0) & (norms > 1e-8 * max(norms.max(), 1e-300)))
    if not len(free):
        return []
    _, s, vt = np.linalg.svd(jac[:, free] / norms[free], full_matrices=False)
    if len(s) == len(free) and s[-1] >= tol * s[0]:
        return []
    v = np.abs(vt[-1])
    return free[v > 0.3 * v.max()].tolist()
