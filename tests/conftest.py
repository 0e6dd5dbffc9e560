"""Shared fixtures: small real-text corpora made from what Python itself ships (no network)."""

from __future__ import annotations

import json
import os
import shutil
import sysconfig
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
STDLIB = Path(sysconfig.get_paths()["stdlib"])


def pytest_configure(config) -> None:
    """The tests' own process runs torch on one thread: its GP fits and acquisition optimisations
    work on tensors of a few hundred numbers, where a second thread only synchronises (and spins
    against the other processes of a loaded machine); `mixopt bench` runs each seed so too. The
    proposals are the same (measured on tests/test_strategies.py's GP: 14 -> 8 CPU seconds). A
    training run sets its own count (training.threads); subprocesses keep torch's default."""
    import torch

    torch.set_num_threads(1)


def _docs_topics() -> list[str]:
    from pydoc_data.topics import topics

    return [topics[k] for k in sorted(topics)]


@pytest.fixture(scope="session")
def text_corpora(tmp_path_factory) -> dict[str, list[str]]:
    """Three real, distinct domains in the three supported formats, as config `paths` globs.

    code: stdlib modules as .txt files; docs: pydoc topics as .jsonl; prose: stdlib module
    docstrings as .parquet (column ``body``).
    """
    root = tmp_path_factory.mktemp("corpora")
    (root / "code").mkdir()
    for name in ["textwrap.py", "bisect.py", "heapq.py", "colorsys.py", "fnmatch.py", "shlex.py"]:
        (root / "code" / f"{name}.txt").write_text((STDLIB / name).read_text())
    with (root / "docs.jsonl").open("w") as f:
        for text in _docs_topics()[:40]:
            f.write(json.dumps({"text": text}) + "\n")
    import ast

    docstrings = []
    for path in sorted(STDLIB.glob("*.py"))[:120]:
        try:
            doc = ast.get_docstring(ast.parse(path.read_text()))
        except (SyntaxError, UnicodeDecodeError):
            continue
        if doc and len(doc) > 200:
            docstrings.append(doc)
    pd.DataFrame({"body": docstrings}).to_parquet(root / "prose.parquet")
    return {
        "code": [str(root / "code" / "*.txt")],
        "docs": [str(root / "docs.jsonl")],
        "prose": [str(root / "prose.parquet")],
    }


@pytest.fixture
def tiny_config(text_corpora) -> dict:
    """A complete, valid config over the fixture corpora with a tiny model."""
    return {
        "seed": 0,
        "domains": {
            "code": {"paths": text_corpora["code"]},
            "docs": {"paths": text_corpora["docs"]},
            "prose": {"paths": text_corpora["prose"], "text_field": "body"},
        },
        "tokenizer": {"vocab_size": 320, "train_bytes_per_domain": 200_000},
        "data": {"validation_fraction": 0.1, "num_proc": 1},
        "scales": {"nano": {"layers": 1, "width": 32, "heads": 2, "context": 32, "batch": 4, "lr": 0.01}},
        "target": {"scale": "nano", "tokens": 4 * 32 * 16},
        "training": {"checkpoints": 2, "eval_tokens": 512},
        "objective": {"type": "mean"},
        "strategy": {
            "name": "gp",
            "options": {"min_observations": 2, "raw_samples": 32, "num_restarts": 2, "mc_samples": 32},
        },
        "budget": {"iterations": 2, "initial_design": 3, "trials_per_iteration": 2},
    }


@pytest.fixture(scope="session")
def report_run(tmp_path_factory) -> Path:
    """A small loop on the RegMix table through real Snakemake, with its report (tests/test_report.py).

    `multiscale` over the recorded 1M and 60M runs. Iteration 0 is a design at 1M; before
    iteration 1 runs, a person edits it into three of iteration 0's mixtures at the 60M target and
    one invalid mixture (a failed trial at the target); iteration 2 is the strategy's own. The
    loop's console output is kept in ``console.txt`` (tests/test_faults.py reads it).
    """
    from test_workflow import snakemake, write_config

    with shared_between_workers(tmp_path_factory, "report") as (workdir, done):
        if not done:
            _run_the_report_loop(workdir, snakemake, write_config)
    return workdir


@contextmanager
def shared_between_workers(tmp_path_factory, name: str) -> Iterator[tuple[Path, bool]]:
    """A folder that the pytest-xdist workers of one run share (the first to come fills it, the
    others wait for it under a file lock), and whether it is filled already: a session fixture
    that costs minutes is then built once per run, not once per worker. Without xdist, a fresh
    folder."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        yield tmp_path_factory.mktemp(name), False
        return
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp().parent  # this run's, shared by its workers
    workdir, done = root / name, root / f"{name}.done"
    with FileLock(str(root / f"{name}.lock")):
        if not done.exists():  # nobody filled it, or a worker failed half-way: start afresh
            shutil.rmtree(workdir, ignore_errors=True)
            workdir.mkdir()
        yield workdir, done.exists()
        done.touch()


def _run_the_report_loop(workdir: Path, snakemake, write_config) -> None:
    config = yaml.safe_load((REPO / "configs" / "regmix.yaml").read_text())
    config["strategy"] = {"name": "multiscale",
                          "options": {"min_observations": 3, "raw_samples": 64, "cooling_iterations": 1}}
    config["budget"] = {"iterations": 3, "initial_design": 4, "trials_per_iteration": 4}
    config.pop("bench")
    write_config(workdir, config)

    snakemake(workdir, "results/iter_1/proposals.csv")
    design = pd.read_csv(workdir / "results/iter_0/proposals.csv")
    proposals = workdir / "results/iter_1/proposals.csv"
    edited = pd.read_csv(proposals)
    weights = [c for c in edited.columns if c.startswith("w_")]
    edited.loc[:2, weights] = design.loc[:2, weights].to_numpy()
    edited.loc[3, "w_pile_cc"] += 0.5  # weights summing to 1.5: this trial fails
    edited["scale"] = "60M"
    edited.to_csv(proposals, index=False)

    loop = snakemake(workdir)
    (workdir / "console.txt").write_text(loop.stdout + loop.stderr)
    snakemake(workdir, "--report", "report.html")
