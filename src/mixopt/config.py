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
    domains = list(config["domains"])

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

    objective = config["objective"]
    if objective["type"] == "weighted":
        if "weights" not in objective:
            raise ConfigError("config key 'objective.weights': required when objective.type is 'weighted'")
        _check_weights(objective["weights"], domains, "objective.weights", complete=False)
    elif "weights" in objective:
        raise ConfigError("config key 'objective.weights': only used with objective.type 'weighted'")

    from mixopt.strategies.registry import check_strategy_options

    strategy = config["strategy"]
    try:
        check_strategy_options(strategy["name"], strategy.get("options", {}), domains)
    except ValueError as e:
        raise ConfigError(f"config key 'strategy.options': {e}") from None

    tokenizer = config["tokenizer"]
    if "path" in tokenizer and not (base_dir / tokenizer["path"]).is_dir():
        raise ConfigError(f"config key 'tokenizer.path': {tokenizer['path']!r} is not a directory")

    _check_domains(config, base_dir)


def objective_weights(config: Mapping) -> dict[str, float]:
    """Domain -> weight of the objective (mean: equal weights); weight 0 for unnamed domains."""
    domains = list(config["domains"])
    objective = config.get("objective", {})
    if objective.get("type", "mean") == "mean":
        return {d: 1.0 / len(domains) for d in domains}
    return {d: float(objective["weights"].get(d, 0.0)) for d in domains}


def target_steps(config: Mapping) -> int:
    """Optimiser steps of a run at the target: target tokens over tokens per step."""
    shape = config["scales"][config["target"]["scale"]]
    return int(config["target"]["tokens"]) // (shape["batch"] * shape["context"])
