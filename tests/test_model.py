"""Model shape, builder, parameter counts and the FLOPs estimate."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from mixopt.core.flops import training_flops
from mixopt.settings import ModelShape, ShapeError
from mixopt.training.model import build_model, count_parameters, parameter_count

TINY = ModelShape(layers=2, width=32, heads=4, context=16, batch=4, lr=1e-3)
VOCAB = 97  # deliberately not a power of two, so a wrong factor cannot hide


def hand_count(shape: ModelShape, vocab: int) -> tuple[int, int]:
    """(total, embedding) for a tied, bias-free Llama with full multi-head attention."""
    w, f = shape.width, shape.ffn
    per_layer = 4 * w * w + 3 * w * f + 2 * w  # q,k,v,o + gate,up,down + two RMSNorm gains
    embedding = vocab * w  # shared by the input lookup and the output projection
    return embedding + shape.layers * per_layer + w, embedding  # + final RMSNorm


@pytest.mark.parametrize("ffn_width", [None, 48])
def test_parameter_count_matches_hand_calculation(ffn_width):
    shape = ModelShape(layers=2, width=32, heads=4, context=16, batch=4, lr=1e-3, ffn_width=ffn_width)
    total, embedding = hand_count(shape, VOCAB)
    counts = count_parameters(build_model(shape, VOCAB, seed=0))
    assert counts == {"total": total, "embedding": embedding, "non_embedding": total - embedding}
    if ffn_width is None:
        # 97*32 + 2*(4*32*32 + 3*32*128 + 64) + 32, written out once in full
        assert counts["total"] == 3104 + 2 * (4096 + 12288 + 64) + 32 == 36032


@pytest.mark.parametrize("ffn_width", [None, 48])
def test_parameter_count_is_the_built_models_total(ffn_width):
    shape = ModelShape(layers=3, width=32, heads=4, context=16, batch=4, lr=1e-3, ffn_width=ffn_width)
    total = count_parameters(build_model(shape, VOCAB, seed=0))["total"]
    assert parameter_count(shape, VOCAB) == total == hand_count(shape, VOCAB)[0]


def test_embeddings_tied_and_counted_once():
    model = build_model(TINY, VOCAB, seed=0)
    assert model.lm_head.weight is model.model.embed_tokens.weight
    naive = sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False))
    assert naive - count_parameters(model)["total"] == VOCAB * TINY.width


def test_config_is_as_specified():
    model = build_model(TINY, VOCAB, seed=0)
    cfg = model.config
    assert cfg._attn_implementation == "sdpa"
    assert cfg.max_position_embeddings == TINY.context
    assert cfg.attention_dropout == 0.0
    assert cfg.intermediate_size == 4 * TINY.width
    assert cfg.num_key_value_heads == cfg.num_attention_heads == TINY.heads
    assert next(model.parameters()).dtype == torch.float32


def test_same_seed_same_weights_and_global_rng_untouched():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = build_model(TINY, VOCAB, seed=7).state_dict()
    torch.rand(5)  # the builder must not depend on the global generator's position
    b = build_model(TINY, VOCAB, seed=7).state_dict()
    c = build_model(TINY, VOCAB, seed=8).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["model.embed_tokens.weight"], c["model.embed_tokens.weight"])
    torch.manual_seed(123)
    build_model(TINY, VOCAB, seed=7)
    assert torch.equal(torch.get_rng_state(), before)


def test_shape_from_dict_round_trip_and_validation():
    """The schema checks each value of a shape; the shape checks that its sizes fit together."""
    d = {"layers": 4, "width": 128, "heads": 4, "context": 256, "batch": 16, "lr": 3e-3}
    shape = ModelShape.from_dict(d)
    assert shape.lr == 3e-3 and shape.ffn == 512 and shape.ffn_width is None and shape.gpus == 1
    assert ModelShape.from_dict(shape.to_dict()) == shape
    with pytest.raises(ValueError, match="unknown ModelShape keys"):
        ModelShape.from_dict({**d, "dropout": 0.1})
    with pytest.raises(ShapeError, match="4 heads do not divide width 30") as info:
        ModelShape(layers=1, width=30, heads=4, context=8, batch=1, lr=1e-3)
    assert info.value.key == "heads"
    with pytest.raises(ShapeError, match="cannot share a global batch of 3 rows") as info:
        ModelShape(layers=1, width=32, heads=4, context=8, batch=3, lr=1e-3, gpus=2)
    assert info.value.key == "gpus"


def test_training_flops_is_6ND_with_real_counts():
    model = build_model(TINY, VOCAB, seed=0)
    n = count_parameters(model)["total"]
    tokens = 10 * TINY.batch * TINY.context
    assert training_flops(n, tokens) == 6 * n * tokens == 6 * 36032 * 640
    # The tied matrix is charged once: its one real use is the output projection.
    assert training_flops(n, tokens) < 6 * sum(
        p.numel() for _, p in model.named_parameters(remove_duplicate=False)
    ) * tokens
    assert training_flops(n, 0) == 0.0
    with pytest.raises(ValueError):
        training_flops(-1, 5)
