"""Issue 33: the head-to-head on the train back end (`snakemake compare`): every strategy under one
compute budget, a table of the objective at the target, the worst domain and the compute spent."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from mixopt.config import ConfigError, check_config, with_defaults
from mixopt.core.flops import training_flops
from mixopt.settings import ModelShape
from mixopt.training.resources import proxy_params


@pytest.mark.slow
def test_the_head_to_head_spends_one_budget_per_strategy_and_writes_the_table(tmp_path, tiny_config):
    from test_workflow import snakemake, write_config

    config = tiny_config
    config["scales"]["pico"] = {"layers": 1, "width": 16, "heads": 2, "context": 32, "batch": 4, "lr": 0.01}
    config["budget"] = {"iterations": 2, "initial_design": 2, "trials_per_iteration": 1}
    nano = ModelShape.from_dict(config["scales"]["nano"])
    one_run = training_flops(proxy_params(nano, config["tokenizer"]["vocab_size"]), config["target"]["tokens"])
    # a fixed mixture, a reference run then a proxy (DoReMi) and one run at the target (online): the
    # three ways a method spends the budget (the token heuristics and Sobol are fixed designs like
    # uniform; tests/test_token_heuristics.py runs sobol and unimax through the workflow)
    config["bench"] = {"jobs": 2, "budget_flops": 2 * one_run, "strategies": {
        "uniform": {"name": "uniform"}, "doremi": {"name": "doremi", "options": {"scale": "pico"}},
        "online": {"name": "online"}}}
    write_config(tmp_path, config)
    snakemake(tmp_path, "compare")

    table = pd.read_csv(tmp_path / "results/compare/summary.csv")
    assert sorted(table["strategy"]) == ["doremi", "online", "uniform"]
    assert table["objective"].notna().all() and table["worst_domain"].isin(["code", "docs", "prose"]).all()
    assert (table["worst_loss"] >= table["objective"]).all()  # the worst domain is above the mean
    assert (table["flops"] >= 2 * one_run).all() and (table["flops"] < 4 * one_run).all()  # the budget, and at
    # most one iteration more
    runs = tmp_path / "results/compare/runs"
    assert (runs / "doremi/iter_0/trial_0/model.pt").is_file()  # DoReMi's reference run at pico
    markdown = (tmp_path / "docs/head-to-head.md").read_text()
    assert "snakemake --configfile configs/compare.yaml --cores 2 compare" in markdown
    assert f"({os.cpu_count()} cores)" in markdown and "commit " in markdown  # the machine it ran on
    assert all(f"| {s} (`" in markdown for s in table["strategy"])

    before = (runs / "uniform/iter_0/trial_0/metrics.json").stat().st_mtime
    snakemake(tmp_path, "compare", "--forcerun", "compare")  # a rerun trains nothing again
    assert (runs / "uniform/iter_0/trial_0/metrics.json").stat().st_mtime == before
    assert pd.read_csv(tmp_path / "results/compare/summary.csv").equals(table)


def test_the_head_to_head_config_is_checked_before_any_job():
    config = with_defaults({"backend": {"name": "table", "table": {"format": "regmix"}}, "target": {"scale": "60M"},
                            "strategy": {"name": "random"}, "budget": {"iterations": 1},
                            "bench": {"strategies": {"d": {"name": "doremi"}}}})
    with pytest.raises(ConfigError, match="config key 'bench.strategies.d.name': 'doremi' changes the mixture"):
        check_config(config)
