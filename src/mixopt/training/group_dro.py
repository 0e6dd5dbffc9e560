"""DoReMi's domain weights (Xie et al. 2023, Algorithm 1): Group DRO on the excess loss of a proxy
model over a reference model, one exponentiated-gradient step per training step.

At step t the proxy's batch was drawn with the weights ``α_{t-1}``. For each domain i, the excess
loss ``λ_i`` is the mean over the tokens of its rows of ``max(ℓ_proxy - ℓ_reference, 0)`` (0 for a
domain without a row in the batch). Then ``α'_t = α_{t-1} exp(η λ)``, normalised, and smoothed
with the uniform distribution: ``α_t = (1 - c) α'_t + c / k``. DoReMi's answer is the average of
the weights the run used, ``mean_t α_{t-1}``.

Here the weights set the sampler's domain probabilities (the batches follow ``α``), where the
paper reweights the loss of uniformly sampled batches; both give the domains the same expected
share of the gradient.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Callable

import numpy as np
import torch

from mixopt.training.evaluate import lm_loss

__all__ = ["GroupDRO", "domain_means", "group_dro_step"]


def group_dro_step(weights: torch.Tensor, excess: torch.Tensor, step_size: float, smoothing: float) -> torch.Tensor:
    """One Group DRO update of the domain weights.

    Args:
        weights: `k` current weights ``α_{t-1}`` (positive, summing to one).
        excess: `k` per-domain excess losses ``λ`` (clipped at 0 by the caller).
        step_size: ``η``.
        smoothing: ``c`` in [0, 1): the weight of the uniform distribution.

    Returns:
        `k` weights ``α_t``.
    """
    logits = torch.log(weights) + step_size * excess  # in log space: exp(η λ) may overflow
    return (1.0 - smoothing) * torch.softmax(logits, dim=0) + smoothing / len(weights)


def domain_means(values: torch.Tensor, rows: torch.Tensor, k: int) -> torch.Tensor:
    """`rows x T` per-token values, `rows` domain indices -> `k`: each domain's mean over its
    tokens (0 for a domain without a row)."""
    sums = torch.zeros(k, dtype=torch.float64, device=values.device).index_add_(0, rows, values.double().sum(1))
    counts = torch.bincount(rows, minlength=k).to(sums) * values.shape[1]
    return torch.where(counts > 0, sums / counts.clamp_min(1), torch.zeros_like(sums))


class GroupDRO:
    """The weights of one DoReMi proxy run.

    Args:
        reference: the reference model (trained on the reference mixture at the proxy's shape),
            on the proxy's device; used in evaluation mode without gradients.
        initial: `k` initial weights (the sampler's).
        step_size, smoothing: ``η`` and ``c`` of :func:`group_dro_step`.
        steps: the run's steps (the length of the trace).
        autocast: the proxy's forward-pass context (its precision), for the reference's too.
    """

    method = "doremi"

    def __init__(self, reference: torch.nn.Module, initial: np.ndarray, step_size: float, smoothing: float,
                 steps: int, autocast: Callable[[], AbstractContextManager] = nullcontext) -> None:
        self.reference, self.autocast = reference.eval(), autocast
        self.step_size, self.smoothing = float(step_size), float(smoothing)
        self.weights = torch.as_tensor(np.asarray(initial, dtype=np.float64))
        self.trace = torch.zeros(steps, len(self.weights), dtype=torch.float64)  # weights used at each step
        self.excess = torch.zeros(steps, len(self.weights), dtype=torch.float64)
        self.step = 0

    def update(self, x: torch.Tensor, y: torch.Tensor, token_loss: torch.Tensor, rows: np.ndarray) -> np.ndarray:
        """The weights after the step whose batch ``x, y`` (`rows x T`, drawn with the current
        weights, its rows from domains ``rows``) gave the proxy's per-token ``token_loss``."""
        with torch.no_grad(), self.autocast():
            reference = lm_loss(self.reference, x, y, reduction="none").view(x.shape)
        rows_ = torch.as_tensor(rows, device=token_loss.device)
        excess = domain_means((token_loss.detach().float() - reference).clamp_min(0.0), rows_, len(self.weights)).cpu()
        self.trace[self.step], self.excess[self.step] = self.weights, excess
        self.weights = group_dro_step(self.weights, excess, self.step_size, self.smoothing)
        self.step += 1
        return self.weights.numpy()

    def state_dict(self) -> dict:
        return {"weights": self.weights.clone(), "trace": self.trace.clone(), "excess": self.excess.clone(),
                "step": self.step}

    def load_state_dict(self, state: dict) -> None:
        self.weights, self.trace, self.excess = state["weights"].clone(), state["trace"].clone(), state["excess"].clone()
        self.step = int(state["step"])
