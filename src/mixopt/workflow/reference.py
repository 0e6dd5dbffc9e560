"""The reference mixture a recommendation is compared with: uniform, a token heuristic (natural,
temperature, unimax), or the user's."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from mixopt.core.constraints import Constraints
from mixopt.core.errors import ConfigError
from mixopt.core.problem import Problem
from mixopt.core.token_heuristics import heuristic_mixture
from mixopt.data.shards import train_tokens


def reference_mixture(reference: str | Mapping[str, float], problem: Problem,
                      shard_metas: Mapping[str, str | Path] | None = None,
                      constraints: Constraints | None = None) -> tuple[np.ndarray, str]:
    """The `d` reference mixture of ``reference`` (the config's ``reference``) and its name
    (``uniform``, ``natural``, ``temperature``, ``unimax`` or ``given``).

    Args:
        reference: ``uniform``, a token heuristic (``natural``, ``temperature`` with τ = 3.33,
            ``unimax`` capped at ``constraints.max_repetition`` epochs of the target's tokens), or
            domain -> weight (missing domains weigh 0).
        problem: the domains, in mixture order.
        shard_metas: domain -> its shards' meta.json, for the heuristics' token counts when
            ``constraints`` has none.
        constraints: the domains' training tokens (``tokens_available``), the target's training
            tokens and the repetition cap, for the heuristics.

    Raises:
        ConfigError: a heuristic without every domain's token count.
    """
    d = problem.dim
    if isinstance(reference, Mapping):
        return np.array([float(reference.get(name, 0.0)) for name in problem.domains]), "given"
    if reference == "uniform":
        return np.full(d, 1.0 / d), "uniform"
    if constraints is None:
        constraints = Constraints(problem, tokens_available=train_tokens(shard_metas or {}))
    tokens = constraints.tokens_available
    missing = [name for name in problem.domains if name not in tokens]
    if missing:
        raise ConfigError(f"config key 'reference': {reference!r} needs the token counts of {missing} "
                          "(domains.<d>.tokens, or results/data/<domain>/meta.json written by the tokenize rule)")
    run_tokens = constraints.run_tokens(problem.target) if reference == "unimax" else None
    return heuristic_mixture(reference, problem.domains, tokens, run_tokens=run_tokens,
                             max_epochs=constraints.max_repetition), reference
