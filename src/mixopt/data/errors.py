"""The one exception type the data layer raises for bad input."""

from __future__ import annotations

__all__ = ["DataError"]


class DataError(ValueError):
    """Raised when a corpus, tokenizer or shard on disk cannot be used.

    The message always names the offending file, directory, pattern or key,
    so that a failing workflow rule can be fixed without a traceback.
    """
