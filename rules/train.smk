# One proxy training run per proposed trial.


rule train_proxy:
    input:
        proposals="results/iter_{i}/proposals.csv",
        shards=shard_metas,
    output:
        metrics="results/iter_{i}/trial_{j}/metrics.json",
    params:
        settings=SETTINGS,
        watched=watched("scales", "training", "domains"),
    threads: SETTINGS.training.threads
    resources:
        # profiles/slurm turns these into `--gpus=1 --mem=...` (and `--gpus=<model>:1` with a
        # `gpu_model` set there); local runs ignore them. Memory follows the trial's own scale,
        # read from proposals.csv, which exists by now: train jobs are created after `propose`
        # (a checkpoint) has run. Runtime and its growth per retry are set in the profile.
        gpu=1,
        mem_mb=train_mem_mb,
    log:
        "results/iter_{i}/trial_{j}/train.log",
    conda:
        "../envs/mixopt.yaml"
    script:
        "../workflow/scripts/train_proxy.py"
