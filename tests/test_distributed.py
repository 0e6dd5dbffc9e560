"""A trial across several processes (``scales.<s>.gpus: k``): torchrun, DDP over gloo on the CPU.

The k ranks train on their rows of the one-process run's global batch, so a 2-process run must
give the 1-process run's losses; a 2-process run killed after its resume checkpoint must continue
to the uninterrupted run's metrics. Every run here goes through the launcher a workflow job uses
(:func:`mixopt.training.launch.run_trial_processes`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mixopt.training.launch import run_trial_processes
from mixopt.training.worker import HOLD_AFTER_RESUME_ENV
from test_faults import worker_of
from test_train import quiet, shards, spec  # noqa: F401  (shards is a fixture)

TIMING = ("wall_time_s", "tokens_per_second")
STEPS, EVERY = 160, 20
#: In float32, 2-process and 1-process losses may differ by the order of floating-point sums
#: (gradients averaged over ranks, validation losses summed over them), nothing more: measured
#: 4e-6 at most. (In bf16 the ranks' half-size matrix products round differently, and the runs
#: drift apart as two bf16 runs of different shapes do: 0.005 to 0.01 nats after 160 steps here.)
TOLERANCE = 1e-4


def on(processes: int, **kw):
    s = spec(steps=STEPS, precision="fp32", **kw)
    return dataclasses.replace(s, shape=s.shape.replace(gpus=processes))


def launched(s, shard_dirs: dict, out: Path) -> dict:
    return run_trial_processes(s, shard_dirs, out, extra={"trial": 0}, log=quiet, resume=out.with_name("resume.pt"),
                               resume_every=EVERY)


def without_timing(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in TIMING}


@pytest.fixture(scope="module")
def two(shards, tmp_path_factory) -> dict:  # noqa: F811
    return launched(on(2), shards, tmp_path_factory.mktemp("two") / "metrics.json")


@pytest.mark.slow
def test_two_processes_train_the_one_process_run(two, shards, tmp_path):  # noqa: F811
    one = launched(on(1), shards, tmp_path / "metrics.json")
    assert one["status"] == two["status"] == "ok", (one["error"], two["error"])
    assert (one["processes"], two["processes"]) == (1, 2)
    assert two["domain_sequences"] == one["domain_sequences"]  # the same global batches
    assert [c["step"] for c in two["checkpoints"]] == [c["step"] for c in one["checkpoints"]] == [40, 80, 120, 160]
    for a, b in zip(one["checkpoints"], two["checkpoints"]):
        assert b["train_loss"] == pytest.approx(a["train_loss"], abs=TOLERANCE)
        assert b["losses"].keys() == a["losses"].keys()
        for domain, loss in a["losses"].items():
            assert b["losses"][domain] == pytest.approx(loss, abs=TOLERANCE), (a["step"], domain)
    assert not (tmp_path / "resume.pt").exists()


@pytest.mark.slow
def test_a_killed_two_process_run_resumes_to_the_same_metrics(two, shards, tmp_path):  # noqa: F811
    """SIGKILL to the job, torchrun and (by their parent's death) the ranks, once rank 0 has written
    a resume file; the rerun restores every rank and ends where the uninterrupted run did."""
    out = tmp_path / "metrics.json"
    resume = out.with_name("resume.pt")
    code = f"""
import json, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from pathlib import Path
from test_distributed import launched, on
launched(on(2), {{k: Path(v) for k, v in json.loads(sys.argv[1]).items()}}, Path(sys.argv[2]))
"""
    # held after its first resume checkpoint (never released): the kill lands mid-run however slow the machine
    job = subprocess.Popen([sys.executable, "-c", code, json.dumps({k: str(v) for k, v in shards.items()}), str(out)],
                           start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env={**os.environ, HOLD_AFTER_RESUME_ENV: str(tmp_path / "never-released")})
    deadline = time.monotonic() + 120
    while not resume.exists() and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    while worker_of(tmp_path) and time.monotonic() < deadline:  # the ranks die with torchrun
        time.sleep(0.05)
    assert worker_of(tmp_path) is None and not out.exists() and resume.exists()

    lines: list[str] = []
    resumed = run_trial_processes(on(2), shards, out, extra={"trial": 0}, log=lines.append, resume=resume,
                                  resume_every=EVERY)
    assert any(line.startswith("resume: continuing from step") for line in lines), lines[-20:]
    assert resumed["status"] == "ok" and without_timing(resumed) == without_timing(two)
    assert not resume.exists()

