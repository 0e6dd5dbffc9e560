"""Atomic file output: a reader never sees a half-written file.

Every writer of a result file goes through these helpers: the content is
written to a temporary file in the destination directory (same filesystem,
so the final ``os.replace`` is an atomic rename) and only then moved into
place. A crash leaves at most a stray ``.tmp-*`` file, never a truncated
output that a later workflow step would trust.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_open", "atomic_dir", "json_safe", "write_json", "write_text"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp/mkdtemp create private (0600/0700) entries; outputs should get the
# permissions an ordinary open()/mkdir() would give them.
_FILE_MODE = 0o666 & ~_umask()
_DIR_MODE = 0o777 & ~_umask()


@contextlib.contextmanager
def atomic_open(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path``; rename it to ``path`` on success.

    Args:
        path: Final file location. Its parent directory is created if needed.
        mode: ``"w"`` (UTF-8 text, ``\\n`` newlines) or ``"wb"``.

    Yields:
        The open file object. If the ``with`` body raises, the temporary file
        is deleted and ``path`` is left untouched.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open supports modes 'w' and 'wb', not {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, _FILE_MODE)
        if mode == "w":
            f = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        else:
            f = os.fdopen(fd, "wb")
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling directory that replaces ``path`` on success.

    An existing ``path`` is removed only after the new content is complete.
    On failure the temporary directory is deleted and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{path.name}.", dir=path.parent))
    try:
        os.chmod(tmp, _DIR_MODE)
        yield tmp
        if path.exists():
            # A directory cannot be os.replace'd over a non-empty one: move the
            # old one aside first so the new one appears with a single rename.
            old = Path(tempfile.mkdtemp(prefix=f".old-{path.name}.", dir=path.parent))
            os.replace(path, old / "old")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def json_safe(obj: Any) -> Any:
    """Non-finite floats -> None (strict JSON has no NaN), numpy scalars -> Python, tuples -> lists."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "item") and getattr(obj, "shape", None) == ():  # a numpy scalar
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(obj: Any, path: Path) -> None:
    """Write ``obj`` as indented, key-ordered-as-given, strict JSON (NaN and inf as ``null``),
    atomically."""
    write_text(Path(path), json.dumps(json_safe(obj), indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8), atomically."""
    with atomic_open(path, "w") as f:
        f.write(text)
