r"""Failed trials: one console line each, a summary, and the stop of a loop that fails systematically.

A failed trial is data (its metrics.json says ``status: failed`` and why) and the loop goes on, but
a cause that fails every trial (a domain too small to evaluate, a broken install) would spend the
whole budget. :func:`check_systematic_failure` stops the loop when every trial of an iteration
failed, or when one error (numbers aside) recurs in ``budget.max_failures`` trials.

Console lines go to the process's own stderr (``sys.__stderr__``), which is Snakemake's output for a
local job, while the step's prints go to its log file. A trial's own line reaches the console only
where its job runs beside Snakemake; on SLURM it goes to the job's SLURM log. So each iteration's
``aggregate``, which runs in Snakemake's own process on the submitting host, also lists the failed
trials of the iteration that just ended (:func:`iteration_failures`).
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Mapping

from mixopt.core.errors import MixoptError

__all__ = ["SystematicFailure", "check_systematic_failure", "console", "failure_line", "failures_summary",
           "iteration_failures", "trial_log"]

#: the logs a trial's rule writes beside its metrics.json (train and table back ends)
_TRIAL_LOGS = ("train.log", "trial.log")


class SystematicFailure(MixoptError):
    """Trials fail for one cause: the loop stops instead of spending its budget on it."""


def console(line: str) -> None:
    """Print ``line`` on the console (Snakemake's output), also while stdout goes to a log."""
    stream = sys.__stderr__ or sys.stderr
    print(line, file=stream, flush=True)


def trial_log(metrics_path: str | Path) -> Path:
    """The log of the trial whose metrics.json is ``metrics_path`` (its rule's ``log:``)."""
    folder = Path(metrics_path).parent
    return next((folder / name for name in _TRIAL_LOGS if (folder / name).exists()), folder / _TRIAL_LOGS[0])


def failure_line(metrics: Mapping, metrics_path: str | Path) -> str:
    """``mixopt: trial FAILED: iteration i, trial j: <reason> (log: <path>)``."""
    return (f"mixopt: trial FAILED: iteration {metrics.get('iteration')}, trial {metrics.get('trial')}: "
            f"{metrics.get('error')} (log: {trial_log(metrics_path)})")


def _cause(error: str | None) -> str:
    """An error with its numbers blanked: a NaN at step 37 and one at step 52 have one cause."""
    return re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "#", error or "unknown error")


def failures_summary(trials: Iterable[tuple[Path, Mapping]], of: str = "") -> list[str]:
    """Console lines summing up the failed trials of ``(metrics path, metrics)``: a count (``of``
    says of what, e.g. ``"iteration 2: "``), then one line per trial; empty when none failed."""
    trials = list(trials)
    failed = [(p, m) for p, m in trials if m.get("status") != "ok"]
    if not failed:
        return []
    return ([f"mixopt: {of}{len(failed)} of {len(trials)} trials failed:"]
            + ["  " + failure_line(m, p).removeprefix("mixopt: ") for p, m in failed])


def iteration_failures(trials: Iterable[tuple[Path, Mapping]]) -> list[str]:
    """:func:`failures_summary` of the last iteration among ``trials`` (the one that just ended)."""
    trials = list(trials)
    iterations = [m.get("iteration") for _, m in trials if isinstance(m.get("iteration"), int)]
    if not iterations:
        return []
    last = max(iterations)
    return failures_summary([(p, m) for p, m in trials if m.get("iteration") == last], of=f"iteration {last}: ")


def check_systematic_failure(trials: Iterable[tuple[Path, Mapping]], max_failures: int) -> None:
    """Raise :class:`SystematicFailure` when every trial of an iteration failed, or when one cause
    failed ``max_failures`` trials or more; the message gives the error and the trials' logs.

    Args:
        trials: ``(metrics.json path, its content)`` of every trial so far.
        max_failures: how many trials one cause may fail before the loop stops (>= 1).
    """
    by_iteration: dict[object, list[tuple[Path, Mapping]]] = defaultdict(list)
    by_cause: dict[str, list[tuple[Path, Mapping]]] = defaultdict(list)
    for path, m in trials:
        by_iteration[m.get("iteration")].append((path, m))
        if m.get("status") != "ok":
            by_cause[_cause(m.get("error"))].append((path, m))
    for iteration, members in sorted(by_iteration.items(), key=lambda kv: str(kv[0])):
        if members and all(m.get("status") != "ok" for _, m in members):
            raise SystematicFailure(_stop_message(f"every trial of iteration {iteration} failed", members))
    for members in by_cause.values():
        if len(members) >= max_failures:
            raise SystematicFailure(_stop_message(
                f"{len(members)} trials failed with the same error (budget.max_failures is {max_failures})", members))


def _stop_message(what: str, members: list[tuple[Path, Mapping]]) -> str:
    errors = sorted({str(m.get("error")) for _, m in members})
    logs = ", ".join(str(trial_log(p)) for p, _ in members)
    metrics = " ".join(str(p) for p, _ in members)
    return (f"the loop stops: {what}: {'; '.join(errors)}. Logs: {logs}. Fix the cause, then rerun these "
            f"trials: snakemake --forcerun {metrics}")
