"""The token-count heuristics as strategies: natural proportions, temperature sampling, UniMax.

Each computes one mixture from the domains' training tokens (no search), and every trial trains it,
as ``uniform`` does: repeats differ only in their training seed and measure the objective's noise.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mixopt.core.token_heuristics import DEFAULT_TAU, heuristic_mixture
from mixopt.strategies import options as opt
from mixopt.strategies.base import ProposalBatch, Strategy


class TokenHeuristic(Strategy):
    """A mixture from each domain's training tokens: the constraints' ``tokens_available`` (the
    shards' meta.json on the train back end, ``domains.<d>.tokens`` on a run table). From a pool:
    the candidate nearest to it."""

    needs_token_counts = True

    @property
    def mixture(self) -> np.ndarray:
        """The `d` heuristic mixture (computed when asked: a strategy built only for its model,
        e.g. the held-out predictions, needs no token counts)."""
        try:
            return self.heuristic()
        except ValueError as e:
            raise ValueError(f"{self.name}: {e} (domains.<d>.tokens, or the shards' meta.json on the train "
                             "back end)") from None

    def heuristic(self) -> np.ndarray:
        """The `d` mixture, for a run to the target."""
        return heuristic_mixture(self.name, self.problem.domains, self.constraints.tokens_available)

    def search(self, observations: pd.DataFrame, n: int, iteration: int) -> ProposalBatch:
        mixture = self.mixture
        w = self.snap(np.tile(mixture, (n, 1)))
        diagnostics: dict[str, Any] = {"heuristic": self.problem.mixture_dict(mixture)}
        if self.candidates is not None:
            diagnostics["design"] = "pool candidate nearest to the heuristic mixture"
        return ProposalBatch(self.proposals_at(w), diagnostics)


class Natural(TokenHeuristic):
    """Each domain's share of the training tokens: ``w_i = T_i / sum T``."""

    name = "natural"


class Temperature(TokenHeuristic):
    """Temperature sampling, ``w_i ∝ T_i^(1/τ)``. Option ``tau`` (default 3.33, mT5's and
    XLM-R's exponent 0.3): 1 is the natural mixture, larger is flatter."""

    name = "temperature"
    declared_options = {"tau": opt.positive_number(DEFAULT_TAU)}

    def heuristic(self) -> np.ndarray:
        return heuristic_mixture(self.name, self.problem.domains, self.constraints.tokens_available,
                                 tau=float(self.options["tau"]))


class UniMax(TokenHeuristic):
    """UniMax (Chung et al. 2023): the target's training tokens spread uniformly over the domains,
    none repeated more than ``max_epochs`` times (default: ``constraints.max_repetition``, the
    repetition cap every strategy keeps to); the rest goes to the larger domains."""

    name = "unimax"
    declared_options = {"max_epochs": opt.Option(None, "a positive number or null",
                                                 lambda v: v is None or opt.positive_number(1.0).valid(v))}

    def heuristic(self) -> np.ndarray:
        epochs = self.options["max_epochs"]
        return heuristic_mixture(self.name, self.problem.domains, self.constraints.tokens_available,
                                 run_tokens=self.constraints.run_tokens(self.problem.target),
                                 max_epochs=float(self.constraints.max_repetition if epochs is None else epochs))
