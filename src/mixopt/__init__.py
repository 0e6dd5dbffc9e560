"""mixopt: data-mixture optimisation by Bayesian optimisation over small proxy runs."""

__version__ = "0.1.0"
