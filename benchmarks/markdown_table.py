"""A benchmark's table as Markdown, with what produced it: the command, date, commit and machine.

The docs include these files (docs/benchmarks/*.md, through pymdownx.snippets), so every figure
there is one that a benchmark printed; rerunning the command rewrites the file.
"""

from __future__ import annotations

import datetime as dt
import platform
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from mixopt.core.machine import commit, cpu

ROOT = Path(__file__).resolve().parents[1]


def _as_typed(word: str) -> str:
    """``word`` as one would type it in the checkout: a path inside it relative, an absolute path
    outside it by its name only (the docs never show a machine's folders)."""
    path = Path(word)
    if not path.is_absolute():
        return word
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name


def command_line() -> str:
    """How this benchmark was started, as one would type it in the checkout."""
    return shlex.join(["python", _as_typed(str(Path(sys.argv[0]).resolve())), *map(_as_typed, sys.argv[1:])])


def provenance(command: str | None = None) -> str:
    """One Markdown line: the command, date, commit, CPU model and core count of this run."""
    date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"Measured with `{command or command_line()}` on {date}, commit `{commit(ROOT)}`, "
            f"on {cpu()}, Python {platform.python_version()}.")


def table(header: list[str], rows: list[list[object]]) -> str:
    """A Markdown table; ``|`` inside a cell is escaped."""
    def line(cells: list[object]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), "|" + "---|" * len(header), *(line(r) for r in rows)])


def write(path: str | Path, sections: list[tuple[str, list[str], list[list[object]]]],
          notes: Sequence[str] = ()) -> None:
    """Write ``sections`` (caption, header, rows), each a captioned table, then ``notes`` and the
    provenance line, to ``path`` (created with its folder)."""
    path = Path(path)
    parts = [f"<!-- Written by {command_line()}; rerun it rather than editing this file. -->"]
    for caption, header, rows in sections:
        parts += [f"**{caption}**" if caption else "", table(header, rows)]
    parts += [*notes, provenance()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(p for p in parts if p) + "\n", encoding="utf-8")
    print(f"table written to {path}")
