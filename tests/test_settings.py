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


# -- the schema is the one declaration of the keys ------------------------------------------------


def _sections() -> list[type]:
    import mixopt.settings as module

    return [c for c in vars(module).values() if isinstance(c, type) and hasattr(c, "schema_key")]


def test_each_section_has_exactly_the_keys_of_its_schema_section():
    from mixopt.settings import _schema_section

    for cls in _sections():
        assert {f.name for f in fields(cls)} == set(_schema_section(cls.schema_key)["properties"]), cls.__name__


def test_a_field_the_schema_does_not_declare_is_an_error():
    from dataclasses import dataclass

    from mixopt.settings import _Section

    @dataclass(frozen=True)
    class Training(_Section):
        schema_key = "training"
        checkpoints: int
        warmup_steps: int | None  # not a key of the schema's training section

    with pytest.raises(TypeError, match=r"\['warmup_steps'\] are not keys of the schema's 'training'"):
        Training.from_dict({"checkpoints": 2})


def test_a_key_the_schema_fills_in_is_not_read_as_none():
    from mixopt.settings import TrainingSettings, section_defaults

    training = section_defaults("training")
    assert TrainingSettings.from_dict(training).eval_tokens == training["eval_tokens"]
    del training["eval_tokens"]
    with pytest.raises(ValueError, match="eval_tokens"):
        TrainingSettings.from_dict(training)


def test_a_run_spec_holds_the_training_settings_not_a_copy_of_their_fields():
    from mixopt.settings import TrainingSettings
    from mixopt.training.spec import TrainSpec

    assert {f.name for f in fields(TrainSpec)} & {f.name for f in fields(TrainingSettings)} == set()
