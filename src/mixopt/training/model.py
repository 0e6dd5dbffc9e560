r"""Proxy causal language models: a seeded builder and parameter counts.

Models are Llama-architecture decoders built from a ``transformers.LlamaConfig`` of a
:class:`~mixopt.settings.ModelShape`; nothing is downloaded. Word embeddings are tied to the
output projection, so a tiny proxy spends most of its parameters on the (shared) vocabulary matrix.
"""

from __future__ import annotations

import os

# Proxies are always built from a config; never let transformers reach for the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

from mixopt.settings import ModelShape  # noqa: E402

__all__ = ["build_model", "count_parameters", "parameter_count"]


def _llama_config(shape: ModelShape, vocab_size: int) -> LlamaConfig:
    if vocab_size < 1:
        raise ValueError(f"vocab_size must be positive, got {vocab_size}")
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=shape.width,
        intermediate_size=shape.ffn,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        num_key_value_heads=shape.heads,
        max_position_embeddings=shape.context,
        tie_word_embeddings=True,
        attention_dropout=0.0,
        attention_bias=False,
        mlp_bias=False,
        use_cache=False,
        # No special tokens are used by the proxies; token ids come straight from shards.
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=None,
        attn_implementation="sdpa",
    )


def build_model(shape: ModelShape, vocab_size: int, seed: int) -> LlamaForCausalLM:
    """Build a randomly initialised Llama proxy on the CPU in float32.

    Initialisation draws from a private copy of torch's CPU generator seeded with ``seed``,
    so the same ``(shape, vocab_size, seed)`` gives bit-identical weights whatever the
    caller's global RNG state, and the caller's RNG state is left untouched.

    Args:
        shape: Architecture.
        vocab_size: Rows of the (tied) embedding matrix.
        seed: Initialisation seed.

    Returns:
        A ``LlamaForCausalLM`` in train mode; move it to a device yourself.
    """
    config = _llama_config(shape, vocab_size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.train()
    return model


def count_parameters(model: torch.nn.Module) -> dict[str, int]:
    """Count parameters with tied weights counted once.

    Returns:
        ``{"total", "embedding", "non_embedding"}``. ``embedding`` is the input token
        embedding matrix (``vocab_size * width``), which is also the output projection
        when tied; ``non_embedding = total - embedding``. Llama uses rotary positions,
        so there is no position-embedding matrix.
    """
    # Module.parameters() yields a shared Parameter once, which is what makes tying count once.
    total = sum(p.numel() for p in model.parameters())
    embedding = model.get_input_embeddings().weight.numel()
    return {"total": total, "embedding": embedding, "non_embedding": total - embedding}


def parameter_count(shape: ModelShape, vocab_size: int) -> int:
    """``count_parameters(build_model(shape, vocab_size, seed))["total"]``, without allocating or
    initialising any weights: the model is built on the ``meta`` device."""
    with torch.device("meta"):
        model = LlamaForCausalLM(_llama_config(shape, vocab_size))
    return count_parameters(model)["total"]
