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
from mixopt.core.errors import ConfigError
from mixopt.settings import Settings, check_weights, read_yaml, with_defaults
from mixopt.strategies.registry import check_strategy_options

__all__ = ["ConfigError", "check_config", "check_settings", "load_config", "load_settings", "with_defaults"]


def check_settings(settings: Settings, base_dir: str | Path = ".") -> Backend:
    """Check what needs files, tables and strategies; returns the back end the settings name.

    Raises:
        ConfigError: naming the first bad key and its value.
    """
    base_dir = Path(base_dir)
    backend = make_backend(settings, base_dir)
    backend.preflight(base_dir)
    problem = backend.problem
    scales = list(problem.full_steps)
    if isinstance(settings.reference, dict):
        check_weights(settings.reference, problem.domains, "reference", complete=False)
    elif settings.reference == "natural" and settings.backend.name != "train":
        raise ConfigError("config key 'reference': 'natural' is the domains' share of the tokenized training "
                          "data, which only the train back end has; give the weights as {domain: weight}")
    strategies = {"strategy": settings.strategy} | {f"bench.strategies.{k}": v
                                                     for k, v in settings.bench.strategies.items()}
    for key, strategy in strategies.items():
        options = strategy.options
        try:
            check_strategy_options(strategy.name, options, list(problem.domains))
        except ValueError as e:
            raise ConfigError(f"config key '{key}.options': {e}") from None
        if options.get("scale") is not None and options["scale"] not in scales:
            raise ConfigError(f"config key '{key}.options.scale': {options['scale']!r} is not a scale; "
                              f"scales are {scales}")
        unknown = [s for s in options.get("scales") or [] if s not in scales]
        if unknown:
            raise ConfigError(f"config key '{key}.options.scales': {unknown} not among the scales {scales}")
    return backend


def check_config(config: Mapping[str, Any], base_dir: str | Path = ".") -> Settings:
    """Check a config that :func:`with_defaults` has filled; returns its settings."""
    settings = Settings.from_config(config)
    check_settings(settings, base_dir)
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


def load_settings(path: str | Path, base_dir: str | Path | None = None) -> Settings:
    """Read, fill and check a YAML config; returns its settings."""
    config = with_defaults(read_yaml(path))
    return check_config(config, base_dir=Path(base_dir) if base_dir else Path(path).parent)
