"""The minimiser of a fitted law over the simplex (or over a pool of candidate mixtures)."""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.optimize import minimize

from mixopt.core.constraints import MixtureBox
from mixopt.core.simplex import project, space_filling

Objective = Callable[[np.ndarray], np.ndarray]  # `m x d` mixtures -> `m` predicted objective


def minimise(objective: Objective, d: int, seed: int = 0, candidates: np.ndarray | None = None,
             samples: int = 4096, top_k: int | None = None, refine: int = 3,
             box: MixtureBox | None = None) -> np.ndarray:
    """The mixture (`d`) with the lowest predicted objective.

    From ``candidates`` (`k x d`, a pool): the best of them. Otherwise ``samples`` space-filling
    points of the simplex (inside ``box``: bounds and repetition caps), then either RegMix's rule
    (``top_k``: the mean of the k best, which averages out a tree model's jagged optimum; the box
    is convex, so the mean stays inside) or a local refinement (SLSQP on the simplex, within the
    box) from the ``refine`` best, for a smooth law.
    """
    if candidates is not None:
        return candidates[int(np.argmin(objective(candidates)))]
    points = space_filling(samples, d, seed) if box is None else box.sample(samples, seed)
    values = objective(points)
    order = np.argsort(values)
    if top_k:
        return project(points[order[:top_k]].mean(axis=0, keepdims=True))[0]
    best, best_value = points[order[0]], float(values[order[0]])
    constraint = {"type": "eq", "fun": lambda w: w.sum() - 1.0}
    for start in points[order[:refine]]:
        result = minimize(lambda w: float(objective(w[None, :])[0]), start, method="SLSQP",
                          bounds=[(0.0, 1.0)] * d if box is None else list(zip(box.lower, box.upper)),
                          constraints=[constraint], options={"maxiter": 200})
        w = project(np.clip(result.x, 0.0, 1.0)[None, :])[0] if box is None else box.project(result.x)[0]
        value = float(objective(w[None, :])[0])
        if np.isfinite(value) and value < best_value:
            best, best_value = w, value
    return best
