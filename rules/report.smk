# The figures of `snakemake --report report.html`: each a PNG of the loop, requested by `rule all`
# and annotated with report() (captions in report/, how to read each and what failure it shows).

# Seconds of CPU each (plot_predictions refits the model once per iteration): on a cluster they
# run on the submitting host, not as jobs.
localrules:
    plot_trajectories,
    plot_learning_curves,
    plot_predictions,
    plot_recommendation,
    plot_domain_losses,
    plot_transfer,
    plot_domain_weights,
    plot_domain_effects,


# every figure of the report besides results/summary/convergence.png (rules/bo.smk)
REPORT_FIGURES = [
    "results/summary/mixture_trajectories.png",
    "results/summary/learning_curves.png",
    "results/summary/predictions.png",
    "results/summary/recommendation.png",
    "results/summary/domain_losses.png",
    "results/summary/transfer.png",
    "results/summary/domain_effects.png",
] + (["results/summary/domain_weights.png"] if WEIGHTS_DURING_RUN else [])


rule plot_domain_effects:
    input:
        best="results/best_mixture.yaml",
    output:
        report(
            "results/summary/domain_effects.png",
            caption="../report/domain_effects.rst",
            category="Recommendation",
            labels={"figure": "domain effects"},
        ),
    log:
        "results/logs/plot_domain_effects.log",
    conda:
        "../envs/mixopt.yaml"
    script:
        "../workflow/scripts/plot_domain_effects.py"


rule plot_domain_weights:
    input:
        unpack(all_metrics),
    output:
        report(
            "results/summary/domain_weights.png",
            caption="../report/domain_weights.rst",
            category="Search",
            labels={"figure": "domain weights during training"},
        ),
    log:
        "results/logs/plot_domain_weights.log",
    conda:
        "../envs/mixopt.yaml"
    script:
        "../workflow/scripts/plot_domain_weights.py"


rule plot_trajectories:
    input:
        proposals=all_proposals,
        best="results/best_mixture.yaml",
    output:
        report(
            "results/summary/mixture_trajectories.png",
            caption="../report/mixture_trajectories.rst",
            category="Search",
            labels={"figure": "mixture trajectories"},
        ),
    params:
        settings=sections(*BACKEND_SECTIONS, "strategy"),
    log:
        "results/logs/plot_trajectories.log",
    conda:
        "../envs/mixopt.yaml"
    script:
        "../workflow/scripts/plot_trajectories.py"


rule plot_learning_curves:
    input:
        observations="results/observations.csv",
    output:
        report(
            "results/summary/learning_curves.png",
            caption="../report/learning_curves.rst",
            category="Search",
            labels={"figure": "learning curves"},
        ),
    params:
        settings=sections(*BACKEND_SECTIONS, "strategy"),
    log:
        "results/logs/plot_learning_curves.log",
    conda:
        "../envs/mixopt.yaml"
    script:
        "../workflow/scripts/plot_learning_curves.py"


rule plot_predictions:
    input:
        observations="results/observations.csv",
    output:
        table=report(
            "results/summary/predictions.csv",
            caption="../report/predictions_table.rst",
            category="Model",
            labels={"figure": "held-out predictions (table)"},
        ),
        plot=report(
            "results/summary/predictions.png",
            caption="../report/predictions.rst",
            category="Model",
            labels={"figure": "held-out predictions"},
        ),
    params:
        settings=sections(*BACKEND_SECTIONS, "strategy", "seed"),
    log:
        "results/logs/plot_predictions.log",
    conda:
        "../envs/mixopt.yaml"
    script:
        "../workflow/scripts/plot_predictions.py"


rule plot_recommendation:
    input:
        best="results/best_mixture.yaml",
    output:
        report(
            "results/summary/recommendation.png",
            caption="../report/recommendation.rst",
            category="Recommendation",
            labels={"figure": "recommendation vs reference"},
        ),
    log:
        "results/logs/plot_recommendation.log",
    conda:
        "../envs/mixopt.yaml"
    script:
        "../workflow/scripts/plot_recommendation.py"


rule plot_domain_losses:
    input:
        observations="results/observations.csv",
        best="results/best_mixture.yaml",
    output:
        report(
            "results/summary/domain_losses.png",
            caption="../report/domain_losses.rst",
            category="Recommendation",
            labels={"figure": "trials vs reference, per domain"},
        ),
    params:
        settings=sections(*BACKEND_SECTIONS),
    log:
        "results/logs/plot_domain_losses.log",
    conda:
        "../envs/mixopt.yaml"
    script:
        "../workflow/scripts/plot_domain_losses.py"


rule plot_transfer:
    input:
        observations="results/observations.csv",
        best="results/best_mixture.yaml",
    output:
        report(
            "results/summary/transfer.png",
            caption="../report/transfer.rst",
            category="Model",
            labels={"figure": "proxy vs target ranks"},
        ),
    params:
        settings=sections(*BACKEND_SECTIONS),
    log:
        "results/logs/plot_transfer.log",
    conda:
        "../envs/mixopt.yaml"
    script:
        "../workflow/scripts/plot_transfer.py"
