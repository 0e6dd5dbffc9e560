"""Where a benchmark's figures come from: the command, date, commit and machine, as Markdown.

The GPU check and its throughput table write these lines above their tables (the docs show no
figure without them). Read from the places a person would look: ``git``, ``/proc/cpuinfo``,
torch, and ``nvidia-smi`` for the driver (torch does not report it).
"""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

__all__ = ["ROOT", "command_line", "environment", "git_commit", "provenance_markdown"]

ROOT = Path(__file__).resolve().parents[1]


def command_line(argv: list[str] | None = None) -> str:
    """The command as typed: ``python benchmarks/<script> <args>``, paths relative to the repository."""
    argv = sys.argv if argv is None else argv
    script = Path(argv[0]).resolve()
    shown = script.relative_to(ROOT) if script.is_relative_to(ROOT) else Path(argv[0]).name
    return shlex.join(["python", str(shown), *argv[1:]])


def git_commit() -> str:
    """The checked-out commit, ``-dirty`` when tracked files differ from it; ``unknown`` outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _nvidia_smi() -> list[dict[str, str]]:
    """Name, driver and memory of each GPU as ``nvidia-smi`` reports them; empty without it."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    rows = [[field.strip() for field in line.split(",")] for line in out.strip().splitlines()]
    return [{"name": r[0], "driver": r[1], "memory": r[2]} for r in rows if len(r) == 3]


def _nccl_version() -> str | None:
    """NCCL's version as torch links it (a tuple in recent torch, an int in older ones)."""
    try:
        version = torch.cuda.nccl.version()
    except (RuntimeError, AttributeError):
        return None
    return ".".join(map(str, version)) if isinstance(version, tuple) else str(version)


def environment() -> dict[str, Any]:
    """The machine and software the figures were measured on (JSON-ready).

    ``gpus`` lists each visible CUDA device (torch's name, memory, compute capability); ``driver``
    comes from ``nvidia-smi`` (``None`` without it), ``bf16`` is torch's
    ``cuda.is_bf16_supported()``; all GPU fields are ``None`` where no CUDA device is visible.
    """
    cuda = torch.cuda.is_available()
    gpus = []
    for i in range(torch.cuda.device_count() if cuda else 0):
        props = torch.cuda.get_device_properties(i)
        gpus.append({"index": i, "name": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
                     "compute_capability": f"{props.major}.{props.minor}"})
    smi = _nvidia_smi()
    return {
        "cpu": _cpu_model(),
        "cpu_cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda_build": torch.version.cuda,
        "cuda_available": cuda,
        "gpus": gpus,
        "driver": smi[0]["driver"] if smi else None,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "nccl": _nccl_version() if cuda else None,
        "bf16": torch.cuda.is_bf16_supported() if cuda else None,
    }


def provenance_markdown(env: dict[str, Any], argv: list[str] | None = None) -> str:
    """The lines above a table: command, date (UTC), commit, machine (GPU or CPU model, core count)."""
    gpus = env["gpus"]
    if gpus:
        names = sorted({g["name"] for g in gpus})
        device = f"{len(gpus)} x {', '.join(names)} (driver {env['driver'] or 'unknown'}, CUDA {env['cuda_build']})"
    else:
        device = "no CUDA GPU"
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join([
        f"- command: `{command_line(argv)}`",
        f"- date: {date}",
        f"- commit: `{git_commit()}`",
        f"- GPU: {device}",
        f"- CPU: {env['cpu']}, {env['cpu_cores']} cores",
        f"- torch {env['torch']}, Python {env['python']}",
    ]) + "\n"
