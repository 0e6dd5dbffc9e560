"""Kernels on the simplex: exp(-distance / lengthscale) for total variation and Jensen-Shannon.

The multi-fidelity paper (arXiv 2503.21023, appendix) tried simplex-aware distances between
mixtures in place of the Euclidean one. Both kernels here are positive definite: total variation
is half the L1 distance, and exp(-c * L1) is a product of 1-D Laplace kernels; the Jensen-Shannon
divergence is the square of a Hilbertian metric, so exp(-c * JSD) is positive definite
(Schoenberg). A squared-exponential of either distance would not be.
"""

from __future__ import annotations

import math

import torch
from botorch.models.utils.gpytorch_modules import SQRT2, SQRT3, get_covar_module_with_dim_scaled_prior
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import Kernel, RBFKernel, ScaleKernel
from gpytorch.priors import LogNormalPrior

DISTANCES = ("tv", "js")


def total_variation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """`... x n x d`, `... x m x d` mixtures -> `... x n x m` total variation distances in [0, 1]."""
    return 0.5 * (a.unsqueeze(-2) - b.unsqueeze(-3)).abs().sum(-1)


def jensen_shannon(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """`... x n x d`, `... x m x d` mixtures -> `... x n x m` Jensen-Shannon divergences in
    [0, 1] (base-2 logarithms); 0 log 0 = 0."""
    p, q = a.unsqueeze(-2), b.unsqueeze(-3)
    m = 0.5 * (p + q)

    def kl(x: torch.Tensor) -> torch.Tensor:
        return torch.where(x > 0, x * (torch.log(x.clamp_min(1e-300)) - torch.log(m.clamp_min(1e-300))), 0.0).sum(-1)

    return (0.5 * kl(p) + 0.5 * kl(q)).clamp_min(0) / math.log(2.0)


class SimplexKernel(Kernel):
    """k(w, w') = exp(-D(w, w') / lengthscale) for D in :data:`DISTANCES`, on `d` mixture inputs
    (select them with ``active_dims``)."""

    has_lengthscale = True

    def __init__(self, distance: str = "tv", **kwargs) -> None:
        if distance not in DISTANCES:
            raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
        super().__init__(**kwargs)
        self.distance = distance

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, diag: bool = False, **params) -> torch.Tensor:
        dist = (total_variation if self.distance == "tv" else jensen_shannon)(x1, x2)
        k = torch.exp(-dist / self.lengthscale)
        return k.diagonal(dim1=-2, dim2=-1) if diag else k


def mixture_fidelity_kernel(d: int, batch: torch.Size = torch.Size(), mixture_kernel: str = "rbf",
                            structure: str = "product") -> Kernel:
    """The kernel of arXiv 2503.21023 over `d` mixture inputs then two fidelity inputs (size,
    steps): a product of kernels over the three blocks. RBF blocks carry BoTorch's
    dimension-scaled lengthscale priors (a product of RBFs over disjoint blocks is one ARD RBF).
    ``mixture_kernel``: ``rbf`` or a simplex distance (``tv``, ``js``). ``structure: additive``
    adds a fidelity-only term, so the learning curve's shape need not be explained through the
    mixture."""
    def rbf(dims: tuple[int, ...]) -> Kernel:
        return get_covar_module_with_dim_scaled_prior(ard_num_dims=len(dims), batch_shape=batch, active_dims=dims)

    if mixture_kernel == "rbf":
        joint = ScaleKernel(block_rbf([d, 1, 1], batch), batch_shape=batch)
    else:
        mixture = SimplexKernel(mixture_kernel, active_dims=tuple(range(d)), batch_shape=batch)
        joint = ScaleKernel(mixture * rbf((d,)) * rbf((d + 1,)), batch_shape=batch)
    if structure == "additive":
        return joint + ScaleKernel(rbf((d,)) * rbf((d + 1,)), batch_shape=batch)
    return joint


def block_rbf(blocks: list[int], batch: torch.Size = torch.Size()) -> RBFKernel:
    """The product of BoTorch's dimension-scaled RBF kernels over consecutive input blocks of the
    given sizes, as the one ARD RBF kernel it equals: each dimension keeps its block's lengthscale
    prior (LogNormal at sqrt(2) + log(block size) / 2, Hvarfner et al. 2024) and starts at its mode.

    Written out because gpytorch evaluates a product of kernels as a lazy product of matrices,
    which cost 10-50x the time of one kernel in the marginal likelihood's gradient."""
    loc = torch.cat([torch.full((size,), SQRT2 + math.log(size) * 0.5) for size in blocks])
    prior = LogNormalPrior(loc=loc.to(torch.get_default_dtype()), scale=SQRT3)
    kernel = RBFKernel(ard_num_dims=int(sum(blocks)), batch_shape=batch, lengthscale_prior=prior,
                       lengthscale_constraint=GreaterThan(2.5e-2, transform=None))
    kernel.lengthscale = prior.mode.expand_as(kernel.lengthscale).clone()
    return kernel
