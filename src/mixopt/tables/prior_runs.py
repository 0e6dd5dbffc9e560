"""Warm start: earlier runs (``prior_runs``, a long-format run table) read as trial records.

Each run of the table whose mixture lives on the problem's domains becomes a trial record of
iteration -1, marked ``prior``: every strategy sees it from iteration 0 on, no job retrains it,
and it costs the search nothing. The config check reads the table once before any job
(:func:`mixopt.config.check_settings`), so a bad table stops the workflow before it starts.
"""

from __future__ import annotations

from pathlib import Path

from mixopt.core.errors import ConfigError
from mixopt.core.problem import Problem
from mixopt.tables.runtable import RunTable, RunTableError, read_table_file

#: the iteration prior runs are filed under: before the loop's first
PRIOR_ITERATION = -1


def prior_metrics(path: str | Path, problem: Problem) -> list[dict]:
    """The runs of the long-format table at ``path`` as trial records (metrics.json's schema).

    A run that puts weight on a domain the problem lacks is left out (it trained on other data),
    and so is a run at a scale the problem lacks (no model of the config knows its size); both are
    counted in the printed summary.

    Raises:
        ConfigError: naming ``prior_runs`` when the table cannot be read or lacks one of the
            problem's mixture or evaluation domains.
    """
    try:
        frame = read_table_file(path)
        missing = [d for d in problem.domains if f"w_{d}" not in frame.columns]  # before the simplex check
        table = None if missing else RunTable.from_long(frame, name=str(path))
    except (RunTableError, OSError) as e:
        raise ConfigError(f"config key 'prior_runs': {e}") from None
    unevaluated = [d for d in problem.eval_domains if table is not None and d not in table.eval_domains]
    if missing or unevaluated:
        raise ConfigError(f"config key 'prior_runs': {path} lacks "
                          + "; ".join(part for part in (f"mixture column(s) w_<d> for {missing}" if missing else "",
                                                        f"losses on {unevaluated}" if unevaluated else "") if part))
    assert table is not None
    extra = [f"w_{d}" for d in table.mixture_domains if d not in problem.domains]
    records, other_data, other_scale = [], 0, set()
    for k, (run_id, rows) in enumerate(table.data.groupby("run_id", sort=True)):
        first = rows.iloc[0]
        if extra and (first[extra].to_numpy(dtype=float) > 0).any():
            other_data += 1
            continue
        if str(first["scale"]) not in problem.full_steps:
            other_scale.add(str(first["scale"]))
            continue
        checkpoints = []
        for step, at in rows.groupby("step", sort=True):
            loss = dict(zip(at["domain"], at["loss"].astype(float)))
            tokens = float(at["tokens"].iloc[0])
            checkpoints.append({"step": int(step), "tokens": tokens, "flops": 6.0 * float(first["params"]) * tokens,
                                "losses": {d: loss.get(d) for d in problem.eval_domains}})
        records.append({
            "iteration": PRIOR_ITERATION, "trial": k, "status": "ok", "error": None, "prior": True,
            "run_id": str(run_id), "scale": str(first["scale"]), "seed": None, "n_params": float(first["params"]),
            "steps": int(rows["step"].max()), "wall_time_s": None,
            "mixture": {d: float(first[f"w_{d}"]) for d in problem.domains}, "checkpoints": checkpoints,
        })
    if other_data or other_scale:
        print(f"prior_runs {path}: {len(records)} runs used; left out {other_data} on other domains"
              + (f", the runs at scales {sorted(other_scale)}, which the config lacks" if other_scale else ""))
    return records
