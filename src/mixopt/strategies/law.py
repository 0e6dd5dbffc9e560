"""Fitted laws as strategies: a space-filling design, then the law's minimiser plus exploration.

Every successful checkpoint observed is a data point of the law (a run to z steps also observed
every z' < z). Each iteration after the design proposes the mixture the law predicts best at the
strategy's fidelity (the target unless ``scale`` says otherwise) that was not tried there yet, and
fills the rest of the batch with space-filling exploration points, so the law is refitted on
mixtures it did not choose. A law the data cannot yet identify is said so in the diagnostics and
the design goes on. The recommendation is the law's minimiser with its per-domain predictions.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd

from mixopt.core.observations import at_fidelity, losses, mixtures, successful_checkpoints, successful_runs
from mixopt.core.problem import Problem
from mixopt.core.simplex import nearest_gap, same_mixture
from mixopt.laws import Law, LawFitError, Runs, make_law
from mixopt.laws.base import require
from mixopt.laws.optimum import minimise
from mixopt.strategies import options as opt
from mixopt.strategies.base import ProposalBatch, Recommendation, Strategy, fallback


#: The law's optimum counts as tried when a trained mixture is this close (largest weight
#: difference): a law's minimiser moves a little with every refit, and retraining a near-copy
#: teaches it nothing.
TRIED_RADIUS = 1e-3


def runs_from_observations(observations: pd.DataFrame, problem: Problem) -> Runs:
    """Every successful checkpoint with a loss for each evaluation domain, as a law's data."""
    rows = successful_checkpoints(observations)
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
    law_options: ClassVar[tuple[str, ...]] = ()
    declared_options: ClassVar[dict[str, opt.Option]] = {
        "min_runs": opt.positive_int(None, optional=True), "samples": opt.positive_int(4096)}
    #: RegMix's rule: recommend the mean of the k best predicted mixtures (None: the minimiser).
    top_k: ClassVar[int | None] = None

    def make_law(self) -> Law:
        return make_law(self.law, **{k: self.options[k] for k in self.law_options})

    def fit(self, observations: pd.DataFrame) -> Law:
        """The law fitted on every observed checkpoint; LawFitError when it cannot be identified."""
        require(successful_runs(observations), self.options["min_runs"] or self.problem.dim + 2,
                self.name, "successful run(s) (min_runs)")
        return self.make_law().fit(runs_from_observations(observations, self.problem))

    def _objective(self, law: Law):
        n, tokens = self.problem.n_params(self.fidelity.scale), self.problem.tokens(self.fidelity)
        reference = None
        if self.problem.objective_kind == "worst_excess":  # the law's losses of the reference, there
            reference = law.predict(self.problem.objective_reference[None], n, tokens)
        return lambda w: self.problem.objective(law.predict(w, n, tokens), reference)

    def search(self, observations: pd.DataFrame, n: int, iteration: int) -> ProposalBatch:
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
            best = minimise(objective, self.problem.dim, seed, samples=self.options["samples"], top_k=self.top_k,
                            box=self.box())
            if nearest_gap(best[None], tried)[0] < TRIED_RADIUS:
                # the law's optimum was trained already: its best prediction among untried points
                points = self.initial_design(self.options["samples"], iteration).copy()
                best = minimise(objective, self.problem.dim, seed, candidates=np.array([p.mixture for p in points]))
        exploit = self.proposals_at(best)
        explore = [p for p in self.initial_design(n, iteration + 1, observations)
                   if not same_mixture(p.mixture, best)][: n - 1]
        predicted = float(objective(best[None, :])[0])
        return ProposalBatch(exploit + explore, {"design": f"{self.name} minimiser + {len(explore)} space-filling",
                                                 "predicted_objective": predicted})

    def answer(self, observations: pd.DataFrame, per_domain: bool = True) -> Recommendation:
        try:
            law = self.fit(observations)
        except LawFitError as e:
            return fallback(observations, self.problem, self.fidelity, f"law not fitted ({e}); best observed instead")
        objective = self._objective(law)
        w = minimise(objective, self.problem.dim, self.seed, candidates=self.candidates,
                     samples=self.options["samples"], top_k=self.top_k, box=self.box(self.problem.target))
        answers = self.with_reference(w[None, :])  # the reference wins where the law predicts it lower
        w = answers[int(np.argmin(objective(answers)))]
        n, tokens = self.problem.n_params(self.fidelity.scale), self.problem.tokens(self.fidelity)
        predicted = law.predict(w[None, :], n, tokens)[0]
        return Recommendation(
            mixture=w, fidelity=self.fidelity, objective=float(objective(w[None, :])[0]),
            objective_std=None, losses=predicted, loss_std=None, method=f"{self.name} law minimiser",
            considered=answers,
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
    law_options = ("form",)
    declared_options = {**LawStrategy.declared_options, "form": opt.choice(("additive", "joint"), "additive")}


class RegMixStrategy(LawStrategy):
    """RegMix (Liu et al., ICLR 2025): regression of the losses on the mixture; the recommendation
    averages the ``top_k`` best predicted mixtures. Option ``model``: ``lightgbm`` or ``linear``."""

    name = "regmix"
    law = "regmix"
    declared_options = {**LawStrategy.declared_options, "model": opt.choice(("lightgbm", "linear"), "lightgbm")}
    top_k = 100

    def make_law(self) -> Law:
        return make_law(self.law, model=self.options["model"], seed=self.seed)
