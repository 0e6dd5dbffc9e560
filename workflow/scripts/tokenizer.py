"""Train a byte-level BPE on the domains' training documents, or copy the configured local one."""
from pathlib import Path

from mixopt.core.logs import log_to
from mixopt.data.tokenizer import prepare_tokenizer
from mixopt.settings import Settings

with log_to(snakemake.log[0]):
    settings = Settings.from_sections(snakemake.params.settings)
    text_fields = snakemake.params.text_fields
    prepare_tokenizer(settings.tokenizer, {d: [Path(p) for p in snakemake.input[d]] for d in text_fields},
                      text_fields, Path(snakemake.output[0]), snakemake.params.validation_fraction,
                      settings.seed, snakemake.params.max_bytes)
