"""Single-fidelity Bayesian optimisation over the simplex with BoTorch.

A multi-output GP (one independent GP per domain loss, BoTorch's default kernel and priors) is
fitted on the trials at the target fidelity. The objective is linear in the domain losses, so its
posterior is the GP posterior pushed through ``ScalarizedPosteriorTransform``; that gives the
per-domain predictions a person needs to see which domain a mixture sacrifices. Each iteration
proposes q mixtures jointly with noisy batch log-expected-improvement (qLogNEI) under the
sum-to-one equality constraint, inside the bounds and repetition caps of the run (box bounds of
``optimize_acqf``). An objective that is not linear in the losses (the worst domain) is an MC
objective of the per-domain samples, and ``no_worse_than_reference`` is qLogNEI's outcome
constraint on them (BoTorch's constrained qLogNEI).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from botorch.acquisition.analytic import PosteriorMean
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.acquisition.monte_carlo import qSimpleRegret
from botorch.models import SingleTaskGP
from botorch.models.transforms import Standardize
from botorch.optim import optimize_acqf, optimize_acqf_discrete
from botorch.optim.initializers import initialize_q_batch
from botorch.sampling import SobolQMCNormalSampler

from mixopt.core.constraints import MixtureBox
from mixopt.core.observations import at_fidelity, losses, mixtures
from mixopt.core.problem import Fidelity
from mixopt.core.simplex import project
from mixopt.strategies import options as opt
from mixopt.strategies.base import ProposalBatch, Recommendation
from mixopt.strategies.gp_model import DTYPE, GPModelStrategy, Outputs, posterior_recommendation


class GPStrategy(GPModelStrategy):
    """BoTorch GP + qLogNEI at the target fidelity.

    Options:
        min_observations: below this many successful target trials, propose a space-filling design.
        raw_samples, num_restarts: acquisition optimiser effort (BoTorch's optimize_acqf).
        mc_samples: quasi-MC samples of the batch acquisition.
        model: ``per_domain`` (one GP per modelled domain loss: what a person reads per domain) or
            ``objective`` (one GP on the objective: much faster with many domains; a linear
            objective without ``no_worse_than_reference`` only).
        prior_mean: see :class:`~mixopt.strategies.gp_model.GPModelStrategy`.
    """

    name = "gp"
    declared_options = {**GPModelStrategy.declared_options, "min_observations": opt.positive_int(3),
                        "raw_samples": opt.positive_int(256), "num_restarts": opt.positive_int(8),
                        "mc_samples": opt.positive_int(256),
                        "model": opt.choice(("per_domain", "objective"), "per_domain")}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.options["model"] == "objective" and (not self.problem.is_linear or self.no_worse is not None):
            raise ValueError("gp: option model 'objective' needs a linear objective (mean or weighted) and no "
                             "no_worse_than_reference (a GP per domain gives those)")

    # -- model ---------------------------------------------------------------------------------

    def training_data(self, observations: pd.DataFrame, outputs: Outputs) -> tuple[torch.Tensor, torch.Tensor]:
        """`n x d` mixtures and `n x k` outcomes of the successful trials at the strategy's fidelity."""
        rows = at_fidelity(observations, self.fidelity)
        y = losses(rows, self.problem)[:, outputs.modelled]
        keep, Y = outputs.outcomes(rows, y)
        return (
            torch.tensor(mixtures(rows, self.problem)[keep], dtype=DTYPE),
            torch.tensor(Y, dtype=DTYPE),
        )

    def build_model(self, X: torch.Tensor, Y: torch.Tensor, observations: pd.DataFrame,
                    outputs: Outputs) -> SingleTaskGP:
        """BoTorch's default GP (kernel, priors, constant mean) or the law-informed mean."""
        torch.manual_seed(self.seed)
        law_mean = self.prior_mean(observations, Y, outputs, probe=X)
        return SingleTaskGP(X, Y, outcome_transform=Standardize(m=Y.shape[-1]),
                            **({} if law_mean is None else {"mean_module": law_mean}))

    def answer_inputs(self, mixtures_: np.ndarray) -> torch.Tensor:
        return torch.tensor(mixtures_, dtype=DTYPE)

    def inputs_at(self, mixtures_: np.ndarray, fidelity: Fidelity) -> torch.Tensor | None:
        return self.answer_inputs(mixtures_) if fidelity == self.fidelity else None

    def law_inputs(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`n x d` mixtures at the strategy's fidelity -> (mixtures, parameters, tokens) for a law."""
        n = len(X)
        return (X, np.full(n, self.problem.n_params(self.fidelity.scale)),
                np.full(n, self.problem.tokens(self.fidelity)))

    def hyperparameters(self, model: SingleTaskGP, outputs: Outputs) -> dict[str, Any]:
        """Fitted kernel and noise parameters per domain (or of the objective), in
        standardised-outcome units."""
        covar = model.covar_module
        names = (["objective"] if outputs.objective_only
                 else list(np.array(self.problem.eval_domains)[outputs.modelled]))
        e = len(names)
        lengthscale = covar.lengthscale.detach().reshape(e, -1)
        out = {}
        for i, domain in enumerate(names):
            out[domain] = {
                "lengthscales": dict(zip(self.problem.domains, lengthscale[i].tolist())),
                "noise": float(model.likelihood.noise.detach().reshape(e, -1)[i, 0]),
                "mean_constant": float(model.mean_module.constant.detach().reshape(-1)[i]),
            }
        return out

    def _optimize(self, acqf, q: int, seed: int, box: MixtureBox, choices: np.ndarray | None = None) -> torch.Tensor:
        """Maximise ``acqf`` over q points: on the simplex inside ``box``, or over ``choices``
        (`k x d`) from a pool."""
        if choices is not None:
            candidates, _ = optimize_acqf_discrete(acqf, q=min(q, len(choices)),
                                                   choices=torch.tensor(choices, dtype=DTYPE), unique=True)
            return candidates.detach()
        d = self.problem.dim
        bounds = torch.tensor(np.stack([box.lower, box.upper]), dtype=DTYPE)
        sum_to_one = (torch.arange(d), torch.ones(d, dtype=DTYPE), 1.0)
        torch.manual_seed(seed)
        candidates, _ = optimize_acqf(
            acqf,
            bounds=bounds,
            q=q,
            num_restarts=self.options["num_restarts"],
            batch_initial_conditions=self._initial_conditions(acqf, q, seed, box),
            equality_constraints=[sum_to_one],
            options={"seed": seed},
            retry_on_optimization_warning=False,  # a retry would need BoTorch's own starts
        )
        return candidates.detach()

    def _initial_conditions(self, acqf, q: int, seed: int, box: MixtureBox) -> torch.Tensor:
        """`num_restarts x q x d` starts for the optimiser: BoTorch's own selection
        (``initialize_q_batch``) among ``raw_samples`` q-batches drawn by the box's sampler.
        Drawn here, not by BoTorch: under the sum-to-one equality its hit-and-run polytope
        sampler took 70% of a 17-domain run's time, where Sobol points on the simplex are exact."""
        raw_samples, d = self.options["raw_samples"], self.problem.dim
        raw = torch.tensor(box.sample(raw_samples * q, seed), dtype=DTYPE).reshape(raw_samples, q, d)
        with torch.no_grad():
            values = torch.cat([acqf(chunk) for chunk in raw.split(64)])
        starts, _ = initialize_q_batch(raw, values, n=min(self.options["num_restarts"], raw_samples))
        return starts

    def answer_box(self) -> MixtureBox:
        """Where an answer may lie: inside the constraints at the strategy's fidelity and at the target."""
        here, target = self.box(), self.box(self.problem.target)
        return MixtureBox(here.domains, np.maximum(here.lower, target.lower), np.minimum(here.upper, target.upper),
                          {**here.why, **target.why})

    # -- Strategy ------------------------------------------------------------------------------

    def search(self, observations: pd.DataFrame, n: int, iteration: int) -> ProposalBatch:
        outputs = self.outputs(objective_only=self.options["model"] == "objective")
        X, _ = self.training_data(observations, outputs)
        if len(X) < self.options["min_observations"]:
            return ProposalBatch(
                self.initial_design(n, iteration, observations),
                {"design": "space-filling (scrambled Sobol on the simplex)", "observations": len(X)},
            )
        seed = self.iteration_seed(iteration)
        model = self.fit(observations, outputs)
        sampler = SobolQMCNormalSampler(sample_shape=torch.Size([self.options["mc_samples"]]), seed=seed)
        if outputs.linear and self.no_worse is None:
            acqf = qLogNoisyExpectedImprovement(model=model, X_baseline=X, sampler=sampler,
                                                posterior_transform=outputs.negated_objective(), prune_baseline=True)
        else:
            acqf = qLogNoisyExpectedImprovement(
                model=model, X_baseline=X, sampler=sampler, objective=self.mc_objective(model, outputs),
                constraints=self.no_worse_limits(model, outputs) if self.no_worse else None, prune_baseline=True)
        choices = None if self.candidates is None else self.unobserved(observations)
        candidates = self._optimize(acqf, q=n, seed=seed, box=self.box(), choices=choices)
        with torch.no_grad():
            log_ei = acqf(candidates.unsqueeze(0)).item()
        prediction = self.predict(model, candidates, outputs)
        return ProposalBatch(
            self.proposals_at(candidates.numpy()),
            {
                "design": "qLogNEI",
                "observations": len(X),
                "batch_log_ei": log_ei,
                "predicted_objective": prediction["objective_mean"].tolist(),
                "predicted_objective_std": prediction["objective_std"].tolist(),
                "hyperparameters": self.hyperparameters(model, outputs),
                **({"prior_mean": self.prior_note} if self.prior_note else {}),
            },
        )

    def too_few(self, n: int) -> tuple[Fidelity, str] | None:
        if n < self.options["min_observations"]:
            return self.fidelity, f"too few successful trials ({n}) to fit the GP"
        return None

    def answer_from(self, model: SingleTaskGP, X: torch.Tensor, observations: pd.DataFrame,
                    outputs: Outputs) -> Recommendation:
        """The mixture minimising the posterior mean of the objective at the strategy's fidelity.

        The optimiser's answer competes with every observed mixture, so the recommendation is
        never worse (under the model) than the best trial; from a pool, the candidate with the
        lowest posterior mean.
        """
        box = self.answer_box()
        if self.candidates is not None:
            candidates = torch.tensor(self.candidates, dtype=DTYPE)
        else:
            if outputs.linear:
                acqf = PosteriorMean(model, posterior_transform=outputs.negated_objective())
            else:  # the expected worst (excess) loss, from posterior samples
                acqf = qSimpleRegret(model, objective=self.mc_objective(model, outputs),
                                     sampler=SobolQMCNormalSampler(sample_shape=torch.Size([128]), seed=self.seed))
            optimum = self._optimize(acqf, q=1, seed=self.iteration_seed(0), box=box)
            observed = X.numpy()[box.contains(X.numpy())]
            candidates = torch.tensor(self.with_reference(np.vstack([project(optimum.numpy()), observed])),
                                      dtype=DTYPE)
        prediction, best, checked = self.lowest_mean(model, candidates, candidates.numpy(), outputs)
        source = ("the pool of candidates" if self.candidates is not None else "optimiser" if best == 0
                  else "an observed trial" if best <= len(observed) else "the reference")
        return posterior_recommendation(
            prediction, best,
            mixture=candidates[best].numpy(),
            fidelity=self.fidelity,
            method="GP posterior mean minimum",
            considered=candidates.numpy(),
            details={
                "from": source,
                "observations": len(X),
                "hyperparameters": self.hyperparameters(model, outputs),
                **checked,
            },
        )
