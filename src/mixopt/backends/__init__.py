"""Where trial results come from, behind one protocol (:class:`~mixopt.backends.base.Backend`).

To add a back end (say, a remote training service): write ``backends/<name>.py`` with a class
that has a ``name``, ``problem``, ``mixtures_at``, ``run`` and ``preflight`` and a
``from_settings`` classmethod (copy ``table.py`` for the shape), add the class to :data:`BACKENDS`
and its name to the schema's ``backend.name`` enum, and give it a ``rules/<name>.smk`` with the rule that writes
``results/iter_{i}/trial_{j}/metrics.json``.
"""

from __future__ import annotations

from pathlib import Path

from mixopt.backends.base import Backend
from mixopt.backends.table import TableBackend
from mixopt.backends.training import TrainingBackend
from mixopt.settings import Settings

#: config name (``backend.name``; the class's ``name``) -> back end class. The schema's
#: ``backend.name`` enum lists the same names (tests/test_registry.py checks both ways).
BACKENDS: dict[str, type[Backend]] = {cls.name: cls for cls in (TrainingBackend, TableBackend)}


def make_backend(settings: Settings, base_dir: str | Path = ".", **inputs) -> Backend:
    """The back end ``settings.backend.name`` names, built from the settings.

    ``inputs``: what a back end reads from the workflow (``shard_dirs`` for training,
    ``surrogate_path`` for a table in surrogate mode).
    """
    return BACKENDS[settings.backend.name].from_settings(settings, base_dir, **inputs)


__all__ = ["BACKENDS", "Backend", "TableBackend", "TrainingBackend", "make_backend"]
