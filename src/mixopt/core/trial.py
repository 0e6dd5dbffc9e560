"""One trial a back end runs: a mixture trained (or looked up) at a fidelity with a seed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from mixopt.core.problem import Fidelity


@dataclass(frozen=True)
class Trial:
    """Attributes:
        mixture: `d` weights in the problem's domain order.
        fidelity: the scale and the steps to train for.
        seed: the training seed (``None``: a look-up that needs none).
        iteration, index: where the trial sits in the loop (``None`` outside it, e.g. a benchmark's
            evaluation of a recommendation); written first into its metrics record.
        run: how the run trains besides its mixture (``None``: a plain run of that mixture):
            ``{"save_model": true}`` (DoReMi's reference run), or ``{"weighting": {...}}``: weights
            that change during the run (``method`` ``doremi``, with ``reference``: the
            ``{iteration, trial}`` whose saved model is the reference, or ``online``). Only a
            back end that trains can run one.
    """

    mixture: np.ndarray
    fidelity: Fidelity
    seed: int | None = None
    iteration: int | None = None
    index: int | None = None
    run: Mapping[str, Any] | None = None

    def ids(self) -> dict[str, int]:
        """``{"iteration", "trial"}`` where known: the first keys of the trial's metrics record."""
        ids = {"iteration": self.iteration, "trial": self.index}
        return {k: int(v) for k, v in ids.items() if v is not None}
