"""Online data mixing (Albalak et al. 2023): an EXP3 bandit over the domains chooses the mixture
of each training batch while the model trains, with the domains' training loss as the reward.

Before step t the exploration rate is ``ε_t = min(1/k, sqrt(ln k / (k t)))`` and the batch is drawn
from ``π_t = (1 - k ε_t) softmax(ε_{t-1} R) + ε_t``. After it, each domain i with rows in the batch
gets the importance-weighted reward of its mean token loss ``L_i``:
``R_i <- β R_i + (1 - β) L_i / π_t,i`` (``β``: the reward smoothing); a domain the batch missed
keeps its reward. Domains the model still finds hard are drawn more; the realised mixture is the
average of the ``π_t`` the run used.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from mixopt.training.group_dro import domain_means

__all__ = ["Exp3", "exploration_rate", "exp3_weights"]


def exploration_rate(step: int, k: int) -> float:
    """``ε_t = min(1/k, sqrt(ln k / (k t)))`` for step ``t >= 1`` of ``k`` arms."""
    return min(1.0 / k, math.sqrt(math.log(k) / (k * step))) if k > 1 else 0.0


def exp3_weights(rewards: torch.Tensor, previous_rate: float, rate: float) -> torch.Tensor:
    """`k` rewards -> `k` sampling weights ``(1 - k ε_t) softmax(ε_{t-1} R) + ε_t``."""
    k = len(rewards)
    return (1.0 - k * rate) * torch.softmax(previous_rate * rewards, dim=0) + rate


class Exp3:
    """The weights of one online-mixing run.

    Args:
        k: the domains (arms), in the sampler's order.
        reward_smoothing: ``β`` in [0, 1).
        steps: the run's steps (the length of the trace).
    """

    method = "online"

    def __init__(self, k: int, reward_smoothing: float, steps: int) -> None:
        self.k, self.smoothing = int(k), float(reward_smoothing)
        self.rewards = torch.zeros(self.k, dtype=torch.float64)
        self.trace = torch.zeros(steps, self.k, dtype=torch.float64)  # weights used at each step
        self.step = 0
        self.weights = self._weights_for(1)

    def _weights_for(self, step: int) -> torch.Tensor:
        previous = exploration_rate(max(step - 1, 1), self.k)
        return exp3_weights(self.rewards, previous, exploration_rate(step, self.k))

    def update(self, x: torch.Tensor, y: torch.Tensor, token_loss: torch.Tensor, rows: np.ndarray) -> np.ndarray:
        """The weights of the next batch after the one (`rows x T`, drawn with the current weights,
        its rows from domains ``rows``) whose per-token training loss was ``token_loss``."""
        rows_ = torch.as_tensor(rows, device=token_loss.device)
        losses = domain_means(token_loss.detach(), rows_, self.k).cpu()
        seen = torch.bincount(torch.as_tensor(rows), minlength=self.k) > 0
        reward = self.smoothing * self.rewards + (1.0 - self.smoothing) * losses / self.weights
        self.rewards = torch.where(seen, reward, self.rewards)
        self.trace[self.step] = self.weights
        self.step += 1
        self.weights = self._weights_for(self.step + 1)
        return self.weights.numpy()

    def state_dict(self) -> dict:
        return {"weights": self.weights.clone(), "trace": self.trace.clone(), "rewards": self.rewards.clone(),
                "step": self.step}

    def load_state_dict(self, state: dict) -> None:
        self.weights, self.trace, self.rewards = state["weights"].clone(), state["trace"].clone(), state["rewards"].clone()
        self.step = int(state["step"])
