"""The recommended mixture and its per-domain differences from the reference, as a PNG."""
from mixopt.core.logs import log_to
from mixopt.workflow.steps import recommendation_figure

with log_to(snakemake.log[0]):
    recommendation_figure(snakemake.input.best, snakemake.output[0])
