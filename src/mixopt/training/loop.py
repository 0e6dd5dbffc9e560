r"""The training loop of one proxy run, nanoGPT-style: setup, data, model, then one ``for`` loop.

Each step, in this order: set the learning rate (:func:`~mixopt.training.schedule.lr_at`), draw a
batch from the mixture, forward and backward, clip the gradient norm, step AdamW (fused on CUDA,
:mod:`mixopt.training.device`), log progress
(:func:`~mixopt.core.progress.progress_line`: loss, lr, tok/s, elapsed, eta),
evaluate every domain at a checkpoint step, and write a resume checkpoint every ``resume_every``
steps. Results go into a metrics dict (:mod:`mixopt.training.metrics`) as they become known, so a
run that raises still leaves the checkpoints it completed.

Precision: ``training.precision`` (:mod:`mixopt.training.precision`): ``auto`` is bfloat16 autocast
on a CUDA device or CPU that computes bf16 natively, else float32; the loss is always computed in
float32. ``training.compile`` runs the steps through ``torch.compile``. On CPU the run uses
``spec.training.threads`` torch threads, keeps freed host memory for the next step
(:mod:`mixopt.training.allocator`), and is bit-identical for the same spec and shards, also across
a kill and resume (:mod:`mixopt.training.resume`).
``tokens_per_second`` counts training steps only; ``wall_time_s`` and it count the time of every
attempt up to its last resume checkpoint plus the final attempt (work redone after a kill once).

Several processes (``scales.<s>.gpus: k``, started by torchrun; :mod:`mixopt.training.distributed`)
train one run as nanoGPT does: DistributedDataParallel over the same seeded model, each rank on
its rows of the one-process run's global batch, train losses averaged over the ranks at each
pause and validation losses summed over them, so every rank sees the same numbers and takes the
same branches. Rank 0 alone logs and writes the resume file.
"""

from __future__ import annotations

import os
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # proxies are built from a config, never downloaded

import torch  # noqa: E402

from mixopt.core.progress import progress_line  # noqa: E402
from mixopt.training.allocator import keep_freed_memory  # noqa: E402
from mixopt.training.data import load_run_data  # noqa: E402
from mixopt.training.device import adamw_options, training_device  # noqa: E402
from mixopt.training.distributed import Ranks, all_sum, gather, join  # noqa: E402
from mixopt.training.evaluate import evaluate, lm_loss  # noqa: E402
from mixopt.training.metrics import (  # noqa: E402
    check_train_losses,
    check_validation_losses,
    checkpoint_record,
)
from mixopt.training.model import build_model, count_parameters  # noqa: E402
from mixopt.training.precision import autocast_for  # noqa: E402
from mixopt.training.resume import (  # noqa: E402
    load_resume,
    rank_state,
    restore_resume,
    resume_key,
    save_model,
    save_resume,
)
from mixopt.training.sampler import MixtureSampler  # noqa: E402
from mixopt.training.schedule import lr_at  # noqa: E402
from mixopt.training.spec import TrainSpec, checkpoint_steps  # noqa: E402
from mixopt.training.weighting import make_weighting, weighting_record  # noqa: E402

__all__ = ["BETAS", "PROGRESS_LINES", "train"]

# AdamW's (beta1, beta2), as in nanoGPT and most small-LM recipes.
BETAS = (0.9, 0.95)
# How many progress lines a run logs between its start and end (besides checkpoint lines).
PROGRESS_LINES = 20


@dataclass
class _Progress:
    """The loop's bookkeeping besides the model (what a resume file restores with it)."""

    t_start: float  # when this attempt started (perf_counter)
    start: int = 0  # the step this attempt starts from (a resumed run's)
    last_log: int = 0  # the step of the last progress line: train losses are checked up to it
    last_ckpt: int = 0  # the step of the last checkpoint: its train loss is the mean since the one before
    train_time: float = 0.0  # seconds of training steps, every attempt's
    earlier_wall_time: float = 0.0  # wall time of the earlier attempts, up to their last resume file
    resumed_train_time: float = 0.0  # train_time of the earlier attempts: the ETA uses this attempt's pace
    t0: float = 0.0  # when the current stretch of training steps began

    def wall_time(self) -> float:
        return self.earlier_wall_time + time.perf_counter() - self.t_start


def train(spec: TrainSpec, shard_dirs: Mapping[str, Path], log: Callable[[str], None], metrics: dict[str, Any],
          resume: Path | None = None, resume_every: int = 0, ranks: Ranks = Ranks()) -> None:
    """Train the proxy of ``spec`` on ``shard_dirs``, writing results into ``metrics`` (the
    :func:`~mixopt.training.metrics.empty_metrics` schema) as they become known.

    With ``resume`` and ``resume_every > 0``: resume from that file when it holds a checkpoint of
    this run, and write one there every ``resume_every`` steps (before the last step).
    With ``ranks`` of several processes, every rank calls this (it joins their process group);
    only rank 0 logs.

    Raises:
        NonFiniteLoss: a train or validation loss was NaN/inf (names the step).
        ValueError, OSError: bad mixture or shards.
    """
    progress = _Progress(t_start=time.perf_counter())
    m, shape, training = metrics, spec.shape, spec.training
    T, B = shape.context, shape.batch
    log = log if ranks.main else _silent

    # --- data: train tokens of weighted domains, validation windows [n, T + 1] of every domain
    vocab_size, train_tokens, windows = load_run_data(spec, shard_dirs)

    # --- device, precision, threads, and a host allocator that keeps each step's large blocks
    device, autocast = _set_up(spec, ranks, m)
    windows = {name: w.to(device) for name, w in windows.items()}

    # --- model, optimiser, sampler (and the rule that changes its weights; None: a fixed mixture)
    model, forward, n_params = _model(spec, vocab_size, device, ranks, m)
    optimizer = _adamw(model, shape.lr, training.weight_decay, device)
    sampler, weighting = _sampler(spec, train_tokens, vocab_size, device, autocast, ranks, m)

    ckpts = set(checkpoint_steps(spec.steps, training.checkpoints))
    log_every = max(1, spec.steps // PROGRESS_LINES)
    step_losses = torch.zeros(spec.steps, device=device)  # [steps], on device: no per-step sync on GPU
    log(f"{spec.scale}: {n_params:,} params, {spec.steps} steps x {B * T} tokens on {device} "
        f"({m['dtype']}{', compiled' if training.compile else ''}), mixture {spec.mixture}")

    # --- resume: the model, optimiser, sampler and RNGs, then the loop's own progress
    resume_every = resume_every if resume is not None else 0
    key = resume_key(spec, shard_dirs) if resume_every > 0 else None
    state = load_resume(Path(resume), key, log) if resume_every > 0 else None
    if state is not None:
        _restore(state, progress, model, optimizer, sampler, weighting, step_losses, device, ranks.rank, m, B * T)
        log(f"resume: continuing from step {progress.start} of {spec.steps} ({resume})")

    progress.t0 = time.perf_counter()
    for it in range(progress.start, spec.steps):
        step = it + 1  # steps count completed updates
        lr = lr_at(it, spec.steps, shape.lr, training.warmup_fraction, training.min_lr_fraction)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = _next_batch(sampler, vocab_size, device, step)  # int64 [B, T] each
        with autocast():
            if weighting is None:
                loss = lm_loss(forward, x, y)
            else:  # the rule needs each token's loss
                token_loss = lm_loss(forward, x, y, reduction="none").view(x.shape)
                loss = token_loss.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), training.grad_clip)
        optimizer.step()
        step_losses[it] = loss.detach()
        if weighting is not None:
            sampler.set_weights(weighting.update(x, y, token_loss, sampler.batch_domains))
        save_now = resume_every > 0 and step % resume_every == 0 and step < spec.steps
        pause = step % log_every == 0 or step in ckpts or save_now  # the only steps that sync with the device
        if pause:
            _log_progress(step, spec.steps, lr, step_losses, progress, ranks, m, B * T, log)
        if step in ckpts:  # evaluate every domain
            _checkpoint(step, model, windows, B, autocast, ranks, step_losses, progress, sampler, n_params, m, log)
        if save_now:
            _save(Path(resume), key, step, model, optimizer, sampler, weighting, step_losses, device, ranks,
                  progress, m)
            log(f"resume checkpoint at step {step}: {resume}")
        if pause:
            progress.t0 = time.perf_counter()  # evaluation, logging and resume files are not training throughput

    _finish(spec, sampler, weighting, model, ranks, m)
    m["wall_time_s"] = progress.wall_time()


def _set_up(spec: TrainSpec, ranks: Ranks,
            m: dict[str, Any]) -> tuple[torch.device, Callable[[], AbstractContextManager]]:
    """This rank's device and autocast context (recorded in ``m``), its threads on a CPU, the host
    allocator, the process group of several ranks, and the seed."""
    keep_freed_memory()
    device, autocast, m["dtype"] = _device_and_precision(spec.training.device, spec.training.precision,
                                                         ranks.local_rank)
    m["device"], m["processes"] = str(device), ranks.world
    if device.type == "cpu":
        torch.set_num_threads(spec.training.threads)
    join(ranks, device)
    torch.manual_seed(spec.seed)
    return device, autocast


def _model(spec: TrainSpec, vocab_size: int, device: torch.device, ranks: Ranks,
           m: dict[str, Any]) -> tuple[torch.nn.Module, torch.nn.Module, int]:
    """The seeded model on ``device`` (its parameter counts recorded in ``m``), what the steps run
    it through, and its parameter count.

    ``training.compile``: steps run the compiled module, and several processes step through DDP
    (which averages the gradients); evaluation, state dicts and resume files use the module itself
    (the wrappers share its parameters).
    """
    model = build_model(spec.shape, vocab_size, spec.seed).to(device)
    counts = count_parameters(model)
    m["n_params"], m["n_params_embedding"] = counts["total"], counts["embedding"]
    m["n_params_non_embedding"] = counts["non_embedding"]
    forward = torch.compile(model) if spec.training.compile else model
    if ranks.world > 1:
        forward = torch.nn.parallel.DistributedDataParallel(
            forward, device_ids=[device] if device.type == "cuda" else None)
    return model, forward, counts["total"]


def _sampler(spec: TrainSpec, train_tokens: Mapping[str, Any], vocab_size: int, device: torch.device,
             autocast: Callable[[], AbstractContextManager], ranks: Ranks,
             m: dict[str, Any]) -> tuple[MixtureSampler, Any]:
    """This rank's sampler of the mixture, and the rule that changes its weights as the run goes
    (``spec.weighting``; ``None``: the mixture holds)."""
    sampler = MixtureSampler(train_tokens, spec.mixture, context=spec.shape.context, batch=spec.shape.batch,
                             seed=spec.seed, rank=ranks.rank, world=ranks.world)
    m["domain_sequences"], m["domain_epochs"] = sampler.counts, sampler.epochs
    weighting = make_weighting(spec, sampler, vocab_size, device, autocast, ranks.world)
    if weighting is not None:
        sampler.set_weights(weighting.weights.numpy())
    return sampler, weighting


def _next_batch(sampler: MixtureSampler, vocab_size: int, device: torch.device,
                step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The sampler's next batch (int64 `B x T` inputs and targets) on ``device``."""
    x, y = sampler.next_batch()  # on the CPU
    if int(x.max()) >= vocab_size or int(y.max()) >= vocab_size:  # an index error on CUDA kills the context
        raise ValueError(f"train batch at step {step} has a token id >= vocab_size {vocab_size}")
    return x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def _restore(state: Mapping[str, Any], progress: _Progress, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
             sampler: MixtureSampler, weighting: Any, step_losses: torch.Tensor, device: torch.device, rank: int,
             m: dict[str, Any], tokens_per_step: int) -> None:
    """Resume from a :func:`~mixopt.training.resume.load_resume` state: the model, optimiser, this
    rank's sampler and RNGs, the weighting rule, then the loop's progress and the metrics so far."""
    restore_resume(state, model, optimizer, sampler, device, rank)
    if weighting is not None:
        weighting.load_state_dict(state["weighting"])
    step_losses.copy_(state["step_losses"].to(device))
    progress.start = progress.last_log = state["step"]
    progress.last_ckpt, progress.earlier_wall_time = state["last_ckpt"], state["wall_time"]
    progress.train_time = progress.resumed_train_time = state["train_time"]  # the ETA: this attempt's pace
    m["checkpoints"], m["domain_sequences"] = list(state["checkpoints"]), sampler.counts
    train_time = progress.train_time
    m["tokens_per_second"] = progress.start * tokens_per_step / train_time if train_time > 0 else None


def _log_progress(step: int, steps: int, lr: float, step_losses: torch.Tensor, progress: _Progress, ranks: Ranks,
                  m: dict[str, Any], tokens_per_step: int, log: Callable[[str], None]) -> None:
    """At a pause: check the train losses since the last one, count the training time and log a
    progress line. ``step_losses`` holds this rank's losses until a pause, then the mean over the
    ranks."""
    last = progress.last_log
    if ranks.world > 1:  # every rank checks and records the same mean
        step_losses[last:step] = all_sum(step_losses[last:step].clone(), ranks) / ranks.world
    seen = check_train_losses(step_losses, last, step)
    dt = time.perf_counter() - progress.t0
    progress.train_time += dt
    m["tokens_per_second"] = step * tokens_per_step / progress.train_time
    # eta: the remaining steps at this attempt's mean time per training step; checkpoint
    # evaluations and resume files are not in that rate, so they come on top of it
    step_time = (progress.train_time - progress.resumed_train_time) / (step - progress.start)
    log(progress_line(step, steps, seen[-1].item(), lr, (step - last) * tokens_per_step / dt,
                      elapsed_s=time.perf_counter() - progress.t_start, eta_s=(steps - step) * step_time))
    progress.last_log = step


def _checkpoint(step: int, model: torch.nn.Module, windows: Mapping[str, torch.Tensor], batch: int,
                autocast: Callable[[], AbstractContextManager], ranks: Ranks, step_losses: torch.Tensor,
                progress: _Progress, sampler: MixtureSampler, n_params: int, m: dict[str, Any],
                log: Callable[[str], None]) -> None:
    """Evaluate every domain at ``step`` and record the checkpoint (its train loss: the mean since
    the previous one) and what the sampler has drawn so far."""
    losses = evaluate(model, windows, batch, autocast, ranks)
    check_validation_losses(step, losses)
    train_loss = step_losses[progress.last_ckpt:step].mean().item()
    tokens = step * batch * sampler.context
    m["checkpoints"].append(checkpoint_record(step, tokens, n_params, train_loss, losses))
    m["domain_sequences"], m["domain_epochs"] = sampler.counts, sampler.epochs
    progress.last_ckpt = step
    log(f"checkpoint {step}: " + " ".join(f"{k} {v:.4f}" for k, v in losses.items()))


def _save(path: Path, key: str | None, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
          sampler: MixtureSampler, weighting: Any, step_losses: torch.Tensor, device: torch.device, ranks: Ranks,
          progress: _Progress, m: dict[str, Any]) -> None:
    """Write the resume file of ``step``: the model, optimiser, every rank's sampler and RNGs
    (gathered; rank 0 writes) and the loop's progress."""
    states = gather(rank_state(sampler, device), ranks)
    if not ranks.main:
        return
    assert key is not None
    save_resume(path, key, model, optimizer, states, {
        "step": step, "step_losses": step_losses.cpu(), "last_ckpt": progress.last_ckpt,
        "train_time": progress.train_time, "wall_time": progress.wall_time(), "checkpoints": m["checkpoints"],
        "weighting": None if weighting is None else weighting.state_dict(),
    })


def _finish(spec: TrainSpec, sampler: MixtureSampler, weighting: Any, model: torch.nn.Module, ranks: Ranks,
            m: dict[str, Any]) -> None:
    """After the last step: what the sampler drew, the weights a weighting rule used, and the
    trained model where the spec asks for it."""
    m["domain_sequences"], m["domain_epochs"] = sampler.counts, sampler.epochs
    if weighting is not None:
        record = weighting_record(weighting, sampler.domains, spec.steps)
        m["mixture"] = {d: 0.0 for d in spec.mixture} | record["mixture"]
        m["domain_weights"] = {"initial": dict(spec.mixture)} | record["domain_weights"]
    if spec.save_model is not None and ranks.main:
        save_model(model, Path(spec.save_model))


def _silent(_: str) -> None:
    """The log of ranks other than 0."""


def _device_and_precision(name: str, precision: str, local_rank: int = 0
                          ) -> tuple[torch.device, Callable[[], AbstractContextManager], str]:
    """The device of ``training.device`` (:func:`~mixopt.training.device.training_device`: ``auto``
    is CUDA when there is one; this rank's GPU), the autocast context of a forward pass there at
    ``training.precision``, and the name of its compute dtype."""
    device = training_device(name, local_rank)
    autocast, dtype = autocast_for(device, precision)
    return device, autocast, dtype


def _adamw(model: torch.nn.Module, lr: float, weight_decay: float, device: torch.device) -> torch.optim.AdamW:
    """AdamW with weight decay on the matrices only (not on the norm gains); fused on CUDA."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},  # matrices
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},  # norm gains
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=BETAS, **adamw_options(device))
