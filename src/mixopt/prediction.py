"""Predict larger runs from smaller ones, and score the predictions.

A predictor (any :class:`mixopt.laws.Law`: a fitted law, RegMix's regression, the GP) is fitted on
every checkpoint of the runs at the small scales of a run table, then asked for the final loss of
each run at the larger scales, which it never saw. Scores per predictor, scale and domain (and the
objective): mean relative error and Spearman rank correlation across mixtures.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from mixopt.core.atomic import atomic_open
from mixopt.core.plotting import pyplot
from mixopt.laws import Law, LawFitError, Runs, make_law
from mixopt.tables.runtable import RunTable, RunTableError


#: predictor name -> (law name, options); ``gp+<law>`` is the GP on that law's residual.
PREDICTORS: dict[str, tuple[str, dict]] = {
    "dml": ("dml", {}),
    "bimix": ("bimix", {}),
    "scaling_law": ("scaling_law", {"form": "additive"}),
    "scaling_law_joint": ("scaling_law", {"form": "joint"}),
    "regmix": ("regmix", {"model": "lightgbm"}),
    "regmix_linear": ("regmix", {"model": "linear"}),
    "gp": ("gp", {}),
    "gp+dml": ("gp", {"prior": "dml"}),
    "gp+scaling_law": ("gp", {"prior": "scaling_law"}),
}


def make_predictors(names: list[str], seed: int = 0, size_exponent: float | None = None) -> dict[str, Callable[[], Law]]:
    """Predictor names -> factories of fresh, unfitted laws; ValueError naming an unknown name.
    ``size_exponent`` is given to the laws that extrapolate in model size through a power law."""
    from mixopt.laws.gp import GPLaw  # BoTorch takes seconds to import: only a GP predictor needs it

    unknown = [n for n in names if n not in PREDICTORS]
    if unknown:
        raise ValueError(f"unknown predictor(s) {unknown}; known: {list(PREDICTORS)}")

    def factory(name: str) -> Callable[[], Law]:
        law, options = PREDICTORS[name]
        if law == "gp":
            prior = options.get("prior")
            return lambda: GPLaw(prior=None if prior is None else factory(prior)(), seed=seed)
        if law == "regmix":
            return lambda: make_law(law, seed=seed, **options)
        return lambda: make_law(law, size_exponent=size_exponent, **options)

    return {name: factory(name) for name in names}


def runs_from_table(table: RunTable, scales: list[str], final_only: bool = False) -> Runs:
    """Checkpoints of the table's runs at ``scales`` (every checkpoint, or each run's full run)."""
    frames = []
    for scale in scales:
        wide = table.wide(scale)
        if final_only:
            wide = wide[wide["step"] == table.full_steps(scale)]
        frames.append(wide)
    data = pd.concat(frames, ignore_index=True)
    if data.empty:
        raise RunTableError(f"run table {table.name}: no complete checkpoint at scale(s) {scales}")
    return Runs(
        mixtures=data[table.weight_columns].to_numpy(dtype=float),
        params=data["params"].to_numpy(dtype=float),
        tokens=data["tokens"].to_numpy(dtype=float),
        losses=data[table.loss_columns].to_numpy(dtype=float),
        run=data["run_id"].to_numpy(),
        domains=table.mixture_domains,
        eval_domains=table.eval_domains,
    )


def split_scales(table: RunTable, fit_up_to: str, predict: list[str] | None = None) -> tuple[list[str], list[str]]:
    """Scales to fit on (``fit_up_to`` and every smaller one) and to predict (default: every
    larger one); raises RunTableError naming a scale the table lacks or a split that is empty."""
    scales = table.scales()
    for name in [fit_up_to, *(predict or [])]:
        if name not in scales:
            raise RunTableError(f"run table {table.name}: no scale {name!r}; scales are {scales}")
    cut = table.params(fit_up_to)
    fit = [s for s in scales if table.params(s) <= cut]
    test = predict or [s for s in scales if table.params(s) > cut]
    if not test:
        raise RunTableError(f"run table {table.name}: no scale larger than {fit_up_to!r} to predict")
    overlap = sorted(set(fit) & set(test))
    if overlap:
        raise RunTableError(f"scale(s) {overlap} are both fitted on and predicted")
    return fit, test


def predictions_frame(law: Law, label: str, test: Runs, objective_weights: np.ndarray) -> pd.DataFrame:
    """Observed and predicted loss of every test run, per evaluation domain and for the objective
    (long format: ``predictor, run_id, params, tokens, domain, observed, predicted, caveat``;
    ``caveat``: why the law's prediction leaves what its fitted runs support, else empty)."""
    predicted = law.predict(test.mixtures, test.params, test.tokens)
    observed = test.losses
    names = [*test.eval_domains, "objective"]
    observed = np.column_stack([observed, observed @ objective_weights])
    predicted = np.column_stack([predicted, predicted @ objective_weights])
    n, e = observed.shape
    return pd.DataFrame({
        "predictor": label,
        "run_id": np.repeat(test.run, e),
        "params": np.repeat(test.params, e),
        "tokens": np.repeat(test.tokens, e),
        "domain": np.tile(names, n),
        "observed": observed.reshape(-1),
        "predicted": predicted.reshape(-1),
        "caveat": law.unsupported(test.params) or "",
    })


def score(predictions: pd.DataFrame, scale_of: Mapping[float, str]) -> pd.DataFrame:
    """Per predictor, scale and domain: ``mre`` (mean |predicted / observed - 1|), ``spearman``
    (rank correlation across the scale's mixtures; NaN with fewer than 3), ``n`` and ``supported``
    (False where the predictor said its prediction leaves what its data support)."""
    rows = []
    frame = predictions.assign(scale=predictions["params"].map(scale_of))
    if "caveat" not in frame:
        frame = frame.assign(caveat="")
    for (label, scale, domain), g in frame.groupby(["predictor", "scale", "domain"], sort=False):
        relative = np.abs(g["predicted"] / g["observed"] - 1)
        rho = spearmanr(g["observed"], g["predicted"]).statistic if len(g) >= 3 else np.nan
        rows.append({"predictor": label, "scale": scale, "domain": domain, "n": len(g),
                     "mre": float(relative.mean()), "spearman": float(rho),
                     "supported": not g["caveat"].fillna("").astype(bool).any()})
    return pd.DataFrame(rows)


def evaluate(predictors: Mapping[str, Callable[[], Law]], fit_runs: Runs, test_runs: Runs,
             objective_weights: np.ndarray, log: Callable[[str], None] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit each predictor on ``fit_runs`` and predict ``test_runs``.

    Returns (predictions, failures): a predictor whose law cannot be identified from the data is
    recorded in ``failures`` (``predictor, error``) and left out of the predictions, never dropped
    silently.
    """
    frames, failures = [], []
    for label, make in predictors.items():
        start = time.perf_counter()
        try:
            law = make().fit(fit_runs)
            frames.append(predictions_frame(law, label, test_runs, objective_weights))
            outcome = "fitted"
        except LawFitError as e:
            failures.append({"predictor": label, "error": str(e)})
            outcome = "not identifiable"
        if log:
            log(f"{label}: {outcome} in {time.perf_counter() - start:.1f} s")
    predictions = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return predictions, pd.DataFrame(failures, columns=["predictor", "error"])


def format_scores(scores: pd.DataFrame) -> str:
    """The objective's MRE and Spearman per predictor and scale, plus the worst domain's MRE; a
    row outside what its predictor's data support is marked ``(unsupported)``."""
    lines = [f"{'predictor':<20} {'scale':>6} {'n':>4} {'MRE objective':>14} {'Spearman':>9} "
             f"{'MRE domains (mean)':>19} {'worst domain (MRE)':>28}"]
    for (label, scale), g in scores.groupby(["predictor", "scale"], sort=False):
        obj = g[g["domain"] == "objective"].iloc[0]
        domains = g[g["domain"] != "objective"]
        worst = domains.loc[domains["mre"].idxmax()]
        lines.append(f"{label:<20} {scale:>6} {int(obj['n']):>4} {100 * obj['mre']:>13.2f}% {obj['spearman']:>9.3f} "
                     f"{100 * domains['mre'].mean():>18.2f}% {worst['domain'][:19]:>19} ({100 * worst['mre']:.1f}%)"
                     + ("" if obj.get("supported", True) else "  (unsupported)"))
    return "\n".join(lines)


def plot(predictions: pd.DataFrame, scale_of: Mapping[float, str], path: str | Path) -> None:
    """Predicted vs observed objective, one panel per predictor, colour by scale."""
    plt = pyplot()
    obj = predictions[predictions["domain"] == "objective"].assign(scale=lambda f: f["params"].map(scale_of))
    labels = list(dict.fromkeys(obj["predictor"]))
    cols = min(4, len(labels))
    rows = -(-len(labels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.2 * rows), squeeze=False)
    lo, hi = obj[["observed", "predicted"]].min().min(), obj[["observed", "predicted"]].max().max()
    for ax, label in zip(axes.flat, labels):
        for scale, g in obj[obj["predictor"] == label].groupby("scale", sort=False):
            ax.scatter(g["observed"], g["predicted"], s=10, label=scale)
        ax.plot([lo, hi], [lo, hi], color="grey", linewidth=0.8)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("observed objective")
        ax.set_ylabel("predicted")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(labels):]:
        ax.axis("off")
    fig.tight_layout()
    with atomic_open(Path(path), "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)
