"""The config fuzzer: configs and suite files generated from the schemas, and valid ones mutated
as users get them wrong (tests/config_mutations.py). ``mixopt check`` and the suite loader must
accept each or refuse it with one ``ConfigError`` line, exit 2 and nothing written; never a
traceback. A bounded run here (``MIXOPT_FUZZ_EXAMPLES``, default 10 per property); a long one:
``python benchmarks/fuzz_config.py``."""

from __future__ import annotations

import os

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config_mutations import check_failure, from_schema, mutated, suite_failure
from conftest import REPO

EXAMPLES = int(os.environ.get("MIXOPT_FUZZ_EXAMPLES", "10"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.filter_too_much, HealthCheck.data_too_large])


def valid_configs(corpora: dict[str, list[str]]) -> list[dict]:
    """Configs `mixopt check` accepts: the bundled table configs and a small train config."""
    configs = [yaml.safe_load((REPO / "configs" / name).read_text()) for name in ("regmix.yaml", "constraints.yaml")]
    configs.append({
        "seed": 0,
        "domains": {"code": {"paths": corpora["code"]}, "docs": {"paths": corpora["docs"]},
                    "prose": {"paths": corpora["prose"], "text_field": "body"}},
        "tokenizer": {"vocab_size": 320},
        "scales": {"nano": {"layers": 1, "width": 32, "heads": 2, "context": 32, "batch": 4, "lr": 0.01}},
        "target": {"scale": "nano", "tokens": 4 * 32 * 16},
        "training": {"eval_tokens": 512},
        "objective": {"type": "weighted", "weights": {"code": 0.5, "docs": 0.5}},
        "strategy": {"name": "gp", "options": {"raw_samples": 32}},
        "constraints": {"bounds": {"code": [0.1, 0.6]}},
        "budget": {"iterations": 2, "initial_design": 3, "trials_per_iteration": 2},
    })
    return configs


VALID_SUITES = [{
    "seeds": 2, "jobs": 1, "relative_epsilon": 0.1,
    "defaults": {"budget": {"initial_design": 4, "trials_per_iteration": 2}, "epsilon": 0.01, "max_iterations": 5},
    "quick": {"seeds": 1, "problems": ["syn"], "strategies": ["random"]},
    "strategies": {"random": {"name": "random"}, "gp_proxy": {"name": "gp", "each_proxy": True}},
    "problems": {
        "syn": {"synthetic": {"kind": "near_ties", "seed": 1}, "target": {"scale": "1B"}, "epsilon": 0.02},
        "regmix": {"backend": {"name": "table", "table": {"format": "regmix"}, "mode": "pool"},
                   "target": {"scale": "1B"}, "objective": {"type": "weighted", "weights": {"pile_cc": 1.0}}},
    },
}]


def test_the_valid_configs_pass(text_corpora):
    for config in valid_configs(text_corpora):
        assert check_failure(config, REPO) == ("accepted", None)
    for suite in VALID_SUITES:
        assert suite_failure(suite, REPO) == ("accepted", None)


@pytest.fixture(scope="module")
def configs(text_corpora):
    return valid_configs(text_corpora)


@FUZZ
@given(data=st.data())
def test_mutated_configs_are_accepted_or_refused_in_one_line(configs, data):
    outcome, failure = check_failure(data.draw(mutated(configs)), REPO)
    assert failure is None, failure


@FUZZ
@given(config=from_schema(yaml.safe_load((REPO / "schemas" / "config.schema.yaml").read_text())))
def test_configs_from_the_schema_are_accepted_or_refused_in_one_line(config):
    outcome, failure = check_failure(config, REPO)
    assert failure is None, failure


@FUZZ
@given(suite=mutated(VALID_SUITES) | from_schema(yaml.safe_load((REPO / "schemas" / "suite.schema.yaml").read_text())))
def test_suite_files_are_accepted_or_refused_in_one_line(suite):
    outcome, failure = suite_failure(suite, REPO)
    assert failure is None, failure
