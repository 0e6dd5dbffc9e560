"""Which domains matter at the recommendation (best_mixture.yaml's domain_effects), as a PNG."""
from mixopt.core.logs import log_to
from mixopt.workflow.steps import domain_effects_figure

with log_to(snakemake.log[0]):
    domain_effects_figure(snakemake.input.best, snakemake.output[0])
