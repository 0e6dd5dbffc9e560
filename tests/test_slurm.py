"""`snakemake --profile profiles/slurm` against a live one-node SLURM cluster on localhost.

tests/slurm/slurm-up.sh starts munged, slurmctld and slurmd with two fake GPUs (gres) and
slurm-down.sh stops them; the packages come from tests/slurm/install.sh, which .ci/run calls.
A tiny config runs twice, locally and through the real plugin with the project's profile (only
the partition, account and job-status settings changed, as a one-node test cluster needs): every
trial must have been a SLURM job that asked for its GPUs (one trial is at a scale of 2 processes,
one job of 2 GPUs), and the results must equal the local run's, although one trial's job is
cancelled mid-run (as a preemption would) and resumed by its retry.
Without SLURM (not root, no apt, the install failed) the test is skipped, saying why.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO
from mixopt.training.worker import HOLD_AFTER_RESUME_ENV
from test_workflow import finish, snakemake, start_snakemake, write_config

HARNESS = REPO / "tests" / "slurm"
SLURM_DIR = Path(os.environ.get("SLURM_CI_DIR", "/tmp/mixopt-slurm"))
TIMING = ("wall_time_s", "tokens_per_second")


def _no_slurm_reason() -> str | None:
    if os.geteuid() != 0:
        return "not root: the test cluster's daemons (munged, slurmctld, slurmd) need root"
    if not shutil.which("slurmctld") and not Path("/usr/sbin/slurmctld").exists():
        log = SLURM_DIR / "install.log"
        said = log.read_text().strip() if log.is_file() else "tests/slurm/install.sh has not run (.ci/run runs it)"
        return f"SLURM is not installed ({said})"
    conf = Path("/etc/slurm/slurm.conf")
    if conf.exists() and "ClusterName=mixopt-ci" in conf.read_text():
        _harness("slurm-down.sh")  # left behind by a test run that was killed: stop it, start afresh
    if conf.exists():
        return "/etc/slurm/slurm.conf exists: a SLURM set-up that is not this test's; leaving it alone"
    return None


def _cannot(reason: str, installed: bool) -> None:
    """Skip, or in CI fail when SLURM was installed yet the cluster did not come up."""
    if installed and os.environ.get("CI") == "true":
        pytest.fail(f"live SLURM test: {reason}")
    pytest.skip(f"live SLURM test: {reason}")


def _harness(script: str, timeout: int = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "SLURM_CI_DIR": str(SLURM_DIR), "FAKE_GPUS": "2"}
    return subprocess.run(["bash", str(HARNESS / script)], capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def slurm_cluster():
    reason = _no_slurm_reason()
    if reason:
        _cannot(reason, installed=False)
    t0 = time.perf_counter()
    try:
        up = _harness("slurm-up.sh")
        if up.returncode != 0:
            logs = "".join(p.read_text()[-1500:] for p in (SLURM_DIR / "log").glob("*.log"))
            _cannot(f"slurm-up.sh failed (rc {up.returncode}): {up.stderr[-1500:]}\n{logs}", installed=True)
        yield {"up_s": time.perf_counter() - t0}
    finally:  # also after a failure: no daemons left behind, slurm.conf moved aside
        subprocess.run(["scancel", "--user", "root"], capture_output=True, timeout=30)
        _harness("slurm-down.sh")


def test_profile_leaves_only_partition_and_account_to_edit():
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    assert profile["executor"] == "slurm" and profile["retries"] >= 1 and profile["rerun-incomplete"]
    placeholders = {k: v for k, v in profile["default-resources"].items() if str(v).startswith("<")}
    assert placeholders == {"slurm_partition": "<your-partition>", "slurm_account": "<your-account>"}
    assert "cpus_per_task" not in profile["default-resources"]  # it would override every rule's threads
    assert "attempt" in profile["set-resources"]["train_proxy"]["runtime"]  # longer on each retry
    rules = "\n".join(p.read_text() for p in (REPO / "rules").glob("*.smk"))
    assert "gpu=train_gpus," in rules and "mem_mb=train_mem_mb" in rules and "threads: train_threads" in rules
    for rule in ("aggregate", "propose", "recommend", "plot_convergence", "table_trial"):
        assert re.search(rf"localrules:[^:]*\b{rule},", rules), rule


def test_memory_follows_the_trials_scale(tmp_path):
    from mixopt.settings import Settings, with_defaults
    from mixopt.training.model import parameter_count
    from mixopt.training.resources import proxy_params, train_mem_mb, trial_gpus, trial_mem_mb, trial_threads

    scales = {"small": {"layers": 2, "width": 64, "heads": 2, "context": 128, "batch": 16, "lr": 0.003},
              "big": {"layers": 8, "width": 512, "heads": 8, "context": 1024, "batch": 32, "lr": 0.001}}
    config = Settings.from_config(with_defaults({
        "domains": {"books": {"builtin": "books"}, "code": {"builtin": "code"}}, "scales": scales,
        "tokenizer": {"vocab_size": 4096}, "training": {"device": "auto"}, "target": {"scale": "small", "tokens": 2048},
        "budget": {"iterations": 1}, "strategy": {"name": "random"},
    }))
    small, big = config.scales["small"], config.scales["big"]
    proposals = tmp_path / "proposals.csv"
    pd.DataFrame({"trial": [0, 1, 2], "scale": ["small", "big", "typo"]}).to_csv(proposals, index=False)
    assert [trial_mem_mb(config, proposals, j) for j in range(3)] == [2304, 3072, 3072]  # unknown: the largest
    assert train_mem_mb(big, 4096, "cpu") > 10 * train_mem_mb(big, 4096, "cuda")  # a CPU run holds activations
    # a scale of k processes: k GPUs, k x training.threads CPUs, k processes' memory (each with its
    # batch / k rows of activations on a CPU)
    eight = big.replace(gpus=8)
    assert 7 * train_mem_mb(big, 4096) < train_mem_mb(eight, 4096) <= 8 * train_mem_mb(big, 4096)
    assert train_mem_mb(eight, 4096, "cpu") < 8 * train_mem_mb(big, 4096, "cpu")
    wide = dataclasses.replace(config, scales={**config.scales, "big": eight},
                               training=config.training.replace(threads=3))
    assert [(trial_gpus(wide, proposals, j), trial_threads(wide, proposals, j)) for j in range(3)] == \
        [(1, 3), (8, 24), (8, 24)]  # unknown scale: the most any scale needs
    assert all(train_mem_mb(big, v) % 256 == 0 for v in (4096, 50000))
    odd = small.replace(ffn_width=100, layers=3)
    for vocab in (320, 4096):  # the formula counts what the model really has
        built = {name: parameter_count(shape, vocab) for name, shape in [("small", small), ("big", big), ("odd", odd)]}
        assert built == {name: proxy_params(shape, vocab) for name, shape in [("small", small), ("big", big), ("odd", odd)]}


@pytest.mark.slow
def test_slurm_profile_runs_trials_as_gpu_jobs_like_a_local_run(slurm_cluster, tmp_path, tiny_config, capsys):
    config = tiny_config
    # One iteration of two trials: two iterations took 250-280 s on a loaded 2-core machine, where
    # every job's Python start-up competes for the cores.
    config["budget"] = {"iterations": 1, "initial_design": 2, "trials_per_iteration": 2}
    # 200 steps with a resume file every 50: trial 0's job is cancelled while held at step 50
    config["target"]["tokens"] = 4 * 32 * 200
    config["training"]["resume_every"] = 50
    # nano's shape trained by 2 processes (torchrun, gloo on the CPU) in one job of 2 GPUs
    config["scales"]["nano2"] = {**config["scales"]["nano"], "gpus": 2}
    local, cluster = tmp_path / "local", tmp_path / "slurm"
    for d in (local, cluster):
        d.mkdir()
        write_config(d, config)

    # The tokenizer, the shards and the design once, copied (mtimes kept, so nothing is redone);
    # a person moves trial 1 to the 2-process scale; then the loop twice at the same time:
    # locally and through SLURM.
    snakemake(local, "results/iter_0/proposals.csv")
    design = local / "results/iter_0/proposals.csv"
    edited = pd.read_csv(design)
    edited.loc[edited["trial"] == 1, "scale"] = "nano2"
    edited.to_csv(design, index=False)
    for sub in ("tokenizer", "data", "iter_0"):
        shutil.copytree(local / "results" / sub, cluster / "results" / sub)

    # The project's profile as a user with this cluster would edit it: partition and account;
    # and, because this test cluster has no accounting database, job states from squeue, checked
    # soon after submission rather than after the default 40 s.
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    profile["default-resources"]["slurm_partition"] = "debug"
    del profile["default-resources"]["slurm_account"]
    profile |= {"slurm-no-account": True, "slurm-status-command": "squeue",
                "slurm-init-seconds-before-status-checks": 3}
    (tmp_path / "profile").mkdir()
    (tmp_path / "profile" / "config.yaml").write_text(yaml.safe_dump(profile))

    target = "results/observations.csv"  # every trial
    # Trial 0's SLURM job holds after its first resume file (the worker's test-only hold, passed on
    # by sbatch with the rest of the environment) until the test releases it, so the cancel below
    # lands mid-run however loaded the machine; trial 1 is released from the start.
    release = tmp_path / "release"
    release.mkdir()
    (release / "trial_1").touch()
    t0 = time.perf_counter()
    runs = [start_snakemake(cluster, target, "--profile", str(tmp_path / "profile"),
                            env={HOLD_AFTER_RESUME_ENV: str(release)}),
            start_snakemake(local, target)]
    # Preemption: once trial 0 has written a resume file, cancel its SLURM job. Snakemake resubmits
    # it (profile: retries, runtime doubled) and the new job resumes from the file.
    resume = cluster / "results/iter_0/trial_0/resume.pt"
    log = resume.parent / "train.log"
    while (not log.is_file() or "resume checkpoint at step" not in log.read_text()) \
            and runs[0].poll() is None and time.perf_counter() - t0 < 400:
        time.sleep(0.05)
    queue = subprocess.run(["squeue", "-h", "-o", "%i %k"], capture_output=True, text=True).stdout
    cancelled = [i for i, comment in (line.split() for line in queue.splitlines())
                 if comment == "rule_train_proxy_wildcards_0_0"]
    assert resume.exists() and len(cancelled) == 1, queue
    subprocess.run(["scancel", cancelled[0]], check=True)
    (release / "trial_0").touch()  # the resubmitted job runs through
    proc = finish(runs[0], timeout=600)
    cluster_s = time.perf_counter() - t0
    finish(runs[1], timeout=600)
    out = proc.stdout + proc.stderr

    submitted = re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+)", out)
    # the two trials and trial 0's second attempt; aggregate and propose ran locally
    assert len(submitted) == 3 and cancelled[0] in submitted, out[-3000:]
    jobs = {}
    for slurm_id in submitted:
        fields = subprocess.run(["scontrol", "show", "job", "-o", slurm_id], capture_output=True, text=True,
                                check=True).stdout
        jobs[slurm_id] = dict(re.findall(r"(\w+)=(\S*)", fields))
    for slurm_id, job in jobs.items():
        assert job["JobState"] == ("CANCELLED" if slurm_id == cancelled[0] else "COMPLETED"), (slurm_id, job)
        assert job["Comment"].startswith("rule_train_proxy_wildcards_"), job["Comment"]
        # the trial's scale gave the rule's gpu= (--gpus=k) and threads (--cpus-per-task=k)
        gpus = 2 if job["Comment"].endswith("_0_1") else 1
        assert job["TresPerJob"] == f"gres:gpu:{gpus}" and job["NumCPUs"] == str(gpus), job
        assert job["Partition"] == "debug"
    limits = sorted((job["Comment"], job["TimeLimit"]) for job in jobs.values())
    assert limits == [("rule_train_proxy_wildcards_0_0", "01:00:00"), ("rule_train_proxy_wildcards_0_0", "02:00:00"),
                      ("rule_train_proxy_wildcards_0_1", "01:00:00")]  # the retry got twice the time
    resumed = re.search(r"resume: continuing from step (\d+) of 200", (resume.parent / "train.log").read_text())
    assert resumed and 0 < int(resumed[1]) < 200

    def results(root: Path) -> dict:
        metrics = {p.relative_to(root).as_posix(): {k: v for k, v in json.loads(p.read_text()).items()
                                                    if k not in TIMING}
                   for p in sorted(root.glob("results/iter_*/trial_*/metrics.json"))}
        proposals = {p.relative_to(root).as_posix(): p.read_text() for p in root.glob("results/iter_*/proposals.csv")}
        return {"metrics": metrics, "proposals": proposals}

    expected, got = results(local), results(cluster)
    assert len(got["metrics"]) == 2 and all(m["status"] == "ok" for m in got["metrics"].values())
    assert [m["processes"] for m in got["metrics"].values()] == [1, 2]  # trial 1: 2 ranks in one job
    assert got == expected  # bit-identical losses (the same seeds, CPU, one thread), resumed or not
    assert not list(cluster.glob("results/iter_*/trial_*/resume.pt"))  # written mid-run, removed at the end
    observations = pd.read_csv(cluster / "results" / "observations.csv")
    assert len(observations.groupby(["iteration", "trial"])) == 2

    with capsys.disabled():
        lines = [f"\nlive SLURM test: cluster up in {slurm_cluster['up_s']:.1f} s; the loop through SLURM "
                 f"(2 trials, one cancelled at step "
                 f"{resumed[1]} and resumed; next to the local run) {cluster_s:.0f} s"]
        for slurm_id, job in jobs.items():
            lines.append(f"  SLURM job {slurm_id}: {job['Comment']} {job['TresPerJob']} cpus={job['NumCPUs']} "
                         f"mem={job['MinMemoryNode']} time_limit={job['TimeLimit']} ran {job['RunTime']} "
                         f"{job['JobState']}")
        print("\n".join(lines))
        (SLURM_DIR / "live-test.txt").write_text("\n".join(lines) + "\n")
