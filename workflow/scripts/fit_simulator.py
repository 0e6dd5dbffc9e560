"""Fit the simulator on the run table; write it and its held-out R² per scale and domain."""
from mixopt.backends.table import fit_simulator
from mixopt.core.logs import log_to
from mixopt.settings import Settings

with log_to(snakemake.log[0]):
    fit_simulator(Settings.from_sections(snakemake.params.settings), snakemake.output.simulator, snakemake.output.validation,
                  threads=snakemake.threads)
