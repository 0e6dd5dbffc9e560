r"""The learning-rate schedule: linear warm-up, then cosine decay to a floor (as in nanoGPT).

There is no scheduler object: the rate is a function of the step, so a resumed run restores the
schedule by restoring the step.
"""

from __future__ import annotations

import math

__all__ = ["lr_at"]


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
