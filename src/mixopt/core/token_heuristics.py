"""Mixtures computed from each domain's token count alone, what many practitioners use instead of a
search: natural proportions, temperature sampling and UniMax.

All three take the domains' training tokens ``T`` (`d`); UniMax also takes the training tokens
``D`` of the run the mixture is for.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

__all__ = ["HEURISTICS", "heuristic_mixture", "natural", "temperature", "unimax"]

#: The heuristics by name (the strategies' names and the config's ``reference`` values).
HEURISTICS = ("natural", "temperature", "unimax")
#: Temperature sampling's default: mT5 and XLM-R sample languages with p ∝ n^0.3, i.e. τ = 1/0.3.
DEFAULT_TAU = 3.33


def _counts(tokens: np.ndarray) -> np.ndarray:
    t = np.asarray(tokens, dtype=float)
    if t.ndim != 1 or len(t) == 0 or not np.all(np.isfinite(t)) or np.any(t <= 0):
        raise ValueError(f"token counts must be positive and finite, got {t.tolist()}")
    return t


def natural(tokens: np.ndarray) -> np.ndarray:
    """`d` -> `d`: each domain's share of the tokens, ``T_i / sum T``."""
    t = _counts(tokens)
    return t / t.sum()


def temperature(tokens: np.ndarray, tau: float) -> np.ndarray:
    """`d` -> `d`: ``p_i ∝ T_i^(1/τ)`` (Arivazhagan et al. 2019; Conneau et al. 2020). τ = 1 is
    the natural mixture; a larger τ flattens it towards uniform."""
    if not tau > 0:
        raise ValueError(f"temperature tau must be positive, got {tau!r}")
    t = _counts(tokens)
    # in log space: counts of 1e12 to the power 1/τ stay finite and the ratios exact
    logits = np.log(t) / float(tau)
    p = np.exp(logits - logits.max())
    return p / p.sum()


def unimax(tokens: np.ndarray, budget: float, max_epochs: float) -> np.ndarray:
    """`d` -> `d`: UniMax (Chung et al. 2023, Algorithm 1). The budget ``D`` is spread uniformly
    over the domains, smallest first, each taking at most ``max_epochs`` passes over its tokens;
    what a capped domain cannot take goes to the larger ones.

    When even every domain at its cap holds less than ``D`` (the run must repeat more than
    ``max_epochs``), the budgets are scaled up together: the mixture is then the natural one.
    """
    if not budget > 0 or not max_epochs > 0:
        raise ValueError(f"unimax needs a positive budget and max_epochs, got {budget!r} and {max_epochs!r}")
    t = _counts(tokens)
    left, alloc = float(budget), np.zeros_like(t)
    order = np.argsort(t, kind="stable")
    for k, i in enumerate(order):
        alloc[i] = min(left / (len(t) - k), max_epochs * t[i])
        left -= alloc[i]
    return alloc / alloc.sum()


def heuristic_mixture(name: str, domains: Sequence[str], tokens: Mapping[str, float], run_tokens: float | None = None,
                      tau: float = DEFAULT_TAU, max_epochs: float | None = None) -> np.ndarray:
    """The `d` mixture heuristic ``name`` gives ``domains`` from their ``tokens``.

    Args:
        name: one of :data:`HEURISTICS`.
        domains: the `d` domain names, in mixture order.
        tokens: domain -> its training tokens (every domain of ``domains``).
        run_tokens: the training tokens of the run (``unimax`` only).
        tau: ``temperature``'s τ.
        max_epochs: ``unimax``'s cap on the passes over a domain.

    Raises:
        ValueError: naming the domains without a token count, or an unknown heuristic.
    """
    missing = [d for d in domains if d not in tokens]
    if missing:
        raise ValueError(f"{name} needs the training tokens of every domain; missing for {missing}")
    t = np.array([float(tokens[d]) for d in domains])
    if name == "natural":
        return natural(t)
    if name == "temperature":
        return temperature(t, tau)
    if name == "unimax":
        if run_tokens is None or max_epochs is None:
            raise ValueError("unimax needs the run's training tokens and max_epochs")
        return unimax(t, run_tokens, max_epochs)
    raise ValueError(f"unknown token heuristic {name!r}; choose from {list(HEURISTICS)}")
