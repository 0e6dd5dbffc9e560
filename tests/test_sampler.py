"""MixtureSampler: domain frequencies, window contents, validation and resumable state."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from mixopt.training.sampler import MixtureSampler

CONTEXT = 8


def labelled_tokens(n: int, domains: list[str]) -> dict[str, np.ndarray]:
    """Domain k holds the ids ``k * 10**6 + [0, n)``: every token names its domain and position."""
    return {d: (k * 10**6 + np.arange(n)).astype(np.uint32) for k, d in enumerate(domains)}


def domain_of(row) -> int:
    return int(row[0]) // 10**6


def test_weights_honoured_and_windows_come_from_that_domain():
    weights = {"a": 0.6, "b": 0.3, "c": 0.1, "z": 0.0}
    tokens = labelled_tokens(5_000, ["a", "b", "c"])  # "z" has weight 0 and no tokens at all
    s = MixtureSampler(tokens, weights, context=CONTEXT, batch=100, seed=0)
    drawn = {0: 0, 1: 0, 2: 0}
    for _ in range(200):  # 20,000 sequences
        x, y = s.next_batch()
        assert x.shape == y.shape == (100, CONTEXT) and x.dtype == y.dtype == torch.int64
        xn, yn = x.numpy(), y.numpy()
        # each row is one contiguous window of one domain's array, and y is x shifted by one
        assert (np.diff(xn, axis=1) == 1).all()
        assert (yn == xn + 1).all()
        assert (xn[:, 0] % 10**6 + CONTEXT < 5_000).all()  # the window's last target exists
        for row in xn:
            drawn[domain_of(row)] += 1
    n = 20_000
    assert s.counts == {"a": drawn[0], "b": drawn[1], "c": drawn[2], "z": 0}
    for k, name in enumerate(["a", "b", "c"]):
        p = weights[name]
        sd = math.sqrt(n * p * (1 - p))  # binomial std of a domain's count
        assert abs(drawn[k] - n * p) < 5 * sd, (name, drawn[k], n * p, sd)


def test_offsets_uniform_over_every_valid_start():
    slack = 4  # array of context+1+slack tokens: starts 0..slack are valid
    tokens = {"a": np.arange(CONTEXT + 1 + slack, dtype=np.uint16)}
    s = MixtureSampler(tokens, {"a": 1.0}, context=CONTEXT, batch=500, seed=1)
    starts = np.concatenate([s.next_batch()[0][:, 0].numpy() for _ in range(10)])
    freq = np.bincount(starts, minlength=slack + 1)
    assert len(freq) == slack + 1  # never past the last valid start
    n, p = len(starts), 1 / (slack + 1)
    assert (np.abs(freq - n * p) < 5 * math.sqrt(n * p * (1 - p))).all(), freq


def test_exactly_context_plus_one_tokens_is_enough():
    s = MixtureSampler({"a": np.arange(CONTEXT + 1, dtype=np.uint16)}, {"a": 1.0}, CONTEXT, 3, seed=0)
    x, y = s.next_batch()
    assert (x[:, 0] == 0).all() and (y[:, -1] == CONTEXT).all()


@pytest.mark.parametrize(
    "weights, match",
    [
        ({"a": 0.5, "b": -0.1, "c": 0.6}, r"'b'.*-0\.1"),
        ({"a": 0.5, "b": float("nan"), "c": 0.5}, r"'b'.*nan"),
        ({"a": 0.5, "b": 0.4}, r"sum to 0\.9"),
        ({"a": 0.5, "missing": 0.5}, r"'missing'.*no tokens"),
        ({"a": 0.5, "short": 0.5}, r"'short'.*only 8 train tokens"),
        ({}, "no domains"),
    ],
)
def test_bad_mixtures_raise_naming_the_domain(weights, match):
    tokens = {"a": np.arange(100, dtype=np.uint16), "b": np.arange(100, dtype=np.uint16),
              "c": np.arange(100, dtype=np.uint16), "short": np.arange(CONTEXT, dtype=np.uint16)}
    with pytest.raises(ValueError, match=match):
        MixtureSampler(tokens, weights, context=CONTEXT, batch=2, seed=0)


def test_weights_within_tolerance_accepted():
    tokens = labelled_tokens(100, ["a", "b", "c"])
    MixtureSampler(tokens, {"a": 0.1, "b": 0.2, "c": 0.7 + 5e-7}, CONTEXT, 2, seed=0)


def test_stream_independent_of_dict_order():
    tokens = labelled_tokens(1_000, ["a", "b"])
    s1 = MixtureSampler(tokens, {"a": 0.3, "b": 0.7}, CONTEXT, 16, seed=5)
    s2 = MixtureSampler(tokens, {"b": 0.7, "a": 0.3}, CONTEXT, 16, seed=5)
    for _ in range(5):
        assert np.array_equal(s1.next_batch()[0].numpy(), s2.next_batch()[0].numpy())


def test_state_dict_resumes_the_same_stream():
    tokens = labelled_tokens(1_000, ["a", "b", "c"])
    weights = {"a": 0.2, "b": 0.5, "c": 0.3}
    s = MixtureSampler(tokens, weights, CONTEXT, 8, seed=3)
    for _ in range(7):
        s.next_batch()
    state = json.loads(json.dumps(s.state_dict()))  # must survive a JSON round trip
    expected = [s.next_batch()[0].numpy() for _ in range(5)]
    resumed = MixtureSampler(tokens, weights, CONTEXT, 8, seed=999)
    resumed.load_state_dict(state)
    assert resumed.counts == state["counts"] and sum(state["counts"].values()) == 56
    got = [resumed.next_batch()[0].numpy() for _ in range(5)]
    assert all(np.array_equal(e, g) for e, g in zip(expected, got))
    assert resumed.counts == s.counts
    with pytest.raises(ValueError, match="domains"):
        MixtureSampler(tokens, {"a": 1.0}, CONTEXT, 8, seed=0).load_state_dict(state)


def test_ranks_share_out_the_one_process_batch():
    """Data-parallel ranks: rank r's rows are rows r*B/k.. of the one-process run's batch, every
    step, and each rank's counts and state are the one-process sampler's (the global batch)."""
    tokens, weights = labelled_tokens(3_000, ["a", "b", "c"]), {"a": 0.5, "b": 0.3, "c": 0.2}
    whole = MixtureSampler(tokens, weights, CONTEXT, 12, seed=4)
    ranks = [MixtureSampler(tokens, weights, CONTEXT, 12, seed=4, rank=r, world=3) for r in range(3)]
    for _ in range(5):
        x, y = whole.next_batch()
        parts = [s.next_batch() for s in ranks]
        assert all(p[0].shape == (4, CONTEXT) for p in parts)
        assert torch.equal(torch.cat([p[0] for p in parts]), x) and torch.equal(torch.cat([p[1] for p in parts]), y)
    assert all(s.counts == whole.counts and s.state_dict()["rng"] == whole.state_dict()["rng"] for s in ranks)
    with pytest.raises(ValueError, match="cannot be split among 5 processes"):
        MixtureSampler(tokens, weights, CONTEXT, 12, seed=4, rank=0, world=5)
