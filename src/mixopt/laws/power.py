"""The step and size laws of Data Mixing Laws: ``L(x) = c + (k / x) ** alpha`` (x: tokens or N).

Data Mixing Laws extrapolates each run along its training steps (the step law) and each mixture
across model sizes (the size law) with this curve; BiMix reuses the size law to reach a model
size it was not fitted at.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixopt.laws.base import LawFitError, require

#: Exponents searched (then refined) when alpha is fitted.
EXPONENT_GRID = np.geomspace(1e-3, 3.0, 96)


@dataclass(frozen=True)
class PowerLaw:
    """`m` curves ``c + (k / x) ** alpha``, each parameter an `m`-vector; ``k`` is kept as log k
    (with a small alpha, k itself overflows)."""

    c: np.ndarray
    log_k: np.ndarray
    alpha: np.ndarray

    @property
    def k(self) -> np.ndarray:
        with np.errstate(over="ignore"):
            return np.exp(self.log_k)

    def __call__(self, x: float | np.ndarray) -> np.ndarray:
        """`q` points (or a scalar) -> `q x m` values (`m` for a scalar; `q` for one curve)."""
        log_x = np.log(np.asarray(x, dtype=float))
        if np.ndim(self.c):
            log_x = log_x[..., None]
        with np.errstate(over="ignore"):
            return self.c + np.exp(self.alpha * (self.log_k - log_x))


def _linear_part(u: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For fixed exponents the curve is linear in (c, K = k ** alpha): ``c + K u`` with u = x ** -alpha.
    Non-negative least squares on relative error, in closed form for the two coefficients.

    u: `g x s x 1` (or `g x s x m`), y: `s x m` -> (c, K, squared error), each `g x m`.
    """
    a = 1.0 / y  # `s x m`: d residual / d c
    b = u / y  # `g x s x m`: d residual / d K
    saa, sab, sbb = (a * a).sum(-2), (a * b).sum(-2), (b * b).sum(-2)
    sa, sb = a.sum(-2), b.sum(-2)
    det = saa * sbb - sab ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        c = (sbb * sa - sab * sb) / det
        K = (saa * sb - sab * sa) / det
    ok = np.isfinite(c) & np.isfinite(K) & (c >= 0) & (K >= 0)
    # otherwise the optimum lies on the boundary: the better of c = 0 and K = 0
    K0 = np.where(sbb > 0, np.maximum(sb, 0) / np.where(sbb > 0, sbb, 1), 0.0)  # c = 0
    c0 = np.broadcast_to(np.maximum(sa, 0) / saa, K0.shape)  # K = 0

    def error(c, K):
        return ((c[..., None, :] * a + K[..., None, :] * b - 1) ** 2).sum(-2)

    e_K, e_c = error(np.zeros_like(K0), K0), error(c0, np.zeros_like(K0))
    c_b = np.where(e_K <= e_c, 0.0, c0)
    K_b = np.where(e_K <= e_c, K0, 0.0)
    c, K = np.where(ok, c, c_b), np.where(ok, K, K_b)
    return c, K, error(c, K)


def fit_power(x: np.ndarray, y: np.ndarray, where: str, exponent: float | None = None) -> PowerLaw:
    """Fit ``y = c + (k / x) ** alpha`` (c >= 0, k > 0) to `s` points per curve.

    Args:
        x: `s` positive abscissae (duplicates allowed).
        y: `s` or `s x m` positive values (`m` curves sharing x, fitted independently).
        where: names the law and curve in errors.
        exponent: fixes alpha (then 2 distinct x suffice, otherwise 3: a curve with an asymptote
            needs three points).

    Variable projection on relative error: c and k ** alpha are solved exactly for each alpha,
    so only alpha is searched (a grid, then golden-section refinement), which is robust where
    joint fits crawl along the valley between c and k. Values that do not decrease with x get
    K = 0: the constant that fits them best.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    y2 = y.reshape(len(x), -1)
    require(len(np.unique(x)), 2 if exponent is not None else 3, where,
            "distinct point(s)" + ("" if exponent is not None else " (3 for a fitted exponent)"))
    if np.any(x <= 0) or np.any(y2 <= 0):
        raise LawFitError(f"{where}: the power law needs positive x and values")
    log_unit = float(np.log(x).mean())
    log_x = np.log(x) - log_unit  # a unit near the data keeps x ** -alpha well scaled

    def solve(alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`g x m` (or `g x 1`) exponents -> c, K, error (`g x m`)."""
        u = np.exp(-alpha[:, None, :] * log_x[None, :, None])  # `g x s x m`
        return _linear_part(u, y2)

    m = y2.shape[1]
    if exponent is None:
        grid = EXPONENT_GRID
        errors = solve(grid[:, None])[2]  # `g x m`
        i = np.argmin(errors, axis=0)
        lo, hi = grid[np.maximum(i - 1, 0)], grid[np.minimum(i + 1, len(grid) - 1)]
        ratio = (np.sqrt(5) - 1) / 2
        for _ in range(60):  # golden section, every curve at once
            a1, a2 = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
            e = solve(np.stack([a1, a2]))[2]
            left = e[0] <= e[1]
            hi, lo = np.where(left, a2, hi), np.where(left, lo, a1)
        alpha = (lo + hi) / 2
    else:
        alpha = np.full(m, float(exponent))
    c, K, _ = solve(alpha[None, :])
    c, K = c[0], K[0]
    with np.errstate(divide="ignore"):
        log_k = np.log(K) / alpha + log_unit  # K = 0 -> log k = -inf: the constant c
    shape = y.shape[1:]
    return PowerLaw(c.reshape(shape), log_k.reshape(shape), alpha.reshape(shape))


def at_size(sizes: np.ndarray, values: np.ndarray, n: float, where: str, exponent: float | None = None) -> np.ndarray:
    """Values (`s x q`) recorded at model sizes (`s`) -> values (`q`) at size ``n``: the recorded
    row (their mean, for a size recorded twice) when that size was trained, else the size law per
    column."""
    sizes = np.asarray(sizes, dtype=float)
    values = np.asarray(values, dtype=float).reshape(len(sizes), -1)
    hit = np.isclose(sizes, n, rtol=1e-6)
    if hit.any():
        return values[hit].mean(axis=0)
    distinct = len(np.unique(sizes))
    if distinct < (2 if exponent is not None else 3):
        raise LawFitError(f"{where}: {distinct} distinct model size(s), the size law needs at least 3 "
                          "(or 2: give size_exponent)")
    return fit_power(sizes, values, where, exponent)(n)
