"""Hyperband (Li et al., 2018) from SMAC3: training steps as the budget, at one fixed scale.

This is the paper's Hyperband baseline (arXiv 2503.21023 runs SMAC3's): random mixtures, raced by
successive halving over step budgets ``min_steps ... full run`` with ratio ``eta``.

SMAC keeps its state in memory; a mixopt strategy is rebuilt from the observations every iteration
(a Snakemake job, a rerun). So ``propose`` replays the history: a fresh SMAC with the same seed is
asked, iteration by iteration, for as many trials as that iteration ran, and told their results.
SMAC is deterministic given its seed and the results, so it asks for the same trials again; what
it asks next is this iteration's batch. A history SMAC did not produce (another strategy's trials,
an edited proposal) is an error naming the first trial that differs.
"""

from __future__ import annotations

import logging
import math
import tempfile
from typing import Any

import numpy as np
import pandas as pd

from mixopt.core.observations import losses as loss_matrix
from mixopt.core.observations import mixtures, own_trials, successful
from mixopt.core.problem import Fidelity
from mixopt.core.simplex import is_among, same_mixture
from mixopt.strategies import options as opt
from mixopt.strategies.base import Proposal, ProposalBatch, Recommendation, Strategy


class HyperbandStrategy(Strategy):
    """Options:
        eta: successive halving keeps the best 1/eta of each rung for an eta times longer run.
        min_steps: the shortest budget (default: the scale's first recorded checkpoint, or a
            full run / eta^3 when runs are trained).
        scale: the fixed scale (default: the target), as for every strategy.
    """

    name = "hyperband"
    runs_references = False  # SMAC's replay must see the batches it asked for
    declared_options = {"eta": opt.integer_at_least(2, 3), "min_steps": opt.positive_int(None, optional=True)}

    # -- budgets -------------------------------------------------------------------------------

    def budgets(self) -> tuple[int, int]:
        """(shortest, longest) run in steps at the strategy's scale."""
        full = self.fidelity.steps
        recorded = [s for s in self.problem.recorded_steps.get(self.fidelity.scale, ()) if s <= full]
        low = self.options["min_steps"] or (recorded[0] if recorded else max(1, full // self.options["eta"] ** 3))
        if not 1 <= low < full:
            raise ValueError(f"hyperband: min_steps must be below the full run ({full} steps), got {low}")
        return int(low), int(full)

    def steps(self, budget: float) -> int:
        """SMAC's (fractional) budget -> a run length; recorded runs stop only at their checkpoints."""
        low, full = self.budgets()
        recorded = [s for s in self.problem.recorded_steps.get(self.fidelity.scale, ()) if low <= s <= full]
        if recorded:
            return min(recorded, key=lambda s: abs(s - budget))
        return int(min(full, max(low, round(budget))))

    def fidelities(self) -> list[Fidelity]:
        """Every run length SMAC's brackets can ask for."""
        low, full = self.budgets()
        eta = self.options["eta"]
        levels = int(math.floor(math.log(full / low) / math.log(eta) + 1e-9))
        return sorted({Fidelity(self.fidelity.scale, self.steps(full / eta**k)) for k in range(levels + 1)},
                      key=lambda f: f.steps)

    # -- SMAC ----------------------------------------------------------------------------------

    def _smac(self, output_directory: str):
        # SMAC takes seconds to import: only a hyperband run needs it (here and below)
        from ConfigSpace import Categorical, ConfigurationSpace, Float
        from smac import HyperbandFacade, Scenario

        space = ConfigurationSpace(seed=self.seed)
        if self.candidates is not None:  # a pool: the candidate's index
            space.add(Categorical("candidate", list(range(len(self.candidates)))))
        else:  # d weights in [0, 1], normalised to sum 1 (the default, all equal, is uniform)
            space.add([Float(f"w{i}", (0.0, 1.0), default=0.5) for i in range(self.problem.dim)])
        low, full = self.budgets()
        scenario = Scenario(space, deterministic=True, n_trials=10**9, min_budget=low, max_budget=full,
                            seed=self.seed, output_directory=output_directory)
        intensifier = HyperbandFacade.get_intensifier(scenario, eta=self.options["eta"])
        logging.getLogger("smac").setLevel(logging.ERROR)
        return HyperbandFacade(scenario, _never_called, intensifier=intensifier, overwrite=True,
                               logging_level=logging.ERROR)

    def mixture(self, config: Any) -> np.ndarray:
        """A SMAC configuration -> its mixture (`d`)."""
        if self.candidates is not None:
            return self.candidates[int(config["candidate"])]
        x = np.array([config[f"w{i}"] for i in range(self.problem.dim)], dtype=float)
        w = x / x.sum() if x.sum() > 0 else np.full(self.problem.dim, 1.0 / self.problem.dim)
        # SMAC's space is a box of unnormalised weights: constraints on the simplex do not fit it, so
        # its mixture is the nearest that the full run at the scale (the most tokens) may train on
        box = self.box(Fidelity(self.fidelity.scale, self.budgets()[1]))
        return w if box.is_unconstrained else box.project(w)[0]

    def _replay(self, observations: pd.DataFrame, smac) -> None:
        """Ask and tell SMAC the history, iteration by iteration (see the module docstring)."""
        from smac.runhistory.dataclasses import TrialValue
        from smac.runhistory.enumerations import StatusType

        history = _trials(observations, self.problem)
        for iteration in sorted({i for i, _ in history}):
            rows = [(key, row) for key, row in history.items() if key[0] == iteration]
            asked = [smac.ask() for _ in rows]  # the whole batch first, as when it was proposed
            for info, ((_, trial), row) in zip(asked, rows):
                asked_w, asked_steps = self.mixture(info.config), self.steps(info.budget)
                if not same_mixture(asked_w, row["mixture"]) or asked_steps != row["steps"]:
                    raise ValueError(
                        f"hyperband (seed {self.seed}) replays its own history, but iteration {iteration} trial "
                        f"{trial} is not the trial it proposed there (it proposed {np.round(asked_w, 4).tolist()} "
                        f"for {asked_steps} steps); start a fresh results folder for hyperband")
                if np.isfinite(row["objective"]):
                    smac.tell(info, TrialValue(cost=float(row["objective"])), save=False)
                else:  # a failed trial is a crash for SMAC (the worst cost), never skipped
                    smac.tell(info, TrialValue(cost=math.inf, status=StatusType.CRASHED), save=False)

    def search(self, observations: pd.DataFrame, n: int, iteration: int) -> ProposalBatch:
        from smac.main.exceptions import ConfigurationSpaceExhaustedException

        asked, exhausted = [], False
        with tempfile.TemporaryDirectory(prefix="mixopt-smac-") as tmp:
            smac = self._smac(tmp)
            self._replay(observations, smac)
            try:
                while len(asked) < n:
                    asked.append(smac.ask())
            except ConfigurationSpaceExhaustedException:  # a pool whose every mixture was sampled
                exhausted = True
        proposals = [Proposal(self.mixture(a.config), Fidelity(self.fidelity.scale, self.steps(a.budget)))
                     for a in asked]
        return ProposalBatch(proposals, {"design": "SMAC3 Hyperband", "eta": self.options["eta"],
                                         "budgets": [p.fidelity.steps for p in proposals],
                                         **({"note": "every candidate was sampled: no new bracket can start"}
                                            if exhausted else {})})

    def answer(self, observations: pd.DataFrame, per_domain: bool = True) -> Recommendation:
        """SMAC's incumbent: the best mixture at the longest budget any mixture reached."""
        with tempfile.TemporaryDirectory(prefix="mixopt-smac-") as tmp:
            smac = self._smac(tmp)
            self._replay(observations, smac)
            incumbent = smac.intensifier.get_incumbent()
        if incumbent is None:
            raise ValueError("hyperband: no successful trial to recommend from")
        w = self.mixture(incumbent)
        ok = own_trials(observations)
        ok = successful(ok)
        ok = ok[ok["scale"] == self.fidelity.scale]
        ok = ok[is_among(mixtures(ok, self.problem), w[None])]
        row = ok.loc[[ok["step"].astype(float).idxmax()]]
        fidelity = Fidelity(self.fidelity.scale, int(row["step"].iloc[0]))
        return Recommendation(
            mixture=w, fidelity=fidelity, objective=float(row["objective"].iloc[0]), objective_std=None,
            losses=loss_matrix(row, self.problem)[0], loss_std=None,
            method="SMAC3 Hyperband incumbent (best at the longest budget reached)",
            details={"steps": fidelity.steps},
        )


def _trials(observations: pd.DataFrame, problem) -> dict[tuple[int, int], dict[str, Any]]:
    """(iteration, trial) -> mixture, requested steps and final objective (NaN if it failed), in order."""
    out: dict[tuple[int, int], dict[str, Any]] = {}
    observations = own_trials(observations)
    if observations.empty:
        return out
    for (iteration, trial), rows in observations.groupby(["iteration", "trial"], sort=True):
        last = rows.iloc[[-1]]
        objective = float(last["objective"].iloc[0]) if len(successful(rows)) == len(rows) else math.nan
        out[(int(iteration), int(trial))] = {
            "mixture": mixtures(last, problem)[0], "steps": int(last["max_steps"].iloc[0]),
            "objective": objective if math.isfinite(objective) else math.nan,
        }
    return out


def _never_called(config, seed: int = 0, budget: float = 0.0) -> float:
    raise RuntimeError("mixopt runs trials itself; SMAC is only asked and told")
