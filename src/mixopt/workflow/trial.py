"""From one row of proposals.csv to the trial's metrics.json, through any back end."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from mixopt.backends import Backend
from mixopt.core.atomic import write_json
from mixopt.core.constraints import Constraints
from mixopt.core.problem import Fidelity
from mixopt.core.trial import Trial
from mixopt.workflow.failures import console, failure_line
from mixopt.workflow.proposals import read_proposal


def run_proposed_trial(backend: Backend, proposals: str | Path, iteration: int, trial: int,
                       out_path: str | Path, log: Callable[[str], None] = print,
                       constraints: Constraints | None = None) -> dict:
    """Run trial ``trial`` of ``proposals`` on ``backend`` and write its metrics.json.

    Never raises for a bad trial: a proposal that is not a valid run (for example a hand-edited
    row whose weights do not sum to one, or that breaks ``constraints`` at its own fidelity) or a
    run that fails is written with ``status: failed`` and its error, so the loop goes on and the
    failure stays on record; it also prints one line on the console
    (:func:`~mixopt.workflow.failures.failure_line`).
    """
    from mixopt.training.metrics import failed_metrics  # the record schema; torch only on this error path

    ids = {"iteration": int(iteration), "trial": int(trial)}
    problem = backend.problem
    try:
        proposal = read_proposal(proposals, trial, problem)
    except ValueError as e:
        return _not_run(ids | failed_metrics(f"{type(e).__name__}: {e}"), out_path, log)
    mixture = np.array([proposal["mixture"][d] for d in problem.domains])
    fidelity = Fidelity(proposal["scale"], proposal["steps"])
    broken = constraints.check(mixture, fidelity) if constraints is not None else []
    if broken:  # a hand-edited row: on record as failed, with what it breaks
        error = f"ConstraintViolation: at {fidelity.scale}, {fidelity.steps} steps: {'; '.join(broken)}"
        return _not_run(ids | failed_metrics(error) | {key: proposal[key] for key in ("mixture", "scale", "steps", "seed")},
                        out_path, log)
    return _on_console(backend.run(Trial(mixture, fidelity, proposal["seed"], iteration=int(iteration),
                                         index=int(trial), run=proposal["run"]), out_path, log=log), out_path)


def _not_run(record: dict, out_path: str | Path, log: Callable[[str], None]) -> dict:
    log(f"trial not run: {record['error']}")
    write_json(record, Path(out_path))
    return _on_console(record, out_path)


def _on_console(record: dict, out_path: str | Path) -> dict:
    """A failed trial says so on the console as it happens (its log says more)."""
    if record.get("status") != "ok":
        console(failure_line(record, out_path))
    return record
