"""`snakemake --report report.html` after a small run on the RegMix table: every figure of the loop
is in the HTML with its caption.

The run: `multiscale` over the recorded 1M and 60M runs. Iteration 0 is a design at 1M; before
iteration 1 runs, a person edits it into three of iteration 0's mixtures at the 60M target (so
proxy and target ranks can be compared) and one invalid mixture (a failed trial at the target);
iteration 2 is the strategy's own.
"""

from __future__ import annotations

import base64
import html
import re

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO

#: the report's figures: file -> a phrase of its caption
FIGURES = {
    "convergence.png": "Best objective found so far",
    "mixture_trajectories.png": "One panel per training domain",
    "learning_curves.png": "against the optimiser step for every trial",
    "predictions.png": "fitted only on the iterations before it",
    "recommendation.png": "recommended minus reference loss at the target",
    "domain_losses.png": "Every trial run at the",
    "transfer.png": "their rank at the proxy",
    "domain_effects.png": "Which domains matter at the recommended mixture",
}


@pytest.fixture(scope="module")
def run(report_run):
    return report_run  # conftest.py: shared with the fault matrix (tests/test_faults.py)


@pytest.mark.slow
def test_the_run_has_proxy_target_and_failed_trials(run):
    obs = pd.read_csv(run / "results/observations.csv")
    trials = obs.groupby(["iteration", "trial"]).first()
    assert set(trials["scale"].dropna()) == {"1M", "60M"}
    failed = trials[trials["status"] == "failed"]
    assert len(failed) == 1 and failed.index[0] == (1, 3)
    best = yaml.safe_load((run / "results/best_mixture.yaml").read_text())
    assert best["transfer"]["rank_correlation"]["1M"]["mixtures"] >= 3
    assert best["transfer"]["rank_correlation"]["1M"]["spearman"] is not None
    predictions = pd.read_csv(run / "results/summary/predictions.csv")
    assert len(predictions) >= 6 and set(predictions["iteration"]) == {1, 2}
    assert {"observed", "predicted", "predicted_std", "model"} <= set(predictions.columns)


@pytest.mark.slow
def test_every_figure_is_written(run):
    for name in FIGURES:
        png = run / "results/summary" / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert png.stat().st_size > 20_000, name


@pytest.mark.slow
def test_the_report_embeds_every_figure_with_its_caption(run):
    page = (run / "report.html").read_text()
    assert len(page) > 1_000_000  # the report's scripts and the embedded results
    text = html.unescape(re.sub(r"\s+", " ", page.replace("\\n", " ")))
    for name, caption in FIGURES.items():
        data = base64.b64encode((run / "results/summary" / name).read_bytes()).decode()
        assert data in page, f"{name} is not embedded"
        assert f"results/summary/{name}" in page, name
        assert caption in text, f"caption of {name}"
    assert base64.b64encode((run / "results/best_mixture.yaml").read_bytes()).decode() in page
    assert "searches for the pretraining data mixture" in text  # report/workflow.rst
    for category in ("Search", "Model", "Recommendation"):
        assert f'"{category}"' in page


def test_figures_of_a_trained_run_with_failures(tmp_path):
    """The train back end's table (several checkpoints, domains evaluated as trained) with a failed
    trial, a shorter run at the target and a reference that ran there; no held-out predictions and
    no proxy mixture run at the target: every figure is still written and says what it lacks."""
    from mixopt.core.problem import Fidelity
    from mixopt.workflow import figures

    domains, target = ["code", "docs", "prose"], Fidelity("tiny", 40)
    rows = []

    def trial(iteration, j, scale, status, steps, w, base):
        for k, step in enumerate(steps):
            losses = {f"loss_{d}": base + i * 0.1 + 1.0 / (k + 1) for i, d in enumerate(domains)}
            rows.append({"iteration": iteration, "trial": j, "status": status, "scale": scale, "step": step,
                         "flops": 1e9 * step, **{f"w_{d}": x for d, x in zip(domains, w)}, **losses,
                         "objective": float(np.mean(list(losses.values())))})

    trial(0, 0, "micro", "ok", [5, 10, 15, 20], [0.2, 0.3, 0.5], 3.0)
    trial(0, 1, "tiny", "ok", [10, 20, 30, 40], [1 / 3, 1 / 3, 1 / 3], 2.0)  # the reference itself
    trial(1, 0, "tiny", "ok", [10, 20, 30, 40], [0.6, 0.2, 0.2], 1.9)
    trial(1, 1, "tiny", "failed", [10, 20], [0.1, 0.1, 0.8], 2.5)  # died after two checkpoints
    trial(1, 2, "tiny", "ok", [10, 20], [0.3, 0.3, 0.4], 2.2)  # a shorter run at the target
    rows.append({"iteration": 1, "trial": 3, "status": "failed", "scale": None, "step": np.nan})
    table = pd.DataFrame(rows)
    reference = {"objective": 2.0 + 0.1 + 0.25}
    versus = {"reference": "uniform", "recommended_is_reference": True, "model": "GP at the target",
              "objective": {"reference": 2.3, "difference": 0.0, "std": 0.0, "p_worse": 0.5,
                            "observed_reference": reference["objective"], "observed_difference": 0.0},
              "domains": {d: {"reference": 2.0, "difference": 0.0, "std": 0.0, "p_worse": 0.5,
                              "observed_reference": 2.0 + i * 0.1 + 0.25} for i, d in enumerate(domains)}}
    values, kind = figures.reference_losses(versus)
    assert kind.startswith("observed") and values["docs"] == pytest.approx(2.35)
    differences = figures.domain_loss_table(table, target, values)
    assert differences["status"].tolist() == ["ok", "ok", "failed", "shorter", "failed"]
    assert differences.loc[1, "code"] == pytest.approx(-0.1) and np.isnan(differences.loc[2, "code"])

    out = tmp_path / "summary"
    figures.plot_domain_losses(differences, target, "uniform", kind, [], out / "domain_losses.png")
    figures.plot_learning_curves(table, ["micro", "tiny"], "tiny", out / "learning_curves.png")
    proposals = table.drop_duplicates(["iteration", "trial"]).dropna(subset=["scale"])
    figures.plot_mixture_trajectories(proposals, dict(zip(domains, [0.6, 0.2, 0.2])), domains, ["micro", "tiny"],
                                      "tiny", out / "mixture_trajectories.png")
    empty = pd.DataFrame(columns=["iteration", "trial", "scale", "step", "observed", "predicted", "predicted_std"])
    figures.plot_predictions(empty, {"trials": 0}, ["micro", "tiny"], "tiny", out / "predictions.png")
    best = {"strategy": "gp", "target": {"scale": "tiny"}, "mixture": dict(zip(domains, [1 / 3] * 3)),
            "objective": {"value": 2.35, "std": 0.01, "kind": "predicted"},
            "reference": {"name": "uniform", "mixture": dict(zip(domains, [1 / 3] * 3))}, "versus_reference": versus}
    assert figures.recommendation_table(best)["name"].tolist() == ["objective", *domains]
    figures.plot_recommendation(best, out / "recommendation.png")
    figures.plot_transfer({"micro": pd.DataFrame(columns=["proxy", "target"])}, {}, "tiny", out / "transfer.png")
    figures.plot_domain_effects(best, out / "domain_effects.png")  # no domain_effects: a figure that says why
    figures.plot_domain_weights([], out / "domain_weights.png")
    for name in ["domain_losses", "learning_curves", "mixture_trajectories", "predictions", "recommendation",
                 "transfer", "domain_effects", "domain_weights"]:
        assert (out / f"{name}.png").read_bytes()[:4] == b"\x89PNG", name
