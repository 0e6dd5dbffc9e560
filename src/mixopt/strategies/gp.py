"""Single-fidelity Bayesian optimisation over the simplex with BoTorch.

A multi-output GP (one independent GP per domain loss, BoTorch's default kernel and priors) is
fitted on the trials at the target fidelity. The objective is linear in the domain losses, so its
posterior is the GP posterior pushed through ``ScalarizedPosteriorTransform``; that gives the
per-domain predictions a person needs to see which domain a mixture sacrifices. Each iteration
proposes q mixtures jointly with noisy batch log-expected-improvement (qLogNEI) under the
sum-to-one equality constraint.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np
import pandas as pd
import torch
from botorch.acquisition.analytic import PosteriorMean
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.acquisition.objective import ScalarizedPosteriorTransform
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms import Standardize
from botorch.optim import optimize_acqf, optimize_acqf_discrete
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
        prior_mean: a law (``dml``, ``bimix``, ``scaling_law``, ``regmix``) fitted on every
            observed checkpoint and used as the GP's prior mean, the GP modelling its residual
            (the law-informed GP); ``None``: BoTorch's constant mean. While the law cannot be
            identified from the data, the constant mean is used and the diagnostics say why.
    """

    name = "gp"
    defaults = {"min_observations": 3, "raw_samples": 256, "num_restarts": 8, "mc_samples": 256, "prior_mean": None}

    @classmethod
    def check_options(cls, options, domains) -> None:
        super().check_options(options, domains)
        from mixopt.laws import LAWS

        prior = options.get("prior_mean")
        if prior is not None and prior not in LAWS:
            raise ValueError(f"{cls.name}: prior_mean must be one of {sorted(LAWS)}, got {prior!r}")
        for key in ("min_observations", "raw_samples", "num_restarts", "mc_samples"):
            value = options.get(key, 1)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{cls.name}: option {key!r} must be a positive integer, got {value!r}")

    # -- model ---------------------------------------------------------------------------------

    #: True while only the objective is needed (proposing with mfms, recommending without
    #: per-domain losses): one GP on the objective instead of one per modelled domain.
    _objective_only = False

    @contextmanager
    def objective_only(self, on: bool = True) -> Iterator[None]:
        previous, self._objective_only = self._objective_only, on
        try:
            yield
        finally:
            self._objective_only = previous

    def _outcomes(self, y: np.ndarray) -> np.ndarray:
        """`n x m` modelled losses -> what the GP is fitted on: themselves, or `n x 1` objective."""
        return y @ self.problem.objective_weights[self.modelled][:, None] if self._objective_only else y

    @property
    def modelled(self) -> np.ndarray:
        """Indices of the `m` evaluation domains the objective weighs: only those get a GP (a
        domain with weight 0, e.g. the 12 other Pile domains when optimising Pile-CC, changes
        nothing the strategy does)."""
        return np.flatnonzero(self.problem.objective_weights)

    def _training_data(self, observations: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
        """`n x d` mixtures and `n x m` losses of the successful trials at the strategy's fidelity."""
        rows = at_fidelity(observations, self.fidelity)
        y = losses(rows, self.problem)[:, self.modelled]
        keep = np.isfinite(y).all(axis=1)
        return (
            torch.tensor(mixtures(rows, self.problem)[keep], dtype=DTYPE),
            torch.tensor(self._outcomes(y[keep]), dtype=DTYPE),
        )

    def fit(self, observations: pd.DataFrame) -> SingleTaskGP:
        """Fit the per-domain GPs; raises ValueError with too few observations.

        The last fit is kept: ``recommend`` right after ``propose`` on the same data reuses it.
        """
        X, Y = self._training_data(observations)
        if len(X) < 2:
            raise ValueError(f"gp: needs at least 2 successful trials at {self.fidelity}, has {len(X)}")
        key = (X.numpy().tobytes(), Y.numpy().tobytes())
        if getattr(self, "_fitted", (None,))[0] == key:
            return self._fitted[1]
        torch.manual_seed(self.seed)
        model = SingleTaskGP(X, Y, outcome_transform=Standardize(m=Y.shape[-1]),
                             **self.prior_modules(observations, Y))
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        self._fitted = (key, model)
        return model

    # -- law-informed prior mean ---------------------------------------------------------------

    #: why the last fit has no law as its mean (None: it has one, or none was asked for).
    prior_note: str | None = None

    def law_inputs(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`n x D` GP inputs -> (`n x d` mixtures, `n` parameters, `n` tokens) for a law."""
        n = len(X)
        return (X, np.full(n, self.problem.n_params(self.fidelity.scale)),
                np.full(n, self.problem.tokens(self.fidelity)))

    def prior_modules(self, observations: pd.DataFrame, Y: torch.Tensor) -> dict[str, Any]:
        """``{"mean_module": LawMean}`` for ``prior_mean``, or ``{}`` (the default mean)."""
        self.prior_note = None
        if self.options["prior_mean"] is None:
            return {}
        from mixopt.laws import LawFitError, make_law
        from mixopt.laws.mean import LawMean
        from mixopt.strategies.law import runs_from_observations

        try:
            law = make_law(self.options["prior_mean"]).fit(runs_from_observations(observations, self.problem))
        except LawFitError as e:
            self.prior_note = f"prior_mean not used yet: {e}"
            return {}
        weights = self.problem.objective_weights[self.modelled]

        def fn(x: np.ndarray) -> np.ndarray:
            predicted = law.predict(*self.law_inputs(x))[:, self.modelled]
            return predicted @ weights[:, None] if self._objective_only else predicted

        m = Y.shape[-1]
        return {"mean_module": LawMean(fn, Y.mean(dim=0), Y.std(dim=0).clamp_min(1e-9),
                                       batch_shape=torch.Size([m]) if m > 1 else torch.Size())}

    def _negated_objective(self) -> ScalarizedPosteriorTransform:
        # BoTorch maximises; the objective is a loss.
        weights = np.ones(1) if self._objective_only else self.problem.objective_weights[self.modelled]
        return ScalarizedPosteriorTransform(weights=-torch.tensor(weights, dtype=DTYPE))

    def _optimize(self, acqf, q: int, seed: int, choices: np.ndarray | None = None) -> torch.Tensor:
        """Maximise ``acqf`` over q points: on the simplex, or over ``choices`` (`k x d`) from a pool."""
        if choices is not None:
            candidates, _ = optimize_acqf_discrete(acqf, q=min(q, len(choices)),
                                                   choices=torch.tensor(choices, dtype=DTYPE), unique=True)
            return candidates.detach()
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
        """Posterior of `n x d` mixtures: per-domain mean/std (`n x e`, NaN for a domain not
        modelled) and objective mean/std (`n`)."""
        with torch.no_grad():
            post = model.posterior(X)
            objective = model.posterior(X, posterior_transform=self._negated_objective())
        mean = np.full((len(X), len(self.problem.eval_domains)), np.nan)
        std = mean.copy()
        if not self._objective_only:
            mean[:, self.modelled] = post.mean.numpy()
            std[:, self.modelled] = post.variance.clamp_min(0).sqrt().numpy()
        return {
            "loss_mean": mean,
            "loss_std": std,
            "objective_mean": -objective.mean.squeeze(-1).numpy(),
            "objective_std": objective.variance.clamp_min(0).sqrt().squeeze(-1).numpy(),
        }

    def hyperparameters(self, model: SingleTaskGP) -> dict[str, Any]:
        """Fitted kernel and noise parameters per domain (or of the objective), in
        standardised-outcome units."""
        covar = model.covar_module
        names = ["objective"] if self._objective_only else list(np.array(self.problem.eval_domains)[self.modelled])
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

    # -- Strategy ------------------------------------------------------------------------------

    def propose(self, observations: pd.DataFrame, n: int, iteration: int) -> ProposalBatch:
        n_obs = len(self._training_data(observations)[0])
        if n_obs < self.options["min_observations"]:
            return ProposalBatch(
                self.initial_design(n, iteration, observations),
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
        choices = None if self.candidates is None else self.unobserved(observations)
        candidates = self._optimize(acqf, q=n, seed=seed, choices=choices)
        with torch.no_grad():
            log_ei = acqf(candidates.unsqueeze(0)).item()
        prediction = self._predict(model, candidates)
        return ProposalBatch(
            self.proposals_at(candidates.numpy()),
            {
                "design": "qLogNEI",
                "observations": n_obs,
                "batch_log_ei": log_ei,
                "predicted_objective": prediction["objective_mean"].tolist(),
                "predicted_objective_std": prediction["objective_std"].tolist(),
                "hyperparameters": self.hyperparameters(model),
                **({"prior_mean": self.prior_note} if self.prior_note else {}),
            },
        )

    def recommend(self, observations: pd.DataFrame, per_domain: bool = True) -> Recommendation:
        """The mixture minimising the posterior mean of the objective at the strategy's fidelity.

        The optimiser's answer competes with every observed mixture, so the recommendation is
        never worse (under the model) than the best trial; from a pool, the candidate with the
        lowest posterior mean. Falls back to the best observed mixture when too few trials
        succeeded to fit the GP.
        """
        with self.objective_only(not per_domain):
            return self._recommend(observations)

    def _recommend(self, observations: pd.DataFrame) -> Recommendation:
        X, _ = self._training_data(observations)
        if len(X) < self.options["min_observations"]:
            rec = best_observed(observations, self.problem, self.fidelity)
            rec.details["note"] = f"too few successful trials ({len(X)}) to fit the GP"
            return rec
        model = self.fit(observations)
        if self.candidates is not None:
            candidates = torch.tensor(self.candidates, dtype=DTYPE)
        else:
            acqf = PosteriorMean(model, posterior_transform=self._negated_objective())
            optimum = self._optimize(acqf, q=1, seed=self.iteration_seed(0))
            candidates = torch.cat([torch.tensor(project(optimum.numpy()), dtype=DTYPE), X])
        prediction = self._predict(model, candidates)
        best = int(np.argmin(prediction["objective_mean"]))
        return Recommendation(
            mixture=candidates[best].numpy(),
            fidelity=self.fidelity,
            objective=float(prediction["objective_mean"][best]),
            objective_std=float(prediction["objective_std"][best]),
            losses=prediction["loss_mean"][best],
            loss_std=prediction["loss_std"][best],
            method="GP posterior mean minimum",
            details={
                "from": ("the pool of candidates" if self.candidates is not None
                         else "optimiser" if best == 0 else "an observed trial"),
                "observations": len(X),
                "hyperparameters": self.hyperparameters(model),
            },
        )
