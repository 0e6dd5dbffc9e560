"""The whole loop through real `snakemake`: a tiny config, 2 iterations, a tiny model.

One scenario, in the order a user meets it: run iteration 0's proposals, hand-edit one of them
into an invalid trial, run the whole loop (the bad trial is recorded as failed and the loop goes
on), rerun (nothing to do), re-propose one iteration (identical batch), and a bad config (one
clear error, nothing written).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO

SNAKEMAKE = [sys.executable, "-m", "snakemake"]

pytestmark = pytest.mark.slow  # every test here runs real Snakemake jobs


def start_snakemake(workdir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`snakemake` on the workflow in ``workdir`` with its config.yaml, started in the background
    (``env``: variables added to its environment)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", **(env or {})}
    cmd = [*SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / "config.yaml"), "--cores", "2", *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def finish(proc: subprocess.Popen, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    """Wait for a :func:`start_snakemake` process (killed when it outlives ``timeout``); with
    ``check``, a failure raises with the end of its output."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(proc.args[2:])} failed:\n{out[-3000:]}\n{err[-6000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return finish(start_snakemake(workdir, *args), check=check)


def write_config(workdir: Path, config: dict) -> None:
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))


def test_loop_end_to_end(tmp_path, tiny_config):
    workdir = tmp_path
    write_config(workdir, tiny_config)

    # iteration 0's design only, then a person edits trial 1 into an invalid mixture
    snakemake(workdir, "results/iter_0/proposals.csv")
    proposals = workdir / "results/iter_0/proposals.csv"
    table = pd.read_csv(proposals)
    assert len(table) == 3 and set(table["scale"]) == {"nano"}
    table.loc[table["trial"] == 1, "w_code"] += 0.5
    table.to_csv(proposals, index=False)

    snakemake(workdir)
    results = workdir / "results"
    for name in ["best_mixture.yaml", "summary/convergence.png", "summary/convergence.csv", "observations.csv",
                 "iter_1/proposals.csv", "iter_1/diagnostics.json", "iter_1/observations.csv",
                 "tokenizer/tokenizer.json", "data/docs/meta.json", "iter_0/trial_0/train.log"]:
        assert (results / name).is_file(), name

    failed = json.loads((results / "iter_0/trial_1/metrics.json").read_text())
    assert failed["status"] == "failed" and "sum to 1" in failed["error"]
    ok = json.loads((results / "iter_0/trial_0/metrics.json").read_text())
    assert ok["status"] == "ok" and len(ok["checkpoints"]) == 2
    assert set(ok["checkpoints"][-1]["losses"]) == {"code", "docs", "prose"}

    observations = pd.read_csv(results / "observations.csv")
    per_trial = observations.groupby(["iteration", "trial"])["status"].first()
    assert len(per_trial) == 5 and (per_trial == "failed").sum() == 1
    assert json.loads((results / "iter_1/diagnostics.json").read_text())["design"] == "qLogNEI"

    best = yaml.safe_load((results / "best_mixture.yaml").read_text())
    assert abs(sum(best["mixture"].values()) - 1) < 1e-6
    assert best["trials"] == {"total": 5, "ok": 4, "failed": 1, "flops": pytest.approx(best["trials"]["flops"])}
    assert best["objective"]["std"] is not None and set(best["domains"]) == {"code", "docs", "prose"}

    # the same config and seed: nothing is retrained
    dry = snakemake(workdir, "--dry-run")
    assert "Nothing to be done" in dry.stdout + dry.stderr

    # rerunning one iteration's proposal step gives the identical batch
    before = (results / "iter_1/proposals.csv").read_bytes()
    snakemake(workdir, "results/iter_1/proposals.csv", "--forcerun", "results/iter_1/proposals.csv")
    assert (results / "iter_1/proposals.csv").read_bytes() == before

    # a changed training setting plans the trials again (Snakemake's params rerun trigger)
    changed = copy.deepcopy(tiny_config)
    changed["training"]["eval_tokens"] *= 2
    write_config(workdir, changed)
    dry = snakemake(workdir, "--dry-run")
    assert "train_proxy" in dry.stdout and "params have changed" in (dry.stdout + dry.stderr).lower()


def test_bad_config_stops_before_any_job(tmp_path, tiny_config):
    tiny_config["objective"] = {"type": "weighted", "weights": {"code": 0.6, "docs": 0.6}}
    write_config(tmp_path, tiny_config)
    proc = snakemake(tmp_path, check=False)
    assert proc.returncode != 0
    assert "config key 'objective.weights': weights must sum to 1" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()


def test_table_back_end_runs_the_same_dag_and_the_bench_rule(tmp_path):
    """The RegMix run table in place of training: the same DAG up to the recommendation (its
    figures: tests/test_report.py, on the same back end), then `snakemake bench`."""
    config = yaml.safe_load((REPO / "configs" / "regmix.yaml").read_text())
    config["strategy"] = {"name": "gp", "options": {"min_observations": 3, "raw_samples": 64}}
    config["budget"] = {"iterations": 2, "initial_design": 4, "trials_per_iteration": 2}
    config["bench"] = {"seeds": 2, "jobs": 1, "strategies": {"random": {"name": "random"},
                                                             "random_1M": {"name": "random", "options": {"scale": "1M"}}},
                       "budget_flops": 3.8e18}
    from mixopt.tables.loaders import load_regmix

    table = load_regmix()
    # a warm start from two earlier 60M runs, and at least 20% Pile-CC in every mixture
    prior = table.data[table.data["run_id"].isin(
        table.data[(table.data["scale"] == "60M") & (table.data["w_pile_cc"] >= 0.2)]["run_id"].unique()[:2])]
    prior.to_csv(tmp_path / "prior.csv", index=False)
    config["prior_runs"] = "prior.csv"
    config["constraints"] = {"bounds": {"pile_cc": [0.2, 1.0]}}
    write_config(tmp_path, config)
    snakemake(tmp_path, "results/best_mixture.yaml")

    pool = table.wide(scale="60M")[table.weight_columns].to_numpy()
    obs = pd.read_csv(tmp_path / "results" / "observations.csv")
    prior_w = obs[obs["prior"]][table.weight_columns].drop_duplicates().to_numpy()
    obs = obs[~obs["prior"]]
    assert len(prior_w) == 2 and not (tmp_path / "results" / "iter_-1").exists()  # never retrained
    # the initial design of 4 shrinks by the 2 mixtures the prior runs cover
    assert len(obs) == 4 and (obs["status"] == "ok").all() and set(obs["scale"]) == {"60M"}
    assert (obs["w_pile_cc"] >= 0.2 - 1e-9).all()
    for w in obs[table.weight_columns].to_numpy():
        assert (np.abs(pool - w).max(axis=1) <= 1e-6).any()  # pool mode: only recorded mixtures
        assert (np.abs(prior_w - w).max(axis=1) > 1e-6).all()  # and none the prior runs hold
    # each trial's loss is the recorded one
    wide = table.wide(scale="60M")
    for _, row in obs.iterrows():
        match = wide[(np.abs(wide[table.weight_columns].to_numpy() - row[table.weight_columns].to_numpy(float))
                      .max(axis=1) <= 1e-6)]
        assert row["loss_pile_cc"] == pytest.approx(match["loss_pile_cc"].mean())
    best = yaml.safe_load((tmp_path / "results" / "best_mixture.yaml").read_text())
    assert best["target"] == {"scale": "60M", "steps": 1001, "tokens": 1001 * 512 * 2048, "trials_at_target": 6}
    assert set(best["mixture"]) == set(table.mixture_domains) and best["mixture"]["pile_cc"] >= 0.2 - 1e-9
    assert best["domains"]["pile_cc"]["loss"] is not None and best["domains"]["arxiv"]["loss"] is None

    snakemake(tmp_path, "bench")
    bench = tmp_path / "results" / "bench"
    summary = pd.read_csv(bench / "summary.csv")
    assert summary["strategy"].tolist() == ["random", "random_1M"] and (summary["seeds"] == 2).all()
    curves = pd.read_csv(bench / "curves.csv")
    assert curves[curves["strategy"] == "random_1M"]["charged"].any()  # proxy answers are paid for at 60M
    assert (bench / "curves.png").stat().st_size > 10_000


def test_mfms_trains_two_proxy_scales_and_recommends_at_the_target(tmp_path, tiny_config):
    """`strategy: mfms` with two proxy scales on real training: trials run at the proxies (and at
    shortened runs), and the recommendation is for the target, which says it was never trained."""
    config = tiny_config
    config["scales"] |= {"pico": {"layers": 1, "width": 16, "heads": 2, "context": 32, "batch": 4, "lr": 0.01},
                         "femto": {"layers": 1, "width": 8, "heads": 2, "context": 32, "batch": 4, "lr": 0.01}}
    config["strategy"] = {"name": "mfms", "options": {"scales": ["femto", "pico"], "step_fractions": [0.5, 1.0],
                                                      "min_observations": 3, "raw_samples": 64}}
    config["budget"] = {"iterations": 2, "initial_design": 3, "trials_per_iteration": 2}
    write_config(tmp_path, config)
    snakemake(tmp_path, "results/best_mixture.yaml")  # the figures: test_loop_end_to_end
    results = tmp_path / "results"
    design = pd.read_csv(results / "iter_0/proposals.csv")
    assert set(design["scale"]) == {"femto"} and (design["steps"] == 16).all()  # the cheapest full run
    batch = pd.read_csv(results / "iter_1/proposals.csv")
    assert len(batch) == 2 and set(batch["scale"]) <= {"femto", "pico"} and set(batch["steps"]) <= {8, 16}
    diagnostics = json.loads((results / "iter_1/diagnostics.json").read_text())
    assert diagnostics["design"] == "multi-fidelity EI per cost^alpha"
    assert diagnostics["checkpoints_used"] == 3 * 2  # every checkpoint of the design's runs
    best = yaml.safe_load((results / "best_mixture.yaml").read_text())
    assert best["target"]["scale"] == "nano" and abs(sum(best["mixture"].values()) - 1) < 1e-6
    assert best["details"]["target_scale_trained"] is False and "never trained" in best["details"]["note"]
    assert set(best["domains"]) == {"code", "docs", "prose"} and best["objective"]["std"] > 0
