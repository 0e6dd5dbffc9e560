# Config checks and input functions shared by the rules.
from pathlib import Path

import pandas as pd
from snakemake.utils import validate

from mixopt.config import check_config, with_defaults

# One clear error naming the key comes from mixopt's own check; Snakemake's validate then fills
# the schema's defaults into `config` (it cannot fail once the first check has passed).
check_config(with_defaults(config), base_dir=Path.cwd())


validate(config, "../schemas/config.schema.yaml")


BACKEND = config.get("backend", {}).get("name", "train")  # train: real proxy runs; table: recorded runs
SURROGATE = BACKEND == "table" and config["backend"].get("mode", "pool") == "surrogate"
DOMAINS = list(config.get("domains", {}))
BUILTINS = sorted({spec["builtin"] for spec in config.get("domains", {}).values() if "builtin" in spec})
ITERATIONS = config["budget"]["iterations"]


wildcard_constraints:
    i=r"\d+",
    j=r"\d+",
    domain="|".join(DOMAINS) or "no-domain",
    builtin="|".join(BUILTINS) or "no-builtin",


def domain_files(wildcards):
    """The text files of one domain: a prepared built-in corpus or the user's globs."""
    spec = config["domains"][wildcards.domain]
    if "builtin" in spec:
        return [f"resources/corpora/{spec['builtin']}.jsonl"]
    from mixopt.data.documents import resolve_paths

    return [str(p) for p in resolve_paths(spec["paths"], Path.cwd())]


def all_domain_files(wildcards):
    return {d: domain_files(type("W", (), {"domain": d})) for d in DOMAINS}


def shard_metas(wildcards):
    return expand("results/data/{domain}/meta.json", domain=DOMAINS)


def trials_of(i):
    """Trial ids of iteration i, read from its proposals once they exist (a checkpoint)."""
    proposals = checkpoints.propose.get(i=i).output.proposals
    return pd.read_csv(proposals)["trial"].tolist()


def metrics_before(i):
    return [f"results/iter_{k}/trial_{j}/metrics.json" for k in range(int(i)) for j in trials_of(k)]


def observations_inputs(wildcards):
    return metrics_before(wildcards.i)


def all_metrics(wildcards):
    return metrics_before(ITERATIONS)


def propose_inputs(wildcards):
    return {"observations": f"results/iter_{wildcards.i}/observations.csv"}


def train_mem_mb(wildcards, input):
    """Host memory of one training job, for its proposed scale (a resource function)."""
    from mixopt.resources import trial_mem_mb

    return trial_mem_mb(config, input.proposals, int(wildcards.j))


def simulator_inputs(wildcards):
    """The fitted simulator, for the table back end's surrogate mode."""
    return {"simulator": "results/simulator/surrogate.pt"} if SURROGATE else {}
