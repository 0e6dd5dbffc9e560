"""The one interface every back end implements: run a trial, and say which mixtures may run.

A back end is where trial results come from: real proxy training
(:class:`~mixopt.backends.training.TrainingBackend`) or recorded runs
(:class:`~mixopt.backends.table.TableBackend`). The workflow, the benchmark and the strategies
talk to this protocol only; :func:`mixopt.backends.make_backend` is the one place that picks a
back end by its config name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, ClassVar, Protocol

import numpy as np

from mixopt.core.problem import Fidelity, Problem
from mixopt.core.trial import Trial


class Backend(Protocol):
    """Attributes:
        name: the back end's config name (``backend.name``).
        problem: the domains, objective, scales and their costs this back end answers for.
    """

    name: ClassVar[str]
    problem: Problem

    def mixtures_at(self, fidelity: Fidelity) -> np.ndarray | None:
        """`m x d` mixtures that can run at ``fidelity``; ``None``: any mixture on the simplex."""
        ...

    def run(self, trial: Trial, out_path: str | Path | None = None, log: Callable[[str], None] = print) -> dict:
        """Run ``trial`` and return its metrics record (the ``metrics.json`` schema), written to
        ``out_path`` atomically when given. Never raises for a trial that fails: the record says
        ``status: failed`` with the error, and keeps what completed."""
        ...

    def preflight(self, base_dir: str | Path = ".", deep: bool = False) -> None:
        """Check, before any job, that what this back end reads exists; ConfigError naming the key.
        ``deep``: read every input file to its end, not a sample (``mixopt check --deep``)."""
        ...
