"""The step and size laws of Data Mixing Laws: ``L(x) = c + (k / x) ** alpha``."""

from __future__ import annotations

import numpy as np

from scipy.optimize import minimize_scalar, nnls

from mixopt.laws.base import LawFitError, require


def power(x: np.ndarray, c: float, log_k: float, alpha: float) -> np.ndarray:
    return c + np.exp(alpha * (log_k - np.log(x)))


def _linear_part(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[float, float, float]:
    """For a fixed alpha the law is linear in (c, K = k ** alpha): non-negative least squares on
    relative error. Returns (c, K, squared relative error)."""
    A = np.column_stack([np.ones_like(x), x ** -alpha]) / y[:, None]
    coef, residual = nnls(A, np.ones_like(y))
    return float(coef[0]), float(coef[1]), float(residual ** 2)


def fit_power(x: np.ndarray, y: np.ndarray, where: str, exponent: float | None = None) -> tuple[float, float, float]:
    """(c, log k, alpha) of ``y = c + (k / x) ** alpha`` with c, k >= 0; ``exponent`` fixes alpha
    (then two distinct x suffice, otherwise three: a curve with an asymptote needs three points).

    Variable projection: c and k ** alpha are solved exactly for each alpha, so only alpha is
    searched (a grid, then a bounded refinement) -- robust where joint fits crawl along the
    valley between c and k."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    require(len(np.unique(x)), 2 if exponent is not None else 3, where,
            "distinct point(s)" + ("" if exponent is not None else " (give a fixed exponent to fit from 2)"))
    log_unit = float(np.log(x).mean())
    x = x / np.exp(log_unit)  # a unit near the data keeps x ** -alpha well scaled
    if exponent is None:
        grid = np.geomspace(1e-3, 3.0, 80)
        errors = [_linear_part(x, y, a)[2] for a in grid]
        i = int(np.argmin(errors))
        lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
        alpha = float(minimize_scalar(lambda a: _linear_part(x, y, a)[2], bounds=(lo, hi), method="bounded",
                                      options={"xatol": 1e-7}).x)
    else:
        alpha = float(exponent)
    c, K, _ = _linear_part(x, y, alpha)
    if K <= 0:
        raise LawFitError(f"{where}: the values do not decrease with x; no power law to fit")
    return c, float(np.log(K) / alpha + log_unit), alpha


def at_size(sizes: np.ndarray, values: np.ndarray, n: float, where: str, exponent: float | None) -> np.ndarray:
    """Values (`s x e`) recorded at model sizes (`s`) -> values at size ``n``: the recorded row
    when that size was trained, else the size law per column."""
    hit = np.isclose(sizes, n, rtol=1e-9)
    if hit.any():
        return values[hit][0]
    if n <= 0:
        raise LawFitError(f"{where}: model size must be positive, got {n}")
    return np.array([power(n, *fit_power(sizes, values[:, i], where, exponent)) for i in range(values.shape[1])])
