"""Run tables: the long format, and loaders that reproduce known rows of each published table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from mixopt.settings import TableSettings
from mixopt.tables.loaders import load_mixinglaws, load_olmix, load_regmix, load_table
from mixopt.tables.runtable import RunTable, RunTableError, read_run_table

SHARED = REPO.parent / "shared" / "benchmarks"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} (the shared benchmark tables) is absent")


def _one(wide: pd.DataFrame, run_id: str, step: int | None = None) -> pd.Series:
    rows = wide[(wide["run_id"] == run_id) & ((wide["step"] == step) if step is not None else True)]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_regmix_bundled_copy_reproduces_known_rows():
    table = load_regmix()
    wide = table.wide()
    assert wide.groupby("scale").size().to_dict() == {"1M": 768, "60M": 256, "1B": 64}
    assert len(table.mixture_domains) == 17 and len(table.eval_domains) == 13
    assert "pile_cc" in table.eval_domains and "philpapers" not in table.eval_domains
    assert table.scales() == ["1M", "60M", "1B"]
    # test_pile_loss_1B.csv / test_mixture_1B.csv, index 5
    row = _one(wide, "1B/test/5")
    assert row["loss_arxiv"] == pytest.approx(1.901320457)
    assert row["loss_github"] == pytest.approx(0.924151599)
    assert row["w_freelaw"] == pytest.approx(0.212, abs=1e-3) and row["w_pile_cc"] == pytest.approx(0.209, abs=1e-3)
    assert row["tokens"] == 25000 * 512 * 2048 and row["params"] == 1e9
    # train_pile_loss_1m.csv, index 300
    row = _one(wide, "1M/train/300")
    assert row["loss_arxiv"] == pytest.approx(3.697803258895874)
    assert row["loss_freelaw"] == pytest.approx(6.686537742614746)
    # every mixture is on the simplex after the loader's renormalisation of rounded weights
    assert np.allclose(wide[table.weight_columns].sum(axis=1), 1.0)
    # the 256 test mixtures are the same runs' mixtures at 1M and 60M
    m1 = wide[wide["run_id"].str.startswith("1M/test/")].sort_values("run_id")
    m60 = wide[wide["scale"] == "60M"].sort_values("run_id")
    assert np.allclose(m1[table.weight_columns].to_numpy(), m60[table.weight_columns].to_numpy())


def test_long_format_round_trip(tmp_path):
    table = load_regmix()
    for name in ("runs.csv", "runs.parquet"):
        table.write(tmp_path / name)
        again = read_run_table(tmp_path / name)
        assert again.mixture_domains == table.mixture_domains and again.eval_domains == table.eval_domains
        pd.testing.assert_frame_equal(again.wide(), table.wide(), check_dtype=False)
    assert load_table(TableSettings.from_dict({"format": "long", "path": "runs.csv", "setting": "5Mix", "name": "dclm"}), tmp_path).scales() == table.scales()


def _long(**changes) -> pd.DataFrame:
    rows = [{"run_id": "r1", "scale": "s", "params": 1e6, "step": 10, "tokens": 1e4, "domain": "a", "loss": 3.0,
             "w_a": 0.5, "w_b": 0.5},
            {"run_id": "r2", "scale": "s", "params": 1e6, "step": 10, "tokens": 1e4, "domain": "a", "loss": 2.0,
             "w_a": 0.2, "w_b": 0.8}]
    frame = pd.DataFrame(rows)
    for key, value in changes.items():
        frame.loc[0, key] = value
    return frame


@pytest.mark.parametrize("change, message", [
    ({"w_a": 0.9}, "r1 mixture is not on the simplex"),
    ({"loss": np.nan}, "empty or non-finite"),
    ({"run_id": "r2"}, "changes mixture"),
])
def test_malformed_tables_name_the_table_and_the_run(change, message):
    with pytest.raises(RunTableError, match=f"run table mine: .*{message}"):
        RunTable.from_long(_long(**change), name="mine")


def test_missing_columns_and_unknown_scale_are_named():
    with pytest.raises(RunTableError, match=r"missing column\(s\) \['loss'\]"):
        RunTable.from_long(_long().drop(columns="loss"), name="mine")
    table = RunTable.from_long(_long(), name="mine")
    with pytest.raises(RunTableError, match="no scale 'huge'"):
        table.steps("huge")
    with pytest.raises(RunTableError, match="file not found"):
        read_run_table(Path("/nonexistent/runs.csv"))


@needs_shared
def test_mixinglaws_reproduces_known_rows_and_drops_incomplete_checkpoints():
    table = load_mixinglaws(SHARED / "mixinglaws", "5Mix")
    assert table.mixture_domains == ("academic", "prose", "dialogue", "symbolic", "internet")
    assert len(table.eval_domains) == 22 and "valid" not in table.eval_domains
    assert table.scales() == ["70M", "160M", "305M", "410M", "1B"]
    wide = table.wide()
    row = _one(wide, "410M/0", 20000)
    assert row["loss_Github"] == pytest.approx(1.2551081730769231)
    assert (row["w_symbolic"], row["w_internet"]) == (0.25, 0.75)
    row = _one(wide, "1B/999", 100000)
    assert row["loss_Pile-CC"] == pytest.approx(2.833466101044226)
    assert row["w_academic"] == pytest.approx(0.29296875)
    assert row["tokens"] == 100000 * 1_000_000
    # some checkpoints were evaluated on only 4-5 domains: they stay in the long table, not in wide
    per_checkpoint = table.data.groupby(["run_id", "step"])["domain"].nunique()
    assert (per_checkpoint < 22).any()
    assert len(wide) == int((per_checkpoint == 22).sum())
    red = load_mixinglaws(SHARED / "mixinglaws", "RedPajama")
    assert np.allclose(red.wide()[red.weight_columns].sum(axis=1), 1.0)  # run 999 sums to 1.023 upstream


@needs_shared
def test_olmix_reproduces_a_known_row():
    table = load_olmix(SHARED / "olmix", "dclm", metrics=["arc_challenge:rc::olmes", "arc_easy:rc::olmes"])
    assert len(table.mixture_domains) == 24 and table.eval_domains == ("arc_challenge:rc::olmes", "arc_easy:rc::olmes")
    row = _one(table.wide(), "19g3guks")
    assert row["loss_arc_challenge:rc::olmes"] == pytest.approx(1.69303692503894)
    assert (row["w_entertainment"], row["w_health"]) == pytest.approx((0.2, 0.1))
    assert len(table.wide()) == 127
    with pytest.raises(RunTableError, match="unknown metric"):
        load_olmix(SHARED / "olmix", "dclm", metrics=["nope"])
