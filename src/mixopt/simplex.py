"""Points on the probability simplex {w : w_i >= 0, sum_i w_i = 1}."""

from __future__ import annotations

import numpy as np
import torch
from botorch.utils.sampling import sample_simplex

SUM_TOLERANCE = 1e-6


def space_filling(n: int, d: int, seed: int) -> np.ndarray:
    """`n x d` scrambled-Sobol points mapped uniformly onto the simplex (BoTorch's sample_simplex)."""
    if n == 0:
        return np.zeros((0, d))
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
