"""Train one proxy model on one data mixture and record per-domain validation losses.

:func:`train_proxy` is the nanoGPT-style loop; :func:`run_trial` wraps it for the workflow:
it never raises on a failed run and always writes a valid ``metrics.json``.

Preemption: given a ``resume`` path and ``resume_every = k``, the loop writes a resume
checkpoint every k steps (model, optimiser, RNG states, the sampler's RNG and counts, the step,
the per-step losses and the metrics so far), and a later run of the same spec starts from it. A
killed-and-resumed run gives the same metrics as an uninterrupted one (bit-identical on CPU),
except ``wall_time_s`` and ``tokens_per_second``, which count the time of every attempt up to its
last resume checkpoint plus the final attempt (work redone after a kill is counted once).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import time
import traceback
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from mixopt.atomic import atomic_open, write_text  # noqa: E402
from mixopt.flops import training_flops  # noqa: E402
from mixopt.model import ModelShape, build_model, count_parameters  # noqa: E402
from mixopt.sampler import MixtureSampler, validate_mixture  # noqa: E402

__all__ = [
    "NonFiniteLoss",
    "TrainSpec",
    "checkpoint_steps",
    "failed_metrics",
    "lr_at",
    "resume_key",
    "run_trial",
    "train_proxy",
    "write_json_atomic",
]

TOKEN_DTYPES = {"uint16": np.uint16, "uint32": np.uint32}
# How many progress lines a run logs between its start and end (besides checkpoint lines).
PROGRESS_LINES = 20


class NonFiniteLoss(RuntimeError):
    """A training or validation loss became NaN or infinite."""

    def __init__(self, step: int, what: str, value: float) -> None:
        self.step = step
        self.what = what
        self.value = value
        super().__init__(f"non-finite {what} {value!r} at step {step}")


@dataclass
class TrainSpec:
    """Everything that determines one proxy run (with the shards).

    ``mixture`` maps domain -> weight (>= 0, summing to 1). ``scale`` is a label for the shape
    (e.g. ``"xs"``), copied into the metrics. ``steps`` optimiser steps of
    ``shape.batch * shape.context`` tokens each. ``n_checkpoints`` evaluations, evenly spaced,
    the last at ``steps``. ``eval_tokens`` caps the validation tokens read per domain.
    """

    mixture: dict[str, float]
    scale: str
    shape: ModelShape
    steps: int
    seed: int
    n_checkpoints: int = 4
    eval_tokens: int = 8192
    warmup_fraction: float = 0.1
    min_lr_fraction: float = 0.1
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    betas: tuple = (0.9, 0.95)
    threads: int = 1
    device: str = "auto"

    def __post_init__(self) -> None:
        if isinstance(self.shape, Mapping):
            self.shape = ModelShape.from_dict(self.shape)
        self.betas = tuple(self.betas)
        if self.steps < 1 or self.n_checkpoints < 1 or self.eval_tokens < 1 or self.threads < 1:
            raise ValueError(
                f"steps, n_checkpoints, eval_tokens and threads must be >= 1, got {self.steps}, "
                f"{self.n_checkpoints}, {self.eval_tokens}, {self.threads}"
            )
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        if not 0.0 <= self.min_lr_fraction <= 1.0:
            raise ValueError(f"min_lr_fraction must be in [0, 1], got {self.min_lr_fraction}")


def checkpoint_steps(steps: int, n: int) -> list[int]:
    """``n`` evenly spaced steps in ``[1, steps]`` ending at ``steps``: ``ceil(i * steps / n)``.

    Distinct and increasing; when ``n > steps`` duplicates collapse, giving every step once.
    """
    if steps < 1 or n < 1:
        raise ValueError(f"steps and n must be >= 1, got {steps}, {n}")
    return sorted({-(-i * steps // n) for i in range(1, n + 1)})


def lr_at(step: int, steps: int, lr: float, warmup_fraction: float, min_lr_fraction: float) -> float:
    """Learning rate for the update with 0-based index ``step`` of ``steps``.

    Linear warm-up over ``W = round(warmup_fraction * steps)`` updates to ``lr`` at
    ``step == W`` (``lr * (step + 1) / (W + 1)`` before it, as in nanoGPT), then cosine decay
    reaching ``min_lr_fraction * lr`` at the last update ``step == steps - 1`` (and after).
    """
    if steps < 1 or step < 0:
        raise ValueError(f"need steps >= 1 and step >= 0, got step={step}, steps={steps}")
    warmup = round(warmup_fraction * steps)
    min_lr = min_lr_fraction * lr
    if step < warmup:
        return lr * (step + 1) / (warmup + 1)
    if step >= steps - 1:
        return min_lr if steps - 1 > warmup else lr
    ratio = (step - warmup) / (steps - 1 - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)


# ---------------------------------------------------------------------------------------------
# shards


def _read_meta(domain: str, directory: Path) -> dict[str, Any]:
    meta = json.loads((directory / "meta.json").read_text())
    for key in ("dtype", "vocab_size"):
        if key not in meta:
            raise ValueError(f"domain {domain!r}: {directory / 'meta.json'} has no {key!r}")
    if meta["dtype"] not in TOKEN_DTYPES:
        raise ValueError(f"domain {domain!r}: dtype {meta['dtype']!r} not in {sorted(TOKEN_DTYPES)}")
    if meta.get("domain", domain) != domain:
        raise ValueError(f"shard directory {directory} for domain {domain!r} holds domain {meta['domain']!r}")
    return meta


def _open_tokens(path: Path, dtype: str) -> np.ndarray:
    """Memory-map a flat token file; an empty file gives an empty array (mmap refuses those)."""
    if path.stat().st_size == 0:
        return np.empty(0, dtype=TOKEN_DTYPES[dtype])
    return np.memmap(path, dtype=TOKEN_DTYPES[dtype], mode="r")


def _eval_windows(tokens: np.ndarray, context: int, eval_tokens: int) -> torch.Tensor:
    """The fixed evaluation set of a domain.

    Returns:
        int64 tensor ``[n, context + 1]``: the first ``n * (context + 1)`` tokens, with
        ``n = min(eval_tokens, len(tokens)) // (context + 1)``, cut into non-overlapping windows.
    """
    n = min(eval_tokens, len(tokens)) // (context + 1)
    flat = np.asarray(tokens[: n * (context + 1)], dtype=np.int64)
    return torch.from_numpy(flat.reshape(n, context + 1))


# ---------------------------------------------------------------------------------------------
# training


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _lm_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    # Cross-entropy in fp32 even under bf16 autocast; y is already shifted, so no HF label shift.
    logits = model(input_ids=x).logits
    return F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), reduction=reduction)


@torch.no_grad()
def _evaluate(model, windows: dict[str, torch.Tensor], batch: int, autocast) -> dict[str, float]:
    """Mean next-token loss per domain over its fixed windows ``[n, T + 1]``."""
    model.eval()
    losses = {}
    for name, w in windows.items():
        total = torch.zeros((), dtype=torch.float64, device=w.device)
        for i in range(0, len(w), batch):
            chunk = w[i : i + batch]
            with autocast():
                total += _lm_loss(model, chunk[:, :-1], chunk[:, 1:], reduction="sum").double()
        losses[name] = (total / w[:, 1:].numel()).item()
    model.train()
    return losses


def _empty_metrics(spec: TrainSpec | None) -> dict[str, Any]:
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
        "dtype": None,
        "checkpoints": [],
        "domain_sequences": {},
        "wall_time_s": None,
        "tokens_per_second": None,
        "torch_version": torch.__version__,
    }


def failed_metrics(error: str, spec: TrainSpec | None = None) -> dict[str, Any]:
    """A ``status: "failed"`` record in the :func:`run_trial` schema for a run that never started
    (e.g. a proposal that is not a valid spec); fields that ``spec`` cannot tell are ``None``."""
    m = _empty_metrics(spec)
    m["status"], m["error"] = "failed", error
    return m


# ---------------------------------------------------------------------------------------------
# resume checkpoints

RESUME_FORMAT = 1


def resume_key(spec: TrainSpec, shard_dirs: Mapping[str, Path]) -> str:
    """What a resume checkpoint must match to be used: a hash of the spec and of the shards
    (their meta.json and file sizes), so a checkpoint of another run is never resumed."""
    shards = {}
    for name, d in sorted(shard_dirs.items()):
        d = Path(d)
        files = {f.name: f.stat().st_size for f in sorted(d.glob("*.bin"))}
        meta = (d / "meta.json").read_text() if (d / "meta.json").is_file() else None
        shards[name] = {"meta": meta, "files": files}
    spec_dict = {**spec.__dict__, "shape": spec.shape.to_dict(), "betas": list(spec.betas)}
    text = json.dumps({"format": RESUME_FORMAT, "spec": spec_dict, "shards": shards}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _load_resume(path: Path, key: str, log: Callable[[str], None]) -> dict | None:
    """The resume checkpoint at ``path`` if it exists and belongs to this run, else ``None``."""
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


def _plain_numpy_state() -> tuple:
    """numpy's global RNG state with its key array as a list (``torch.load(weights_only=True)``
    reads plain types only). Nothing here draws from it; it is saved in case a library does."""
    name, key, pos, has_gauss, cached = np.random.get_state()
    return (name, key.tolist(), pos, has_gauss, cached)


def _save_resume(path: Path, state: dict) -> None:
    with atomic_open(path, "wb") as f:  # tmp file + os.replace: a kill never leaves half a file
        torch.save(state, f)


def _train(spec: TrainSpec, shard_dirs: Mapping[str, Path], log: Callable[[str], None], m: dict,
           resume: Path | None = None, resume_every: int = 0) -> None:
    """The training loop; writes results into the metrics dict ``m`` as they become known,
    so a caller still has the completed checkpoints when this raises.

    With ``resume`` and ``resume_every > 0``: resume from that file when it holds a checkpoint of
    this run, and write one there every ``resume_every`` steps (before the last step).
    """
    t_start = time.perf_counter()
    shape = spec.shape
    T, B = shape.context, shape.batch

    # --- data: train tokens of weighted domains, validation windows of every domain
    validate_mixture(spec.mixture)
    for name in spec.mixture:
        if name not in shard_dirs:
            raise ValueError(f"mixture domain {name!r} has no shard directory (have {sorted(shard_dirs)})")
    metas = {name: _read_meta(name, Path(d)) for name, d in sorted(shard_dirs.items())}
    vocabs = {name: int(meta["vocab_size"]) for name, meta in metas.items()}
    if len(set(vocabs.values())) != 1:
        raise ValueError(f"domains disagree on vocab_size: {vocabs}")
    vocab_size = next(iter(vocabs.values()))
    train_tokens = {
        name: _open_tokens(Path(shard_dirs[name]) / "train.bin", metas[name]["dtype"])
        for name, w in spec.mixture.items()
        if w > 0
    }
    windows = {}
    for name in metas:
        w = _eval_windows(_open_tokens(Path(shard_dirs[name]) / "val.bin", metas[name]["dtype"]), T, spec.eval_tokens)
        if len(w) == 0:
            raise ValueError(f"domain {name!r}: val.bin has fewer than context+1 = {T + 1} tokens to evaluate on")
        if int(w.max()) >= vocab_size:
            raise ValueError(f"domain {name!r}: val.bin has token id {int(w.max())} >= vocab_size {vocab_size}")
        windows[name] = w

    # --- device, precision, threads
    device = _resolve_device(spec.device)
    use_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if use_bf16 else nullcontext
    m["device"], m["dtype"] = str(device), "bfloat16" if use_bf16 else "float32"
    if device.type == "cpu":
        torch.set_num_threads(spec.threads)
    torch.manual_seed(spec.seed)
    windows = {name: w.to(device) for name, w in windows.items()}

    # --- model, optimiser, sampler
    model = build_model(shape, vocab_size, spec.seed).to(device)
    counts = count_parameters(model)
    m["n_params"], m["n_params_embedding"] = counts["total"], counts["embedding"]
    m["n_params_non_embedding"] = counts["non_embedding"]
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": spec.weight_decay},  # matrices
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},  # norm gains
    ]
    optimizer = torch.optim.AdamW(groups, lr=shape.lr, betas=spec.betas)
    sampler = MixtureSampler(train_tokens, spec.mixture, context=T, batch=B, seed=spec.seed)
    m["domain_sequences"] = sampler.counts

    ckpts = set(checkpoint_steps(spec.steps, spec.n_checkpoints))
    log_every = max(1, spec.steps // PROGRESS_LINES)
    step_losses = torch.zeros(spec.steps, device=device)  # kept on device: no per-step sync on GPU
    last_ckpt = last_log = start = 0
    train_time = earlier_wall_time = 0.0
    log(
        f"{spec.scale}: {counts['total']:,} params, {spec.steps} steps x {B * T} tokens on {device} "
        f"({m['dtype']}), mixture {spec.mixture}"
    )
    resume_every = resume_every if resume is not None else 0
    key = resume_key(spec, shard_dirs) if resume_every > 0 else None
    state = _load_resume(Path(resume), key, log) if resume_every > 0 else None
    if state is not None:
        # There is no LR scheduler object: the rate is a function of the step (lr_at), so the
        # step restores the schedule.
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        sampler.load_state_dict(state["sampler"])
        torch.set_rng_state(state["rng"]["torch"])
        if device.type == "cuda" and state["rng"]["cuda"] is not None:
            torch.cuda.set_rng_state(state["rng"]["cuda"], device)
        np.random.set_state((state["rng"]["numpy"][0], np.array(state["rng"]["numpy"][1], dtype=np.uint32),
                             *state["rng"]["numpy"][2:]))
        random.setstate(state["rng"]["python"])
        step_losses.copy_(state["step_losses"].to(device))
        start = last_log = state["step"]
        last_ckpt, train_time, earlier_wall_time = state["last_ckpt"], state["train_time"], state["wall_time"]
        m["checkpoints"] = list(state["checkpoints"])
        m["domain_sequences"] = sampler.counts
        m["tokens_per_second"] = start * B * T / train_time if train_time > 0 else None
        log(f"resume: continuing from step {start} of {spec.steps} ({resume})")

    t0 = time.perf_counter()
    for it in range(start, spec.steps):
        step = it + 1  # steps count completed updates
        lr = lr_at(it, spec.steps, shape.lr, spec.warmup_fraction, spec.min_lr_fraction)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = sampler.next_batch()
        if int(x.max()) >= vocab_size or int(y.max()) >= vocab_size:  # an index error on CUDA kills the context
            raise ValueError(f"train batch at step {step} has a token id >= vocab_size {vocab_size}")
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast():
            loss = _lm_loss(model, x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip)
        optimizer.step()
        step_losses[it] = loss.detach()
        save_now = resume_every > 0 and step % resume_every == 0 and step < spec.steps

        if step % log_every == 0 or step in ckpts or save_now:
            seen = step_losses[last_log:step].cpu()
            bad = (~torch.isfinite(seen)).nonzero()
            if len(bad):
                first = last_log + int(bad[0, 0])
                raise NonFiniteLoss(first + 1, "train loss", float(step_losses[first]))
            dt = time.perf_counter() - t0
            train_time += dt
            m["tokens_per_second"] = step * B * T / train_time
            log(f"step {step}/{spec.steps} | loss {seen[-1].item():.4f} | lr {lr:.3e} | "
                f"{(step - last_log) * B * T / dt:,.0f} tok/s")
            last_log = step

        if step in ckpts:
            losses = _evaluate(model, windows, B, autocast)
            for name, value in losses.items():
                if not math.isfinite(value):
                    raise NonFiniteLoss(step, f"validation loss on domain {name!r}", value)
            tokens = step * B * T
            m["checkpoints"].append({
                "step": step,
                "tokens": tokens,
                "flops": training_flops(counts["total"], tokens),
                "train_loss": step_losses[last_ckpt:step].mean().item(),  # mean since the previous checkpoint
                "losses": losses,
            })
            m["domain_sequences"] = sampler.counts
            last_ckpt = step
            log(f"checkpoint {step}: " + " ".join(f"{k} {v:.4f}" for k, v in losses.items()))
        if save_now:
            _save_resume(Path(resume), {
                "key": key,
                "step": step,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "sampler": sampler.state_dict(),
                "rng": {
                    "torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
                    "numpy": _plain_numpy_state(),
                    "python": random.getstate(),
                },
                "step_losses": step_losses.cpu(),
                "last_ckpt": last_ckpt,
                "train_time": train_time,
                "wall_time": earlier_wall_time + time.perf_counter() - t_start,
                "checkpoints": m["checkpoints"],
            })
            log(f"resume checkpoint at step {step}: {resume}")
        if step % log_every == 0 or step in ckpts or save_now:
            t0 = time.perf_counter()  # evaluation, logging and resume files are not training throughput

    m["domain_sequences"] = sampler.counts
    m["wall_time_s"] = earlier_wall_time + time.perf_counter() - t_start


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
    m = _empty_metrics(spec)
    threads = torch.get_num_threads()
    try:
        _train(spec, shard_dirs, log, m, resume, resume_every)
    finally:
        torch.set_num_threads(threads)  # the thread count is process-global; give it back
    m["status"] = "ok"
    return m


def _json_safe(obj: Any) -> Any:
    """Non-finite floats -> None (strict JSON has no NaN), numpy scalars -> Python, tuples -> lists."""
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json_atomic(obj: Any, path: Path) -> None:
    """Write strict JSON (NaN/inf as null) atomically."""
    write_text(Path(path), json.dumps(_json_safe(obj), indent=2, allow_nan=False) + "\n")


def run_trial(
    spec: TrainSpec,
    shard_dirs: Mapping[str, Path],
    out_path: Path,
    extra: Mapping[str, Any] | None = None,
    log: Callable[[str], None] = print,
    resume: Path | None = None,
    resume_every: int = 0,
) -> dict:
    """Run :func:`train_proxy`, never raising on a failed run, and write ``out_path`` atomically.

    The metrics schema (keys in this order, after those of ``extra``)::

        status: "ok" | "failed"; error: None | "<ExceptionType>: <message>"
        mixture, scale, shape (dict), seed, steps, tokens_per_step (batch * context)
        n_params, n_params_embedding, n_params_non_embedding   (tied weights once; None if unbuilt)
        device, dtype ("bfloat16" on CUDA, "float32" on CPU)
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
    m = _empty_metrics(spec)
    extra = dict(extra or {})
    clash = sorted(set(extra) & set(m))
    if clash:
        raise ValueError(f"extra keys {clash} collide with metrics keys")
    threads = torch.get_num_threads()
    t_start = time.perf_counter()
    try:
        _train(spec, shard_dirs, log, m, resume, resume_every)
        m["status"] = "ok"
    except Exception as e:  # a failed trial is data for the optimiser, not a crash of the workflow
        m["status"] = "failed"
        m["error"] = f"{type(e).__name__}: {e}"
        m["wall_time_s"] = time.perf_counter() - t_start
        log(f"trial failed: {m['error']}\n{traceback.format_exc()}")
    finally:
        torch.set_num_threads(threads)
    result = {**extra, **m}
    write_json_atomic(result, out_path)
    if resume is not None and resume_every > 0:
        Path(resume).unlink(missing_ok=True)
    return result
