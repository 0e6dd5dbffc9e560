"""The loop's steps as the Snakemake scripts call them: run a proposed trial, gather observations,
propose the next iteration, recommend, and the files a person reads (proposals.csv,
best_mixture.yaml, the convergence plot). Knows nothing of Snakemake itself."""
