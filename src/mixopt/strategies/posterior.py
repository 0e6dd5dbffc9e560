"""The joint posterior of a model at a set of mixtures: what a recommendation's evidence is made of.

Comparing two mixtures (the recommendation and a reference) from two marginals ignores that their
predictions share the same observations: two close mixtures are predicted with errors that largely
cancel in their difference. The difference's spread needs their covariance, so a model reports
means *and* covariances across the mixtures, per domain and for the objective.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm


@dataclass(frozen=True)
class JointPosterior:
    """A model's posterior of the expected losses at `k` mixtures, at the target.

    Attributes:
        loss_mean: `k x e` per-domain means (NaN for a domain the model does not model).
        loss_cov: `e x k x k` per-domain covariances across the mixtures (NaN where not modelled).
        objective_mean: `k` means of the objective.
        objective_cov: `k x k` covariance of the objective across the mixtures.
        model: what the posterior comes from, for a person.
    """

    loss_mean: np.ndarray
    loss_cov: np.ndarray
    objective_mean: np.ndarray
    objective_cov: np.ndarray
    model: str

    def difference(self, a: int, b: int) -> dict[str, np.ndarray]:
        """Mixture ``a`` minus mixture ``b``: ``objective`` (mean, std, P(a is worse: > 0)) as
        3-vectors, and ``losses`` as `e x 3` rows of the same."""
        def summary(mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
            gap = mean[..., a] - mean[..., b]
            var = cov[..., a, a] + cov[..., b, b] - 2 * cov[..., a, b]
            std = np.sqrt(np.maximum(var, 0.0))
            with np.errstate(divide="ignore", invalid="ignore"):
                p_worse = np.where(std > 0, norm.sf(0.0, loc=gap, scale=np.where(std > 0, std, 1.0)),
                                   (gap > 0).astype(float))
            return np.stack([gap, std, np.where(np.isfinite(gap), p_worse, np.nan)], axis=-1)

        return {"objective": summary(self.objective_mean, self.objective_cov),
                "losses": summary(self.loss_mean.T, self.loss_cov)}

    def probability_best(self, index: int, samples: int = 4096, seed: int = 0) -> float:
        """P(mixture ``index`` has the lowest objective of the `k`), from joint samples."""
        k = len(self.objective_mean)
        if k == 1:
            return 1.0
        rng = np.random.default_rng(seed)
        cov = self.objective_cov + np.eye(k) * 1e-12 * max(float(np.trace(self.objective_cov)) / k, 1e-12)
        draws = rng.multivariate_normal(self.objective_mean, cov, size=samples, method="eigh")
        return float(np.mean(draws.argmin(axis=1) == index))
