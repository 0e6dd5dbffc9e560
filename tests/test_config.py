"""Bad configuration gets one clear error naming the key and the value, before any job runs."""

from __future__ import annotations

import copy

import pytest
import yaml

from mixopt.config import ConfigError, check_config, load_config, with_defaults


def check(config: dict, tmp_path) -> None:
    check_config(with_defaults(config), base_dir=tmp_path)


def test_valid_config_gets_defaults(tiny_config, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(tiny_config))
    config = load_config(path)
    assert config["training"]["warmup_fraction"] == 0.1
    assert config["corpora"]["max_bytes"] == 6_000_000
    assert config["training"]["checkpoints"] == 2  # given values are kept


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda c: c["budget"].update(iterations=-1), ["budget.iterations", "-1"]),
        (lambda c: c["budget"].update(trials_per_iteration=0), ["budget.trials_per_iteration", "0"]),
        (lambda c: c.update(objective={"type": "weighted", "weights": {"code": 0.5, "docs": 0.4}}),
         ["objective.weights", "sum to 1", "0.9"]),
        (lambda c: c.update(objective={"type": "weighted", "weights": {"code": 0.5, "web": 0.5}}),
         ["objective.weights", "unknown domain", "web"]),
        (lambda c: c.update(objective={"type": "weighted", "weights": {"code": -0.5, "docs": 1.5}}),
         ["objective.weights.code", "-0.5"]),
        (lambda c: c["strategy"].update(name="fixed", options={"mixture": {"code": 0.7, "docs": 0.7, "prose": 0.1}}),
         ["strategy.options", "sum to 1"]),
        (lambda c: c["strategy"].update(name="fixed", options={"mixture": {"code": 0.5, "docs": 0.5, "web": 0.0}}),
         ["strategy.options", "web"]),
        (lambda c: c["strategy"].update(name="annealing"), ["strategy.name", "annealing"]),
        (lambda c: c["strategy"].update(options={"raw_sample": 3}), ["strategy.options", "raw_sample"]),
        (lambda c: c.update(strategy={"name": "mfms", "options": {"scales": ["nano", "pico"]}}),
         ["strategy.options.scales", "pico"]),
        (lambda c: c.update(strategy={"name": "mfms", "options": {"mixture_kernel": "cosine"}}),
         ["strategy.options", "mixture_kernel", "cosine"]),
        (lambda c: c.update(strategy={"name": "hyperband", "options": {"eta": 1}}), ["strategy.options", "eta"]),
        (lambda c: c["target"].update(scale="huge"), ["target.scale", "huge"]),
        (lambda c: c["target"].update(tokens=10), ["target.tokens", "10"]),
        (lambda c: c["scales"]["nano"].update(heads=3), ["scales.nano.heads", "3"]),
        (lambda c: c["domains"]["code"].update(builtin="poetry"), ["domains.code", "builtin"]),
        (lambda c: c["domains"].update(web={"builtin": "encyclopedia"}), ["domains.web.builtin", "encyclopedia"]),
        (lambda c: c.update(trainig={}), ["trainig"]),
        (lambda c: c["domains"].pop("docs") and c["domains"].pop("prose"), ["domains", "code"]),
    ],
)
def test_bad_value_names_key(tiny_config, tmp_path, edit, expected):
    config = copy.deepcopy(tiny_config)
    edit(config)
    with pytest.raises(ConfigError) as info:
        check(config, tmp_path)
    for text in expected:
        assert text in str(info.value), f"{text!r} not in {info.value}"


def test_missing_corpus_files(tiny_config, tmp_path):
    config = copy.deepcopy(tiny_config)
    config["domains"]["code"]["paths"] = [str(tmp_path / "nowhere" / "*.txt")]
    with pytest.raises(ConfigError, match=r"domains\.code\.paths.*nowhere"):
        check(config, tmp_path)


def test_empty_corpus_file(tiny_config, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    config = copy.deepcopy(tiny_config)
    config["domains"]["code"]["paths"] = [str(empty)]
    with pytest.raises(ConfigError, match=r"domains\.code\.paths.*empty\.txt"):
        check(config, tmp_path)


def test_builtin_sources_not_fetched(tiny_config, tmp_path):
    config = copy.deepcopy(tiny_config)
    config["domains"]["books"] = {"builtin": "books"}
    config["corpora"] = {"sources": str(tmp_path / "no-sources")}
    with pytest.raises(ConfigError, match=r"domains\.books\.builtin.*mixopt-fetch-corpora"):
        check(config, tmp_path)
