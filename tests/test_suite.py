"""`mixopt suite`: synthetic problems with a known ground truth, the suite file, and the robust
multi-scale default on both failure modes (a proxy optimum that moves with scale; near-ties)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import spearmanr

from mixopt.bench.problems import load_suite
from mixopt.bench.suite_runner import run_suite
from mixopt.config import ConfigError
from mixopt.tables.synthetic import synthetic_table

from conftest import REPO


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


def test_each_problem_has_its_own_fingerprint(tmp_path):
    # a seed finished on one problem must not count as finished on another (it did, when the
    # fingerprint hashed Settings' repr, which names the sections but not their values)
    from mixopt.bench.run import StrategySpec
    from mixopt.bench.suite_runner import fingerprint

    problems = {"mean": {"synthetic": {"kind": "near_ties"}, "target": {"scale": "1B"}},
                "weighted": {"synthetic": {"kind": "near_ties"}, "target": {"scale": "1B"},
                             "objective": {"type": "weighted", "weights": {"d0": 1.0}}},
                "smaller": {"synthetic": {"kind": "near_ties"}, "target": {"scale": "200M"}}}
    suite = load_suite(_suite_file(tmp_path, problems, {"random": {"name": "random"}}), out_dir=tmp_path / "out",
                       base_dir=tmp_path)
    spec = StrategySpec("random", "random", {})
    prints = [fingerprint(p, spec, 0.1) for p in suite.problems]
    assert len(set(prints)) == 3, prints
    again = load_suite(_suite_file(tmp_path, problems, {"random": {"name": "random"}}), out_dir=tmp_path / "out",
                       base_dir=tmp_path)
    assert [fingerprint(p, spec, 0.1) for p in again.problems] == prints  # and stable across reads


def test_problems_runs_a_subset_and_names_an_unknown_problem(tmp_path):
    problems = {"moving": {"synthetic": {"kind": "moving_optimum"}, "target": {"scale": "1B"}},
                "ties": {"synthetic": {"kind": "near_ties"}, "target": {"scale": "1B"}}}
    path = _suite_file(tmp_path, problems, {"random": {"name": "random"}})
    suite = load_suite(path, out_dir=tmp_path / "out", base_dir=tmp_path, problems=["ties"])
    assert [p.name for p in suite.problems] == ["ties"]
    with pytest.raises(ConfigError, match=r"--problems: \['typo'\] not among the problems of .*'moving', 'ties'"):
        load_suite(path, out_dir=tmp_path / "out2", base_dir=tmp_path, problems=["typo"])
    assert not (tmp_path / "out2").exists()  # refused before anything is written


@pytest.mark.slow
def test_auto_reaches_the_known_best_and_is_never_worse_than_random(tmp_path):
    """The quick suite's three problems: a proxy optimum that moves with scale, near-ties, and a
    near-tie pool of 20 at the target whose proxies transfer (the real-run kind)."""
    problems = {"moving": {"synthetic": {"kind": "moving_optimum", "seed": 0}, "target": {"scale": "1B"}},
                "ties": {"synthetic": {"kind": "near_ties", "seed": 0}, "target": {"scale": "1B"}},
                "transfer": {"synthetic": {"kind": "near_ties", "seed": 1, "target_pool": 20},
                             "target": {"scale": "1B"}}}
    strategies = {"auto": {"name": "auto"}, "random": {"name": "random"},
                  "gp_proxy": {"name": "gp", "each_proxy": True, "options": {}}}
    # 5 seeds, as configs/suite.yaml's quick run: on 3 the moving optimum's median swings from 5 to 17
    # target runs with the seeds drawn, for auto and random alike
    suite = load_suite(_suite_file(tmp_path, problems, strategies, quick={"strategies": ["auto", "random"], "seeds": 5}),
                       quick=True, out_dir=tmp_path / "out", base_dir=tmp_path)
    summary = run_suite(suite, tmp_path / "out", base_dir=tmp_path, log=lambda _: None)
    ours = summary[summary["strategy"] == "auto"].set_index("problem")
    rand = summary[summary["strategy"] == "random"].set_index("problem")
    assert (ours["reached_relative"] == 1.0).all(), ours[["reached_relative", "median_relative"]]
    for problem in ("moving", "ties", "transfer"):  # never worse than random, the moving proxy optimum included
        assert ours.loc[problem, "median_relative"] <= rand.loc[problem, "median_relative"], problem
    for name in ("seeds.csv", "summary.csv", "curves.csv", "curves.png", "suite.json", "summary.txt"):
        assert (tmp_path / "out" / name).is_file(), name
    meta = json.loads((tmp_path / "out" / "suite.json").read_text())
    assert set(meta["geometric_means"]) == {"random", "auto"}
    text = (tmp_path / "out" / "summary.txt").read_text()
    assert "worst vs random:" in text and "worst vs the best baseline:" in text
    seeds = pd.read_csv(tmp_path / "out" / "seeds.csv")
    assert len(seeds) == 3 * 2 * 5 and np.isfinite(seeds["runs_spent"]).all()


def _tiny_suite(tmp_path, strategies: dict, seeds: int = 2, **synthetic) -> str:
    problems = {"p": {"synthetic": {"kind": "moving_optimum", "seed": 0, "proxy_pool": 12, "target_pool": 6, **synthetic},
                      "target": {"scale": "1B"}}}
    return _suite_file(tmp_path, problems, strategies, seeds=seeds)


@pytest.mark.slow
def test_the_random_baseline_is_found_by_name_not_label(tmp_path):
    suite = load_suite(_tiny_suite(tmp_path, {"rs": {"name": "random"}, "u": {"name": "uniform"}}),
                       out_dir=tmp_path / "out", base_dir=tmp_path)
    summary = run_suite(suite, tmp_path / "out", base_dir=tmp_path, log=lambda _: None).set_index("strategy")
    assert summary.loc["rs", "vs_random_relative"] == pytest.approx(1.0)
    assert np.isfinite(summary.loc["u", "vs_random_relative"])
    assert "nanx" not in (tmp_path / "out" / "summary.txt").read_text()


def test_a_seed_that_never_reaches_counts_as_the_cap_and_is_marked(tmp_path):
    from mixopt.bench.suite_runner import format_suite, geometric_means, _summarise

    seeds = pd.DataFrame({"strategy": ["random"] * 3 + ["x"] * 3, "seed": [0, 1, 2] * 2,
                          "runs_to_best": [2.0, 3.0, 4.0, 1.0, np.inf, np.inf],
                          "runs_to_epsilon": [2.0, 3.0, 4.0, 1.0, np.inf, np.inf],
                          "runs_to_relative": [2.0, 3.0, 4.0, 1.0, np.inf, np.inf],
                          "final_best": 0.0, "runs_spent": 10.0, "seconds": 1.0})
    summary = _summarise(seeds, {}, {"random": "random", "x": "fixed"}, cap=10.0).assign(problem="p")
    x = summary.set_index("strategy").loc["x"]
    assert x["median_relative"] == 10.0 and x["censored_relative"]
    assert x["vs_random_relative"] == pytest.approx(0.3) and x["bound_random_relative"] == "<="
    means = geometric_means(summary)
    assert means.loc["x", "geomean"] == pytest.approx(0.3) and means.loc["x", "bound"] == "<="
    assert means.loc["x", "worst_vs_best_ratio"] == pytest.approx(10 / 3)
    facts = {"p": {"table": "t", "mode": "pool", "target": "1B", "scales": ["1B"], "best": 1.0, "epsilon": 0.01,
                   "relative_epsilon": 0.1, "budget": 10.0, "unit": 1.0, "refused": {}}}
    text = format_suite(summary, facts, {})
    assert ">= 10.0" in text and "0.00x" not in text and "infx" not in text


@pytest.mark.slow
def test_a_pool_smaller_than_the_design_charges_each_mixture_once(tmp_path):
    suite = load_suite(_tiny_suite(tmp_path, {"random": {"name": "random"}}, seeds=1, target_pool=2),
                       out_dir=tmp_path / "out", base_dir=tmp_path)
    run_suite(suite, tmp_path / "out", base_dir=tmp_path, log=lambda _: None)
    seeds = pd.read_csv(tmp_path / "out" / "seeds.csv")
    assert seeds["runs_spent"].max() == pytest.approx(2.0)  # a 2-mixture pool, a design of 4


@pytest.mark.slow
def test_a_rerun_skips_the_seeds_already_done(tmp_path):
    path = _tiny_suite(tmp_path, {"random": {"name": "random"}, "u": {"name": "uniform"}})
    suite = load_suite(path, out_dir=tmp_path / "out", base_dir=tmp_path)
    run_suite(suite, tmp_path / "out", base_dir=tmp_path, log=lambda _: None)
    first = pd.read_csv(tmp_path / "out" / "seeds.csv")
    bigger = load_suite(path, out_dir=tmp_path / "out", base_dir=tmp_path)
    import dataclasses

    said: list[str] = []
    run_suite(dataclasses.replace(bigger, seeds=3), tmp_path / "out", base_dir=tmp_path, log=said.append)
    assert any("4 seeds already done" in line and "2 to run" in line for line in said), said
    again = pd.read_csv(tmp_path / "out" / "seeds.csv")
    assert len(again) == 6
    pd.testing.assert_frame_equal(again[again["seed"] < 2].reset_index(drop=True)[first.columns].drop(columns="seconds"),
                                  first.drop(columns="seconds"), check_like=True)
    # fewer seeds in the same folder (a quick run beside the full one) summarise their own seeds only
    said.clear()
    summary = run_suite(dataclasses.replace(bigger, seeds=1), tmp_path / "out", base_dir=tmp_path, log=said.append)
    assert any("2 seeds already done" in line and "0 to run" in line for line in said), said
    assert sorted(pd.read_csv(tmp_path / "out" / "seeds.csv")["seed"].unique()) == [0]
    assert len(summary) == 2 and set(pd.read_csv(tmp_path / "out" / "curves.csv")["seed"]) == {0, 1, 2}
    # a strategy added to the suite file runs alone: the others' seeds stay done
    three = {"random": {"name": "random"}, "u": {"name": "uniform"}, "s": {"name": "sobol"}}
    more = load_suite(_tiny_suite(tmp_path, three), out_dir=tmp_path / "out", base_dir=tmp_path)
    said.clear()
    run_suite(dataclasses.replace(more, seeds=3), tmp_path / "out", base_dir=tmp_path, log=said.append)
    assert any("6 seeds already done" in line and "3 to run" in line for line in said), said
    # a run of some of its strategies (as --quick or --problems make) keeps the others' seeds
    fewer = load_suite(_tiny_suite(tmp_path, {"random": {"name": "random"}}), out_dir=tmp_path / "out",
                       base_dir=tmp_path)
    run_suite(dataclasses.replace(fewer, seeds=3), tmp_path / "out", base_dir=tmp_path, log=lambda _: None)
    curves = pd.read_csv(tmp_path / "out" / "curves.csv")
    assert sorted(curves.groupby("strategy")["seed"].nunique().items()) == [("random", 3), ("s", 3), ("u", 3)]
    # a copy of the folder elsewhere (a suite moved off a cluster's scratch) keeps its seeds too
    shutil.copytree(tmp_path / "out", tmp_path / "moved")
    moved = load_suite(_tiny_suite(tmp_path, three), out_dir=tmp_path / "moved", base_dir=tmp_path)
    said.clear()
    run_suite(dataclasses.replace(moved, seeds=3), tmp_path / "moved", base_dir=tmp_path, log=said.append)
    assert any("9 seeds already done" in line and "0 to run" in line for line in said), said


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("suite*.yaml")), ids=lambda p: p.name)
def test_each_suite_file_of_the_project_loads_with_its_problems(path, tmp_path):
    """The suite files the docs run (the full suite, the held-out check) pass the suite's own checks:
    schema, strategies, and each problem's target, scales and objective against its table."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    suite = load_suite(path, out_dir=tmp_path / "out", base_dir=REPO)
    assert {p.name for p in suite.problems} | set(suite.skipped) == set(raw["problems"])
    assert suite.seeds == raw["seeds"] == 10
