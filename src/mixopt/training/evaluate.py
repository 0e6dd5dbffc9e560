r"""Next-token loss and the fixed per-domain evaluation of a proxy.

Every domain is evaluated on the same windows at every checkpoint: the first
``n * (context + 1)`` tokens of its ``val.bin``, cut into ``n`` non-overlapping windows. The loss
is the mean cross-entropy over all ``n * context`` predicted tokens, accumulated in float64. A run
of several processes splits each domain's batches of windows among them and sums their losses
(:mod:`mixopt.training.distributed`): every batch is the one the one-process run evaluates.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from mixopt.training.distributed import Ranks, all_sum

__all__ = ["eval_windows", "evaluate", "lm_loss"]


def lm_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of ``model``'s next-token logits, in float32 even under bf16 autocast.

    Args:
        model: A causal LM returning ``.logits`` of shape ``[B, T, vocab]``.
        x: int64 inputs ``[B, T]``.
        y: int64 targets ``[B, T]``, already shifted (``y[:, t]`` follows ``x[:, t]``), so no
            Hugging Face label shift is applied.
        reduction: ``"mean"`` or ``"sum"`` over the ``B * T`` tokens.

    Returns:
        A scalar tensor.
    """
    logits = model(input_ids=x).logits
    return F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), reduction=reduction)


def eval_windows(tokens: np.ndarray, context: int, eval_tokens: int) -> torch.Tensor:
    """The fixed evaluation set of a domain.

    Args:
        tokens: The domain's validation tokens ``[N]``.
        context: Sequence length ``T``.
        eval_tokens: At most this many tokens are used.

    Returns:
        int64 tensor ``[n, context + 1]``: the first ``n * (context + 1)`` tokens, with
        ``n = min(eval_tokens, len(tokens)) // (context + 1)``, cut into non-overlapping windows.
    """
    n = min(eval_tokens, len(tokens)) // (context + 1)
    flat = np.asarray(tokens[: n * (context + 1)], dtype=np.int64)
    return torch.from_numpy(flat.reshape(n, context + 1))


@torch.no_grad()
def evaluate(model: torch.nn.Module, windows: Mapping[str, torch.Tensor], batch: int,
             autocast: Callable[[], AbstractContextManager], ranks: Ranks = Ranks()) -> dict[str, float]:
    """Mean next-token loss per domain over its fixed windows.

    Args:
        model: The proxy; put in eval mode for the evaluation and back in train mode after.
        windows: Domain -> int64 windows ``[n, T + 1]`` on the model's device.
        batch: Windows per forward pass.
        autocast: Makes the precision context of a forward pass.
        ranks: The run's processes: rank r evaluates batches r, r + world, ... of each domain;
            every rank calls this and gets the same losses.

    Returns:
        Domain -> mean loss over its ``n * T`` predicted tokens, in the order of ``windows``.
    """
    model.eval()
    totals = {}
    for name, w in windows.items():
        total = torch.zeros((), dtype=torch.float64, device=w.device)
        for i in range(ranks.rank * batch, len(w), ranks.world * batch):
            chunk = w[i : i + batch]
            with autocast():
                total += lm_loss(model, chunk[:, :-1], chunk[:, 1:], reduction="sum").double()
        totals[name] = total
    summed = all_sum(torch.stack(list(totals.values())), ranks)  # [domains], one collective
    model.train()
    return {name: (summed[k] / w[:, 1:].numel()).item() for k, (name, w) in enumerate(windows.items())}
