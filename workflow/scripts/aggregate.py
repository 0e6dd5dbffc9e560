"""Gather trials' metrics.json (and the prior runs) into one observations table (one row per trial
and checkpoint)."""
from mixopt.backends import make_backend
from mixopt.core.logs import log_to
from mixopt.workflow.steps import aggregate

with log_to(snakemake.log[0]):
    aggregate(make_backend(snakemake.params.settings), list(snakemake.input.metrics), snakemake.output[0],
              prior_runs=snakemake.input.get("prior_runs"))
