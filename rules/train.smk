# One proxy training run per proposed trial.


rule train_proxy:
    input:
        proposals="results/iter_{i}/proposals.csv",
        shards=shard_metas,
    output:
        metrics="results/iter_{i}/trial_{j}/metrics.json",
    params:
        scales=config["scales"],
        training=config["training"],
        domains=DOMAINS,
    threads: config["training"]["threads"]
    resources:
        # a cluster profile places training jobs on a GPU; local runs ignore undeclared resources
        gpu=1,
    log:
        "results/iter_{i}/trial_{j}/train.log",
    conda:
        "../envs/mixopt.yaml"
    script:
        "../workflow/scripts/train_proxy.py"
