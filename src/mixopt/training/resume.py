r"""Resume checkpoints: what a killed (preempted, timed-out) run restarts from.

A resume file holds the model, the optimiser, each rank's sampler (its RNG and counts) and global
RNGs (torch, CUDA, numpy, Python), and the loop's progress: the step, the per-step train losses,
the metrics so far and the time spent. A run of several processes writes one file, from rank 0,
with every rank's states (:func:`rank_state`, gathered); each rank restores its own. It is keyed
by :func:`resume_key`, so a run never resumes from a file of another spec or other shards. A
killed-and-resumed run gives the same metrics as an uninterrupted one (bit-identical on CPU),
timing aside.

The file is a ``torch.save`` of plain types and tensors, read back with ``weights_only=True``.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from mixopt.core.atomic import atomic_open
from mixopt.training.sampler import MixtureSampler
from mixopt.training.spec import TrainSpec

__all__ = ["RESUME_FORMAT", "load_resume", "rank_state", "restore_resume", "resume_key", "save_model", "save_resume"]

RESUME_FORMAT = 3  # 3: the spec holds its training settings as one section


def resume_key(spec: TrainSpec, shard_dirs: Mapping[str, Path]) -> str:
    """What a resume checkpoint must match to be used: a hash of the spec and of the shards
    (their meta.json and file sizes), so a checkpoint of another run is never resumed."""
    shards = {}
    for name, d in sorted(shard_dirs.items()):
        d = Path(d)
        files = {f.name: f.stat().st_size for f in sorted(d.glob("*.bin"))}
        meta = (d / "meta.json").read_text() if (d / "meta.json").is_file() else None
        shards[name] = {"meta": meta, "files": files}
    run = spec.to_dict()
    run["training"].pop("resume_every")  # how often the run is saved is not part of the run
    text = json.dumps({"format": RESUME_FORMAT, "spec": run, "shards": shards}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def load_resume(path: Path, key: str, log: Callable[[str], None]) -> dict[str, Any] | None:
    """The resume checkpoint at ``path`` if it exists and belongs to this run (``key``), else
    ``None``; a file that cannot be read or belongs to another run is ignored with a log line."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unreadable (e.g. written by another torch): start over, say why
        log(f"resume: ignoring {path}, it cannot be read ({type(e).__name__}: {e})")
        return None
    if not isinstance(state, dict) or state.get("key") != key:
        log(f"resume: ignoring {path}, it belongs to a different run (spec or shards changed)")
        return None
    return state


def rank_state(sampler: MixtureSampler, device: torch.device) -> dict[str, Any]:
    """What one rank restores from a resume file: its sampler and its global RNGs (the CUDA one of
    ``device``, if any)."""
    return {"sampler": sampler.state_dict(), "rng": _rng_state(device)}


def save_resume(path: Path, key: str, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                ranks: list[dict[str, Any]], progress: Mapping[str, Any]) -> None:
    """Write a resume checkpoint to ``path`` atomically (a kill never leaves half a file).

    Args:
        key: :func:`resume_key` of the run.
        ranks: :func:`rank_state` of every rank, in rank order.
        progress: The loop's bookkeeping (at least ``step``), stored as given beside the model,
            optimiser and the ranks' states.
    """
    state = {"key": key, "model": model.state_dict(), "optimizer": optimizer.state_dict(), "ranks": list(ranks),
             **progress}
    with atomic_open(path, "wb") as f:  # tmp file + os.replace
        torch.save(state, f)


def save_model(model: torch.nn.Module, path: Path) -> None:
    """Write the trained model's state dict to ``path`` atomically (a DoReMi reference run's)."""
    with atomic_open(path, "wb") as f:
        torch.save(model.state_dict(), f)


def restore_resume(state: Mapping[str, Any], model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                   sampler: MixtureSampler, device: torch.device, rank: int = 0) -> None:
    """Load model, optimiser, and rank ``rank``'s sampler and RNGs from a :func:`load_resume` state;
    the loop's own progress (``state["step"]`` and the rest) is the caller's to read."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    mine = state["ranks"][rank]
    sampler.load_state_dict(mine["sampler"])
    _set_rng_state(mine["rng"], device)


def _rng_state(device: torch.device) -> dict[str, Any]:
    """Every global RNG. numpy's key array is saved as a list (``weights_only`` loads plain types
    only); nothing here draws from numpy's or Python's RNG, they are saved in case a library does."""
    name, np_key, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "numpy": (name, np_key.tolist(), pos, has_gauss, cached),
        "python": random.getstate(),
    }


def _set_rng_state(rng: Mapping[str, Any], device: torch.device) -> None:
    torch.set_rng_state(rng["torch"])
    if device.type == "cuda" and rng["cuda"] is not None:
        torch.cuda.set_rng_state(rng["cuda"], device)
    name, np_key, *rest = rng["numpy"]
    np.random.set_state((name, np.array(np_key, dtype=np.uint32), *rest))
    random.setstate(rng["python"])
