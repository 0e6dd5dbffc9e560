"""Typed settings: the sections a Snakemake rule passes its script, as plain data and back."""

from __future__ import annotations

import pickle
import re
from dataclasses import fields

import pytest
import yaml

from conftest import REPO
from mixopt.settings import SectionNotPassed, Settings, with_defaults

SECTIONS = [f.name for f in fields(Settings)]
#: what Snakemake fingerprints (snakemake.persistence: a param of another type is skipped)
PLAIN = (dict, list, tuple, str, int, float, bool, type(None))


def _settings(config: dict) -> Settings:
    return Settings.from_config(with_defaults(config))


def _plain(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return isinstance(value, PLAIN)


@pytest.fixture(params=["tiny", "regmix"])
def settings(request, tiny_config) -> Settings:
    if request.param == "tiny":
        config = tiny_config | {"constraints": {"bounds": {"code": [0.1, 0.8]}},
                                "reference": {"code": 0.5, "docs": 0.25, "prose": 0.25}}
        return _settings(config)
    return _settings(yaml.safe_load((REPO / "configs" / "regmix.yaml").read_text()))


def test_every_section_is_plain_data_and_types_back_to_the_same_settings(settings):
    plain = settings.sections(*SECTIONS)
    assert _plain(plain), plain
    assert Settings.from_sections(plain) == settings


def test_a_section_not_passed_raises_when_read(settings):
    partial = Settings.from_sections(settings.sections("objective", "target"))
    assert partial.objective == settings.objective and partial.passed("target") and not partial.passed("seed")
    with pytest.raises(SectionNotPassed, match="'training' is not passed"):
        partial.training  # noqa: B018
    again = pickle.loads(pickle.dumps(partial))  # the bench's worker processes get it pickled
    assert not again.passed("training") and again.target == settings.target


def test_an_unknown_section_is_refused(settings):
    with pytest.raises(ValueError, match="not settings sections"):
        settings.sections("trainig")


def test_rules_pass_no_typed_settings():
    """Snakemake skips a param it cannot fingerprint: a rule passes plain sections (`sections(...)`)
    or plain values, never SETTINGS or one of its typed sections."""
    sections = [s for s in SECTIONS if s not in ("seed", "reference", "prior_runs")]  # those are plain already
    typed = re.compile(r"=\s*SETTINGS(\.(" + "|".join(sections) + r"))?\s*,\s*$", re.M)
    for path in sorted((REPO / "rules").glob("*.smk")):
        text = path.read_text()
        assert not typed.search(text), f"{path.name}: {typed.search(text).group(0)}"
        assert "watched(" not in text, path.name
