"""Send a step's prints and warnings to its log file."""

from __future__ import annotations

import contextlib
import datetime
import logging
import re
import sys
import traceback
from pathlib import Path
from typing import IO, Iterator

from mixopt.core.errors import MixoptError

#: The line that opens each attempt of a step whose log keeps its earlier attempts.
ATTEMPT_HEADER = "===== attempt {n} ({time}) ====="
_ATTEMPT = re.compile(r"^===== attempt (\d+) ", re.MULTILINE)


def history_path(path: str | Path) -> Path:
    """Where a log that keeps its attempts stores them: beside it, ``<name>.attempts``. Snakemake
    deletes a job's log before it reruns the job, so the log alone cannot keep them."""
    path = Path(path)
    return path.with_name(path.name + ".attempts")


class _Tee:
    """A text stream writing to several files (the log and its history)."""

    def __init__(self, *files: IO[str]) -> None:
        self.files = files

    def write(self, text: str) -> int:
        for f in self.files:
            f.write(text)
        return len(text)

    def flush(self) -> None:
        for f in self.files:
            f.flush()


@contextlib.contextmanager
def log_to(path: str | Path, keep_attempts: bool = False) -> Iterator[None]:
    """Redirect stdout, stderr and the logging module to ``path`` for the duration.

    A :class:`~mixopt.core.errors.MixoptError` (bad input, its message naming the file) ends the
    step with that one line, in the log and on the real stderr, and exit status 1; any other
    error's traceback goes to the log and the error propagates.

    With ``keep_attempts``, a rerun (after a kill, a preemption or a ``--forcerun``) does not lose
    what earlier attempts logged: ``path`` starts with their lines, then an ``attempt N`` header
    (:data:`ATTEMPT_HEADER`), then this attempt's lines, which also go to :func:`history_path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        f = stack.enter_context(path.open("w", buffering=1))
        out: IO[str] | _Tee = f
        if keep_attempts:
            history = history_path(path)
            earlier = history.read_text(errors="replace") if history.is_file() else ""
            n = len(_ATTEMPT.findall(earlier)) + 1
            header = ATTEMPT_HEADER.format(n=n, time=datetime.datetime.now().isoformat(timespec="seconds")) + "\n"
            f.write(earlier + header)
            h = stack.enter_context(history.open("a", buffering=1))
            h.write(header)
            out = _Tee(f, h)
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(out))
        handler = logging.StreamHandler(out)
        logging.getLogger().addHandler(handler)
        logging.getLogger().setLevel(logging.INFO)
        try:
            yield
        except MixoptError as e:
            # bad input (a corpus line, a table): one line naming the file, in the log and on the
            # console, instead of a traceback through the library
            print(f"mixopt: {e}", file=out)
            print(f"mixopt: {e}", file=sys.__stderr__, flush=True)
            raise SystemExit(1) from None
        except BaseException:
            # the traceback belongs in the step's log, not only on the console
            traceback.print_exc(file=out)
            raise
        finally:
            logging.getLogger().removeHandler(handler)
