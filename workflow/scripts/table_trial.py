"""Answer one proposed trial from the run table and write its metrics.json; failures are recorded."""
from mixopt.logs import log_to
from mixopt.trial import run_proposed_trial

with log_to(snakemake.log[0]):
    run_proposed_trial(
        snakemake.config,
        snakemake.input.proposals,
        iteration=int(snakemake.wildcards.i),
        trial=int(snakemake.wildcards.j),
        shard_dirs=None,
        out_path=snakemake.output.metrics,
        surrogate_path=snakemake.input.get("simulator"),
    )
