"""``mixopt status``: one screen on a running or finished loop, read from the plain files it writes.

Only the files under ``results/`` and the config are read (proposals.csv, metrics.json, the trial
logs, best_mixture.yaml), never Snakemake's state, so it answers while the loop runs and after it
stopped. Light imports only (no torch): a person runs it often.

A trial of a proposed iteration is ``ok`` or ``failed`` once its metrics.json exists, ``running``
while only its log does (``train.log`` of the train back end, ``trial.log`` of the table back end;
the last progress line of :mod:`mixopt.core.progress` gives its step and ETA), else ``pending``.
A trial whose job was killed also reads ``running``: the age of its log tells it apart.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
import yaml

from mixopt.core.errors import ConfigError
from mixopt.core.observations import at_fidelity, build_table, read_metrics, trial_costs
from mixopt.core.problem import Fidelity, Problem
from mixopt.core.progress import Progress, format_duration, last_progress
from mixopt.settings import Settings, read_yaml, with_defaults

__all__ = ["BestTrial", "IterationStatus", "LoopStatus", "TrialStatus", "format_status", "loop_status"]

#: a trial's log, per back end (train, table)
TRIAL_LOGS = ("train.log", "trial.log")
#: failed trials listed one by one before the rest are counted
MAX_FAILED_LINES = 10
#: characters of a failed trial's error shown on its line
MAX_ERROR_CHARS = 100
#: domains of a mixture shown on one line (the heaviest first)
MAX_MIXTURE_DOMAINS = 5


@dataclass(frozen=True)
class TrialStatus:
    """One proposed trial.

    Attributes:
        state: ``ok``, ``failed``, ``running`` or ``pending``.
        scale, steps: the proposed fidelity.
        error: why a failed trial failed (its metrics.json ``error``).
        progress: the last progress line of a running trial's log (``None``: none logged yet).
        log_age_s: seconds since a running trial's log last changed.
    """

    iteration: int
    trial: int
    state: str
    scale: str | None = None
    steps: int | None = None
    error: str | None = None
    progress: Progress | None = None
    log_age_s: float | None = None


@dataclass(frozen=True)
class IterationStatus:
    """One iteration: ``done`` (every trial finished), ``in progress`` (proposed, not done) or
    ``pending`` (not proposed yet, ``trials`` empty)."""

    iteration: int
    state: str
    trials: tuple[TrialStatus, ...] = ()


@dataclass(frozen=True)
class BestTrial:
    """The finished trial with the lowest objective at the target."""

    iteration: int
    trial: int
    objective: float
    mixture: dict[str, float]


@dataclass(frozen=True)
class LoopStatus:
    """What :func:`loop_status` found in a project directory.

    Attributes:
        project_dir: the directory holding ``results/``.
        has_results: ``False`` when ``results/`` is missing (nothing else is filled in then).
        planned_iterations: ``budget.iterations`` of the config (``None``: no readable config).
        target_scale: the scale recommendations are for (``None``: no config, no recommendation).
        target: that scale and the steps of its full run (``None``: not known, e.g. nothing ran there).
        iterations: every planned iteration and any other found on disk, in order.
        flops: training FLOPs of the finished trials (each to its last completed checkpoint).
        best: the best finished trial at the target (``None``: none yet, or no objective known).
        recommendation: best_mixture.yaml as read (``None``: not written yet).
        notes: anything that could not be read, one line each.
    """

    project_dir: Path
    has_results: bool
    planned_iterations: int | None = None
    target_scale: str | None = None
    target: Fidelity | None = None
    iterations: tuple[IterationStatus, ...] = ()
    flops: float = 0.0
    best: BestTrial | None = None
    recommendation: dict[str, Any] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def trials(self) -> list[TrialStatus]:
        """Every proposed trial, in run order."""
        return [t for it in self.iterations for t in it.trials]

    def count(self, state: str) -> int:
        """How many proposed trials are in ``state``."""
        return sum(t.state == state for t in self.trials)


def loop_status(project_dir: Path, config_path: Path | None = None) -> LoopStatus:
    """The state of the loop in ``project_dir`` (the directory holding ``results/``).

    Args:
        project_dir: where Snakemake ran the loop.
        config_path: the config it ran with (default ``project_dir/config.yaml``); without a
            readable one, the planned iterations, the target and the objective are unknown and
            only what is on disk is reported.

    Raises:
        FileNotFoundError: ``project_dir`` is not a directory.
    """
    project_dir = Path(project_dir)
    if not project_dir.is_dir():
        raise FileNotFoundError(f"{project_dir} is not a directory")
    results = project_dir / "results"
    if not results.is_dir():
        return LoopStatus(project_dir, has_results=False)

    notes: list[str] = []
    settings = _read_settings(config_path or project_dir / "config.yaml", notes)
    recommendation = _read_recommendation(results / "best_mixture.yaml", notes)
    planned = settings.budget.iterations if settings else None
    on_disk = [int(m[1]) for p in results.glob("iter_*") if (m := re.fullmatch(r"iter_(\d+)", p.name))]
    numbers = range(max([planned or 0, *(i + 1 for i in on_disk)]))

    iterations, finished = [], []
    for i in numbers:
        trials, metrics = _iteration_trials(results / f"iter_{i}", i, notes)
        finished += metrics
        if not (results / f"iter_{i}" / "proposals.csv").is_file():
            iterations.append(IterationStatus(i, "pending"))
        else:
            done = bool(trials) and all(t.state in ("ok", "failed") for t in trials)  # unreadable: not done
            iterations.append(IterationStatus(i, "done" if done else "in progress", tuple(trials)))

    target_scale = settings.target.scale if settings else ((recommendation or {}).get("target") or {}).get("scale")
    target = _target(target_scale, settings, recommendation, [t for it in iterations for t in it.trials])
    table = build_table(finished, _problem(finished, settings, target))
    return LoopStatus(
        project_dir=project_dir,
        has_results=True,
        planned_iterations=planned,
        target_scale=target_scale,
        target=target,
        iterations=tuple(iterations),
        flops=float(trial_costs(table)["flops"].sum()) if len(table) else 0.0,
        best=_best(table, target) if settings is not None and target is not None else None,
        recommendation=recommendation,
        notes=tuple(notes),
    )


def format_status(status: LoopStatus) -> str:
    """``status`` as one screen of plain text (no trailing newline)."""
    where = status.project_dir
    if not status.has_results:
        return f"no loop has run in {where}: results/ is missing"
    if not status.trials and all(it.state == "pending" for it in status.iterations):  # unreadable ones: below
        return f"no iteration proposed yet in {where}: results/ holds no iter_*/proposals.csv"

    by_state = {s: [it.iteration for it in status.iterations if it.state == s]
                for s in ("done", "in progress", "pending")}
    finished = (status.planned_iterations is not None and len(by_state["done"]) >= status.planned_iterations
                and status.recommendation is not None)
    target = (f"target {status.target.scale}, {status.target.steps} steps" if status.target
              else f"target {status.target_scale or 'unknown'}")
    lines = [f"mixopt status of {where}: {'finished' if finished else 'not finished'} ({target})"]
    planned = status.planned_iterations if status.planned_iterations is not None else "?"
    lines.append(f"iterations: {len(by_state['done'])}/{planned} done"
                 f"; in progress: {_ranges(by_state['in progress']) or 'none'}"
                 f"; pending: {_ranges(by_state['pending']) or 'none'}")

    trials = status.trials
    counts = {s: status.count(s) for s in ("ok", "failed", "running", "pending")}
    lines.append(f"trials: {counts['ok']} ok, {counts['failed']} failed, {counts['running']} running, "
                 f"{counts['pending']} pending (of {len(trials)} proposed)")
    failed = [t for t in trials if t.state == "failed"]
    for t in failed[:MAX_FAILED_LINES]:
        lines.append(f"  failed  iter {t.iteration} trial {t.trial}: {_one_line(t.error or 'no error recorded')}")
    if len(failed) > MAX_FAILED_LINES:
        lines.append(f"  ... and {len(failed) - MAX_FAILED_LINES} more failed")
    for t in trials:
        if t.state == "running":
            lines.append(f"  running iter {t.iteration} trial {t.trial} ({t.scale}, {t.steps} steps): "
                         f"{_running(t)}")
    pending = [t for t in trials if t.state == "pending"]
    for i in sorted({t.iteration for t in pending}):
        lines.append(f"  pending iter {i}: trials {_ranges([t.trial for t in pending if t.iteration == i])}")

    n_finished = counts["ok"] + counts["failed"]
    lines.append(f"compute: {_flops(status.flops)} FLOPs over {n_finished} finished trials")
    if status.best is not None:
        best = status.best
        lines.append(f"best at target: {best.objective:.4f} (iter {best.iteration} trial {best.trial})")
        lines.append(f"  mixture {_mixture(best.mixture)}")
    elif status.planned_iterations is None:  # no config: no objective to rank the trials by
        lines.append("best at target: unknown without the config")
    else:
        lines.append("best at target: none yet")
    lines.append(f"recommendation: {_recommendation(status.recommendation)}")
    lines += [f"note: {note}" for note in status.notes]
    return "\n".join(lines)


# --- reading


def _read_settings(path: Path, notes: list[str]) -> Settings | None:
    """The typed settings of the loop's config, or ``None`` (with a note) when there is none."""
    if not path.is_file():
        notes.append(f"no config at {path}: planned iterations, target and objective unknown")
        return None
    try:
        return Settings.from_config(with_defaults(read_yaml(path)))
    except ConfigError as e:
        notes.append(f"{path}: {e}")
        return None


def _read_recommendation(path: Path, notes: list[str]) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        report = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        notes.append(f"{path} is not valid YAML: {_one_line(str(e))}")
        return None
    return report if isinstance(report, dict) else None


def _iteration_trials(folder: Path, iteration: int, notes: list[str]) -> tuple[list[TrialStatus], list[dict]]:
    """The trials proposed in ``folder``'s proposals.csv and the metrics of the finished ones."""
    proposals = folder / "proposals.csv"
    if not proposals.is_file():
        return [], []
    try:
        rows = pd.read_csv(proposals)
        lacking = [c for c in ("trial", "scale", "steps") if c not in rows.columns]
        if lacking:
            raise ValueError(f"no column(s) {lacking}")
        rows = rows.astype({"trial": int, "steps": int})
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as e:  # EmptyDataError: a ValueError
        notes.append(f"{proposals}: unreadable ({_one_line(str(e))})")
        return [], []
    trials, metrics = [], []
    for row in rows.itertuples():
        where = {"iteration": iteration, "trial": int(row.trial), "scale": str(row.scale), "steps": int(row.steps)}
        trial_dir = folder / f"trial_{row.trial}"
        record = _read_trial_metrics(trial_dir / "metrics.json", iteration, int(row.trial))
        if record is not None and record.get("status") in ("ok", "failed"):
            metrics.append(record)
            trials.append(TrialStatus(**where, state=record["status"], error=record.get("error")))
            continue
        log = next((trial_dir / name for name in TRIAL_LOGS if (trial_dir / name).is_file()), None)
        if log is None:
            trials.append(TrialStatus(**where, state="pending"))
        else:
            trials.append(TrialStatus(**where, state="running", progress=last_progress(log.read_text(errors="replace")),
                                      log_age_s=max(0.0, time.time() - log.stat().st_mtime)))
    return trials, metrics


def _read_trial_metrics(path: Path, iteration: int, trial: int) -> dict | None:
    """A trial's metrics record, its ids from where it lies; an unreadable one reads as failed."""
    if not path.is_file():
        return None
    try:
        record = read_metrics(path)
    except (OSError, ValueError) as e:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        return {"status": "failed", "error": f"metrics.json unreadable: {e}"}
    malformed = _malformed(record)
    if malformed:
        return {"status": "failed", "error": f"metrics.json malformed: {malformed}"}
    return {**record, "iteration": iteration, "trial": trial}


def _malformed(record: Any) -> str | None:
    """What keeps a metrics record from being read as a trial's result, or ``None``: a mapping
    whose status is ok or failed, and, when ok, a mixture and checkpoints with losses."""
    if not isinstance(record, dict):
        return f"a {type(record).__name__}, not a mapping"
    if record.get("status") not in ("ok", "failed"):
        return f"status {record.get('status')!r} is neither 'ok' nor 'failed'"
    if record["status"] == "failed":
        return None
    checkpoints = record.get("checkpoints")
    if not isinstance(record.get("mixture"), dict) or not record["mixture"]:
        return "status ok without a mixture"
    if not isinstance(checkpoints, list) or not checkpoints or not all(
            isinstance(c, dict) and isinstance(c.get("losses"), dict) and c["losses"] for c in checkpoints):
        return "status ok without checkpoints holding losses"
    return None


def _target(scale: str | None, settings: Settings | None, recommendation: Mapping | None,
            trials: Iterable[TrialStatus]) -> Fidelity | None:
    """The target ``scale`` and the steps of its full run: as best_mixture.yaml states them, else
    as the train back end computes them from the config, else (a table back end) the longest run
    proposed at that scale, which is the full run for every strategy that trains it."""
    if scale is None:
        return None
    recorded = (recommendation or {}).get("target") or {}
    if recorded.get("scale") == scale and recorded.get("steps"):
        return Fidelity(scale, int(recorded["steps"]))
    if settings is not None and settings.backend.name == "train":
        return Fidelity(scale, settings.target_steps)
    steps = [t.steps for t in trials if t.scale == scale and t.steps is not None]
    return Fidelity(scale, max(steps)) if steps else None


def _problem(metrics: list[dict], settings: Settings | None, target: Fidelity | None) -> Problem:
    """The problem as far as the metrics and the config tell it, to build the observations table
    with the loop's own :func:`~mixopt.core.observations.build_table`: the domains of the
    mixtures, the evaluation domains of the losses, the objective of the config."""
    domains = _ordered_keys(m.get("mixture") or {} for m in metrics)
    eval_domains = _ordered_keys(c.get("losses") or {} for m in metrics for c in m.get("checkpoints") or []) or domains
    if settings is not None and eval_domains:
        weights = settings.objective.weights_for(eval_domains)
        objective_weights = np.array([weights[d] for d in eval_domains], dtype=float)
    else:  # no config, no objective: NaN weights keep the table's columns and leave objective empty
        objective_weights = np.full(len(eval_domains), np.nan)
    return Problem(tuple(domains), objective_weights, target or Fidelity("unknown", 0), tuple(eval_domains))


def _ordered_keys(mappings: Iterable[Mapping]) -> list[str]:
    """The keys of ``mappings``, each once, in the order first seen."""
    return list(dict.fromkeys(key for mapping in mappings for key in mapping))


def _best(table: pd.DataFrame, target: Fidelity) -> BestTrial | None:
    at_target = at_fidelity(table, target) if len(table) else table
    if not len(at_target):
        return None
    row = at_target.loc[pd.to_numeric(at_target["objective"]).idxmin()]
    weights = {c[len("w_"):]: float(row[c]) for c in table.columns if c.startswith("w_")}
    return BestTrial(int(row["iteration"]), int(row["trial"]), float(row["objective"]), weights)


# --- formatting


def _running(trial: TrialStatus) -> str:
    age = f"log updated {format_duration(trial.log_age_s)} ago" if trial.log_age_s is not None else ""
    if trial.progress is None:
        return f"no progress line yet, {age}"
    p = trial.progress
    return f"step {p.step}/{p.steps}, eta {format_duration(p.eta_s)}, {age}"


def _recommendation(report: Mapping | None) -> str:
    if report is None:
        return "none yet"
    objective = report.get("objective") or {}
    value, std = objective.get("value"), objective.get("std")
    text = "objective " + (f"{value:.4f}" if isinstance(value, (int, float)) else "unknown")
    if isinstance(std, (int, float)):
        text += f" ± {std:.4f}"
    if objective.get("kind"):
        text += f" ({objective['kind']})"
    mixture = report.get("mixture")
    return text + (f"\n  mixture {_mixture(mixture)}" if isinstance(mixture, Mapping) else "")


def _mixture(weights: Mapping[str, float]) -> str:
    """The heaviest domains of a mixture, on one line."""
    shown = sorted(((d, w) for d, w in weights.items() if isinstance(w, (int, float)) and w > 0),
                   key=lambda dw: -dw[1])
    text = ", ".join(f"{d} {w:.3f}" for d, w in shown[:MAX_MIXTURE_DOMAINS])
    rest = len(shown) - MAX_MIXTURE_DOMAINS
    return text + (f" (+{rest} more)" if rest > 0 else "")


def _flops(flops: float) -> str:
    """FLOPs in two significant digits, e.g. ``1.2e15``."""
    if not flops or not math.isfinite(flops):
        return "0"
    return f"{flops:.1e}".replace("e+", "e")


def _one_line(text: str) -> str:
    """The first line of ``text``, cut to :data:`MAX_ERROR_CHARS`."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= MAX_ERROR_CHARS else line[:MAX_ERROR_CHARS - 3] + "..."


def _ranges(numbers: list[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2, 5"``."""
    parts, numbers = [], sorted(numbers)
    for n in numbers:
        if parts and n == parts[-1][1] + 1:
            parts[-1][1] = n
        else:
            parts.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in parts)
