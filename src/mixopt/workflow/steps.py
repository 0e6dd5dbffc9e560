"""The light steps of the loop, one function per Snakemake script: gather the trials' metrics into
the observations table, propose an iteration's trials, recommend a mixture, plot convergence."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mixopt.backends import Backend
from mixopt.core.atomic import write_text
from mixopt.core.observations import build_table, read_metrics, read_table
from mixopt.settings import Settings
from mixopt.strategies import strategy_from_settings
from mixopt.workflow.convergence import convergence_table, plot_convergence
from mixopt.workflow.proposals import write_proposals
from mixopt.workflow.report import recommendation_report, write_report


def aggregate(backend: Backend, metrics: list[str], out_path: str | Path) -> pd.DataFrame:
    """Every trial's metrics.json -> the observations table (one row per trial and checkpoint)."""
    table = build_table([read_metrics(p) for p in metrics], backend.problem)
    write_text(out_path, table.to_csv(index=False))
    print(f"{len(metrics)} trials, {len(table)} rows, {int((table['status'] != 'ok').sum())} failed rows")
    return table


def propose(settings: Settings, backend: Backend, observations: str | Path, iteration: int,
            proposals_path: str | Path, diagnostics_path: str | Path) -> pd.DataFrame:
    """The strategy's trials for ``iteration`` from the observations of earlier iterations."""
    strategy = strategy_from_settings(settings.strategy, backend.problem, settings.seed, space=backend)
    batch = strategy.propose(read_table(observations), settings.budget.trials(iteration), iteration)
    table = write_proposals(batch, backend.problem, settings.seed, iteration, proposals_path, diagnostics_path)
    print(table.to_string(index=False))
    return table


def recommend(settings: Settings, backend: Backend, observations: str | Path, out_path: str | Path) -> dict:
    """results/best_mixture.yaml: the strategy's recommendation with its predicted losses."""
    problem = backend.problem
    table = read_table(observations)
    strategy = strategy_from_settings(settings.strategy, problem, settings.seed, space=backend)
    report = recommendation_report(strategy.recommend(table), problem, table, settings.strategy.name,
                                   int(problem.target_tokens))
    write_report(report, out_path)
    print(report)
    return report


def convergence(settings: Settings, backend: Backend, observations: str | Path, plot_path: str | Path,
                table_path: str | Path) -> pd.DataFrame:
    """Best objective so far against cumulative training FLOPs, as a CSV and a PNG."""
    problem = backend.problem
    curve = convergence_table(read_table(observations), problem)
    write_text(table_path, curve.to_csv(index=False))
    plot_convergence(curve, plot_path, title=f"{settings.strategy.name}: "
                     f"objective at {problem.target.scale}, {problem.target.steps} steps")
    return curve
