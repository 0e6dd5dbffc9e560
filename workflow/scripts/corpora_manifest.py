"""One manifest of every built-in corpus: sources, sizes and licences."""
import json
from pathlib import Path

from mixopt.core.logs import log_to
from mixopt.corpora.builtin import write_manifest

with log_to(snakemake.log[0]):
    entries = [json.loads(Path(p).read_text()) for p in snakemake.input]
    write_manifest(entries, Path(snakemake.output[0]))
