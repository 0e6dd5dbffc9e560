"""Run the strategy on the observations so far and write the next iteration's proposals."""
from mixopt.backends import make_backend
from mixopt.core.logs import log_to
from mixopt.settings import Settings
from mixopt.workflow.model_steps import propose

with log_to(snakemake.log[0]):
    settings = Settings.from_sections(snakemake.params.settings)
    metas = {d: snakemake.input[f"meta_{d}"] for d in settings.domains if f"meta_{d}" in snakemake.input.keys()}
    propose(settings, make_backend(settings), snakemake.input.observations, int(snakemake.wildcards.i),
            snakemake.output.proposals, snakemake.output.diagnostics, metas or None)
