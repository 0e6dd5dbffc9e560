"""Fit the simulator on the run table; write it and its held-out R² per scale and domain."""
from mixopt.atomic import write_text
from mixopt.logs import log_to
from mixopt.tables.backend import table_for_config
from mixopt.tables.surrogate import Surrogate

with log_to(snakemake.log[0]):
    import torch

    torch.set_num_threads(snakemake.threads)  # the rule's share of the cores, not all of them
    settings = snakemake.params.backend.get("surrogate", {})
    surrogate = Surrogate.fit(table_for_config(snakemake.config), seed=settings.get("seed", 0),
                              extrapolate=settings.get("extrapolate", False))
    write_text(snakemake.output.validation, surrogate.validation.to_csv(index=False))
    surrogate.save(snakemake.output.simulator)
    print(surrogate.summary())
