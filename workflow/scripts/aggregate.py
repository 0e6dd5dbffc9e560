"""Gather trials' metrics.json into one observations table (one row per trial and checkpoint)."""
from mixopt.atomic import write_text
from mixopt.logs import log_to
from mixopt.observations import build_table, read_metrics
from mixopt.problem import Problem

with log_to(snakemake.log[0]):
    table = build_table([read_metrics(p) for p in snakemake.input], Problem.from_config(snakemake.config))
    write_text(snakemake.output[0], table.to_csv(index=False))
    print(f"{len(snakemake.input)} trials, {len(table)} rows, {int((table['status'] != 'ok').sum())} failed rows")
