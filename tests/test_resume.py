"""Preemption: a training job killed mid-run resumes from its resume checkpoint and writes the
same metrics.json as an uninterrupted run (bit-identical on CPU, timing fields aside)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mixopt.training.resume import resume_key
from mixopt.training.spec import TrainSpec
from mixopt.training.trial import run_trial, train_proxy
from test_train import quiet, shards, spec  # noqa: F401  (shards is a fixture)

TIMING = ("wall_time_s", "tokens_per_second")
STEPS, EVERY = 120, 10

# One trial in a child process, as a Snakemake job runs it; argv: out_path, spec as JSON, shard dirs
# as JSON, resume_every, and optionally a file the run waits for after its first resume checkpoint
# (the worker's test-only hold: the kill then lands mid-run however loaded the machine).
CHILD = """
import json, sys
from pathlib import Path
from mixopt.training.spec import TrainSpec
from mixopt.training.trial import run_trial
from mixopt.training.worker import holding_log
out, spec, shards = Path(sys.argv[1]), TrainSpec(**json.loads(sys.argv[2])), json.loads(sys.argv[3])
release = Path(sys.argv[5]) if len(sys.argv) > 5 else None
run_trial(spec, shards, out, extra={"trial": 0}, log=holding_log(print, release), resume=out.with_name("resume.pt"),
          resume_every=int(sys.argv[4]))
"""


class Preempted(Exception):
    pass


def stop_at(step: int):
    """A log callback that stops the run when it reports ``step`` (the run's resume file then
    holds the last multiple of resume_every before it)."""
    def log(line: str) -> None:
        if line.startswith(f"step {step}/"):
            raise Preempted
    return log


def without_timing(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in TIMING}


def child(out: Path, s: TrainSpec, shard_dirs: dict, every: int = EVERY, hold: Path | None = None) -> subprocess.Popen:
    spec_json = json.dumps(s.to_dict())
    dirs = json.dumps({k: str(v) for k, v in shard_dirs.items()})
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", CHILD, str(out), spec_json, dirs, str(every),
                             *([str(hold)] if hold else [])], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def uninterrupted(shards, tmp_path_factory) -> dict:  # noqa: F811
    out = tmp_path_factory.mktemp("whole") / "metrics.json"
    run_trial(spec(steps=STEPS), shards, out, extra={"trial": 0}, log=quiet, resume=out.with_name("resume.pt"),
              resume_every=EVERY)
    assert not out.with_name("resume.pt").exists()  # deleted once metrics.json is written
    return json.loads(out.read_text())


@pytest.mark.slow
def test_killed_job_resumes_to_identical_metrics(uninterrupted, shards, tmp_path):  # noqa: F811
    out = tmp_path / "trial_0" / "metrics.json"
    resume = out.with_name("resume.pt")
    proc = child(out, spec(steps=STEPS), shards, hold=tmp_path / "never-released")
    deadline = time.monotonic() + 120
    while not resume.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)  # as SLURM does when a job is preempted past its grace time
    proc.wait()
    assert proc.returncode == -signal.SIGKILL and not out.exists() and resume.exists()
    killed_at = torch.load(resume, weights_only=True)["step"]
    assert 0 < killed_at < STEPS and killed_at % EVERY == 0

    rerun = child(out, spec(steps=STEPS), shards)
    log = rerun.communicate(timeout=300)[0]
    assert rerun.returncode == 0, log
    assert f"resume: continuing from step {killed_at} of {STEPS}" in log
    resumed = json.loads(out.read_text())
    assert resumed["status"] == "ok" and len(resumed["checkpoints"]) == 4
    assert without_timing(resumed) == without_timing(uninterrupted)  # losses, train_loss, sequences: exact
    assert resumed["wall_time_s"] > 0 and resumed["tokens_per_second"] > 0
    assert not resume.exists()


def test_resume_after_an_evaluation_checkpoint_keeps_it(uninterrupted, shards, tmp_path):  # noqa: F811
    """A resume file written after the first evaluation (step 30 of 120) carries the evaluated
    checkpoint and the train losses since, in process: stop by an exception at step 50."""
    out, resume = tmp_path / "metrics.json", tmp_path / "resume.pt"
    with pytest.raises(Preempted):
        train_proxy(spec(steps=STEPS), shards, log=stop_at(50), resume=resume, resume_every=EVERY)
    state = torch.load(resume, weights_only=True)
    assert state["step"] == 40 and [c["step"] for c in state["checkpoints"]] == [30]
    resumed = run_trial(spec(steps=STEPS), shards, out, extra={"trial": 0}, log=quiet, resume=resume,
                        resume_every=EVERY)
    assert without_timing(resumed) == without_timing(uninterrupted)


def test_checkpoint_of_another_run_is_ignored(shards, tmp_path):  # noqa: F811
    resume = tmp_path / "resume.pt"
    other = spec(steps=60, seed=1)
    with pytest.raises(Preempted):
        train_proxy(other, shards, log=stop_at(30), resume=resume, resume_every=20)
    assert torch.load(resume, weights_only=True)["key"] == resume_key(other, shards) != resume_key(spec(steps=60), shards)
    lines = []
    run = train_proxy(spec(steps=60), shards, log=lines.append, resume=resume, resume_every=20)
    assert any("belongs to a different run" in line for line in lines)
    assert not any(line.startswith("resume: continuing") for line in lines)
    assert without_timing(run) == without_timing(train_proxy(spec(steps=60), shards, log=quiet))


def test_resume_every_zero_writes_nothing(shards, tmp_path):  # noqa: F811
    train_proxy(spec(steps=40, checkpoints=1), shards, log=quiet, resume=tmp_path / "resume.pt", resume_every=0)
    assert list(tmp_path.iterdir()) == []
