"""RegMix (Liu et al., ICLR 2025): regress each evaluation loss on the mixture over many small runs.

Fitted on each run's last checkpoint. When the runs span several (N, D), log N and log D are
features too: the linear model then extrapolates in scale; trees (LightGBM) cannot, and predict
a larger scale as the largest one they saw. RegMix is a ranking method: its recommendation (in
the strategy) averages the top-k predicted mixtures rather than trusting one jagged optimum.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mixopt.laws.base import Law, Runs, require


class RegMixLaw(Law):
    """Args:
        model: ``lightgbm`` (RegMix's choice) or ``linear``.
        seed: LightGBM's seed (the fit is deterministic given it).
    """

    name: ClassVar[str] = "regmix"

    def __init__(self, model: str = "lightgbm", seed: int = 0) -> None:
        if model not in ("lightgbm", "linear"):
            raise ValueError(f"regmix: model must be 'lightgbm' or 'linear', got {model!r}")
        self.model, self.seed = model, seed

    def _features(self, mixtures, params, tokens) -> np.ndarray:
        extra = [np.log(params)] if self.by_size_ else []
        extra += [np.log(tokens)] if self.by_length_ else []
        return np.column_stack([mixtures, *extra]) if extra else mixtures

    def _regressor(self, n: int):
        if self.model == "linear":
            from sklearn.linear_model import LinearRegression

            return LinearRegression()
        from lightgbm import LGBMRegressor

        return LGBMRegressor(n_estimators=500, learning_rate=0.05, num_leaves=15, min_child_samples=max(2, min(20, n // 10)),
                             random_state=self.seed, n_jobs=1, deterministic=True, force_col_wise=True, verbose=-1)

    def fit(self, runs: Runs) -> "RegMixLaw":
        last = np.array([rows[np.argmax(runs.tokens[rows])] for rows in
                         (np.flatnonzero(runs.run == r) for r in np.unique(runs.run))])
        final = runs.subset(last)
        mixtures, _ = final.mixture_ids()
        d = len(runs.domains)
        require(len(mixtures), d + 2 if self.model == "linear" else max(d + 2, 16), f"{self.name} ({self.model})",
                "distinct mixture(s)")
        self.by_size_ = len(np.unique(final.params)) > 1
        self.by_length_ = len(np.unique(final.tokens)) > 1
        X = self._features(final.mixtures, final.params, final.tokens)
        self.regressors_ = [self._regressor(len(X)).fit(X, final.losses[:, i]) for i in range(final.losses.shape[1])]
        self.fitted_ = True
        return self

    def _predict(self, mixtures, params, tokens):
        X = self._features(mixtures, params, tokens)
        return np.column_stack([r.predict(X) for r in self.regressors_])
