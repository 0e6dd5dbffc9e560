"""The throughput benchmarks' yardstick: a minimal decoder of mixopt's proxy blocks, in plain torch.

RMSNorm, rotary positions (theta 1e4), SDPA causal attention, SwiGLU and tied embeddings: the
Llama blocks :func:`mixopt.training.model.build_model` builds through transformers, written
without transformers' layers of indirection, and trained the way the loop trains (AdamW with
betas (0.9, 0.95), gradient clipping, bf16 autocast when asked; fused AdamW where the loop uses
it). ``benchmarks/train_throughput.py`` (CPU) and ``benchmarks/gpu_throughput.py`` (any device)
measure mixopt's loop against it.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Callable

import torch
import torch.nn.functional as F

from mixopt.settings import ModelShape
from mixopt.training.device import adamw_options
from mixopt.training.loop import BETAS

__all__ = ["ReferenceGPT", "reference_step"]


class _Block(torch.nn.Module):
    def __init__(self, width: int, heads: int, ffn: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = torch.nn.RMSNorm(width, eps=1e-6), torch.nn.RMSNorm(width, eps=1e-6)
        self.qkv = torch.nn.Linear(width, 3 * width, bias=False)
        self.out = torch.nn.Linear(width, width, bias=False)
        self.gate_up = torch.nn.Linear(width, 2 * ffn, bias=False)
        self.down = torch.nn.Linear(ffn, width, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(B, T, 3, self.heads, C // self.heads).transpose(1, 3).unbind(2)
        q, k = _rotate(q, cos, sin), _rotate(k, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.out(y.transpose(1, 2).reshape(B, T, C))
        gate, up = self.gate_up(self.norm2(x)).chunk(2, dim=-1)
        return x + self.down(F.silu(gate) * up)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


class ReferenceGPT(torch.nn.Module):
    """Llama-style decoder: tied embeddings, rotary positions (theta 1e4), SDPA, SwiGLU."""

    def __init__(self, shape: ModelShape, vocab: int) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, shape.width)
        self.blocks = torch.nn.ModuleList(_Block(shape.width, shape.heads, shape.ffn) for _ in range(shape.layers))
        self.norm = torch.nn.RMSNorm(shape.width, eps=1e-6)
        head = shape.width // shape.heads
        inv = 1.0 / (10000 ** (torch.arange(0, head, 2, dtype=torch.float32) / head))
        angles = torch.outer(torch.arange(shape.context, dtype=torch.float32), inv)
        self.register_buffer("cos", torch.cat([angles, angles], dim=-1).cos(), persistent=False)
        self.register_buffer("sin", torch.cat([angles, angles], dim=-1).sin(), persistent=False)
        for module in self.modules():
            if isinstance(module, (torch.nn.Linear, torch.nn.Embedding)):
                torch.nn.init.normal_(module.weight, std=0.02)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        x = self.embed(idx)
        T = idx.shape[1]
        for block in self.blocks:
            x = block(x, self.cos[:T], self.sin[:T])
        logits = self.norm(x) @ self.embed.weight.T
        return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), targets.reshape(-1))


def reference_step(shape: ModelShape, vocab: int, device: torch.device,
                   autocast: Callable[[], AbstractContextManager], compile: bool = False
                   ) -> Callable[[torch.Tensor], None]:
    """One training step of a fresh, seeded :class:`ReferenceGPT` of ``shape`` on ``device``.

    Args:
        autocast: The forward pass's autocast context (``nullcontext`` for float32).
        compile: Run the forward and backward through ``torch.compile`` (as ``training.compile``).

    Returns:
        ``step(batch)``, ``batch`` int64 ``B x (T + 1)`` on ``device``: forward, backward, clip,
        AdamW (fused on CUDA, as the loop's).
    """
    torch.manual_seed(0)
    model = ReferenceGPT(shape, vocab).to(device)
    forward = torch.compile(model) if compile else model
    opt = torch.optim.AdamW(model.parameters(), lr=shape.lr, betas=BETAS, weight_decay=0.1,
                            **adamw_options(device))

    def step(batch: torch.Tensor) -> None:
        with autocast():
            loss = forward(batch[:, :-1], batch[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    return step
