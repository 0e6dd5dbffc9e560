"""The configuration references in docs/ are what the schemas generate, and describe every key.

``python scripts/gen_config_reference.py`` writes docs/configuration.md from
schemas/config.schema.yaml and docs/suite-file.md from schemas/suite.schema.yaml.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
import gen_config_reference  # noqa: E402

REFERENCES = {r.page.name: r for r in gen_config_reference.REFERENCES}


@pytest.mark.parametrize("page", sorted(REFERENCES))
def test_committed_page_is_what_the_schema_generates(page):
    reference = REFERENCES[page]
    assert reference.page.read_text(encoding="utf-8") == gen_config_reference.render(reference), (
        f"docs/{page} is stale: run `python scripts/gen_config_reference.py`")


@pytest.mark.parametrize("page", sorted(REFERENCES))
def test_every_key_has_a_description(page):
    assert gen_config_reference.undescribed(REFERENCES[page]) == []


def test_a_key_shows_its_type_default_allowed_values_and_description():
    page = REFERENCES["configuration.md"].page.read_text(encoding="utf-8")
    row = next(line for line in page.splitlines() if line.startswith("| `training.precision` |"))
    assert row.split(" | ")[1:4] == ["string", "`auto`", "`auto`, `bf16`, `fp32`"]
    assert "bfloat16 autocast" in row
    scale = next(line for line in page.splitlines() if line.startswith("| `scales.<name>.layers` |"))
    assert "**Required.**" in scale and "≥ 1" in scale


def test_check_names_the_stale_page(tmp_path, monkeypatch, capsys):
    """`--check` writes nothing and names the page that differs (what CI or a pre-commit hook runs)."""
    stale = tmp_path / "configuration.md"
    stale.write_text("# an old page\n")
    reference = gen_config_reference.Reference(REFERENCES["configuration.md"].schema, stale, "t", "i")
    monkeypatch.setattr(gen_config_reference, "REFERENCES", (reference,))
    assert gen_config_reference.main(["--check"]) == 1
    assert stale.read_text() == "# an old page\n"
    assert f"{stale} differs from what schemas/config.schema.yaml generates" in capsys.readouterr().err
    assert gen_config_reference.main([]) == 0
    assert gen_config_reference.main(["--check"]) == 0


def test_the_command_runs_from_the_checkout():
    proc = subprocess.run([sys.executable, "scripts/gen_config_reference.py", "--check"], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
