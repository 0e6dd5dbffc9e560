"""proposals.csv: the trials of one iteration, one row each.

Columns: ``trial, scale, steps, seed``, then ``w_<domain>``. ``seed`` is the trial's training seed,
derived from the run seed, the iteration and the trial, so every trial differs but reruns agree.
A strategy whose trials train in a special way (DoReMi, online mixing) adds a column ``run``: JSON
of how (:class:`~mixopt.core.trial.Trial`), empty for a plain run.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mixopt.core.atomic import write_text
from mixopt.core.observations import weight_columns
from mixopt.core.problem import Problem
from mixopt.core.simplex import check_mixture

if TYPE_CHECKING:  # a type only: importing the strategies costs a trial job seconds (torch, BoTorch)
    from mixopt.strategies.base import ProposalBatch


def trial_seed(seed: int, iteration: int, trial: int) -> int:
    digest = hashlib.blake2b(f"{seed}:{iteration}:{trial}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little") & 0x7FFFFFFF


def proposals_table(batch: ProposalBatch, problem: Problem, seed: int, iteration: int) -> pd.DataFrame:
    rows = []
    special = any(p.run is not None for p in batch.proposals)
    for j, p in enumerate(batch.proposals):
        rows.append(
            {"trial": j, "scale": p.fidelity.scale, "steps": p.fidelity.steps, "seed": trial_seed(seed, iteration, j)}
            | {f"w_{d}": float(x) for d, x in zip(problem.domains, p.mixture)}
            | ({"run": "" if p.run is None else json.dumps(p.run, sort_keys=True)} if special else {})
        )
    return pd.DataFrame(rows, columns=["trial", "scale", "steps", "seed", *weight_columns(problem.domains),
                                       *(["run"] if special else [])])


def write_proposals(batch: ProposalBatch, problem: Problem, seed: int, iteration: int,
                    csv_path: str | Path, diagnostics_path: str | Path) -> pd.DataFrame:
    table = proposals_table(batch, problem, seed, iteration)
    write_text(csv_path, table.to_csv(index=False, float_format="%.10g"))
    write_text(diagnostics_path, json.dumps(batch.diagnostics, indent=2, default=float) + "\n")
    return table


def read_proposal(path: str | Path, trial: int, problem: Problem) -> dict:
    """One row of proposals.csv as ``{trial, scale, steps, seed, mixture}``; a hand-edited row that
    is not a mixture raises ValueError naming the file and trial."""
    table = pd.read_csv(path)
    row = table[table["trial"] == trial]
    if len(row) != 1:
        raise ValueError(f"{path}: expected one row for trial {trial}, found {len(row)}")
    row = row.iloc[0]
    missing = [c for c in weight_columns(problem.domains) if c not in row.index]
    if missing:
        raise ValueError(f"{path}: trial {trial} lacks mixture column(s) {missing}")
    w = np.array([row[f"w_{d}"] for d in problem.domains], dtype=float)
    try:
        check_mixture(w, problem.domains)
    except ValueError as e:
        raise ValueError(f"{path}: trial {trial}: {e}") from None
    run = row.get("run")
    try:
        run = json.loads(run) if isinstance(run, str) and run.strip() else None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: trial {trial}: column run is not JSON ({e})") from None
    return {
        "trial": int(row["trial"]),
        "scale": str(row["scale"]),
        "steps": int(row["steps"]),
        "seed": int(row["seed"]),
        "mixture": problem.mixture_dict(w),
        "run": run,
    }
