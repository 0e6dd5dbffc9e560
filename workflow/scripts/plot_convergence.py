"""Best objective so far against cumulative training FLOPs, as a CSV and a PNG."""
from mixopt.backends import make_backend
from mixopt.core.logs import log_to
from mixopt.settings import Settings
from mixopt.workflow.steps import convergence

with log_to(snakemake.log[0]):
    settings = Settings.from_sections(snakemake.params.settings)
    convergence(settings, make_backend(settings), snakemake.input.observations, snakemake.output.plot,
                snakemake.output.table)
