"""The head-to-head of bench.strategies on the train back end, under one compute budget."""
from pathlib import Path

from mixopt.bench.compare import compare_strategies, write_comparison
from mixopt.core.logs import log_to
from mixopt.settings import Settings

with log_to(snakemake.log[0]):
    settings = Settings.from_sections(snakemake.params.settings)
    shard_dirs = {Path(m).parent.name: Path(m).parent for m in snakemake.input.shards}
    table = compare_strategies(settings, shard_dirs, Path(snakemake.output.table).parent / "runs", snakemake.threads)
    write_comparison(table, settings, snakemake.output.table, snakemake.output.markdown,
                     "snakemake --configfile configs/compare.yaml --cores 2 compare")
