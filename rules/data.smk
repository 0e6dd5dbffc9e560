# Text domains -> tokenizer -> token shards per domain.

# Copying a few MB of built-in text runs on the submitting host; the tokenizer and the
# tokenization of the user's corpora run as CPU jobs on a cluster.
localrules:
    prepare_corpus,
    corpora_manifest,


rule prepare_corpus:
    output:
        documents="resources/corpora/{builtin}.jsonl",
        manifest="resources/corpora/{builtin}.manifest.json",
    params:
        sources=SETTINGS.corpora.sources,
        max_bytes=SETTINGS.corpora.max_bytes,
    log:
        "results/logs/prepare_corpus/{builtin}.log",
    conda:
        "../envs/mixopt.yaml"
    script:
        "../workflow/scripts/prepare_corpus.py"


rule corpora_manifest:
    input:
        expand("resources/corpora/{builtin}.manifest.json", builtin=BUILTINS),
    output:
        "resources/corpora/manifest.json",
    log:
        "results/logs/corpora_manifest.log",
    conda:
        "../envs/mixopt.yaml"
    script:
        "../workflow/scripts/corpora_manifest.py"


rule tokenizer:
    input:
        unpack(all_domain_files),
    output:
        directory("results/tokenizer"),
    params:
        settings=sections("tokenizer", "seed"),
        validation_fraction=SETTINGS.data.validation_fraction,
        text_fields={d: s.text_field for d, s in SETTINGS.domains.items()},
        max_bytes={d: s.max_bytes for d, s in SETTINGS.domains.items()},
    log:
        "results/logs/tokenizer.log",
    conda:
        "../envs/mixopt.yaml"
    script:
        "../workflow/scripts/tokenizer.py"


rule tokenize:
    input:
        documents=domain_files,
        tokenizer="results/tokenizer",
    output:
        train="results/data/{domain}/train.bin",
        val="results/data/{domain}/val.bin",
        meta="results/data/{domain}/meta.json",
    params:
        validation_fraction=SETTINGS.data.validation_fraction,
        seed=SETTINGS.seed,
        text_field=lambda wildcards: SETTINGS.domains[wildcards.domain].text_field,
        max_bytes=lambda wildcards: SETTINGS.domains[wildcards.domain].max_bytes,
        errors=lambda wildcards: SETTINGS.domains[wildcards.domain].errors,
        max_replaced_fraction=lambda wildcards: SETTINGS.domains[wildcards.domain].max_replaced_fraction,
    threads: SETTINGS.data.num_proc
    log:
        "results/logs/tokenize/{domain}.log",
    conda:
        "../envs/mixopt.yaml"
    script:
        "../workflow/scripts/tokenize.py"
