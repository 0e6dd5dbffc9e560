# The table back end: trials answered from recorded runs; the benchmark of strategies x seeds.

# A table look-up per trial runs on the submitting host; fitting the simulator and the benchmark
# run as CPU jobs on a cluster.
localrules:
    table_trial,


if SURROGATE:

    rule fit_simulator:
        output:
            simulator="results/simulator/surrogate.pt",
            validation="results/simulator/validation.csv",
        params:
            settings=sections("backend"),
        log:
            "results/logs/fit_simulator.log",
        conda:
            "../envs/mixopt.yaml"
        script:
            "../workflow/scripts/fit_simulator.py"


rule table_trial:
    input:
        unpack(simulator_inputs),
        proposals="results/iter_{i}/proposals.csv",
    output:
        metrics="results/iter_{i}/trial_{j}/metrics.json",
    params:
        settings=sections("backend", "target", "objective", "constraints", "domains"),
    log:
        "results/iter_{i}/trial_{j}/trial.log",
    conda:
        "../envs/mixopt.yaml"
    script:
        "../workflow/scripts/table_trial.py"


rule bench:
    input:
        unpack(simulator_inputs),
    output:
        summary="results/bench/summary.csv",
        seeds="results/bench/seeds.csv",
        curves="results/bench/curves.csv",
        plot="results/bench/curves.png",
        meta="results/bench/bench.json",
    params:
        settings=sections(*BACKEND_SECTIONS, "bench", "budget", "constraints", "domains", "prior_runs", "reference"),
    threads: SETTINGS.bench.jobs
    log:
        "results/logs/bench.log",
    conda:
        "../envs/mixopt.yaml"
    script:
        "../workflow/scripts/bench.py"
