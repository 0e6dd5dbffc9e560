"""Training compute estimate used to place checkpoints on a FLOPs axis.

We use the Kaplan et al. (2020) approximation ``C = 6 * N * D``: for each training token a
matmul with ``N`` weights costs ``2N`` FLOPs forward and ``4N`` backward. Attention-score
FLOPs (``~ layers * context * width``) are left out, as in that approximation.

Which ``N``: the *total* parameter count with tied embeddings counted once
(:func:`mixopt.model.count_parameters` ``["total"]``). The input embedding lookup costs no
FLOPs, but with tied weights the same matrix is also the output projection, a real
``width x vocab`` matmul on every token -- in tiny proxies it is the largest single matmul
and often more than all transformer blocks together. Kaplan's non-embedding ``N`` would drop
that cost, so we keep it; counting the matrix once charges exactly its one real use.
"""

from __future__ import annotations

__all__ = ["training_flops", "config_params", "config_step_flops"]


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


def config_params(config) -> dict[str, int]:
    """Scale name -> total parameters of that scale's model (tied embeddings counted once).

    Counted on a model built on the meta device (no memory), with the config's vocabulary size
    (a tokenizer read from ``tokenizer.path`` may differ slightly).
    """
    import torch

    from mixopt.model import ModelShape, build_model, count_parameters

    out = {}
    for name, spec in config["scales"].items():
        with torch.device("meta"):
            model = build_model(ModelShape.from_dict(spec), config["tokenizer"]["vocab_size"], seed=0)
        out[name] = count_parameters(model)["total"]
    return out


def config_step_flops(config, params: dict[str, int] | None = None) -> dict[str, float]:
    """Scale name -> FLOPs of one optimiser step, for every scale of a training config."""
    params = params or config_params(config)
    return {name: training_flops(params[name], spec["batch"] * spec["context"])
            for name, spec in config["scales"].items()}
