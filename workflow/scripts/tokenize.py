"""Split one domain into train/validation documents and write its token shards."""
import json
from pathlib import Path

from mixopt.core.logs import log_to
from mixopt.data.shards import tokenize_domain

with log_to(snakemake.log[0]):
    meta = tokenize_domain(
        snakemake.wildcards.domain,
        [Path(p) for p in snakemake.input.documents],
        tokenizer_dir=Path(snakemake.input.tokenizer),
        out_dir=Path(snakemake.output.meta).parent,
        validation_fraction=snakemake.params.validation_fraction,
        seed=snakemake.params.seed,
        threads=snakemake.threads,
        text_field=snakemake.params.text_field,
        max_bytes=snakemake.params.max_bytes,
        errors=snakemake.params.errors,
        max_replaced_fraction=snakemake.params.max_replaced_fraction,
    )
    print(json.dumps(meta, indent=2))
