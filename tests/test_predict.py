"""`mixopt predict`: fit on small scales of a run table, score the predictions on larger ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from mixopt.cli import main
from mixopt.core.simplex import dirichlet

DOMAINS = ["web", "code", "books"]
SIZES = {"S": 2e7, "M": 6e7, "L": 2e8, "XL": 6e8}
TOKENS_PER_STEP = 1e5


def scaling_law_loss(w: np.ndarray, n: float, tokens: float, domain: int) -> float:
    """Additive scaling law for optimal mixtures, one set of parameters per domain."""
    C = np.array([[3.0, 0.5, 0.8], [0.6, 4.0, 0.4], [1.0, 0.7, 2.5]])[domain]
    gamma = np.array([0.6, 0.8, 0.5])
    E, A, alpha, B, beta = 1.5 + 0.2 * domain, 60.0, 0.3, 400.0, 0.3
    return E + 1.0 / (C * w ** gamma).sum() + A / n ** alpha + B / tokens ** beta


def write_table(path, mixtures: np.ndarray) -> None:
    rows = []
    for i, w in enumerate(mixtures):
        for scale, n in SIZES.items():
            for step in (1000, 2000, 4000, 8000):
                tokens = step * TOKENS_PER_STEP
                for k, domain in enumerate(DOMAINS):
                    rows.append({"run_id": f"{scale}-{i}", "scale": scale, "params": n, "step": step, "tokens": tokens,
                                 "domain": domain, "loss": scaling_law_loss(w, n, tokens, k),
                                 **{f"w_{d}": x for d, x in zip(DOMAINS, w)}})
    pd.DataFrame(rows).to_csv(path, index=False)


def write_config(tmp_path, table: str) -> str:
    config = {"seed": 0, "backend": {"name": "table", "table": {"format": "long", "path": table}, "mode": "pool"},
              "target": {"scale": "XL"}, "objective": {"type": "mean"}, "strategy": {"name": "random"},
              "budget": {"iterations": 2, "initial_design": 2, "trials_per_iteration": 1}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.fixture
def config(tmp_path):
    write_table(tmp_path / "runs.csv", dirichlet(16, 3, 1.0, seed=0) * 0.94 + 0.02)
    return write_config(tmp_path, "runs.csv")


def test_predict_scores_every_larger_scale_per_domain_and_objective(config, tmp_path, capsys):
    out = tmp_path / "predict"
    code = main(["predict", config, "--fit-up-to", "L", "--predictors", "scaling_law", "regmix_linear",
                 "--out", str(out), "--base-dir", str(tmp_path)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "scaling_law" in printed and "Spearman" in printed
    scores = pd.read_csv(out / "scores.csv")
    assert set(scores["scale"]) == {"XL"}
    assert set(scores["domain"]) == {*DOMAINS, "objective"}
    law = scores[(scores["predictor"] == "scaling_law") & (scores["domain"] == "objective")]
    # the table follows this law exactly: fitted on S, M and L, it extrapolates to 3x the largest
    assert (law["mre"] < 0.005).all() and (law["spearman"] > 0.95).all()
    predictions = pd.read_csv(out / "predictions.csv")
    assert len(predictions) == 2 * 16 * (len(DOMAINS) + 1)  # predictors x runs x (domains + objective)
    assert (out / "predicted_vs_observed.png").stat().st_size > 0


def test_two_sizes_need_a_fixed_size_exponent(config, tmp_path, capsys):
    out = tmp_path / "predict"
    assert main(["predict", config, "--fit-up-to", "M", "--predictors", "scaling_law",
                 "--out", str(out), "--base-dir", str(tmp_path)]) == 0
    assert "give size_exponent" in pd.read_csv(out / "failures.csv")["error"].iloc[0]
    assert main(["predict", config, "--fit-up-to", "M", "--predictors", "scaling_law", "--size-exponent", "0.3",
                 "--out", str(out), "--base-dir", str(tmp_path)]) == 0
    scores = pd.read_csv(out / "scores.csv")
    assert (scores.loc[scores["domain"] == "objective", "mre"] < 0.005).all()  # 0.3 is the true exponent


def test_predict_names_a_bad_scale_or_predictor_and_writes_nothing(config, tmp_path, capsys):
    out = tmp_path / "predict"
    assert main(["predict", config, "--fit-up-to", "XXL", "--out", str(out), "--base-dir", str(tmp_path)]) == 2
    assert "no scale 'XXL'" in capsys.readouterr().err
    assert main(["predict", config, "--fit-up-to", "XL", "--out", str(out), "--base-dir", str(tmp_path)]) == 2
    assert "no scale larger than 'XL'" in capsys.readouterr().err
    assert main(["predict", config, "--fit-up-to", "M", "--predictors", "oracle", "--out", str(out),
                 "--base-dir", str(tmp_path)]) == 2
    assert "unknown predictor(s) ['oracle']" in capsys.readouterr().err
    assert not out.exists()


def test_a_law_the_data_cannot_identify_is_recorded_not_dropped(tmp_path, capsys):
    write_table(tmp_path / "one.csv", np.array([[0.5, 0.3, 0.2]]))  # one mixture only
    config = write_config(tmp_path, "one.csv")
    out = tmp_path / "predict"
    assert main(["predict", config, "--fit-up-to", "M", "--predictors", "dml", "scaling_law",
                 "--out", str(out), "--base-dir", str(tmp_path)]) == 0
    failures = pd.read_csv(out / "failures.csv")
    assert set(failures["predictor"]) == {"dml", "scaling_law"}
    assert failures["error"].str.contains("mixture").all()
    assert "dml: could not be fitted" in capsys.readouterr().out


@pytest.mark.slow
def test_law_informed_gp_keeps_the_laws_extrapolation_and_reports_its_uncertainty(config, tmp_path):
    from mixopt.laws.gp import GPLaw
    from mixopt.laws.scaling import ScalingLaw
    from mixopt.prediction import runs_from_table, split_scales
    from mixopt.backends.table import TableBackend
    from mixopt.config import load_settings

    table = TableBackend.from_settings(load_settings(config, base_dir=tmp_path), tmp_path).table
    fit, test = split_scales(table, "L")
    fit_runs, test_runs = runs_from_table(table, fit), runs_from_table(table, test, final_only=True)

    def mre(law):
        return np.abs(law.predict(test_runs.mixtures, test_runs.params, test_runs.tokens) / test_runs.losses - 1).mean()

    alone = GPLaw(max_points=96, seed=0).fit(fit_runs)
    informed = GPLaw(prior=ScalingLaw(), max_points=96, seed=0).fit(fit_runs)
    # the table follows the scaling law: the residual GP must not spoil its 3x extrapolation in size
    assert mre(informed) < 0.005 and mre(informed) < mre(alone)
    mean, std = informed.predict_with_std(test_runs.mixtures[:5], test_runs.params[:5], test_runs.tokens[:5])
    assert mean.shape == std.shape == (5, len(DOMAINS)) and (std > 0).all()


@pytest.mark.slow
def test_a_predictor_past_its_data_says_so_and_each_predictor_is_bounded(config, tmp_path, capsys):
    """Two sizes fitted (S, M), L and XL predicted (3x and 10x larger): a law with a power law in
    N extrapolates within a bounded error; regression trees cannot extrapolate, and must say their
    predictions there are outside what their data support."""
    out = tmp_path / "predict"
    bounds = {"scaling_law": 0.005, "dml": 0.05, "gp+scaling_law": 0.01}  # objective MRE at L and XL
    assert main(["predict", config, "--fit-up-to", "M", "--size-exponent", "0.3", "--predictors", *bounds, "regmix",
                 "--out", str(out), "--base-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    objective = pd.read_csv(out / "scores.csv").query("domain == 'objective'").set_index(["predictor", "scale"])
    assert not objective.loc["regmix", "supported"].any()
    assert "unsupported: regmix (lightgbm) predicts" in printed and "(unsupported)" in printed
    for predictor, bound in bounds.items():
        assert objective.loc[predictor, "supported"].all()
        assert (objective.loc[predictor, "mre"] < bound).all(), (predictor, objective.loc[predictor, "mre"])


@pytest.mark.slow
def test_the_gp_alone_says_when_it_extrapolates_past_its_fitted_sizes(config, tmp_path):
    """The GP alone has no size law (real runs two sizes up: 90-121% off, where dml was 2.5% off);
    on a law's residual, the law carries the size trend."""
    from mixopt.laws import make_law
    from mixopt.laws.gp import GPLaw
    from mixopt.prediction import runs_from_table
    from mixopt.tables.runtable import read_run_table

    table = read_run_table(tmp_path / "runs.csv")
    fit = runs_from_table(table, ["S", "M"])
    alone = GPLaw(max_points=48).fit(fit)
    assert alone.unsupported(np.array([SIZES["M"]])) is None
    said = alone.unsupported(np.array([SIZES["L"], SIZES["XL"]]))
    assert said is not None and "gp extrapolates from 2 fitted size(s)" in said and "6e+08" in said
    on_law = GPLaw(prior=make_law("scaling_law", size_exponent=0.3), max_points=48).fit(fit)
    assert on_law.unsupported(np.array([SIZES["XL"]])) is None
