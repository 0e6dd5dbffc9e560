"""Reading and checking a mixopt configuration.

The JSON schema (``schemas/config.schema.yaml``) says what each key may hold; the checks here
add what a schema cannot say (weights sum to one, names refer to each other, corpus files
exist). Every problem raises one :class:`ConfigError` that names the key and the bad value,
before any job runs.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any, Mapping

import jsonschema
import yaml

from mixopt.simplex import SUM_TOLERANCE

SCHEMA_PATH = Path(__file__).with_name("config.schema.yaml")


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the key."""


def load_config(path: str | Path, base_dir: str | Path | None = None) -> dict:
    """Read a YAML config, fill in defaults and check it.

    Args:
        path: the config file.
        base_dir: where relative corpus paths start; defaults to the config file's folder.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    with path.open() as f:
        raw = yaml.safe_load(f)
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} does not hold a mapping of keys")
    config = with_defaults(raw)
    check_config(config, base_dir=Path(base_dir) if base_dir else path.parent)
    return config


def _schema() -> dict:
    with SCHEMA_PATH.open() as f:
        return yaml.safe_load(f)


def _key(path: Any) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _schema_message(error: jsonschema.ValidationError) -> str:
    key = _key(error.absolute_path)
    if error.validator == "additionalProperties":
        return f"config key '{key}': {error.message}"
    if error.validator == "required":
        return f"config key '{key}': {error.message}"
    if error.validator == "oneOf" and isinstance(error.instance, dict):
        return f"config key '{key}': give exactly one of 'builtin' or 'paths', got {sorted(error.instance)}"
    return f"config key '{key}': bad value {error.instance!r}: {error.message}"


def with_defaults(config: Mapping) -> dict:
    """Return a copy of ``config`` with the schema's defaults filled in, checked against the schema."""
    config = copy.deepcopy(dict(config))
    base = jsonschema.Draft202012Validator
    set_props = base.VALIDATORS["properties"]

    def fill(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from set_props(validator, properties, instance, schema)

    validator_cls = jsonschema.validators.extend(base, {"properties": fill})
    error = jsonschema.exceptions.best_match(validator_cls(_schema()).iter_errors(config))
    if error is not None:
        raise ConfigError(_schema_message(error))
    return config


def _check_weights(weights: Mapping[str, float], domains: list[str], key: str, complete: bool) -> None:
    unknown = sorted(set(weights) - set(domains))
    if unknown:
        raise ConfigError(f"config key '{key}': unknown domain(s) {unknown}; domains are {domains}")
    if complete and set(weights) != set(domains):
        raise ConfigError(f"config key '{key}': missing weight(s) for {sorted(set(domains) - set(weights))}")
    total = float(sum(weights.values()))
    if not math.isclose(total, 1.0, abs_tol=SUM_TOLERANCE):
        raise ConfigError(f"config key '{key}': weights must sum to 1, they sum to {total:.6g} ({dict(weights)})")


def _check_domains(config: dict, base_dir: Path) -> None:
    from mixopt.corpora.builtin import BUILTIN_DOMAINS, missing_sources
    from mixopt.data.documents import resolve_paths
    from mixopt.data.errors import DataError

    sources = base_dir / config["corpora"]["sources"]
    for name, spec in config["domains"].items():
        if "builtin" in spec:
            builtin = spec["builtin"]
            if builtin not in BUILTIN_DOMAINS:
                raise ConfigError(
                    f"config key 'domains.{name}.builtin': unknown built-in domain {builtin!r}; "
                    f"choose from {sorted(BUILTIN_DOMAINS)}"
                )
            missing = missing_sources(builtin, sources)
            if missing:
                raise ConfigError(
                    f"config key 'domains.{name}.builtin': sources of {builtin!r} not found "
                    f"({', '.join(map(str, missing))}); run the README set-up (mixopt-fetch-corpora --dest {sources})"
                )
        else:
            try:
                resolve_paths(spec["paths"], base_dir)
            except DataError as e:
                raise ConfigError(f"config key 'domains.{name}.paths': {e}") from None


def check_config(config: dict, base_dir: str | Path = ".") -> None:
    """Check a config that already has its defaults (see :func:`with_defaults`).

    Raises:
        ConfigError: naming the first bad key and its value.
    """
    with_defaults(config)  # schema errors first, with the key named
    base_dir = Path(base_dir)
    if config.get("backend", {}).get("name", "train") == "table":
        mixture_domains, eval_domains, scales = _check_table_backend(config, base_dir)
    else:
        mixture_domains = eval_domains = _check_train_backend(config, base_dir)
        scales = list(config["scales"])

    objective = config["objective"]
    if objective["type"] == "weighted":
        if "weights" not in objective:
            raise ConfigError("config key 'objective.weights': required when objective.type is 'weighted'")
        _check_weights(objective["weights"], list(eval_domains), "objective.weights", complete=False)
    elif "weights" in objective:
        raise ConfigError("config key 'objective.weights': only used with objective.type 'weighted'")

    from mixopt.strategies.registry import check_strategy_options

    strategies = {"strategy": config["strategy"]}
    strategies |= {f"bench.strategies.{k}": v for k, v in config.get("bench", {}).get("strategies", {}).items()}
    for key, strategy in strategies.items():
        options = strategy.get("options", {})
        try:
            check_strategy_options(strategy["name"], options, list(mixture_domains))
        except ValueError as e:
            raise ConfigError(f"config key '{key}.options': {e}") from None
        if options.get("scale") is not None and options["scale"] not in scales:
            raise ConfigError(f"config key '{key}.options.scale': {options['scale']!r} is not a scale; "
                              f"scales are {scales}")
        unknown = [s for s in options.get("scales") or [] if s not in scales]
        if unknown:
            raise ConfigError(f"config key '{key}.options.scales': {unknown} not among the scales {scales}")


def _check_train_backend(config: dict, base_dir: Path) -> list[str]:
    """Checks of real proxy training; returns the domains."""
    for key in ("domains", "scales"):
        if key not in config:
            raise ConfigError(f"config key '{key}': required with the train back end")
    if "tokens" not in config["target"]:
        raise ConfigError("config key 'target.tokens': required with the train back end")
    scales = config["scales"]
    for name, shape in scales.items():
        if shape["width"] % shape["heads"]:
            raise ConfigError(
                f"config key 'scales.{name}.heads': {shape['heads']} heads do not divide width {shape['width']}"
            )
    target = config["target"]
    if target["scale"] not in scales:
        raise ConfigError(f"config key 'target.scale': {target['scale']!r} is not in scales {sorted(scales)}")
    shape = scales[target["scale"]]
    if target["tokens"] < shape["batch"] * shape["context"]:
        raise ConfigError(
            f"config key 'target.tokens': {target['tokens']} is less than one step of scale "
            f"{target['scale']!r} ({shape['batch']} x {shape['context']} tokens)"
        )
    tokenizer = config["tokenizer"]
    if "path" in tokenizer and not (base_dir / tokenizer["path"]).is_dir():
        raise ConfigError(f"config key 'tokenizer.path': {tokenizer['path']!r} is not a directory")
    _check_domains(config, base_dir)
    return list(config["domains"])


def _check_table_backend(config: dict, base_dir: Path) -> tuple[tuple, tuple, list[str]]:
    """Checks of the recorded-runs back end; returns mixture domains, evaluation domains, scales."""
    from mixopt.tables.backend import target_fidelity
    from mixopt.tables.loaders import load_table
    from mixopt.tables.runtable import RunTableError

    for key in ("domains", "scales"):
        if key in config:
            raise ConfigError(f"config key '{key}': not used with the table back end (the run table defines them)")
    backend = config["backend"]
    if "table" not in backend:
        raise ConfigError("config key 'backend.table': required when backend.name is 'table'")
    try:
        table = load_table(backend["table"], base_dir)
    except RunTableError as e:
        raise ConfigError(f"config key 'backend.table': {e}") from None
    try:
        target_fidelity(table, config["target"])
    except ValueError as e:
        raise ConfigError(f"config key 'target': {e}") from None
    return table.mixture_domains, table.eval_domains, table.scales()


def objective_weights(config: Mapping, domains: tuple[str, ...] | list[str]) -> dict[str, float]:
    """Evaluation domain -> weight of the objective (mean: equal weights); 0 for unnamed domains."""
    domains = list(domains)
    objective = config.get("objective", {})
    if objective.get("type", "mean") == "mean":
        return {d: 1.0 / len(domains) for d in domains}
    return {d: float(objective["weights"].get(d, 0.0)) for d in domains}


def target_steps(config: Mapping) -> int:
    """Optimiser steps of a run at the target: target tokens over tokens per step."""
    shape = config["scales"][config["target"]["scale"]]
    return int(config["target"]["tokens"]) // (shape["batch"] * shape["context"])


def target_tokens(config: Mapping) -> int:
    """Training tokens of a run at the target (table back end: as recorded at that checkpoint)."""
    if config.get("backend", {}).get("name") == "table":
        from mixopt.problem import Problem
        from mixopt.tables.backend import table_for_config

        target = Problem.from_config(config).target
        return int(table_for_config(config).tokens(target.scale, target.steps))
    return int(config["target"]["tokens"])
