"""Best objective found so far against the compute spent, trial by trial in run order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mixopt.core.observations import at_fidelity, trial_costs
from mixopt.core.plotting import pyplot, save_figure
from mixopt.core.problem import Problem


def convergence_table(table: pd.DataFrame, problem: Problem) -> pd.DataFrame:
    """One row per trial: ``iteration, trial, status, flops, cumulative_flops, objective, best_objective``.

    ``objective`` is the trial's objective at the target fidelity (empty when it failed or ran at
    another fidelity); ``best_objective`` is the lowest so far.
    """
    costs = trial_costs(table)
    target = at_fidelity(table, problem.target)[["iteration", "trial", "objective"]]
    out = costs.merge(target, on=["iteration", "trial"], how="left")
    out["cumulative_flops"] = out["flops"].cumsum()
    out["best_objective"] = out["objective"].cummin().ffill()  # a failed trial keeps the best so far
    return out[["iteration", "trial", "status", "flops", "cumulative_flops", "objective", "best_objective"]]


def plot_convergence(curve: pd.DataFrame, path: str | Path, title: str) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    ok = curve[np.isfinite(curve["objective"])]
    ax.scatter(ok["cumulative_flops"], ok["objective"], s=14, color="0.6", label="trial objective")
    failed = curve[curve["status"] != "ok"]
    if len(failed):
        ax.scatter(failed["cumulative_flops"], np.full(len(failed), np.nanmax(curve["objective"]) if len(ok) else 0),
                   marker="x", color="tab:red", label="failed trial")
    ax.step(curve["cumulative_flops"], curve["best_objective"], where="post", color="tab:blue", label="best so far")
    ax.set_xlabel("cumulative training FLOPs (6·N·D)")
    ax.set_ylabel("objective at target (validation loss)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)
