"""One source of truth for the names of strategies and back ends: each class's ``name``.

The registries (``STRATEGIES``, ``BACKENDS``) are built from the classes, and the schema's enums
must list exactly their names: a class left out of its registry, or an enum that disagrees, fails
here.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
import yaml

import mixopt.backends
import mixopt.strategies
from conftest import REPO
from mixopt.backends import BACKENDS
from mixopt.core.constraints import Constraints
from mixopt.core.problem import Fidelity, Problem
from mixopt.strategies import STRATEGIES, Strategy
from mixopt.strategies.base import SettingRefused

SCHEMA = yaml.safe_load((REPO / "schemas" / "config.schema.yaml").read_text())


def _classes(package) -> set[type]:
    """Every class defined in a module of ``package``."""
    found = set()
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        found |= {c for _, c in inspect.getmembers(module, inspect.isclass) if c.__module__ == module.__name__}
    return found


def test_every_strategy_class_is_registered_under_its_name():
    """A strategy is a class with a ``name`` of its own (a base such as LawStrategy has none)."""
    named = {c for c in _classes(mixopt.strategies)
             if issubclass(c, Strategy) and not inspect.isabstract(c) and hasattr(c, "name")}
    assert all("name" in vars(c) for c in named), "a strategy sets its own name, not its parent's"
    assert named == set(STRATEGIES.values()), "add the class to STRATEGIES in strategies/registry.py"
    assert all(name == cls.name for name, cls in STRATEGIES.items())


def test_the_schema_lists_the_registered_strategies():
    assert sorted(SCHEMA["$defs"]["strategy_name"]["enum"]) == sorted(STRATEGIES)


def test_every_back_end_class_is_registered_under_its_name():
    backends = {c for c in _classes(mixopt.backends)
                if all(hasattr(c, a) for a in ("from_settings", "run", "mixtures_at", "preflight"))}
    assert backends == set(BACKENDS.values()), "add the class to BACKENDS in backends/__init__.py"
    assert all(name == cls.name for name, cls in BACKENDS.items())


def test_the_schema_lists_the_registered_back_ends():
    assert sorted(SCHEMA["properties"]["backend"]["properties"]["name"]["enum"]) == sorted(BACKENDS)


PROBLEM = Problem(domains=("a", "b"), objective_weights=[0.5, 0.5], target=Fidelity("big", 100),
                  full_steps={"small": 100, "big": 100}, step_flops={"small": 1.0, "big": 10.0})


@pytest.mark.parametrize(("name", "options", "key"), [
    ("gp", {"scale": "huge"}, "options.scale"),
    ("mfms", {"scales": ["small", "huge"]}, "options.scales"),
    ("auto", {"proxy": "huge"}, "options.proxy"),
])
def test_a_strategy_checks_its_own_scale_options(name, options, key):
    with pytest.raises(SettingRefused) as info:
        STRATEGIES[name].check_options(options, PROBLEM)
    assert info.value.key == key and "huge" in info.value.reason


def test_a_strategy_checks_what_it_needs_of_the_problem():
    constraints = Constraints(PROBLEM, no_worse_than_reference=(0.0, 0.9))
    STRATEGIES["gp"].check_problem(PROBLEM, constraints)
    with pytest.raises(SettingRefused) as info:
        STRATEGIES["random"].check_problem(PROBLEM, constraints)
    assert info.value.key == "constraints.no_worse_than_reference"
    with pytest.raises(SettingRefused, match="no_worse_than_reference"):  # the same check at construction
        STRATEGIES["random"](PROBLEM, constraints=constraints)


def test_the_reference_is_given_at_construction():
    strategy = STRATEGIES["gp"](PROBLEM, reference=[0.25, 0.75])
    assert strategy.reference.tolist() == [0.25, 0.75]
    assert STRATEGIES["auto"](PROBLEM, reference=[0.5, 0.5]).reference.tolist() == [0.5, 0.5]
