"""Optimisers and baselines behind one interface (:class:`~mixopt.strategies.base.Strategy`)."""

from mixopt.strategies.base import Proposal, ProposalBatch, Recommendation, Strategy
from mixopt.strategies.registry import STRATEGIES, make_strategy, strategy_class, strategy_from_settings

__all__ = ["Proposal", "ProposalBatch", "Recommendation", "Strategy", "STRATEGIES", "make_strategy", "strategy_class",
           "strategy_from_settings"]
