"""What a measurement ran on: the CPU, and the commit of the checkout it ran from.

Shared by the library's own tables (``mixopt compare``'s) and the scripts in ``benchmarks/``, so
every measured table names its machine the same way.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo; elsewhere what platform reports)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def cpu() -> str:
    """The CPU model and its core count, e.g. ``AMD EPYC 7B13 (2 cores)``."""
    return f"{cpu_model()} ({os.cpu_count()} cores)"


def commit(folder: str | Path) -> str:
    """The short commit of the git checkout holding ``folder``, marked when its tracked files
    differ from it; ``unknown (not a git checkout)`` for an installed wheel."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, check=True).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{head} with uncommitted changes" if dirty else head
