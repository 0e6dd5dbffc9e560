"""DoReMi (Xie et al. 2023): domain weights from Group DRO on a proxy model's excess loss over a
reference model, in two proxy runs; their average is the answer, then trained at the target."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mixopt.core.observations import at_fidelity, mixtures, own_trials
from mixopt.core.simplex import is_among
from mixopt.strategies import options as opt
from mixopt.strategies.base import Proposal, ProposalBatch, Recommendation, Strategy, best_observed


class DoReMi(Strategy):
    """Three phases, one per iteration, each only once the one before has succeeded:

    1. the reference run: the reference mixture (the config's ``reference``; uniform without one)
       at the proxy scale (option ``scale``; default the target), its model saved;
    2. the proxy run: the same scale and steps from uniform weights, which Group DRO moves towards
       the domains with the largest excess loss over the reference model after every step
       (options ``step_size`` η, default 1, and ``smoothing`` c, default 1e-3, the paper's values);
       its mixture is the average of the weights it used;
    3. that mixture trained at the target, every later trial (repeats differ in their seed), so
       the answer is measured and charged like any recommendation.

    Each phase proposes one trial (phase 3: ``n``); the weights of every step are in the proxy
    run's metrics.json (``domain_weights``). The train back end only.
    """

    name = "doremi"
    weights_during_run = True
    runs_references = False
    searches_from_reference = True
    declared_options = {"step_size": opt.positive_number(1.0), "smoothing": opt.number_in(0.0, 1.0, 1e-3)}

    def _phases(self, observations: pd.DataFrame) -> tuple[pd.Series | None, pd.Series | None]:
        """The successful reference run and proxy run in the observations (``None``: not yet):
        the first successful trial at the proxy fidelity, and the first after its iteration."""
        ok = own_trials(observations)
        ok = at_fidelity(ok, self.fidelity) if len(ok) else ok
        if len(ok) == 0:
            return None, None
        runs = ok.sort_values(["iteration", "trial"]).drop_duplicates(["iteration", "trial"])
        reference = runs.iloc[0]
        later = runs[runs["iteration"] > reference["iteration"]]
        return reference, (later.iloc[0] if len(later) else None)

    def search(self, observations: pd.DataFrame, n: int, iteration: int) -> ProposalBatch:
        reference, proxy = self._phases(observations)
        d = self.problem.dim
        if reference is None:
            start = self.reference if self.reference is not None else np.full(d, 1.0 / d)
            return ProposalBatch([Proposal(start, self.fidelity, {"save_model": True})], {"doremi": "reference run"})
        if proxy is None:
            rule = {"method": "doremi", "step_size": self.options["step_size"], "smoothing": self.options["smoothing"],
                    "reference": {"iteration": int(reference["iteration"]), "trial": int(reference["trial"])}}
            return ProposalBatch([Proposal(np.full(d, 1.0 / d), self.fidelity, {"weighting": rule})],
                                 {"doremi": "proxy run (Group DRO)"})
        answer = mixtures(proxy.to_frame().T, self.problem)[0]
        return ProposalBatch(self.proposals_at(np.tile(answer, (n, 1)), self.problem.target),
                             {"doremi": "the average weights at the target", "weights": self.problem.mixture_dict(answer)})

    def answer(self, observations: pd.DataFrame, per_domain: bool = True) -> Recommendation:
        """The average weights of the proxy run: as trained at the target when they were, else
        with the proxy run's own objective (a note says so)."""
        _, proxy = self._phases(observations)
        if proxy is None:
            raise ValueError("doremi: no successful proxy run yet (budget.iterations >= 3 gives the reference run, "
                             "the proxy run and the answer at the target)")
        weights = mixtures(proxy.to_frame().T, self.problem)[0]
        later = own_trials(observations)
        later = later[later["iteration"] > proxy["iteration"]] if len(later) else later  # phase 3
        trained = at_fidelity(later, self.problem.target) if len(later) else later
        if len(trained):
            trained = trained[is_among(mixtures(trained, self.problem), weights[None])]
        if len(trained):
            return best_observed(trained, self.problem, self.problem.target)
        rec = best_observed(proxy.to_frame().T, self.problem, self.fidelity)
        rec.method = "doremi average weights"
        rec.details["note"] = "not trained at the target yet: the objective is the proxy run's"
        return rec
