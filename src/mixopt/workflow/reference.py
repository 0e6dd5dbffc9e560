"""The reference mixture a recommendation is compared with: uniform, natural, or the user's."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from mixopt.core.errors import ConfigError
from mixopt.core.problem import Problem
from mixopt.data.shards import train_tokens


def reference_mixture(reference: str | Mapping[str, float], problem: Problem,
                      shard_metas: Mapping[str, str | Path] | None = None) -> tuple[np.ndarray, str]:
    """The `d` reference mixture of ``reference`` (the config's ``reference``) and its name
    (``uniform``, ``natural`` or ``given``).

    Args:
        reference: ``uniform``, ``natural`` or domain -> weight (missing domains weigh 0).
        problem: the domains, in mixture order.
        shard_metas: domain -> its shards' meta.json, for ``natural`` (each domain's share of the
            training tokens).

    Raises:
        ConfigError: ``natural`` without every domain's meta.json.
    """
    d = problem.dim
    if isinstance(reference, Mapping):
        return np.array([float(reference.get(name, 0.0)) for name in problem.domains]), "given"
    if reference == "uniform":
        return np.full(d, 1.0 / d), "uniform"
    missing = [name for name in problem.domains if not shard_metas or name not in shard_metas]
    if missing:
        raise ConfigError(f"config key 'reference': 'natural' needs the token counts of {missing} "
                          "(results/data/<domain>/meta.json, written by the tokenize rule)")
    assert shard_metas is not None
    counts = train_tokens(shard_metas)
    tokens = np.array([counts[name] for name in problem.domains], dtype=float)
    return tokens / tokens.sum(), "natural"
