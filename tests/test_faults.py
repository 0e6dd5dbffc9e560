"""The fault matrix: what a user does wrong, or what goes wrong, and what mixopt answers.

Each test is one row (README, "When something goes wrong"): it asserts the message the user sees
and that nothing is lost or half-written. Config faults go through the workflow's own check
(`mixopt check`, the same function the Snakefile calls before any job); loop faults run the real
workflow on the table back end, where a trial takes milliseconds.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO
from mixopt.cli import main
from mixopt.core.logs import log_to
from mixopt.workflow.failures import SystematicFailure, check_systematic_failure, failures_summary
from mixopt.workflow.locks import unlock

SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def check(tmp_path: Path, config: dict, capsys) -> tuple[int, str]:
    """`mixopt check` on ``config`` written to tmp_path/config.yaml: (exit code, stderr + stdout)."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    code = main(["check", str(path), "--base-dir", str(tmp_path)])
    out = capsys.readouterr()
    return code, out.err + out.out


def refused(tmp_path: Path, config: dict, capsys, *expected: str) -> None:
    """The config check refuses ``config`` with one message holding every ``expected`` text, and
    writes nothing."""
    code, text = check(tmp_path, config, capsys)
    assert code == 2, text
    assert text.count("mixopt check:") == 1 and all(e in text for e in expected), text
    assert not (tmp_path / "results").exists()


# --- config faults: one message naming the key, before any job --------------------------------


def test_weights_that_do_not_sum_to_one(tmp_path, tiny_config, capsys):
    tiny_config["objective"] = {"type": "weighted", "weights": {"code": 0.6, "docs": 0.6}}
    refused(tmp_path, tiny_config, capsys, "config key 'objective.weights'", "sum to 1")


def test_unknown_domain(tmp_path, tiny_config, capsys):
    tiny_config["constraints"] = {"bounds": {"poetry": [0.1, 0.5]}}
    refused(tmp_path, tiny_config, capsys, "config key 'constraints.bounds'", "poetry")


def test_negative_budget(tmp_path, tiny_config, capsys):
    tiny_config["budget"]["iterations"] = -1
    refused(tmp_path, tiny_config, capsys, "budget.iterations", "-1")


def test_missing_files(tmp_path, tiny_config, capsys):
    tiny_config["domains"]["code"] = {"paths": [str(tmp_path / "nowhere" / "*.txt")]}
    refused(tmp_path, tiny_config, capsys, "config key 'domains.code.paths'", "nowhere")


def test_empty_file(tmp_path, tiny_config, capsys):
    (tmp_path / "empty.jsonl").write_text("")
    tiny_config["domains"]["docs"] = {"paths": [str(tmp_path / "empty.jsonl")]}
    refused(tmp_path, tiny_config, capsys, "config key 'domains.docs.paths'", "empty.jsonl")


def test_unknown_strategy(tmp_path, tiny_config, capsys):
    tiny_config["strategy"] = {"name": "gradient_descent"}
    refused(tmp_path, tiny_config, capsys, "strategy.name", "gradient_descent")


def test_bad_strategy_options(tmp_path, tiny_config, capsys):
    tiny_config["strategy"] = {"name": "gp", "options": {"num_restarts": "many"}}
    refused(tmp_path, tiny_config, capsys, "strategy.options", "num_restarts")


def test_bad_model_shape(tmp_path, tiny_config, capsys):
    tiny_config["scales"]["nano"]["heads"] = 3  # width 32
    refused(tmp_path, tiny_config, capsys, "config key 'scales.nano.heads'", "3 heads do not divide")


def test_gpus_that_do_not_divide_the_batch(tmp_path, tiny_config, capsys):
    tiny_config["scales"]["nano"]["gpus"] = 3  # batch 4
    refused(tmp_path, tiny_config, capsys, "config key 'scales.nano.gpus'", "global batch of 4 rows")


BAD_YAML = "seed: 0\ndomains:\n  books: {builtin: books\nbudget: {iterations: 2}\n"


def test_yaml_syntax_error_names_file_line_and_column(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text(BAD_YAML)
    assert main(["check", str(path)]) == 2
    assert f"config file {path}, line 4, column 7: not valid YAML" in capsys.readouterr().err


@pytest.mark.slow
def test_the_snakefile_names_a_yaml_syntax_error_before_snakemake_parses_it(tmp_path):
    """The workflow's own config.yaml (no --configfile), through real Snakemake."""
    (tmp_path / "config.yaml").write_text(BAD_YAML)
    proc = subprocess.run([*SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
                           "--cores", "1", "--dry-run"], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "config file config.yaml, line 4, column 7: not valid YAML" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()


# --- corpora that decode to little or nothing: caught by the config check ---------------------


def latin1_domain(tmp_path: Path, config: dict, **options) -> dict:
    """The code domain as .txt files in Latin-1 (not UTF-8), large enough otherwise."""
    folder = tmp_path / "latin1"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.txt").write_bytes(("Überschrift café naïve déjà vu. " * 200).encode("latin-1"))
    config["domains"]["code"] = {"paths": [str(folder / "*.txt")], **options}
    return config


def test_non_utf8_files_are_refused(tmp_path, tiny_config, capsys):
    refused(tmp_path, latin1_domain(tmp_path, tiny_config), capsys, "config key 'domains.code.errors'",
            "0.txt (the 6,400 characters read) is not UTF-8 text", "set domains.code.errors: replace")


def test_replaced_characters_are_capped(tmp_path, tiny_config, capsys):
    # errors: replace accepts them up to max_replaced_fraction (0.1% by default); 5 of the 32
    # characters of each repeat are not ASCII, and each Latin-1 byte of them becomes one U+FFFD
    refused(tmp_path, latin1_domain(tmp_path, tiny_config, errors="replace"), capsys,
            "config key 'domains.code.max_replaced_fraction'", "0.txt (the 6,400 characters read) has 15.62% replaced characters (1000 of 6,400)")


def test_replaced_characters_allowed_and_reported(tmp_path, tiny_config, capsys):
    config = latin1_domain(tmp_path, tiny_config, errors="replace", max_replaced_fraction=0.2)
    code, text = check(tmp_path, config, capsys)
    assert code == 0, text
    assert "domain 'code': 3000 of 19,200 characters read were not UTF-8 and are replaced" in text


def test_one_document_domain(tmp_path, tiny_config, capsys):
    (tmp_path / "one.txt").write_text("a single document " * 2000)
    tiny_config["domains"]["code"] = {"paths": [str(tmp_path / "one.txt")]}
    refused(tmp_path, tiny_config, capsys, "config key 'domains.code.paths'", "one.txt hold 1 document(s)",
            "at least 2")


def test_domain_too_small_for_its_validation_split(tmp_path, tiny_config, capsys):
    folder = tmp_path / "small"
    folder.mkdir()
    for i in range(4):
        (folder / f"{i}.txt").write_text(f"document {i} " * 20)
    tiny_config["domains"]["code"] = {"paths": [str(folder / "*.txt")]}
    # eval_tokens 512 at validation_fraction 0.1: at least 5,120 bytes (a BPE token is >= 1 byte)
    refused(tmp_path, tiny_config, capsys, "config key 'domains.code.paths'", "bytes of text",
            "training.eval_tokens", "needs at least 5,120")


# --- run tables: one message naming the file, exit 2 --------------------------------------------


@pytest.mark.parametrize("content, expected", [
    (b"", "the file is empty"),
    ("run_id,scale\n1,é\n".encode("latin-1"), "not UTF-8 text"),
    (b"PAR1 not really parquet", "cannot be read as a table"),
])
def test_bad_run_table(tmp_path, capsys, content, expected):
    name = "runs.parquet" if content.startswith(b"PAR1") else "runs.csv"
    (tmp_path / name).write_bytes(content)
    config = {"seed": 0, "backend": {"name": "table", "table": {"format": "long", "path": name}},
              "target": {"scale": "60M"}, "strategy": {"name": "random"}, "budget": {"iterations": 2}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    for command in (["predict", str(tmp_path / "config.yaml"), "--fit-up-to", "1M"],
                    ["bench", str(tmp_path / "config.yaml")], ["check", str(tmp_path / "config.yaml")]):
        assert main([*command, "--base-dir", str(tmp_path)]) == 2, command
        err = capsys.readouterr().err
        assert str(tmp_path / name) in err and expected in err and "Traceback" not in err, (command, err)


# --- trials that fail ---------------------------------------------------------------------------


def test_nan_trial_is_recorded_with_its_step(tmp_path):
    from mixopt.training.trial import run_trial

    spec, shards = _tiny_run(tmp_path, lr=1e6)
    m = run_trial(spec, shards, tmp_path / "metrics.json", log=lambda _: None)
    assert m["status"] == "failed" and m["error"].startswith("NonFiniteLoss: non-finite train loss")
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "failed"


@pytest.mark.slow
def test_out_of_memory_trial_is_recorded_and_named(tmp_path):
    """A trial whose process runs out of host memory (an address-space limit, as a cgroup's OOM
    would refuse allocations) is recorded as failed, reason `out of memory`."""
    script = tmp_path / "oom.py"
    script.write_text(f"""
import resource, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from pathlib import Path
from test_faults import _tiny_run
from mixopt.training.trial import run_trial
spec, shards = _tiny_run(Path({str(tmp_path)!r}), batch=8192)
vm = int(open("/proc/self/status").read().split("VmSize:")[1].split()[0]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + 300 * 2**20, resource.getrlimit(resource.RLIMIT_AS)[1]))
m = run_trial(spec, shards, Path({str(tmp_path / "metrics.json")!r}), log=lambda _: None)
print(m["status"])
""")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "failed", proc.stderr[-2000:]
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["status"] == "failed" and m["error"].startswith("out of memory: RuntimeError:"), m["error"]
    assert "can't allocate memory" in m["error"]


# --- a trial's training processes: killed, stopped, out of memory (mixopt.training.launch) -----

JOB = """
import json, os, sys
from pathlib import Path
if len(sys.argv) > 3:  # a memory cgroup to join first, as SLURM puts a job in one
    Path(sys.argv[3]).write_text(str(os.getpid()))
sys.path.insert(0, {tests!r})
from test_faults import _tiny_run
from mixopt.training.launch import run_trial_processes
root, kw = Path(sys.argv[1]), json.loads(sys.argv[2])
spec, shards = _tiny_run(root, batch=kw.pop("batch", 4), steps=kw.pop("steps", 4))
m = run_trial_processes(spec, shards, root / "metrics.json", {{"trial": 0}}, resume=root / "resume.pt", **kw)
print("status:", m["status"], m["error"])
"""


def start_job(root: Path, cgroup_procs: Path | None = None, hold: Path | None = None, **kw) -> subprocess.Popen:
    """A trial's job, as the workflow's train_proxy runs it, in a process of its own (``hold``: the
    training holds after its first resume checkpoint until ``hold/<root's name>`` exists)."""
    from mixopt.training.worker import HOLD_AFTER_RESUME_ENV

    args = [str(root), json.dumps(kw)] + ([str(cgroup_procs)] if cgroup_procs else [])
    env = {**os.environ, **({HOLD_AFTER_RESUME_ENV: str(hold)} if hold else {})}
    return subprocess.Popen([sys.executable, "-c", JOB.format(tests=str(Path(__file__).parent)), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def worker_of(root: Path) -> int | None:
    """The pid of the training process of the job in ``root``, once it runs."""
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_text()
        except OSError:
            continue
        if proc.name.isdigit() and "mixopt.training.worker" in cmdline and str(root / "metrics.json") in cmdline:
            return int(proc.name)
    return None


def wait_for(condition, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while not (found := condition()) and time.monotonic() < deadline:
        time.sleep(0.01)
    return found


@pytest.mark.slow
def test_a_stopped_job_records_nothing_and_its_rerun_resumes(tmp_path):
    """SIGTERM to the job (a preemption, a time limit, scancel): passed on to the training, which
    stops; no metrics.json, the resume file stays, the job fails saying so; the rerun resumes. The
    first run holds after its first resume checkpoint (never released), so the signal lands mid-run."""
    job = start_job(tmp_path, steps=600, resume_every=20, hold=tmp_path / "never-released")
    assert wait_for(lambda: (tmp_path / "resume.pt").exists()), job.communicate()[0][-2000:]
    job.send_signal(signal.SIGTERM)
    out = job.communicate(timeout=60)[0]
    assert job.returncode != 0 and "TrainingInterrupted: the training was stopped by SIGTERM" in out, out[-2000:]
    assert not (tmp_path / "metrics.json").exists() and (tmp_path / "resume.pt").exists()
    assert wait_for(lambda: worker_of(tmp_path) is None, 10)  # nothing left training
    rerun = start_job(tmp_path, steps=600, resume_every=20)
    out = rerun.communicate(timeout=300)[0]
    assert "resume: continuing from step" in out and "status: ok" in out, out[-2000:]


@pytest.mark.slow
def test_a_training_process_killed_alone_is_recorded_and_the_job_goes_on(tmp_path):
    """SIGKILL to the training process only (the kernel does this; here the test does): the job
    lives, records the trial as failed with what killed it, and ends normally."""
    job = start_job(tmp_path, steps=100_000)
    pid = wait_for(lambda: worker_of(tmp_path) if (tmp_path / "shards").exists() else None)
    assert pid, job.communicate()[0][-2000:]
    time.sleep(2)  # into its training
    os.kill(pid, signal.SIGKILL)
    out = job.communicate(timeout=60)[0]
    assert job.returncode == 0, out[-2000:]
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["status"] == "failed" and m["trial"] == 0 and m["scale"] == "nano"
    assert m["error"].startswith("the training process was killed by SIGKILL, with no OOM kill counted"), m["error"]


@contextlib.contextmanager
def memory_cgroup(limit_bytes: int):
    """A new memory cgroup (v1 or v2) below this process's own, limited to ``limit_bytes``:
    yields its ``cgroup.procs``. Skips when one cannot be made here (not root, no writable
    memory controller)."""
    from mixopt.training.launch import _memory_cgroup_files

    swap = len(Path("/proc/swaps").read_text().splitlines()) > 1
    for counter in _memory_cgroup_files():
        folder = counter.parent / f"mixopt-test-{os.getpid()}"
        memory, swap_limit = (("memory.max", ("memory.swap.max", "0")) if counter.name == "memory.events"
                              else ("memory.limit_in_bytes", ("memory.memsw.limit_in_bytes", str(limit_bytes))))
        try:
            folder.mkdir()
            (folder / memory).write_text(str(limit_bytes))
            if swap:  # with swap the process would page out instead of being killed: no swap for it
                (folder / swap_limit[0]).write_text(swap_limit[1])
        except OSError:
            with contextlib.suppress(OSError):
                folder.rmdir()
            continue
        try:
            yield folder / "cgroup.procs"
        finally:
            wait_for(lambda: not (folder / "cgroup.procs").read_text().strip(), 30)
            folder.rmdir()
        return
    pytest.skip("no memory cgroup can be made here (needs root and a writable cgroup memory controller)")


@pytest.mark.slow
def test_a_trial_killed_by_the_oom_killer_is_recorded_as_out_of_memory(tmp_path):
    """The job in a memory cgroup of 1 GB, as SLURM limits a job, and a batch that needs more: the
    kernel's OOM killer kills the training process (it, not the job, by its oom_score_adj), and
    the job records the trial as failed, `out of memory`, with the OOM kill it counted."""
    with memory_cgroup(2**30) as procs:
        job = start_job(tmp_path, procs, batch=16384)
        out = job.communicate(timeout=300)[0]
    assert job.returncode == 0, out[-3000:]
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["status"] == "failed", m
    assert m["error"].startswith("out of memory: the training process was killed by SIGKILL, and the kernel's OOM "
                                 "killer struck meanwhile (OOM kills cgroup "), m["error"]


def _tiny_run(root: Path, lr: float = 1e-3, batch: int = 4, steps: int = 4):
    """A ``steps``-step run of a tiny proxy on random tokens: (spec, shard dirs)."""
    import numpy as np

    from mixopt.settings import ModelShape, TrainingSettings, section_defaults
    from mixopt.training.spec import TrainSpec

    folder = root / "shards"
    folder.mkdir(exist_ok=True)
    ids = np.random.default_rng(0).integers(0, 256, size=50_000).astype("uint16")
    ids.tofile(folder / "train.bin")
    ids[:5000].tofile(folder / "val.bin")
    (folder / "meta.json").write_text(json.dumps({"domain": "random", "dtype": "uint16", "vocab_size": 256,
                                                  "eos_token_id": 0, "tokens": {"train": 50_000, "val": 5000}}))
    training = dataclasses.replace(TrainingSettings.from_dict(section_defaults("training")), checkpoints=1,
                                   eval_tokens=200, threads=1, device="cpu", precision="fp32")
    shape = ModelShape(layers=1, width=32, heads=2, context=32, batch=batch, lr=lr)
    return TrainSpec.from_settings({"random": 1.0}, "nano", shape, steps, seed=0, training=training), {"random": folder}


def record(iteration: int, trial: int, error: str | None = None) -> tuple[Path, dict]:
    path = Path(f"results/iter_{iteration}/trial_{trial}/metrics.json")
    return path, {"iteration": iteration, "trial": trial, "status": "failed" if error else "ok", "error": error}


def test_systematic_failure_rules():
    # one flaky trial: the loop goes on
    check_systematic_failure([record(0, 0), record(0, 1, "NonFiniteLoss: at step 37"), record(1, 0)], 2)
    # every trial of an iteration failed
    with pytest.raises(SystematicFailure, match=r"every trial of iteration 1 failed: OSError: disk.*"
                                                 r"Logs: results/iter_1/trial_0/train.log, results/iter_1/trial_1"):
        check_systematic_failure([record(0, 0), record(1, 0, "OSError: disk"), record(1, 1, "OSError: disk")], 2)
    # one cause (numbers aside) in max_failures trials, across iterations
    trials = [record(0, 0), record(0, 1, "NonFiniteLoss: at step 37"), record(1, 0),
              record(1, 1, "NonFiniteLoss: at step 52")]
    check_systematic_failure(trials, 3)
    with pytest.raises(SystematicFailure, match="2 trials failed with the same error .budget.max_failures is 2"):
        check_systematic_failure(trials, 2)
    summary = failures_summary(trials)
    assert summary[0] == "mixopt: 2 of 4 trials failed:" and "iteration 1, trial 1: NonFiniteLoss" in summary[2]


def test_rerun_keeps_the_earlier_attempts_log(tmp_path):
    """Snakemake deletes a job's log before it reruns it; train.log still shows every attempt."""
    log = tmp_path / "trial_0" / "train.log"
    with pytest.raises(KeyboardInterrupt), log_to(log, keep_attempts=True):
        print("step 10 of 40")
        raise KeyboardInterrupt  # the kill
    log.unlink()  # what Snakemake does before the rerun
    with log_to(log, keep_attempts=True):
        print("resume: continuing from step 10")
    text = log.read_text()
    assert text.index("===== attempt 1 (") < text.index("step 10 of 40") < text.index("===== attempt 2 (") \
        < text.index("resume: continuing from step 10")


# --- the loop, through real Snakemake on the table back end -------------------------------------


def table_config(workdir: Path, initial_design: int) -> dict:
    """RegMix's recorded runs, random proposals, one iteration: the loop's jobs in seconds."""
    config = yaml.safe_load((REPO / "configs" / "regmix.yaml").read_text())
    config.pop("bench")
    config["strategy"] = {"name": "random"}
    config["budget"] = {"iterations": 1, "initial_design": initial_design}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    return config


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
                           "--configfile", str(workdir / "config.yaml"), "--cores", "2", *args],
                          capture_output=True, text=True, timeout=600)


def break_proposals(workdir: Path, trials: list[int]) -> None:
    """A person hand-edits these trials of iteration 0 into mixtures that do not sum to one."""
    path = workdir / "results/iter_0/proposals.csv"
    if not path.is_file():
        assert snakemake(workdir, "results/iter_0/proposals.csv").returncode == 0
    table = pd.read_csv(path)
    table["w_pile_cc"] = table["w_pile_cc"].astype(float)
    table.loc[table["trial"].isin(trials), "w_pile_cc"] += 0.5
    table.to_csv(path, index=False)


@pytest.mark.slow
def test_failed_trial_on_the_console_and_the_loop_goes_on(report_run):
    """The report's run (conftest.py): a person hand-edits one trial of iteration 1 into weights
    summing to 1.5. It is recorded as failed, said on the console as it happens, when its iteration
    ends and in the summary at the end, and the loop goes on to iteration 2 and the recommendation."""
    console = (report_run / "console.txt").read_text()
    line = "mixopt: trial FAILED: iteration 1, trial 3: ValueError:"
    assert console.count("mixopt: trial FAILED:") == 1 and line in console
    assert "(log: results/iter_1/trial_3/trial.log)" in console
    summary = console.index("mixopt: 1 of 12 trials failed:")
    assert console.index(line) < summary and "iteration 1, trial 3: ValueError" in console[summary:]
    # again once iteration 1 has ended, from its aggregate step (Snakemake's own process: on SLURM,
    # where the trial's line goes to its job's log, this one still reaches the console)
    recap = console.index("mixopt: iteration 1: 1 of 4 trials failed:")
    assert console.index(line) < recap < summary and "trial FAILED: iteration 1, trial 3" in console[recap:summary]
    assert "mixopt: iteration 0:" not in console and "mixopt: iteration 2:" not in console  # none failed there
    results = report_run / "results"
    assert (results / "iter_2/proposals.csv").is_file() and (results / "best_mixture.yaml").is_file()
    assert json.loads((results / "iter_1/trial_3/metrics.json").read_text())["status"] == "failed"


@pytest.mark.slow
def test_every_trial_failing_stops_the_loop_at_once(tmp_path):
    """A person breaks every trial of iteration 0: each says so on the console, then the loop stops
    with the error, the logs and the rerun command, before anything is proposed or recommended."""
    other = tmp_path / "elsewhere"
    for d in (tmp_path, other):
        d.mkdir(exist_ok=True)
        table_config(d, initial_design=2)
        assert snakemake(d, "results/iter_0/proposals.csv").returncode == 0
    # determinism across directories: the same config elsewhere proposes the same design
    design = "results/iter_0/proposals.csv"
    assert (tmp_path / design).read_bytes() == (other / design).read_bytes()
    break_proposals(tmp_path, [0, 1])
    proc = snakemake(tmp_path)
    console = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert console.count("mixopt: trial FAILED: iteration 0") == 2
    assert "the loop stops: every trial of iteration 0 failed" in console
    assert "results/iter_0/trial_1/trial.log" in console and "snakemake --forcerun" in console
    # stopped before the recommendation: no observations table, nothing half-written
    results = tmp_path / "results"
    assert not (results / "observations.csv").exists() and not (results / "best_mixture.yaml").exists()
    assert all(json.loads((results / f"iter_0/trial_{j}/metrics.json").read_text())["status"] == "failed"
               for j in range(2))


@pytest.mark.slow
def test_kill_mid_iteration_then_rerun_loses_nothing(tmp_path, tiny_config):
    """SIGKILL of snakemake while a trial trains: a second run meanwhile is refused, and so is
    `mixopt unlock`; the rerun stops at the stale lock until `mixopt unlock`, then resumes the
    killed trial from its checkpoint (its log keeps both attempts), retrains nothing finished, and
    keeps its proposals. Each trial holds after its first resume checkpoint until the test
    releases it (the worker's test-only hold), so the kill lands mid-run however loaded the machine."""
    from mixopt.training.worker import HOLD_AFTER_RESUME_ENV

    config = copy.deepcopy(tiny_config)
    config["target"]["tokens"] = 4 * 32 * 200  # 200 steps
    config["training"]["resume_every"] = 50
    config["budget"] = {"iterations": 1, "initial_design": 2}
    work = tmp_path / "work"
    work.mkdir()
    release = tmp_path / "release"
    release.mkdir()
    (work / "config.yaml").write_text(yaml.safe_dump(config))

    def cmd(d: Path, cores: str = "1") -> list[str]:
        return [*SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(d),
                "--configfile", str(d / "config.yaml"), "--cores", cores]

    def run(d: Path, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*cmd(d, "2"), *args], capture_output=True, text=True, timeout=600)

    first = subprocess.Popen(cmd(work), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                             env={**os.environ, HOLD_AFTER_RESUME_ENV: str(release)})
    logs = [work / f"results/iter_0/trial_{j}/train.log" for j in range(2)]

    def wait_for(condition, what: str) -> None:
        deadline = time.time() + 300
        while not condition():
            assert first.poll() is None and time.time() < deadline, what
            time.sleep(0.1)

    def held(log: Path) -> bool:  # past its first resume checkpoint, held there
        return log.is_file() and "resume checkpoint at step" in log.read_text()

    # snakemake picks which of the two trials runs first (one core): its log goes first in `logs`
    wait_for(lambda: any(held(log) for log in logs), "no trial reached its resume checkpoint")
    logs.sort(key=lambda log: not held(log))
    second = run(work)  # while the first runs
    assert second.returncode != 0 and "LockException" in second.stdout + second.stderr
    live, said = unlock(work)
    assert live == 1 and f"pid {first.pid}," in said and "its lock is live" in said, said  # mixopt unlock refuses

    (release / logs[0].parent.name).touch()  # the held trial finishes; the other then starts and holds
    wait_for(lambda: (logs[0].parent / "metrics.json").exists() and held(logs[1]),
             "the second trial did not reach its resume checkpoint")
    assert not (logs[1].parent / "metrics.json").exists()
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    killed = logs[1]
    done = {p: p.stat().st_mtime_ns for p in (work / "results/iter_0").glob("trial_*/metrics.json")}
    assert list(done) == [logs[0].parent / "metrics.json"]
    proposals = (work / "results/iter_0/proposals.csv").read_bytes()

    stale = run(work, "--rerun-incomplete")
    assert stale.returncode != 0 and "Directory cannot be locked" in stale.stdout + stale.stderr
    code, said = unlock(work)
    assert code == 0 and "its lock is removed" in said, said
    rerun = run(work, "--rerun-incomplete", "results/observations.csv")  # the loop, without its report
    assert rerun.returncode == 0, rerun.stderr[-3000:]

    text = killed.read_text()
    assert "===== attempt 1 (" in text and "===== attempt 2 (" in text, text[-2000:]
    assert text.index("resume checkpoint at step") < text.index("===== attempt 2 (") < text.index("resume: continuing")
    assert {p: p.stat().st_mtime_ns for p in done} == done  # nothing finished was retrained
    assert (work / "results/iter_0/proposals.csv").read_bytes() == proposals
    assert json.loads((killed.parent / "metrics.json").read_text())["status"] == "ok"
