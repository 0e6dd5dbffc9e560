r"""Where a proxy run trains (``training.device``) and the optimiser kernels that device runs.

``auto`` is CUDA when a GPU is visible, else the CPU; a process of a run of several (torchrun)
takes the GPU of its local rank. Asking for CUDA where there is none, or for a GPU index that is
not there, is one error naming ``training.device``, not torch's assertion from deep inside
``set_device``. On CUDA, AdamW runs fused (one kernel for all parameters, as nanoGPT does on GPUs);
elsewhere torch's default (``foreach``) is kept, so CPU runs stay bit-identical to earlier ones.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["DEVICES", "adamw_options", "training_device"]

DEVICES = ("auto", "cpu", "cuda")


def training_device(name: str, local_rank: int = 0) -> torch.device:
    """The device of ``training.device`` for the process of ``local_rank`` (made torch's current
    CUDA device there).

    Args:
        name: ``auto``, ``cpu`` or ``cuda``.
        local_rank: This process's rank on its node (torchrun's ``LOCAL_RANK``): its GPU index.

    Raises:
        ValueError: an unknown name, ``cuda`` without a visible GPU, or fewer GPUs than
            ``local_rank + 1``.
    """
    if name not in DEVICES:
        raise ValueError(f"training.device must be one of {DEVICES}, got {name!r}")
    kind = ("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name
    if kind == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        built = f"CUDA {torch.version.cuda}" if torch.version.cuda else "no CUDA"
        raise ValueError(f"training.device cuda: no CUDA GPU is visible (torch {torch.__version__}, built with "
                         f"{built}); use training.device cpu or auto")
    count = torch.cuda.device_count()
    if local_rank >= count:
        raise ValueError(f"training.device cuda: process of local rank {local_rank} needs GPU {local_rank}, but "
                         f"{count} GPU{'s are' if count != 1 else ' is'} visible (scales.<s>.gpus is more than "
                         f"this node has?)")
    device = torch.device("cuda", local_rank)
    torch.cuda.set_device(device)
    return device


def adamw_options(device: torch.device) -> dict[str, Any]:
    """Keyword arguments of ``torch.optim.AdamW`` for parameters on ``device``: ``fused`` on CUDA."""
    return {"fused": True} if device.type == "cuda" else {}
