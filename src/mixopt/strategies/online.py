"""Online data mixing (Albalak et al. 2023): an EXP3 bandit picks each batch's mixture while the
model trains at the target; the mixture it realised is the recommendation. One run, no proxies."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mixopt.core.observations import at_fidelity, mixtures, own_trials
from mixopt.core.simplex import is_among
from mixopt.strategies import options as opt
from mixopt.strategies.base import Proposal, ProposalBatch, Recommendation, Strategy, best_observed


class OnlineMixing(Strategy):
    """Iteration 0 trains one model at the strategy's fidelity (the target unless option
    ``scale``), from uniform weights, with the bandit choosing each batch's domains (option
    ``reward_smoothing`` β, default 0.9: the weight of a domain's earlier rewards). Its mixture is
    the average of the weights it used. Later iterations, if the budget has them, train that
    mixture as a fixed one (repeats differ in their seed). The train back end only.
    """

    name = "online"
    weights_during_run = True
    runs_references = False
    declared_options = {"reward_smoothing": opt.number_in(0.0, 1.0, 0.9)}

    def _online_run(self, observations: pd.DataFrame) -> pd.Series | None:
        ok = own_trials(observations)
        ok = at_fidelity(ok, self.fidelity) if len(ok) else ok
        if len(ok) == 0:
            return None
        return ok.sort_values(["iteration", "trial"]).iloc[0]

    def search(self, observations: pd.DataFrame, n: int, iteration: int) -> ProposalBatch:
        run = self._online_run(observations)
        d = self.problem.dim
        if run is None:
            rule = {"method": "online", "reward_smoothing": self.options["reward_smoothing"]}
            return ProposalBatch([Proposal(np.full(d, 1.0 / d), self.fidelity, {"weighting": rule})],
                                 {"online": "one run with the bandit"})
        realised = mixtures(run.to_frame().T, self.problem)[0]
        return ProposalBatch(self.proposals_at(np.tile(realised, (n, 1))),
                             {"online": "the realised mixture as a fixed one",
                              "weights": self.problem.mixture_dict(realised)})

    def answer(self, observations: pd.DataFrame, per_domain: bool = True) -> Recommendation:
        """The realised mixture: as trained as a fixed mixture when a later iteration did, else
        with the online run's objective (that run's own schedule; a note says so)."""
        run = self._online_run(observations)
        if run is None:
            raise ValueError("online: the bandit's run has not succeeded")
        realised = mixtures(run.to_frame().T, self.problem)[0]
        later = own_trials(observations)
        later = at_fidelity(later[later["iteration"] > run["iteration"]], self.fidelity)
        if len(later):
            later = later[is_among(mixtures(later, self.problem), realised[None])]
        if len(later):
            return best_observed(later, self.problem, self.fidelity)
        rec = best_observed(run.to_frame().T, self.problem, self.fidelity)
        rec.method = "online mixing: realised mixture"
        rec.details["note"] = "the objective is the online run's, whose mixture changed as it trained"
        return rec
