r"""Train one proxy model on one data mixture and record per-domain validation losses.

:func:`train_proxy` runs the loop (:func:`mixopt.training.loop.train`) and returns its metrics;
:func:`run_trial` wraps it for the workflow: it never raises on a failed run and always writes a
valid ``metrics.json``.

Preemption: given a ``resume`` path and ``resume_every = k``, the loop writes a resume
checkpoint every k steps (model, optimiser, RNG states, the sampler's RNG and counts, the step,
the per-step losses and the metrics so far), and a later run of the same spec starts from it. A
killed-and-resumed run gives the same metrics as an uninterrupted one (bit-identical on CPU),
except ``wall_time_s`` and ``tokens_per_second``, which count the time of every attempt up to its
last resume checkpoint plus the final attempt (work redone after a kill is counted once).
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from mixopt.core.atomic import write_json
from mixopt.training.distributed import Ranks
from mixopt.training.loop import train
from mixopt.training.metrics import empty_metrics
from mixopt.training.spec import TrainSpec

__all__ = ["is_out_of_memory", "run_trial", "train_proxy"]


def train_proxy(spec: TrainSpec, shard_dirs: Mapping[str, Path], log: Callable[[str], None] = print,
                resume: Path | None = None, resume_every: int = 0) -> dict:
    """Train a proxy on ``spec.mixture`` and evaluate every domain of ``shard_dirs``.

    Args:
        spec: The run.
        shard_dirs: Domain -> directory with ``train.bin``, ``val.bin``, ``meta.json``. Must
            contain every domain of the mixture; validation covers all of them, weight 0 or not.
            Zero-weight domains need no ``train.bin``.
        log: Receives progress lines.
        resume: A resume checkpoint file: used when it holds a checkpoint of this spec and
            shards (another one is ignored, with a log line), and rewritten every
            ``resume_every`` steps (0: never read or written). Left in place at the end.

    Returns:
        The metrics dict (``status == "ok"``); see :func:`run_trial` for the schema.
        ``tokens_per_second`` counts training steps only (no setup, no evaluation).

    Raises:
        NonFiniteLoss: a train or validation loss was NaN/inf (names the step).
        ValueError, OSError: bad mixture or shards.
    """
    m = empty_metrics(spec)
    threads = torch.get_num_threads()
    try:
        train(spec, shard_dirs, log, m, resume, resume_every)
    finally:
        torch.set_num_threads(threads)  # the thread count is process-global; give it back
    m["status"] = "ok"
    return m


#: how torch's CPU allocator words a failed allocation (a RuntimeError, not a MemoryError)
_HOST_OOM = ("can't allocate memory", "cannot allocate memory")


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an exhausted memory: a CUDA OOM (``torch.OutOfMemoryError``), Python's
    ``MemoryError``, or torch's CPU allocator failing (``DefaultCPUAllocator: can't allocate memory``)."""
    if isinstance(error, (MemoryError, torch.OutOfMemoryError)):
        return True
    return isinstance(error, RuntimeError) and any(s in str(error).lower() for s in _HOST_OOM)


def run_trial(
    spec: TrainSpec,
    shard_dirs: Mapping[str, Path],
    out_path: Path,
    extra: Mapping[str, Any] | None = None,
    log: Callable[[str], None] = print,
    resume: Path | None = None,
    resume_every: int = 0,
    ranks: Ranks = Ranks(),
) -> dict:
    """Run :func:`train_proxy`, never raising on a failed run, and write ``out_path`` atomically.

    With ``ranks`` of several processes (torchrun), every rank calls this and rank 0 alone writes.
    A failed run is then written by rank 0 and raised again on every rank that saw it: a rank
    that returned would leave the others waiting in a collective, while one that exits makes
    torchrun end them all.

    The metrics schema (keys in this order, after those of ``extra``)::

        status: "ok" | "failed"; error: None | "<ExceptionType>: <message>", prefixed with
        "out of memory: " when the run exhausted host or GPU memory (:func:`is_out_of_memory`)
        mixture, scale, shape (dict), seed, steps, tokens_per_step (batch * context)
        n_params, n_params_embedding, n_params_non_embedding   (tied weights once; None if unbuilt)
        device, processes (the ranks that trained it), dtype ("bfloat16" or "float32"), compiled
        checkpoints: [{step, tokens, flops (6 N D), train_loss (mean since previous), losses: {domain: loss}}]
        domain_sequences: {domain: sequences drawn}; wall_time_s; tokens_per_second; torch_version

    A failed run keeps the checkpoints completed before the failure, with ``domain_sequences``
    as of the last of them. Non-finite floats are written as ``null``.

    Args:
        extra: Merged in first (e.g. iteration and trial ids); a key that collides with the
            schema is a caller bug and raises ``ValueError`` before training starts.
        resume, resume_every: as in :func:`train_proxy`; a job killed (preempted, timed out)
            and started again resumes from the last resume checkpoint. The file is deleted
            once ``out_path`` is written: a finished trial that is forced to rerun starts over.

    Returns:
        The dict as written (with NaN, where any, still as float NaN).
    """
    m = empty_metrics(spec)
    extra = dict(extra or {})
    clash = sorted(set(extra) & set(m))
    if clash:
        raise ValueError(f"extra keys {clash} collide with metrics keys")
    threads = torch.get_num_threads()
    t_start = time.perf_counter()
    failure = None
    try:
        train(spec, shard_dirs, log, m, resume, resume_every, ranks)
        m["status"] = "ok"
    except Exception as e:  # a failed trial is data for the optimiser, not a crash of the workflow
        failure = e
        m["status"] = "failed"
        m["error"] = ("out of memory: " if is_out_of_memory(e) else "") + f"{type(e).__name__}: {e}"
        m["wall_time_s"] = time.perf_counter() - t_start
        log(f"trial failed{f' on rank {ranks.rank}' if ranks.world > 1 else ''}: {m['error']}\n"
            f"{traceback.format_exc()}")
    finally:
        torch.set_num_threads(threads)
    result = {**extra, **m}
    if ranks.main:
        write_json(result, out_path)
        if resume is not None and resume_every > 0:
            Path(resume).unlink(missing_ok=True)
    if failure is not None and ranks.world > 1:
        raise failure
    return result
