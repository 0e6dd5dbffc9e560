"""``mixopt suite``: every strategy x seed on every problem of a suite, in parallel, then one table.

Per problem and strategy: the share of seeds that reach the best, best + epsilon (absolute, from
the suite) and best + relative epsilon (a share of the gap between the best and the median target
objective of the pool), each with the median [q25, q75] compute in target runs; the speed-ups
against random search (the strategy named ``random``, whatever its label), Hyperband, the best
single-proxy GP (the best of the ``each_proxy`` copies) and the best baseline picked in hindsight
(the lowest median among random, hyperband, every gp and mfms). Closing lines: per strategy, the
geometric mean over problems of the speed-up against random (to best + relative epsilon), its worst
problem against random and against the hindsight-best baseline.

A seed that never reaches a goal counts as the budget cap (every pool mixture once at the target,
or the suite's budget): a median or speed-up that rests on such a seed is a bound, printed with
``>=`` (compute) or ``<=``/``>=`` (speed-up). Each seed's curve and row are appended to
``curves.csv`` and ``seeds.csv`` as the seed ends; a rerun with the same output folder skips the
seeds already there whose problem and strategy are unchanged (a fingerprint of their settings).
Files: ``seeds.csv``, ``summary.csv``, ``curves.csv``, ``curves.png`` (one panel per problem),
``suite.json`` and ``summary.txt``.
"""

from __future__ import annotations

import dataclasses
import hashlib
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
from mixopt.core.errors import ConfigError

GOALS = ("best", "epsilon", "relative")
#: strategy names whose runs are baselines: the hindsight-best baseline is the best of them
BASELINE_NAMES = ("random", "hyperband", "gp", "mfms")


def _timed(args: tuple) -> tuple[pd.DataFrame, float]:
    t0 = time.perf_counter()
    return run_one_seed(*args), time.perf_counter() - t0


def _prepare(problem: SuiteProblem, out_dir: Path, base_dir: str) -> dict[str, Any]:
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
            "mode": backend.mode, "table": backend.table.name, "note": problem.note,
            "names": {label: s.name for label, s in settings.bench.strategies.items()}}


def fingerprint(problem: SuiteProblem, spec: Any, relative_epsilon: float, out_dir: Path | None = None) -> str:
    """What a finished seed's result depends on, hashed: the problem's settings and the strategy.
    Not the suite's other strategies, its seed count or its jobs: adding a strategy or seeds to a
    suite reruns nothing already done. Nor where ``out_dir`` (the output folder) lies: a synthetic
    problem's table is written there, and a folder moved or copied keeps its finished seeds."""
    settings = dataclasses.replace(problem.settings, bench=dataclasses.replace(
        problem.settings.bench, strategies={}, seeds=0, jobs=0))
    # the sections' plain data: Settings' own repr names its sections only, not their values
    content = json.dumps(settings.sections(*(f.name for f in dataclasses.fields(settings))), sort_keys=True,
                         default=repr)
    if out_dir is not None:
        content = content.replace(json.dumps(str(Path(out_dir).resolve()))[1:-1], "<out>")
    return hashlib.sha1(repr((content, spec, relative_epsilon)).encode()).hexdigest()[:16]


def _seed_row(curve: pd.DataFrame, facts: dict, relative: float) -> dict[str, Any]:
    """One seed's compute to each goal (``inf``: never reached), in target runs."""
    thresholds = {"best": facts["best"], "epsilon": facts["best"] + facts["epsilon"],
                  "relative": facts["best"] + relative * (facts["median"] - facts["best"])}
    curve = curve.sort_values("iteration")
    return {"strategy": curve["strategy"].iloc[0], "seed": int(curve["seed"].iloc[0]),
            **{f"runs_to_{g}": flops_to_reach(curve, t) / facts["unit"] for g, t in thresholds.items()},
            "final_best": float(curve["best_objective"].iloc[-1]),
            "runs_spent": float(curve["cumulative_flops"].iloc[-1]) / facts["unit"],
            "seconds": float(curve["seconds"].iloc[0]) if "seconds" in curve else np.nan}


def _speedup(base: float, ours: float) -> float:
    return float(base / ours) if ours > 0 else float("inf")


def _bound(base_censored: bool, ours_censored: bool) -> str:
    """How a speed-up base/ours that rests on capped seeds reads: ``<=`` when only ours is a lower
    bound, ``>=`` when only the base is, ``?`` when both are (it could go either way)."""
    return {(False, False): "", (False, True): "<=", (True, False): ">=", (True, True): "?"}[(base_censored, ours_censored)]


def _summarise(seeds: pd.DataFrame, proxy_labels: dict[str, list[str]], names: dict[str, str],
               cap: float) -> pd.DataFrame:
    """Per strategy: reached shares, medians and quartiles (a never-reaching seed counted as ``cap``
    target runs, ``censored_*`` saying a median rests on one), and speed-ups vs the baselines."""
    rows = []
    for label, group in seeds.groupby("strategy", sort=False):
        row: dict[str, Any] = {"strategy": label, "name": names.get(label, label), "seeds": len(group),
                               "seconds_per_seed": float(group["seconds"].mean())}
        for goal in GOALS:
            col = group[f"runs_to_{goal}"].astype(float)
            cap_at = max([cap, *col[np.isfinite(col)].tolist()])  # a seed can pass the cap in its last iteration
            capped = col.where(np.isfinite(col), cap_at)
            row |= {f"reached_{goal}": float(np.isfinite(col).mean()), f"median_{goal}": quantile(capped, 0.5),
                    f"q25_{goal}": quantile(capped, 0.25), f"q75_{goal}": quantile(capped, 0.75),
                    f"censored_{goal}": _median_touches_cap(col)}
        rows.append(row)
    out = pd.DataFrame(rows)
    # the best single-proxy copy of each each_proxy strategy, chosen by its median to best + relative epsilon
    for label, copies in proxy_labels.items():
        present = out[out["strategy"].isin(copies)]
        if len(present):
            pick = present.sort_values(["median_relative", "median_best"], kind="stable").iloc[0].copy()
            pick["strategy"] = f"{label} (best: {pick['strategy'].split('@')[-1]})"
            out = pd.concat([out, pick.to_frame().T], ignore_index=True)
    indexed = out.set_index("strategy")
    best_proxy = [s for s in out["strategy"] if " (best: " in s]
    baselines = {"random": out.loc[out["name"] == "random", "strategy"].tolist()[:1],
                 "hyperband": out.loc[out["name"] == "hyperband", "strategy"].tolist()[:1],
                 "proxy": best_proxy[:1]}
    candidates = out[out["name"].isin(BASELINE_NAMES) & ~out["strategy"].isin(best_proxy)]
    for goal in ("best", "relative"):
        if len(candidates):
            pick = candidates.sort_values([f"median_{goal}", f"censored_{goal}"], kind="stable").iloc[0]
            baselines["best"] = [pick["strategy"]]
        for base, label in baselines.items():
            if not label:
                out[f"vs_{base}_{goal}"], out[f"bound_{base}_{goal}"] = np.nan, ""
                continue
            b = indexed.loc[label[0]]
            out[f"vs_{base}_{goal}"] = [_speedup(float(b[f"median_{goal}"]), float(m)) for m in out[f"median_{goal}"]]
            out[f"bound_{base}_{goal}"] = [_bound(bool(b[f"censored_{goal}"]), bool(c)) for c in out[f"censored_{goal}"]]
        out[f"best_baseline_{goal}"] = baselines.get("best", [""])[0] if baselines.get("best") else ""
    return out


def _median_touches_cap(col: pd.Series) -> bool:
    """Whether the median of ``col`` (``inf`` = never reached) rests on a seed that never reached."""
    values = np.sort(col.to_numpy(dtype=float))
    pos = 0.5 * (len(values) - 1)
    return bool(not np.isfinite(values[int(np.ceil(pos))]))


def _cell(row: pd.Series, goal: str) -> str:
    m, lo, hi = (float(row[f"{k}_{goal}"]) for k in ("median", "q25", "q75"))
    mark = ">=" if row[f"censored_{goal}"] else "  "
    return f"{row[f'reached_{goal}']:4.0%} {mark}{m:5.1f} [{lo:5.1f},{hi:6.1f}]"


def _ratio(row: pd.Series, base: str, goal: str = "relative") -> str:
    x = float(row[f"vs_{base}_{goal}"])
    if np.isnan(x):
        return "     -"
    return f"{row[f'bound_{base}_{goal}']:>2}{x:4.2f}" if np.isfinite(x) else "   inf"


def format_suite(summary: pd.DataFrame, facts: dict[str, dict], skipped: dict[str, str]) -> str:
    """The suite's table: one block per problem, then the geometric means and worst problems."""
    lines = []
    head = (f"{'strategy':<22} {'to best: reached median [q25, q75]':>36} {'to best+eps':>27} "
            f"{'to best+rel.eps':>27} {'xrand':>6} {'xhb':>6} {'xproxy':>6} {'xbest':>6} {'s/seed':>7}")
    for name, block in summary.groupby("problem", sort=False):
        f = facts[name]
        best_label = block["best_baseline_relative"].iloc[0] or "-"
        lines += ["", f"== {name}: {f['table']}, {f['mode']}, target {f['target']} (scales {', '.join(f['scales'])}); "
                      f"best {f['best']:.5g}, eps {f['epsilon']:g}, rel. eps {f['relative_epsilon']:.3g}; "
                      f"compute in target runs (a seed that never reached counts as the cap, "
                      f"{f['budget'] / f['unit']:.0f}: '>='); speed-ups to best + rel. eps; xbest: vs {best_label}", head]
        for _, row in block.iterrows():
            lines.append(f"{row['strategy']:<22} {_cell(row, 'best'):>36} {_cell(row, 'epsilon'):>27} "
                         f"{_cell(row, 'relative'):>27} {_ratio(row, 'random'):>6} {_ratio(row, 'hyperband'):>6} "
                         f"{_ratio(row, 'proxy'):>6} {_ratio(row, 'best'):>6} {row['seconds_per_seed']:7.1f}")
        for label, why in f["refused"].items():
            lines.append(f"{label:<22} cannot run here: {why}")
    for name, why in skipped.items():
        lines += ["", f"== {name}: skipped ({why})"]
    lines += ["", "geometric mean over problems of the speed-up vs random (to best + rel. eps), its worst problem, "
                  "and the worst ratio to the hindsight-best baseline ('<=': rests on seeds that never reached):"]
    for label, r in geometric_means(summary).iterrows():
        lines.append(f"  {label:<22} {r['bound']:>2}{r['geomean']:5.2f}x over {int(r['problems'])} problems; worst vs random: "
                     f"{r['worst']} ({r['worst_speedup']:.2f}x, reached in {r['worst_reached']:.0%} of seeds); "
                     f"worst vs the best baseline: {r['worst_vs_best']} ({r['worst_vs_best_ratio']:.2f}x its compute)")
    return "\n".join(lines)


def geometric_means(summary: pd.DataFrame) -> pd.DataFrame:
    """Per strategy label present in every problem (each_proxy picks by their base label): the
    geometric mean of the speed-up vs random to best + relative epsilon (``bound``: ``<=`` or
    ``>=`` when some speed-ups are bounds), the worst problem against random, and the worst ratio
    of its compute to the hindsight-best baseline's."""
    s = summary.assign(label=summary["strategy"].str.replace(r" \(best: .*\)$", " (best)", regex=True))
    s = s[~s["label"].str.contains("@")]
    rows = {}
    for label, group in s.groupby("label", sort=False):
        speed = group["vs_random_relative"].astype(float).to_numpy()
        vs_best = group["vs_best_relative"].astype(float).to_numpy()
        known = np.isfinite(speed) & (speed > 0)
        worst = group.iloc[int(np.nanargmin(np.where(np.isnan(speed), np.inf, speed)))]
        hardest = group.iloc[int(np.nanargmin(np.where(np.isnan(vs_best), np.inf, vs_best)))]
        marks = set(group["bound_random_relative"].astype(str)) - {""}
        rows[label] = {"geomean": float(np.exp(np.mean(np.log(speed[known])))) if known.any() else float("nan"),
                       "bound": "" if not marks else (marks.pop() if len(marks) == 1 else "?"),
                       "problems": int(known.sum()), "worst": worst["problem"],
                       "worst_speedup": float(worst["vs_random_relative"]), "worst_reached": float(worst["reached_relative"]),
                       "worst_vs_best": hardest["problem"], "worst_vs_best_ratio": 1.0 / float(hardest["vs_best_relative"])}
    return pd.DataFrame.from_dict(rows, orient="index")


def _append_csv(path: Path, frame: pd.DataFrame) -> None:
    """Append rows to a CSV as a seed ends (the header once); the final files are rewritten whole."""
    new = not path.exists()
    with path.open("a") as f:
        frame.to_csv(f, header=new, index=False)


def _finished(out_dir: Path, prints: dict[tuple[str, str], str], seeds: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(curves of this run's seeds, ``0 .. seeds - 1``, that an earlier run of the suite finished
    and whose fingerprint is still current; curves this run leaves out and keeps: other problems
    and strategies (``--problems``, ``--quick``) and seeds past ``seeds`` (a quick run in the full
    run's folder summarises its own seeds only))."""
    path = out_dir / "curves.csv"
    if not path.exists():
        return pd.DataFrame(), pd.DataFrame()
    try:
        done = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        return pd.DataFrame(), pd.DataFrame()
    if "fingerprint" not in done or "problem" not in done:
        return pd.DataFrame(), pd.DataFrame()
    ours = pd.Series([k in prints for k in zip(done["problem"], done["strategy"])], index=done.index, dtype=bool)
    current = done["fingerprint"].isin(set(prints.values()))
    this_run = current & (done["seed"] < seeds)
    return done[this_run], done[~ours | (current & ~this_run)]


def _tables(curves: pd.DataFrame, problems: list, facts: dict[str, dict],
            relative_epsilon: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-seed table and the summary of every problem's curves, strategies in the suite
    file's order."""
    seeds, summaries = [], []
    for p in problems:
        part = curves[curves["problem"] == p.name]
        labels = list(p.settings.bench.strategies)
        part = part.assign(_o=part["strategy"].map({l: i for i, l in enumerate(labels)})).sort_values(
            ["_o", "seed", "iteration"], kind="stable").drop(columns="_o")
        f = facts[p.name]
        per_seed = pd.DataFrame([_seed_row(c, f, relative_epsilon)
                                 for _, c in part.groupby(["strategy", "seed"], sort=False)])
        seeds.append(per_seed.assign(problem=p.name))
        summaries.append(_summarise(per_seed, p.proxy_labels, f["names"], f["budget"] / f["unit"]).assign(problem=p.name))
    seeds_table = pd.concat(seeds, ignore_index=True)
    summary = pd.concat(summaries, ignore_index=True)
    first = ["problem", "strategy"]
    return (seeds_table[first + [c for c in seeds_table.columns if c not in first]],
            summary[first + [c for c in summary.columns if c not in first]])


def run_suite(suite: Suite, out_dir: str | Path, base_dir: str | Path = ".", jobs: int | None = None,
              log=print) -> pd.DataFrame:
    """Run every problem x strategy x seed of ``suite`` and write the files; returns the summary.

    Raises:
        ConfigError: when no strategy can run on any problem.
    """
    out_dir = Path(out_dir)
    base_dir = str(Path(base_dir).resolve())
    facts = {p.name: _prepare(p, out_dir, base_dir) for p in suite.problems}
    skipped = dict(suite.skipped)
    for name, f in list(facts.items()):
        if not f["specs"]:
            skipped[name] = "no strategy can run here: " + "; ".join(f"{k}: {v}" for k, v in f["refused"].items())
            del facts[name]
    problems = [p for p in suite.problems if p.name in facts]
    if not problems:
        raise ConfigError("no strategy can run on any problem of the suite: "
                          + "; ".join(f"{k}: {v}" for k, v in skipped.items()))
    for name, f in facts.items():
        f["relative_epsilon"] = suite.relative_epsilon * (f["median"] - f["best"])
        log(f"{name}: {f['table']}, target {f['target']}, best {f['best']:.5g}, median {f['median']:.5g}, "
            f"budget {f['budget'] / f['unit']:.0f} target runs")
    prints = {(p.name, spec.label): fingerprint(p, spec, suite.relative_epsilon, out_dir)
              for p in problems for spec in facts[p.name]["specs"]}
    out_dir.mkdir(parents=True, exist_ok=True)
    done, elsewhere = _finished(out_dir, prints, suite.seeds)
    finished = set(zip(done["fingerprint"], done["seed"].astype(int))) if len(done) else set()
    # what is left of an earlier run and no longer current goes: the files are rewritten from ``done``
    # (and the curves of problems this run leaves out)
    kept = pd.concat([elsewhere, done], ignore_index=True)
    write_text(out_dir / "curves.csv", kept.to_csv(index=False) if len(kept) else "")
    seeds_path = out_dir / "seeds.csv"
    rows = [_seed_row(c, facts[pn], suite.relative_epsilon) | {"problem": pn}
            for (pn, _, _), c in done.groupby(["problem", "strategy", "seed"], sort=False)] if len(done) else []
    write_text(seeds_path, pd.DataFrame(rows).to_csv(index=False) if rows else "")
    if not rows:
        seeds_path.unlink()
    if not len(kept):
        (out_dir / "curves.csv").unlink()
    work = [(p.name, spec.label, seed, (facts[p.name]["packed"], base_dir, facts[p.name]["surrogate"], spec, seed,
                                         facts[p.name]["budget"], facts[p.name]["stop_at"]))
            for p in problems for spec in facts[p.name]["specs"] for seed in range(suite.seeds)
            if (prints[(p.name, spec.label)], seed) not in finished]
    if finished:
        log(f"{len(finished)} seeds already done in {out_dir}; {len(work)} to run")
    parts: list[pd.DataFrame] = [done] if len(done) else []
    workers = int(jobs or suite.jobs)
    if work:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(_timed, args): (name, label) for name, label, _, args in work}
            for k, future in enumerate(as_completed(futures), 1):
                curve, seconds = future.result()
                name, label = futures[future]
                curve = curve.assign(problem=name, seconds=seconds, fingerprint=prints[(name, label)])
                parts.append(curve)
                _append_csv(out_dir / "curves.csv", curve)
                _append_csv(seeds_path, pd.DataFrame([_seed_row(curve, facts[name], suite.relative_epsilon)
                                                      | {"problem": name}]))
                if k % max(1, len(work) // 20) == 0 or k == len(work):
                    log(f"[{k}/{len(work)}] done")
    curves = pd.concat(parts, ignore_index=True)
    order = {p.name: i for i, p in enumerate(problems)}
    curves = curves.sort_values(["problem", "strategy", "seed", "iteration"],
                                key=lambda c: c.map(order) if c.name == "problem" else c, kind="stable")
    seeds_table, summary = _tables(curves, problems, facts, suite.relative_epsilon)
    text = format_suite(summary, facts, skipped)
    write_text(out_dir / "curves.csv", pd.concat([elsewhere, curves], ignore_index=True).to_csv(index=False))
    write_text(out_dir / "seeds.csv", seeds_table.to_csv(index=False))
    write_text(out_dir / "summary.csv", summary.to_csv(index=False))
    write_text(out_dir / "summary.txt", text + "\n")
    means = geometric_means(summary)
    meta = {"seeds": suite.seeds, "relative_epsilon": suite.relative_epsilon, "skipped": skipped,
            "problems": {n: {k: v for k, v in f.items() if k not in ("packed", "specs")} for n, f in facts.items()},
            "geometric_means": means.to_dict(orient="index")}
    write_text(out_dir / "suite.json", json.dumps(meta, indent=2, default=str) + "\n")
    plot_grid([(n, curves[curves["problem"] == n], facts[n]["best"], facts[n]["unit"]) for n in facts],
              out_dir / "curves.png")
    log(text)
    return summary
