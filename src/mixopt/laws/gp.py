"""The GP as a predictor, alone or on top of a fitted law (the law-informed GP).

Inputs are the mixture, log N and log D (scaled to [0, 1] over the fitted runs, so a larger model
lies beyond 1); the kernel is mfms's product over (mixture, size, steps). Alone, its linear mean is
what carries the trend across sizes; with a ``prior`` law, the law is fitted first and the GP
models what it leaves (the residual, constant mean): the law extrapolates, the GP corrects it
where runs were seen.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import ModelListGP, SingleTaskGP
from botorch.models.transforms import Standardize
from gpytorch.means import ConstantMean, LinearMean
from gpytorch.mlls import ExactMarginalLogLikelihood

from mixopt.gp.kernels import mixture_fidelity_kernel
from mixopt.laws.base import Law, LawFitError, Runs

DTYPE = torch.float64


class GPLaw(Law):
    """A GP over (mixture, log N, log D), one output per evaluation domain.

    Args:
        prior: a law fitted first; the GP models its residual (``None``: a linear mean).
        max_points: at most this many checkpoints are used (the exact GP is cubic in them);
            each run keeps its last checkpoint, then checkpoints are thinned evenly.
        seed: makes the fit reproducible.
    """

    name: ClassVar[str] = "gp"

    def __init__(self, prior: Law | None = None, max_points: int = 600, seed: int = 0) -> None:
        self.prior = prior
        self.max_points = max_points
        self.seed = seed
        self.model_: ModelListGP | None = None

    def _features(self, mixtures: np.ndarray, params: np.ndarray, tokens: np.ndarray) -> torch.Tensor:
        raw = np.column_stack([np.log(params), np.log(tokens)])
        scaled = (raw - self.low_) / self.span_
        return torch.tensor(np.hstack([mixtures, scaled]), dtype=DTYPE)

    def fit(self, runs: Runs) -> "GPLaw":
        if len(np.unique(runs.mixtures.round(9), axis=0)) < 2:
            raise LawFitError(f"{self.label}: needs runs on at least 2 distinct mixtures, has 1")
        if self.prior is not None:
            self.prior.fit(runs)
        raw = np.column_stack([np.log(runs.params), np.log(runs.tokens)])
        self.sizes_ = np.unique(runs.params)
        self.low_ = raw.min(axis=0)
        self.span_ = np.where(raw.max(axis=0) > self.low_, raw.max(axis=0) - self.low_, 1.0)
        runs = runs.thin(self.max_points)
        X = self._features(runs.mixtures, runs.params, runs.tokens)
        y = runs.losses
        if self.prior is not None:
            y = y - self.prior.predict(runs.mixtures, runs.params, runs.tokens)
        d = runs.mixtures.shape[1]
        torch.manual_seed(self.seed)
        # The kernel's lengthscales are fitted once, on the mean over domains, and shared: every
        # domain's GP then fits only its own mean, output scale and noise. Fitting all of them per
        # domain was measured 24 s a domain at 300 checkpoints on this project's 2-core machine.
        shared = self._gp(X, y.mean(axis=1, keepdims=True), d)
        fit_gpytorch_mll(ExactMarginalLogLikelihood(shared.likelihood, shared))
        lengthscales = {name: p.detach().clone() for name, p in shared.covar_module.named_parameters()
                        if "lengthscale" in name}
        models = []
        for column in y.T:
            gp = self._gp(X, column[:, None], d)
            for name, p in gp.covar_module.named_parameters():
                if name in lengthscales:
                    p.data.copy_(lengthscales[name])
                    p.requires_grad_(False)
            fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp))
            models.append(gp)
        self.model_ = ModelListGP(*models)
        self.fitted_ = True
        return self

    def _gp(self, X: torch.Tensor, y: np.ndarray, d: int) -> SingleTaskGP:
        """An unfitted single-output GP on `n x (d + 2)` features and `n x 1` targets."""
        mean = ConstantMean() if self.prior is not None else LinearMean(d + 2)
        return SingleTaskGP(X, torch.tensor(y, dtype=DTYPE), covar_module=mixture_fidelity_kernel(d),
                            mean_module=mean, outcome_transform=Standardize(m=1))

    def unsupported(self, params: np.ndarray) -> str | None:
        """Alone, the GP has no size law: past the largest fitted size only its linear mean in
        log N, fitted on a few sizes, carries the trend (measured 90-121% off on real runs two
        sizes up, where dml was 2.5% off). With a prior law, the law extrapolates: ``None``."""
        beyond = np.asarray(params, dtype=float)
        beyond = beyond[beyond > self.sizes_.max() * (1 + 1e-9)]
        if self.prior is not None or beyond.size == 0:
            return None
        return (f"{self.label} extrapolates from {len(self.sizes_)} fitted size(s) (up to {self.sizes_.max():.3g} "
                f"parameters) to {beyond.min():.3g}-{beyond.max():.3g} with no size law: outside what the data "
                f"support; use gp+dml or gp+scaling_law there")

    @property
    def label(self) -> str:
        return "gp" if self.prior is None else f"gp+{self.prior.name}"

    def predict_with_std(self, mixtures, params, tokens) -> tuple[np.ndarray, np.ndarray]:
        """`m x d` mixtures at N, D (scalars or `m`) -> posterior mean and std, each `m x e`."""
        if self.model_ is None:
            raise RuntimeError(f"{self.label}: predict before fit")
        mixtures = np.atleast_2d(np.asarray(mixtures, dtype=float))
        m = len(mixtures)
        params = np.broadcast_to(np.asarray(params, dtype=float), (m,))
        tokens = np.broadcast_to(np.asarray(tokens, dtype=float), (m,))
        with torch.no_grad():
            post = self.model_.posterior(self._features(mixtures, params, tokens))
        mean = post.mean.numpy().reshape(m, -1)
        std = post.variance.clamp_min(0).sqrt().numpy().reshape(m, -1)
        if self.prior is not None:
            mean = mean + self.prior.predict(mixtures, params, tokens)
        return mean, std

    def _predict(self, mixtures, params, tokens) -> np.ndarray:
        return self.predict_with_std(mixtures, params, tokens)[0]
