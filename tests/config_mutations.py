"""Hypothesis strategies for the config fuzzer: valid configs and suite files, mutated as a user
gets them wrong (a key dropped or unknown, a wrong type, a number out of range, an unknown domain,
a path to nowhere). tests/test_fuzz_config.py runs a few examples; benchmarks/fuzz_config.py runs
many and writes the count. Both assert the same property: the check accepts or refuses with one
``ConfigError`` line, and never raises anything else."""

from __future__ import annotations

import contextlib
import copy
import io
import math
import tempfile
import traceback
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

#: values a wrong-type mutation puts in place of any value
WRONG_TYPES: list[Any] = [None, "text", "2.0e7", 3, -1.5, True, [], {}, [1, "a"], {"x": 1}]
#: numbers out of any sensible range
BAD_NUMBERS: list[Any] = [-1, 0, -1e-9, 1e30, -(10**12), math.nan, math.inf, -math.inf, 0.5, 1.5]
BAD_PATHS = ["/nonexistent/corpus/*.jsonl", "nowhere.csv", "", "../../outside/x.parquet", "/"]
UNKNOWN_DOMAIN = "not_a_domain"
UNKNOWN_KEY = "bogus_key"


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (keys and list indices) to a value inside ``node``, the root excluded."""
    out = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, value in items:
        out.append(prefix + (key,))
        out += _paths(value, prefix + (key,))
    return out


def _parent(root: Any, path: tuple) -> Any:
    for key in path[:-1]:
        root = root[key]
    return root


def _mutation(draw, config: dict) -> dict:
    paths = _paths(config)
    path = draw(st.sampled_from(paths))
    parent, key = _parent(config, path), path[-1]
    kind = draw(st.sampled_from(["drop", "wrong_type", "bad_number", "bad_path", "unknown_domain", "unknown_key"]))
    if kind == "drop":
        parent.pop(key) if isinstance(parent, dict) else parent.pop(key)
    elif kind == "wrong_type":
        parent[key] = copy.deepcopy(draw(st.sampled_from(WRONG_TYPES)))
    elif kind == "bad_number":
        parent[key] = draw(st.sampled_from(BAD_NUMBERS) | st.integers(-10**6, 10**6)
                           | st.floats(allow_nan=True, allow_infinity=True))
    elif kind == "bad_path":
        parent[key] = draw(st.sampled_from(BAD_PATHS))
    elif kind == "unknown_domain":  # into the nearest mapping: weights, bounds, domains, a reference
        target = parent[key] if isinstance(parent[key], dict) else parent
        if isinstance(target, dict):
            target[UNKNOWN_DOMAIN] = copy.deepcopy(next(iter(target.values()), 0.5))
    else:
        target = parent[key] if isinstance(parent[key], dict) else parent
        if isinstance(target, dict):
            target[UNKNOWN_KEY] = 1
    return config


@st.composite
def mutated(draw, valid: list[dict], max_mutations: int = 3) -> dict:
    """One of the ``valid`` mappings with 1 to ``max_mutations`` mutations."""
    config = copy.deepcopy(draw(st.sampled_from(valid)))
    for _ in range(draw(st.integers(1, max_mutations))):
        if not _paths(config):
            break
        config = _mutation(draw, config)
    return config


# -- values from a schema ------------------------------------------------------------------------
# By hand: hypothesis-jsonschema, the library for this, fails on this Hypothesis (0.23.1 calls
# an internal API Hypothesis 6.170 no longer has), and a config needs only the keywords below.

#: names an additionalProperties mapping (domains, scales, strategy labels, weights) gets
NAMES = ["books", "code", "pile_cc", "arxiv", "nano", "1M", "60M", "gp", "random", UNKNOWN_DOMAIN]


def from_schema(schema: dict, root: dict | None = None) -> st.SearchStrategy:
    """Values of a JSON schema (draft 7 / 2020-12 keywords that mixopt's schemas use: ``$ref``,
    ``enum``, ``oneOf``/``anyOf``, ``type``, ``properties``, ``required``, ``additionalProperties``,
    ``items``, ``minItems``/``maxItems``, ``minimum``/``maximum`` and their exclusive forms)."""
    root = root or schema
    if "$ref" in schema:
        target = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return st.deferred(lambda: from_schema(target, root))
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return st.one_of([from_schema({**{k: v for k, v in schema.items() if k != key}, **option}, root)
                              for option in schema[key]])
    kinds = schema.get("type")
    if isinstance(kinds, list):
        return st.one_of([from_schema({**schema, "type": kind}, root) for kind in kinds])
    if kinds == "object" or (kinds is None and "properties" in schema):
        return _object(schema, root)
    if kinds == "array":
        items = from_schema(schema.get("items", {}), root)
        return st.lists(items, min_size=schema.get("minItems", 0), max_size=schema.get("maxItems", 3))
    if kinds in ("number", "integer"):
        lo = schema.get("minimum", schema.get("exclusiveMinimum"))
        hi = schema.get("maximum", schema.get("exclusiveMaximum"))
        if kinds == "integer":
            return st.integers(None if lo is None else math.ceil(lo) + ("exclusiveMinimum" in schema),
                               None if hi is None else math.floor(hi) - ("exclusiveMaximum" in schema))
        return st.floats(lo, hi, allow_nan=False, allow_infinity=False, exclude_min="exclusiveMinimum" in schema,
                         exclude_max="exclusiveMaximum" in schema)
    if kinds == "string":
        return st.sampled_from(NAMES) | st.text(max_size=8)
    if kinds == "boolean":
        return st.booleans()
    if kinds == "null":
        return st.none()
    return st.sampled_from(WRONG_TYPES)  # no type: anything


def _object(schema: dict, root: dict) -> st.SearchStrategy:
    properties = schema.get("properties", {})
    required = [k for k in schema.get("required", []) if k in properties]
    optional = [k for k in properties if k not in required]
    extra = schema.get("additionalProperties", True)

    @st.composite
    def build(draw) -> dict:
        keys = required + [k for k in optional if draw(st.booleans())]
        out = {k: draw(from_schema(properties[k], root)) for k in keys}
        if isinstance(extra, dict):
            for name in draw(st.lists(st.sampled_from(NAMES), max_size=3, unique=True)):
                out.setdefault(name, draw(from_schema(extra, root)))
        return out

    return build()


# -- the property --------------------------------------------------------------------------------


def check_failure(config: dict, base_dir: Path) -> tuple[str, str | None]:
    """``mixopt check`` on ``config`` (written under a fresh folder; relative paths start at
    ``base_dir``): ``("accepted", None)`` (exit 0), ``("refused", None)`` (one ``mixopt check:``
    line, exit 2, nothing written), else ``("failed", what went wrong)`` (an escaped exception,
    another exit status, several lines)."""
    from mixopt.cli import main

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = main(["check", str(path), "--base-dir", str(base_dir)])
        except BaseException as e:  # noqa: BLE001 - anything escaping is the failure looked for
            return "failed", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
        lines = [line for line in err.getvalue().splitlines() if line.strip()]
        if code == 0:
            return "accepted", None
        if code != 2 or len(lines) != 1 or not lines[0].startswith("mixopt check: "):
            return "failed", f"exit {code}, stderr: {err.getvalue()[-2000:]}"
        if sorted(p.name for p in Path(folder).iterdir()) != ["config.yaml"]:
            return "failed", f"refused, yet wrote {sorted(p.name for p in Path(folder).iterdir())}"
    return "refused", None


def suite_failure(suite: dict, base_dir: Path) -> tuple[str, str | None]:
    """The suite loader on ``suite``: ``("accepted", None)``, ``("refused", None)`` (one
    ``ConfigError`` line, its output folder left unwritten), else ``("failed", what went wrong)``."""
    from mixopt.bench.problems import load_suite
    from mixopt.core.errors import ConfigError

    with tempfile.TemporaryDirectory() as folder:
        path, out = Path(folder) / "suite.yaml", Path(folder) / "out"
        path.write_text(yaml.safe_dump(suite))
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                load_suite(path, out_dir=out, base_dir=base_dir)
        except ConfigError as e:
            if "\n" in str(e).strip():
                return "failed", f"a ConfigError of several lines: {e}"
            if out.exists():
                return "failed", f"refused ({e}), yet wrote {sorted(str(p.relative_to(out)) for p in out.rglob('*'))}"
            return "refused", None
        except BaseException as e:  # noqa: BLE001
            return "failed", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
    return "accepted", None
