r"""The data-parallel ranks of one proxy run: the k processes torchrun starts for ``scales.<s>.gpus: k``.

torchrun sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` in each process it starts; a run
without them is one process, rank 0 of 1, and never touches ``torch.distributed``. The ranks
share the one-process run's global batch (each trains on its ``batch / k`` rows of it,
:class:`~mixopt.training.sampler.MixtureSampler`), and DistributedDataParallel averages their
gradients, so the update is the one-process run's up to the order of floating-point sums.
Collectives go over NCCL on GPUs and gloo on CPUs (the local profile, and the tests).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

__all__ = ["Ranks", "all_sum", "gather", "join", "leave"]


@dataclass(frozen=True)
class Ranks:
    """This process's place among a run's processes.

    Attributes:
        rank: 0 .. world - 1; rank 0 logs and writes the run's files.
        local_rank: the rank on this node (its GPU index).
        world: how many processes train the run.
    """

    rank: int = 0
    local_rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> Ranks:
        """The ranks torchrun set in the environment; one process (0 of 1) without them."""
        env = os.environ
        return cls(int(env.get("RANK", 0)), int(env.get("LOCAL_RANK", 0)), int(env.get("WORLD_SIZE", 1)))


def join(ranks: Ranks, device: torch.device) -> None:
    """Join the run's process group (NCCL on CUDA, gloo on CPU); nothing for one process."""
    if ranks.world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=ranks.rank, world_size=ranks.world,
                                device_id=device if device.type == "cuda" else None)


def leave() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_initialized():
        dist.destroy_process_group()


def all_sum(tensor: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    """``tensor`` summed over the ranks, in place (every rank gets the sum); itself for one process."""
    if ranks.world > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def gather(obj: Any, ranks: Ranks) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order, on every rank; ``[obj]`` for one process."""
    if ranks.world == 1:
        return [obj]
    out: list[Any] = [None] * ranks.world
    dist.all_gather_object(out, obj)
    return out
