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
        unpack(observations_inputs),
    output:
        "results/iter_{i}/observations.csv",
    params:
        settings=sections(*BACKEND_SECTIONS, "budget"),
        summary=False,
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
        settings=sections(*BACKEND_SECTIONS, "strategy", "budget", "seed", "constraints", "domains", *REFERENCE_SHAPES_SEARCH),
    log:
        "results/logs/propose/iter_{i}.log",
    conda:
        "../envs/mixopt.yaml"
    script:
        "../workflow/scripts/propose.py"


rule aggregate_all:
    input:
        unpack(all_metrics),
    output:
        "results/observations.csv",
    params:
        settings=sections(*BACKEND_SECTIONS, "budget"),
        summary=True,  # the failed trials of the whole loop, on the console
    log:
        "results/logs/aggregate/all.log",
    conda:
        "../envs/mixopt.yaml"
    script:
        "../workflow/scripts/aggregate.py"


rule recommend:
    input:
        unpack(recommend_inputs),
        observations="results/observations.csv",
    output:
        report(
            "results/best_mixture.yaml",
            caption="../report/best_mixture.rst",
            category="Recommendation",
            labels={"figure": "best_mixture.yaml"},
        ),
    params:
        settings=sections(*BACKEND_SECTIONS, "strategy", "seed", "reference", "constraints", "domains"),
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
        plot=report(
            "results/summary/convergence.png",
            caption="../report/convergence.rst",
            category="Search",
            labels={"figure": "convergence"},
        ),
        table="results/summary/convergence.csv",
    params:
        settings=sections(*BACKEND_SECTIONS, "strategy"),
    log:
        "results/logs/plot_convergence.log",
    conda:
        "../envs/mixopt.yaml"
    script:
        "../workflow/scripts/plot_convergence.py"
