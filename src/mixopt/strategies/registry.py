"""Strategy names -> classes."""

from __future__ import annotations

from typing import Any, Mapping

from mixopt.problem import Problem
from mixopt.strategies.base import Strategy
from mixopt.strategies.fixed import Fixed
from mixopt.strategies.gp import GPStrategy
from mixopt.strategies.random import RandomSearch
from mixopt.strategies.uniform import Uniform

STRATEGIES: dict[str, type[Strategy]] = {cls.name: cls for cls in (RandomSearch, Uniform, Fixed, GPStrategy)}


def strategy_class(name: str) -> type[Strategy]:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(f"unknown strategy {name!r}; choose from {sorted(STRATEGIES)}") from None


def check_strategy_options(name: str, options: Mapping[str, Any], domains: list[str] | tuple[str, ...]) -> None:
    strategy_class(name).check_options(dict(options), tuple(domains))


def make_strategy(name: str, problem: Problem, seed: int, options: Mapping[str, Any] | None = None) -> Strategy:
    return strategy_class(name)(problem, seed=seed, **dict(options or {}))
