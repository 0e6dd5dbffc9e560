"""Strategy names -> classes, and building one for a problem."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from mixopt.core.constraints import Constraints
from mixopt.core.problem import Problem
from mixopt.core.space import MixtureSpace
from mixopt.settings import StrategySettings
from mixopt.strategies.auto import AutoStrategy
from mixopt.strategies.base import Strategy
from mixopt.strategies.fixed import Fixed
from mixopt.strategies.gp import GPStrategy
from mixopt.strategies.hyperband import HyperbandStrategy
from mixopt.strategies.law import BiMixStrategy, DataMixingLawStrategy, RegMixStrategy, ScalingLawStrategy
from mixopt.strategies.mfms import MFMSStrategy
from mixopt.strategies.multiscale import MultiScaleStrategy
from mixopt.strategies.doremi import DoReMi
from mixopt.strategies.online import OnlineMixing
from mixopt.strategies.random import RandomSearch
from mixopt.strategies.sobol import SobolSearch
from mixopt.strategies.token_heuristics import Natural, Temperature, UniMax
from mixopt.strategies.uniform import Uniform

#: config name (``strategy.name``; the class's ``name``) -> strategy class. The schema's
#: ``strategy_name`` enum lists the same names (tests/test_registry.py checks both ways).
STRATEGIES: dict[str, type[Strategy]] = {cls.name: cls for cls in (
    AutoStrategy, RandomSearch, Uniform, Fixed, GPStrategy, MFMSStrategy, MultiScaleStrategy, HyperbandStrategy,
    DataMixingLawStrategy, BiMixStrategy, ScalingLawStrategy, RegMixStrategy, SobolSearch, Natural, Temperature,
    UniMax, DoReMi, OnlineMixing)}


def strategy_class(name: str) -> type[Strategy]:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(f"unknown strategy {name!r}; choose from {sorted(STRATEGIES)}") from None


def make_strategy(name: str, problem: Problem, seed: int, options: Mapping[str, Any] | None = None,
                  space: MixtureSpace | None = None, constraints: Constraints | None = None,
                  reference: np.ndarray | None = None) -> Strategy:
    """``space``: which mixtures may run at each fidelity (a back end; ``None``: any mixture);
    ``constraints``: bounds, repetition caps, the outcome constraint (``None``: none);
    ``reference``: the `d` mixture recommendations are compared with (and may be)."""
    return strategy_class(name)(problem, seed=seed, space=space, constraints=constraints, reference=reference,
                                **dict(options or {}))


def strategy_from_settings(settings: StrategySettings, problem: Problem, seed: int,
                           space: MixtureSpace | None = None, reference: np.ndarray | None = None,
                           constraints: Constraints | None = None) -> Strategy:
    """The strategy a config names, restricted to what ``space`` can run and to ``constraints``;
    ``reference``: the `d` mixture recommendations are compared with (and may be)."""
    return make_strategy(settings.name, problem, seed, settings.options, space, constraints, reference)
