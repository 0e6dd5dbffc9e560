"""Score strategies x seeds on the table back end (the `mixopt bench` command as a rule)."""
from pathlib import Path

from mixopt.bench.suite import run_bench
from mixopt.core.logs import log_to
from mixopt.settings import Settings

with log_to(snakemake.log[0]):
    run_bench(Settings.from_sections(snakemake.params.settings), Path(snakemake.output.summary).parent,
              surrogate_path=snakemake.input.get("simulator"))
