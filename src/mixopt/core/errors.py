"""The exceptions mixopt raises for bad input: each message names the key, file or value at fault."""

from __future__ import annotations

__all__ = ["MixoptError", "ConfigError", "DataError"]


class MixoptError(ValueError):
    """Base of mixopt's input errors (a ``ValueError``, so callers that catch those still do)."""


class ConfigError(MixoptError):
    """A configuration value is wrong; the message names the key and the value."""


class DataError(MixoptError):
    """A corpus, tokenizer or shard on disk cannot be used.

    The message always names the offending file, directory, pattern or key,
    so that a failing workflow rule can be fixed without a traceback.
    """
