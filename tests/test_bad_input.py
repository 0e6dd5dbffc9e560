"""Bad input, round two (issue 30): command-line flags, suite files, warm starts, bounds on a pool,
results trees and locks. Each case asserts the one message a user sees (exit status 2) and that
nothing was written. The config-file cases of the fault matrix are in tests/test_faults.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import REPO
from mixopt.cli import main

REGMIX = REPO / "configs" / "regmix.yaml"


def refused_by_cli(argv: list[str], capsys, *expected: str) -> str:
    """``mixopt argv`` exits 2 with one ``mixopt <command>:`` line holding every ``expected`` text."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count(f"mixopt {argv[0]}:") == 1 and "Traceback" not in err, err
    assert all(e in err for e in expected), err
    return err


# --- flags go through the checks of the keys they override ------------------------------------


@pytest.mark.parametrize("flag, value, expected", [
    ("--seeds", "0", "--seeds 0: 0 is less than the minimum of 1 (as for the key 'bench.seeds'"),
    ("--seeds", "-1", "--seeds -1: -1 is less than the minimum of 1"),
    ("--budget-flops", "-5", "--budget-flops -5.0: -5.0 is less than or equal to the minimum of 0 (as for the key "
                             "'bench.budget_flops'"),
    ("--epsilon", "-1", "--epsilon -1.0: -1.0 is less than the minimum of 0 (as for the key 'bench.epsilon'"),
    ("--jobs", "0", "--jobs 0: 0 is less than the minimum of 1 (as for the key 'bench.jobs'"),
])
def test_bench_flags_are_checked_as_their_keys(tmp_path, capsys, flag, value, expected):
    refused_by_cli(["bench", str(REGMIX), "--out", str(tmp_path / "out"), flag, value], capsys, expected)
    assert not (tmp_path / "out").exists()


def test_bench_surrogate_flag_needs_surrogate_mode_and_the_file(tmp_path, capsys):
    out = tmp_path / "out"
    refused_by_cli(["bench", str(REGMIX), "--out", str(out), "--surrogate", str(tmp_path / "none.pt")], capsys,
                   "--surrogate", "backend.mode is 'pool'")
    config = yaml.safe_load(REGMIX.read_text())
    config["backend"]["mode"] = "surrogate"
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    refused_by_cli(["bench", str(tmp_path / "c.yaml"), "--out", str(out), "--surrogate", str(tmp_path / "none.pt")],
                   capsys, f"--surrogate {tmp_path / 'none.pt'}: file not found")
    assert not out.exists()


# --- suite files -----------------------------------------------------------------------------


def suite_file(tmp_path, **changes) -> str:
    """A small valid suite: a synthetic problem and the RegMix table, two strategies."""
    suite = {"seeds": 2, "jobs": 1,
             "defaults": {"budget": {"initial_design": 4, "trials_per_iteration": 2}, "max_iterations": 5},
             "strategies": {"random": {"name": "random"}, "gp": {"name": "gp"}},
             "problems": {"syn": {"synthetic": {"kind": "near_ties"}, "target": {"scale": "1B"}},
                          "regmix": {"backend": {"name": "table", "table": {"format": "regmix"}, "mode": "pool"},
                                     "target": {"scale": "1B"}}}}
    for key, value in changes.items():
        *parents, leaf = key.split("__")
        node = suite
        for p in parents:
            node = node.setdefault(p, {})
        if value is None:
            node.pop(leaf)
        else:
            node[leaf] = value
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    return str(path)


@pytest.mark.parametrize("argv, expected", [
    (["--seeds", "0"], "--seeds 0: 0 is less than the minimum of 1"),
    (["--seeds", "-1"], "--seeds -1"),
    (["--jobs", "0"], "--jobs 0: 0 is less than the minimum of 1"),
    (["--quick"], "--quick: "),
])
def test_suite_flags_are_checked(tmp_path, capsys, argv, expected):
    out = tmp_path / "out"
    refused_by_cli(["suite", suite_file(tmp_path), "--out", str(out), *argv], capsys, expected)
    assert not out.exists()


@pytest.mark.parametrize("changes, expected", [
    ({"strategies__gp__name": "gp_ei"}, "suite key 'strategies.gp.name'"),
    ({"strategies__gp__options": {"bogus": 1}}, "suite key 'strategies.gp.options'"),
    ({"defaults__budget__initial_desing": 4}, "suite key 'defaults.budget'"),
    ({"defaults__budget__initial_design": 0}, "suite key 'defaults.budget.initial_design'"),
    ({"problems__regmix__budget": {"trials_per_iteration": 0}}, "suite key 'problems.regmix.budget.trials_per_iteration'"),
    ({"problems__regmix__backend": {"name": "train"}}, "a suite takes table back ends"),
    ({"problems__regmix__objective": {"type": "weighted", "weights": {"nope": 1.0}}},
     "suite key 'problems.regmix.objective.weights'"),
])
def test_suite_errors_name_suite_keys_and_write_nothing(tmp_path, capsys, changes, expected):
    out = tmp_path / "out"
    err = refused_by_cli(["suite", suite_file(tmp_path, **changes), "--out", str(out)], capsys, expected)
    assert "bench." not in err and "config key" not in err
    assert not out.exists()  # the synthetic problem's table, written before the bad problem was read, is gone


def test_suite_problem_epsilon_without_defaults(tmp_path):
    from mixopt.bench.problems import load_suite

    path = suite_file(tmp_path, problems__syn__epsilon=0.02, problems__syn__max_iterations=3,
                      defaults__max_iterations=None)
    suite = load_suite(path, out_dir=tmp_path / "out", base_dir=REPO)
    syn = next(p for p in suite.problems if p.name == "syn")
    assert (syn.settings.bench.epsilon, syn.settings.bench.max_iterations) == (0.02, 3)


# --- warm starts and bounds on a pool: the config check, before any job --------------------------


def check_refuses(tmp_path, config: dict, capsys, *expected: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    refused_by_cli(["check", str(path), "--base-dir", str(tmp_path)], capsys, *expected)
    assert not (tmp_path / "results").exists()


@pytest.fixture(scope="module")
def prior_table():
    """Six recorded RegMix runs at 1M, as a prior_runs table would hold them."""
    from mixopt.tables.loaders import load_regmix

    data = load_regmix().data
    return data[data["run_id"].isin(data.loc[data["scale"] == "1M", "run_id"].unique()[:6])]


def regmix_with_prior(tmp_path, frame) -> dict:
    config = yaml.safe_load(REGMIX.read_text())
    if frame is not None:
        frame.to_csv(tmp_path / "prior.csv", index=False) if hasattr(frame, "to_csv") else \
            (tmp_path / "prior.csv").write_text(frame)
    config["prior_runs"] = "prior.csv"
    return config


def test_a_good_prior_table_passes(tmp_path, capsys, prior_table):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(regmix_with_prior(tmp_path, prior_table)))
    assert main(["check", str(path), "--base-dir", str(tmp_path)]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("mutate, expected", [
    (lambda t: None, "prior.csv"),                                   # no file
    (lambda t: "", "the file is empty"),
    (lambda t: ",".join(t.columns) + "\n", "no rows"),
    (lambda t: t.drop(columns="w_pile_cc"), "pile_cc"),
    (lambda t: t[t["domain"] != "pile_cc"], "losses on ['pile_cc']"),
    (lambda t: t.assign(w_pile_cc=t["w_pile_cc"] + 0.5), "not on the simplex (sum 1.5"),
])
def test_a_bad_prior_table_is_refused_by_the_check(tmp_path, capsys, prior_table, mutate, expected):
    check_refuses(tmp_path, regmix_with_prior(tmp_path, mutate(prior_table)), capsys,
                  "config key 'prior_runs'", expected)


def test_bounds_that_no_pool_mixture_keeps_to(tmp_path, capsys):
    config = yaml.safe_load(REGMIX.read_text())
    config["constraints"] = {"bounds": {"pile_cc": [1.0, 1.0]}}
    check_refuses(tmp_path, config, capsys, "config key 'constraints.bounds'", "none of the 256 mixtures")


# --- locks: unlocking reads no config ------------------------------------------------------------


def test_unlock_removes_a_stale_lock_whatever_the_config_says(tmp_path, capsys):
    locks = tmp_path / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text("resources/corpora/books.jsonl\n")
    (locks / "0.output.lock").write_text("results/iter_0/proposals.csv\n")
    (tmp_path / "config.yaml").write_text("domains:\n  code: {paths: [moved/away/*.txt]}\n")  # no longer checks
    assert main(["unlock", str(tmp_path)]) == 0
    assert "its lock is removed" in capsys.readouterr().out
    assert not locks.exists() and (tmp_path / ".snakemake").is_dir()


def test_unlock_refuses_extra_arguments_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        main(["unlock", str(tmp_path), "--", "--configfile", "nope.yaml"])
    err = capsys.readouterr().err
    assert exit.value.code == 2 and "unrecognized arguments: --configfile nope.yaml" in err, err
    assert "Traceback" not in err


# --- a corpus bad deep inside: the shallow check passes, --deep and the job name file and line ----


def deep_corpus(tmp_path, bad: str) -> Path:
    """1.5 MB of JSON lines (past the check's 1 MiB sample of a file), broken at line 1400."""
    import gzip
    import json

    lines = [json.dumps({"text": f"document {i}: " + "lorem ipsum " * 80}) + "\n" for i in range(1500)]
    if bad == "truncated":
        path = tmp_path / "deep.jsonl.gz"
        data = gzip.compress("".join(lines).encode())
        path.write_bytes(data[: int(len(data) * 0.97)])
        return path
    lines[1399] = {"missing": '{"body": "no text field"}\n', "null": '{"text": null}\n',
                   "json": '{"text": oops}\n'}[bad]
    path = tmp_path / "deep.jsonl"
    path.write_text("".join(lines))
    return path


JOB_SCRIPT = """
import sys
from pathlib import Path
from mixopt.core.logs import log_to
from mixopt.data.documents import iter_documents
with log_to(sys.argv[2]):  # as every workflow script runs
    for _ in iter_documents([Path(sys.argv[1])]):
        pass
"""


@pytest.mark.parametrize("bad, expected", [
    ("missing", "deep.jsonl, line 1400: missing field 'text'"),
    ("null", "deep.jsonl, line 1400: field 'text' is NoneType, expected a string"),
    ("json", "deep.jsonl, line 1400, column 10: invalid JSON (Expecting value)"),
    ("truncated", "deep.jsonl.gz, after line "),
])
def test_a_corpus_bad_deep_inside(tmp_path, tiny_config, capsys, bad, expected):
    import subprocess
    import sys

    path = deep_corpus(tmp_path, bad)
    tiny_config["domains"]["docs"] = {"paths": [str(path)]}
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(tiny_config))
    assert main(["check", str(config), "--base-dir", str(tmp_path)]) == 0  # shallow: reads the first MiB
    capsys.readouterr()
    refused_by_cli(["check", str(config), "--base-dir", str(tmp_path), "--deep"], capsys,
                   "config key 'domains.docs.paths'", expected)
    # the job that reads the file: one line naming file and line, exit 1, the same line in its log
    job = subprocess.run([sys.executable, "-c", JOB_SCRIPT, str(path), str(tmp_path / "job.log")],
                         capture_output=True, text=True, timeout=120)
    assert job.returncode == 1 and job.stderr.count("\n") == 1 and expected in job.stderr, job.stderr
    assert "Traceback" not in job.stderr and expected in (tmp_path / "job.log").read_text()
