"""Gather trials' metrics.json (and the prior runs) into one observations table (one row per trial
and checkpoint); stop the loop when its trials fail systematically."""
from mixopt.backends import make_backend
from mixopt.core.logs import log_to
from mixopt.settings import Settings
from mixopt.workflow.steps import aggregate

with log_to(snakemake.log[0]):
    settings = Settings.from_sections(snakemake.params.settings)
    aggregate(make_backend(settings), list(snakemake.input.metrics), snakemake.output[0],
              prior_runs=snakemake.input.get("prior_runs"), max_failures=settings.budget.failure_limit,
              summary=snakemake.params.summary)
