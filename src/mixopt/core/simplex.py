"""Points on the probability simplex {w : w_i >= 0, sum_i w_i = 1}, and when two are the same mixture."""

from __future__ import annotations

import numpy as np

#: A mixture someone gives (a config, a proposal) must sum to one within this.
SUM_TOLERANCE = 1e-6
#: Recorded mixtures are often rounded (RegMix: 3 decimals); sums within this are renormalised.
ROUNDING_TOLERANCE = 5e-3
#: Two mixtures closer than this (largest absolute difference of a weight) are the same mixture.
MATCH_TOLERANCE = 1e-6


def space_filling(n: int, d: int, seed: int) -> np.ndarray:
    """`n x d` scrambled-Sobol points mapped uniformly onto the simplex (BoTorch's sample_simplex)."""
    if n == 0:
        return np.zeros((0, d))
    import torch  # torch and BoTorch take seconds to import; most users of this module never draw
    from botorch.utils.sampling import sample_simplex

    return sample_simplex(d=d, n=n, qmc=True, seed=seed, dtype=torch.double).numpy()


def dirichlet(n: int, d: int, alpha: float, seed: int) -> np.ndarray:
    """`n x d` draws from a symmetric Dirichlet(alpha)."""
    return np.random.default_rng(seed).dirichlet(np.full(d, float(alpha)), size=n)


def project(w: np.ndarray) -> np.ndarray:
    """Clip the round-off of an optimiser (tiny negatives, sums off by 1e-9) back onto the simplex.

    `... x d` -> `... x d`.
    """
    w = np.clip(np.asarray(w, dtype=float), 0.0, None)
    return w / w.sum(axis=-1, keepdims=True)


def check_mixture(w: np.ndarray, names: tuple[str, ...] | list[str] | None = None) -> None:
    """Raise ValueError unless ``w`` (`d`) is a mixture: finite, non-negative, sums to one."""
    w = np.asarray(w, dtype=float)
    label = dict(zip(names, w.tolist())) if names is not None else w.tolist()
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"mixture weights must be finite and non-negative, got {label}")
    if abs(w.sum() - 1.0) > SUM_TOLERANCE:
        raise ValueError(f"mixture weights must sum to 1, they sum to {w.sum():.6g}: {label}")


def nearest_gap(points: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """`k x d` points, `m x d` pool -> `k`: each point's largest weight difference to its nearest
    pool row (``inf`` for an empty pool)."""
    points, pool = np.atleast_2d(points), np.atleast_2d(pool)
    if pool.size == 0:
        return np.full(len(points), np.inf)
    return np.abs(points[:, None, :] - pool[None, :, :]).max(-1).min(-1)


def is_among(points: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """`k` booleans: which of `k x d` points are the same mixture as some row of `m x d` pool."""
    return nearest_gap(points, pool) <= MATCH_TOLERANCE


def same_mixture(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two `d` mixtures are the same (within :data:`MATCH_TOLERANCE`)."""
    return bool(np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)).max() <= MATCH_TOLERANCE)


def mixture_key(w: np.ndarray) -> tuple:
    """A hashable stand-in for a mixture (weights rounded to 6 decimals), for dictionaries of
    mixtures already run; two mixtures within round-off of each other share a key."""
    return tuple(np.round(np.asarray(w, dtype=float), 6))


def match(pool: np.ndarray, mixture: np.ndarray) -> int | None:
    """Index of the row of `m x d` ``pool`` that is ``mixture`` (`d`), else ``None``."""
    if len(pool) == 0:
        return None
    gap = np.abs(pool - mixture).max(axis=1)
    i = int(np.argmin(gap))
    return i if gap[i] <= MATCH_TOLERANCE else None
