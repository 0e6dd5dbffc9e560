"""Write results/best_mixture.yaml: the recommended mixture with its predicted losses."""
from mixopt.backends import make_backend
from mixopt.core.logs import log_to
from mixopt.settings import Settings
from mixopt.workflow.model_steps import recommend

with log_to(snakemake.log[0]):
    settings = Settings.from_sections(snakemake.params.settings)
    metas = {d: snakemake.input[f"meta_{d}"] for d in settings.domains if f"meta_{d}" in snakemake.input.keys()}
    recommend(settings, make_backend(settings), snakemake.input.observations, snakemake.output[0], metas or None)
