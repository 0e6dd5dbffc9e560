# mixopt: find the data mixture with the lowest loss at a target scale.
# Iteration 0 is a space-filling design; each later iteration trains the proposals of a strategy
# fitted on every earlier trial. `snakemake --cores 2` runs the whole loop. With the `table` back
# end (configs/regmix.yaml) trials are answered from recorded runs, and `snakemake bench` scores
# strategies x seeds on them.
from snakemake.utils import min_version

from mixopt.settings import read_yaml

min_version("9.0")


# `--configfile other.yaml` replaces config.yaml instead of merging into it: a table-back-end
# config must not inherit the default run's domains and token budget.
if not workflow.overwrite_configfiles:
    # Snakemake's own parse error names neither the line nor the column; mixopt's does. (A file
    # given with --configfile is parsed by Snakemake before this runs: `mixopt check FILE` names them.)
    read_yaml("config.yaml")

    configfile: "config.yaml"


include: "rules/common.smk"


for rules in BACKEND_RULES:

    include: f"rules/{rules}"


include: "rules/bo.smk"
include: "rules/report.smk"


# `snakemake --report report.html` after a run: the figures below, captioned, in one HTML file.
report: "report/workflow.rst"


rule all:
    input:
        "results/best_mixture.yaml",
        "results/summary/convergence.png",
        # the figures of `snakemake --report report.html` (rules/report.smk)
        REPORT_FIGURES,
        # sources, sizes and licences of the built-in corpora used
        ["resources/corpora/manifest.json"] if BUILTINS else [],
    default_target: True
