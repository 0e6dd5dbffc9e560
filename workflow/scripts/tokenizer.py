"""Train a byte-level BPE on the domains' training documents, or copy the configured local one."""
from pathlib import Path

from mixopt.data.tokenizer import load_tokenizer, train_tokenizer
from mixopt.logs import log_to

with log_to(snakemake.log[0]):
    settings = snakemake.params.tokenizer
    out_dir = Path(snakemake.output[0])
    if "path" in settings:
        tokenizer = load_tokenizer(settings["path"])
        tokenizer.save_pretrained(out_dir)
        print(f"copied tokenizer from {settings['path']} (vocab {len(tokenizer)})")
    else:
        tokenizer = train_tokenizer(
            {d: [Path(p) for p in snakemake.input[d]] for d in snakemake.params.text_fields},
            vocab_size=settings["vocab_size"],
            out_dir=out_dir,
            bytes_per_domain=settings["train_bytes_per_domain"],
            validation_fraction=snakemake.params.validation_fraction,
            seed=snakemake.params.seed,
            text_field=dict(snakemake.params.text_fields),
        )
        print(f"trained tokenizer, vocab {len(tokenizer)}")
