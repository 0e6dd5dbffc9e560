"""Best-so-far target objective against compute: median over seeds with a quartile band."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from mixopt.core.plotting import pyplot, save_figure


def seed_bands(curves: pd.DataFrame, grid: np.ndarray) -> dict[str, np.ndarray]:
    """Per strategy, `3 x len(grid)`: q25, median, q75 over seeds of the best objective at each
    FLOPs value of ``grid`` (a seed that stopped early keeps its last value)."""
    out = {}
    for label, group in curves.groupby("strategy", sort=False):
        values = []
        for _, curve in group.groupby("seed"):
            curve = curve.sort_values("cumulative_flops")
            idx = np.searchsorted(curve["cumulative_flops"].to_numpy(), grid, side="right") - 1
            best = curve["best_objective"].to_numpy()
            values.append(np.where(idx >= 0, best[np.clip(idx, 0, None)], np.nan))
        out[label] = np.nanquantile(np.array(values), [0.25, 0.5, 0.75], axis=0)
    return out


def draw_curves(ax, curves: pd.DataFrame, best: float, unit: float, title: str, legend_size: int = 8) -> None:
    """One panel: per strategy, the median best-so-far over seeds with its quartile band."""
    grid = np.unique(curves["cumulative_flops"].to_numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns before a seed's first point
        bands = seed_bands(curves, grid)
    for label, (lo, mid, hi) in bands.items():
        line, = ax.step(grid / unit, mid, where="post", label=label)
        ax.fill_between(grid / unit, lo, hi, step="post", alpha=0.2, color=line.get_color())
    ax.axhline(best, color="k", linestyle=":", linewidth=1, label="best in table")
    ax.set_xscale("log")
    ax.set_xlabel("cumulative compute (FLOPs, in target runs)")
    ax.set_ylabel("best target objective evaluated so far")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=legend_size)


def plot_curves(curves: pd.DataFrame, path: str | Path, best: float, unit: float, title: str) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.2, 4.6), dpi=120)
    draw_curves(ax, curves, best, unit, title)
    fig.tight_layout()
    save_figure(fig, path)


def plot_grid(panels: list[tuple[str, pd.DataFrame, float, float]], path: str | Path, columns: int = 3) -> None:
    """One panel per ``(title, curves, best, unit)``, in a grid of ``columns``."""
    plt = pyplot()
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 3.8 * rows), dpi=100, squeeze=False)
    for ax, (title, curves, best, unit) in zip(axes.flat, panels):
        draw_curves(ax, curves, best, unit, title, legend_size=6)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.tight_layout()
    save_figure(fig, path)
