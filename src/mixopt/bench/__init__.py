"""Scoring strategies on recorded runs: strategies x seeds under a compute budget."""
