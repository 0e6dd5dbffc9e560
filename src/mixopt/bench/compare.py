"""A head-to-head on the train back end: every strategy of ``bench.strategies`` trains real
proxies under one compute budget (``bench.budget_flops``), then a table of what each reached.

Each strategy runs the workflow's loop in-process (propose, train every trial, recommend), with
the charging rule of the table bench (:mod:`mixopt.bench.run`): after each iteration the
recommendation is trained at the target unless that mixture already ran there, and that run is
paid for. A strategy stops once its spending reaches the budget. Trials are written in the
workflow's layout (``<label>/iter_i/trial_j/metrics.json``, a DoReMi reference model beside its
metrics), and a trial whose metrics.json exists is not trained again, so an interrupted
comparison resumes where it stopped.

The table: for each strategy, its last recommendation's objective at the target (as trained
there), the worst domain there, and the compute spent (FLOPs, and in target runs).
"""

from __future__ import annotations

import json
import platform
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from mixopt.backends.constraints import constraints_of
from mixopt.backends.training import TrainingBackend
from mixopt.core.atomic import write_text
from mixopt.core.machine import commit, cpu
from mixopt.core.observations import build_table, read_metrics
from mixopt.core.simplex import mixture_key
from mixopt.core.trial import Trial
from mixopt.settings import Settings
from mixopt.strategies.registry import strategy_from_settings
from mixopt.workflow.prior import initial_design_size
from mixopt.workflow.proposals import trial_seed
from mixopt.workflow.reference import reference_mixture

__all__ = ["COLUMNS", "compare_one", "compare_strategies", "markdown_table", "write_comparison"]

COLUMNS = ["strategy", "name", "objective", "worst_domain", "worst_loss", "flops", "target_runs", "trials",
           "iterations", "note"]


def _run(backend: TrainingBackend, trial: Trial, out_path: Path) -> dict:
    """The trial's record: its metrics.json when it exists (a resumed comparison), else trained."""
    if out_path.is_file():
        return read_metrics(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    return backend.run(trial, out_path, log=lambda _: None)


def _final_losses(record: Mapping[str, Any], domains: tuple[str, ...]) -> np.ndarray:
    losses = record["checkpoints"][-1]["losses"]
    return np.array([losses[d] for d in domains], dtype=float)


def compare_one(label: str, strategy_settings, settings: Settings, backend: TrainingBackend,
                shard_metas: Mapping[str, Path], out_dir: Path, budget_flops: float) -> dict[str, Any]:
    """Run one strategy under ``budget_flops``; its trials go under ``out_dir / label``. Returns
    its row of :data:`COLUMNS`."""
    problem, target = backend.problem, backend.problem.target
    constraints = constraints_of(settings, problem, shard_metas)
    reference, _ = reference_mixture(settings.reference, problem, shard_metas, constraints)
    strategy = strategy_from_settings(strategy_settings, problem, settings.seed, reference=reference,
                                      constraints=constraints)
    workdir = out_dir / label
    records: list[dict] = []
    at_target: dict[tuple, dict] = {}  # mixture -> its record at the target
    spent, iteration, rec, note = 0.0, 0, None, ""
    budget = settings.budget
    while spent < budget_flops and iteration < settings.bench.max_iterations:
        n = initial_design_size(budget.initial_design, budget.trials_per_iteration, 0) if iteration == 0 \
            else budget.trials_per_iteration
        batch = strategy.propose(build_table(records, problem), n, iteration)
        for j, p in enumerate(batch.proposals):
            trial = Trial(p.mixture, p.fidelity, trial_seed(settings.seed, iteration, j), iteration=iteration,
                          index=j, run=p.run)
            record = _run(backend, trial, workdir / f"iter_{iteration}" / f"trial_{j}" / "metrics.json")
            records.append(record)
            if record["checkpoints"]:
                spent += record["checkpoints"][-1]["flops"]
            if record["status"] == "ok" and p.fidelity == target:
                # the run's own mixture: an online run records the mixture it realised
                at_target[mixture_key([record["mixture"][d] for d in problem.domains])] = record
        try:
            rec = strategy.recommend(build_table(records, problem), per_domain=False)
        except ValueError as e:  # nothing to recommend yet (e.g. DoReMi before its proxy run)
            rec, note = None, str(e)
        if rec is not None and mixture_key(rec.mixture) not in at_target:
            record = _run(backend, Trial(rec.mixture, target, trial_seed(settings.seed, iteration, 10_000)),
                          workdir / "evaluations" / f"iter_{iteration}" / "metrics.json")
            if record["checkpoints"]:
                spent += record["checkpoints"][-1]["flops"]
            if record["status"] == "ok":
                at_target[mixture_key(rec.mixture)] = record
        iteration += 1
    row: dict[str, Any] = {"strategy": label, "name": strategy_settings.name, "flops": spent,
                           "target_runs": spent / problem.cost(target), "trials": len(records),
                           "iterations": iteration, "objective": np.nan, "worst_domain": None,
                           "worst_loss": np.nan, "note": note}
    final = at_target.get(mixture_key(rec.mixture)) if rec is not None else None
    if final is not None:
        losses = _final_losses(final, problem.eval_domains)
        worst = int(np.argmax(losses))
        row |= {"objective": float(problem.objective(losses, None)) if problem.objective_kind != "worst_excess"
                else np.nan, "worst_domain": problem.eval_domains[worst], "worst_loss": float(losses[worst]),
                "note": ""}
    elif rec is not None:
        row["note"] = "its recommendation failed at the target"
    return row


def compare_strategies(settings: Settings, shard_dirs: Mapping[str, Path], out_dir: str | Path,
                       jobs: int = 1) -> pd.DataFrame:
    """Every strategy of ``settings.bench.strategies`` under ``settings.bench.budget_flops`` on
    the train back end (``jobs`` strategies at a time; their trials train in processes of their
    own); one row per strategy, columns :data:`COLUMNS`.

    Raises:
        ValueError: no ``bench.budget_flops``, or not the train back end.
    """
    if settings.backend.name != "train":
        raise ValueError("the head-to-head trains real proxies: it needs backend.name train")
    budget = settings.bench.budget_flops
    if budget is None:
        raise ValueError("config key 'bench.budget_flops': the head-to-head needs one compute budget for all")
    out_dir = Path(out_dir)
    backend = TrainingBackend(settings, shard_dirs)
    metas = {name: Path(d) / "meta.json" for name, d in shard_dirs.items()}
    items = list(settings.bench.strategies.items())
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:  # each thread waits on its trials' processes
        rows = list(pool.map(lambda item: compare_one(item[0], item[1], settings, backend, metas, out_dir,
                                                          float(budget)), items))
    return pd.DataFrame(rows, columns=COLUMNS)


def markdown_table(table: pd.DataFrame, settings: Settings, command: str) -> str:
    """The head-to-head as Markdown, with how it was produced (command, date, commit, machine)."""
    objective = settings.objective.type
    lines = [
        "# Head-to-head on the built-in domains",
        "",
        f"Produced by `{command}` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC (commit "
        f"{commit(Path(__file__).parent)}, {cpu()}, {platform.system()}); written by the command itself.",
        f"Every strategy had the same compute budget, {float(settings.bench.budget_flops):.3g} FLOPs; the",
        "target is scale "
        f"`{settings.target.scale}` trained on {settings.target.tokens} tokens; objective: {objective} validation loss.",
        "",
        "| strategy | objective at the target | worst domain (loss) | compute spent (FLOPs) | in target runs | trials |",
        "|---|---|---|---|---|---|",
    ]
    for _, r in table.sort_values("objective", na_position="last").iterrows():
        objective_cell = f"{r['objective']:.4f}" if np.isfinite(r["objective"]) else f"— ({r['note']})"
        worst = f"{r['worst_domain']} ({r['worst_loss']:.4f})" if r["worst_domain"] else "—"
        lines.append(f"| {r['strategy']} (`{r['name']}`) | {objective_cell} | {worst} | {r['flops']:.3g} | "
                     f"{r['target_runs']:.1f} | {int(r['trials'])} |")
    return "\n".join(lines) + "\n"


def write_comparison(table: pd.DataFrame, settings: Settings, csv_path: str | Path, markdown_path: str | Path,
                     command: str) -> None:
    write_text(csv_path, table.to_csv(index=False))
    write_text(markdown_path, markdown_table(table, settings, command))
    print(json.dumps(table.to_dict(orient="records"), indent=2, default=str))
