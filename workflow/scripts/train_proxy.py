"""Train one proposed proxy and write its metrics.json; a failing trial is recorded, not raised."""
import os

# Idle OpenMP threads must not spin while a neighbouring job holds the other core.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pathlib import Path

from mixopt.backends import TrainingBackend
from mixopt.backends.constraints import constraints_of
from mixopt.core.logs import log_to
from mixopt.settings import Settings
from mixopt.workflow.trial import run_proposed_trial

# keep_attempts: a rerun after a kill or a preemption appends to train.log under an "attempt N" header
with log_to(snakemake.log[0], keep_attempts=True):
    settings = Settings.from_sections(snakemake.params.settings)
    shard_dirs = {Path(m).parent.name: Path(m).parent for m in snakemake.input.shards}
    backend = TrainingBackend(settings, shard_dirs)
    metas = {name: folder / "meta.json" for name, folder in shard_dirs.items()}
    metrics = run_proposed_trial(backend, snakemake.input.proposals, iteration=int(snakemake.wildcards.i),
                                 trial=int(snakemake.wildcards.j), out_path=snakemake.output.metrics,
                                 constraints=constraints_of(settings, backend.problem, metas))
    print(f"status: {metrics['status']}" + (f" ({metrics['error']})" if metrics.get("error") else ""))

