"""Deterministic train/validation split of a domain's documents.

A document goes to validation when a keyed hash of ``(seed, domain, index)``
falls below ``fraction``. The hash is BLAKE2b, not Python's ``hash``, so the
split is the same in every process, whatever ``PYTHONHASHSEED`` is, and a
document keeps its split when documents are appended after it.

Tiny domains could end up with no validation (or no training) document, so
:func:`assign_splits` applies one rule on top of the hash, and every caller
(tokenizer training and shard writing) goes through it:

    The last document of a domain breaks ties. If none of the documents
    before it was chosen for validation, it goes to validation; if all of the
    documents before it were, it goes to training; otherwise the hash decides.

With at least two documents this always yields at least one document in each
split, and it overrides the hash only when that is needed. Only the last
document can change, so the rule works on a stream with one document of
look-ahead. A domain with fewer than two documents is an error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import TypeVar

from mixopt.core.errors import DataError

__all__ = ["is_validation", "assign_splits"]

T = TypeVar("T")

_SCALE = float(1 << 64)


def _check_fraction(fraction: float) -> None:
    if not 0.0 < fraction < 1.0:
        raise DataError(f"validation fraction must be in (0, 1), got {fraction!r}")


def is_validation(domain: str, doc_index: int, fraction: float, seed: int) -> bool:
    """Whether the hash alone puts document ``doc_index`` of ``domain`` in validation.

    Args:
        domain: Domain name (part of the hash key, so domains split independently).
        doc_index: 0-based index of the document among the domain's non-blank
            documents, in :func:`~mixopt.data.documents.iter_documents` order.
        fraction: Expected share of validation documents, in ``(0, 1)``.
        seed: Split seed.

    Returns:
        ``True`` with probability ``fraction``, deterministically. Use
        :func:`assign_splits` for the final split, which adds the tie rule.
    """
    _check_fraction(fraction)
    key = f"{seed}:{domain}:{doc_index}".encode()
    value = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")
    return value / _SCALE < fraction


def assign_splits(
    domain: str, documents: Iterable[T], fraction: float, seed: int
) -> Iterator[tuple[T, bool]]:
    """Pair each document with its split, applying the module's tie rule.

    Lazy: each document is yielded once the next one has been read (the last
    one when the input is exhausted), so a caller may stop early.

    Args:
        domain: Domain name.
        documents: The domain's documents, in their canonical order.
        fraction: Expected share of validation documents, in ``(0, 1)``.
        seed: Split seed.

    Yields:
        ``(document, is_val)`` in input order.

    Raises:
        DataError: the domain has fewer than two documents (raised once the
            input is exhausted).
    """
    _check_fraction(fraction)
    any_val = False
    all_val = True
    pending: T | None = None
    count = 0
    for index, doc in enumerate(documents):
        if index > 0:
            val = is_validation(domain, index - 1, fraction, seed)
            any_val |= val
            all_val &= val
            yield pending, val  # type: ignore[misc]
        pending = doc
        count = index + 1
    if count < 2:
        raise DataError(
            f"domain {domain!r} has {count} non-empty document(s); at least 2 are "
            "needed to hold out a validation document"
        )
    if not any_val:
        last_val = True
    elif all_val:
        last_val = False
    else:
        last_val = is_validation(domain, count - 1, fraction, seed)
    yield pending, last_val  # type: ignore[misc]
