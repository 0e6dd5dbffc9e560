"""Rank at each proxy scale against rank at the target of the mixtures run at both, as a PNG."""
from mixopt.backends import make_backend
from mixopt.core.logs import log_to
from mixopt.settings import Settings
from mixopt.workflow.steps import transfer_figure

with log_to(snakemake.log[0]):
    settings = Settings.from_sections(snakemake.params.settings)
    transfer_figure(settings, make_backend(settings), snakemake.input.observations, snakemake.input.best,
                    snakemake.output[0])
