"""Training compute estimate used to place checkpoints on a FLOPs axis.

We use the Kaplan et al. (2020) approximation ``C = 6 * N * D``: for each training token a
matmul with ``N`` weights costs ``2N`` FLOPs forward and ``4N`` backward. Attention-score
FLOPs (``~ layers * context * width``) are left out, as in that approximation.

Which ``N``: the *total* parameter count with tied embeddings counted once
(:func:`mixopt.training.model.count_parameters` ``["total"]``). The input embedding lookup costs no
FLOPs, but with tied weights the same matrix is also the output projection, a real
``width x vocab`` matmul on every token -- in tiny proxies it is the largest single matmul
and often more than all transformer blocks together. Kaplan's non-embedding ``N`` would drop
that cost, so we keep it; counting the matrix once charges exactly its one real use.
"""

from __future__ import annotations

__all__ = ["training_flops"]


def training_flops(n_params: int, tokens: int) -> float:
    """Approximate training FLOPs ``6 * n_params * tokens``.

    Args:
        n_params: Total parameters, tied embeddings counted once.
        tokens: Training tokens processed (steps * batch * context).

    Returns:
        FLOPs as a float (values exceed 2**53 quickly at real scales; float is what plots use).
    """
    if n_params < 0 or tokens < 0:
        raise ValueError(f"n_params and tokens must be non-negative, got {n_params}, {tokens}")
    return 6.0 * float(n_params) * float(tokens)
