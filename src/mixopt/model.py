"""Proxy causal language models: a shape description, a seeded builder and parameter counts.

Models are Llama-architecture decoders built from a ``transformers.LlamaConfig``; nothing
is downloaded. Word embeddings are tied to the output projection, so a tiny proxy spends
most of its parameters on the (shared) vocabulary matrix.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

# Proxies are always built from a config; never let transformers reach for the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

__all__ = ["ModelShape", "build_model", "count_parameters"]


@dataclass(frozen=True)
class ModelShape:
    """Architecture and the per-shape training hyper-parameters of one proxy scale.

    Attributes:
        layers: Number of decoder blocks.
        width: Hidden size ``d_model``; must be divisible by ``heads``.
        heads: Attention heads (full multi-head attention, no grouped KV heads).
        context: Sequence length trained on; also ``max_position_embeddings``.
        batch: Sequences per optimiser step.
        lr: Peak learning rate of the schedule.
        ffn_width: Inner width of the SwiGLU MLP; ``None`` means ``4 * width``.
    """

    layers: int
    width: int
    heads: int
    context: int
    batch: int
    lr: float
    ffn_width: int | None = None

    def __post_init__(self) -> None:
        for name in ("layers", "width", "heads", "context", "batch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ModelShape.{name} must be a positive int, got {value!r}")
        if self.ffn_width is not None and (
            isinstance(self.ffn_width, bool) or not isinstance(self.ffn_width, int) or self.ffn_width < 1
        ):
            raise ValueError(f"ModelShape.ffn_width must be a positive int or None, got {self.ffn_width!r}")
        if self.width % self.heads:
            raise ValueError(f"ModelShape.width={self.width} is not divisible by heads={self.heads}")
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not (
            math.isfinite(self.lr) and self.lr > 0
        ):
            raise ValueError(f"ModelShape.lr must be a finite positive number, got {self.lr!r}")

    @property
    def ffn(self) -> int:
        """The MLP inner width actually used."""
        return self.ffn_width if self.ffn_width is not None else 4 * self.width

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ModelShape":
        """Build from a mapping (e.g. parsed YAML); unknown keys are an error, not ignored."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown ModelShape keys {unknown}; expected a subset of {sorted(known)}")
        kwargs = dict(d)
        # YAML writes 3e-3 as a string unless it has a dot ("3.0e-3"); accept both spellings.
        if isinstance(kwargs.get("lr"), str):
            kwargs["lr"] = float(kwargs["lr"])
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict that round-trips through :meth:`from_dict`."""
        return asdict(self)


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
    if vocab_size < 1:
        raise ValueError(f"vocab_size must be positive, got {vocab_size}")
    config = LlamaConfig(
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
