"""Multi-fidelity, multi-scale Bayesian optimisation (arXiv 2503.21023).

One GP over (mixture, model size, training steps): a product of RBF kernels over the three blocks
(ARD over the mixture) with a linear mean, fitted on *every checkpoint* of every run -- a run to z
steps also observed every z' < z. Sizes enter as log FLOPs per step, steps as log steps, both
scaled to [0, 1] over the fidelity grid and the target. The fidelity grid and the acquisition
(expected improvement of the *target* objective per cost of a run) are
:mod:`mixopt.strategies.multifidelity`'s, shared with ``multiscale``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from botorch.models import SingleTaskGP
from botorch.models.transforms import Standardize
from gpytorch.kernels import Kernel
from gpytorch.means import LinearMean

from mixopt.gp.kernels import DISTANCES, mixture_fidelity_kernel
from mixopt.gp.means import FidelityLinearMean
from mixopt.strategies import options as opt
from mixopt.strategies.base import Recommendation
from mixopt.strategies.gp_model import GPModelStrategy, Outputs, posterior_recommendation
from mixopt.strategies.multifidelity import ACQUISITION_OPTIONS, MultiFidelityGPStrategy, thinned_checkpoints

__all__ = ["MFMSStrategy", "thinned_checkpoints"]


class MFMSStrategy(MultiFidelityGPStrategy):
    """Options: those of the grid and the acquisition (``scales``, ``step_fractions``,
    ``cooling_iterations``, ``raw_samples``, ``min_observations``, ``max_checkpoints``: see
    :class:`~mixopt.strategies.multifidelity.MultiFidelityGPStrategy`), ``prior_mean`` (see
    :class:`~mixopt.strategies.gp_model.GPModelStrategy`), and:
        mixture_kernel: ``rbf`` (ARD, the paper's), or a simplex distance: ``tv`` (total
            variation) or ``js`` (Jensen-Shannon), see :mod:`mixopt.gp.kernels`.
        mean: ``linear`` in every input (the paper's), or ``fidelity``: linear in size and steps
            only, so the mixture's effect lives in the GP alone and shrinks evenly across
            mixtures as the target gets further from what was trained.
        structure: ``product`` (the paper's kernel) or ``additive`` (plus a fidelity-only term).
        recommend_from: ``observed``: the recommendation is a mixture trained at some fidelity
            (the model ranks them at the target); ``anywhere``: any candidate (pool) or point of
            the simplex, trusting the model where no mixture near it was trained.
    """

    name = "mfms"
    declared_options = {
        **GPModelStrategy.declared_options,
        **{k: ACQUISITION_OPTIONS[k] for k in ("scales", "step_fractions", "cooling_iterations", "raw_samples",
                                               "min_observations")},
        "recommend_from": opt.choice(("observed", "anywhere"), "observed"),
        "mixture_kernel": opt.choice(("rbf", *DISTANCES), "rbf"),
        "structure": opt.choice(("product", "additive"), "product"),
        "mean": opt.choice(("linear", "fidelity"), "linear"),
        "max_checkpoints": ACQUISITION_OPTIONS["max_checkpoints"],
    }

    # -- the GP's inputs -------------------------------------------------------------------------

    def _fidelity_features(self, scales: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """(log FLOPs per step, log steps) of `n` checkpoints, scaled to [0, 1] over the grid and
        the target; `n x 2`."""
        grid = self.grid() + [self.problem.target]
        size = np.log([self.problem.step_flops[f.scale] for f in grid])
        length = np.log([f.steps for f in grid])
        lo = np.array([size.min(), np.log(max(1, min(f.steps for f in grid) // 4))])
        hi = np.array([size.max(), length.max()])
        span = np.where(hi > lo, hi - lo, 1.0)
        raw = np.column_stack([np.log([self.problem.step_flops[s] for s in scales]), np.log(steps)])
        return (raw - lo) / span

    def law_inputs(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`n x (d + 2)` GP inputs -> (mixtures, parameters, tokens) for a law. The size input is
        FLOPs per step; each input is mapped to the known scale nearest to it (the GP is only ever
        evaluated at known scales)."""
        d = self.problem.dim
        scales = list(self.problem.full_steps)
        known = self._fidelity_features(np.array(scales), np.ones(len(scales)))[:, 0]
        nearest = np.abs(X[:, d][:, None] - known[None, :]).argmin(axis=1)
        grid = self.grid() + [self.problem.target]
        lo = np.log(max(1, min(f.steps for f in grid) // 4))
        steps = np.exp(lo + X[:, d + 1] * (np.log(max(f.steps for f in grid)) - lo))
        params = np.array([self.problem.n_params(scales[i]) for i in nearest])
        per_step = np.array([self.problem.step_flops[scales[i]] for i in nearest]) / (6.0 * params)
        return X[:, :d], params, steps * per_step

    # -- model ---------------------------------------------------------------------------------

    def build_model(self, X: torch.Tensor, Y: torch.Tensor, observations: pd.DataFrame,
                    outputs: Outputs) -> SingleTaskGP:
        """The paper's product kernel over (mixture, size, steps) and a linear mean, or the law's."""
        d, m = self.problem.dim, Y.shape[-1]
        batch = torch.Size([m]) if m > 1 else torch.Size([])
        covar = self.covariance(d, batch)
        torch.manual_seed(self.seed)
        at_target = self.inputs(X[:, :d].numpy(), self.problem.target)  # where it predicts
        mean = self.prior_mean(observations, Y, outputs, probe=torch.cat([X, at_target])) or (
            LinearMean(d + 2, batch_shape=batch) if self.options["mean"] == "linear"
            else FidelityLinearMean(d, batch_shape=batch))
        return SingleTaskGP(X, Y, covar_module=covar, mean_module=mean, outcome_transform=Standardize(m=m))

    def covariance(self, d: int, batch: torch.Size) -> Kernel:
        """The paper's product kernel over (mixture, size, steps); see :func:`mixture_fidelity_kernel`."""
        return mixture_fidelity_kernel(d, batch, self.options["mixture_kernel"], self.options["structure"])

    # -- answer --------------------------------------------------------------------------------

    def answer_from(self, model: SingleTaskGP, X: torch.Tensor, observations: pd.DataFrame,
                    outputs: Outputs) -> Recommendation:
        """The mixture minimising the posterior mean of the target objective at the target fidelity,
        among the candidates (pool) or a dense set plus every observed mixture."""
        box = self.box(self.problem.target)
        if self.options["recommend_from"] == "observed":
            w = self._observed_mixtures(observations, box)
        else:
            w = self._mixture_candidates(model, observations, self.iteration_seed(0), outputs, box)
        w = self.with_reference(w)
        prediction, best, checked = self.lowest_mean(model, self.inputs(w, self.problem.target), w, outputs)
        trained = (observations["scale"] == self.problem.target.scale).any()
        return posterior_recommendation(
            prediction, best, mixture=w[best], fidelity=self.problem.target,
            method="multi-fidelity GP posterior mean minimum at the target",
            considered=w,
            details={"checkpoints_used": len(X),
                     "target_scale_trained": bool(trained), **checked,
                     **({} if trained else {"note": f"the target scale {self.problem.target.scale} was never "
                                                    "trained: its prediction is an extrapolation across sizes"})},
        )
