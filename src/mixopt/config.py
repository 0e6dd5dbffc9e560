"""Reading and checking a whole mixopt configuration, before any job runs.

:mod:`mixopt.settings` checks what the schema and the config alone can say; the checks here add
what needs the rest of mixopt: the back end's inputs exist (corpus files, built-in sources, the
run table and its target checkpoint) and every strategy accepts its options and scales. Every
problem raises one :class:`ConfigError` that names the key and the bad value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from mixopt.backends import Backend, make_backend
from mixopt.backends.constraints import constraints_of
from mixopt.core.constraints import Constraints, InfeasibleBox, MixtureBox
from mixopt.core.errors import ConfigError
from mixopt.core.token_heuristics import HEURISTICS
from mixopt.core.problem import Problem
from mixopt.settings import Settings, StrategySettings, check_weights, read_yaml, with_defaults
from mixopt.strategies.base import SettingRefused
from mixopt.strategies.registry import strategy_class
from mixopt.tables.prior_runs import prior_metrics

__all__ = ["ConfigError", "check_config", "check_settings", "load_config", "load_settings",
           "with_defaults"]

def check_settings(settings: Settings, base_dir: str | Path = ".", deep: bool = False) -> Backend:
    """Check what needs files, tables and strategies; returns the back end the settings name.
    ``deep``: read every corpus file to its end (``mixopt check --deep``), not a sample of each.

    Raises:
        ConfigError: naming the first bad key and its value.
    """
    base_dir = Path(base_dir)
    backend = make_backend(settings, base_dir)
    backend.preflight(base_dir, deep=deep)
    problem = backend.problem
    unknown = sorted(set(settings.constraints.bounds) - set(problem.domains))
    if unknown:
        raise ConfigError(f"config key 'constraints.bounds': unknown domain(s) {unknown}; domains are "
                          f"{list(problem.domains)}")
    try:
        MixtureBox.of(problem.domains, bounds=settings.constraints.bounds)
    except InfeasibleBox as e:
        raise ConfigError(f"config key 'constraints.bounds': {e}") from None
    unknown = sorted(set(settings.domains) - set(problem.domains))
    if unknown:
        raise ConfigError(f"config key 'domains': unknown domain(s) {unknown}; the run table's are {list(problem.domains)}")
    constraints = constraints_of(settings, problem)  # the caps the config's token counts set, at the target
    if settings.prior_runs:  # read once here: a bad table stops the workflow before any job, not in aggregate
        prior_metrics(base_dir / settings.prior_runs, problem)
    _check_pool_meets_bounds(settings, backend, constraints.box(problem.target))
    _check_objective(settings, problem)
    if isinstance(settings.reference, dict):
        check_weights(settings.reference, problem.domains, "reference", complete=False)
    elif settings.reference in HEURISTICS:
        _check_token_counts("reference", settings.reference, settings, problem)
    strategies = {"strategy": settings.strategy} | {f"bench.strategies.{k}": v
                                                     for k, v in settings.bench.strategies.items()}
    for key, strategy in strategies.items():
        _check_strategy(key, strategy, settings, problem, constraints)
    return backend


def _check_strategy(key: str, strategy: StrategySettings, settings: Settings, problem: Problem,
                    constraints: Constraints) -> None:
    """The strategy's own checks of its options (and, for the loop's ``strategy``, of the problem
    and constraints it serves), and what it needs of the back end."""
    cls = strategy_class(strategy.name)
    if key == "strategy":  # the bench leaves out a strategy that cannot serve its problem
        try:
            cls.check_problem(problem, constraints)
        except SettingRefused as e:
            raise ConfigError(f"config key '{e.key}': {e.reason}") from None
    try:
        cls.check_options(strategy.options, problem)
    except SettingRefused as e:
        raise ConfigError(f"config key '{key}.{e.key}': {e.reason}") from None
    except ValueError as e:
        raise ConfigError(f"config key '{key}.options': {e}") from None
    if cls.weights_during_run and settings.backend.name != "train":
        raise ConfigError(f"config key '{key}.name': {strategy.name!r} changes the mixture while a model "
                          f"trains, which only the train back end can do (backend.name: {settings.backend.name})")
    if cls.needs_token_counts:
        _check_token_counts(f"{key}.name", strategy.name, settings, problem)


def _check_pool_meets_bounds(settings: Settings, backend: Backend, box: MixtureBox) -> None:
    """A pool back end runs only the mixtures it recorded: one at the target must be inside ``box``
    (the bounds and repetition caps there), or no strategy has an answer."""
    pool = backend.mixtures_at(backend.problem.target)
    if pool is not None and not box.contains(pool).any():
        raise ConfigError(f"config key 'constraints.bounds': none of the {len(pool)} mixtures the pool records at "
                          f"the target {backend.problem.target.scale} keeps to {settings.constraints.bounds} (and "
                          "the repetition caps); widen the bounds")


def _check_token_counts(key: str, heuristic: str, settings: Settings, problem: Problem) -> None:
    """A token heuristic needs every domain's training tokens: the train back end counts them
    (the tokenize rule's meta.json); any other back end needs ``domains.<d>.tokens``."""
    if settings.backend.name == "train":
        return
    missing = [d for d in problem.domains if d not in settings.domains or not settings.domains[d].tokens]
    if missing:
        raise ConfigError(f"config key '{key}': {heuristic!r} is computed from each domain's share of the training "
                          f"tokens; give domains.<d>.tokens for {missing}, or the weights as {{domain: weight}}")


def _check_objective(settings: Settings, problem: Problem) -> None:
    """worst_excess: its reference is known before any run and may itself run."""
    if problem.objective_kind != "worst_excess":
        return
    reference = settings.objective.reference
    if reference == "natural":
        raise ConfigError("config key 'objective.reference': worst_excess needs its reference before the data is "
                          "tokenized; give uniform or {domain: weight}")
    if isinstance(reference, dict):
        check_weights(reference, problem.domains, "objective.reference", complete=False)
    assert problem.objective_reference is not None
    broken = MixtureBox.of(problem.domains, bounds=settings.constraints.bounds).violations(problem.objective_reference)
    if broken:
        raise ConfigError(f"config key 'objective.reference': the reference breaks constraints.bounds: {broken}")


def check_config(config: Mapping[str, Any], base_dir: str | Path = ".", deep: bool = False) -> Settings:
    """Check a config that :func:`with_defaults` has filled; returns its settings."""
    settings = Settings.from_config(config)
    check_settings(settings, base_dir, deep=deep)
    return settings


def load_config(path: str | Path, base_dir: str | Path | None = None) -> dict:
    """Read a YAML config, fill in defaults and check it; returns the filled mapping.

    Args:
        path: the config file.
        base_dir: where relative corpus paths start; defaults to the config file's folder.
    """
    config = with_defaults(read_yaml(path))
    check_config(config, base_dir=Path(base_dir) if base_dir else Path(path).parent)
    return config


def load_settings(path: str | Path, base_dir: str | Path | None = None, deep: bool = False) -> Settings:
    """Read, fill and check a YAML config; returns its settings (``deep``: see :func:`check_settings`)."""
    config = with_defaults(read_yaml(path))
    return check_config(config, base_dir=Path(base_dir) if base_dir else Path(path).parent, deep=deep)
