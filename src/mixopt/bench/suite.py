"""``mixopt bench``: every strategy x seed on the table back end, then the summary files.

Writes to the output folder: ``curves.csv`` (one row per strategy, seed and iteration),
``seeds.csv`` (compute to reach the best and best + epsilon, per seed), ``summary.csv`` and
``summary.txt`` (medians, quartiles, seeds that reached, speed-ups against random search),
``curves.png`` and ``bench.json`` (the settings, the table's best, the cost of one target run and,
in surrogate mode, the simulator's held-out R²).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import pickle
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mixopt.backends.table import TableBackend
from mixopt.bench.plot import plot_curves
from mixopt.bench.run import StrategySpec, reference_at_target, run_seed
from mixopt.backends.constraints import constraints_of
from mixopt.core.constraints import MixtureBox
from mixopt.strategies.registry import make_strategy
from mixopt.workflow.prior import prior_metrics
from mixopt.workflow.reference import reference_mixture
from mixopt.bench.summary import format_summary, per_seed, summarise
from mixopt.core.atomic import write_text
from mixopt.settings import Settings

SURROGATE_BUDGET_RUNS = 50
SURROGATE_SAMPLES = 50_000


def strategy_specs(settings: Settings) -> list[StrategySpec]:
    return [StrategySpec(label, s.name, dict(s.options)) for label, s in settings.bench.strategies.items()]


def applicable_specs(settings: Settings, backend: TableBackend) -> tuple[list[StrategySpec], dict[str, str]]:
    """The bench strategies that can run on ``backend`` under the settings' constraints and
    objective, and why each other one cannot (e.g. Hyperband where the target has a single
    recorded checkpoint, or a strategy without per-domain models under no_worse_than_reference)."""
    specs, refused = [], {}
    constraints = constraints_of(settings, backend.problem)
    for spec in strategy_specs(settings):
        try:
            make_strategy(spec.name, backend.problem, 0, spec.options, space=backend, constraints=constraints)
        except ValueError as e:
            refused[spec.label] = str(e)
        else:
            specs.append(spec)
    return specs, refused


@functools.lru_cache(maxsize=2)
def cached_backend(settings: bytes, base_dir: str, surrogate_path: str | None) -> TableBackend:
    """The back end of pickled ``settings``, built once per process (every seed of a worker shares it)."""
    return TableBackend.from_settings(pickle.loads(settings), base_dir, surrogate_path)


def run_one_seed(settings: bytes, base_dir: str, surrogate_path: str | None, spec: StrategySpec, seed: int,
             budget: float, stop_at: float | None) -> pd.DataFrame:
    import torch  # in the worker process only: the parent never needs it

    torch.set_num_threads(1)  # one seed per core
    config = pickle.loads(settings)
    backend = cached_backend(settings, base_dir, surrogate_path)
    return run_seed(spec, seed, backend, budget, config.budget.initial_design,
                    config.budget.trials_per_iteration, stop_at=stop_at, max_iterations=config.bench.max_iterations,
                    constraints=constraints_of(config, backend.problem),
                    prior=prior_metrics(Path(base_dir) / config.prior_runs, backend.problem) if config.prior_runs else None,
                    # only what no_worse_than_reference compares with: the bench's figures (README)
                    # were measured with no reference among the answers
                    reference=(reference_mixture(config.reference, backend.problem,
                                                 constraints=constraints_of(config, backend.problem))[0]
                               if config.constraints.no_worse_than_reference else None))


def target_objectives(backend: TableBackend, seed: int = 0, box: MixtureBox | None = None) -> np.ndarray:
    """Target objectives of every mixture the benchmark can reach (inside ``box``, the
    constraints at the target): the pool, or (surrogate mode) the table's mixtures and dense
    random mixtures, as the simulator predicts them."""
    problem = backend.problem
    target = problem.target
    reference = reference_at_target(backend)
    if backend.mode == "pool":
        pool = backend.candidates([target])
        pool = pool if box is None else pool[box.contains(pool)]
        return np.array([problem.objective(backend.losses(w, target)[1][-1], reference) for w in pool], dtype=float)
    rng = np.random.default_rng(seed)
    w = np.concatenate([backend.table.wide()[backend.table.weight_columns].to_numpy(),
                        rng.dirichlet(np.ones(problem.dim), SURROGATE_SAMPLES),
                        rng.dirichlet(np.full(problem.dim, 0.2), SURROGATE_SAMPLES)])
    w = w if box is None else w[box.contains(w)]
    losses = backend.surrogate.predict(w, backend.table.params(target.scale), backend.tokens(target))
    return np.asarray(problem.objective(losses, reference), dtype=float)


def target_box(settings: Settings, backend: TableBackend) -> MixtureBox:
    """The constraints at the target: where the benchmark's best is looked for."""
    return constraints_of(settings, backend.problem).box(backend.problem.target)


def table_best(backend: TableBackend, seed: int = 0, box: MixtureBox | None = None) -> float:
    """The lowest target objective the benchmark can reach (see :func:`target_objectives`)."""
    return float(target_objectives(backend, seed, box).min())


def run_bench(settings: Settings, out_dir: str | Path, base_dir: str | Path = ".",
              surrogate_path: str | Path | None = None, log=print) -> pd.DataFrame:
    """Run the benchmark the settings describe and write its files; returns the summary."""
    bench = settings.bench
    out_dir = Path(out_dir)
    base_dir = str(Path(base_dir).resolve())
    packed = pickle.dumps(settings)
    surrogate_path = str(surrogate_path) if surrogate_path else None
    backend = cached_backend(packed, base_dir, surrogate_path)
    problem = backend.problem
    unit = backend.cost(problem.target)
    best = table_best(backend, box=target_box(settings, backend))
    epsilon = float(bench.epsilon)
    pool_size = None if backend.mode == "surrogate" else len(backend.candidates([problem.target]))
    budget = float(bench.budget_flops or unit * (pool_size or SURROGATE_BUDGET_RUNS))
    seeds = int(bench.seeds)
    specs, refused = applicable_specs(settings, backend)
    for label, why in refused.items():
        log(f"bench: {label} cannot run here: {why}")
    log(f"bench: {backend.table.name}, {backend.mode} mode, target {problem.target.scale} "
        f"({problem.target.steps} steps, {unit:.3g} FLOPs per run), best objective {best:.6g}, "
        f"budget {budget / unit:.1f} target runs, {len(specs)} strategies x {seeds} seeds")

    # pool mode: nothing improves on the table's best, so a seed that reaches it may stop
    stop_at = best if backend.mode == "pool" else None
    jobs = [(packed, base_dir, surrogate_path, spec, seed, budget, stop_at) for spec in specs for seed in range(seeds)]
    workers = int(bench.jobs)
    parts = []

    def done(curve: pd.DataFrame) -> None:
        parts.append(curve)
        last = curve.iloc[-1]
        log(f"[{len(parts)}/{len(jobs)}] {last['strategy']} seed {last['seed']}: best {last['best_objective']:.6g} "
            f"after {last['cumulative_flops'] / unit:.1f} target runs, {int(last['iteration']) + 1} iterations")

    if workers > 1:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            for future in as_completed([pool.submit(run_one_seed, *job) for job in jobs]):
                done(future.result())
    else:
        for job in jobs:
            done(run_one_seed(*job))
    order = {spec.label: k for k, spec in enumerate(specs)}
    curves = pd.concat(parts, ignore_index=True)
    curves = curves.sort_values(["strategy", "seed", "iteration"], key=lambda c: c.map(order) if c.name == "strategy"
                                else c, kind="stable").reset_index(drop=True)
    seeds_table = per_seed(curves, best, epsilon)
    summary = summarise(seeds_table)

    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / "curves.csv", curves.to_csv(index=False))
    write_text(out_dir / "seeds.csv", seeds_table.to_csv(index=False))
    write_text(out_dir / "summary.csv", summary.to_csv(index=False))
    text = (f"compute in target runs ({unit:.4g} FLOPs each); best = {best:.6g}, epsilon = {epsilon:g}\n"
            + format_summary(summary, unit))
    write_text(out_dir / "summary.txt", text + "\n")
    meta: dict[str, Any] = {
        "table": backend.table.name, "mode": backend.mode,
        "target": {"scale": problem.target.scale, "steps": problem.target.steps, "flops_per_run": unit},
        "objective_weights": dict(zip(problem.eval_domains, problem.objective_weights.tolist())),
        "best_objective": best, "epsilon": epsilon, "budget_flops": budget, "pool_size": pool_size,
        "seeds": seeds, "max_iterations": bench.max_iterations,
        "strategies": {s.label: {"name": s.name, "options": dict(s.options)} for s in specs},
        "budget": dataclasses.asdict(settings.budget),
    }
    if backend.mode == "surrogate":
        meta["surrogate_r2_by_scale"] = backend.surrogate.r2_by_scale()
    write_text(out_dir / "bench.json", json.dumps(meta, indent=2, default=str) + "\n")
    plot_curves(curves, out_dir / "curves.png", best, unit,
                title=f"{Path(backend.table.name.split(' ')[0]).name} ({backend.mode}): target {problem.target.scale}")
    log(text)
    return summary
