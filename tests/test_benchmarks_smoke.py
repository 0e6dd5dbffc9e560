"""Each benchmark in benchmarks/ runs in its smoke mode (seconds) and writes its table as Markdown
with the command, date, commit, CPU model and core count: the file the docs include, so a figure
in the docs is one that the benchmark printed."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from conftest import REPO

BENCHMARKS = ["train_throughput.py", "startup.py", "tokenize_throughput.py", "bench.py", "predict.py"]


@pytest.mark.slow
@pytest.mark.parametrize("script", BENCHMARKS)
def test_smoke_mode_writes_the_printed_table_with_its_provenance(script, tmp_path):
    table = tmp_path / "table.md"
    env = {**os.environ, "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, f"benchmarks/{script}", "--smoke", "--markdown", str(table)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    text = table.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("|---")]
    assert len(rows) >= 2, text  # a header and at least one measured row
    for row in rows[1:]:
        numbers = re.findall(r"(?<![\w.])\d[\d,]*\.?\d*x?(?![\w.])", row)
        missing = [n for n in numbers if n not in proc.stdout]
        assert not missing, f"{missing} of {row!r} were not printed:\n{proc.stdout}"
    provenance = text.strip().splitlines()[-1]
    # the command as one types it in the checkout: a folder outside it by its name, never the machine's path
    assert f"`python benchmarks/{script} --smoke --markdown table.md`" in provenance
    assert str(tmp_path) not in text
    assert re.search(r"on \d{4}-\d\d-\d\d \d\d:\d\d UTC, commit `[0-9a-f]{7,}", provenance), provenance
    assert f"({os.cpu_count()} cores)" in provenance


@pytest.mark.slow
@pytest.mark.parametrize("script, expected", [
    ("propose_speed.py", [r" auto: +40 checkpoints", r"   gp: +40 checkpoints", r" mfms: +40 checkpoints"]),
    ("suite.py", [r"== tiny: ", r"geometric mean over problems", r"table written to "]),
])
def test_the_strategy_benchmarks_run_in_smoke_mode(script, expected):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, f"benchmarks/{script}", "--smoke"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    for pattern in expected:
        assert re.search(pattern, proc.stdout), (pattern, proc.stdout[-3000:])
