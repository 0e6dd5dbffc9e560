"""A seeded random sample of a corpus's documents, up to a byte budget, in bounded memory.

``max_bytes`` must not mean "the first max_bytes of the corpus": sorted sources then stop at early
letters or early years. Each document gets a uniform key from a hash of (seed, salt, its index);
the sample is the run of documents in key order up to the first that would exceed the budget: a
uniform random sample without replacement, drawn from across all files (which are read in sorted
order, so the same inputs and seed give the same sample). One pass
keeps only (key, index, bytes) of the candidates, a second yields the chosen documents in corpus
order, so memory grows with the number of sampled documents, never with their text.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

__all__ = ["sample_indices", "sample_documents"]

T = TypeVar("T")


def _key(seed: int, salt: str, index: int) -> int:
    digest = hashlib.blake2b(f"{seed}\0{salt}\0{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def sample_indices(sizes: Iterable[int], max_bytes: int, seed: int, salt: str = "") -> set[int]:
    """Indices of the documents of byte ``sizes`` (in corpus order) in the sample: the shortest
    prefix, in key order, stops before the first document that would exceed ``max_bytes``."""
    chosen: list[tuple[int, int, int]] = []  # a max-heap by key: (-key, index, size)
    total, limit = 0, None  # limit: the key of the first document left out (all above it are too)
    for index, size in enumerate(sizes):
        key = _key(seed, salt, index)
        if limit is not None and key >= limit:
            continue
        heapq.heappush(chosen, (-key, index, size))
        total += size
        while total > max_bytes:
            negative, _, dropped = heapq.heappop(chosen)
            total -= dropped
            limit = -negative
    return {index for _, index, _ in chosen}


def sample_documents(documents: Callable[[], Iterator[T]], size: Callable[[T], int], max_bytes: int,
                     seed: int, salt: str = "") -> Iterator[T]:
    """The sampled documents, in corpus order. ``documents`` is called twice (two passes), so it
    must give the same documents each time; ``size`` gives a document's bytes."""
    keep = sample_indices((size(d) for d in documents()), max_bytes, seed, salt)
    return (d for i, d in enumerate(documents()) if i in keep)
