"""Draw training batches from a weighted mixture of per-domain token streams."""

from __future__ import annotations

import copy
import math
from typing import Any, Mapping

import numpy as np
import torch

from mixopt.core.simplex import SUM_TOLERANCE

__all__ = ["MixtureSampler", "validate_mixture"]


def validate_mixture(weights: Mapping[str, float]) -> None:
    """Check that ``weights`` is a probability vector over named domains.

    Raises:
        ValueError: naming the offending domain and weight, or the sum.
    """
    if not weights:
        raise ValueError("mixture has no domains")
    for name, w in weights.items():
        if isinstance(w, bool) or not isinstance(w, (int, float, np.floating, np.integer)):
            raise ValueError(f"domain {name!r}: weight {w!r} is not a number")
        if not math.isfinite(w) or w < 0:
            raise ValueError(f"domain {name!r}: weight {w!r} must be finite and >= 0")
    # Weights come from optimisers and YAML: float round-off is allowed, nothing a human would notice.
    total = math.fsum(float(w) for w in weights.values())
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise ValueError(f"mixture weights sum to {total!r}, not 1 (tolerance {SUM_TOLERANCE}): {dict(weights)}")


class MixtureSampler:
    """Batches whose sequences come from domains drawn with probability equal to their weight.

    For each of the ``batch`` rows independently: pick a domain ``d`` with probability
    ``weights[d]``, then a uniformly random offset ``o`` in ``[0, len(tokens[d]) - context - 1]``
    and take the window ``tokens[d][o : o + context + 1]``. Inputs are its first ``context``
    tokens, targets the last ``context`` (shifted by one).

    Windows are drawn with replacement, so a domain whose share of the run needs more tokens than
    it has is repeated, never exhausted; :attr:`epochs` says how many times over it was read
    (``constraints.max_repetition`` keeps the proposals within a cap).

    Domains are visited in sorted-name order when mapping random draws to domains, so the
    stream depends on the mixture's contents, not on the insertion order of the dict.

    Several processes (data-parallel ranks) share one run's global batch: each rank's sampler
    draws every row's domain and offset from the same seeded stream, as the one-process run does,
    and returns only its own ``batch / world`` rows (rank r: rows ``r * batch / world`` onwards).
    Together the ranks see exactly the global batch of the one-process run, and their states and
    :attr:`counts` (of the global batch) are the same.

    The weights may change during a run (:meth:`set_weights`: DoReMi's Group DRO, an online
    bandit) among the domains of the initial mixture; the current ones are part of the state, so a
    resumed run draws as the uninterrupted one. :attr:`batch_domains` says which domain each row of
    the last batch came from.

    Args:
        tokens: Domain name -> 1-D array of token ids (a ``np.memmap`` is fine). Domains with
            weight 0 need no entry; extra entries are ignored.
        weights: Domain name -> mixture weight; weights >= 0 summing to 1.
        context: Sequence length ``T``.
        batch: Rows per global batch ``B``.
        seed: Seed of the sampler's own ``numpy.random.Generator``.
        rank, world: This process's share: rows ``[rank * B / world, (rank + 1) * B / world)``.

    Raises:
        ValueError: bad weights, a weighted domain without tokens, one with fewer than
            ``context + 1`` tokens (each message names the domain), or a batch that ``world``
            does not divide.
    """

    def __init__(
        self,
        tokens: Mapping[str, np.ndarray],
        weights: Mapping[str, float],
        context: int,
        batch: int,
        seed: int,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        if context < 1 or batch < 1:
            raise ValueError(f"context and batch must be positive, got context={context}, batch={batch}")
        if world < 1 or not 0 <= rank < world or batch % world:
            raise ValueError(f"a batch of {batch} rows cannot be split among {world} processes (rank {rank})")
        validate_mixture(weights)
        self.context = int(context)
        self.batch = int(batch)
        share = self.batch // world
        self._rows = range(rank * share, (rank + 1) * share)  # this rank's rows of the global batch
        self.weights = {name: float(w) for name, w in weights.items()}
        self.domains = sorted(name for name, w in self.weights.items() if w > 0)
        self._tokens: dict[str, np.ndarray] = {}
        for name in self.domains:
            if name not in tokens:
                raise ValueError(f"domain {name!r} has weight {self.weights[name]!r} but no tokens were given")
            arr = tokens[name]
            if arr.ndim != 1:
                raise ValueError(f"domain {name!r}: tokens must be a 1-D array, got shape {arr.shape}")
            if len(arr) < self.context + 1:
                raise ValueError(
                    f"domain {name!r} has weight {self.weights[name]!r} but only {len(arr)} train tokens; "
                    f"need at least context+1 = {self.context + 1}"
                )
            self._tokens[name] = arr
        p = np.array([self.weights[name] for name in self.domains], dtype=np.float64)
        self._p = p / p.sum()  # exact renormalisation; numpy's choice() is stricter than our tolerance
        self._rng = np.random.default_rng(seed)
        self._counts = {name: 0 for name in sorted(self.weights)}
        self._which = np.zeros(0, dtype=np.int64)

    def set_weights(self, weights: np.ndarray) -> None:
        """Draw the next batches with ``weights`` (`k`: one per domain of :attr:`domains`, in that
        order; non-negative, summing to one)."""
        p = np.asarray(weights, dtype=np.float64)
        if p.shape != self._p.shape:
            raise ValueError(f"{len(p)} weights for the sampler's {len(self.domains)} domains {self.domains}")
        validate_mixture(dict(zip(self.domains, p.tolist())))
        self._p = p / p.sum()

    @property
    def current_weights(self) -> np.ndarray:
        """`k`: the probability of each domain of :attr:`domains` in the next batch."""
        return self._p.copy()

    @property
    def batch_domains(self) -> np.ndarray:
        """`rows`: the index (into :attr:`domains`) of each of this rank's rows of the last batch."""
        return self._which[self._rows.start:self._rows.stop].copy()

    @property
    def counts(self) -> dict[str, int]:
        """Sequences drawn so far per domain (every domain of ``weights``, zero-weight ones at 0)."""
        return dict(self._counts)

    @property
    def epochs(self) -> dict[str, float]:
        """Passes over each domain's training tokens so far: tokens drawn / tokens it has (0 for
        zero-weight domains)."""
        return {name: (n * self.context / len(self._tokens[name]) if name in self._tokens else 0.0)
                for name, n in self._counts.items()}

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw one batch.

        Returns:
            ``(x, y)``: int64 CPU tensors of shape ``[batch / world, context]`` (this rank's rows)
            with ``y[:, t] == next token after x[:, t]``.
        """
        T, rows = self.context, self._rows
        which = self._rng.choice(len(self.domains), size=self.batch, p=self._p)
        self._which = which
        buf = np.empty((len(rows), T + 1), dtype=np.int64)
        for row, k in enumerate(which):
            name = self.domains[k]
            arr = self._tokens[name]
            start = int(self._rng.integers(0, len(arr) - T))  # high is exclusive: last start = len - T - 1
            if row in rows:  # every rank draws every row, to stay on the one-process stream
                buf[row - rows.start] = arr[start : start + T + 1]
            self._counts[name] += 1
        window = torch.from_numpy(buf)
        return window[:, :-1].contiguous(), window[:, 1:].contiguous()

    def state_dict(self) -> dict[str, Any]:
        """RNG state, counts and the current weights; JSON- and ``torch.save``-serialisable (plain
        ints, floats and strings)."""
        return {"rng": copy.deepcopy(self._rng.bit_generator.state), "counts": dict(self._counts),
                "weights": self._p.tolist()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a state from :meth:`state_dict` of a sampler over the same mixture."""
        counts = dict(state["counts"])
        if set(counts) != set(self._counts):
            raise ValueError(f"state counts cover domains {sorted(counts)}, sampler has {sorted(self._counts)}")
        self._rng.bit_generator.state = copy.deepcopy(dict(state["rng"]))
        self._counts = {name: int(counts[name]) for name in sorted(counts)}
        if "weights" in state:  # a state from before weights could change has the initial ones
            self._p = np.array(state["weights"], dtype=np.float64)
