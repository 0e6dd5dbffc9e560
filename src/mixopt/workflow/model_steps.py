"""The steps of the loop that need the strategy's model, one function per Snakemake script:
propose an iteration's trials, recommend a mixture, and score each trial as predicted before it
ran. Apart from :mod:`mixopt.workflow.steps` because they import the strategies (torch, BoTorch),
which the light steps do not need."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import pandas as pd

from mixopt.backends import Backend
from mixopt.backends.constraints import constraints_of
from mixopt.core.atomic import write_text
from mixopt.core.observations import read_table
from mixopt.settings import Settings
from mixopt.strategies import strategy_from_settings
from mixopt.workflow.evidence import evidence_model
from mixopt.workflow.holdout import held_out_predictions, prediction_scores
from mixopt.workflow.prior import trials_to_propose
from mixopt.workflow.proposals import write_proposals
from mixopt.workflow.reference import reference_mixture
from mixopt.workflow.report import evidence_report, write_report
from mixopt.workflow.steps import scales_by_cost


def make_strategy_for(settings: Settings, backend: Backend, shard_metas: Mapping[str, str | Path] | None = None):
    """The config's strategy on ``backend`` with its reference mixture and constraints
    (``shard_metas``: domain -> meta.json, for the natural reference and the repetition caps).

    Without the ``reference`` section (the propose rule passes it only where it shapes the search,
    rules/common.smk) the strategy has no reference mixture.
    """
    constraints = constraints_of(settings, backend.problem, shard_metas)
    reference = (reference_mixture(settings.reference, backend.problem, shard_metas, constraints)[0]
                 if settings.passed("reference") else None)
    return strategy_from_settings(settings.strategy, backend.problem, settings.seed, space=backend,
                                  reference=reference, constraints=constraints)


def propose(settings: Settings, backend: Backend, observations: str | Path, iteration: int,
            proposals_path: str | Path, diagnostics_path: str | Path,
            shard_metas: Mapping[str, str | Path] | None = None) -> pd.DataFrame:
    """The strategy's trials for ``iteration`` from the observations of earlier iterations (and
    the prior runs: iteration 0's design shrinks by the mixtures they cover)."""
    strategy = make_strategy_for(settings, backend, shard_metas)
    table = read_table(observations)
    batch = strategy.propose(table, trials_to_propose(settings, backend.problem, table, iteration), iteration)
    table = write_proposals(batch, backend.problem, settings.seed, iteration, proposals_path, diagnostics_path)
    print(table.to_string(index=False))
    return table


def recommend(settings: Settings, backend: Backend, observations: str | Path, out_path: str | Path,
              shard_metas: Mapping[str, str | Path] | None = None) -> dict:
    """results/best_mixture.yaml: the strategy's recommendation with its predicted losses, its
    trade-off against the reference mixture and the evidence that the proxies transfer.

    ``shard_metas``: domain -> meta.json of its shards, for the ``natural`` reference.
    """
    problem = backend.problem
    table = read_table(observations)
    _, reference_name = reference_mixture(settings.reference, problem, shard_metas,
                                          constraints_of(settings, problem, shard_metas))
    strategy = make_strategy_for(settings, backend, shard_metas)
    report = evidence_report(strategy, table, reference_name, int(problem.target_tokens), space=backend)
    write_report(report, out_path)
    print(report["headline"])
    return report


def held_out(settings: Settings, backend: Backend, observations: str | Path, out_path: str | Path) -> pd.DataFrame:
    """results/summary/predictions.csv: every trial of iteration >= 1 as predicted by the model
    fitted on the iterations before it (the strategy's GP, or the evidence GP)."""
    problem = backend.problem

    def model_for(earlier: pd.DataFrame):
        strategy = strategy_from_settings(settings.strategy, problem, settings.seed, space=backend)  # unconstrained: a model only
        return evidence_model(strategy, earlier, space=backend)

    predictions = held_out_predictions(read_table(observations), problem, model_for)
    write_text(out_path, predictions.to_csv(index=False))
    print(prediction_scores(predictions))
    return predictions


def predictions(settings: Settings, backend: Backend, observations: str | Path, table_path: str | Path,
                plot_path: str | Path) -> dict:
    """results/summary/predictions.csv (:func:`held_out`: each trial predicted by the model fitted
    on the iterations before its own) and a PNG of predicted vs observed with the scores."""
    from mixopt.workflow.figures import plot_predictions

    problem = backend.problem
    table = held_out(settings, backend, observations, table_path)
    scores = prediction_scores(table)
    plot_predictions(table, scores, scales_by_cost(backend), problem.target.scale, plot_path)
    return scores
