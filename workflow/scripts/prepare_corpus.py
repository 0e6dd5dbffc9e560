"""Extract one built-in domain from the fetched sources into a JSONL corpus and its manifest."""
import json
from pathlib import Path

from mixopt.corpora.builtin import prepare_builtin
from mixopt.atomic import write_text
from mixopt.logs import log_to

with log_to(snakemake.log[0]):
    entry = prepare_builtin(
        snakemake.wildcards.builtin,
        sources_dir=Path(snakemake.params.sources),
        out_file=Path(snakemake.output.documents),
        max_bytes=snakemake.params.max_bytes,
    )
    print(json.dumps(entry, indent=2))
    write_text(snakemake.output.manifest, json.dumps(entry, indent=2) + "\n")
