"""The constraints a config sets on its back end's problem: bounds, the repetition caps of each
domain's tokens, and the outcome constraint. Here, not in ``config``, so that a trial job checks
its proposal without importing the strategies."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from mixopt.core.constraints import Constraints, InfeasibleBox
from mixopt.core.errors import ConfigError
from mixopt.core.problem import Problem
from mixopt.data.shards import train_tokens
from mixopt.settings import Settings

__all__ = ["constraints_of"]


def constraints_of(settings: Settings, problem: Problem,
                   shard_metas: Mapping[str, str | Path] | None = None) -> Constraints:
    """The constraints of the config: bounds, repetition caps from each domain's tokens (the
    config's ``domains.<d>.tokens``, else the shards' meta.json), the outcome constraint.

    Raises:
        ConfigError: naming ``constraints`` and the domains, when no mixture can run at the target.
    """
    c = settings.constraints
    tokens = train_tokens(shard_metas or {}) | {d: s.tokens for d, s in settings.domains.items() if s.tokens}
    nw = c.no_worse_than_reference
    constraints = Constraints(problem, c.bounds, {d: t for d, t in tokens.items() if d in problem.domains},
                              c.max_repetition, None if nw is None else (nw["tolerance"], nw["probability"]))
    try:
        constraints.box(problem.target)
    except InfeasibleBox as e:
        raise ConfigError(f"config key 'constraints' (bounds, max_repetition {c.max_repetition:g} and the "
                          f"domains' tokens): {e}") from None
    return constraints
