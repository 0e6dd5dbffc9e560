"""Each trial at the target minus the reference mixture, per domain, as a PNG."""
from mixopt.backends import make_backend
from mixopt.core.logs import log_to
from mixopt.settings import Settings
from mixopt.workflow.steps import domain_losses

with log_to(snakemake.log[0]):
    settings = Settings.from_sections(snakemake.params.settings)
    domain_losses(settings, make_backend(settings), snakemake.input.observations, snakemake.input.best,
                  snakemake.output[0])
