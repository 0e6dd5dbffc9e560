"""`mixopt suite`: synthetic problems with a known ground truth, the suite file, and the robust
multi-scale default on both failure modes (a proxy optimum that moves with scale; near-ties)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import spearmanr

from mixopt.bench.problems import load_suite
from mixopt.bench.suite_runner import run_suite
from mixopt.config import ConfigError
from mixopt.tables.synthetic import synthetic_table


def _objectives(table, scale: str) -> pd.Series:
    """Mean loss of each mixture at a scale's full run, indexed by the mixture's pool index."""
    wide = table.wide(scale, table.full_steps(scale))
    return pd.Series(wide[table.loss_columns].mean(axis=1).to_numpy(),
                     index=wide["run_id"].str.split("/").str[1].astype(int))


def test_moving_optimum_proxies_do_not_rank_like_the_target():
    table = synthetic_table("moving_optimum", seed=0)
    target = _objectives(table, "1B")
    small = _objectives(table, "20M").loc[target.index]
    assert spearmanr(small, target)[0] < 0  # the smallest proxy ranks the target pool backwards
    # the smallest proxy's favourite among the target pool is far from the target's best
    gap = target[small.idxmin()] - target.min()
    assert gap > 0.1 * (target.median() - target.min())


def test_near_ties_top_lies_within_the_noise_and_proxies_transfer():
    table = synthetic_table("near_ties", seed=0, noise=0.002)
    target = _objectives(table, "1B").sort_values()
    assert target.iloc[2] - target.iloc[0] < 2 * 0.002  # three mixtures within two noise sds
    assert spearmanr(_objectives(table, "200M").loc[target.index], target)[0] > 0.9
    again = synthetic_table("near_ties", seed=0, noise=0.002)
    assert again.data.equals(table.data)  # a seed gives the same table


def _suite_file(tmp_path, problems: dict, strategies: dict, **extra) -> str:
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({"seeds": 3, "jobs": 2, "strategies": strategies, "problems": problems,
                                    "defaults": {"budget": {"initial_design": 4, "trials_per_iteration": 2},
                                                 "max_iterations": 40}, **extra}))
    return str(path)


def test_bad_suite_key_names_file_and_key(tmp_path):
    path = _suite_file(tmp_path, {"p": {"synthetic": {"kind": "sideways"}, "target": {"scale": "1B"}}},
                       {"random": {"name": "random"}})
    with pytest.raises(ConfigError, match=r"suite\.yaml: suite key 'problems\.p\.synthetic\.kind'"):
        load_suite(path, out_dir=tmp_path / "out")


def test_absent_table_is_skipped_with_the_reason(tmp_path):
    problems = {"gone": {"backend": {"name": "table", "table": {"format": "long", "path": "nowhere.csv"}},
                         "target": {"scale": "1B"}},
                "moving": {"synthetic": {"kind": "moving_optimum"}, "target": {"scale": "1B"}}}
    suite = load_suite(_suite_file(tmp_path, problems, {"random": {"name": "random"}}), out_dir=tmp_path / "out",
                       base_dir=tmp_path)
    assert [p.name for p in suite.problems] == ["moving"]
    assert "nowhere.csv" in suite.skipped["gone"]


def test_multiscale_reaches_the_known_best_on_both_failure_modes(tmp_path):
    problems = {"moving": {"synthetic": {"kind": "moving_optimum", "seed": 0}, "target": {"scale": "1B"}},
                "ties": {"synthetic": {"kind": "near_ties", "seed": 0}, "target": {"scale": "1B"}}}
    strategies = {"random": {"name": "random"}, "multiscale": {"name": "multiscale"},
                  "gp_proxy": {"name": "gp", "each_proxy": True, "options": {}}}
    suite = load_suite(_suite_file(tmp_path, problems, strategies, quick={"strategies": ["random", "multiscale"]}),
                       quick=True, out_dir=tmp_path / "out", base_dir=tmp_path)
    summary = run_suite(suite, tmp_path / "out", base_dir=tmp_path, log=lambda _: None)
    ours = summary[summary["strategy"] == "multiscale"].set_index("problem")
    # generous: the budget is every target mixture once; most seeds must find the table's best
    assert (ours["reached_best"] >= 2 / 3).all(), ours[["reached_best", "median_best"]]
    assert (ours["reached_relative"] == 1.0).all()
    for name in ("seeds.csv", "summary.csv", "curves.csv", "curves.png", "suite.json", "summary.txt"):
        assert (tmp_path / "out" / name).is_file(), name
    meta = json.loads((tmp_path / "out" / "suite.json").read_text())
    assert set(meta["geometric_means"]) == {"random", "multiscale"}
    text = (tmp_path / "out" / "summary.txt").read_text()
    assert "worst:" in text and "geometric mean" in text
    seeds = pd.read_csv(tmp_path / "out" / "seeds.csv")
    assert len(seeds) == 2 * 2 * 3 and np.isfinite(seeds["runs_spent"]).all()
