"""From best-so-far curves to compute-to-best, medians over seeds and speed-ups against random search."""

from __future__ import annotations

import numpy as np
import pandas as pd

SEED_COLUMNS = ["strategy", "seed", "flops_to_best", "flops_to_epsilon", "final_best", "flops_spent"]


def flops_to_reach(curve: pd.DataFrame, threshold: float) -> float:
    """Cumulative FLOPs at the first iteration whose best evaluated target objective is
    ``<= threshold``; ``inf`` when the budget ran out first."""
    hit = curve[curve["best_objective"] <= threshold + 1e-12]
    return float(hit["cumulative_flops"].iloc[0]) if len(hit) else float("inf")


def per_seed(curves: pd.DataFrame, best: float, epsilon: float) -> pd.DataFrame:
    """One row per (strategy, seed): compute to reach ``best`` and ``best + epsilon``."""
    rows = []
    for (label, seed), curve in curves.groupby(["strategy", "seed"], sort=False):
        curve = curve.sort_values("iteration")
        rows.append({
            "strategy": label, "seed": int(seed),
            "flops_to_best": flops_to_reach(curve, best),
            "flops_to_epsilon": flops_to_reach(curve, best + epsilon),
            "final_best": float(curve["best_objective"].iloc[-1]),
            "flops_spent": float(curve["cumulative_flops"].iloc[-1]),
        })
    return pd.DataFrame(rows, columns=SEED_COLUMNS)


def quantile(x: pd.Series, q: float) -> float:
    """The usual interpolated quantile (for an even count the median is the mean of the middle
    two: a lower or upper pick flatters or penalises a bimodal strategy). inf (never reached)
    sorts last, so a median is finite only if more than half the seeds reached the goal."""
    values = np.sort(x.to_numpy(dtype=float))
    pos = q * (len(values) - 1)
    lo, hi = values[int(np.floor(pos))], values[int(np.ceil(pos))]
    if not np.isfinite(hi):
        return float(hi)
    return float(lo + (hi - lo) * (pos - np.floor(pos)))


def summarise(seeds: pd.DataFrame, baseline: str = "random") -> pd.DataFrame:
    """Per strategy: medians and quartiles of compute-to-best and -to-epsilon over seeds, how many
    seeds reached each, and the speed-up ``median(baseline) / median(strategy)``."""
    rows = []
    for label, group in seeds.groupby("strategy", sort=False):
        row = {"strategy": label, "seeds": len(group)}
        for goal in ("best", "epsilon"):
            col = group[f"flops_to_{goal}"]
            row |= {
                f"reached_{goal}": int(np.isfinite(col).sum()),
                f"median_flops_to_{goal}": quantile(col, 0.5),
                f"q25_flops_to_{goal}": quantile(col, 0.25),
                f"q75_flops_to_{goal}": quantile(col, 0.75),
            }
        row["median_final_best"] = float(group["final_best"].median())
        rows.append(row)
    out = pd.DataFrame(rows)
    if baseline in set(out["strategy"]):
        base = out.set_index("strategy").loc[baseline]
        for goal in ("best", "epsilon"):
            ours = out[f"median_flops_to_{goal}"].to_numpy()
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = base[f"median_flops_to_{goal}"] / ours
            # inf / inf says nothing: neither reached the goal in most seeds
            out[f"speedup_{goal}_vs_{baseline}"] = np.where(np.isfinite(ours) | np.isfinite(base[f"median_flops_to_{goal}"]),
                                                            ratio, np.nan)
    return out


def format_summary(summary: pd.DataFrame, unit: float) -> str:
    """A plain-text table of the summary with FLOPs in units of ``unit`` (one target run)."""
    lines = [f"{'strategy':<16} {'reached':>8} {'to best (median [q25, q75])':>32} {'speed-up':>9}"
             f" {'reached':>8} {'to eps (median [q25, q75])':>32} {'speed-up':>9}"]
    def cell(row, goal):
        m, lo, hi = (row[f"{k}_flops_to_{goal}"] / unit for k in ("median", "q25", "q75"))
        return f"{m:8.1f} [{lo:7.1f}, {hi:7.1f}]"
    for _, row in summary.iterrows():
        parts = [f"{row['strategy']:<16}"]
        for goal in ("best", "epsilon"):
            speed = row.get(f"speedup_{goal}_vs_random", np.nan)
            parts += [f"{row[f'reached_{goal}']:>4}/{row['seeds']:<3}", f"{cell(row, goal):>32}",
                      f"{speed:8.2f}x" if np.isfinite(speed) else f"{'-':>9}"]
        lines.append(" ".join(parts))
    return "\n".join(lines)
