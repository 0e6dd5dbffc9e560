"""The plain files a person reads between iterations: proposals.csv and the convergence table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mixopt.workflow.convergence import convergence_table
from mixopt.core.observations import build_table
from mixopt.core.problem import Fidelity, Problem
from mixopt.workflow.proposals import read_proposal, trial_seed, write_proposals
from mixopt.strategies import make_strategy

PROBLEM = Problem(("a", "b", "c"), np.array([0.5, 0.25, 0.25]), Fidelity("s", 10))


def test_proposals_round_trip_with_distinct_reproducible_seeds(tmp_path):
    batch = make_strategy("random", PROBLEM, 0, {}).propose(build_table([], PROBLEM), 4, 2)
    table = write_proposals(batch, PROBLEM, 0, 2, tmp_path / "p.csv", tmp_path / "d.json")
    assert list(table.columns) == ["trial", "scale", "steps", "seed", "w_a", "w_b", "w_c"]
    assert table["seed"].nunique() == 4 and trial_seed(0, 2, 3) == table["seed"].iloc[3]
    row = read_proposal(tmp_path / "p.csv", 3, PROBLEM)
    assert row["scale"] == "s" and row["steps"] == 10
    assert np.allclose(list(row["mixture"].values()), batch.proposals[3].mixture, atol=1e-9)


def test_hand_edited_proposal_that_is_not_a_mixture_is_rejected(tmp_path):
    pd.DataFrame([{"trial": 0, "scale": "s", "steps": 10, "seed": 1, "w_a": 0.7, "w_b": -0.2, "w_c": 0.5}]).to_csv(
        tmp_path / "p.csv", index=False)
    with pytest.raises(ValueError, match=r"p\.csv: trial 0: .*non-negative"):
        read_proposal(tmp_path / "p.csv", 0, PROBLEM)
    with pytest.raises(ValueError, match="expected one row for trial 5"):
        read_proposal(tmp_path / "p.csv", 5, PROBLEM)


def metrics(trial: int, status: str, losses: list[float] | None, steps: int = 10) -> dict:
    points = [] if losses is None else [
        {"step": steps // 2, "tokens": 50, "flops": 100.0, "losses": {"a": 9.0, "b": 9.0, "c": 9.0}},
        {"step": steps, "tokens": 100, "flops": 200.0, "losses": dict(zip("abc", losses))},
    ]
    return {"iteration": trial // 2, "trial": trial % 2, "status": status, "scale": "s", "steps": steps,
            "mixture": {"a": 0.2, "b": 0.3, "c": 0.5}, "checkpoints": points}


def test_convergence_charges_every_trial_and_tracks_the_best():
    table = build_table([
        metrics(0, "ok", [4.0, 2.0, 2.0]),       # objective 0.5*4 + 0.25*2 + 0.25*2 = 3.0
        metrics(1, "failed", None),             # failed before any checkpoint: costs nothing recorded
        metrics(2, "ok", [3.0, 2.0, 2.0]),       # 2.5
        metrics(3, "ok", [5.0, 1.0, 1.0]),       # 3.0, not an improvement
    ], PROBLEM)
    curve = convergence_table(table, PROBLEM)
    assert curve["status"].tolist() == ["ok", "failed", "ok", "ok"]
    assert curve["cumulative_flops"].tolist() == [200.0, 200.0, 400.0, 600.0]
    assert curve["objective"].iloc[[0, 2, 3]].tolist() == [3.0, 2.5, 3.0]
    assert curve["best_objective"].tolist() == [3.0, 3.0, 2.5, 2.5]
