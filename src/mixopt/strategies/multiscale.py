"""Multi-scale BO that learns how far each proxy scale can be trusted: the default with several scales.

It shares ``mfms``'s acquisition (expected improvement of the *target* objective per cost of a run,
over a grid of scales x run lengths; :mod:`mixopt.strategies.multifidelity`) and changes two things
that made the paper's model fail on problems it was not tuned on:

- **The model.** Instead of a stationary RBF over log model size with a mean linear in the
  mixture (which extrapolates a proxy's ranking to the target whether or not it transfers), scales
  are *tasks* of an intrinsic coregionalisation model: ``k = k_w(w, w') * k_z(z, z') * B[s, s']``
  with ``B = v v^T + diag(kappa)`` learned from the data (``gpytorch.kernels.IndexKernel``), and
  each scale has its own loss level and learning-curve slope (the mean). Where mixtures run at two
  scales rank alike, ``B`` correlates them and cheap runs inform the target; where they do not
  (a proxy optimum that moves with size), the correlation is learned to be low and the target's own
  runs decide. ``z`` is the fraction of the scale's full run, so run lengths align across scales.
- **The end game.** The recommendation is the best mixture *already run at the target* (by
  posterior mean) unless the joint posterior says another observed mixture is better with
  probability at least ``switch_confidence``. Near-equal mixtures at the top then stop churning:
  a recommendation that changes costs a target run, and differences below the noise are not worth it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from botorch.models import SingleTaskGP
from botorch.models.transforms import Standardize
from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
from gpytorch.kernels import ConstantKernel, IndexKernel, LinearKernel, RBFKernel
from scipy.stats import norm

from mixopt.core.observations import mixtures, successful
from mixopt.core.problem import Fidelity
from mixopt.core.simplex import is_among
from mixopt.gp.means import TaskLinearMean
from mixopt.strategies import options as opt
from mixopt.strategies.base import Recommendation
from mixopt.strategies.gp_model import Outputs, posterior_recommendation
from mixopt.strategies.multifidelity import ACQUISITION_OPTIONS, MultiFidelityGPStrategy

#: the shortest run of the grid is this fraction of its scale's full run (the step input spans it)
SHORTEST_FRACTION = 0.25


class MultiScaleStrategy(MultiFidelityGPStrategy):
    """Options: those of the grid and the acquisition (``scales``, ``step_fractions``,
    ``cooling_iterations``, ``raw_samples``, ``min_observations``, ``max_checkpoints``: see
    :class:`~mixopt.strategies.multifidelity.MultiFidelityGPStrategy`), and:
        switch_confidence: the posterior probability that another mixture beats the best one run
            at the target, needed to recommend it instead.
    """

    name = "multiscale"
    # the task covariance has flat directions: without a cap L-BFGS spends thousands of steps there
    fit_options = {"maxiter": 100}
    declared_options = {
        **{k: ACQUISITION_OPTIONS[k]
           for k in ("scales", "cooling_iterations", "raw_samples", "min_observations", "max_checkpoints")},
        # full runs only: a run still yields all its checkpoints, and under the bench's charging
        # rule a partial run at the target is paid for but is never a candidate answer
        "step_fractions": opt.unit_fractions([1.0]),
        "switch_confidence": opt.number_in(0.5, 1.0, 0.9),
    }

    def tasks(self) -> list[str]:
        """Every known scale, one task each (the target included)."""
        return list(self.problem.full_steps)

    def _fidelity_features(self, scales: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """(fraction of the scale's full run on a log scale, in [0, 1]; task index; log FLOPs per
        step relative to the target's, in [-1, 0] over the known scales) of `n` checkpoints; `n x 3`."""
        tasks = self.tasks()
        full = np.array([self.problem.full_steps[s] for s in scales], dtype=float)
        z = 1.0 + np.log(np.maximum(steps, 1.0) / full) / np.log(1.0 / SHORTEST_FRACTION)
        index = np.array([tasks.index(s) for s in scales], dtype=float)
        size = np.log([self.problem.step_flops[s] for s in scales])
        known = np.log([self.problem.step_flops[s] for s in tasks])
        top = np.log(self.problem.step_flops[self.problem.target.scale])
        span = max(top - known.min(), 1e-9)
        return np.column_stack([z, index, (size - top) / span])

    def law_inputs(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        d, tasks = self.problem.dim, self.tasks()
        scales = [tasks[int(round(i))] for i in X[:, d + 1]]
        full = np.array([self.problem.full_steps[s] for s in scales], dtype=float)
        steps = full * np.exp((X[:, d] - 1.0) * np.log(1.0 / SHORTEST_FRACTION))
        params = np.array([self.problem.n_params(s) for s in scales])
        per_step = np.array([self.problem.step_flops[s] for s in scales]) / (6.0 * params)
        return X[:, :d], params, steps * per_step

    def build_model(self, X: torch.Tensor, Y: torch.Tensor, observations: pd.DataFrame,
                    outputs: Outputs) -> SingleTaskGP:
        d, m, tasks = self.problem.dim, Y.shape[-1], len(self.tasks())
        batch = torch.Size([m]) if m > 1 else torch.Size([])
        torch.manual_seed(self.seed)
        # across scales: a part shared by all (constant), a part that grows linearly in log size
        # away from the target (a mixture's advantage that changes with scale: a moving optimum),
        # and a part of each scale's own (the diagonal of an index kernel with no shared factor)
        own = IndexKernel(num_tasks=tasks, rank=1, batch_shape=batch, active_dims=[d + 1])
        own.covar_factor.data.zero_()
        own.covar_factor.requires_grad_(False)
        across = (ConstantKernel(batch_shape=batch, active_dims=[d + 2])
                  + LinearKernel(batch_shape=batch, active_dims=[d + 2]) + own)
        covar = (get_covar_module_with_dim_scaled_prior(d, batch_shape=batch, active_dims=list(range(d)))
                 * RBFKernel(batch_shape=batch, active_dims=[d]) * across)
        mean = TaskLinearMean(tasks, task_dim=d + 1, steps_dim=d, batch_shape=batch)
        model = SingleTaskGP(X, Y, covar_module=covar, mean_module=mean, outcome_transform=Standardize(m=m))
        return model

    def hyperparameters(self, model: SingleTaskGP, outputs: Outputs) -> dict[str, Any]:
        """The model's correlation of each scale with the target, at the same mixture (what the
        model trusts each proxy for)."""
        tasks, target = self.tasks(), self.problem.target
        w = np.full((1, self.problem.dim), 1.0 / self.problem.dim)
        X = torch.cat([self.inputs(w, target)] + [self.inputs(w, Fidelity(s, self.problem.full_steps[s])) for s in tasks])
        with torch.no_grad():
            K = model.covar_module(X).to_dense()
            K = K if K.dim() == 2 else K[0]
        sd = K.diagonal().clamp_min(1e-18).sqrt()
        corr = (K[0, 1:] / (sd[0] * sd[1:])).tolist()
        return {"correlation_with_target": {s: round(c, 4) for s, c in zip(tasks, corr)},
                "noise": model.likelihood.noise.detach().reshape(-1).tolist()}

    def answer_from(self, model: SingleTaskGP, X: torch.Tensor, observations: pd.DataFrame,
                    outputs: Outputs) -> Recommendation:
        """The best mixture run at the target, unless another observed one (or the reference) is
        better with probability >= ``switch_confidence`` (from the joint posterior of the two)."""
        target = self.problem.target
        seen = self.with_reference(self._observed_mixtures(observations, self.box(target)))
        p_no_worse = None
        if self.no_worse is not None:  # only mixtures that meet it compete (the reference always does)
            p_no_worse = self.probability_no_worse(model, seen)
            kept = self.no_worse_kept(p_no_worse)
            seen, p_kept = seen[kept], p_no_worse[kept]
        ok = successful(observations)
        ok = ok[ok["scale"] == target.scale]
        at_target = is_among(seen, mixtures(ok, self.problem)) if len(ok) else np.zeros(len(seen), dtype=bool)
        inputs = self.inputs(seen, target)
        mean, cov = self.objective_posterior(model, inputs.unsqueeze(0), outputs, noisy=False)
        mean, cov = mean[0].numpy(), cov[0].numpy()
        challenger = int(np.argmin(mean))
        choice, note = challenger, "no mixture run at the target yet: the model's best"
        if at_target.any():
            incumbent = int(np.flatnonzero(at_target)[np.argmin(mean[at_target])])
            gap_sd = np.sqrt(max(cov[challenger, challenger] + cov[incumbent, incumbent]
                                 - 2 * cov[challenger, incumbent], 1e-18))
            p_better = float(norm.cdf((mean[incumbent] - mean[challenger]) / gap_sd))
            switch = challenger != incumbent and p_better >= self.options["switch_confidence"]
            choice = challenger if switch else incumbent
            note = (f"P(model's best beats the best run at the target) = {p_better:.2f}; "
                    + ("switched" if switch else f"kept the target run (switch needs {self.options['switch_confidence']:.2f})"))
        prediction = self.predict(model, inputs[choice:choice + 1], outputs)
        trained = bool(at_target.any())
        checked: dict[str, Any] = {}
        if p_no_worse is not None:
            checked = self.no_worse_details(p_no_worse, float(p_kept[choice]))
        return posterior_recommendation(
            prediction, 0, mixture=seen[choice], fidelity=target,
            method="multi-scale GP (scales as correlated tasks): best run at the target unless confidently beaten",
            considered=seen,
            details={"checkpoints_used": len(X), "target_scale_trained": trained, "note": note,
                     **checked, **self.hyperparameters(model, outputs)},
        )

