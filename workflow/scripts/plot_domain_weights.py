"""The weights used at each step of the trials whose weights changed while they trained, as a PNG."""
from mixopt.core.logs import log_to
from mixopt.workflow.steps import domain_weights_figure

with log_to(snakemake.log[0]):
    domain_weights_figure(list(snakemake.input.metrics), snakemake.output[0])
