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
from botorch.acquisition.objective import GenericMCObjective, ScalarizedPosteriorTransform
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.sampling import SobolQMCNormalSampler
from gpytorch.mlls import ExactMarginalLogLikelihood

from mixopt.core.problem import Fidelity, Problem
from mixopt.gp.means import LawMean
from mixopt.laws import LAWS, LawFitError, make_law
from mixopt.strategies import options as opt
from mixopt.strategies.base import Recommendation, Strategy, fallback
from mixopt.strategies.law import runs_from_observations
from mixopt.strategies.posterior import JointPosterior

DTYPE = torch.double
#: quasi-MC samples of a posterior pushed through an objective that is not linear in the losses
MC_SAMPLES = 512


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
    #: the problem's objective kind: ``linear``, ``worst`` or ``worst_excess``
    kind: str = "linear"

    @classmethod
    def of(cls, problem: Problem, objective_only: bool) -> "Outputs":
        modelled = np.flatnonzero(problem.objective_weights)
        return cls(modelled, problem.objective_weights[modelled], objective_only, problem.objective_kind)

    @property
    def linear(self) -> bool:
        """Whether the objective is linear in the GP's outputs (its posterior is then Gaussian)."""
        return self.objective_only or self.kind == "linear"

    def outcomes(self, rows: pd.DataFrame, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(`n` booleans: the table ``rows`` the GP can use, `k x count` GP outcomes of those `k`),
        from `n x m` modelled losses ``y``. The outcomes are the losses, or the objective; a worst
        (excess) objective is the recorded one (no weighted sum of the losses, and worst_excess needs
        the reference's runs). Computed on the kept rows only: a matrix product over other rows
        rounds differently, and the GP fit is sensitive to the last digit."""
        keep = np.isfinite(y).all(axis=1)
        if self.objective_only and self.kind != "linear":
            recorded = pd.to_numeric(rows["objective"]).to_numpy(dtype=float)
            keep &= np.isfinite(recorded)
            return keep, recorded[keep][:, None]
        return keep, self.of_losses(y[keep])

    def objective_of(self, Y: torch.Tensor, offsets: torch.Tensor | None = None) -> torch.Tensor:
        """`... x count` outputs -> `...` objective (a loss); ``offsets`` (`m`): the reference's
        losses, for worst_excess."""
        if self.objective_only:
            return Y[..., 0]
        weights = torch.tensor(self.weights, dtype=Y.dtype)
        if self.kind == "linear":
            return Y @ weights
        if self.kind == "worst_excess":
            assert offsets is not None
            Y = Y - offsets
        return (Y * weights).max(dim=-1).values

    @property
    def one_loss(self) -> bool:
        """Whether the objective is one domain's loss (linear, of weight 1): the GP of the objective
        and the GP per modelled domain are then the same GP."""
        return self.kind == "linear" and len(self.modelled) == 1 and float(self.weights[0]) == 1.0

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
    models_domains = True
    #: L-BFGS options of the hyper-parameter fit: on few points the likelihood is flat in some
    #: directions and an uncapped fit drifts there for thousands of steps (seconds each propose)
    fit_options: ClassVar[dict[str, Any]] = {"maxiter": 200}

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

        The last fit is kept: ``recommend`` right after ``propose`` on the same data reuses it (and,
        when the objective is one domain's loss, the objective's GP is the per-domain one).
        """
        X, Y = self.training_data(observations, outputs)
        if len(X) < 2:
            raise ValueError(f"{self.name}: needs at least 2 observations to fit its GP, has {len(X)}")
        key = (outputs.objective_only and not outputs.one_loss, X.numpy().tobytes(), Y.numpy().tobytes())
        if self._fitted is not None and self._fitted[0] == key:
            return self._fitted[1]
        model = self.build_model(X, Y, observations, outputs)
        mll = ExactMarginalLogLikelihood(model.likelihood, model)
        # a fit that does not converge is retried from hyper-parameters drawn from their priors, with
        # torch's global RNG: seeded here, the same data give the same model whatever ran before
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            fit_gpytorch_mll(mll, optimizer_kwargs={"options": dict(self.fit_options)})
        self._fitted = (key, model)
        return model

    def prior_mean(self, observations: pd.DataFrame, Y: torch.Tensor, outputs: Outputs,
                   probe: torch.Tensor | None = None) -> LawMean | None:
        """The law-informed mean module for ``prior_mean``, or ``None`` (the strategy's own mean).

        ``probe``: `k x D` GP inputs the mean is evaluated at first (the training inputs and where
        the strategy predicts): a law fits some parameters lazily, at each new model size and
        token count, and one the data cannot determine must fail here, with a note, not inside
        the GP's fit."""
        self.prior_note = None
        if self.options["prior_mean"] is None:
            return None
        if outputs.objective_only and outputs.kind == "worst_excess":
            self.prior_note = "prior_mean not used: a law of the losses does not give the excess over the reference's runs"
            return None
        def fn(x: np.ndarray) -> np.ndarray:
            predicted = law.predict(*self.law_inputs(x))
            if outputs.objective_only and not outputs.kind == "linear":  # worst: of every domain's law
                return self.problem.objective(predicted)[:, None]
            return outputs.of_losses(predicted[:, outputs.modelled])

        try:
            law = make_law(self.options["prior_mean"]).fit(runs_from_observations(observations, self.problem))
            if probe is not None:
                fn(probe.detach().numpy())
        except LawFitError as e:
            self.prior_note = f"prior_mean not used yet: {e}"
            return None

        m = Y.shape[-1]
        return LawMean(fn, Y.mean(dim=0), Y.std(dim=0).clamp_min(1e-9),
                       batch_shape=torch.Size([m]) if m > 1 else torch.Size())

    def hyperparameters(self, model: SingleTaskGP, outputs: Outputs) -> dict[str, Any]:
        """What a person should see of the fitted GP's hyper-parameters (default: the noise)."""
        return {"noise": model.likelihood.noise.detach().reshape(-1).tolist()}

    # -- the answer ----------------------------------------------------------------------------

    def answer(self, observations: pd.DataFrame, per_domain: bool = True) -> Recommendation:
        """The answer of the GP fitted on ``observations`` (:meth:`answer_from`); the best observed
        mixture while too few trials succeeded to fit it (:meth:`too_few`). ``per_domain=False``:
        one GP on the objective, no per-domain losses (unless no_worse_than_reference needs them)."""
        outputs = self.outputs(objective_only=not per_domain and self.no_worse is None)
        X, _ = self.training_data(observations, outputs)
        short = self.too_few(len(X))
        if short is not None:
            fidelity, note = short
            return fallback(observations, self.problem, fidelity, note)
        return self.answer_from(self.fit(observations, outputs), X, observations, outputs)

    def too_few(self, n: int) -> tuple[Fidelity, str] | None:
        """Where the best observed mixture is the answer instead, and why, when ``n`` rows are too
        few to fit the GP on; ``None``: enough (here, at least 2; the target's best observed)."""
        return (self.problem.target, "too few observations to fit the GP") if n < 2 else None

    @abc.abstractmethod
    def answer_from(self, model: SingleTaskGP, X: torch.Tensor, observations: pd.DataFrame,
                    outputs: Outputs) -> Recommendation:
        """The answer of ``model``, fitted on `n x D` inputs ``X`` of ``observations``."""

    def lowest_mean(self, model: SingleTaskGP, X: torch.Tensor, mixtures_: np.ndarray,
                    outputs: Outputs) -> tuple[dict[str, np.ndarray], int, dict[str, Any]]:
        """The posterior (:meth:`predict`) at `k x D` inputs ``X`` of the `k x d` ``mixtures_``, the
        index of the lowest objective mean (under ``no_worse_than_reference``: among the mixtures
        that meet it, :meth:`keep_no_worse`) and best_mixture.yaml's account of that constraint."""
        prediction = self.predict(model, X, outputs)
        best, checked = int(np.argmin(prediction["objective_mean"])), {}
        if self.no_worse is not None:
            best, checked = self.keep_no_worse(model, mixtures_, prediction["objective_mean"])
        return prediction, best, checked

    def predict(self, model: SingleTaskGP, X: torch.Tensor, outputs: Outputs) -> dict[str, np.ndarray]:
        """Posterior of `n x D` inputs: per-domain mean/std (`n x e`, NaN for a domain not
        modelled, or every domain when only the objective is) and objective mean/std (`n`)."""
        with torch.no_grad():
            post = model.posterior(X)
        objective_mean, objective_cov = self.objective_posterior(model, X, outputs)
        mean = np.full((len(X), len(self.problem.eval_domains)), np.nan)
        std = mean.copy()
        if not outputs.objective_only:
            mean[:, outputs.modelled] = post.mean.numpy()
            std[:, outputs.modelled] = post.variance.clamp_min(0).sqrt().numpy()
        return {
            "loss_mean": mean,
            "loss_std": std,
            "objective_mean": objective_mean.numpy(),
            "objective_std": objective_cov.diagonal(dim1=-2, dim2=-1).clamp_min(0).sqrt().numpy(),
        }

    # -- the objective and the outcome constraint from the per-domain posterior -----------------

    def _samples(self, model: SingleTaskGP, X: torch.Tensor, noisy: bool = False) -> torch.Tensor:
        """`s x ... x k x count` quasi-MC samples of the posterior at `... x k x D` inputs (seeded)."""
        with torch.no_grad():
            post = model.posterior(X, observation_noise=noisy)
            return SobolQMCNormalSampler(sample_shape=torch.Size([MC_SAMPLES]), seed=self.seed)(post)

    def reference_offsets(self, model: SingleTaskGP, outputs: Outputs) -> torch.Tensor | None:
        """`count` posterior mean losses of the worst_excess reference where answers are
        evaluated (``None`` for another objective or an objective-only GP)."""
        if outputs.objective_only or outputs.kind != "worst_excess":
            return None
        assert self.problem.objective_reference is not None
        with torch.no_grad():
            return model.posterior(self.answer_inputs(self.problem.objective_reference[None])).mean[0]

    def objective_posterior(self, model: SingleTaskGP, X: torch.Tensor, outputs: Outputs,
                            noisy: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Objective (a loss) mean `... x k` and covariance `... x k x k` at `... x k x D` inputs:
        exact for an objective linear in the outputs; else from quasi-MC samples (the worst
        domain's loss is not Gaussian)."""
        with torch.no_grad():  # a summary for scoring, never differentiated
            if outputs.linear:
                post = model.posterior(X, posterior_transform=outputs.negated_objective(), observation_noise=noisy)
                # detached: gpytorch may hand back caches built while fitting, with their graph
                return -post.mean.squeeze(-1).detach(), post.mvn.covariance_matrix.detach()
            f = outputs.objective_of(self._samples(model, X, noisy), self.reference_offsets(model, outputs))
        f = f.detach()
        centred = f - f.mean(dim=0)
        return f.mean(dim=0), torch.einsum("s...i,s...j->...ij", centred, centred) / (len(f) - 1)

    def mc_objective(self, model: SingleTaskGP, outputs: Outputs) -> GenericMCObjective:
        """The negated objective of posterior samples (BoTorch maximises), for MC acquisitions."""
        offsets = self.reference_offsets(model, outputs)
        return GenericMCObjective(lambda Y, X=None: -outputs.objective_of(Y, offsets))

    @property
    def no_worse(self) -> tuple[float, float] | None:
        """(tolerance, probability) of ``no_worse_than_reference``; ``None``: not asked for."""
        nw = self.constraints.no_worse_than_reference
        if nw is None:
            return None
        if self.reference is None:
            raise ValueError(f"{self.name}: constraints.no_worse_than_reference needs the reference mixture")
        return nw

    def no_worse_limits(self, model: SingleTaskGP, outputs: Outputs) -> list:
        """BoTorch outcome constraints (a sample's value <= 0 is feasible): each modelled domain's
        loss at most the reference's posterior mean + the tolerance."""
        tolerance, _ = self.no_worse
        with torch.no_grad():
            limit = model.posterior(self.answer_inputs(self.reference[None])).mean[0] + tolerance
        return [lambda Z, j=j: Z[..., j] - limit[j] for j in range(outputs.count)]

    def probability_no_worse(self, model: SingleTaskGP, mixtures_: np.ndarray) -> np.ndarray:
        """`k`: P(every modelled domain's loss of each of `k x d` mixtures is at most the
        reference's + the tolerance), from joint posterior samples with the reference (so the
        reference itself has probability 1). ``model``: per-domain outputs."""
        tolerance, _ = self.no_worse
        X = self.answer_inputs(np.vstack([np.atleast_2d(mixtures_), self.reference[None]]))
        samples = self._samples(model, X)  # s x (k + 1) x m
        within = (samples[:, :-1, :] - samples[:, -1:, :] <= tolerance).all(dim=-1)
        return within.double().mean(dim=0).numpy()

    def keep_no_worse(self, model: SingleTaskGP, mixtures_: np.ndarray,
                      objective: np.ndarray) -> tuple[int, dict[str, Any]]:
        """Index of the lowest ``objective`` among `k x d` mixtures that meet
        ``no_worse_than_reference`` with the required probability (else among the most likely
        to), and what a person should see of it (:meth:`no_worse_details`)."""
        p = self.probability_no_worse(model, mixtures_)
        keep = self.no_worse_kept(p)
        best = int(keep[np.argmin(np.asarray(objective)[keep])])
        return best, self.no_worse_details(p, float(p[best]))

    def no_worse_kept(self, p: np.ndarray) -> np.ndarray:
        """Indices of the `k` mixtures of P(no worse) ``p`` an answer is chosen among: those that
        meet ``no_worse_than_reference``; when none does, the most likely to (often all, at P 0)."""
        meets = np.flatnonzero(p >= self.no_worse[1])
        return meets if len(meets) else np.flatnonzero(p == p.max())

    def no_worse_details(self, p: np.ndarray, p_answer: float) -> dict[str, Any]:
        """best_mixture.yaml's account of ``no_worse_than_reference``: the answer's P(no worse)
        ``p_answer``, among `k` considered mixtures of P(no worse) ``p`` (the headline warns when
        none meets it)."""
        tolerance, probability = self.no_worse
        meet = int((p >= probability).sum())
        return {"no_worse_than_reference": {
            "tolerance": tolerance, "required_probability": probability, "probability": round(p_answer, 4),
            "considered": int(len(p)), "meet": meet,
            "note": (f"{meet} of {len(p)} considered meet it" if meet else
                     f"none of {len(p)} considered meets it: the answer is the most likely to, and the "
                     "best of those; the constraint is not met"),
        }}

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
        objective_mean, objective_cov = self.objective_posterior(model, X, outputs)
        with torch.no_grad():
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
            objective_mean=objective_mean.numpy(),
            objective_cov=objective_cov.numpy(),
            model=f"{self.name} model" + (f" at proxy scale {fidelity.scale}" if fidelity else " at the target"),
        )


def posterior_recommendation(prediction: dict[str, np.ndarray], k: int, **fields: Any) -> Recommendation:
    """A recommendation with the objective and losses of row ``k`` of a :meth:`~GPModelStrategy.predict`
    ``prediction`` (``fields``: the rest of :class:`~mixopt.strategies.base.Recommendation`)."""
    return Recommendation(objective=float(prediction["objective_mean"][k]),
                          objective_std=float(prediction["objective_std"][k]),
                          losses=prediction["loss_mean"][k], loss_std=prediction["loss_std"][k], **fields)
