"""Single-fidelity Bayesian optimisation over the simplex with BoTorch.

A multi-output GP (one independent GP per domain loss, BoTorch's default kernel and priors) is
fitted on the trials at the target fidelity. The objective is linear in the domain losses, so its
posterior is the GP posterior pushed through ``ScalarizedPosteriorTransform``; that gives the
per-domain predictions a person needs to see which domain a mixture sacrifices. Each iteration
proposes q mixtures jointly with noisy batch log-expected-improvement (qLogNEI) under the
sum-to-one equality constraint.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from botorch.acquisition.analytic import PosteriorMean
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.acquisition.objective import ScalarizedPosteriorTransform
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms import Standardize
from botorch.optim import optimize_acqf
from botorch.sampling import SobolQMCNormalSampler
from gpytorch.mlls import ExactMarginalLogLikelihood

from mixopt.observations import at_fidelity, losses, mixtures
from mixopt.simplex import project
from mixopt.strategies.base import ProposalBatch, Recommendation, Strategy, best_observed

DTYPE = torch.double


class GPStrategy(Strategy):
    """BoTorch GP + qLogNEI at the target fidelity.

    Options:
        min_observations: below this many successful target trials, propose a space-filling design.
        raw_samples, num_restarts: acquisition optimiser effort (BoTorch's optimize_acqf).
        mc_samples: quasi-MC samples of the batch acquisition.
    """

    name = "gp"
    defaults = {"min_observations": 3, "raw_samples": 256, "num_restarts": 8, "mc_samples": 256}

    @classmethod
    def check_options(cls, options, domains) -> None:
        super().check_options(options, domains)
        for key, value in options.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"gp: option {key!r} must be a positive integer, got {value!r}")

    # -- model ---------------------------------------------------------------------------------

    def _training_data(self, observations: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
        """`n x d` mixtures and `n x d` losses of the successful trials at the target."""
        rows = at_fidelity(observations, self.problem.target)
        y = losses(rows, self.problem)
        keep = np.isfinite(y).all(axis=1)
        return (
            torch.tensor(mixtures(rows, self.problem)[keep], dtype=DTYPE),
            torch.tensor(y[keep], dtype=DTYPE),
        )

    def fit(self, observations: pd.DataFrame) -> SingleTaskGP:
        """Fit the per-domain GPs; raises ValueError with too few observations."""
        X, Y = self._training_data(observations)
        if len(X) < 2:
            raise ValueError(f"gp: needs at least 2 successful trials at the target, has {len(X)}")
        torch.manual_seed(self.seed)
        model = SingleTaskGP(X, Y, outcome_transform=Standardize(m=Y.shape[-1]))
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        return model

    def _negated_objective(self) -> ScalarizedPosteriorTransform:
        # BoTorch maximises; the objective is a loss.
        return ScalarizedPosteriorTransform(weights=-torch.tensor(self.problem.objective_weights, dtype=DTYPE))

    def _optimize(self, acqf, q: int, seed: int) -> torch.Tensor:
        d = self.problem.dim
        bounds = torch.stack([torch.zeros(d, dtype=DTYPE), torch.ones(d, dtype=DTYPE)])
        sum_to_one = (torch.arange(d), torch.ones(d, dtype=DTYPE), 1.0)
        torch.manual_seed(seed)
        candidates, _ = optimize_acqf(
            acqf,
            bounds=bounds,
            q=q,
            num_restarts=self.options["num_restarts"],
            raw_samples=self.options["raw_samples"],
            equality_constraints=[sum_to_one],
            options={"seed": seed},
        )
        return candidates.detach()

    def _predict(self, model: SingleTaskGP, X: torch.Tensor) -> dict[str, np.ndarray]:
        """Posterior of `n x d` mixtures: per-domain mean/std (`n x d`) and objective mean/std (`n`)."""
        with torch.no_grad():
            post = model.posterior(X)
            objective = model.posterior(X, posterior_transform=self._negated_objective())
        return {
            "loss_mean": post.mean.numpy(),
            "loss_std": post.variance.clamp_min(0).sqrt().numpy(),
            "objective_mean": -objective.mean.squeeze(-1).numpy(),
            "objective_std": objective.variance.clamp_min(0).sqrt().squeeze(-1).numpy(),
        }

    def hyperparameters(self, model: SingleTaskGP) -> dict[str, Any]:
        """Fitted kernel and noise parameters per domain, in standardised-outcome units."""
        covar = model.covar_module
        lengthscale = covar.lengthscale.detach().reshape(self.problem.dim, -1)
        out = {}
        for i, domain in enumerate(self.problem.domains):
            out[domain] = {
                "lengthscales": dict(zip(self.problem.domains, lengthscale[i].tolist())),
                "noise": float(model.likelihood.noise.detach().reshape(self.problem.dim, -1)[i, 0]),
                "mean_constant": float(model.mean_module.constant.detach().reshape(-1)[i]),
            }
        return out

    # -- Strategy ------------------------------------------------------------------------------

    def propose(self, observations: pd.DataFrame, n: int, iteration: int) -> ProposalBatch:
        n_obs = len(self._training_data(observations)[0])
        if n_obs < self.options["min_observations"]:
            return ProposalBatch(
                self.initial_design(n, iteration),
                {"design": "space-filling (scrambled Sobol on the simplex)", "observations": n_obs},
            )
        seed = self.iteration_seed(iteration)
        model = self.fit(observations)
        X, _ = self._training_data(observations)
        acqf = qLogNoisyExpectedImprovement(
            model=model,
            X_baseline=X,
            sampler=SobolQMCNormalSampler(sample_shape=torch.Size([self.options["mc_samples"]]), seed=seed),
            posterior_transform=self._negated_objective(),
            prune_baseline=True,
        )
        candidates = self._optimize(acqf, q=n, seed=seed)
        with torch.no_grad():
            log_ei = acqf(candidates.unsqueeze(0)).item()
        prediction = self._predict(model, candidates)
        return ProposalBatch(
            self.at_target(candidates.numpy()),
            {
                "design": "qLogNEI",
                "observations": n_obs,
                "batch_log_ei": log_ei,
                "predicted_objective": prediction["objective_mean"].tolist(),
                "predicted_objective_std": prediction["objective_std"].tolist(),
                "hyperparameters": self.hyperparameters(model),
            },
        )

    def recommend(self, observations: pd.DataFrame) -> Recommendation:
        """The mixture minimising the posterior mean of the objective at the target.

        The optimiser's answer competes with every observed mixture, so the recommendation is
        never worse (under the model) than the best trial. Falls back to the best observed
        mixture when too few trials succeeded to fit the GP.
        """
        X, _ = self._training_data(observations)
        if len(X) < self.options["min_observations"]:
            rec = best_observed(observations, self.problem)
            rec.details["note"] = f"too few successful trials ({len(X)}) to fit the GP"
            return rec
        model = self.fit(observations)
        acqf = PosteriorMean(model, posterior_transform=self._negated_objective())
        optimum = self._optimize(acqf, q=1, seed=self.iteration_seed(0))
        candidates = torch.cat([torch.tensor(project(optimum.numpy()), dtype=DTYPE), X])
        prediction = self._predict(model, candidates)
        best = int(np.argmin(prediction["objective_mean"]))
        return Recommendation(
            mixture=candidates[best].numpy(),
            fidelity=self.problem.target,
            objective=float(prediction["objective_mean"][best]),
            objective_std=float(prediction["objective_std"][best]),
            losses=prediction["loss_mean"][best],
            loss_std=prediction["loss_std"][best],
            method="GP posterior mean minimum",
            details={
                "from": "optimiser" if best == 0 else "an observed trial",
                "observations": len(X),
                "hyperparameters": self.hyperparameters(model),
            },
        )
