"""Online data mixing (Albalak et al. 2023): an EXP3 bandit picks each batch's mixture while the
model trains at the target; the mixture it realised is the recommendation. One run, no proxies."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mixopt.core.observations import at_fidelity, mixtures, own_trials
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
        """The realised mixture, with the online run's objective (that run's own schedule)."""
        run = self._online_run(observations)
        if run is None:
            raise ValueError("online: the bandit's run has not succeeded")
        rec = best_observed(run.to_frame().T, self.problem, self.fidelity)
        rec.method = "online mixing: realised mixture"
        return rec
