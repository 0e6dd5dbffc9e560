# One proxy training run per proposed trial.


rule train_proxy:
    input:
        proposals="results/iter_{i}/proposals.csv",
        shards=shard_metas,
    output:
        metrics="results/iter_{i}/trial_{j}/metrics.json",
    params:
        settings=sections("scales", "training", "domains", "tokenizer", "target", "objective", "constraints"),
    # a trial at a scale of `gpus: k` is k processes (torchrun) in this one job, on one node
    threads: train_threads
    resources:
        # profiles/slurm turns these into `--gpus=k --mem=... --cpus-per-task=...` (and
        # `--gpus=<model>:k` with a `gpu_model` set there); local runs ignore gpu. GPUs, memory
        # and CPUs follow the trial's own scale, read from proposals.csv, which exists by now:
        # train jobs are created after `propose` (a checkpoint) has run. Runtime and its growth
        # per retry are set in the profile.
        gpu=train_gpus,
        mem_mb=train_mem_mb,
    log:
        "results/iter_{i}/trial_{j}/train.log",
    conda:
        "../envs/mixopt.yaml"
    script:
        "../workflow/scripts/train_proxy.py"


# `snakemake --configfile configs/compare.yaml --cores 2 compare`: every strategy of
# bench.strategies trains real proxies under bench.budget_flops; the table goes into the docs.
rule compare:
    input:
        shards=shard_metas,
    output:
        table="results/compare/summary.csv",
        markdown="docs/head-to-head.md",
    params:
        settings=sections("backend", "bench", "budget", "seed", "scales", "training", "domains", "tokenizer",
                          "target", "objective", "reference", "constraints"),
    threads: SETTINGS.bench.jobs
    log:
        "results/logs/compare.log",
    conda:
        "../envs/mixopt.yaml"
    script:
        "../workflow/scripts/compare.py"
