"""Answer one proposed trial from the run table and write its metrics.json; failures are recorded."""
from mixopt.backends import TableBackend
from mixopt.backends.constraints import constraints_of
from mixopt.core.logs import log_to
from mixopt.settings import Settings
from mixopt.workflow.trial import run_proposed_trial

with log_to(snakemake.log[0]):
    settings = Settings.from_sections(snakemake.params.settings)
    backend = TableBackend.from_settings(settings, surrogate_path=snakemake.input.get("simulator"))
    run_proposed_trial(backend, snakemake.input.proposals, iteration=int(snakemake.wildcards.i),
                       trial=int(snakemake.wildcards.j), out_path=snakemake.output.metrics,
                       constraints=constraints_of(settings, backend.problem))
