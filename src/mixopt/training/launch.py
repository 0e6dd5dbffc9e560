r"""Run a trial's training in processes of its own, and record a death that leaves no record.

The trial's job (a Snakemake job; this module imports no torch) starts the training and waits:
``python -m mixopt.training.worker JOB`` for a scale of one process, or torchrun for
``scales.<s>.gpus: k`` (``python -m torch.distributed.run --standalone --nproc_per_node=k -m
mixopt.training.worker JOB``: PyTorch's own launcher starts, watches and ends the k ranks). Their
output goes to the job's log. What ends them:

* they finish, or a Python error fails the run: rank 0 wrote metrics.json itself (``ok``, or
  ``failed`` with the error);
* a rank other than 0 raised: torch's ``record`` wrote its error to ``TORCHELASTIC_ERROR_FILE``,
  and torchrun ended the others; the job records the trial as failed with that error;
* the kernel killed a training process (SIGKILL) while the job lived: the job records it as
  failed, ``out of memory: ...`` when the kernel counted an OOM kill meanwhile, in the job's memory
  cgroup (what SLURM limits) or on the machine (:func:`oom_kills`); the loop goes on;
* SIGTERM, SIGINT or SIGHUP (a preemption, a time limit, ``scancel``, Ctrl-C): nothing is recorded.
  A signal to the job is passed on to the training processes, and the job then raises
  :class:`TrainingInterrupted`; its rerun resumes from the resume checkpoint.

The training processes get ``oom_score_adj`` 1000, so when memory runs out the kernel kills them,
not this small process, which then records why.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from mixopt.core.atomic import write_json
from mixopt.training.metrics import failed_metrics
from mixopt.training.spec import TrainSpec

__all__ = ["STOPS", "TrainingInterrupted", "oom_kills", "run_trial_processes", "worker_command"]

#: signals that stop a trial without failing it (preemption, time limit, Ctrl-C, a closed terminal)
STOPS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
#: seconds between a training process's SIGKILL and recording it: when the whole job is being
#: killed (SIGKILL to every process), this process goes within them, and records nothing
KILL_GRACE_S = 1.0


class TrainingInterrupted(RuntimeError):
    """The training was stopped by a signal (:data:`STOPS`): not a failed trial; a rerun resumes it."""


def worker_command(job: Mapping[str, Any], processes: int) -> list[str]:
    """The command that trains ``job`` in ``processes`` processes (torchrun for more than one)."""
    worker = ["-m", "mixopt.training.worker", json.dumps(job)]
    if processes == 1:
        return [sys.executable, *worker]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", *worker]


def run_trial_processes(spec: TrainSpec, shard_dirs: Mapping[str, Path], out_path: Path,
                        extra: Mapping[str, Any], log: Callable[[str], None] = print,
                        resume: Path | None = None, resume_every: int = 0) -> dict:
    """Train ``spec`` in ``spec.shape.gpus`` processes of its own and return the record in
    ``out_path``, written by the training (rank 0) or, for a death without one, here.

    Arguments as :func:`mixopt.training.trial.run_trial`, which each process runs.

    Raises:
        TrainingInterrupted: the training was stopped by SIGTERM, SIGINT or SIGHUP (nothing is
            written; the resume file stays).
    """
    out_path = Path(out_path)
    out_path.unlink(missing_ok=True)  # the record must come from this run
    job = {"spec": spec.to_dict(), "shard_dirs": {name: str(d) for name, d in shard_dirs.items()},
           "out": str(out_path), "extra": dict(extra), "resume": str(resume) if resume else None,
           "resume_every": resume_every}
    processes = spec.shape.gpus
    command = worker_command(job, processes)
    with tempfile.TemporaryDirectory(prefix="mixopt-trial-") as tmp:
        error_file = Path(tmp) / "error.json"
        env = {**os.environ, "TORCHELASTIC_ERROR_FILE": str(error_file), "PYTHONUNBUFFERED": "1",
               "OMP_NUM_THREADS": str(spec.training.threads)}
        log(f"training in {processes} process{'es' if processes > 1 else ''}: "
            f"{' '.join(command[:-1])} <job: spec, shards, {out_path.name}>")
        oom_before = oom_kills()
        returncode, stopped_by = _supervise(command, env, log)
        if stopped_by is not None or (returncode < 0 and -returncode in STOPS):
            name = signal.Signals(stopped_by or -returncode).name
            raise TrainingInterrupted(f"the training was stopped by {name}; rerun the trial to resume it "
                                      f"from its last resume checkpoint")
        if out_path.is_file():  # rank 0's record, ok or failed
            return json.loads(out_path.read_text())
        error = _rank_error(error_file)
        if error is None:
            time.sleep(KILL_GRACE_S)
            error = _death(returncode, processes, oom_before, oom_kills())
    record = dict(extra) | failed_metrics(error, spec)
    log(f"trial failed: {error}")
    write_json(record, out_path)
    if resume is not None:
        Path(resume).unlink(missing_ok=True)  # as after any record: a forced rerun starts over
    return record


def _supervise(command: list[str], env: Mapping[str, str], log: Callable[[str], None]) -> tuple[int, int | None]:
    """Run ``command``, its output to ``log``, passing :data:`STOPS` signals on to it.

    Returns:
        Its return code (``-N`` for signal N) and the stop signal this process got, if any.
    """
    proc = subprocess.Popen(command, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace", bufsize=1)
    with contextlib.suppress(OSError):  # the processes it starts inherit it (torchrun's ranks too)
        Path(f"/proc/{proc.pid}/oom_score_adj").write_text("1000")
    stopped: list[int] = []

    def pass_on(sig: int, _frame: object) -> None:
        stopped.append(sig)
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)

    main = threading.current_thread() is threading.main_thread()  # only it may handle signals
    previous = {sig: signal.signal(sig, pass_on) for sig in STOPS} if main else {}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            log(line.rstrip("\n"))
        returncode = proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return returncode, (stopped[0] if stopped else None)


def _rank_error(error_file: Path) -> str | None:
    """The Python error that a rank (or torchrun, its first failure) wrote, if one did."""
    try:
        message = json.loads(error_file.read_text())["message"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    text = message.get("message") if isinstance(message, dict) else message
    return str(text).strip() or None


def _death(returncode: int, processes: int, before: Mapping[str, int], after: Mapping[str, int]) -> str:
    """Why training processes ended without a record and without a Python error."""
    if processes > 1:
        died = (f"a training process ended without a Python error (torchrun exit code {returncode}; its report in "
                f"the log names the signal)")
    elif returncode < 0:
        died = f"the training process was killed by {signal.Signals(-returncode).name}"
    else:
        died = f"the training process exited with code {returncode} without a record"
    counted = [f"{where}: {before[where]} -> {n}" for where, n in after.items() if n > before.get(where, n)]
    if counted:
        return f"out of memory: {died}, and the kernel's OOM killer struck meanwhile (OOM kills {'; '.join(counted)})"
    if returncode == -signal.SIGKILL:
        return f"{died}, with no OOM kill counted here (another process or a person sent it); see the log"
    return f"{died}; see the log"


def oom_kills() -> dict[str, int]:
    """The kernel's OOM kills counted so far, by where: this process's memory cgroup (cgroup v2
    ``memory.events``, v1 ``memory.oom_control``; what SLURM limits a job by) and the machine
    (``/proc/vmstat``). What cannot be read is left out.

    Read by hand: no library reports these counters (psutil does not).
    """
    counts = {}
    for path in [*_memory_cgroup_files(), Path("/proc/vmstat")]:
        with contextlib.suppress(OSError, ValueError):
            for line in path.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    counts["machine" if path.name == "vmstat" else f"cgroup {path.parent}"] = int(value)
    return counts


def _memory_cgroup_files() -> list[Path]:
    """The OOM counter files of this process's memory cgroups, where their hierarchies are mounted."""
    try:
        cgroup_lines = Path("/proc/self/cgroup").read_text().splitlines()
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    mine = {}  # "cgroup2" or "memory" -> this process's path in that hierarchy
    for line in cgroup_lines:
        hierarchy, controllers, path = line.split(":", 2)
        if hierarchy == "0" and not controllers:
            mine["cgroup2"] = path
        elif "memory" in controllers.split(","):
            mine["memory"] = path
    files = []
    for line in mounts:  # "<id> <parent> <dev> <root> <mount point> ... - <type> <source> <options>"
        left, _, right = line.partition(" - ")
        fields, kind = left.split(), right.split()
        if len(fields) < 5 or len(kind) < 3:
            continue
        fstype, options = kind[0], kind[2]
        if fstype == "cgroup2" and "cgroup2" in mine:
            path, name = mine["cgroup2"], "memory.events"
        elif fstype == "cgroup" and "memory" in options.split(",") and "memory" in mine:
            path, name = mine["memory"], "memory.oom_control"
        else:
            continue
        inside = os.path.relpath(path, fields[3])
        if not inside.startswith(".."):
            files.append(Path(fields[4]) / inside / name)
    return files
