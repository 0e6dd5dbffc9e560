"""What every layer of mixopt shares: the problem, the observations table, mixtures on the simplex,
atomic result files, compute estimates and the error types. Imports nothing else of mixopt."""
