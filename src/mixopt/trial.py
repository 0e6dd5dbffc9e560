"""From a config and one row of proposals.csv to the exact training run."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

from mixopt.model import ModelShape
from mixopt.problem import Problem
from mixopt.proposals import read_proposal
from mixopt.train import TrainSpec, failed_metrics, run_trial, write_json_atomic

RESUME_FILE = "resume.pt"


def train_spec(config: Mapping, proposal: Mapping) -> TrainSpec:
    """``proposal``: ``{scale, steps, seed, mixture}`` as read by :func:`mixopt.proposals.read_proposal`."""
    scale = proposal["scale"]
    if scale not in config["scales"]:
        raise ValueError(f"proposal asks for scale {scale!r}, which is not in config scales {sorted(config['scales'])}")
    training = config["training"]
    return TrainSpec(
        mixture=dict(proposal["mixture"]),
        scale=scale,
        shape=ModelShape.from_dict(config["scales"][scale]),
        steps=int(proposal["steps"]),
        seed=int(proposal["seed"]),
        n_checkpoints=training["checkpoints"],
        eval_tokens=training["eval_tokens"],
        warmup_fraction=training["warmup_fraction"],
        min_lr_fraction=training["min_lr_fraction"],
        weight_decay=training["weight_decay"],
        grad_clip=training["grad_clip"],
        threads=training["threads"],
        device=training["device"],
    )


def run_proposed_trial(config: Mapping, proposals: str | Path, iteration: int, trial: int,
                       shard_dirs: Mapping[str, Path] | None, out_path: str | Path,
                       log: Callable[[str], None] = print, surrogate_path: str | Path | None = None) -> dict:
    """Run trial ``trial`` of ``proposals`` and write its metrics.json: train it, or with the
    ``table`` back end answer it from recorded runs (``surrogate_path``: the fitted simulator in
    surrogate mode).

    Never raises for a bad trial: a proposal that is not a valid run (for example a hand-edited
    row whose weights do not sum to one) or a run that fails is written with ``status: failed``
    and its error, so the loop goes on and the failure stays on record.
    """
    ids = {"iteration": int(iteration), "trial": int(trial)}
    problem = Problem.from_config(config)
    try:
        proposal = read_proposal(proposals, trial, problem)
        if config.get("backend", {}).get("name") == "table":
            return _table_trial(config, problem, proposal, ids, Path(out_path), surrogate_path, log)
        spec = train_spec(config, proposal)
    except ValueError as e:
        record = ids | failed_metrics(f"{type(e).__name__}: {e}")
        log(f"trial not run: {record['error']}")
        write_json_atomic(record, Path(out_path))
        return record
    # The resume checkpoint sits next to metrics.json; it is no declared output, so Snakemake
    # keeps it when a killed job's outputs are cleaned up, and the rerun resumes from it.
    return run_trial(spec, dict(shard_dirs), Path(out_path), extra=ids, log=log,
                     resume=Path(out_path).with_name(RESUME_FILE), resume_every=config["training"]["resume_every"])


def _table_trial(config: Mapping, problem: Problem, proposal: Mapping, ids: dict, out_path: Path,
                 surrogate_path: str | Path | None, log: Callable[[str], None]) -> dict:
    import numpy as np

    from mixopt.problem import Fidelity
    from mixopt.tables.backend import TableBackend

    backend = TableBackend.from_config(config, surrogate_path)
    mixture = np.array([proposal["mixture"][d] for d in problem.domains])
    record = ids | backend.run(mixture, Fidelity(proposal["scale"], proposal["steps"]), problem, proposal["seed"])
    log(f"{record['backend']}: {record['status']}" + (f" ({record['error']})" if record["error"] else ""))
    write_json_atomic(record, out_path)
    return record
