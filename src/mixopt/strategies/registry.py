"""Strategy names -> classes."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from mixopt.problem import Problem
from mixopt.strategies.base import Strategy
from mixopt.strategies.fixed import Fixed
from mixopt.strategies.gp import GPStrategy
from mixopt.strategies.hyperband import HyperbandStrategy
from mixopt.strategies.law import BiMixStrategy, DataMixingLawStrategy, RegMixStrategy, ScalingLawStrategy
from mixopt.strategies.mfms import MFMSStrategy
from mixopt.strategies.random import RandomSearch
from mixopt.strategies.uniform import Uniform

STRATEGIES: dict[str, type[Strategy]] = {cls.name: cls for cls in (
    RandomSearch, Uniform, Fixed, GPStrategy, MFMSStrategy, HyperbandStrategy,
    DataMixingLawStrategy, BiMixStrategy, ScalingLawStrategy, RegMixStrategy)}


def strategy_class(name: str) -> type[Strategy]:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(f"unknown strategy {name!r}; choose from {sorted(STRATEGIES)}") from None


def check_strategy_options(name: str, options: Mapping[str, Any], domains: list[str] | tuple[str, ...]) -> None:
    strategy_class(name).check_options(dict(options), tuple(domains))


def make_strategy(name: str, problem: Problem, seed: int, options: Mapping[str, Any] | None = None,
                  candidates: np.ndarray | None = None) -> Strategy:
    """``candidates``: `m x d` mixtures the strategy is restricted to (a run table's pool)."""
    return strategy_class(name)(problem, seed=seed, candidates=candidates, **dict(options or {}))


def strategy_from_config(config: Mapping[str, Any], problem: Problem) -> Strategy:
    """The config's strategy; with the table back end in pool mode, restricted to the recorded
    mixtures it can run (at its scale and at the target)."""
    settings = config["strategy"]
    options = dict(settings.get("options") or {})
    strategy = make_strategy(settings["name"], problem, config.get("seed", 0), options)
    backend = config.get("backend", {})
    if backend.get("name") == "table" and backend.get("mode", "pool") == "pool":
        from mixopt.tables.backend import TableBackend

        TableBackend.from_config(config).restrict(strategy)
    return strategy
