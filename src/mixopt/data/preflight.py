r"""Pre-flight checks of a domain's own files, before any job: readable, decodable, enough text.

Each file gives its first documents, up to :data:`SAMPLE_BYTES` of text (less when a domain has
so many files that they would exceed :data:`TOTAL_SAMPLE_BYTES`). Decoding stops the check
when bytes are not UTF-8 (unless the domain allows ``errors: replace``, and then only up to its
``max_replaced_fraction``). The check is shallow: a bad line or a truncated archive past the
sample is found by the job that reads it (one line naming the file and line), or before any job by
``mixopt check --deep``, which reads every file to its end. When every file was read to its end, the domain must hold at least two
documents (a training and a validation one) and enough bytes for ``val_tokens`` validation tokens
at ``validation_fraction``: a byte-level BPE gives at most one token per byte, so fewer bytes than
``val_tokens / validation_fraction`` cannot make it. A larger domain is not read to its end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from mixopt.core.errors import DataError
from mixopt.data.documents import iter_documents

__all__ = ["SAMPLE_BYTES", "DomainSample", "check_domain_text", "check_replaced"]

#: text read from each file: enough to find bad encodings, little next to a real corpus
SAMPLE_BYTES = 1 << 20
#: text read from all of a domain's files together: the check runs at every `snakemake` start, so a
#: domain of many files gets a smaller sample of each (down to MIN_SAMPLE_BYTES)
TOTAL_SAMPLE_BYTES = 64 << 20
MIN_SAMPLE_BYTES = 4 << 10


@dataclass(frozen=True)
class DomainSample:
    """What the check read: ``documents`` and UTF-8 ``bytes`` of text, ``replaced`` characters of
    ``characters``, and whether every file was read to its end (``complete``)."""

    documents: int
    bytes: int
    characters: int
    replaced: int
    complete: bool


def check_replaced(key: str, what: str, replaced: int, characters: int, errors: str, max_fraction: float) -> None:
    """DataError naming ``key`` (``domains.<name>``) when ``replaced`` of ``characters`` break that
    domain's policy: any with ``errors: strict``, more than ``max_fraction`` with ``replace``.
    ``what`` names the text (a file, or the whole domain)."""
    if replaced and errors != "replace":
        raise DataError(f"config key '{key}.errors': {what} is not UTF-8 text ({replaced} of {characters:,} "
                        f"characters undecodable); convert it to UTF-8, or set {key}.errors: replace")
    if characters and replaced / characters > max_fraction:
        raise DataError(f"config key '{key}.max_replaced_fraction': {what} has {replaced / characters:.2%} replaced "
                        f"characters ({replaced} of {characters:,}), above {max_fraction:.2%}")


def check_domain_text(key: str, paths: Sequence[Path], text_field: str, errors: str, max_replaced_fraction: float,
                      val_tokens: int, validation_fraction: float, deep: bool = False) -> DomainSample:
    """Check one domain's files (see the module docstring); returns what was read.

    Args:
        key: the config key the messages name (``domains.<name>``).
        deep: read every file to its end (``mixopt check --deep``), not a sample of each: finds a
            bad line or a truncated archive anywhere, at the cost of reading the whole corpus.

    Raises:
        DataError: naming ``key`` and the file: unreadable or corrupt, not UTF-8, too many replaced
            characters, or a domain too small for a training and a validation split.
    """
    documents = n_bytes = characters = replaced = 0
    complete = True
    per_file = math.inf if deep else max(MIN_SAMPLE_BYTES, min(SAMPLE_BYTES, TOTAL_SAMPLE_BYTES // max(1, len(paths))))
    for path in paths:
        file_bytes = file_chars = file_replaced = 0
        try:
            for doc in iter_documents([path], text_field):
                documents += 1
                file_bytes += len(doc.text.encode("utf-8"))
                file_chars += len(doc.text)
                file_replaced += doc.replaced
                if file_bytes >= per_file:
                    complete = False
                    break
        except DataError as e:
            raise DataError(f"config key '{key}.paths': {e}") from None
        except OSError as e:
            raise DataError(f"config key '{key}.paths': {path}: cannot be read ({e.strerror or e})") from None
        check_replaced(key, f"{path} (the {file_chars:,} characters read)", file_replaced, file_chars, errors,
                       max_replaced_fraction)
        n_bytes, characters, replaced = n_bytes + file_bytes, characters + file_chars, replaced + file_replaced
    need = int(val_tokens / validation_fraction)
    files = ", ".join(map(str, paths[:3])) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
    if complete and documents < 2:
        raise DataError(f"config key '{key}.paths': {files} hold {documents} document(s); a domain needs at least 2, "
                        f"one for training and one for validation")
    if complete and n_bytes < need:
        raise DataError(f"config key '{key}.paths': {files} hold {n_bytes:,} bytes of text; a validation split of "
                        f"{val_tokens:,} tokens (training.eval_tokens, at least the largest context + 1) at "
                        f"data.validation_fraction {validation_fraction} needs at least {need:,}")
    return DomainSample(documents, n_bytes, characters, replaced, complete)
