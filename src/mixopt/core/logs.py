"""Send a step's prints and warnings to its log file."""

from __future__ import annotations

import contextlib
import logging
import traceback
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def log_to(path: str | Path) -> Iterator[None]:
    """Redirect stdout, stderr and the logging module to ``path`` for the duration."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", buffering=1) as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        handler = logging.StreamHandler(f)
        logging.getLogger().addHandler(handler)
        logging.getLogger().setLevel(logging.INFO)
        try:
            yield
        except BaseException:
            # the traceback belongs in the step's log, not only on the console
            traceback.print_exc(file=f)
            raise
        finally:
            logging.getLogger().removeHandler(handler)
