"""The progress line a training run logs, written and read back in one place.

One line per pause of the loop (:mod:`mixopt.training.loop`), nanoGPT style::

    step 120/400 | loss 5.1234 | lr 2.100e-03 | 7,412 tok/s | elapsed 0:00:41 | eta 0:01:35

``mixopt status`` (:mod:`mixopt.workflow.status`) reads the last one of a running trial's
train.log, so the format is kept here, next to its parser.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = ["Progress", "format_duration", "parse_duration", "progress_line", "parse_progress", "last_progress"]

_PROGRESS = re.compile(
    r"^step (?P<step>\d+)/(?P<steps>\d+) \| loss (?P<loss>\S+) \| lr (?P<lr>\S+) \| (?P<tps>[\d,]+) tok/s"
    r" \| elapsed (?P<elapsed>\d+:\d\d:\d\d) \| eta (?P<eta>\d+:\d\d:\d\d)$"
)


@dataclass(frozen=True)
class Progress:
    """One progress line: ``step`` of ``steps`` done, ``elapsed_s`` since the attempt started and
    ``eta_s`` to the last step (both whole seconds, as logged)."""

    step: int
    steps: int
    loss: float
    lr: float
    tokens_per_second: float
    elapsed_s: int
    eta_s: int


def format_duration(seconds: float) -> str:
    """``h:mm:ss`` (hours unbounded), rounded to the second; negative times read as 0."""
    total = round(max(0.0, seconds)) if math.isfinite(seconds) else 0
    hours, rest = divmod(int(total), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def parse_duration(text: str) -> int:
    """Seconds of an ``h:mm:ss`` duration (the inverse of :func:`format_duration`)."""
    hours, minutes, seconds = (int(x) for x in text.split(":"))
    return 3600 * hours + 60 * minutes + seconds


def progress_line(step: int, steps: int, loss: float, lr: float, tokens_per_second: float,
                  elapsed_s: float, eta_s: float) -> str:
    """The progress line of ``step`` (see the module docstring for the format)."""
    return (f"step {step}/{steps} | loss {loss:.4f} | lr {lr:.3e} | {tokens_per_second:,.0f} tok/s | "
            f"elapsed {format_duration(elapsed_s)} | eta {format_duration(eta_s)}")


def parse_progress(line: str) -> Progress | None:
    """The :class:`Progress` of a progress line; ``None`` for any other line."""
    match = _PROGRESS.match(line.strip())
    if match is None:
        return None
    return Progress(
        step=int(match["step"]), steps=int(match["steps"]), loss=float(match["loss"]), lr=float(match["lr"]),
        tokens_per_second=float(match["tps"].replace(",", "")),
        elapsed_s=parse_duration(match["elapsed"]), eta_s=parse_duration(match["eta"]),
    )


def last_progress(log_text: str) -> Progress | None:
    """The last progress line of a log (a resumed run logs several attempts: the latest counts)."""
    for line in reversed(log_text.splitlines()):
        progress = parse_progress(line)
        if progress is not None:
            return progress
    return None
