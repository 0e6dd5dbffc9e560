"""The observations table: every trial's metrics, one row per trial and checkpoint.

Columns: ``iteration, trial, status, error, scale, seed, n_params, max_steps, step, tokens, flops,
wall_time_s, prior`` (``prior``: a run of ``prior_runs``, from before this search, never retrained), then ``w_<domain>`` (the trial's mixture, one per training domain), ``loss_<domain>``
(validation loss at that checkpoint, one per evaluation domain) and ``objective``. A failed trial keeps its checkpoints that completed; a trial
that failed before its first checkpoint has one row with an empty ``step`` and its error, so a
failure is never silently dropped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from mixopt.core.problem import Fidelity, Problem
from mixopt.core.simplex import is_among

ID_COLUMNS = [
    "iteration", "trial", "status", "error", "scale", "seed", "n_params",
    "max_steps", "step", "tokens", "flops", "wall_time_s", "prior",
]


def weight_columns(domains: Iterable[str]) -> list[str]:
    return [f"w_{d}" for d in domains]


def loss_columns(domains: Iterable[str]) -> list[str]:
    return [f"loss_{d}" for d in domains]


def columns(problem: Problem) -> list[str]:
    return ID_COLUMNS + weight_columns(problem.domains) + loss_columns(problem.eval_domains) + ["objective"]


def read_metrics(path: str | Path) -> dict:
    with Path(path).open() as f:
        return json.load(f)


def metrics_rows(metrics: dict, problem: Problem) -> list[dict]:
    """One trial's metrics.json -> its table rows."""
    base = {
        "iteration": metrics.get("iteration"),
        "trial": metrics.get("trial"),
        "status": metrics["status"],
        "error": metrics.get("error"),
        "scale": metrics.get("scale"),
        "seed": metrics.get("seed"),
        "n_params": metrics.get("n_params"),
        "max_steps": metrics.get("steps"),
        "wall_time_s": metrics.get("wall_time_s"),
        "prior": bool(metrics.get("prior", False)),
    }
    mixture = metrics.get("mixture") or {}
    base.update({f"w_{d}": mixture.get(d, np.nan) for d in problem.domains})
    rows = []
    for point in metrics.get("checkpoints") or []:
        losses = point.get("losses") or {}
        loss = np.array([np.nan if losses.get(d) is None else losses[d] for d in problem.eval_domains], dtype=float)
        rows.append(
            base
            | {"step": point["step"], "tokens": point["tokens"], "flops": point["flops"]}
            | {f"loss_{d}": x for d, x in zip(problem.eval_domains, loss)}
            | {"objective": np.nan}  # set by build_table: worst_excess needs the reference's rows
        )
    if not rows:
        rows.append(base | {"step": np.nan, "tokens": np.nan, "flops": np.nan, "objective": np.nan})
    return rows


def build_table(metrics: Iterable[dict], problem: Problem) -> pd.DataFrame:
    """Metrics of many trials -> the observations table (sorted by iteration, trial, step)."""
    rows = [row for m in metrics for row in metrics_rows(m, problem)]
    table = pd.DataFrame(rows, columns=columns(problem))
    if len(table):
        table = table.sort_values(["iteration", "trial", "step"], kind="stable").reset_index(drop=True)
        table["objective"] = objective_values(table, problem)
    return table


def objective_values(table: pd.DataFrame, problem: Problem) -> np.ndarray:
    """`n` objectives of the table's rows (NaN without a checkpoint; for ``worst_excess``, also
    where the reference mixture has no successful run at that scale reaching that step)."""
    checkpoint = pd.to_numeric(table["step"], errors="coerce").notna().to_numpy()
    if problem.objective_kind != "worst_excess":
        return np.where(checkpoint, problem.objective(losses(table, problem)), np.nan)
    return np.where(checkpoint, problem.objective(losses(table, problem), reference_losses(table, problem)), np.nan)


def reference_losses(table: pd.DataFrame, problem: Problem) -> np.ndarray:
    """`n x e`: the losses of ``problem.objective_reference`` at each row's scale and step, from
    its successful runs at that scale (the mean over repeats; interpolated linearly in the step
    between its checkpoints, so runs of other lengths, whose checkpoints differ, are compared
    too); NaN outside the steps it reached."""
    assert problem.objective_reference is not None
    out = np.full((len(table), len(problem.eval_domains)), np.nan)
    ok = successful_checkpoints(table)
    ref = ok[is_among(mixtures(ok, problem), problem.objective_reference[None])] if len(ok) else ok
    for scale, runs in ref.groupby("scale"):
        curve = pd.DataFrame(losses(runs, problem)).groupby(runs["step"].to_numpy(dtype=float)).mean()
        steps = curve.index.to_numpy(dtype=float)
        rows = np.flatnonzero((table["scale"] == scale).to_numpy())
        at = pd.to_numeric(table["step"].iloc[rows], errors="coerce").to_numpy(dtype=float)
        inside = (at >= steps.min()) & (at <= steps.max())
        for j in range(out.shape[1]):
            out[rows[inside], j] = np.interp(at[inside], steps, curve[j].to_numpy())
    return out


def own_trials(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of this search's own trials (not ``prior_runs``)."""
    if "prior" not in table.columns or table.empty:
        return table
    return table[~table["prior"].astype(bool)]


def read_table(path: str | Path) -> pd.DataFrame:
    return pd.read_csv(path)


def successful(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of successful trials (``status`` ok)."""
    return table[table["status"] == "ok"]


def at_fidelity(table: pd.DataFrame, fidelity: Fidelity) -> pd.DataFrame:
    """Successful observations at ``fidelity``: that scale, checkpoint step == fidelity.steps.

    Any run at that scale that went at least that far counts, through its checkpoint at that step.
    """
    ok = successful(table)
    ok = ok[(ok["scale"] == fidelity.scale) & (ok["step"] == fidelity.steps)]
    return ok[pd.to_numeric(ok["objective"]).notna()]


def successful_checkpoints(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of successful trials that are checkpoints (have a step)."""
    ok = successful(table)
    return ok[pd.to_numeric(ok["step"], errors="coerce").notna()]


def successful_runs(table: pd.DataFrame) -> int:
    """How many trials succeeded."""
    return len(successful_checkpoints(table)[["iteration", "trial"]].drop_duplicates())


def mixtures(table: pd.DataFrame, problem: Problem) -> np.ndarray:
    """`n x d` mixtures of the table's rows."""
    return table[weight_columns(problem.domains)].to_numpy(dtype=float)


def losses(table: pd.DataFrame, problem: Problem) -> np.ndarray:
    """`n x e` per-evaluation-domain losses of the table's rows."""
    return table[loss_columns(problem.eval_domains)].to_numpy(dtype=float)


def trial_costs(table: pd.DataFrame) -> pd.DataFrame:
    """One row per trial of this search in run order with the FLOPs it spent (its last completed
    checkpoint); prior runs cost it nothing."""
    per_trial = own_trials(table).groupby(["iteration", "trial"], sort=True).agg(
        status=("status", "first"), flops=("flops", "max")
    )
    per_trial["flops"] = per_trial["flops"].fillna(0.0)
    return per_trial.reset_index()
