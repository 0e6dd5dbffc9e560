"""Fitted laws as strategies: a space-filling design, then the law's minimiser plus exploration.

Every successful checkpoint observed is a data point of the law (a run to z steps also observed
every z' < z). Each iteration after the design proposes the mixture the law predicts best at the
strategy's fidelity (the target unless ``scale`` says otherwise) that was not tried there yet, and
fills the rest of the batch with space-filling exploration points, so the law is refitted on
mixtures it did not choose. A law the data cannot yet identify is said so in the diagnostics and
the design goes on. The recommendation is the law's minimiser with its per-domain predictions.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from mixopt.laws import Law, LawFitError, Runs, make_law
from mixopt.laws.base import require
from mixopt.laws.optimum import minimise
from mixopt.observations import at_fidelity, losses, mixtures
from mixopt.strategies.base import ProposalBatch, Recommendation, Strategy, best_observed


def runs_from_observations(observations: pd.DataFrame, problem) -> Runs:
    """Every successful checkpoint with a loss for each evaluation domain, as a law's data."""
    rows = observations[(observations["status"] == "ok") & pd.to_numeric(observations["step"], errors="coerce").notna()]
    y = losses(rows, problem)
    keep = np.isfinite(y).all(axis=1)
    rows, y = rows[keep], y[keep]
    params = np.array([problem.n_params(s) for s in rows["scale"]], dtype=float)
    return Runs(
        mixtures=mixtures(rows, problem),
        params=params,
        tokens=rows["tokens"].to_numpy(dtype=float),
        losses=y,
        run=(rows["iteration"].astype(str) + "/" + rows["trial"].astype(str)).to_numpy(),
        domains=tuple(problem.domains),
        eval_domains=tuple(problem.eval_domains),
    )


class LawStrategy(Strategy):
    """Options (besides the law's own):
        min_runs: runs before the law is fitted (default: d + 2, what a mixing law needs).
        samples: space-filling points scored when minimising the law over the simplex.
    """

    law: ClassVar[str]
    law_options: ClassVar[dict[str, Any]] = {}
    defaults: ClassVar[dict[str, Any]] = {"min_runs": None, "samples": 4096}
    #: RegMix's rule: recommend the mean of the k best predicted mixtures (None: the minimiser).
    top_k: ClassVar[int | None] = None

    @classmethod
    def check_options(cls, options, domains) -> None:
        super().check_options(options, domains)
        for key in ("min_runs", "samples"):
            value = options.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"{cls.name}: option {key!r} must be a positive integer, got {value!r}")
        for key, allowed in cls.choices().items():
            if key in options and options[key] not in allowed:
                raise ValueError(f"{cls.name}: option {key!r} must be one of {list(allowed)}, got {options[key]!r}")

    @classmethod
    def choices(cls) -> dict[str, tuple]:
        """Law options with a fixed set of values."""
        return {}

    def make_law(self) -> Law:
        return make_law(self.law, **{k: self.options[k] for k in self.law_options})

    def fit(self, observations: pd.DataFrame) -> Law:
        """The law fitted on every observed checkpoint; LawFitError when it cannot be identified."""
        ok = observations[(observations["status"] == "ok") & pd.to_numeric(observations["step"], errors="coerce").notna()]
        require(len(ok[["iteration", "trial"]].drop_duplicates()), self.options["min_runs"] or self.problem.dim + 2,
                self.name, "successful run(s) (min_runs)")
        return self.make_law().fit(runs_from_observations(observations, self.problem))

    def _objective(self, law: Law):
        n, tokens = self.problem.n_params(self.fidelity.scale), self.problem.tokens(self.fidelity)
        return lambda w: self.problem.objective(law.predict(w, n, tokens))

    def propose(self, observations: pd.DataFrame, n: int, iteration: int) -> ProposalBatch:
        try:
            law = self.fit(observations)
        except LawFitError as e:
            return ProposalBatch(self.initial_design(n, iteration, observations), {"design": "space-filling", "law": str(e)})
        objective = self._objective(law)
        tried = mixtures(at_fidelity(observations, self.fidelity), self.problem)
        seed = self.iteration_seed(iteration)
        if self.candidates is not None:
            pool = self.unobserved(observations)
            best = minimise(objective, self.problem.dim, seed, candidates=pool)
        else:
            best = minimise(objective, self.problem.dim, seed, samples=self.options["samples"], top_k=self.top_k)
            if len(tried) and np.abs(tried - best).max(axis=1).min() < 1e-3:
                # the law's optimum was trained already: its best prediction among untried points
                points = self.initial_design(self.options["samples"], iteration).copy()
                best = minimise(objective, self.problem.dim, seed, candidates=np.array([p.mixture for p in points]))
        exploit = self.proposals_at(best)
        explore = [p for p in self.initial_design(n, iteration + 1, observations)
                   if np.abs(p.mixture - best).max() > 1e-6][: n - 1]
        predicted = float(objective(best[None, :])[0])
        return ProposalBatch(exploit + explore, {"design": f"{self.name} minimiser + {len(explore)} space-filling",
                                                 "predicted_objective": predicted})

    def recommend(self, observations: pd.DataFrame, per_domain: bool = True) -> Recommendation:
        try:
            law = self.fit(observations)
        except LawFitError as e:
            rec = best_observed(observations, self.problem, self.fidelity)
            rec.details["note"] = f"law not fitted ({e}); best observed instead"
            return rec
        objective = self._objective(law)
        w = minimise(objective, self.problem.dim, self.seed, candidates=self.candidates,
                     samples=self.options["samples"], top_k=self.top_k)
        n, tokens = self.problem.n_params(self.fidelity.scale), self.problem.tokens(self.fidelity)
        predicted = law.predict(w[None, :], n, tokens)[0]
        return Recommendation(
            mixture=w, fidelity=self.fidelity, objective=float(self.problem.objective(predicted)),
            objective_std=None, losses=predicted, loss_std=None, method=f"{self.name} law minimiser",
            details={"law": self.law, "params": n, "tokens": tokens},
        )


class DataMixingLawStrategy(LawStrategy):
    """Data Mixing Laws (Ye et al., ICLR 2025), nested with the step and size laws."""

    name = "dml"
    law = "dml"


class BiMixStrategy(LawStrategy):
    """BiMix (Ge et al., 2024): each domain's loss in its own proportion and the training amount."""

    name = "bimix"
    law = "bimix"


class ScalingLawStrategy(LawStrategy):
    """The scaling law for optimal mixtures (Shukor et al., 2025). Option ``form``: ``additive``
    or ``joint``."""

    name = "scaling_law"
    law = "scaling_law"
    law_options = {"form": "additive"}
    defaults = {**LawStrategy.defaults, **law_options}

    @classmethod
    def choices(cls) -> dict[str, tuple]:
        return {"form": ("additive", "joint")}


class RegMixStrategy(LawStrategy):
    """RegMix (Liu et al., ICLR 2025): regression of the losses on the mixture; the recommendation
    averages the ``top_k`` best predicted mixtures. Option ``model``: ``lightgbm`` or ``linear``."""

    name = "regmix"
    law = "regmix"
    law_options = {"model": "lightgbm"}
    defaults = {**LawStrategy.defaults, **law_options}
    top_k = 100

    @classmethod
    def choices(cls) -> dict[str, tuple]:
        return {"model": ("lightgbm", "linear")}

    def make_law(self) -> Law:
        return make_law(self.law, model=self.options["model"], seed=self.seed)
