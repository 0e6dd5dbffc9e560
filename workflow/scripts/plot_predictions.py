"""Held-out predictions (each trial predicted from the iterations before it) as a CSV and a PNG."""
from mixopt.backends import make_backend
from mixopt.core.logs import log_to
from mixopt.settings import Settings
from mixopt.workflow.model_steps import predictions

with log_to(snakemake.log[0]):
    settings = Settings.from_sections(snakemake.params.settings)
    predictions(settings, make_backend(settings), snakemake.input.observations, snakemake.output.table,
                snakemake.output.plot)
