"""Write results/best_mixture.yaml: the recommended mixture with its predicted losses."""
from mixopt.config import target_tokens
from mixopt.logs import log_to
from mixopt.observations import read_table
from mixopt.problem import Problem
from mixopt.report import recommendation_report, write_report
from mixopt.strategies import strategy_from_config

with log_to(snakemake.log[0]):
    settings = snakemake.params.strategy
    problem = Problem.from_config(snakemake.config)
    table = read_table(snakemake.input.observations)
    strategy = strategy_from_config(snakemake.config, problem)
    report = recommendation_report(strategy.recommend(table), problem, table, settings["name"],
                                   target_tokens(snakemake.config))
    write_report(report, snakemake.output[0])
    print(report)
