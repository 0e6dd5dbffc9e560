"""The light steps of the loop, one function per Snakemake script: gather the trials' metrics into
the observations table, plot convergence and the report's figures. None of them imports the
strategies (torch, BoTorch: seconds per job); the steps that need a model are in
:mod:`mixopt.workflow.model_steps`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mixopt.backends import Backend
from mixopt.core.atomic import write_text
from mixopt.core.observations import build_table, read_metrics, read_table
from mixopt.settings import Settings
from mixopt.workflow.convergence import convergence_table, plot_convergence
from mixopt.workflow.failures import (SystematicFailure, check_systematic_failure, console, failures_summary,
                                     iteration_failures)
from mixopt.workflow.prior import prior_metrics


def aggregate(backend: Backend, metrics: list[str], out_path: str | Path, prior_runs: str | Path | None = None,
              max_failures: int | None = None, summary: bool = False) -> pd.DataFrame:
    """Every trial's metrics.json, and the runs of ``prior_runs`` (marked ``prior``), -> the
    observations table (one row per trial and checkpoint).

    With ``max_failures``, trials that fail systematically stop the loop here, before the table is
    written (:func:`~mixopt.workflow.failures.check_systematic_failure`). The failed trials are
    listed on the console: with ``summary`` all of them (the end of the loop), else those of the
    iteration that just ended.

    Raises:
        SystematicFailure: naming the error and the failed trials' logs.
    """
    prior = prior_metrics(prior_runs, backend.problem) if prior_runs else []
    trials = [(Path(p), read_metrics(p)) for p in metrics]
    for line in failures_summary(trials) if summary else iteration_failures(trials):
        console(line)
    if max_failures is not None:
        try:
            check_systematic_failure(trials, max_failures)
        except SystematicFailure as e:
            console(f"mixopt: {e}")
            raise
    table = build_table(prior + [m for _, m in trials], backend.problem)
    write_text(out_path, table.to_csv(index=False))
    print(f"{len(metrics)} trials, {len(prior)} prior runs, {len(table)} rows, "
          f"{int((table['status'] != 'ok').sum())} failed rows")
    return table


def convergence(settings: Settings, backend: Backend, observations: str | Path, plot_path: str | Path,
                table_path: str | Path) -> pd.DataFrame:
    """Best objective so far against cumulative training FLOPs, as a CSV and a PNG."""
    problem = backend.problem
    curve = convergence_table(read_table(observations), problem)
    write_text(table_path, curve.to_csv(index=False))
    plot_convergence(curve, plot_path, title=f"{settings.strategy.name}: "
                     f"objective at {problem.target.scale}, {problem.target.steps} steps")
    return curve


# -- the figures of the Snakemake report (`snakemake --report report.html`) ---------------------


def _read_yaml(path: str | Path) -> dict:
    """best_mixture.yaml, a file this workflow wrote (a config file goes through settings.read_yaml)."""
    import yaml

    with Path(path).open() as f:
        return yaml.safe_load(f) or {}


def scales_by_cost(backend: Backend) -> list[str]:
    """The back end's scales from the cheapest to the most expensive step."""
    problem = backend.problem
    return sorted(problem.full_steps, key=lambda s: problem.step_flops.get(s, float("inf")))


def mixture_trajectories(settings: Settings, backend: Backend, proposals: list[str | Path],
                         best_mixture: str | Path, plot_path: str | Path) -> pd.DataFrame:
    """Each domain's weight across iterations and in the recommendation, as a PNG.

    ``proposals``: results/iter_{i}/proposals.csv of iterations 0, 1, ... in that order.
    """
    from mixopt.workflow.figures import plot_mixture_trajectories

    problem = backend.problem
    stacked = pd.concat([pd.read_csv(p).assign(iteration=i) for i, p in enumerate(proposals)], ignore_index=True)
    plot_mixture_trajectories(stacked, _read_yaml(best_mixture).get("mixture") or {}, list(problem.domains),
                              scales_by_cost(backend), problem.target.scale, plot_path,
                              title=f"{settings.strategy.name}: proposed weight of each domain per iteration")
    return stacked


def domain_losses(settings: Settings, backend: Backend, observations: str | Path, best_mixture: str | Path,
                  plot_path: str | Path) -> pd.DataFrame:
    """Each trial at the target minus the reference mixture, per domain and for the objective, as a PNG."""
    from mixopt.workflow.figures import domain_loss_table, plot_domain_losses, reference_losses

    problem = backend.problem
    versus = _read_yaml(best_mixture).get("versus_reference") or {}
    reference, kind = reference_losses(versus)
    differences = domain_loss_table(read_table(observations), problem.target, reference)
    plot_domain_losses(differences, problem.target, versus.get("reference") or "reference", kind,
                       list(versus.get("not_modelled") or []), plot_path)
    print(differences.to_string(index=False))
    return differences


def learning_curves(settings: Settings, backend: Backend, observations: str | Path, plot_path: str | Path) -> None:
    """Objective against step for every trial, one panel per scale, as a PNG."""
    from mixopt.workflow.figures import plot_learning_curves

    problem = backend.problem
    plot_learning_curves(read_table(observations), scales_by_cost(backend), problem.target.scale, plot_path,
                         title=f"{settings.strategy.name}: objective against step, per trial and scale")


def domain_weights_figure(metrics: list[str | Path], plot_path: str | Path) -> None:
    """The weights used at each step of every trial whose weights changed while it trained
    (DoReMi's proxy run, online mixing), as a PNG."""
    from mixopt.workflow.figures import plot_domain_weights

    plot_domain_weights([read_metrics(path) for path in metrics], plot_path)


def domain_effects_figure(best_mixture: str | Path, plot_path: str | Path) -> None:
    """best_mixture.yaml's domain effects (which domains matter at the recommendation), as a PNG."""
    from mixopt.workflow.figures import plot_domain_effects

    plot_domain_effects(_read_yaml(best_mixture), plot_path)


def recommendation_figure(best_mixture: str | Path, plot_path: str | Path) -> None:
    """best_mixture.yaml's mixture and its per-domain differences from the reference, as a PNG."""
    from mixopt.workflow.figures import plot_recommendation

    plot_recommendation(_read_yaml(best_mixture), plot_path)


def transfer_figure(settings: Settings, backend: Backend, observations: str | Path, best_mixture: str | Path,
                    plot_path: str | Path) -> dict[str, pd.DataFrame]:
    """Rank at each trained proxy scale against rank at the target of the mixtures run at both, as a PNG."""
    from mixopt.workflow.evidence import trained_proxies, transfer_pairs
    from mixopt.workflow.figures import plot_transfer

    problem = backend.problem
    table = read_table(observations)
    proxies = trained_proxies(table, problem)
    pairs = {s: transfer_pairs(table, problem, s) for s in scales_by_cost(backend) if s in proxies}
    correlations = (_read_yaml(best_mixture).get("transfer") or {}).get("rank_correlation") or {}
    plot_transfer(pairs, correlations, problem.target.scale, plot_path)
    print({s: len(p) for s, p in pairs.items()})
    return pairs
