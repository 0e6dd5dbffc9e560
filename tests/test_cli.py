"""`mixopt bench` from the command line: one clear error for a wrong config, and the files."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from conftest import REPO
from mixopt.cli import main


@pytest.mark.slow  # 6 bench seeds
def test_mixopt_bench_writes_the_summary_files(tmp_path, capsys):
    out = tmp_path / "bench"
    code = main(["bench", str(REPO / "configs" / "regmix.yaml"), "--out", str(out), "--seeds", "3", "--jobs", "1",
                 "--strategies", "random", "uniform", "--budget-flops", "4e18"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "random" in printed and "speed-up" in printed
    summary = pd.read_csv(out / "summary.csv")
    assert summary["strategy"].tolist() == ["random", "uniform"]
    assert summary.loc[0, "speedup_best_vs_random"] == 1.0 or summary.loc[0, "reached_best"] == 0
    seeds = pd.read_csv(out / "seeds.csv")
    assert len(seeds) == 6
    assert {"curves.csv", "curves.png", "bench.json", "summary.txt"} <= {p.name for p in out.iterdir()}


def test_mixopt_bench_refuses_a_training_config_and_unknown_labels(tmp_path, capsys):
    assert main(["bench", str(REPO / "config.yaml"), "--out", str(tmp_path)]) == 2
    assert "error" not in capsys.readouterr().out
    config = yaml.safe_load((REPO / "configs" / "regmix.yaml").read_text())
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    assert main(["bench", str(tmp_path / "c.yaml"), "--out", str(tmp_path), "--strategies", "nope"]) == 2
    assert "unknown strategy label(s) ['nope']" in capsys.readouterr().err
    config["target"]["scale"] = "3M"
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    assert main(["bench", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "x")]) == 2
    assert "config key 'target'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()  # nothing half-written
