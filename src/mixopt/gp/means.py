"""GP mean functions: a fitted law as the prior mean (the law-informed GP), and a mean linear in
the fidelity inputs only.

With a law as its mean, the GP models what the law leaves: where runs were seen it corrects the law, away from them
it falls back on the law instead of a constant. The law is a NumPy function, so its gradient (which
BoTorch's acquisition optimiser needs) is taken by central differences.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from gpytorch.means import LinearMean, Mean

InputsToLosses = Callable[[np.ndarray], np.ndarray]  # `n x D` GP inputs -> `n x m` law predictions


class _NumpyFunction(torch.autograd.Function):
    """`n x D` -> `n x m` through NumPy, with a central-difference Jacobian for backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, fn: InputsToLosses, step: float) -> torch.Tensor:
        ctx.fn, ctx.step = fn, step
        ctx.save_for_backward(x)
        return torch.as_tensor(fn(x.detach().cpu().numpy()), dtype=x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        base = x.detach().cpu().numpy()
        out = np.zeros_like(base)
        g = grad.detach().cpu().numpy()
        for j in range(base.shape[1]):
            up, down = base.copy(), base.copy()
            up[:, j] += ctx.step
            down[:, j] -= ctx.step
            slope = (ctx.fn(up) - ctx.fn(down)) / (2 * ctx.step)  # n x m
            out[:, j] = (slope * g).sum(axis=1)
        return torch.as_tensor(out, dtype=x.dtype), None, None


class LawMean(Mean):
    """``(law(x) - loc) / scale + constant``: a law's prediction in the GP's standardised units.

    Args:
        fn: GP inputs (`n x D`) -> law predictions of the `m` modelled outputs (`n x m`).
        loc, scale: `m` standardisation of the training outcomes (BoTorch's ``Standardize``
            works on the outcomes, so the mean must be expressed in the same units).
        batch_shape: ``[m]`` for a batched multi-output GP, empty for one output.
    """

    def __init__(self, fn: InputsToLosses, loc: torch.Tensor, scale: torch.Tensor,
                 batch_shape: torch.Size = torch.Size(), step: float = 1e-4) -> None:
        super().__init__()
        self.fn, self.step = fn, step
        self.register_buffer("loc", loc.reshape(-1))
        self.register_buffer("scale", scale.reshape(-1))
        self.register_parameter("constant", torch.nn.Parameter(torch.zeros(*batch_shape, 1, dtype=loc.dtype)))
        self.batched = len(batch_shape) > 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])
        values = _NumpyFunction.apply(flat, self.fn, self.step)  # (prod leading * n) x m
        values = (values - self.loc) / self.scale
        values = values.reshape(*x.shape[:-1], -1)  # ... x [m] x n x m
        if self.batched:
            # the GP's output batch dimension (third from the end) picks its own output
            values = torch.diagonal(values, dim1=-3, dim2=-1).transpose(-1, -2)  # ... x m x n
        else:
            values = values[..., 0]
        return values + self.constant


class FidelityLinearMean(Mean):
    """A mean linear in the two fidelity inputs (after `d` mixture inputs), constant in the mixture."""

    def __init__(self, d: int, batch_shape: torch.Size = torch.Size()) -> None:
        super().__init__()
        self.d = d
        self.linear = LinearMean(2, batch_shape=batch_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x[..., self.d:])


class TaskLinearMean(Mean):
    """A constant and a slope in one input per task: ``c[t] + b[t] * x[steps_dim]``, with ``t`` the
    integer in ``x[task_dim]``. `... x n x D` -> `... x n`.

    The multi-scale GP's mean: each scale has its own loss level and learning-curve slope, so the
    kernel models only how mixtures differ, and how alike those differences are across scales.
    """

    def __init__(self, num_tasks: int, task_dim: int, steps_dim: int, batch_shape: torch.Size = torch.Size()):
        super().__init__()
        self.task_dim, self.steps_dim = task_dim, steps_dim
        self.register_parameter("constants", torch.nn.Parameter(torch.zeros(*batch_shape, num_tasks, dtype=torch.double)))
        self.register_parameter("slopes", torch.nn.Parameter(torch.zeros(*batch_shape, num_tasks, dtype=torch.double)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        one_hot = torch.nn.functional.one_hot(x[..., self.task_dim].round().long(), self.constants.shape[-1])
        one_hot = one_hot.to(x.dtype)  # `... x n x T`; the batch of outputs broadcasts from the left
        return ((one_hot * self.constants.unsqueeze(-2)).sum(-1)
                + (one_hot * self.slopes.unsqueeze(-2)).sum(-1) * x[..., self.steps_dim])
