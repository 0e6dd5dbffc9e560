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

__all__ = ["sample_plan", "sample_indices", "sample_documents"]

T = TypeVar("T")


def _key(seed: int, salt: str, index: int) -> int:
    digest = hashlib.blake2b(f"{seed}\0{salt}\0{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def sample_plan(sizes: Iterable[int], max_bytes: int, seed: int, salt: str = "") -> tuple[set[int], int | None, int]:
    """The sample of the documents of byte ``sizes`` (in corpus order), and the first one left out.

    Returns:
        ``(chosen, crossing, total)``: the indices of the run of documents in key order that fits
        in ``max_bytes``; the index of the next document in key order, the one that would exceed
        it (``None`` when everything fits), which a caller that wants exactly ``max_bytes`` cuts;
        and the bytes of the chosen documents.
    """
    chosen: list[tuple[int, int, int]] = []  # a max-heap by key: (-key, index, size)
    total, limit = 0, None  # limit: (key, index) of the first document left out (all above it are too)
    for index, size in enumerate(sizes):
        key = _key(seed, salt, index)
        if limit is not None and key >= limit[0]:
            continue
        heapq.heappush(chosen, (-key, index, size))
        total += size
        while total > max_bytes:
            negative, dropped_index, dropped = heapq.heappop(chosen)
            total -= dropped
            limit = (-negative, dropped_index)
    return {index for _, index, _ in chosen}, None if limit is None else limit[1], total


def sample_indices(sizes: Iterable[int], max_bytes: int, seed: int, salt: str = "") -> set[int]:
    """Indices of the documents of byte ``sizes`` (in corpus order) in the sample: the shortest
    prefix, in key order, stops before the first document that would exceed ``max_bytes``."""
    return sample_plan(sizes, max_bytes, seed, salt)[0]


def sample_documents(documents: Callable[[], Iterator[T]], size: Callable[[T], int], max_bytes: int,
                     seed: int, salt: str = "") -> Iterator[T]:
    """The sampled documents, in corpus order. ``documents`` is called twice (two passes), so it
    must give the same documents each time; ``size`` gives a document's bytes."""
    keep = sample_indices((size(d) for d in documents()), max_bytes, seed, salt)
    return (d for i, d in enumerate(documents()) if i in keep)
