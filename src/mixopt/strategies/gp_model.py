"""What the GP strategies share: which outputs a GP models, its (cached) fit, the law-informed prior
mean, the posterior of the objective and per-domain losses.

:class:`GPStrategy` (one fidelity) and :class:`~mixopt.strategies.mfms.MFMSStrategy` (mixture x
size x steps) both derive from :class:`GPModelStrategy`; each says what its GP's inputs are
(``training_data``) and how its GP is built (``build_model``).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from botorch.acquisition.objective import ScalarizedPosteriorTransform
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from gpytorch.mlls import ExactMarginalLogLikelihood

from mixopt.core.problem import Fidelity, Problem
from mixopt.gp.means import LawMean
from mixopt.laws import LAWS, LawFitError, make_law
from mixopt.strategies import options as opt
from mixopt.strategies.base import Strategy
from mixopt.strategies.law import runs_from_observations
from mixopt.strategies.posterior import JointPosterior

DTYPE = torch.double


@dataclass(frozen=True)
class Outputs:
    """What a GP is fitted on: the loss of each modelled evaluation domain, or the objective alone
    (one GP instead of one per domain, when only the objective is needed).

    Attributes:
        modelled: indices of the `m` evaluation domains the objective weighs: only those get a GP
            (a domain of weight 0, e.g. the 12 other Pile domains when optimising Pile-CC,
            changes nothing a strategy does).
        weights: `m` objective weights of the modelled domains.
        objective_only: fit one GP on the objective instead of one per modelled domain.
    """

    modelled: np.ndarray
    weights: np.ndarray
    objective_only: bool

    @classmethod
    def of(cls, problem: Problem, objective_only: bool) -> "Outputs":
        modelled = np.flatnonzero(problem.objective_weights)
        return cls(modelled, problem.objective_weights[modelled], objective_only)

    @property
    def count(self) -> int:
        """How many outputs the GP has."""
        return 1 if self.objective_only else len(self.modelled)

    def of_losses(self, y: np.ndarray) -> np.ndarray:
        """`n x m` modelled losses -> `n x count` GP outcomes."""
        return y @ self.weights[:, None] if self.objective_only else y

    def negated_objective(self) -> ScalarizedPosteriorTransform:
        """The objective from the GP's outputs, negated: BoTorch maximises and the objective is a loss."""
        weights = np.ones(1) if self.objective_only else self.weights
        return ScalarizedPosteriorTransform(weights=-torch.tensor(weights, dtype=DTYPE))


class GPModelStrategy(Strategy):
    """A strategy with a BoTorch GP of the observations.

    Options shared by the GP strategies: ``min_observations`` (below it, a space-filling design),
    ``raw_samples`` and ``prior_mean``: a law (``dml``, ``bimix``, ``scaling_law``, ``regmix``)
    fitted on every observed checkpoint and used as the GP's prior mean, the GP modelling its
    residual (the law-informed GP); ``None``: the strategy's own mean. While the law cannot be
    identified from the data, the own mean is used and the diagnostics say why.
    """

    declared_options: ClassVar[dict[str, opt.Option]] = {"prior_mean": opt.choice((None, *LAWS), None)}
    #: scipy L-BFGS-B options of the marginal-likelihood fit (BoTorch's defaults when empty)
    fit_options: ClassVar[dict[str, Any]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fitted: tuple[tuple, SingleTaskGP] | None = None
        #: why the last fit has no law as its mean (None: it has one, or none was asked for).
        self.prior_note: str | None = None

    def outputs(self, objective_only: bool) -> Outputs:
        return Outputs.of(self.problem, objective_only)

    @abc.abstractmethod
    def training_data(self, observations: pd.DataFrame, outputs: Outputs) -> tuple[torch.Tensor, torch.Tensor]:
        """`n x D` GP inputs and `n x outputs.count` outcomes of the successful observations."""

    @abc.abstractmethod
    def build_model(self, X: torch.Tensor, Y: torch.Tensor, observations: pd.DataFrame,
                    outputs: Outputs) -> SingleTaskGP:
        """The unfitted GP on `n x D` inputs and `n x k` outcomes (seeded: fits are reproducible)."""

    @abc.abstractmethod
    def answer_inputs(self, mixtures_: np.ndarray) -> torch.Tensor:
        """`k x d` mixtures -> `k x D` GP inputs where the strategy's answer is evaluated (the
        target, or the proxy scale of a ``scale`` option)."""

    @abc.abstractmethod
    def inputs_at(self, mixtures_: np.ndarray, fidelity: Fidelity) -> torch.Tensor | None:
        """`k x d` mixtures at ``fidelity`` -> `k x D` GP inputs; ``None`` where the GP does not
        model that fidelity."""

    def objective_at(self, observations: pd.DataFrame, mixtures_: np.ndarray,
                     fidelity: Fidelity) -> tuple[np.ndarray, np.ndarray] | None:
        """Posterior mean and std (`k` each) of the objective of `k x d` mixtures observed at
        ``fidelity`` (observation noise included: what a trial would report); ``None`` when the
        GP cannot be fitted or does not model that fidelity."""
        X = self.inputs_at(np.atleast_2d(mixtures_), fidelity)
        if X is None:
            return None
        outputs = self.outputs(objective_only=True)
        try:
            model = self.fit(observations, outputs)
        except ValueError:
            return None
        with torch.no_grad():
            post = model.posterior(X, posterior_transform=outputs.negated_objective(), observation_noise=True)
            return -post.mean.squeeze(-1).numpy(), post.variance.clamp_min(0).sqrt().squeeze(-1).numpy()

    @abc.abstractmethod
    def law_inputs(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`n x D` GP inputs -> (`n x d` mixtures, `n` parameters, `n` tokens) for a law."""

    def fit(self, observations: pd.DataFrame, outputs: Outputs) -> SingleTaskGP:
        """Fit the GP; ValueError with fewer than 2 observations.

        The last fit is kept: ``recommend`` right after ``propose`` on the same data reuses it.
        """
        X, Y = self.training_data(observations, outputs)
        if len(X) < 2:
            raise ValueError(f"{self.name}: needs at least 2 observations to fit its GP, has {len(X)}")
        key = (outputs.objective_only, X.numpy().tobytes(), Y.numpy().tobytes())
        if self._fitted is not None and self._fitted[0] == key:
            return self._fitted[1]
        model = self.build_model(X, Y, observations, outputs)
        mll = ExactMarginalLogLikelihood(model.likelihood, model)
        if self.fit_options:
            fit_gpytorch_mll(mll, optimizer_kwargs={"options": dict(self.fit_options)})
        else:
            fit_gpytorch_mll(mll)
        self._fitted = (key, model)
        return model

    def prior_mean(self, observations: pd.DataFrame, Y: torch.Tensor, outputs: Outputs) -> LawMean | None:
        """The law-informed mean module for ``prior_mean``, or ``None`` (the strategy's own mean)."""
        self.prior_note = None
        if self.options["prior_mean"] is None:
            return None
        try:
            law = make_law(self.options["prior_mean"]).fit(runs_from_observations(observations, self.problem))
        except LawFitError as e:
            self.prior_note = f"prior_mean not used yet: {e}"
            return None

        def fn(x: np.ndarray) -> np.ndarray:
            return outputs.of_losses(law.predict(*self.law_inputs(x))[:, outputs.modelled])

        m = Y.shape[-1]
        return LawMean(fn, Y.mean(dim=0), Y.std(dim=0).clamp_min(1e-9),
                       batch_shape=torch.Size([m]) if m > 1 else torch.Size())

    def predict(self, model: SingleTaskGP, X: torch.Tensor, outputs: Outputs) -> dict[str, np.ndarray]:
        """Posterior of `n x D` inputs: per-domain mean/std (`n x e`, NaN for a domain not
        modelled, or every domain when only the objective is) and objective mean/std (`n`)."""
        with torch.no_grad():
            post = model.posterior(X)
            objective = model.posterior(X, posterior_transform=outputs.negated_objective())
        mean = np.full((len(X), len(self.problem.eval_domains)), np.nan)
        std = mean.copy()
        if not outputs.objective_only:
            mean[:, outputs.modelled] = post.mean.numpy()
            std[:, outputs.modelled] = post.variance.clamp_min(0).sqrt().numpy()
        return {
            "loss_mean": mean,
            "loss_std": std,
            "objective_mean": -objective.mean.squeeze(-1).numpy(),
            "objective_std": objective.variance.clamp_min(0).sqrt().squeeze(-1).numpy(),
        }

    def joint_posterior(self, observations: pd.DataFrame, mixtures_: np.ndarray) -> JointPosterior | None:
        """Per-domain and objective posterior of `k x d` mixtures where answers are evaluated, with
        their covariances across the mixtures (a noise-free posterior: expected losses)."""
        outputs = self.outputs(objective_only=False)
        try:
            model = self.fit(observations, outputs)
        except ValueError:
            return None
        X = self.answer_inputs(np.atleast_2d(mixtures_))
        k, e = len(X), len(self.problem.eval_domains)
        loss_mean, loss_cov = np.full((k, e), np.nan), np.full((e, k, k), np.nan)
        with torch.no_grad():
            objective = model.posterior(X, posterior_transform=outputs.negated_objective())
            # one domain at a time: a one-hot scalarisation gives that output's k x k covariance
            for i, domain in enumerate(outputs.modelled):
                pick = torch.zeros(outputs.count, dtype=DTYPE)
                pick[i] = 1.0
                post = model.posterior(X, posterior_transform=ScalarizedPosteriorTransform(weights=pick))
                loss_mean[:, domain] = post.mean.squeeze(-1).numpy()
                loss_cov[domain] = post.mvn.covariance_matrix.numpy()
        fidelity = self.fidelity if self.fidelity != self.problem.target else None
        return JointPosterior(
            loss_mean=loss_mean, loss_cov=loss_cov,
            objective_mean=-objective.mean.squeeze(-1).numpy(),
            objective_cov=objective.mvn.covariance_matrix.numpy(),
            model=f"{self.name} model" + (f" at proxy scale {fidelity.scale}" if fidelity else " at the target"),
        )
