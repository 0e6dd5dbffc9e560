"""``mixopt suite``: every strategy x seed on every problem of a suite, in parallel, then one table.

Per problem and strategy: the share of seeds that reach the best, best + epsilon (absolute, from
the suite) and best + relative epsilon (a share of the gap between the best and the median target
objective of the pool), each with the median [q25, q75] compute in target runs; the speed-ups
against random search, Hyperband and the best single-proxy GP (the best of the ``each_proxy``
copies, picked in hindsight). Closing lines: per strategy, the geometric mean over problems of the
speed-up against random (to best + relative epsilon) and its worst problem.

A seed that never reaches a goal counts as ``inf``: a median is finite only when more than half
the seeds reached it, and a strategy whose median is ``inf`` has speed-up 0 there (so its
geometric mean is 0: it failed a problem). Files: ``seeds.csv``, ``summary.csv``, ``curves.csv``,
``curves.png`` (one panel per problem), ``suite.json`` and ``summary.txt``.
"""

from __future__ import annotations

import json
import pickle
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mixopt.backends.table import fit_simulator
from mixopt.bench.plot import plot_grid
from mixopt.bench.problems import Suite, SuiteProblem
from mixopt.bench.suite import (SURROGATE_BUDGET_RUNS, applicable_specs, cached_backend, run_one_seed, target_box,
                                target_objectives)
from mixopt.bench.summary import flops_to_reach, quantile
from mixopt.core.atomic import write_text

GOALS = ("best", "epsilon", "relative")
BASELINES = ("random", "hyperband")


def _timed(args: tuple) -> tuple[pd.DataFrame, float]:
    t0 = time.perf_counter()
    return run_one_seed(*args), time.perf_counter() - t0


def _prepare(problem: SuiteProblem, out_dir: Path, base_dir: str, log) -> dict[str, Any]:
    """The problem's back end facts the summary needs, and its jobs' shared arguments."""
    settings = problem.settings
    surrogate = None
    if settings.backend.mode == "surrogate":
        surrogate = str(out_dir / "simulators" / f"{problem.name}.pt")
        fit_simulator(settings, surrogate, base_dir=base_dir)
    packed = pickle.dumps(settings)
    backend = cached_backend(packed, base_dir, surrogate)
    objectives = target_objectives(backend, box=target_box(settings, backend))
    best, median = float(objectives.min()), float(np.median(objectives))
    unit = backend.cost(backend.problem.target)
    pool = None if backend.mode == "surrogate" else len(objectives)
    specs, refused = applicable_specs(problem.settings, backend)
    return {"specs": specs, "refused": refused, "packed": packed, "surrogate": surrogate, "best": best, "median": median, "unit": unit, "pool": pool,
            "budget": float(settings.bench.budget_flops or unit * (pool or SURROGATE_BUDGET_RUNS)),
            "stop_at": best if backend.mode == "pool" else None, "epsilon": float(settings.bench.epsilon),
            "target": backend.problem.target.scale, "scales": list(backend.problem.full_steps),
            "mode": backend.mode, "table": backend.table.name, "note": problem.note}


def _per_seed(curves: pd.DataFrame, facts: dict, relative: float) -> pd.DataFrame:
    thresholds = {"best": facts["best"], "epsilon": facts["best"] + facts["epsilon"],
                  "relative": facts["best"] + relative * (facts["median"] - facts["best"])}
    rows = []
    for (label, seed), curve in curves.groupby(["strategy", "seed"], sort=False):
        curve = curve.sort_values("iteration")
        rows.append({"strategy": label, "seed": int(seed),
                     **{f"runs_to_{g}": flops_to_reach(curve, t) / facts["unit"] for g, t in thresholds.items()},
                     "final_best": float(curve["best_objective"].iloc[-1]),
                     "runs_spent": float(curve["cumulative_flops"].iloc[-1]) / facts["unit"],
                     "seconds": float(curve["seconds"].iloc[0]) if "seconds" in curve else np.nan})
    return pd.DataFrame(rows)


def _speedup(base: float, ours: float) -> float:
    """``base / ours`` with the suite's rule for goals not reached in most seeds (see the module)."""
    if not np.isfinite(ours):
        return 0.0
    return float(base / ours) if np.isfinite(base) else float("inf")


def _summarise(seeds: pd.DataFrame, proxy_labels: dict[str, list[str]]) -> pd.DataFrame:
    rows = []
    for label, group in seeds.groupby("strategy", sort=False):
        row: dict[str, Any] = {"strategy": label, "seeds": len(group), "seconds_per_seed": float(group["seconds"].mean())}
        for goal in GOALS:
            col = group[f"runs_to_{goal}"]
            row |= {f"reached_{goal}": float(np.isfinite(col).mean()), f"median_{goal}": quantile(col, 0.5),
                    f"q25_{goal}": quantile(col, 0.25), f"q75_{goal}": quantile(col, 0.75)}
        rows.append(row)
    out = pd.DataFrame(rows)
    # the best single-proxy copy of each each_proxy strategy, chosen by its median to best + relative epsilon
    for label, copies in proxy_labels.items():
        present = out[out["strategy"].isin(copies)]
        if len(present):
            pick = present.sort_values(["median_relative", "median_best"], kind="stable").iloc[0].copy()
            pick["strategy"] = f"{label} (best: {pick['strategy'].split('@')[-1]})"
            out = pd.concat([out, pick.to_frame().T], ignore_index=True)
    best_proxy = [s for s in out["strategy"] if " (best: " in s]
    for goal in ("best", "relative"):
        medians = out.set_index("strategy")[f"median_{goal}"].astype(float)
        for base in BASELINES:
            out[f"vs_{base}_{goal}"] = ([_speedup(medians[base], m) for m in medians] if base in medians
                                        else np.nan)
        out[f"vs_proxy_{goal}"] = ([_speedup(medians[best_proxy[0]], m) for m in medians] if best_proxy else np.nan)
    return out


def _cell(row: pd.Series, goal: str) -> str:
    m, lo, hi = (float(row[f"{k}_{goal}"]) for k in ("median", "q25", "q75"))
    return f"{row[f'reached_{goal}']:4.0%} {m:6.1f} [{lo:5.1f},{hi:6.1f}]"


def _ratio(x: Any) -> str:
    x = float(x)
    return "    -" if not np.isfinite(x) and np.isnan(x) else ("  inf" if np.isinf(x) else f"{x:5.2f}")


def format_suite(summary: pd.DataFrame, facts: dict[str, dict], skipped: dict[str, str]) -> str:
    """The suite's table: one block per problem, then the geometric means and worst problems."""
    lines = []
    head = (f"{'strategy':<22} {'to best: reached median [q25, q75]':>36} {'to best+eps':>26} "
            f"{'to best+rel.eps':>26} {'xrand':>6} {'xhb':>6} {'xproxy':>6}")
    for name, block in summary.groupby("problem", sort=False):
        f = facts[name]
        lines += ["", f"== {name}: {f['table']}, {f['mode']}, target {f['target']} (scales {', '.join(f['scales'])}); "
                      f"best {f['best']:.5g}, eps {f['epsilon']:g}, rel. eps {f['relative_epsilon']:.3g}; "
                      f"compute in target runs; speed-ups to best + rel. eps", head]
        for _, row in block.iterrows():
            lines.append(f"{row['strategy']:<22} {_cell(row, 'best'):>36} {_cell(row, 'epsilon'):>26} "
                         f"{_cell(row, 'relative'):>26} {_ratio(row['vs_random_relative']):>6} "
                         f"{_ratio(row['vs_hyperband_relative']):>6} {_ratio(row['vs_proxy_relative']):>6}")
        for label, why in f["refused"].items():
            lines.append(f"{label:<22} cannot run here: {why}")
    for name, why in skipped.items():
        lines += ["", f"== {name}: skipped ({why})"]
    lines += ["", "geometric mean over problems of the speed-up vs random (to best + rel. eps), and the worst problem:"]
    for label, rows in geometric_means(summary).iterrows():
        lines.append(f"  {label:<22} {rows['geomean']:6.2f}x over {int(rows['problems'])} problems; worst: "
                     f"{rows['worst']} ({rows['worst_speedup']:.2f}x, reached in {rows['worst_reached']:.0%} of seeds)")
    return "\n".join(lines)


def geometric_means(summary: pd.DataFrame) -> pd.DataFrame:
    """Per strategy label present in every problem (each_proxy picks by their base label): the
    geometric mean of the speed-up vs random to best + relative epsilon, and the worst problem."""
    s = summary.assign(label=summary["strategy"].str.replace(r" \(best: .*\)$", " (best)", regex=True))
    s = s[~s["label"].str.contains("@")]
    rows = {}
    for label, group in s.groupby("label", sort=False):
        speed = group["vs_random_relative"].astype(float).to_numpy()
        worst = group.iloc[int(np.nanargmin(speed))] if np.isfinite(speed).any() else group.iloc[0]
        finite = np.clip(speed, 1e-12, None)
        rows[label] = {"geomean": float(np.exp(np.mean(np.log(finite)))) if (speed > 0).all() else 0.0,
                       "problems": len(group), "worst": worst["problem"], "worst_speedup": float(worst["vs_random_relative"]),
                       "worst_reached": float(worst["reached_relative"])}
    return pd.DataFrame.from_dict(rows, orient="index")


def run_suite(suite: Suite, out_dir: str | Path, base_dir: str | Path = ".", jobs: int | None = None,
              log=print) -> pd.DataFrame:
    """Run every problem x strategy x seed of ``suite`` and write the files; returns the summary."""
    out_dir = Path(out_dir)
    base_dir = str(Path(base_dir).resolve())
    facts = {p.name: _prepare(p, out_dir, base_dir, log) for p in suite.problems}
    for name, f in facts.items():
        f["relative_epsilon"] = suite.relative_epsilon * (f["median"] - f["best"])
        log(f"{name}: {f['table']}, target {f['target']}, best {f['best']:.5g}, median {f['median']:.5g}, "
            f"budget {f['budget'] / f['unit']:.0f} target runs")
    work = [(p.name, (facts[p.name]["packed"], base_dir, facts[p.name]["surrogate"], spec, seed,
                      facts[p.name]["budget"], facts[p.name]["stop_at"]))
            for p in suite.problems for spec in facts[p.name]["specs"] for seed in range(suite.seeds)]
    parts: list[pd.DataFrame] = []
    workers = int(jobs or suite.jobs)
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(_timed, args): name for name, args in work}
        for k, future in enumerate(as_completed(futures), 1):
            curve, seconds = future.result()
            parts.append(curve.assign(problem=futures[future], seconds=seconds))
            if k % max(1, len(work) // 20) == 0 or k == len(work):
                log(f"[{k}/{len(work)}] done")
    curves = pd.concat(parts, ignore_index=True)
    order = {p.name: i for i, p in enumerate(suite.problems)}
    curves = curves.sort_values(["problem", "strategy", "seed", "iteration"],
                                key=lambda c: c.map(order) if c.name == "problem" else c, kind="stable")
    seeds, summaries = [], []
    for p in suite.problems:
        part = curves[curves["problem"] == p.name]
        labels = list(p.settings.bench.strategies)
        part = part.assign(_o=part["strategy"].map({l: i for i, l in enumerate(labels)})).sort_values(
            ["_o", "seed", "iteration"], kind="stable").drop(columns="_o")
        per_seed = _per_seed(part, facts[p.name], suite.relative_epsilon)
        seeds.append(per_seed.assign(problem=p.name))
        summaries.append(_summarise(per_seed, p.proxy_labels).assign(problem=p.name))
    seeds_table = pd.concat(seeds, ignore_index=True)
    summary = pd.concat(summaries, ignore_index=True)
    first = ["problem", "strategy"]
    seeds_table = seeds_table[first + [c for c in seeds_table.columns if c not in first]]
    summary = summary[first + [c for c in summary.columns if c not in first]]
    text = format_suite(summary, facts, suite.skipped)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / "curves.csv", curves.to_csv(index=False))
    write_text(out_dir / "seeds.csv", seeds_table.to_csv(index=False))
    write_text(out_dir / "summary.csv", summary.to_csv(index=False))
    write_text(out_dir / "summary.txt", text + "\n")
    means = geometric_means(summary)
    meta = {"seeds": suite.seeds, "relative_epsilon": suite.relative_epsilon, "skipped": suite.skipped,
            "problems": {n: {k: v for k, v in f.items() if k not in ("packed", "specs")} for n, f in facts.items()},
            "geometric_means": means.to_dict(orient="index")}
    write_text(out_dir / "suite.json", json.dumps(meta, indent=2, default=str) + "\n")
    plot_grid([(n, curves[curves["problem"] == n], facts[n]["best"], facts[n]["unit"]) for n in facts],
              out_dir / "curves.png")
    log(text)
    return summary
