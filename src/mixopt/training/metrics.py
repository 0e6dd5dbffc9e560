r"""The metrics record of one proxy run (``metrics.json``) and the error of a diverged run.

The schema (keys in this order)::

    status: "running" | "ok" | "failed"; error: None | "<ExceptionType>: <message>"
    mixture, scale, shape (dict), seed, steps, tokens_per_step (batch * context)
    n_params, n_params_embedding, n_params_non_embedding   (tied weights once; None if unbuilt)
    device, processes (ranks that trained it: scales.<s>.gpus), dtype ("bfloat16" or "float32",
    training.precision), compiled (training.compile)
    checkpoints: [{step, tokens, flops (6 N D), train_loss (mean since previous), losses: {domain: loss}}]
    domain_sequences: {domain: sequences drawn}; domain_epochs: {domain: passes over its training
    tokens}; wall_time_s; tokens_per_second; torch_version

This module does not import torch (its version comes from the package's metadata): the job that
starts a trial's training processes records with it a run that died without a record of its own.
"""

from __future__ import annotations

import math
from functools import lru_cache
from importlib.metadata import version
from typing import TYPE_CHECKING, Any, Mapping

from mixopt.core.flops import training_flops
from mixopt.training.spec import TrainSpec

if TYPE_CHECKING:
    import torch

__all__ = ["NonFiniteLoss", "checkpoint_record", "empty_metrics", "failed_metrics", "check_train_losses",
           "check_validation_losses"]


class NonFiniteLoss(RuntimeError):
    """A training or validation loss became NaN or infinite."""

    def __init__(self, step: int, what: str, value: float) -> None:
        self.step = step
        self.what = what
        self.value = value
        super().__init__(f"non-finite {what} {value!r} at step {step}")


def empty_metrics(spec: TrainSpec | None) -> dict[str, Any]:
    """The metrics schema with what is known before training; filled in as the run goes."""
    return {
        "status": "running",
        "error": None,
        "mixture": dict(spec.mixture) if spec else None,
        "scale": spec.scale if spec else None,
        "shape": spec.shape.to_dict() if spec else None,
        "seed": spec.seed if spec else None,
        "steps": spec.steps if spec else None,
        "tokens_per_step": spec.shape.batch * spec.shape.context if spec else None,
        "n_params": None,
        "n_params_embedding": None,
        "n_params_non_embedding": None,
        "device": None,
        "processes": spec.shape.gpus if spec else None,
        "dtype": None,
        "compiled": spec.training.compile if spec else None,
        "checkpoints": [],
        "domain_sequences": {},
        "domain_epochs": {},
        "wall_time_s": None,
        "tokens_per_second": None,
        "torch_version": _torch_version(),
    }


@lru_cache(maxsize=1)
def _torch_version() -> str:
    return version("torch")


def failed_metrics(error: str, spec: TrainSpec | None = None) -> dict[str, Any]:
    """A ``status: "failed"`` record in the :func:`~mixopt.training.trial.run_trial` schema for a
    run that never started (e.g. a proposal that is not a valid spec); fields that ``spec``
    cannot tell are ``None``."""
    m = empty_metrics(spec)
    m["status"], m["error"] = "failed", error
    return m


def checkpoint_record(step: int, tokens: int, n_params: int, train_loss: float,
                      losses: Mapping[str, float]) -> dict[str, Any]:
    """One entry of ``checkpoints``: where the run is (``tokens``, FLOPs ``6 N D``), its mean train
    loss since the previous checkpoint and its validation ``losses`` per domain."""
    return {
        "step": step,
        "tokens": tokens,
        "flops": training_flops(n_params, tokens),
        "train_loss": train_loss,
        "losses": dict(losses),
    }


def check_train_losses(step_losses: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """The train losses of steps ``start + 1 .. stop`` (``step_losses[start:stop]``, ``[stop - start]``)
    on the CPU.

    Raises:
        NonFiniteLoss: naming the first step whose loss is NaN or infinite.
    """
    seen = step_losses[start:stop].cpu()
    bad = (~seen.isfinite()).nonzero()
    if len(bad):
        first = start + int(bad[0, 0])
        raise NonFiniteLoss(first + 1, "train loss", float(step_losses[first]))
    return seen


def check_validation_losses(step: int, losses: Mapping[str, float]) -> None:
    """Raise :class:`NonFiniteLoss` for the first domain whose validation loss at ``step`` is NaN/inf."""
    for name, value in losses.items():
        if not math.isfinite(value):
            raise NonFiniteLoss(step, f"validation loss on domain {name!r}", value)
