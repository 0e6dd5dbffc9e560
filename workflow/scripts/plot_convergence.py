"""Best objective so far against cumulative training FLOPs, as a CSV and a PNG."""
from mixopt.convergence import convergence_table, plot_convergence
from mixopt.atomic import write_text
from mixopt.logs import log_to
from mixopt.observations import read_table
from mixopt.problem import Problem

with log_to(snakemake.log[0]):
    problem = Problem.from_config(snakemake.config)
    curve = convergence_table(read_table(snakemake.input.observations), problem)
    write_text(snakemake.output.table, curve.to_csv(index=False))
    plot_convergence(curve, snakemake.output.plot, title=f"{snakemake.config['strategy']['name']}: "
                     f"objective at {problem.target.scale}, {problem.target.steps} steps")
