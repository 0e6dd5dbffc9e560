r"""A trial's training process: ``python -m mixopt.training.worker JOB``, one process or each of torchrun's.

``JOB`` is the JSON that :func:`mixopt.training.launch.run_trial_processes` puts on the command
line (:func:`~mixopt.training.launch.worker_command`): the spec, the shard directories, the
metrics path (``out``), the ids merged into the record (``extra``), and the resume file and
interval.
The process runs :func:`~mixopt.training.trial.run_trial` as the rank torchrun gave it (rank 0 of
1 without torchrun). A Python error that escapes it (a rank of several that failed, see
``run_trial``) is written to ``TORCHELASTIC_ERROR_FILE`` by torch's ``record`` decorator, where the
launching job reads it.

Each process asks the kernel to kill it when its parent dies (``PR_SET_PDEATHSIG``): torchrun
starts its ranks in sessions of their own, so if it or the job were killed outright (SIGKILL, which
neither can pass on), the ranks would train on unseen and write the trial's files behind the
workflow's back. Python and torch have no call for it, hence ctypes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Callable

# Idle OpenMP threads must not spin while a neighbouring job holds the other core.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from torch.distributed.elastic.multiprocessing.errors import record  # noqa: E402

from mixopt.training.distributed import Ranks, leave  # noqa: E402
from mixopt.training.spec import TrainSpec  # noqa: E402
from mixopt.training.trial import run_trial  # noqa: E402


#: prctl(2)'s option that sets the signal a process gets when its parent dies
_PR_SET_PDEATHSIG = 1

#: tests only: a directory; after its first resume checkpoint a trial's training waits until the
#: file named as the trial's folder (e.g. ``trial_1``) exists there, so a test can kill or stop a
#: run at a known point instead of betting on its speed
HOLD_AFTER_RESUME_ENV = "MIXOPT_TEST_HOLD_AFTER_RESUME"


def holding_log(log: Callable[[str], None], release: Path | None) -> Callable[[str], None]:
    """``log``, which holds the training after its first resume checkpoint line until the file
    ``release`` exists (``None``: ``log`` itself)."""
    if release is None:
        return log
    held = False

    def log_and_hold(line: str) -> None:
        nonlocal held
        log(line)
        if not held and line.startswith("resume checkpoint at step"):
            held = True
            sys.stdout.flush()
            while not Path(release).exists():
                time.sleep(0.05)

    return log_and_hold


def die_with_parent() -> None:
    """SIGKILL this process when its parent dies (Linux); nothing elsewhere."""
    parent = os.getppid()
    try:
        prctl = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return
    prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGKILL)


def _release_file(out: Path) -> Path | None:
    """The file the trial writing ``out`` waits for after its first resume checkpoint (tests)."""
    hold = os.environ.get(HOLD_AFTER_RESUME_ENV)
    return Path(hold) / out.parent.name if hold else None


@record
def main(argv: list[str]) -> None:
    die_with_parent()
    job = json.loads(argv[0])
    out = Path(job["out"])
    try:
        run_trial(TrainSpec(**job["spec"]), {name: Path(d) for name, d in job["shard_dirs"].items()}, out,
                  extra=job["extra"], log=holding_log(print, _release_file(out)), resume=Path(job["resume"]) if job["resume"] else None,
                  resume_every=job["resume_every"], ranks=Ranks.from_env())
    finally:
        leave()


if __name__ == "__main__":
    main(sys.argv[1:])
