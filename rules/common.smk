# Config checks and input functions shared by the rules.
from pathlib import Path

import pandas as pd

from mixopt.config import check_settings
from mixopt.data.documents import resolve_paths
from mixopt.settings import Settings, with_defaults
from mixopt.strategies.registry import strategy_class
from mixopt.training.resources import trial_gpus, trial_mem_mb, trial_threads

# The config is checked against the schema once (mixopt's check names the key of the first bad
# value and fills the schema's defaults in), typed, and checked against the files and tables it
# names, all before any job. Rules pass their scripts the sections they read (`sections` below).
SETTINGS = Settings.from_config(with_defaults(config))
check_settings(SETTINGS, Path.cwd())

# the table back end takes only token counts from `domains`: no shards, no domain wildcard
DOMAINS = list(SETTINGS.domains) if SETTINGS.backend.name == "train" else []
BUILTINS = sorted({d.builtin for d in SETTINGS.domains.values() if d.builtin is not None})
ITERATIONS = SETTINGS.budget.iterations
# the reference changes what is proposed only under no_worse_than_reference or for a strategy that
# starts from it (DoReMi); otherwise a new reference only redoes the recommendation, not the search
REFERENCE_SHAPES_SEARCH = (
    ["reference"]
    if SETTINGS.constraints.no_worse_than_reference
    or strategy_class(SETTINGS.strategy.name).searches_from_reference
    else []
)
SURROGATE = SETTINGS.backend.mode == "surrogate"
# DoReMi and online mixing change the weights while a trial trains: a figure shows how
WEIGHTS_DURING_RUN = strategy_class(SETTINGS.strategy.name).weights_during_run
# each back end's rules write results/iter_{i}/trial_{j}/metrics.json
BACKEND_RULES = {"train": ["data.smk", "train.smk"], "table": ["table.smk"]}[SETTINGS.backend.name]
# the sections the back end is built from (mixopt.backends.make_backend): its problem
BACKEND_SECTIONS = {
    "train": ["backend", "domains", "scales", "tokenizer", "target", "objective"],
    "table": ["backend", "target", "objective"],
}[SETTINGS.backend.name]


def sections(*names):
    """The settings sections a rule's script reads, as plain data (`Settings.sections`): Snakemake
    fingerprints them, so a changed section reruns the rule (its `params` rerun trigger). The
    script types them again with `Settings.from_sections`; reading a section not passed raises."""
    return SETTINGS.sections(*dict.fromkeys(names))


wildcard_constraints:
    i=r"\d+",
    j=r"\d+",
    domain="|".join(DOMAINS) or "no-domain",
    builtin="|".join(BUILTINS) or "no-builtin",


def files_of(domain):
    """The text files of one domain: a prepared built-in corpus or the user's globs."""
    spec = SETTINGS.domains[domain]
    if spec.builtin is not None:
        return [f"resources/corpora/{spec.builtin}.jsonl"]
    return [str(p) for p in resolve_paths(list(spec.paths), Path.cwd())]


def domain_files(wildcards):
    return files_of(wildcards.domain)


def all_domain_files(wildcards):
    return {d: files_of(d) for d in DOMAINS}


def shard_metas(wildcards):
    return expand("results/data/{domain}/meta.json", domain=DOMAINS)


def trials_of(i):
    """Trial ids of iteration i, read from its proposals once they exist (a checkpoint)."""
    proposals = checkpoints.propose.get(i=i).output.proposals
    return pd.read_csv(proposals)["trial"].tolist()


def metrics_before(i):
    return [f"results/iter_{k}/trial_{j}/metrics.json" for k in range(int(i)) for j in trials_of(k)]


def prior_runs():
    """The run table of earlier runs to start from, if the config names one."""
    return {"prior_runs": SETTINGS.prior_runs} if SETTINGS.prior_runs else {}


def observations_inputs(wildcards):
    return {"metrics": metrics_before(wildcards.i)} | prior_runs()


def all_metrics(wildcards):
    return {"metrics": metrics_before(ITERATIONS)} | prior_runs()


def shard_meta_inputs():
    """The shards' meta.json, named meta_<domain>: their token counts set the repetition caps and
    the `natural` reference (train back end)."""
    return {f"meta_{d}": f"results/data/{d}/meta.json" for d in DOMAINS}


def propose_inputs(wildcards):
    return {"observations": f"results/iter_{wildcards.i}/observations.csv"} | shard_meta_inputs()


def train_mem_mb(wildcards, input):
    """Host memory of one training job, for its proposed scale (a resource function)."""
    return trial_mem_mb(SETTINGS, input.proposals, int(wildcards.j))


def train_gpus(wildcards, input):
    """GPUs of one training job: its proposed scale's `gpus` (one process each)."""
    return trial_gpus(SETTINGS, input.proposals, int(wildcards.j))


def train_threads(wildcards, input):
    """CPU threads of one training job: `training.threads` for each of its processes."""
    return trial_threads(SETTINGS, input.proposals, int(wildcards.j))


def simulator_inputs(wildcards):
    """The fitted simulator, for the table back end's surrogate mode."""
    return {"simulator": "results/simulator/surrogate.pt"} if SURROGATE else {}


def recommend_inputs(wildcards):
    """The shards' token counts, for the repetition caps and the `natural` reference mixture."""
    return shard_meta_inputs()


def all_proposals(wildcards):
    """Every iteration's proposals, in iteration order (the mixture trajectories figure)."""
    return [f"results/iter_{k}/proposals.csv" for k in range(ITERATIONS)]
