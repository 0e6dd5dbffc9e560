"""Predicted vs observed, scored honestly: each trial predicted by the model fitted on the
iterations *before* its own, so a model is never scored on data it was fitted to."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from mixopt.core.observations import mixtures, successful_checkpoints
from mixopt.core.problem import Fidelity, Problem
from mixopt.strategies.gp_model import GPModelStrategy

COLUMNS = ["iteration", "trial", "scale", "step", "observed", "predicted", "predicted_std", "model"]


def held_out_predictions(table: pd.DataFrame, problem: Problem,
                         model_for: Callable[[pd.DataFrame], GPModelStrategy]) -> pd.DataFrame:
    """One row per successful trial of iteration >= 1 that the model could predict: its last
    checkpoint's observed objective and the prediction (mean, std, observation noise included) of
    ``model_for(earlier)``, fitted on the iterations before the trial's (columns :data:`COLUMNS`)."""
    finals = successful_checkpoints(table)
    finals = finals[pd.to_numeric(finals["objective"], errors="coerce").notna()]
    finals = finals.loc[finals.groupby(["iteration", "trial"])["step"].idxmax()]
    rows = []
    for iteration in sorted(finals["iteration"].unique()):
        earlier = table[table["iteration"] < iteration]
        if iteration == 0 or successful_checkpoints(earlier).empty:
            continue
        model = model_for(earlier)
        now = finals[finals["iteration"] == iteration]
        for (scale, step), group in now.groupby(["scale", "step"]):
            prediction = model.objective_at(earlier, mixtures(group, problem), Fidelity(str(scale), int(step)))
            if prediction is None:
                continue
            for (_, row), mean, std in zip(group.iterrows(), *prediction):
                rows.append([int(row["iteration"]), int(row["trial"]), str(scale), int(step), float(row["objective"]),
                             float(mean), float(std), model.name])
    return pd.DataFrame(rows, columns=COLUMNS)


def prediction_scores(predictions: pd.DataFrame) -> dict[str, float | int | None]:
    """How good the held-out predictions were: count, RMSE, the share of observations inside the
    central 95% predictive interval, and the rank correlation of predicted and observed."""
    if predictions.empty:
        return {"trials": 0, "rmse": None, "coverage_95": None, "spearman": None}
    from scipy.stats import spearmanr

    err = predictions["observed"] - predictions["predicted"]
    inside = err.abs() <= 1.96 * predictions["predicted_std"]
    rho = spearmanr(predictions["predicted"], predictions["observed"]).statistic if len(predictions) >= 3 else np.nan
    return {"trials": int(len(predictions)), "rmse": float(np.sqrt((err ** 2).mean())),
            "coverage_95": float(inside.mean()), "spearman": None if not np.isfinite(rho) else float(rho)}
