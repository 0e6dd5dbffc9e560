"""A benchmark suite file (``mixopt suite SUITE.yaml``): problems x strategies, read and checked once.

A problem is a table back end (a run table, or a synthetic one with a known ground truth, see
:mod:`mixopt.tables.synthetic`), a target and an objective; every listed strategy runs on every
problem. A strategy with ``each_proxy: true`` stands for one copy per proxy scale of the problem
(``<label>@<scale>`` with ``options.scale`` set): the suite reports the best of them as "the best
single-proxy" baseline, a choice a user could only make in hindsight.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from mixopt.backends.table import cached_table
from mixopt.config import check_settings
from mixopt.core.errors import ConfigError
from mixopt.settings import Settings, check_flag, key_error, read_yaml, with_defaults
from mixopt.tables.runtable import RunTableError
from mixopt.tables.synthetic import synthetic_table

SCHEMA_PATH = Path(__file__).with_name("suite.schema.yaml")  # schemas/suite.schema.yaml


@dataclass(frozen=True)
class SuiteProblem:
    """One problem of a suite: its settings (a table back end) and the strategies run on it.

    Attributes:
        name: the problem's label in the suite file.
        settings: the problem as a mixopt config would give it (bench section included).
        proxy_labels: labels of the ``each_proxy`` copies, by the strategy label they came from.
        note: the problem's description from the suite file.
    """

    name: str
    settings: Settings
    proxy_labels: dict[str, list[str]]
    note: str


@dataclass(frozen=True)
class Suite:
    problems: list[SuiteProblem]
    skipped: dict[str, str]  # problem -> why it was not run (e.g. its table is not on this machine)
    seeds: int
    jobs: int
    relative_epsilon: float
    strategies: list[str]  # labels as listed (before each_proxy expansion)


def _schema() -> dict:
    with SCHEMA_PATH.open() as f:
        return yaml.safe_load(f)


def _check(suite: dict, path: str | Path) -> None:
    errors = sorted(jsonschema.Draft7Validator(_schema()).iter_errors(suite), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        key = ".".join(str(p) for p in e.absolute_path) or "(top level)"
        raise ConfigError(f"{path}: suite key '{key}': {e.message}")


def _strategies(spec: dict, scales: list[str]) -> tuple[dict, dict[str, list[str]]]:
    """Suite strategies -> the bench's ``label -> {name, options}`` for one problem; ``scales``:
    its proxy scales (those cheaper than the target)."""
    out, proxies = {}, {}
    for label, s in spec.items():
        options = dict(s.get("options", {}))
        if not s.get("each_proxy"):
            out[label] = {"name": s["name"], "options": options}
            continue
        proxies[label] = [f"{label}@{scale}" for scale in scales]
        for scale in scales:
            out[f"{label}@{scale}"] = {"name": s["name"], "options": options | {"scale": scale}}
    return out, proxies


def _suite_key(config_key: str, name: str, problem: dict, defaults: dict) -> str:
    """The suite file's key for a key of the config a problem becomes (``bench.strategies.gp@1M``
    -> ``strategies.gp``; a budget key -> the problem's, else ``defaults.budget``)."""
    head, _, rest = config_key.partition(".")
    if head == "bench":
        section, _, rest = rest.partition(".")
        if section == "strategies":
            label, _, rest = rest.partition(".")
            return ".".join(filter(None, ["strategies", label.split("@")[0], rest]))
        head, rest = section, rest
    # a budget key, epsilon or max_iterations the problem leaves to the suite's defaults is theirs
    if head == "budget":
        leaf = rest.split(".")[0]
        if leaf not in problem.get("budget", {}) and leaf in defaults.get("budget", {}):
            return ".".join(["defaults", "budget", rest])
    elif head in ("epsilon", "max_iterations") and head not in problem and head in defaults:
        return f"defaults.{head}"
    return ".".join(filter(None, ["problems", name, head, rest]))


def _in_suite_terms(error: Exception, name: str, problem: dict, defaults: dict) -> str:
    """A config check's message with its config keys named as the suite file names them."""
    return re.sub(r"config key '([^']+)'",
                  lambda m: f"suite key '{_suite_key(m.group(1), name, problem, defaults)}'", str(error))


def _check_sections(raw: dict, path: str | Path) -> None:
    """The config schema's checks of the sections a problem passes on to its config (``backend``,
    ``target``, ``objective``, ``budget``), and of ``defaults.budget``, under the suite's key."""
    parts = [("defaults.budget", raw.get("defaults", {}).get("budget"), "budget")]
    for name, p in raw["problems"].items():
        backend = p.get("backend", {})
        if backend.get("name", "table") != "table":
            raise ConfigError(f"{path}: suite key 'problems.{name}.backend.name': {backend['name']!r}: a suite takes "
                              "table back ends (name: table, with a run table)")
        parts += [(f"problems.{name}.{section}", p.get(section), section)
                  for section in ("backend", "target", "objective", "budget")]
    for suite_key, value, section in parts:
        error = None if value is None else key_error(value, section, partial=section == "budget")
        if error is not None:
            key = ".".join([suite_key, *(str(k) for k in error.absolute_path)])
            raise ConfigError(f"{path}: suite key '{key}': bad value {error.instance!r}: {error.message}")


def load_suite(path: str | Path, quick: bool = False, out_dir: str | Path = "results/suite",
               base_dir: str | Path | None = None, seeds: int | None = None, jobs: int | None = None,
               problems: list[str] | None = None) -> Suite:
    """Read and check a suite file; synthetic tables are written under ``out_dir/tables``.

    A problem whose table file is absent (e.g. a benchmark folder not on this machine) is skipped
    with the reason, not an error. Relative paths start at ``base_dir`` (default: the current
    folder). ``seeds`` and ``jobs`` (the command line's ``--seeds``, ``--jobs``) override the
    file's, and are checked as its keys are; ``problems`` (``--problems``) keeps those problems
    only, in the file's order. Raises ConfigError naming the file and key (or the
    flag) of the first bad value; then nothing is left written.
    """
    raw = read_yaml(path)
    _check(raw, path)
    for flag, key, value in (("--seeds", "seeds", seeds), ("--jobs", "jobs", jobs)):
        if value is not None:
            check_flag(flag, value, key, _schema())
    if quick and "quick" not in raw:
        raise ConfigError(f"--quick: {path} has no 'quick:' section saying which problems, strategies and seeds "
                          "the quick run takes")
    _check_sections(raw, path)
    base = Path(base_dir or Path.cwd()).resolve()
    mode = raw.get("quick", {}) if quick else {}
    names = mode.get("problems", list(raw["problems"]))
    labels = mode.get("strategies", list(raw["strategies"]))
    for key, chosen, known in (("quick.problems", names, raw["problems"]), ("quick.strategies", labels, raw["strategies"])):
        unknown = [n for n in chosen if n not in known]
        if unknown:
            raise ConfigError(f"{path}: suite key '{key}': unknown {unknown}; known: {list(known)}")
    if problems is not None:
        unknown = [n for n in problems if n not in names]
        if unknown or not problems:
            raise ConfigError(f"--problems: {unknown or 'none given'} not among the problems of {path}"
                              f"{' (--quick)' if quick else ''}: {names}")
        names = [n for n in names if n in problems]
    top = {k: raw.get(k, _schema()["properties"][k]["default"]) for k in ("seeds", "jobs", "relative_epsilon")}
    seeds = int(seeds if seeds is not None else mode.get("seeds", top["seeds"]))
    defaults = raw.get("defaults", {})
    problems, skipped, written = [], {}, []
    try:
        for name in names:
            p = raw["problems"][name]
            backend = dict(p.get("backend", {}))
            if "synthetic" in p:
                table_path = Path(out_dir).resolve() / "tables" / f"{name}.csv"
                written += [d for d in (table_path.parent.parent, table_path.parent, table_path) if not d.exists()]
                table_path.parent.mkdir(parents=True, exist_ok=True)
                synthetic_table(**p["synthetic"]).write(table_path)
                backend = {"name": "table", "table": {"format": "long", "path": str(table_path)}, "mode": "pool"}
            table = backend.get("table", {})
            if table.get("path") and not (base / table["path"]).exists():
                skipped[name] = f"run table not found: {table['path']}"
                continue
            config: dict[str, Any] = {
                "seed": 0, "backend": backend, "target": p["target"], "objective": p.get("objective", {"type": "mean"}),
                "strategy": {"name": "random"},
                "budget": {"iterations": 1, **defaults.get("budget", {}), **p.get("budget", {})},
                # epsilon and max_iterations: the problem's, else the suite's, else the config schema's
                "bench": {"seeds": seeds, "jobs": 1, **{k: p[k] if k in p else defaults[k]
                                                       for k in ("epsilon", "max_iterations") if k in p or k in defaults}},
            }
            try:
                plain = Settings.from_config(with_defaults(config))
                table = cached_table(plain.backend.table, str(base))
                proxy_scales = [s for s in table.scales() if table.params(s) < table.params(plain.target.scale)]
                strategies, proxies = _strategies({k: raw["strategies"][k] for k in labels}, proxy_scales)
                config["bench"]["strategies"] = strategies
                settings = Settings.from_config(with_defaults(config))
                check_settings(settings, base)
            except (ConfigError, RunTableError) as e:
                raise ConfigError(f"{path}: problem '{name}': {_in_suite_terms(e, name, p, defaults)}") from None
            problems.append(SuiteProblem(name, settings, proxies, p.get("note", "")))
    except BaseException:
        for written_path in reversed(written):  # a refused suite leaves nothing behind
            written_path.unlink() if written_path.is_file() else shutil.rmtree(written_path, ignore_errors=True)
        raise
    return Suite(problems, skipped, seeds, int(jobs if jobs is not None else top["jobs"]), float(top["relative_epsilon"]),
                 labels)
