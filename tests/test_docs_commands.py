"""Every command that README.md and docs/*.md show a user runs.

Each fenced shell block (``bash``, ``sh``, ``shell``, ``console`` or no language) is read with a
Markdown parser; every ``snakemake ...``, ``mixopt ...`` and ``python benchmarks/...`` command in
it (also after ``&&``, across ``\\`` continuations, without its ``# comment``) is run, in a copy of
the project (links to its files) so that nothing lands in the checkout:

* ``snakemake ...`` as a dry run (``--dry-run`` added); ``--unlock`` as it is; ``--report`` in a
  finished run (the RegMix loop of ``conftest.report_run``), and ``--forcerun`` as a dry run there;
* ``mixopt check``, ``mixopt unlock`` as they are (a directory ``unlock`` names is made, empty); ``mixopt status`` in the finished run;
  ``mixopt bench``, ``predict`` and ``suite`` as tiny runs (one seed, one strategy or predictor,
  one problem of the suite's quick subset) written outside the project;
* ``python benchmarks/X.py ...`` in its smoke mode (``--smoke``, seconds) where the script has one,
  else with ``--help``.

A failure names the file and line of the command.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from markdown_it import MarkdownIt

from conftest import REPO

DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
SHELL_LANGUAGES = {"", "bash", "sh", "shell", "console"}
SEPARATORS = {"&&", "||", ";", "|"}
#: flags that turn a slow documented command into a tiny run of the same code
TINY_RUN = {
    "bench": ["--seeds", "1", "--jobs", "1", "--strategies", "random"],
    "predict": ["--predictors", "regmix_linear"],
    "suite": ["--quick", "--seeds", "1", "--jobs", "1", "--problems", "synthetic_transfer"],
}
#: project entries a run never needs from the checkout (what a run writes, or git's own)
NOT_LINKED = {".git", ".snakemake", "results", "report.html", ".pytest_cache"}


@dataclass(frozen=True)
class Command:
    """One documented command: where it is written and its words."""

    file: Path
    line: int
    argv: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.file.relative_to(REPO)}:{self.line}: {shlex.join(self.argv)}"


def _split_commands(text: str) -> list[list[str]]:
    """The simple commands of one shell line: words, split at ``&&``, ``;``, ``|``, comments gone."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for word in lexer:
        if word in SEPARATORS:
            commands.append([])
        else:
            commands[-1].append(word)
    return [c for c in commands if c]


def _is_documented_program(argv: list[str]) -> bool:
    if argv[0] in ("snakemake", "mixopt"):
        return True
    return argv[0] in ("python", "python3") and len(argv) > 1 and argv[1].startswith("benchmarks/")


def documented_commands(path: Path) -> list[Command]:
    """The ``snakemake``, ``mixopt`` and ``python benchmarks/...`` commands of ``path``'s shell blocks."""
    found = []
    for token in MarkdownIt("commonmark").parse(path.read_text(encoding="utf-8")):
        language = token.info.split()[0] if token.info.strip() else ""
        if token.type != "fence" or language not in SHELL_LANGUAGES:
            continue
        first_line = token.map[0] + 2  # 1-based line of the block's first content line
        pending, pending_line = "", 0
        for offset, line in enumerate(token.content.splitlines()):
            line = line.removeprefix("$ ")
            if not pending:
                pending_line = first_line + offset
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            text, pending = pending + line, ""
            try:
                commands = _split_commands(text)
            except ValueError as e:  # console output in a plain block, e.g. an unclosed quote
                if text.split() and _is_documented_program(text.split()):
                    raise ValueError(f"{path.relative_to(REPO)}:{pending_line}: cannot read {text!r}: {e}") from e
                continue
            found += [Command(path, pending_line, tuple(argv)) for argv in commands if _is_documented_program(argv)]
    return found


COMMANDS = [c for doc in DOCUMENTS for c in documented_commands(doc)]


def test_commands_are_found_in_shell_blocks_only(tmp_path):
    """The extractor: shell blocks only, ``&&`` and continuations split and joined, comments gone,
    the line of each command counted from the top of the file."""
    page = tmp_path / "page.md"
    page.write_text(
        "# A page\n"
        "\n"
        "```bash\n"
        "source .venv/bin/activate\n"
        "snakemake --cores 2      # or: snakemake --profile profiles/local\n"
        "mixopt unlock && snakemake --profile profiles/local\n"
        "python benchmarks/startup.py \\\n"
        "    --repeats 1\n"
        "```\n"
        "\n"
        "```yaml\n"
        "mixopt: {not: a command}\n"
        "```\n"
        "\n"
        "```\n"
        "mixopt: trial FAILED: iteration 1 (console output, not a command)\n"
        "$ mixopt status\n"
        "```\n"
    )
    found = [(c.line, c.argv) for c in documented_commands(page)]
    assert found == [
        (5, ("snakemake", "--cores", "2")),
        (6, ("mixopt", "unlock")),
        (6, ("snakemake", "--profile", "profiles/local")),
        (7, ("python", "benchmarks/startup.py", "--repeats", "1")),
        (17, ("mixopt", "status")),
    ]


def _link_project(dest: Path) -> Path:
    """``dest`` as a copy of the project made of links to the checkout's files, beside a link to
    the checkout's sibling ``shared/`` (configs name tables under ``../shared``)."""
    dest.mkdir(parents=True, exist_ok=True)
    for entry in REPO.iterdir():
        if entry.name not in NOT_LINKED and not (dest / entry.name).exists():
            (dest / entry.name).symlink_to(entry)
    shared = REPO.parent / "shared"
    if shared.is_dir() and not (dest.parent / "shared").exists():
        (dest.parent / "shared").symlink_to(shared)
    return dest


@pytest.fixture(scope="module")
def finished_run(report_run, tmp_path_factory) -> Path:
    """A project directory holding a finished loop: conftest's RegMix run, copied."""
    root = tmp_path_factory.mktemp("finished")
    project = root / "project"
    project.mkdir()
    for name in ("config.yaml", "results", ".snakemake"):
        source = report_run / name
        if source.is_dir():
            shutil.copytree(source, project / name, symlinks=True)
        elif source.exists():
            shutil.copy2(source, project / name)
    return _link_project(project)


def _has_smoke_mode(script: Path) -> bool:
    return "--smoke" in script.read_text(encoding="utf-8")


def _without_option(argv: list[str], option: str) -> list[str]:
    """``argv`` less ``option`` and its value."""
    out, skip = [], False
    for word in argv:
        if skip:
            skip = False
        elif word == option:
            skip = True
        elif not word.startswith(option + "="):
            out.append(word)
    return out


def how_to_check(command: Command, out: Path) -> tuple[list[str], bool]:
    """The argv that checks ``command`` without its full cost, and whether it needs a finished run."""
    program, *args = command.argv
    if program == "snakemake":
        run = [sys.executable, "-m", "snakemake", *args]
        if "--report" in args:
            return run, True
        if "--forcerun" in args or "-R" in args:  # reruns part of a finished run: dry-run it in one
            return [*run, "--dry-run"], True
        return (run if "--unlock" in args else [*run, "--dry-run"]), False
    if program == "mixopt":
        run = [sys.executable, "-m", "mixopt.cli", *args]
        subcommand = args[0] if args else ""
        if subcommand == "status":
            return run, True
        if subcommand in TINY_RUN:
            return [*_without_option(run, "--out"), *TINY_RUN[subcommand], "--out", str(out)], False
        return run, False
    script = REPO / args[0]
    if _has_smoke_mode(script):
        return [sys.executable, *_without_option(args, "--markdown"), "--smoke",
                "--markdown", str(out / "table.md")], False
    return [sys.executable, args[0], "--help"], False


#: outcome of each distinct check: the README and the docs show many commands twice
_CHECKED: dict[tuple[tuple[str, ...], bool], subprocess.CompletedProcess | None] = {}


def _needs_absent_shared_tables(command: Command) -> bool:
    """Whether ``command`` runs a config whose run table lies under ``../shared/benchmarks``
    (configs/mixinglaws.yaml), on a checkout without it: the project passes without that folder."""
    if (REPO.parent / "shared" / "benchmarks").is_dir():
        return False
    configs = [yaml.safe_load((REPO / word).read_text(encoding="utf-8")) for word in command.argv
               if word.endswith(".yaml") and (REPO / word).is_file()]
    # a suite file skips such problems itself, with the reason; a config's table is its backend's
    return any(str(((c or {}).get("backend") or {}).get("table", {}).get("path", "")).startswith("../shared/")
               for c in configs)


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_documented_command_runs(command: Command, tmp_path, request):
    if _needs_absent_shared_tables(command):
        pytest.skip(f"{command}: its run table is under ../shared/benchmarks, absent here")
    argv, needs_finished_run = how_to_check(command, tmp_path / "out")
    key = (command.argv, needs_finished_run)
    if key not in _CHECKED:
        cwd = request.getfixturevalue("finished_run") if needs_finished_run else _link_project(tmp_path / "project")
        if command.argv[:2] == ("mixopt", "unlock") and len(command.argv) > 2:  # "another project directory"
            (cwd / command.argv[2]).mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
               "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
               "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
        try:
            _CHECKED[key] = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            _CHECKED[key] = None
    proc = _CHECKED[key]
    if proc is None:
        pytest.fail(f"{command}\n  did not finish in 900 s, checked as: {shlex.join(argv)}")
    if proc.returncode != 0:
        pytest.fail(f"{command}\n  exit {proc.returncode}, checked as: {shlex.join(argv)}\n"
                    f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
