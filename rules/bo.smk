# Observations -> strategy -> proposals of the next iteration; the final recommendation.

# Seconds of CPU each: on a cluster they run on the submitting host, not as jobs.
localrules:
    aggregate,
    propose,
    aggregate_all,
    recommend,
    plot_convergence,


rule aggregate:
    input:
        observations_inputs,
    output:
        "results/iter_{i}/observations.csv",
    log:
        "results/logs/aggregate/iter_{i}.log",
    conda:
        "../envs/mixopt.yaml"
    script:
        "../workflow/scripts/aggregate.py"


checkpoint propose:
    input:
        unpack(propose_inputs),
    output:
        proposals="results/iter_{i}/proposals.csv",
        diagnostics="results/iter_{i}/diagnostics.json",
    params:
        strategy=config["strategy"],
        budget=config["budget"],
        seed=config["seed"],
    log:
        "results/logs/propose/iter_{i}.log",
    conda:
        "../envs/mixopt.yaml"
    script:
        "../workflow/scripts/propose.py"


rule aggregate_all:
    input:
        all_metrics,
    output:
        "results/observations.csv",
    log:
        "results/logs/aggregate/all.log",
    conda:
        "../envs/mixopt.yaml"
    script:
        "../workflow/scripts/aggregate.py"


rule recommend:
    input:
        observations="results/observations.csv",
    output:
        "results/best_mixture.yaml",
    params:
        strategy=config["strategy"],
        seed=config["seed"],
    log:
        "results/logs/recommend.log",
    conda:
        "../envs/mixopt.yaml"
    script:
        "../workflow/scripts/recommend.py"


rule plot_convergence:
    input:
        observations="results/observations.csv",
    output:
        plot="results/summary/convergence.png",
        table="results/summary/convergence.csv",
    log:
        "results/logs/plot_convergence.log",
    conda:
        "../envs/mixopt.yaml"
    script:
        "../workflow/scripts/plot_convergence.py"
