"""From one row of proposals.csv to the trial's metrics.json, through any back end."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from mixopt.backends import Backend
from mixopt.core.atomic import write_json
from mixopt.core.problem import Fidelity
from mixopt.core.trial import Trial
from mixopt.workflow.proposals import read_proposal


def run_proposed_trial(backend: Backend, proposals: str | Path, iteration: int, trial: int,
                       out_path: str | Path, log: Callable[[str], None] = print) -> dict:
    """Run trial ``trial`` of ``proposals`` on ``backend`` and write its metrics.json.

    Never raises for a bad trial: a proposal that is not a valid run (for example a hand-edited
    row whose weights do not sum to one) or a run that fails is written with ``status: failed``
    and its error, so the loop goes on and the failure stays on record.
    """
    from mixopt.training.metrics import failed_metrics  # the record schema; torch only on this error path

    ids = {"iteration": int(iteration), "trial": int(trial)}
    problem = backend.problem
    try:
        proposal = read_proposal(proposals, trial, problem)
    except ValueError as e:
        record = ids | failed_metrics(f"{type(e).__name__}: {e}")
        log(f"trial not run: {record['error']}")
        write_json(record, Path(out_path))
        return record
    mixture = np.array([proposal["mixture"][d] for d in problem.domains])
    return backend.run(Trial(mixture, Fidelity(proposal["scale"], proposal["steps"]), proposal["seed"],
                             iteration=int(iteration), index=int(trial)), out_path, log=log)
