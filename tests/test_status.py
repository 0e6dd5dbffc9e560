"""`mixopt status` on the files a real loop wrote (the table back end through `snakemake`), then on
those files edited into a running trial, a pending one and a failed one; and the progress line
of train.log that status reads (elapsed and ETA), written by a real training run and parsed back."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO, shared_between_workers
from mixopt.cli import main
from mixopt.core.progress import format_duration, last_progress, parse_progress, progress_line
from mixopt.workflow.status import loop_status
from test_train import shards, spec  # noqa: F401  (shards: a fixture of byte-level shards)
from test_workflow import snakemake, write_config

TARGET = ("60M", 1001)  # configs/regmix.yaml's target and the steps of its full recorded run


@pytest.fixture(scope="module")
def finished_loop(tmp_path_factory) -> Path:
    """A finished loop on the RegMix table: one iteration of 3 trials and the GP's recommendation
    (each Snakemake job takes seconds, so the loop is kept to as few as show every state). Built
    once per run and shared by the xdist workers: the tests only read it."""
    with shared_between_workers(tmp_path_factory, "status_loop") as (project, done):
        if not done:
            config = yaml.safe_load((REPO / "configs" / "regmix.yaml").read_text())
            config["strategy"] = {"name": "gp", "options": {"raw_samples": 64}}
            config["budget"] = {"iterations": 1, "initial_design": 3}
            config.pop("bench")
            write_config(project, config)
            snakemake(project, "results/best_mixture.yaml")  # not the plots: status reads none of them
    return project


@pytest.fixture
def project(finished_loop, tmp_path) -> Path:
    """A copy of the finished loop that a test may edit."""
    return Path(shutil.copytree(finished_loop, tmp_path / "project", ignore=shutil.ignore_patterns(".snakemake")))


def status_text(project_dir: Path, capsys) -> str:
    assert main(["status", str(project_dir)]) == 0
    return capsys.readouterr().out


@pytest.mark.slow
def test_a_finished_loop_shows_every_iteration_done_and_the_best_and_recommended_objectives(finished_loop, capsys):
    status = loop_status(finished_loop)
    observations = pd.read_csv(finished_loop / "results/observations.csv")
    at_target = observations[(observations["scale"] == TARGET[0]) & (observations["step"] == TARGET[1])]
    best_row = at_target.loc[at_target["objective"].idxmin()]
    recommended = yaml.safe_load((finished_loop / "results/best_mixture.yaml").read_text())["objective"]

    assert [it.state for it in status.iterations] == ["done"] and status.planned_iterations == 1
    assert (status.target.scale, status.target.steps) == TARGET
    assert (status.count("ok"), status.count("failed"), len(status.trials)) == (3, 0, 3)
    assert status.best.objective == pytest.approx(best_row["objective"])
    assert (status.best.iteration, status.best.trial) == (best_row["iteration"], best_row["trial"])
    assert status.flops == pytest.approx(observations.groupby(["iteration", "trial"])["flops"].max().sum())

    text = status_text(finished_loop, capsys)
    assert ": finished (target 60M, 1001 steps)" in text
    assert "iterations: 1/1 done; in progress: none; pending: none" in text
    assert "trials: 3 ok, 0 failed, 0 running, 0 pending (of 3 proposed)" in text
    best_where = f"(iter {best_row['iteration']} trial {best_row['trial']})"
    assert f"best at target: {best_row['objective']:.4f} {best_where}" in text
    value, std, kind = recommended["value"], recommended["std"], recommended["kind"]
    assert f"recommendation: objective {value:.4f} ± {std:.4f} ({kind})" in text
    assert f"compute: {status.flops:.1e} FLOPs".replace("e+", "e") in text
    assert len(text.splitlines()) <= 24  # one screen


@pytest.mark.slow
def test_a_running_and_a_pending_trial_keep_their_iteration_open(project, capsys):
    running, pending = project / "results/iter_0/trial_2", project / "results/iter_0/trial_1"
    for trial in (running, pending):
        (trial / "metrics.json").unlink()
        (trial / "trial.log").unlink()
    (running / "train.log").write_text("\n".join([
        "60M: 1,234 params, 1001 steps x 128 tokens on cpu (float32), mixture {...}",
        progress_line(20, 1001, 6.0, 1e-3, 7000, elapsed_s=5, eta_s=190),
        "checkpoint 20: code 5.9",
        progress_line(120, 1001, 5.1234, 2.1e-3, 7412, elapsed_s=41, eta_s=95),
        "",
    ]))
    (project / "results/best_mixture.yaml").unlink()  # written only at the end
    config = yaml.safe_load((project / "config.yaml").read_text())
    write_config(project, config | {"budget": {"iterations": 3, "initial_design": 3}})  # 1-2 not proposed yet

    status = loop_status(project)
    states = {(t.iteration, t.trial): t.state for t in status.trials}
    assert states == {(0, 0): "ok", (0, 1): "pending", (0, 2): "running"}
    assert [it.state for it in status.iterations] == ["in progress", "pending", "pending"]
    assert status.best is not None and (status.best.iteration, status.best.trial) == (0, 0)

    text = status_text(project, capsys)
    assert ": not finished" in text and "iterations: 0/3 done; in progress: 0; pending: 1-2" in text
    assert "trials: 1 ok, 0 failed, 1 running, 1 pending (of 3 proposed)" in text
    assert "running iter 0 trial 2 (60M, 1001 steps): step 120/1001, eta 0:01:35, log updated 0:00:0" in text
    assert "pending iter 0: trials 1" in text
    assert "recommendation: none yet" in text


@pytest.mark.slow
def test_a_failed_trial_is_listed_with_its_reason_on_one_line(project, capsys):
    path = project / "results/iter_0/trial_1/metrics.json"
    record = json.loads(path.read_text())
    reason = "NonFiniteLoss: non-finite train loss nan at step 7"
    path.write_text(json.dumps(record | {"status": "failed", "error": reason + "\nTraceback ...", "checkpoints": []}))

    status = loop_status(project)
    assert (status.count("ok"), status.count("failed")) == (2, 1)
    assert (status.best.iteration, status.best.trial) != (0, 1)  # a failed trial is no candidate
    text = status_text(project, capsys)
    assert "trials: 2 ok, 1 failed, 0 running, 0 pending" in text
    assert f"  failed  iter 0 trial 1: {reason}\n" in text

    record["error"] = "RuntimeError: " + "x" * 500
    path.write_text(json.dumps(record | {"status": "failed"}))
    failed_line = next(line for line in status_text(project, capsys).splitlines() if "failed  iter 0" in line)
    assert failed_line.endswith("...") and len(failed_line) < 140


@pytest.mark.slow
@pytest.mark.parametrize("content, reason", [
    ('{"status": "ok"}', "metrics.json malformed: status ok without a mixture"),
    ('[1, 2]', "metrics.json malformed: a list, not a mapping"),
    ('{"status": "ok", "mixture": {"a": 1.0}, "checkpoints": []}', "metrics.json malformed: status ok without checkpoints holding losses"),
])
def test_a_malformed_metrics_file_shows_its_trial_failed_with_the_reason(project, capsys, content, reason):
    for trial in range(3):  # every trial: then no trial tells the evaluation domains either
        (project / f"results/iter_0/trial_{trial}/metrics.json").write_text(content)
    text = status_text(project, capsys)
    assert "trials: 0 ok, 3 failed, 0 running, 0 pending (of 3 proposed)" in text
    assert f"failed  iter 0 trial 1: {reason}" in text


@pytest.mark.slow
@pytest.mark.parametrize("content, reason", [
    ("trial,steps,w_a\n0,10,1.0\n", "unreadable (no column(s) ['scale'])"),
    (b"\xff\xfe\x00garbage\xff", "unreadable ("),
])
def test_an_unreadable_proposals_file_is_named_not_taken_for_absent(project, capsys, content, reason):
    path = project / "results/iter_0/proposals.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    text = status_text(project, capsys)
    assert "holds no iter_*/proposals.csv" not in text
    assert "in progress: 0" in text
    assert f"note: {path}: {reason}" in text


def test_no_results_prints_one_line_and_a_missing_directory_exits_2(tmp_path, capsys):
    assert status_text(tmp_path, capsys).strip() == f"no loop has run in {tmp_path}: results/ is missing"
    assert main(["status", str(tmp_path / "nowhere")]) == 2
    assert "is not a directory" in capsys.readouterr().err


@pytest.mark.slow
def test_status_loads_no_torch(finished_loop):
    code = ("import sys; from mixopt.cli import main; main(['status', sys.argv[1]]); "
            "heavy = [m for m in ('torch', 'transformers', 'botorch') if m in sys.modules]; "
            "assert not heavy, heavy")
    proc = subprocess.run([sys.executable, "-c", code, str(finished_loop)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "iterations: 1/1 done" in proc.stdout


def test_progress_line_reads_back():
    line = progress_line(120, 400, 5.12344, 2.1e-3, 7412.4, elapsed_s=41.4, eta_s=95.2)
    assert line == "step 120/400 | loss 5.1234 | lr 2.100e-03 | 7,412 tok/s | elapsed 0:00:41 | eta 0:01:35"
    p = parse_progress(line)
    assert (p.step, p.steps, p.loss, p.lr, p.tokens_per_second, p.elapsed_s, p.eta_s) == (
        120, 400, 5.1234, 2.1e-3, 7412, 41, 95)
    assert format_duration(3 * 3600 + 2 * 60 + 5.6) == "3:02:06" and format_duration(-1) == "0:00:00"
    assert parse_progress("checkpoint 120: code 5.1") is None
    assert parse_progress("step 120/400 | loss 5.1 | lr 1e-3 | 7 tok/s") is None  # the old line had no eta


class TickingClock:
    """A stand-in for the ``time`` module of the training loop: each reading is one second later."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 1.0
        return self.now


def test_training_logs_elapsed_and_an_eta_that_runs_down_to_zero(shards, monkeypatch):  # noqa: F811
    from mixopt.training import loop
    from mixopt.training.trial import train_proxy

    lines: list[str] = []
    train_proxy(spec(steps=40, checkpoints=2, threads=1), shards, log=lines.append)
    progress = [parse_progress(line) for line in lines if line.startswith("step ")]
    assert len(progress) >= 10 and None not in progress  # every step line is in the parseable format
    assert [p.step for p in progress] == sorted(p.step for p in progress) and progress[-1].step == 40
    assert all(p.steps == 40 for p in progress) and progress[-1].eta_s == 0
    assert last_progress("\n".join(lines)) == progress[-1]

    # on a clock that ticks at every reading the seconds are large enough to compare
    monkeypatch.setattr(loop, "time", TickingClock())
    lines.clear()
    train_proxy(spec(steps=40, checkpoints=2, threads=1), shards, log=lines.append)
    progress = [parse_progress(line) for line in lines if line.startswith("step ")]
    etas, elapsed = [p.eta_s for p in progress], [p.elapsed_s for p in progress]
    assert etas[0] > 0 and etas == sorted(etas, reverse=True) and len(set(etas)) == len(etas) and etas[-1] == 0
    assert elapsed == sorted(elapsed) and len(set(elapsed)) == len(elapsed)
