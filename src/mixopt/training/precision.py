"""The arithmetic a proxy run trains in: ``training.precision`` (auto | bf16 | fp32) on its device.

bfloat16 autocast runs the matrix products in bf16 and keeps the weights, the optimiser state and
the loss (:func:`~mixopt.training.evaluate.lm_loss`) in float32. ``auto`` takes bf16 where the
hardware does it natively, a CUDA device that supports it or a CPU with AVX512-BF16 or AMX
instructions, and float32 elsewhere (emulated bf16 is slower than fp32). ``bf16`` asks for it
anywhere torch can (on a CPU without the instructions too: slower, but the same numerics).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from functools import lru_cache
from pathlib import Path
from typing import Callable

import torch

__all__ = ["PRECISIONS", "cpu_has_native_bf16", "autocast_for"]

PRECISIONS = ("auto", "bf16", "fp32")
#: CPU flags (Linux /proc/cpuinfo) of native bf16 arithmetic
_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 products natively (read from /proc/cpuinfo; ``False``
    where it cannot be read). torch has no public query for it: ``mkldnn``'s own check also
    accepts CPUs that only emulate bf16 with AVX512-BW."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return any(flag in flags for flag in _BF16_FLAGS)


def autocast_for(device: torch.device, precision: str) -> tuple[Callable[[], AbstractContextManager], str]:
    """The autocast context of a forward pass on ``device`` at ``precision``, and the name of its
    compute dtype (``bfloat16`` or ``float32``, recorded in metrics.json).

    Raises:
        ValueError: an unknown precision, or ``bf16`` on a CUDA device without bf16 support.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"training.precision must be one of {PRECISIONS}, got {precision!r}")
    if device.type == "cuda":
        supported = torch.cuda.is_bf16_supported()
        if precision == "bf16" and not supported:
            raise ValueError(f"training.precision bf16: {torch.cuda.get_device_name(device)} does not support bfloat16")
        bf16 = precision == "bf16" or (precision == "auto" and supported)
    else:
        bf16 = precision == "bf16" or (precision == "auto" and device.type == "cpu" and cpu_has_native_bf16())
    if not bf16:
        return nullcontext, "float32"
    return (lambda: torch.autocast(device.type, dtype=torch.bfloat16)), "bfloat16"
