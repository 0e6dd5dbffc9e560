"""RegMix (Liu et al., ICLR 2025): regress each evaluation loss on the mixture over many small runs.

Fitted on each run's last checkpoint, one regressor per evaluation domain: LightGBM (RegMix's
choice) or a linear model. When those checkpoints span several model sizes (training lengths),
log N (log D) is a feature too: the linear model then extrapolates in scale, linearly in log N and
log D; trees cannot extrapolate and predict a larger scale as the largest one they saw. With a
single (N, D) the prediction does not depend on N and D at all: RegMix assumes the ranking of
mixtures carries over to the target scale, not the losses. RegMix is a ranking method: its
strategy recommends the mean of the top-k predicted mixtures rather than one jagged optimum.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mixopt.laws.base import Law, LawFitError, Runs, single_threaded

#: LightGBM needs some data to grow a tree at all (its leaves hold several points each).
MIN_RUNS_LIGHTGBM = 16


class RegMixLaw(Law):
    """Args:
        model: ``lightgbm`` (``LGBMRegressor``, deterministic given ``seed``) or ``linear``
            (least squares without intercept: the mixture's columns sum to one and span it).
        seed: LightGBM's seed.

    After ``fit``, ``regressors_`` holds one fitted regressor per evaluation domain; for the
    linear model ``params_[domain]`` = ``{"coef": `d` (the loss at each pure domain),
    "log_params", "log_tokens"}`` (the last two only when they are features).
    """

    name: ClassVar[str] = "regmix"

    def __init__(self, model: str = "lightgbm", seed: int = 0) -> None:
        if model not in ("lightgbm", "linear"):
            raise ValueError(f"regmix: model must be 'lightgbm' or 'linear', got {model!r}")
        self.model, self.seed = model, seed

    def _features(self, mixtures: np.ndarray, params: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        """`m x d` mixtures -> `m x f` features (the mixture, then log N, log D when they vary)."""
        extra = [np.log(params)] if self.by_size_ else []
        extra += [np.log(tokens)] if self.by_length_ else []
        return np.column_stack([mixtures, *extra])

    def _regressor(self, n: int):
        # only the chosen regressor is imported: lightgbm alone takes about a second
        if self.model == "linear":
            from sklearn.linear_model import LinearRegression

            return LinearRegression(fit_intercept=False)
        from lightgbm import LGBMRegressor

        return LGBMRegressor(n_estimators=500, learning_rate=0.05, num_leaves=15,
                             min_child_samples=max(2, min(20, n // 10)), random_state=self.seed, n_jobs=1,
                             deterministic=True, force_col_wise=True, verbose=-1)

    @single_threaded
    def fit(self, runs: Runs) -> RegMixLaw:
        final = runs.final()
        d = len(runs.domains)
        self.sizes_ = np.unique(final.params)
        self.by_size_ = len(self.sizes_) > 1
        self.by_length_ = len(np.unique(final.tokens)) > 1
        label = f"{self.name} ({self.model})"
        n_mixtures = len(final.mixture_ids()[0])
        needed = d + 2 if self.model == "linear" else max(d + 2, MIN_RUNS_LIGHTGBM)
        if n_mixtures < needed:
            raise LawFitError(f"{label}: {n_mixtures} distinct mixture(s) among the runs' final checkpoints, "
                              f"needs at least {needed}" + (" (d + 2)" if self.model == "linear" else ""))
        X = self._features(final.mixtures, final.params, final.tokens)
        if self.model == "linear":
            rank = np.linalg.matrix_rank(X)
            if rank < X.shape[1]:
                raise LawFitError(f"{label}: the runs' mixtures (and log N, log D) are collinear (rank {rank} "
                                  f"of {X.shape[1]} features); the linear model is not determined")
        self.regressors_ = [self._regressor(len(X)).fit(X, final.losses[:, i]) for i in range(final.losses.shape[1])]
        if self.model == "linear":
            names = ["log_params"] * self.by_size_ + ["log_tokens"] * self.by_length_
            self.params_ = {domain: {"coef": reg.coef_[:d].copy(), **dict(zip(names, map(float, reg.coef_[d:])))}
                            for domain, reg in zip(runs.eval_domains, self.regressors_)}
        self._fitted(runs)
        return self

    def unsupported(self, params: np.ndarray) -> str | None:
        """Past the largest fitted size, regression trees predict that size's losses (they cannot
        extrapolate), and a fit on one size has no size trend at all."""
        beyond = np.asarray(params, dtype=float)
        beyond = beyond[beyond > self.sizes_.max() * (1 + 1e-9)]
        if beyond.size == 0 or (self.model == "linear" and self.by_size_):
            return None
        why = "regression trees cannot extrapolate in size" if self.by_size_ else "one size fitted: no size trend"
        return (f"{self.name} ({self.model}) predicts {beyond.min():.3g}-{beyond.max():.3g} parameters from runs up to "
                f"{self.sizes_.max():.3g}: {why}; outside what the data support")

    def _predict(self, mixtures, params, tokens):
        X = self._features(mixtures, params, tokens)
        return np.column_stack([r.predict(X) for r in self.regressors_])
