"""Write the configuration references of the docs from the schemas that validate the files.

    python scripts/gen_config_reference.py            # rewrite docs/configuration.md, docs/suite-file.md
    python scripts/gen_config_reference.py --check    # exit 1, naming the page, where one is stale

``schemas/config.schema.yaml`` (config.yaml) and ``schemas/suite.schema.yaml`` (a ``mixopt suite``
file) are the only home of every key's type, default, allowed values and description; the pages
are their tables, one per top-level section, one row per key (``<name>``: a key of your choosing,
such as a domain or a scale). tests/test_config_reference.py fails when a committed page differs
from what the schema generates.

Written here rather than with a JSON-Schema-to-Markdown package: those (jsonschema2md,
json-schema-for-humans) render nested lists or HTML, not a table of dotted keys with the default
and the allowed values side by side, which is what a user looking up one key needs.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Reference:
    """One generated page: the schema it is read from and what the page says before the tables."""

    schema: Path
    page: Path
    title: str
    intro: str


REFERENCES = (
    Reference(
        ROOT / "schemas" / "config.schema.yaml",
        ROOT / "docs" / "configuration.md",
        "Configuration reference",
        "Every key of `config.yaml` (and of a file given with `--configfile`). The workflow checks "
        "the file against this schema before any job runs, fills in the defaults, and stops with one "
        "message naming the key when a value is wrong; `mixopt check config.yaml` runs the same check "
        "on its own. Paths are relative to the directory you run `snakemake` in.",
    ),
    Reference(
        ROOT / "schemas" / "suite.schema.yaml",
        ROOT / "docs" / "suite-file.md",
        "Suite file reference",
        "Every key of a benchmark suite file, the input of `mixopt suite` (`configs/suite.yaml` is "
        "the project's; see [Benchmarks](benchmarks.md)). A problem's `backend`, `target`, "
        "`objective` and `budget` take the sections of the same name in "
        "[config.yaml](configuration.md).",
    ),
)

PLACEHOLDER = "<name>"


def _shown(path: Path) -> str:
    """``path`` as a user in the checkout would type it."""
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def _resolve(node: dict, schema: dict) -> dict:
    """``node`` with a local ``$ref`` replaced by its definition (the node's own keys win)."""
    ref = node.get("$ref")
    if not ref:
        return node
    target = schema
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return {**_resolve(target, schema), **{k: v for k, v in node.items() if k != "$ref"}}


def _code(value: object) -> str:
    """A YAML value as inline code, in flow style (how one would write it in config.yaml)."""
    if isinstance(value, str):
        return f"`{value}`"
    return f"`{yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix('...').strip()}`"


def _alternatives(node: dict) -> list[dict]:
    """The ``oneOf``/``anyOf`` alternatives that are values (not only a choice of required keys)."""
    alternatives = node.get("oneOf", node.get("anyOf", []))
    return alternatives if any(set(alt) - {"required"} for alt in alternatives) else []


def _type(node: dict, schema: dict) -> str:
    node = _resolve(node, schema)
    if _alternatives(node):
        return " or ".join(_type(alt, schema) for alt in _alternatives(node))
    kind = node.get("type")
    if isinstance(kind, list):
        text = " or ".join(kind)
    elif kind == "array" and "items" in node:
        text = f"list of {_type(node['items'], schema)}"
    elif kind == "object" and isinstance(node.get("additionalProperties"), dict) and "properties" not in node:
        text = f"map: name → {_type(node['additionalProperties'], schema)}"
    else:
        text = kind or "any"
    return text


def _allowed(node: dict, schema: dict) -> str:
    """The values a key takes beyond its type: an enum, bounds, sizes."""
    node = _resolve(node, schema)
    if _alternatives(node):
        parts = [_allowed(alt, schema) for alt in _alternatives(node)]
        return "; or ".join(p for p in parts if p)
    parts = []
    choices = [alt["required"] for alt in node.get("oneOf", []) if set(alt) == {"required"}]
    if choices:
        parts.append("exactly one of " + ", ".join(f"`{' + '.join(c)}`" for c in choices))
    if "enum" in node:
        parts.append(", ".join(_code(v) for v in node["enum"]))
    for keyword, sign in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<")):
        if keyword in node:
            parts.append(f"{sign} {node[keyword]}")
    for keyword, what in (("minItems", "items"), ("minProperties", "keys")):
        if keyword in node:
            most = node.get(keyword.replace("min", "max"))
            count = f"{node[keyword]} {what if node[keyword] != 1 else what[:-1]}"
            parts.append(count if most == node[keyword] else f"at least {count}")
    if "pattern" in node.get("propertyNames", {}):
        parts.append(f"names match `{node['propertyNames']['pattern']}`")
    if node.get("type") == "array" and "items" in node:
        inner = _allowed(node["items"], schema)
        if inner:
            parts.append(f"each {inner}")
    values = node.get("additionalProperties")
    if isinstance(values, dict) and "properties" not in _resolve(values, schema):
        inner = _allowed(values, schema)
        if inner:
            parts.append(f"values: {inner}")
    return ", ".join(parts)


def _description(node: dict, schema: dict, required: bool) -> str:
    resolved = _resolve(node, schema)
    text = node.get("description") or resolved.get("description", "")
    text = " ".join(str(text).split())
    if required:
        text = f"**Required.** {text}".strip()
    return text.replace("|", "\\|")


def _rows(path: str, node: dict, schema: dict, required: bool) -> list[list[str]]:
    """The table rows of ``node`` at ``path`` and of every key beneath it."""
    node = _resolve(node, schema)
    default = _code(node["default"]) if "default" in node else ""
    rows = [[f"`{path}`", _type(node, schema), default, _allowed(node, schema),
             _description(node, schema, required)]]
    must = set(node.get("required", []))
    for key, child in node.get("properties", {}).items():
        rows += _rows(f"{path}.{key}", child, schema, key in must)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        resolved = _resolve(extra, schema)
        if "properties" in resolved:
            rows += _rows(f"{path}.{PLACEHOLDER}", extra, schema, False)
    return rows


def undescribed(reference: Reference) -> list[str]:
    """Keys that hold a value (not a section of further keys) and have no description."""
    schema = yaml.safe_load(reference.schema.read_text(encoding="utf-8"))
    missing = []

    def visit(path: str, node: dict) -> None:
        node = _resolve(node, schema)
        children = dict(node.get("properties", {}))
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and "properties" in _resolve(extra, schema):
            children[PLACEHOLDER] = extra
        if not children and not node.get("description"):
            missing.append(path)
        for key, child in children.items():
            visit(f"{path}.{key}", child)

    for key, node in schema["properties"].items():
        visit(key, node)
    return missing


def render(reference: Reference) -> str:
    """The Markdown page of ``reference``: one table per top-level key."""
    schema = yaml.safe_load(reference.schema.read_text(encoding="utf-8"))
    relative = _shown(reference.schema)
    lines = [
        f"# {reference.title}",
        "",
        f"<!-- Generated from {relative} by `python scripts/gen_config_reference.py`: edit the schema, "
        "not this page, and rerun. -->",
        "",
        reference.intro,
        "",
        f"Generated from `{relative}` by `python scripts/gen_config_reference.py`; `{PLACEHOLDER}` stands "
        "for a key of your choosing (a domain, a scale, a label).",
        "",
    ]
    required = set(schema.get("required", []))
    for key, node in schema["properties"].items():
        lines += [f"## `{key}`", ""]
        lines += ["| key | type | default | allowed | description |", "|---|---|---|---|---|"]
        lines += ["| " + " | ".join(row) + " |" for row in _rows(key, node, schema, key in required)]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 naming each stale page")
    args = parser.parse_args(argv)
    stale = []
    for reference in REFERENCES:
        page = render(reference)
        current = reference.page.read_text(encoding="utf-8") if reference.page.exists() else None
        if current == page:
            continue
        if args.check:
            stale.append(reference)
        else:
            reference.page.write_text(page, encoding="utf-8")
            print(f"wrote {_shown(reference.page)}")
    for reference in stale:
        print(f"{_shown(reference.page)} differs from what {_shown(reference.schema)} "
              "generates: run `python scripts/gen_config_reference.py`", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
