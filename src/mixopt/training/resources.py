r"""What one training job asks a cluster for, from the proxy's shape (profiles/slurm).

Only memory depends on the shape. The GPU count is fixed (one per trial) and the CPUs are
``training.threads``, the torch threads a trial really uses (on a GPU the CPU only draws batches).

Snakemake evaluates these in its own process: this module imports neither torch nor transformers
(seconds per job), so parameters are counted by formula (:func:`proxy_params`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from mixopt.settings import ModelShape, Settings

__all__ = ["proxy_params", "train_mem_mb", "trial_mem_mb"]

# Python with torch and transformers: a CPU trial of config.yaml's `tiny` scale peaked at 0.48 GB
# RSS here; a CUDA context adds a few hundred MB of host memory.
BASE_MB = 2048
# Host bytes per parameter. Always: the fp32 model as built on the CPU (4 B) and the CPU copy of
# model and AdamW state written to a resume checkpoint (12 B). A CPU run also holds gradients and
# the two moments in host memory (12 B more), and its activations.
BYTES_PER_PARAM = {"gpu": 16, "cpu": 28}
# Slack over the estimate: allocator fragmentation, autograd temporaries not counted below.
MARGIN = 1.5
ROUND_MB = 256


def proxy_params(shape: ModelShape, vocab_size: int) -> int:
    """Parameters of :func:`mixopt.training.model.build_model`'s Llama (tied embedding counted once),
    by formula (:func:`mixopt.training.model.parameter_count` counts the real model). Per layer:
    q, k, v, o (``4 W^2``), the SwiGLU MLP (``3 W F``) and two RMSNorm gains; plus the embedding
    and the final norm."""
    width, ffn = shape.width, shape.ffn
    return vocab_size * width + shape.layers * (4 * width * width + 3 * width * ffn + 2 * width) + width


def train_mem_mb(shape: ModelShape, vocab_size: int, device: str = "auto") -> int:
    """Host memory (MB) for one training job of a proxy of ``shape`` on ``device``
    (``training.device``: ``auto`` and ``cuda`` mean a GPU job, as the SLURM profile asks for one).

    ``BASE_MB + MARGIN * (BYTES_PER_PARAM * params + activations)``, rounded up to 256 MB; a CPU
    run's activations are, per token, the logits, their fp32 copy and gradient (``3 * vocab``)
    and ~40 floats of width per layer, 4 bytes each.
    """
    params = proxy_params(shape, vocab_size)
    on = "cpu" if device == "cpu" else "gpu"
    activations = 0
    if on == "cpu":
        activations = 4 * shape.batch * shape.context * (3 * vocab_size + 40 * shape.layers * shape.width)
    mb = BASE_MB + MARGIN * (BYTES_PER_PARAM[on] * params + activations) / 2**20
    return int(math.ceil(mb / ROUND_MB) * ROUND_MB)


def trial_mem_mb(settings: Settings, proposals_path: str | Path, trial: int) -> int:
    """:func:`train_mem_mb` for the scale that ``proposals.csv`` gives ``trial``; a row naming no
    configured scale (it will fail as a trial) gets the largest configured scale's figure."""
    vocab, device = settings.tokenizer.vocab_size, settings.training.device
    table = pd.read_csv(proposals_path)
    scales = table.loc[table["trial"] == int(trial), "scale"].tolist()
    if len(scales) == 1 and scales[0] in settings.scales:
        return train_mem_mb(settings.scales[scales[0]], vocab, device)
    return max(train_mem_mb(shape, vocab, device) for shape in settings.scales.values())
