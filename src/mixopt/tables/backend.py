"""The ``table`` back end: trials answered from recorded runs instead of training.

- ``pool`` mode: only mixtures recorded at the requested scale can run; a trial returns the
  recorded learning curve up to the requested step. Mixtures recorded twice are averaged.
- ``surrogate`` mode: a :class:`~mixopt.tables.surrogate.Surrogate` fitted on the table answers
  any mixture, at the checkpoint steps recorded for that scale.

A trial's result has the same ``metrics.json`` schema as a real training run, so the
observations table, strategies, reports and plots cannot tell the two apart.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from mixopt.flops import training_flops
from mixopt.problem import Fidelity, Problem
from mixopt.tables.runtable import RunTable

#: Mixtures closer than this (max abs difference) are the same mixture.
MATCH_TOLERANCE = 1e-6


class NotInTable(ValueError):
    """A pool-mode trial asked for a mixture or fidelity the table does not have."""


def target_fidelity(table: RunTable, target: Mapping) -> Fidelity:
    """``target: {scale, tokens?}`` -> the recorded checkpoint it names (default: the scale's full
    run, :meth:`RunTable.full_steps`)."""
    scale = target["scale"]
    if scale not in table.scales():
        raise ValueError(f"scale {scale!r} is not in run table {table.name}; its scales are {table.scales()}")
    steps = table.steps(scale)
    if "tokens" not in target:
        return Fidelity(scale, table.full_steps(scale))
    by_tokens = {table.tokens(scale, s): s for s in steps}
    if float(target["tokens"]) not in by_tokens:
        raise ValueError(f"no checkpoint at scale {scale!r} with {target['tokens']} tokens; recorded: "
                         f"{sorted(int(t) for t in by_tokens)}")
    return Fidelity(scale, by_tokens[float(target["tokens"])])


@functools.lru_cache(maxsize=8)
def _cached_table(spec_json: str, base_dir: str) -> RunTable:
    from mixopt.tables.loaders import load_table

    return load_table(json.loads(spec_json), base_dir)


def table_for_config(config: Mapping, base_dir: str | Path = ".") -> RunTable:
    """The run table a config's ``backend.table`` names (loaded once per process)."""
    spec = json.dumps(dict(config["backend"]["table"]), sort_keys=True)
    return _cached_table(spec, str(Path(base_dir).resolve()))


def problem_from_table(config: Mapping, base_dir: str | Path = ".") -> Problem:
    from mixopt.config import objective_weights

    table = table_for_config(config, base_dir)
    weights = objective_weights(config, table.eval_domains)
    return Problem(
        domains=table.mixture_domains,
        objective_weights=np.array([weights[d] for d in table.eval_domains], dtype=float),
        target=target_fidelity(table, config["target"]),
        eval_domains=table.eval_domains,
        full_steps={s: table.full_steps(s) for s in table.scales()},
        step_flops={s: training_flops(table.params(s), table.tokens(s, table.steps(s)[-1]) / table.steps(s)[-1])
                    for s in table.scales()},
        recorded_steps={s: tuple(table.steps(s)) for s in table.scales()},
        params={s: table.params(s) for s in table.scales()},
    )


class TableBackend:
    """Answers trials from a run table.

    Args:
        table: the recorded runs.
        surrogate: a fitted simulator for ``surrogate`` mode; ``None`` is ``pool`` mode.
    """

    def __init__(self, table: RunTable, surrogate: Any | None = None) -> None:
        self.table = table
        self.surrogate = surrogate
        self._wide = table.wide()

    @property
    def mode(self) -> str:
        return "pool" if self.surrogate is None else "surrogate"

    @classmethod
    def from_config(cls, config: Mapping, surrogate_path: str | Path | None = None,
                    base_dir: str | Path = ".") -> "TableBackend":
        table = table_for_config(config, base_dir)
        if config["backend"].get("mode", "pool") == "pool":
            return cls(table)
        from mixopt.tables.surrogate import Surrogate

        if surrogate_path is None:
            raise ValueError("surrogate mode needs the fitted simulator file")
        return cls(table, Surrogate.load(surrogate_path))

    # -- what exists ---------------------------------------------------------------------------

    def _complete_at(self, fidelity: Fidelity) -> pd.DataFrame:
        w = self._wide
        return w[(w["scale"] == fidelity.scale) & (w["step"] == fidelity.steps)]

    def candidates(self, fidelities: list[Fidelity]) -> np.ndarray | None:
        """`m x d` mixtures recorded (with every evaluation domain) at *all* ``fidelities``, so a
        mixture chosen at a proxy can also be evaluated at the target; ``None`` in surrogate mode
        (any mixture)."""
        if self.surrogate is not None:
            return None
        pools = [self._complete_at(f)[self.table.weight_columns].to_numpy() for f in fidelities]
        pool = np.unique(np.round(pools[0], 9), axis=0)
        for other in pools[1:]:
            pool = pool[[_match(other, w) is not None for w in pool]]
        if len(pool) == 0:
            raise NotInTable(f"run table {self.table.name}: no mixture is recorded at all of "
                             f"{[(f.scale, f.steps) for f in fidelities]}")
        return pool

    def candidates_for(self, problem: Problem, fidelities: list[Fidelity]) -> np.ndarray | None:
        """The pool of a strategy proposing at ``fidelities``: mixtures recorded at all of them and
        at the target, where its recommendation must be evaluated."""
        return self.candidates(list(dict.fromkeys([*fidelities, problem.target])))

    def restrict(self, strategy: Any) -> None:
        """Give ``strategy`` the mixtures it may propose (pool mode; surrogate mode: any).

        A strategy that picks the fidelity of each trial (``picks_fidelity``, e.g. ``mfms``) gets
        every mixture recorded at the target, and per fidelity a mask of those recorded there,
        since on learning-curve tables few mixtures are recorded at every step of every scale.
        Any other strategy gets the mixtures recorded at all its fidelities and at the target.
        """
        problem, fidelities = strategy.problem, strategy.fidelities()
        if self.surrogate is not None:
            strategy.candidates, strategy.available = None, None
        elif getattr(strategy, "picks_fidelity", False):
            pool = self.candidates([problem.target])
            available = {f: self.recorded(pool, f) for f in fidelities}
            if not any(mask.any() for mask in available.values()):
                raise NotInTable(f"run table {self.table.name}: none of the target's mixtures is recorded at "
                                 f"{[(f.scale, f.steps) for f in fidelities]}")
            strategy.candidates, strategy.available = pool, available
        else:
            strategy.candidates, strategy.available = self.candidates_for(problem, fidelities), None

    def recorded(self, mixtures: np.ndarray, fidelity: Fidelity) -> np.ndarray:
        """`k` booleans: which of `k x d` ``mixtures`` are recorded (complete) at ``fidelity``."""
        at = self._complete_at(fidelity)[self.table.weight_columns].to_numpy()
        return np.array([_match(at, w) is not None for w in np.atleast_2d(mixtures)], dtype=bool)

    def cost(self, fidelity: Fidelity) -> float:
        """FLOPs of one run to ``fidelity``: 6 x params x tokens."""
        return training_flops(self.table.params(fidelity.scale), self.tokens(fidelity))

    def tokens(self, fidelity: Fidelity) -> float:
        """Training tokens of a run to ``fidelity`` (recorded, or tokens per step x steps)."""
        steps = self.table.steps(fidelity.scale)
        if fidelity.steps in steps:
            return self.table.tokens(fidelity.scale, fidelity.steps)
        per_step = self.table.tokens(fidelity.scale, steps[-1]) / steps[-1]
        return per_step * fidelity.steps

    # -- trials --------------------------------------------------------------------------------

    def losses(self, mixture: np.ndarray, fidelity: Fidelity) -> tuple[list[int], np.ndarray]:
        """Checkpoint steps up to ``fidelity.steps`` and their `k x e` losses for ``mixture`` (`d`).

        Raises NotInTable (pool mode) when the mixture was not recorded at that fidelity.
        """
        mixture = np.asarray(mixture, dtype=float)
        if self.surrogate is not None:
            steps = [s for s in self.table.steps(fidelity.scale) if s < fidelity.steps] + [fidelity.steps]
            losses = np.stack([
                self.surrogate.predict(mixture[None], self.table.params(fidelity.scale),
                                       self.tokens(Fidelity(fidelity.scale, s)))[0]
                for s in steps
            ])
            return steps, losses
        at_scale = self._wide[self._wide["scale"] == fidelity.scale]
        final = self._complete_at(fidelity)
        row = _match(final[self.table.weight_columns].to_numpy(), mixture)
        if row is None:
            raise NotInTable(f"mixture {np.round(mixture, 6).tolist()} is not recorded in run table "
                             f"{self.table.name} at scale {fidelity.scale!r} step {fidelity.steps}")
        same = np.abs(at_scale[self.table.weight_columns].to_numpy() - mixture).max(axis=1) <= MATCH_TOLERANCE
        curve = at_scale[same & (at_scale["step"] <= fidelity.steps).to_numpy()]
        curve = curve.groupby("step")[self.table.loss_columns].mean()  # repeated mixtures: average
        return curve.index.tolist(), curve.to_numpy()

    def run(self, mixture: np.ndarray, fidelity: Fidelity, problem: Problem, seed: int | None = None) -> dict:
        """One trial as a ``metrics.json`` record (the schema of :func:`mixopt.train.run_trial`).

        Never raises for a trial the table cannot answer: it is recorded as failed.
        """
        record: dict[str, Any] = {
            "status": "ok", "error": None, "mixture": problem.mixture_dict(mixture),
            "scale": fidelity.scale, "seed": seed, "steps": int(fidelity.steps),
            "n_params": self.table.params(fidelity.scale) if fidelity.scale in self.table.scales() else None,
            "backend": f"table ({self.mode}): {self.table.name}", "checkpoints": [], "wall_time_s": 0.0,
        }
        try:
            steps, losses = self.losses(mixture, fidelity)
        except ValueError as e:  # NotInTable, or a surrogate refusing a scale outside its range
            record["status"], record["error"] = "failed", f"{type(e).__name__}: {e}"
            return record
        for step, loss in zip(steps, losses):
            f = Fidelity(fidelity.scale, int(step))
            record["checkpoints"].append({
                "step": int(step), "tokens": self.tokens(f), "flops": self.cost(f),
                "losses": {d: float(x) for d, x in zip(problem.eval_domains, loss)},
            })
        return record


def _match(pool: np.ndarray, mixture: np.ndarray) -> int | None:
    """Index of the row of `m x d` ``pool`` equal to ``mixture`` within MATCH_TOLERANCE, else None."""
    if len(pool) == 0:
        return None
    gap = np.abs(pool - mixture).max(axis=1)
    i = int(np.argmin(gap))
    return i if gap[i] <= MATCH_TOLERANCE else None
