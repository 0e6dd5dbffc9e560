"""Each domain's proposed weight across iterations, and the recommended weight, as a PNG."""
from mixopt.backends import make_backend
from mixopt.core.logs import log_to
from mixopt.settings import Settings
from mixopt.workflow.steps import mixture_trajectories

with log_to(snakemake.log[0]):
    settings = Settings.from_sections(snakemake.params.settings)
    mixture_trajectories(settings, make_backend(settings), list(snakemake.input.proposals),
                         snakemake.input.best, snakemake.output[0])
