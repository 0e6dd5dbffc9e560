"""One trial a back end runs: a mixture trained (or looked up) at a fidelity with a seed."""

from __future__ import annotations

from dataclasses import dataclass

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
    """

    mixture: np.ndarray
    fidelity: Fidelity
    seed: int | None = None
    iteration: int | None = None
    index: int | None = None

    def ids(self) -> dict[str, int]:
        """``{"iteration", "trial"}`` where known: the first keys of the trial's metrics record."""
        ids = {"iteration": self.iteration, "trial": self.index}
        return {k: int(v) for k, v in ids.items() if v is not None}
