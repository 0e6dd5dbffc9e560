r"""Snakemake's lock on a project directory: whether a live run holds it, and removing a stale one.

A ``snakemake`` that was killed (SIGKILL, a closed terminal, a reboot) leaves
``.snakemake/locks/`` behind, and the next run stops with ``LockException``. ``snakemake
--unlock`` removes the lock, but also when another ``snakemake`` still runs in the directory, which
would then have a second one writing the same files. :func:`live_runs` finds such runs on this
machine (a process whose program is snakemake, working in the directory: its cwd, or its
``--directory``); :func:`unlock` removes the lock only when there is none.

The lock is removed here, as ``snakemake --unlock`` does it (Snakemake's file persistence deletes
the ``.snakemake/locks`` folder), rather than by running that command: Snakemake parses the
workflow and checks the config first, so a config that no longer checks (a corpus moved since the
killed run) would keep a stale lock that has nothing to do with it.
"""

from __future__ import annotations

import datetime
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import psutil

__all__ = ["LiveRun", "live_runs", "unlock"]


@dataclass(frozen=True)
class LiveRun:
    """A snakemake process working in a directory."""

    pid: int
    command: str
    started: str

    def __str__(self) -> str:
        return f"pid {self.pid}, started {self.started}: {self.command}"


def live_runs(directory: str | Path) -> list[LiveRun]:
    """The snakemake processes on this machine whose working directory is ``directory``, this
    process and its parents aside."""
    target = Path(directory).resolve()
    mine = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    runs = []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd", "create_time"]):
        info = proc.info
        argv, cwd = info.get("cmdline") or [], info.get("cwd")
        if info["pid"] in mine or cwd is None or not _is_snakemake(argv):
            continue
        if _workdir(argv, Path(cwd)) == target:
            started = datetime.datetime.fromtimestamp(info["create_time"]).isoformat(sep=" ", timespec="seconds")
            runs.append(LiveRun(info["pid"], " ".join(argv), started))
    return runs


def _is_snakemake(argv: list[str]) -> bool:
    """``snakemake ...``, ``python .../snakemake ...`` or ``python -m snakemake ...``."""
    names = [Path(arg).name for arg in argv[:2]]
    return bool(argv) and (names[0] == "snakemake" or names[1:] == ["snakemake"] or argv[1:3] == ["-m", "snakemake"])


def _workdir(argv: list[str], cwd: Path) -> Path:
    """The directory a snakemake command works in: its ``--directory``/``-d``, else its cwd."""
    for i, arg in enumerate(argv):
        for flag in ("--directory", "-d"):
            if arg == flag and i + 1 < len(argv):
                return (cwd / argv[i + 1]).resolve()
            if arg.startswith(flag + "="):
                return (cwd / arg.split("=", 1)[1]).resolve()
    return cwd.resolve()


def unlock(directory: str | Path) -> tuple[int, str]:
    """Remove the Snakemake lock of ``directory`` unless a live run holds it.

    Returns:
        The exit code (1 when a live run was found) and what to tell the user.
    """
    directory = Path(directory).resolve()
    runs = live_runs(directory)
    if runs:
        listing = "\n".join(f"  {run}" for run in runs)
        return 1, (f"a snakemake is running in {directory}; its lock is live, so it stays. "
                   f"Let it finish, or stop it first:\n{listing}\n(Only this machine was searched: on a "
                   f"cluster, look on the host that ran snakemake, e.g. the login node's tmux/screen.)")
    locks = directory / ".snakemake" / "locks"
    if not locks.exists():
        return 0, f"no snakemake runs in {directory}, and no lock to remove"
    shutil.rmtree(locks)
    return 0, f"no snakemake runs in {directory}: its lock is removed"
