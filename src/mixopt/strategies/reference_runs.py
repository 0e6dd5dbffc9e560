"""The reference runs of the ``worst_excess`` objective.

A run's worst excess is measured against the reference mixture's losses at the same scale and
step, so a batch must run the reference as far as any of its trials at that scale goes, unless
the observations already did. :meth:`~mixopt.strategies.base.Strategy.propose` swaps those runs in.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np
import pandas as pd

from mixopt.core.constraints import Constraints
from mixopt.core.observations import mixtures, successful
from mixopt.core.problem import Fidelity, Problem
from mixopt.core.simplex import is_among


class _Trial(Protocol):
    mixture: np.ndarray
    fidelity: Fidelity


def reference_runs(observations: pd.DataFrame, batch: Sequence[_Trial], problem: Problem,
                   constraints: Constraints) -> dict[int, Fidelity]:
    """Which trials of ``batch`` become runs of the reference, and at which fidelity: at each
    scale where neither the observations nor the batch run the reference as far as the batch's
    longest run there, the batch's last trial at that scale (at that longest run).

    Raises:
        ValueError: the reference mixture breaks the constraints where it must run.
    """
    ref = problem.objective_reference
    assert ref is not None
    ok = successful(observations) if len(observations) else observations
    swaps: dict[int, Fidelity] = {}
    for scale in dict.fromkeys(p.fidelity.scale for p in batch):
        at = [k for k, p in enumerate(batch) if p.fidelity.scale == scale]
        steps = max(batch[k].fidelity.steps for k in at)
        ran = ok[ok["scale"] == scale] if len(ok) else ok
        ran = ran[is_among(mixtures(ran, problem), ref[None])] if len(ran) else ran
        done = len(ran) and float(pd.to_numeric(ran["step"]).max()) >= steps
        if done or any(is_among(ref[None], batch[k].mixture[None])[0] and batch[k].fidelity.steps >= steps for k in at):
            continue
        fidelity = Fidelity(scale, steps)
        broken = constraints.check(ref, fidelity)
        if broken:
            raise ValueError(f"objective worst_excess: the reference mixture cannot run at {scale}, {steps} "
                             f"steps: {'; '.join(broken)}")
        swaps[at[-1]] = fidelity
    return swaps
