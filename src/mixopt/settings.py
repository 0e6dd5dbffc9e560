"""Typed settings: the validated config.yaml as frozen dataclasses, read once.

``schemas/config.schema.yaml`` says what each key may hold and holds every default;
:func:`with_defaults` checks a raw mapping against it and fills the defaults in, and
:meth:`Settings.from_config` turns the result into the dataclasses below, checking what a schema
cannot say (weights sum to one, names refer to each other). Checks that need files, a run table
or a strategy's own options come later, in :mod:`mixopt.config`. Every problem raises one
:class:`ConfigError` naming the key and the bad value.

Nothing below this module sees the raw mapping: the library takes these settings.
"""

from __future__ import annotations

import copy
import functools
import math
from dataclasses import MISSING, asdict, dataclass, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Mapping

import jsonschema
import yaml

from mixopt.core.errors import ConfigError
from mixopt.core.simplex import SUM_TOLERANCE

SCHEMA_PATH = Path(__file__).with_name("config.schema.yaml")

__all__ = [
    "BackendSettings", "BenchSettings", "BudgetSettings", "ConfigError", "ConstraintSettings", "CorporaSettings",
    "DataSettings", "DomainSettings", "ModelShape", "ObjectiveSettings", "Settings", "StrategySettings", "SurrogateSettings",
    "TableSettings", "TargetSettings", "TokenizerSettings", "TrainingSettings", "check_weights", "read_yaml",
    "check_flag", "key_error", "SectionNotPassed", "ShapeError", "section_defaults", "with_defaults",
]


# -- the schema --------------------------------------------------------------------------------


def _schema() -> dict:
    with SCHEMA_PATH.open() as f:
        return yaml.safe_load(f)


def _key(path: Any) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _schema_message(error: jsonschema.ValidationError) -> str:
    key = _key(error.absolute_path)
    if error.validator in ("additionalProperties", "required"):
        return f"config key '{key}': {error.message}"
    if error.validator in ("oneOf", "not") and isinstance(error.instance, dict) and key.startswith("domains."):
        return f"config key '{key}': give exactly one of 'builtin' or 'paths', got {sorted(error.instance)}"
    hint = ""
    if isinstance(error.instance, str) and error.validator == "type":
        try:
            float(error.instance)
            hint = " (YAML reads 2.0e7 as text: write 2.0e+7 or 20000000)"
        except ValueError:
            pass
    return f"config key '{key}': bad value {error.instance!r}: {error.message}{hint}"


def with_defaults(config: Mapping) -> dict:
    """Return a copy of ``config`` checked against the schema, with the schema's defaults filled in.

    Raises:
        ConfigError: naming the first key the schema rejects.
    """
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


def key_error(value: Any, key: str, schema: Mapping | None = None,
              partial: bool = False) -> jsonschema.ValidationError | None:
    """The schema's first objection to ``value`` as the value of ``key`` (dotted, e.g.
    ``bench.seeds``), or ``None``; ``partial``: the value may lack required keys (a part that is
    merged with others later, as a suite's ``defaults.budget``)."""
    root = dict(schema if schema is not None else _schema())
    sub: Mapping = root
    for part in key.split("."):
        sub = sub["properties"][part]
    sub = {k: v for k, v in sub.items() if not (partial and k == "required")}
    validator = jsonschema.Draft202012Validator({**sub, "$defs": root.get("$defs", {})})
    return jsonschema.exceptions.best_match(validator.iter_errors(value))


def check_flag(flag: str, value: Any, key: str, schema: Mapping | None = None) -> None:
    """ConfigError unless ``value``, given by the command-line ``flag`` in place of the config key
    ``key``, passes the schema's check of that key: a flag goes through the same check as the key
    it overrides (``schema``: the schema holding ``key``; default: the config schema)."""
    error = key_error(value, key, schema)
    if error is not None:
        raise ConfigError(f"{flag} {value!r}: {error.message} (as for the key '{key}' it overrides)")


def section_defaults(section: str) -> dict:
    """The schema's defaults of one top-level section (e.g. ``training``), as a mapping."""
    return with_defaults({"target": {"scale": "-"}, "budget": {"iterations": 1}, "strategy": {"name": "random"}})[section]


def read_yaml(path: str | Path) -> dict:
    """A YAML config file as a mapping; a syntax error names the file, the line and the column."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        with path.open() as f:
            raw = yaml.safe_load(f)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(f"config file {path}{where}: not valid YAML ({problem})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} does not hold a mapping of keys")
    return raw


def check_weights(weights: Mapping[str, float], domains: list[str] | tuple[str, ...], key: str,
                  complete: bool) -> None:
    """ConfigError unless ``weights`` name only ``domains`` (all of them when ``complete``) and sum to 1."""
    domains = list(domains)
    unknown = sorted(set(weights) - set(domains))
    if unknown:
        raise ConfigError(f"config key '{key}': unknown domain(s) {unknown}; domains are {domains}")
    if complete and set(weights) != set(domains):
        raise ConfigError(f"config key '{key}': missing weight(s) for {sorted(set(domains) - set(weights))}")
    total = float(sum(weights.values()))
    if not math.isclose(total, 1.0, abs_tol=SUM_TOLERANCE):
        raise ConfigError(f"config key '{key}': weights must sum to 1, they sum to {total:.6g} ({dict(weights)})")


@functools.lru_cache(maxsize=None)
def _schema_section(key: str) -> dict:
    """The schema of the config section ``key`` (dotted; ``*``: an entry of a mapping of names)."""
    schema = _schema()
    node = schema
    for part in key.split("."):
        node = node["additionalProperties"] if part == "*" else node["properties"][part]
        if "$ref" in node:
            node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _section_values(cls: type, d: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of the dataclass ``cls`` from the validated mapping ``d`` of its schema section
    (``cls.schema_key``). The schema is the one declaration of the keys: a field it does not
    declare is an error, and so is a key missing from ``d`` that the schema requires or fills in
    (``d`` was not filled by :func:`with_defaults`); only an optional key without a default may be
    absent (``None``, or the field's own default).

    Raises:
        TypeError: a field the schema does not declare (a bug: declare it in the schema).
        ValueError: a key of ``d`` that is not a field, or a key missing from ``d``.
    """
    section = _schema_section(cls.schema_key)
    declared, names = set(section.get("properties", {})), [f.name for f in fields(cls)]
    undeclared = [n for n in names if n not in declared]
    if undeclared:
        raise TypeError(f"{cls.__name__}: field(s) {undeclared} are not keys of the schema's "
                        f"'{cls.schema_key}'; declare them in schemas/config.schema.yaml")
    unknown = sorted(set(d) - set(names))
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys {unknown}; expected a subset of {sorted(names)}")
    filled = set(section.get("required", [])) | {n for n, sub in section["properties"].items() if "default" in sub}
    missing = [n for n in names if n not in d and n in filled]
    if missing:
        raise ValueError(f"config key '{cls.schema_key}': {missing} missing (not filled in by with_defaults)")
    has_default = {f.name for f in fields(cls) if f.default is not MISSING}
    return {n: d[n] if n in d else None for n in names if n in d or n not in has_default}


class _Section:
    """``from_dict``: a section's fields from its validated mapping (:func:`_section_values`)."""

    #: the section's key in the schema (dotted; ``*``: an entry of a mapping of names)
    schema_key: ClassVar[str]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]):
        return cls(**_section_values(cls, d))  # type: ignore[call-arg]

    def replace(self, **changes: Any):
        return replace(self, **changes)  # type: ignore[type-var]


# -- sections ----------------------------------------------------------------------------------


class ShapeError(ValueError):
    """A model shape whose sizes do not fit together; ``key`` names the one to change."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"ModelShape.{key}: {reason}")
        self.key, self.reason = key, reason


@dataclass(frozen=True)
class ModelShape(_Section):
    """``scales.<name>``: the architecture and per-shape training hyper-parameters of one proxy.

    Attributes:
        layers: decoder blocks.
        width: hidden size ``d_model``; divisible by ``heads``.
        heads: attention heads (full multi-head attention, no grouped KV heads).
        context: sequence length trained on; also ``max_position_embeddings``.
        batch: sequences per optimiser step.
        lr: peak learning rate of the schedule.
        ffn_width: inner width of the SwiGLU MLP; ``None`` means ``4 * width``.
        gpus: processes (one GPU each) that train a run of this shape together, as one job;
            ``batch`` is the global batch, split evenly among them.

    The schema checks each value (``$defs.scale``); :meth:`__post_init__` checks what it cannot
    say, that the sizes fit together (:class:`ShapeError` names the key to change).
    """

    schema_key = "scales.*"

    layers: int
    width: int
    heads: int
    context: int
    batch: int
    lr: float
    ffn_width: int | None = None
    gpus: int = 1

    def __post_init__(self) -> None:
        if self.width % self.heads:
            raise ShapeError("heads", f"{self.heads} heads do not divide width {self.width}")
        if self.batch % self.gpus:
            raise ShapeError("gpus", f"{self.gpus} processes cannot share a global batch of {self.batch} rows evenly")

    @property
    def ffn(self) -> int:
        """The MLP inner width actually used."""
        return self.ffn_width if self.ffn_width is not None else 4 * self.width

    @property
    def tokens_per_step(self) -> int:
        return self.batch * self.context

    def to_dict(self) -> dict[str, Any]:
        """Plain dict that round-trips through :meth:`from_dict`."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class DomainSettings(_Section):
    """``domains.<name>``: a built-in corpus or the user's files (globs, relative to the workflow),
    and the training tokens it has (``tokens``: for the repetition cap; ``None``: counted by the
    tokenize rule, or no cap on a table)."""

    schema_key = "domains.*"

    builtin: str | None
    paths: tuple[str, ...] | None
    text_field: str
    tokens: float | None
    errors: str
    max_replaced_fraction: float
    max_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.paths is not None:
            object.__setattr__(self, "paths", tuple(self.paths))


@dataclass(frozen=True)
class CorporaSettings(_Section):
    schema_key = "corpora"

    sources: str
    max_bytes: int


@dataclass(frozen=True)
class TokenizerSettings(_Section):
    schema_key = "tokenizer"

    path: str | None
    vocab_size: int
    train_bytes_per_domain: int


@dataclass(frozen=True)
class DataSettings(_Section):
    schema_key = "data"

    validation_fraction: float
    num_proc: int


@dataclass(frozen=True)
class TargetSettings(_Section):
    """The scale and token budget whose objective is minimised (``tokens``: optional with a table)."""

    schema_key = "target"

    scale: str
    tokens: int | None


@dataclass(frozen=True)
class TrainingSettings(_Section):
    """``training``: how every proxy run is trained and evaluated (see the schema for each key)."""

    schema_key = "training"

    checkpoints: int
    eval_tokens: int
    warmup_fraction: float
    min_lr_fraction: float
    weight_decay: float
    grad_clip: float
    threads: int
    device: str
    precision: str
    compile: bool
    resume_every: int


@dataclass(frozen=True)
class ObjectiveSettings(_Section):
    """``objective``: the mean of the evaluation losses, a weighted sum of some of them, the worst
    (weighted) domain loss, or the worst excess over the reference mixture's loss.

    ``reference`` (``worst_excess`` only): ``uniform`` or domain -> weight; ``None``: the
    top-level ``reference``.
    """

    schema_key = "objective"

    type: str
    weights: dict[str, float] | None
    reference: str | dict[str, float] | None

    def __post_init__(self) -> None:
        if self.type == "weighted" and self.weights is None:
            raise ConfigError("config key 'objective.weights': required when objective.type is 'weighted'")
        if self.type == "mean" and self.weights is not None:
            raise ConfigError("config key 'objective.weights': not used with objective.type 'mean'")
        if self.type != "worst_excess" and self.reference is not None:
            raise ConfigError("config key 'objective.reference': only used with objective.type 'worst_excess'")

    @property
    def kind(self) -> str:
        """The :class:`~mixopt.core.problem.Problem` objective kind."""
        return "linear" if self.type in ("mean", "weighted") else self.type

    def reference_for(self, domains: tuple[str, ...] | list[str]) -> list[float] | None:
        """The worst_excess reference as weights of ``domains`` (``None`` for another objective)."""
        if self.type != "worst_excess":
            return None
        if isinstance(self.reference, dict):
            return [float(self.reference.get(d, 0.0)) for d in domains]
        return [1.0 / len(domains)] * len(domains)  # uniform ('natural' is refused by the config check)

    def weights_for(self, domains: tuple[str, ...] | list[str]) -> dict[str, float]:
        """Evaluation domain -> weight of the objective; 0 for unnamed domains. Without weights:
        equal weights for the mean, and 1 each for the worst (excess) loss, so it reads as a loss."""
        domains = list(domains)
        if self.weights is None:
            each = 1.0 / len(domains) if self.type == "mean" else 1.0
            return {d: each for d in domains}
        return {d: float(self.weights.get(d, 0.0)) for d in domains}

    def check_domains(self, domains: tuple[str, ...] | list[str]) -> None:
        """ConfigError when the weights name a domain not among ``domains`` or do not sum to 1."""
        if self.weights is not None:
            check_weights(self.weights, domains, "objective.weights", complete=False)


@dataclass(frozen=True)
class StrategySettings(_Section):
    """A strategy by name with its own options (checked by the strategy, :mod:`mixopt.strategies`)."""

    schema_key = "strategy"

    name: str
    options: dict[str, Any]

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", dict(self.options or {}))


@dataclass(frozen=True)
class BudgetSettings(_Section):
    schema_key = "budget"

    iterations: int
    initial_design: int
    trials_per_iteration: int
    max_failures: int | None

    @property
    def failure_limit(self) -> int:
        """How many trials one error may fail before the loop stops (``max_failures`` or its default)."""
        return self.max_failures if self.max_failures is not None else max(2, self.trials_per_iteration)

    def trials(self, iteration: int) -> int:
        """Trials of ``iteration``: the initial design, then ``trials_per_iteration``."""
        return self.initial_design if iteration == 0 else self.trials_per_iteration


@dataclass(frozen=True)
class TableSettings(_Section):
    """``backend.table``: which run table (``format``) and where (relative paths start at the
    workflow directory)."""

    schema_key = "backend.table"

    format: str
    path: str | None
    setting: str
    name: str
    metrics: tuple[str, ...] | None

    def __post_init__(self) -> None:
        if self.metrics is not None:
            object.__setattr__(self, "metrics", tuple(self.metrics))


@dataclass(frozen=True)
class SurrogateSettings(_Section):
    schema_key = "backend.surrogate"

    extrapolate: bool
    seed: int


@dataclass(frozen=True)
class BackendSettings:
    """``backend``: where trial results come from (``train`` or a recorded ``table``)."""

    schema_key = "backend"

    name: str
    mode: str
    table: TableSettings | None
    surrogate: SurrogateSettings

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "BackendSettings":
        values = _section_values(cls, d)
        table = values["table"]
        if values["name"] == "table" and table is None:
            raise ConfigError("config key 'backend.table': required when backend.name is 'table'")
        return cls(**values | {"table": None if table is None else TableSettings.from_dict(table),
                               "surrogate": SurrogateSettings.from_dict(values["surrogate"])})


@dataclass(frozen=True)
class ConstraintSettings(_Section):
    """``constraints``: the repetition cap per domain, the user's bounds (domain -> (lo, hi)) and
    the outcome constraint ``no_worse_than_reference`` (its ``tolerance`` and ``probability``)."""

    schema_key = "constraints"

    max_repetition: float
    bounds: dict[str, tuple[float, float]]
    no_worse_than_reference: dict[str, float] | None

    def __post_init__(self) -> None:
        bounds = {d: (float(b[0]), float(b[1])) for d, b in (self.bounds or {}).items()}
        for domain, (lo, hi) in bounds.items():
            if lo > hi:
                raise ConfigError(f"config key 'constraints.bounds.{domain}': lower bound {lo:g} above upper {hi:g}")
        object.__setattr__(self, "bounds", bounds)


@dataclass(frozen=True)
class BenchSettings(_Section):
    """``bench``: strategies x seeds on the table back end (``mixopt bench``, ``snakemake bench``)."""

    schema_key = "bench"

    strategies: dict[str, StrategySettings]
    seeds: int
    max_iterations: int
    budget_flops: float | None
    epsilon: float
    jobs: int

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "BenchSettings":
        values = _section_values(cls, d)
        return cls(**values | {"strategies": {label: StrategySettings.from_dict(s)
                                              for label, s in values["strategies"].items()}})


# -- the whole config --------------------------------------------------------------------------


class SectionNotPassed(AttributeError):
    """A script read a settings section its Snakemake rule does not pass (:meth:`Settings.sections`)."""


class _NotPassed:
    """The value of a section a rule does not pass (:meth:`Settings.from_sections`): reading it raises."""

    def __repr__(self) -> str:
        return "<not passed>"

    def __reduce__(self) -> str:
        return "_NOT_PASSED"  # one object, also after pickling (the bench's workers)


_NOT_PASSED = _NotPassed()


def _plain(value: Any) -> Any:
    """A section as plain data: dicts, tuples, lists, numbers, text and ``None``."""
    if is_dataclass(value):
        return asdict(value)  # type: ignore[arg-type]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return copy.deepcopy(value)


def _typed(section: str, data: Any) -> Any:
    """A section of :meth:`Settings.sections` typed again."""
    if section in _SECTION_TYPES:
        return _SECTION_TYPES[section].from_dict(data)
    if section in _MAPPING_TYPES:
        return {name: _MAPPING_TYPES[section].from_dict(d) for name, d in data.items()}
    return copy.deepcopy(data)  # seed, reference, prior_runs


@dataclass(frozen=True)
class Settings:
    """Every section of a validated config. ``domains`` and ``scales`` are empty with a table back
    end (the run table defines them).

    A Snakemake rule passes its script only the sections it reads, as plain data
    (:meth:`sections`, which Snakemake fingerprints: a changed section reruns the rule); the script
    types them again with :meth:`from_sections`, and reading a section the rule did not pass
    raises :class:`SectionNotPassed`.
    """

    seed: int
    domains: dict[str, DomainSettings]
    corpora: CorporaSettings
    tokenizer: TokenizerSettings
    data: DataSettings
    scales: dict[str, ModelShape]
    target: TargetSettings
    training: TrainingSettings
    objective: ObjectiveSettings
    strategy: StrategySettings
    budget: BudgetSettings
    backend: BackendSettings
    bench: BenchSettings
    #: ``uniform``, ``natural`` or domain -> weight: what best_mixture.yaml compares with
    reference: str | dict[str, float]
    constraints: ConstraintSettings
    #: a long-format run table of earlier runs to start from (``None``: a cold start)
    prior_runs: str | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "Settings":
        """Settings of a config that :func:`with_defaults` has checked and filled.

        Raises:
            ConfigError: a value the schema cannot judge (names the key).
        """
        backend = BackendSettings.from_dict(config["backend"])
        if backend.name == "table":
            if "scales" in config:
                raise ConfigError("config key 'scales': not used with the table back end (the run table defines them)")
            for name, domain in config.get("domains", {}).items():
                # the keys with_defaults fills in from the schema are there whatever the user wrote
                if set(domain) - {"tokens", "text_field", "errors", "max_replaced_fraction"}:
                    raise ConfigError(f"config key 'domains.{name}': only 'tokens' is used with the table back "
                                      "end (the run table defines the domains)")
        else:
            for key in ("domains", "scales"):
                if key not in config:
                    raise ConfigError(f"config key '{key}': required with the train back end")
            if len(config["domains"]) < 2:
                raise ConfigError(f"config key 'domains': a mixture needs at least 2 domains, has {list(config['domains'])}")
            for name, domain in config["domains"].items():
                if "builtin" not in domain and "paths" not in domain:
                    raise ConfigError(f"config key 'domains.{name}': needs 'builtin' or 'paths'")
            if "tokens" not in config["target"]:
                raise ConfigError("config key 'target.tokens': required with the train back end")
        scales = {}
        for name, shape in config.get("scales", {}).items():
            try:
                scales[name] = ModelShape.from_dict(shape)
            except ShapeError as e:
                raise ConfigError(f"config key 'scales.{name}.{e.key}': {e.reason}") from None
        settings = cls(
            seed=config["seed"],
            domains={name: DomainSettings.from_dict(d) for name, d in config.get("domains", {}).items()},
            corpora=CorporaSettings.from_dict(config["corpora"]),
            tokenizer=TokenizerSettings.from_dict(config["tokenizer"]),
            data=DataSettings.from_dict(config["data"]),
            scales=scales,
            target=TargetSettings.from_dict(config["target"]),
            training=TrainingSettings.from_dict(config["training"]),
            objective=ObjectiveSettings.from_dict(
                config["objective"] | ({"reference": config["objective"].get("reference", config["reference"])}
                                       if config["objective"]["type"] == "worst_excess" else {})),
            strategy=StrategySettings.from_dict(config["strategy"]),
            budget=BudgetSettings.from_dict(config["budget"]),
            backend=backend,
            bench=BenchSettings.from_dict(config["bench"]),
            reference=config["reference"] if isinstance(config["reference"], str) else dict(config["reference"]),
            constraints=ConstraintSettings.from_dict(config["constraints"]),
            prior_runs=config.get("prior_runs"),
        )
        if backend.name == "train":
            settings._check_training()
        return settings

    def _check_training(self) -> None:
        target = self.target
        if target.scale not in self.scales:
            raise ConfigError(f"config key 'target.scale': {target.scale!r} is not in scales {sorted(self.scales)}")
        shape = self.scales[target.scale]
        assert target.tokens is not None
        if target.tokens < shape.tokens_per_step:
            raise ConfigError(
                f"config key 'target.tokens': {target.tokens} is less than one step of scale "
                f"{target.scale!r} ({shape.batch} x {shape.context} tokens)"
            )
        self.objective.check_domains(list(self.domains))

    def __getattribute__(self, name: str) -> Any:
        value = object.__getattribute__(self, name)
        if value is _NOT_PASSED:
            raise SectionNotPassed(f"settings section {name!r} is not passed to this job: add it to the "
                                   "rule's sections(...) in rules/*.smk")
        return value

    def __repr__(self) -> str:
        passed = [f.name for f in fields(self) if self.passed(f.name)]
        return f"Settings(<sections {', '.join(passed)}>)"

    def passed(self, section: str) -> bool:
        """Whether ``section`` holds a value (:meth:`from_sections` leaves out those not given)."""
        return object.__getattribute__(self, section) is not _NOT_PASSED

    def sections(self, *names: str) -> dict[str, Any]:
        """The named sections (e.g. ``"training"``, ``"seed"``) as plain data, for a Snakemake
        rule's ``params``: Snakemake fingerprints plain values only (:meth:`from_sections` types
        them again).

        Raises:
            ValueError: a name that is not a section.
        """
        known = [f.name for f in fields(self)]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"not settings sections: {unknown}; sections are {known}")
        return {name: _plain(getattr(self, name)) for name in names}

    @classmethod
    def from_sections(cls, sections: Mapping[str, Any]) -> "Settings":
        """Settings of the plain sections :meth:`sections` gave (checked when the config was read;
        not again). A section not given raises :class:`SectionNotPassed` when read."""
        values = {f.name: _NOT_PASSED for f in fields(cls)}
        return cls(**(values | {name: _typed(name, data) for name, data in sections.items()}))

    def replace(self, **changes: Any) -> "Settings":
        return replace(self, **changes)

    @property
    def target_steps(self) -> int:
        """Optimiser steps of a trained run at the target: target tokens over tokens per step."""
        assert self.target.tokens is not None
        return int(self.target.tokens) // self.scales[self.target.scale].tokens_per_step


#: sections held as one typed dataclass, and those held as name -> dataclass
_SECTION_TYPES: dict[str, Any] = {
    "corpora": CorporaSettings, "tokenizer": TokenizerSettings, "data": DataSettings, "target": TargetSettings,
    "training": TrainingSettings, "objective": ObjectiveSettings, "strategy": StrategySettings,
    "budget": BudgetSettings, "backend": BackendSettings, "bench": BenchSettings, "constraints": ConstraintSettings,
}
_MAPPING_TYPES: dict[str, Any] = {"domains": DomainSettings, "scales": ModelShape}
