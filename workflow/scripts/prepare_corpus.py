"""Extract one built-in domain from the fetched sources into a JSONL corpus and its manifest."""
from pathlib import Path

from mixopt.core.logs import log_to
from mixopt.corpora.builtin import prepare_builtin

with log_to(snakemake.log[0]):
    prepare_builtin(snakemake.wildcards.builtin, sources_dir=Path(snakemake.params.sources),
                    out_file=Path(snakemake.output.documents), max_bytes=snakemake.params.max_bytes,
                    manifest=Path(snakemake.output.manifest))
