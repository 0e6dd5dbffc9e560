r"""What one training job asks a cluster for, from the proxy's shape (profiles/slurm).

A trial of a scale with ``gpus: k`` is one job of k processes on one node (torchrun): k GPUs,
``k * training.threads`` CPUs (the torch threads each process really uses; on a GPU the CPU only
draws batches) and k times one process's host memory, which follows the shape.

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

__all__ = ["proxy_params", "train_mem_mb", "trial_gpus", "trial_mem_mb", "trial_threads"]

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

    ``shape.gpus * (BASE_MB + MARGIN * (BYTES_PER_PARAM * params + activations))``, rounded up to
    256 MB: each process holds its own model, optimiser and, on a CPU, the activations of its
    ``batch / gpus`` rows: per token, the logits, their fp32 copy and gradient (``3 * vocab``) and
    ~40 floats of width per layer, 4 bytes each.
    """
    params = proxy_params(shape, vocab_size)
    on = "cpu" if device == "cpu" else "gpu"
    activations = 0
    if on == "cpu":
        rows = shape.batch // shape.gpus
        activations = 4 * rows * shape.context * (3 * vocab_size + 40 * shape.layers * shape.width)
    mb = shape.gpus * (BASE_MB + MARGIN * (BYTES_PER_PARAM[on] * params + activations) / 2**20)
    return int(math.ceil(mb / ROUND_MB) * ROUND_MB)


def _trial_shapes(settings: Settings, proposals_path: str | Path, trial: int) -> list[ModelShape]:
    """The shape that ``proposals.csv`` gives ``trial``; every configured shape for a row naming
    no configured scale (it will fail as a trial; the job gets the most any scale needs)."""
    table = pd.read_csv(proposals_path)
    scales = table.loc[table["trial"] == int(trial), "scale"].tolist()
    if len(scales) == 1 and scales[0] in settings.scales:
        return [settings.scales[scales[0]]]
    return list(settings.scales.values())


def trial_mem_mb(settings: Settings, proposals_path: str | Path, trial: int) -> int:
    """:func:`train_mem_mb` of ``trial``'s scale in ``proposals.csv``."""
    vocab, device = settings.tokenizer.vocab_size, settings.training.device
    return max(train_mem_mb(shape, vocab, device) for shape in _trial_shapes(settings, proposals_path, trial))


def trial_gpus(settings: Settings, proposals_path: str | Path, trial: int) -> int:
    """GPUs of ``trial``'s job: its scale's ``gpus``."""
    return max(shape.gpus for shape in _trial_shapes(settings, proposals_path, trial))


def trial_threads(settings: Settings, proposals_path: str | Path, trial: int) -> int:
    """CPU threads of ``trial``'s job: ``training.threads`` for each of its scale's processes."""
    return settings.training.threads * trial_gpus(settings, proposals_path, trial)
