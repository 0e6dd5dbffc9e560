"""What the GPU check's figures were measured on: the GPUs, their driver and the CUDA stack.

The command, date, commit, CPU model and core count come from ``markdown_table`` (every
benchmark's provenance line); this adds the GPU line above the GPU check's tables and the
``environment.json`` it writes. Read from torch and, for the driver (torch does not report it),
``nvidia-smi``.
"""

from __future__ import annotations

import os
import platform
import subprocess
from typing import Any

import torch

import markdown_table  # beside this script
from mixopt.core.machine import cpu_model

__all__ = ["ROOT", "environment", "provenance_markdown"]

ROOT = markdown_table.ROOT


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
        "cpu": cpu_model(),
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


def provenance_markdown(env: dict[str, Any]) -> str:
    """The lines above a table: the GPUs (model, driver, CUDA, torch), then ``markdown_table``'s
    provenance line (command, date, commit, CPU model and core count)."""
    gpus = env["gpus"]
    if gpus:
        names = ", ".join(sorted({g["name"] for g in gpus}))
        device = f"{len(gpus)} x {names}, driver {env['driver'] or 'unknown'}, CUDA {env['cuda_build']}"
    else:
        device = "none (no CUDA device visible)"
    return f"GPU: {device}; torch {env['torch']}.\n\n{markdown_table.provenance()}\n"
