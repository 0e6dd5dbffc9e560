"""The figures of the Snakemake report (``snakemake --report report.html``), one function each.

Every function takes tables and mappings already read (the observations table, the proposals,
best_mixture.yaml as a mapping, held-out predictions) and writes one PNG. A figure with nothing
to show still writes a PNG that says why in words, so the report always has all of them. The
data each figure plots is computed by a separate function (``*_table``) so it can be checked
without drawing. Back-end neutral: domains and scales come from the arguments, never assumed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from mixopt.core.plotting import pyplot as _pyplot
from mixopt.core.plotting import save_figure as _save
from mixopt.core.problem import Fidelity

#: colours of the scales, in the order they are given (the target is drawn in black)
_PALETTE = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan"]


def scale_colours(scales: Sequence[str], target_scale: str) -> dict[str, str]:
    """One colour per scale: black for the target, the palette in order for the others."""
    others = [s for s in scales if s != target_scale]
    return {s: _PALETTE[i % len(_PALETTE)] for i, s in enumerate(others)} | {target_scale: "black"}


def message_figure(path: str | Path, title: str, message: str) -> None:
    """A PNG that says, in words, why a figure has nothing to plot."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.2), dpi=120)
    ax.axis("off")
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize=11, transform=ax.transAxes)
    fig.tight_layout()
    _save(fig, path)


# -- mixture trajectories -----------------------------------------------------------------------


def plot_mixture_trajectories(proposals: pd.DataFrame, recommendation: Mapping[str, float], domains: Sequence[str],
                              scales: Sequence[str], target_scale: str, path: str | Path, title: str = "") -> None:
    """Each domain's weight across iterations: one panel per domain, one dot per proposed trial
    (coloured by the scale it was proposed at), the mean weight of each iteration as a line and
    the recommended weight as a star after the last iteration.

    ``proposals``: every iteration's proposals.csv stacked, with an ``iteration`` column;
    ``recommendation``: domain -> weight (``mixture`` of best_mixture.yaml).
    """
    plt = _pyplot()
    from matplotlib.lines import Line2D

    if proposals.empty:
        message_figure(path, title or "Mixture trajectories", "No proposals were written.")
        return
    iterations = sorted(int(i) for i in proposals["iteration"].unique())
    last = max(iterations) + 1  # where the recommendation is drawn
    colours = scale_colours(scales, target_scale)
    ncols = math.ceil(math.sqrt(len(domains)))
    nrows = math.ceil(len(domains) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.5 * ncols + 0.5, 1.9 * nrows + 1.2), dpi=110,
                             squeeze=False)
    rng = np.random.default_rng(0)
    jitter = rng.uniform(-0.15, 0.15, size=len(proposals))
    for ax, domain in zip(axes.flat, domains):
        w = proposals[f"w_{domain}"].to_numpy(dtype=float)
        ax.scatter(proposals["iteration"].to_numpy(dtype=float) + jitter, w, s=12, alpha=0.8,
                   c=[colours.get(str(s), "grey") for s in proposals["scale"]])
        means = proposals.groupby("iteration")[f"w_{domain}"].mean()
        ax.plot(means.index, means.to_numpy(), color="0.45", lw=1)
        rec = recommendation.get(domain)
        if rec is not None:
            ax.scatter([last], [rec], marker="*", s=90, color="tab:red", zorder=3)
        ax.set_title(domain, fontsize=9)
        ax.set_ylim(bottom=0, top=max(0.05, float(np.nanmax(np.append(w, rec or 0.0))) * 1.15))
        ax.set_xticks([*iterations, last], [*map(str, iterations), "rec."])
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(domains):]:
        ax.axis("off")
    fig.supxlabel("iteration (rec.: the recommended mixture)", fontsize=9, y=0.045)
    used = [s for s in colours if s in set(proposals["scale"].astype(str))]
    handles = [Line2D([], [], ls="", marker="o", color=colours[s], label=f"trial at {s}"
                      + (" (target)" if s == target_scale else "")) for s in used]
    handles += [Line2D([], [], color="0.45", label="mean of the iteration"),
                Line2D([], [], ls="", marker="*", ms=10, color="tab:red", label="recommended weight")]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.suptitle(title or "Proposed weight of each domain per iteration", fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    _save(fig, path)


# -- per-domain losses against the reference ----------------------------------------------------


def reference_losses(versus: Mapping[str, Any]) -> tuple[dict[str, float], str]:
    """The reference mixture's objective and per-domain losses at the target from the
    ``versus_reference`` block of best_mixture.yaml: ``{"objective": x, domain: x, ...}`` (the
    observed value where the reference ran at the target, else the model's prediction; the block
    holds no ``not_modelled`` domain) and a phrase saying which they are."""
    out, kinds = {}, set()
    rows = {"objective": versus.get("objective") or {}} | dict(versus.get("domains") or {})
    for name, row in rows.items():
        for key, kind in (("observed_reference", "observed"), ("reference", "predicted")):
            if row.get(key) is not None:
                out[name] = float(row[key])
                kinds.add(kind)
                break
    phrase = {frozenset({"observed"}): "observed (it ran at the target)",
              frozenset({"predicted"}): f"predicted by {versus.get('model') or 'the model'}",
              frozenset(): "none"}.get(frozenset(kinds), "observed where it ran at the target, else predicted")
    return out, phrase


def domain_loss_table(table: pd.DataFrame, target: Fidelity, reference: Mapping[str, float]) -> pd.DataFrame:
    """One row per trial at the target scale: its loss minus the reference's at the target, for
    the objective and each domain of ``reference`` (columns ``iteration, trial, status, step``,
    then ``objective`` and the domains). ``status`` is ``ok`` (a checkpoint at the target's step),
    ``failed`` (values empty), or ``shorter`` (it stopped before the target's step: values empty,
    ``step`` its last). Failed trials whose scale is unknown are kept as failed."""
    names = list(reference)
    rows = []
    at_scale = table[(table["scale"].astype(str) == target.scale) | table["scale"].isna()]
    for (iteration, trial), group in at_scale.groupby(["iteration", "trial"], sort=True):
        steps = pd.to_numeric(group["step"], errors="coerce")
        row: dict[str, Any] = {"iteration": int(iteration), "trial": int(trial)}
        if (group["status"] != "ok").any():
            row |= {"status": "failed", "step": steps.max()}
        elif not (steps == target.steps).any():
            if group["scale"].isna().all():
                continue
            row |= {"status": "shorter", "step": steps.max()}
        else:
            last = group[steps == target.steps].iloc[-1]
            row |= {"status": "ok", "step": target.steps}
            for name in names:
                column = "objective" if name == "objective" else f"loss_{name}"
                if column in last.index and pd.notna(last[column]):
                    row[name] = float(last[column]) - reference[name]
        rows.append(row)
    return pd.DataFrame(rows, columns=["iteration", "trial", "status", "step", *names])


def plot_domain_losses(differences: pd.DataFrame, target: Fidelity, reference_name: str, reference_kind: str,
                       skipped: Sequence[str], path: str | Path) -> None:
    """A heatmap of :func:`domain_loss_table`: trials x (objective, domains), loss minus the
    reference's, diverging around 0 (red: worse than the reference, blue: better). Failed and
    shorter trials are grey hatched rows that say so."""
    title = f"Trials at the target ({target.scale}, {target.steps} steps)\nminus the {reference_name} reference"
    names = [c for c in differences.columns if c not in ("iteration", "trial", "status", "step")]
    if differences.empty:
        message_figure(path, title, f"No trial ran at the target scale {target.scale},\n"
                                    "so no trial can be compared with the reference there.")
        return
    if not names:
        message_figure(path, title, "The reference has no objective or domain loss at the target\n"
                                    "(too few trials to fit a model, and it never ran there).")
        return
    plt = _pyplot()
    from matplotlib.patches import Rectangle

    values = differences[names].to_numpy(dtype=float)
    lim = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    lim = lim if lim > 0 else 1.0
    n, m = values.shape
    fig, ax = plt.subplots(figsize=(max(6.4, 2.4 + 0.62 * m), 2.4 + 0.3 * n), dpi=110)
    image = ax.imshow(values, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest")
    for r, row in enumerate(differences.itertuples(index=False)):
        if row.status != "ok":
            ax.add_patch(Rectangle((-0.5, r - 0.5), m, 1, facecolor="0.85", edgecolor="0.5", hatch="//"))
            word = (("failed" if pd.notna(row.step) else "failed before its first checkpoint")
                    if row.status == "failed" else f"stopped at step {int(row.step)}")
            ax.text((m - 1) / 2, r, word, ha="center", va="center", fontsize=8, color="0.2")
            continue
        if n * m <= 400:
            for c in range(m):
                if np.isfinite(values[r, c]):
                    ax.text(c, r, f"{values[r, c]:+.3f}", ha="center", va="center", fontsize=6.5,
                            color="white" if abs(values[r, c]) > 0.6 * lim else "black")
    labels = [f"iter {row.iteration}, trial {row.trial}" + ("" if row.status == "ok" else f" ({row.status})")
              for row in differences.itertuples(index=False)]
    ax.set_yticks(range(n), labels, fontsize=7)
    ax.set_xticks(range(m), names, rotation=45, ha="right", fontsize=8)
    bar = fig.colorbar(image, ax=ax, fraction=0.05, pad=0.02)
    bar.set_label("loss − reference loss (< 0: better)", fontsize=8)
    note = f"reference values: {reference_kind}"
    if skipped:
        note += f"\n{len(skipped)} domain(s) without a reference value not shown"
    ax.set_title(f"{title}\n{note}", fontsize=9)
    fig.tight_layout()
    _save(fig, path)


# -- learning curves ----------------------------------------------------------------------------


def plot_learning_curves(table: pd.DataFrame, scales: Sequence[str], target_scale: str, path: str | Path,
                         title: str = "") -> None:
    """Objective against optimiser step for every trial, one panel per scale (in ``scales``
    order), coloured by iteration; a failed trial's completed checkpoints are dashed red and
    trials that failed before their first checkpoint are named in the panel."""
    plt = _pyplot()
    from matplotlib.lines import Line2D

    title = title or "Learning curves: objective against step, per trial"
    present = [s for s in scales if (table["scale"].astype(str) == s).any()]
    present += sorted(set(table["scale"].dropna().astype(str)) - set(present))
    if not present:
        message_figure(path, title, "No trial has a checkpoint.")
        return
    iterations = sorted(int(i) for i in table["iteration"].dropna().unique())
    cmap = plt.get_cmap("viridis")
    colour = {it: cmap(k / max(1, len(iterations) - 1)) for k, it in enumerate(iterations)}
    fig, axes = plt.subplots(1, len(present), figsize=(max(6.4, 4.6 * len(present)), 4.4), dpi=110, squeeze=False)
    for ax, scale in zip(axes[0], present):
        rows = table[table["scale"].astype(str) == scale]
        never = []
        for (iteration, trial), group in rows.groupby(["iteration", "trial"], sort=True):
            failed = bool((group["status"] != "ok").any())
            group = group[pd.to_numeric(group["step"], errors="coerce").notna()
                          & pd.to_numeric(group["objective"], errors="coerce").notna()].sort_values("step")
            if group.empty:
                never.append(f"iter {int(iteration)} trial {int(trial)}")
                continue
            if failed:
                ax.plot(group["step"], group["objective"], ls="--", marker="x", color="tab:red", lw=1)
            else:
                ax.plot(group["step"], group["objective"], marker="o", ms=3.5, lw=1, alpha=0.85,
                        color=colour[int(iteration)])
        if rows.groupby(["iteration", "trial"])["step"].count().max() <= 1:
            ax.text(0.98, 0.98, "one checkpoint per trial:\nno curve to draw", transform=ax.transAxes,
                    fontsize=7, color="0.3", ha="right", va="top")
        if never:
            ax.text(0.02, 0.02, "failed before a checkpoint:\n" + "\n".join(never), transform=ax.transAxes,
                    fontsize=7, color="tab:red", va="bottom")
        ax.set_title(f"{scale}" + (" (target)" if scale == target_scale else ""))
        ax.set_xlabel("optimiser step")
        ax.set_xlim(left=0)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("objective (validation loss)")
    unknown = table.loc[table["scale"].isna(), ["iteration", "trial"]].drop_duplicates()
    if len(unknown):
        names = ", ".join(f"iter {int(i)} trial {int(j)}" for i, j in unknown.itertuples(index=False))
        fig.text(0.01, 0.01, f"failed before training (no scale recorded): {names}", fontsize=7, color="tab:red")
    handles = [Line2D([], [], marker="o", color=colour[it], label=f"iteration {it}") for it in iterations]
    if ((table["status"] != "ok") & pd.to_numeric(table["step"], errors="coerce").notna()).any():
        handles.append(Line2D([], [], ls="--", marker="x", color="tab:red", label="failed trial"))
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.07, 1, 0.95))
    _save(fig, path)


# -- held-out predictions -----------------------------------------------------------------------


def plot_predictions(predictions: pd.DataFrame, scores: Mapping[str, Any], scales: Sequence[str],
                     target_scale: str, path: str | Path) -> None:
    """Predicted (± 2 std) against observed objective for every held-out trial (each predicted by
    the model fitted on the iterations before its own), coloured by iteration with one marker per
    scale, with y = x and the
    scores (RMSE, share inside the 95% interval, Spearman) in the title."""
    title = "Held-out predictions: predicted vs observed objective"
    if predictions.empty:
        message_figure(path, title, "No held-out predictions: no trial of iteration >= 1\n"
                                    "could be predicted by a model fitted on the earlier iterations.")
        return
    plt = _pyplot()
    known = [*scales, *sorted(set(predictions["scale"].astype(str)) - set(scales))]
    markers = {s: m for s, m in zip([target_scale, *[s for s in known if s != target_scale]], "osD^v<>p")}
    iterations = sorted(int(i) for i in predictions["iteration"].unique())
    cmap = plt.get_cmap("viridis")
    colour = {it: cmap(k / max(1, len(iterations) - 1)) for k, it in enumerate(iterations)}
    fig, ax = plt.subplots(figsize=(6.0, 5.4), dpi=110)
    for (iteration, scale), group in predictions.groupby([predictions["iteration"].astype(int),
                                                          predictions["scale"].astype(str)]):
        ax.errorbar(group["observed"], group["predicted"], yerr=2 * group["predicted_std"], ls="", ms=5,
                    marker=markers.get(scale, "o"), capsize=2, lw=1, color=colour[iteration],
                    label=f"iteration {iteration} at {scale}" + (" (target)" if scale == target_scale else "")
                    + f": {len(group)}")
    span = np.concatenate([predictions["observed"], predictions["predicted"] - 2 * predictions["predicted_std"],
                           predictions["predicted"] + 2 * predictions["predicted_std"]]).astype(float)
    lo, hi = float(np.nanmin(span)), float(np.nanmax(span))
    pad = 0.05 * max(hi - lo, 1e-6)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.4", lw=1, ls="--", label="y = x")
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlabel("observed objective")
    ax.set_ylabel("predicted objective (± 2 std)")

    def fmt(key: str, spec: str) -> str:
        return "n/a" if scores.get(key) is None else format(scores[key], spec)

    ax.set_title(f"{title}\n{scores.get('trials', len(predictions))} trials: RMSE {fmt('rmse', '.4f')}, "
                 f"95% coverage {fmt('coverage_95', '.0%')}, Spearman {fmt('spearman', '.2f')}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)


# -- the recommendation against the reference ---------------------------------------------------


def recommendation_table(best: Mapping[str, Any]) -> pd.DataFrame:
    """The rows of the recommendation figure from best_mixture.yaml: ``name`` (objective, then
    each compared domain), ``difference`` (recommended - reference), ``std``, ``p_worse`` and
    ``kind`` (``predicted``, or ``observed`` where only the observed difference exists)."""
    versus = best.get("versus_reference") or {}
    rows = []
    for name, row in ({"objective": versus.get("objective") or {}} | (versus.get("domains") or {})).items():
        if row.get("difference") is not None:
            rows.append({"name": name, "difference": row["difference"], "std": row.get("std"),
                         "p_worse": row.get("p_worse"), "kind": "predicted"})
        elif row.get("observed_difference") is not None:
            rows.append({"name": name, "difference": row["observed_difference"], "std": None,
                         "p_worse": None, "kind": "observed"})
    return pd.DataFrame(rows, columns=["name", "difference", "std", "p_worse", "kind"])


def plot_recommendation(best: Mapping[str, Any], path: str | Path) -> None:
    """Two panels from best_mixture.yaml: the recommended mixture's weights beside the
    reference's, and recommended - reference at the target for the objective and each domain
    (bars ± 1 std, annotated with P(worse)); says so when the recommendation is the reference."""
    plt = _pyplot()
    versus = best.get("versus_reference") or {}
    reference_name = versus.get("reference") or (best.get("reference") or {}).get("name", "reference")
    target = best.get("target") or {}
    mixture = best.get("mixture") or {}
    ref_mixture = (best.get("reference") or {}).get("mixture") or {}
    rows = recommendation_table(best)
    domains = list(mixture)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, max(3.6, 1.4 + 0.26 * max(len(domains), len(rows)))),
                                      dpi=110, gridspec_kw={"width_ratios": [1, 1.3]})
    y = np.arange(len(domains))
    left.barh(y - 0.2, [mixture[d] for d in domains], height=0.4, color="tab:red", label="recommended")
    left.barh(y + 0.2, [ref_mixture.get(d, np.nan) for d in domains], height=0.4, color="0.6",
              label=f"{reference_name} reference")
    left.set_yticks(y, domains, fontsize=8)
    left.invert_yaxis()
    left.set_xlabel("weight")
    left.set_title("mixture", fontsize=10)
    left.legend(fontsize=8, loc="best", framealpha=0.9)
    left.grid(alpha=0.3, axis="x")
    if rows.empty:
        right.axis("off")
        right.text(0.5, 0.5, versus.get("note") or "no difference from the reference could be computed",
                   ha="center", va="center", wrap=True, transform=right.transAxes)
    else:
        y = np.arange(len(rows))
        diff = rows["difference"].to_numpy(dtype=float)
        std = pd.to_numeric(rows["std"], errors="coerce").to_numpy(dtype=float)
        colours = ["tab:blue" if d < 0 else "tab:red" for d in diff]
        err = np.where(np.isfinite(std), std, 0.0)
        right.barh(y, diff, xerr=err, height=0.5, color=colours, alpha=0.75,
                   capsize=3, ecolor="0.2")
        reach = float(np.nanmax(np.abs(diff) + err)) or 1.0
        for k, row in enumerate(rows.itertuples(index=False)):
            label = (f"P(worse) {row.p_worse:.2f}" if row.p_worse is not None and np.isfinite(row.p_worse)
                     else "observed, no model")
            end = diff[k] - err[k] if diff[k] < 0 else diff[k] + err[k]
            right.annotate(label, (end, k), xytext=(-4 if diff[k] < 0 else 4, 0), textcoords="offset points",
                           ha="right" if diff[k] < 0 else "left", va="center", fontsize=7.5)
        right.set_xlim(-1.6 * reach, 1.6 * reach)
        right.set_ylim(max(len(rows), 4) - 0.5, -0.5)
        right.axvline(0, color="black", lw=0.8)
        right.set_yticks(y, [f"{n} ({k})" if k == "observed" else n for n, k in zip(rows["name"], rows["kind"])],
                         fontsize=8)
        right.set_xlabel("recommended − reference loss at the target (± 1 std; < 0: better)")
        right.grid(alpha=0.3, axis="x")
    note = (f"the recommendation IS the {reference_name} reference" if versus.get("recommended_is_reference")
            else f"vs the {reference_name} reference")
    right.set_title(f"{note} ({versus.get('model') or 'observed values only'})", fontsize=9)
    objective = best.get("objective") or {}
    value = objective.get("value")
    headline = (f"{objective.get('kind', '')} objective {value:.4g}"
                + (f" ± {objective['std']:.3g}" if objective.get("std") is not None else "")
                if value is not None else "no objective")
    fig.suptitle(f"Recommendation ({best.get('strategy', '')}) at {target.get('scale', '?')}: {headline}",
                 fontsize=11)
    fig.tight_layout()
    _save(fig, path)


# -- proxy against target ranks -----------------------------------------------------------------


def plot_transfer(pairs: Mapping[str, pd.DataFrame], correlations: Mapping[str, Mapping[str, Any]],
                  target_scale: str, path: str | Path) -> None:
    """Rank at each proxy scale against rank at the target (1 = lowest objective) of the mixtures
    run to the full length at both, one panel per proxy scale with at least 2 such mixtures, with
    the Spearman correlation of best_mixture.yaml (``transfer.rank_correlation``)."""
    title = f"Do proxy rankings transfer to the target ({target_scale})?"
    shown = {s: p for s, p in pairs.items() if len(p) >= 2}
    if not shown:
        counts = ", ".join(f"{s}: {len(p)}" for s, p in pairs.items()) or "no proxy scale was trained"
        message_figure(path, title, "No proxy scale has 2 or more mixtures run to the full length\n"
                                    f"at both it and the target ({counts}),\nso there are no ranks to compare.")
        return
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(shown), figsize=(4.4 * len(shown), 4.4), dpi=110, squeeze=False)
    for ax, (scale, p) in zip(axes[0], shown.items()):
        proxy, target = p["proxy"].rank(method="average"), p["target"].rank(method="average")
        n = len(p)
        ax.plot([1, n], [1, n], color="0.5", ls="--", lw=1, label="same rank")
        ax.scatter(proxy, target, s=30, color="tab:blue", zorder=3)
        rho = (correlations.get(scale) or {}).get("spearman")
        why = (correlations.get(scale) or {}).get("reason")
        ax.set_title(f"{scale} vs {target_scale}: {n} mixtures\nSpearman "
                     + (f"{rho:.2f}" if rho is not None else f"n/a ({why or 'too few'})"), fontsize=9)
        ax.set_xlabel(f"rank at {scale} (1 = lowest objective)")
        ax.set_ylabel(f"rank at {target_scale}")
        ax.set_xlim(0.5, n + 0.5)
        ax.set_ylim(0.5, n + 0.5)
        ax.set_aspect("equal")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    _save(fig, path)



# -- domain weights during a run (DoReMi, online mixing) ----------------------------------------


def plot_domain_weights(runs: Sequence[Mapping[str, Any]], path: str | Path) -> None:
    """The weights each batch was drawn with, against the step, for every trial whose weights
    changed while it trained (metrics.json's ``domain_weights``): one panel per run, one line per
    domain, the run's average (its mixture) as a dashed line."""
    plt = _pyplot()
    runs = [r for r in runs if r.get("domain_weights")]
    if not runs:
        message_figure(path, "Domain weights during training", "No trial changed its weights while it trained.")
        return
    fig, axes = plt.subplots(len(runs), 1, figsize=(7.0, 2.6 * len(runs) + 0.6), dpi=110, squeeze=False)
    for ax, run in zip(axes[:, 0], runs):
        record = run["domain_weights"]
        used = np.asarray(record["steps"], dtype=float)
        steps = np.arange(1, len(used) + 1)
        for k, domain in enumerate(record["domains"]):
            colour = _PALETTE[k % len(_PALETTE)]
            ax.plot(steps, used[:, k], color=colour, lw=1.2, label=domain)
            ax.axhline(used[:, k].mean(), color=colour, lw=0.8, ls="--")
        ax.set_title(f"iteration {run.get('iteration')}, trial {run.get('trial')}: {record['method']} at "
                     f"{run.get('scale')}", fontsize=9)
        ax.set_ylabel("weight", fontsize=8)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=min(4, len(record["domains"])), loc="upper right")
    axes[-1, 0].set_xlabel("step (dashed: the run's average, its mixture)", fontsize=9)
    fig.suptitle("Domain weights each batch was drawn with", fontsize=11)
    fig.tight_layout()
    _save(fig, path)


# -- domain insight -----------------------------------------------------------------------------


def plot_domain_effects(best: Mapping[str, Any], path: str | Path) -> None:
    """best_mixture.yaml's ``domain_effects`` as horizontal bars: the predicted change of the
    target objective when the recommended mixture moves ``step`` of its weight to each domain,
    with ±2 std error bars (negative: more of that domain helps)."""
    plt = _pyplot()
    effects = best.get("domain_effects") or {}
    rows = {d: e for d, e in (effects.get("domains") or {}).items() if e.get("change") is not None}
    if not rows:
        message_figure(path, "Domain effects", effects.get("note") or "No model to estimate the domains' effects.")
        return
    names = list(rows)[::-1]  # largest effect on top
    change = np.array([rows[d]["change"] for d in names], dtype=float)
    std = np.array([rows[d]["std"] or 0.0 for d in names], dtype=float)
    fig, ax = plt.subplots(figsize=(6.4, 0.35 * len(names) + 1.6), dpi=110)
    colours = ["tab:green" if c + 2 * s < 0 else "tab:red" if c - 2 * s > 0 else "0.6" for c, s in zip(change, std)]
    ax.barh(names, change, xerr=2 * std, color=colours, ecolor="0.3", capsize=3)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel(f"change of the objective when {effects['step']:g} of the weight moves to the domain\n"
                  "(green: helps, red: hurts, grey: within 2 std of no effect)", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(f"Which domains matter at the recommendation ({effects.get('model')})", fontsize=10)
    fig.tight_layout()
    _save(fig, path)
