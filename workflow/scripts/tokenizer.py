"""Train a byte-level BPE on the domains' training documents, or copy the configured local one."""
from pathlib import Path

from mixopt.core.logs import log_to
from mixopt.data.tokenizer import prepare_tokenizer

with log_to(snakemake.log[0]):
    text_fields = snakemake.params.text_fields
    prepare_tokenizer(snakemake.params.tokenizer, {d: [Path(p) for p in snakemake.input[d]] for d in text_fields},
                      text_fields, Path(snakemake.output[0]), snakemake.params.data.validation_fraction,
                      snakemake.params.seed, snakemake.params.max_bytes)
