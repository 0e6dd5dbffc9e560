"""Train one proposed proxy and write its metrics.json; a failing trial is recorded, not raised."""
import os

# Idle OpenMP threads must not spin while a neighbouring job holds the other core.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pathlib import Path

from mixopt.backends import TrainingBackend
from mixopt.core.logs import log_to
from mixopt.workflow.trial import run_proposed_trial

with log_to(snakemake.log[0]):
    shard_dirs = {Path(m).parent.name: Path(m).parent for m in snakemake.input.shards}
    metrics = run_proposed_trial(TrainingBackend(snakemake.params.settings, shard_dirs), snakemake.input.proposals,
                                 iteration=int(snakemake.wildcards.i), trial=int(snakemake.wildcards.j),
                                 out_path=snakemake.output.metrics)
    print(f"status: {metrics['status']}" + (f" ({metrics['error']})" if metrics.get("error") else ""))
