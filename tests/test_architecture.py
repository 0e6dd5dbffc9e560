"""The package layout: layers import downward only and no import goes round in a circle.

The contracts live in pyproject.toml ([tool.importlinter]); these tests make CI fail when a change
breaks one, and when a new package is added without a place in the layers.
"""

import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import mixopt

ROOT = Path(__file__).resolve().parents[1]


def _contracts() -> list[dict]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["importlinter"]["contracts"]


def test_import_contracts_are_kept():
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
         "sys.exit(lint_imports_command())", "--config", "pyproject.toml", "--no-cache"],
        cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_every_package_has_a_layer():
    (layers,) = [c["layers"] for c in _contracts() if c["type"] == "layers"]
    placed = {name.strip() for layer in layers for name in layer.split("|")}
    top_level = {f"mixopt.{m.name}" for m in pkgutil.iter_modules(mixopt.__path__)}
    assert top_level - placed == set(), "add the new module to a layer in pyproject.toml"


def test_light_jobs_and_trial_jobs_do_not_import_the_strategies():
    """Each Snakemake job is a fresh Python: aggregate, the plots and a trial's set-up must not pay
    seconds for torch and BoTorch they never use (benchmarks/startup.py measures the cost)."""
    scripts = ["aggregate", "plot_convergence", "plot_learning_curves", "plot_trajectories", "table_trial", "train_proxy"]
    imports = sorted({line.split()[1] for s in scripts
                      for line in (ROOT / "workflow" / "scripts" / f"{s}.py").read_text().splitlines()
                      if line.startswith("from mixopt")})
    code = "".join(f"import {m}\n" for m in imports) + (
        "import sys; print(sorted(h for h in ('torch', 'botorch', 'gpytorch', 'smac', 'transformers') if h in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", (imports, result.stdout)


#: the longest a function of src/mixopt may be, docstring included: a loop one reads in one screen
MAX_FUNCTION_LINES = 80


def test_no_function_is_longer_than_one_screen():
    import ast

    long = []
    for path in sorted((ROOT / "src" / "mixopt").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert long == [], f"split these into helpers (at most {MAX_FUNCTION_LINES} lines each): {long}"


def test_the_layers_diagram_of_the_docs_is_the_contract():
    """docs/architecture.md draws the layers in Mermaid, one subgraph per layer, top first."""
    import re

    text = (ROOT / "docs" / "architecture.md").read_text()
    (diagram,) = re.findall(r"```mermaid\n(.*?)```", text, re.S)
    drawn = [set(block.split()) for block in re.findall(r"subgraph \w+ \[[^\]]*\]\n(.*?)\n\s*end", diagram, re.S)]
    (layers,) = [c["layers"] for c in _contracts() if c["type"] == "layers"]
    assert drawn == [{name.strip().removeprefix("mixopt.") for name in layer.split("|")} for layer in layers]
