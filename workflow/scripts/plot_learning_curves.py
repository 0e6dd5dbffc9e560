"""Objective against step for every trial, one panel per scale, as a PNG."""
from mixopt.backends import make_backend
from mixopt.core.logs import log_to
from mixopt.settings import Settings
from mixopt.workflow.steps import learning_curves

with log_to(snakemake.log[0]):
    settings = Settings.from_sections(snakemake.params.settings)
    learning_curves(settings, make_backend(settings), snakemake.input.observations, snakemake.output[0])
