r"""The data of one proxy run, read from token shards and checked before training starts.

Shards are read through :mod:`mixopt.data.shards` (``load_meta``, and ``load_tokens``, which
checks each file's size against ``meta.json``). On top of that a run needs: the same vocabulary in
every domain, a token dtype it knows, ``meta.json``'s ``domain`` matching the name the run uses,
token ids below the vocabulary, and at least one evaluation window (``context + 1`` tokens) of
validation data per domain. Zero-weight domains are evaluated only, so they need no ``train.bin``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, NamedTuple

import numpy as np
import torch

from mixopt.data.shards import load_meta, load_tokens
from mixopt.training.evaluate import eval_windows
from mixopt.training.sampler import validate_mixture
from mixopt.training.spec import TrainSpec

__all__ = ["TOKEN_DTYPES", "RunData", "load_run_data"]

# Token dtypes a run reads (those tokenize_domain writes).
TOKEN_DTYPES = ("uint16", "uint32")


class RunData(NamedTuple):
    """What the loop trains and evaluates on.

    Attributes:
        vocab_size: The vocabulary every domain shares.
        train_tokens: Weighted domain -> its training tokens ``[N_d]`` (memory-mapped).
        windows: Every domain (sorted by name) -> int64 evaluation windows ``[n_d, context + 1]``.
    """

    vocab_size: int
    train_tokens: dict[str, np.ndarray]
    windows: dict[str, torch.Tensor]


def load_run_data(spec: TrainSpec, shard_dirs: Mapping[str, Path]) -> RunData:
    """Train tokens of the mixture's weighted domains and validation windows of every domain.

    Raises:
        ValueError: a bad mixture, a mixture domain without a shard directory, or shards that
            fail a check above (each message names the domain); ``DataError`` (a ``ValueError``)
            from :mod:`mixopt.data.shards` for a missing or inconsistent file.
    """
    validate_mixture(spec.mixture)
    for name in spec.mixture:
        if name not in shard_dirs:
            raise ValueError(f"mixture domain {name!r} has no shard directory (have {sorted(shard_dirs)})")
    dirs = {name: Path(d) for name, d in sorted(shard_dirs.items())}
    metas = {name: _checked_meta(name, d) for name, d in dirs.items()}
    vocabs = {name: int(meta["vocab_size"]) for name, meta in metas.items()}
    if len(set(vocabs.values())) != 1:
        raise ValueError(f"domains disagree on vocab_size: {vocabs}")
    vocab_size = next(iter(vocabs.values()))
    train_tokens = {name: load_tokens(dirs[name], "train") for name, w in spec.mixture.items() if w > 0}
    context = spec.shape.context
    windows = {}
    for name, d in dirs.items():
        w = eval_windows(load_tokens(d, "val"), context, spec.training.eval_tokens)
        if len(w) == 0:
            raise ValueError(f"domain {name!r}: val.bin has fewer than context+1 = {context + 1} tokens to evaluate on")
        if int(w.max()) >= vocab_size:
            raise ValueError(f"domain {name!r}: val.bin has token id {int(w.max())} >= vocab_size {vocab_size}")
        windows[name] = w
    return RunData(vocab_size, train_tokens, windows)


def _checked_meta(domain: str, directory: Path) -> dict[str, Any]:
    meta = load_meta(directory)
    for key in ("dtype", "vocab_size"):
        if key not in meta:
            raise ValueError(f"domain {domain!r}: {directory / 'meta.json'} has no {key!r}")
    if meta["dtype"] not in TOKEN_DTYPES:
        raise ValueError(f"domain {domain!r}: dtype {meta['dtype']!r} not in {sorted(TOKEN_DTYPES)}")
    if meta.get("domain", domain) != domain:
        raise ValueError(f"shard directory {directory} for domain {domain!r} holds domain {meta['domain']!r}")
    return meta
