"""Run the strategy on the observations so far and write the next iteration's proposals."""
from mixopt.logs import log_to
from mixopt.observations import read_table
from mixopt.problem import Problem
from mixopt.proposals import write_proposals
from mixopt.strategies import strategy_from_config

with log_to(snakemake.log[0]):
    iteration = int(snakemake.wildcards.i)
    budget, settings = snakemake.params.budget, snakemake.params.strategy
    problem = Problem.from_config(snakemake.config)
    strategy = strategy_from_config(snakemake.config, problem)
    n = budget["initial_design"] if iteration == 0 else budget["trials_per_iteration"]
    batch = strategy.propose(read_table(snakemake.input.observations), n, iteration)
    table = write_proposals(batch, problem, snakemake.params.seed, iteration,
                            snakemake.output.proposals, snakemake.output.diagnostics)
    print(table.to_string(index=False))
