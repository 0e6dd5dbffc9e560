# mixopt: find the data mixture with the lowest loss at a target scale.
# Iteration 0 is a space-filling design; each later iteration trains the proposals of a strategy
# fitted on every earlier trial. `snakemake --cores 2` runs the whole loop.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/bo.smk"


rule all:
    input:
        "results/best_mixture.yaml",
        "results/summary/convergence.png",
        # sources, sizes and licences of the built-in corpora used
        ["resources/corpora/manifest.json"] if BUILTINS else [],
    default_target: True
