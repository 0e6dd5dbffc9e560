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
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from mixopt.core.atomic import write_json, write_text
from mixopt.core.errors import ConfigError
from mixopt.core.flops import training_flops
from mixopt.core.problem import Fidelity, Problem
from mixopt.core.simplex import is_among, match
from mixopt.core.space import NotInSpace, common_pool
from mixopt.core.trial import Trial
from mixopt.settings import ObjectiveSettings, Settings, TableSettings, TargetSettings
from mixopt.tables.loaders import load_table
from mixopt.tables.runtable import RunTable, RunTableError


class NotInTable(NotInSpace):
    """A pool-mode trial asked for a mixture or fidelity the table does not have."""


def target_fidelity(table: RunTable, target: TargetSettings) -> Fidelity:
    """The recorded checkpoint ``target`` names (no tokens: the scale's full run,
    :meth:`RunTable.full_steps`)."""
    scale = target.scale
    if scale not in table.scales():
        raise ValueError(f"scale {scale!r} is not in run table {table.name}; its scales are {table.scales()}")
    steps = table.steps(scale)
    if target.tokens is None:
        return Fidelity(scale, table.full_steps(scale))
    by_tokens = {table.tokens(scale, s): s for s in steps}
    if float(target.tokens) not in by_tokens:
        raise ValueError(f"no checkpoint at scale {scale!r} with {target.tokens} tokens; recorded: "
                         f"{sorted(int(t) for t in by_tokens)}")
    return Fidelity(scale, by_tokens[float(target.tokens)])


@functools.lru_cache(maxsize=8)
def cached_table(spec: TableSettings, base_dir: str) -> RunTable:
    """The run table ``spec`` names, loaded once per process (a benchmark asks for it per seed)."""
    return load_table(spec, base_dir)


def problem_from_table(table: RunTable, target: TargetSettings, objective: ObjectiveSettings) -> Problem:
    """The problem a run table poses: its domains, scales and recorded steps, the objective over
    its evaluation domains and the target checkpoint."""
    weights = objective.weights_for(table.eval_domains)
    fidelity = target_fidelity(table, target)
    return Problem(
        domains=table.mixture_domains,
        objective_weights=np.array([weights[d] for d in table.eval_domains], dtype=float),
        target=fidelity,
        eval_domains=table.eval_domains,
        full_steps={s: table.full_steps(s) for s in table.scales()},
        step_flops={s: training_flops(table.params(s), table.tokens(s, table.steps(s)[-1]) / table.steps(s)[-1])
                    for s in table.scales()},
        recorded_steps={s: tuple(table.steps(s)) for s in table.scales()},
        params={s: table.params(s) for s in table.scales()},
        target_tokens=table.tokens(fidelity.scale, fidelity.steps),
        objective_kind=objective.kind,
        objective_reference=(None if objective.kind != "worst_excess"
                             else np.array(objective.reference_for(table.mixture_domains))),
    )


class TableBackend:
    """Answers trials from a run table.

    Args:
        table: the recorded runs.
        problem: the problem posed on them (its domains are the table's).
        surrogate: the fitted simulator of ``surrogate`` mode (needed to run trials only).
        mode: ``pool`` or ``surrogate`` (default: ``surrogate`` when a simulator is given).
    """

    name = "table"

    def __init__(self, table: RunTable, problem: Problem, surrogate: Any | None = None,
                 mode: str | None = None) -> None:
        self.table = table
        self.problem = problem
        self.surrogate = surrogate
        self.mode = mode or ("pool" if surrogate is None else "surrogate")
        self._wide = table.wide()

    @classmethod
    def from_settings(cls, settings: Settings, base_dir: str | Path = ".",
                      surrogate_path: str | Path | None = None) -> "TableBackend":
        """The back end of a config; errors name the config key (``backend.table``, ``target``,
        ``objective.weights``)."""
        assert settings.backend.table is not None
        try:
            table = cached_table(settings.backend.table, str(Path(base_dir).resolve()))
        except RunTableError as e:
            raise ConfigError(f"config key 'backend.table': {e}") from None
        try:
            fidelity = target_fidelity(table, settings.target)
        except ValueError as e:
            raise ConfigError(f"config key 'target': {e}") from None
        settings.objective.check_domains(table.eval_domains)
        problem = problem_from_table(table, settings.target, settings.objective)
        assert problem.target == fidelity
        surrogate = None
        if surrogate_path is not None:
            from mixopt.tables.surrogate import Surrogate  # torch: only a surrogate-mode trial needs it

            surrogate = Surrogate.load(surrogate_path)
        return cls(table, problem, surrogate, mode=settings.backend.mode)

    def preflight(self, base_dir: str | Path = ".", deep: bool = False) -> None:
        """Nothing beyond loading the table (done on construction) is needed before a job."""

    # -- what exists ---------------------------------------------------------------------------

    def _complete_at(self, fidelity: Fidelity) -> pd.DataFrame:
        w = self._wide
        return w[(w["scale"] == fidelity.scale) & (w["step"] == fidelity.steps)]

    def mixtures_at(self, fidelity: Fidelity) -> np.ndarray | None:
        """`m x d` distinct mixtures recorded with every evaluation domain at ``fidelity`` (a
        mixture recorded twice once); ``None`` in surrogate mode (any mixture)."""
        if self.mode == "surrogate":
            return None
        return np.unique(np.round(self._complete_at(fidelity)[self.table.weight_columns].to_numpy(), 9), axis=0)

    def candidates(self, fidelities: list[Fidelity]) -> np.ndarray | None:
        """`m x d` mixtures recorded at *all* ``fidelities`` (``None`` in surrogate mode)."""
        return common_pool(self, fidelities, name=f"run table {self.table.name}")

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
        if self.mode == "surrogate":
            if self.surrogate is None:
                raise ValueError("surrogate mode needs the fitted simulator file")
            steps = [s for s in self.table.steps(fidelity.scale) if s < fidelity.steps] + [fidelity.steps]
            losses = np.stack([
                self.surrogate.predict(mixture[None], self.table.params(fidelity.scale),
                                       self.tokens(Fidelity(fidelity.scale, s)))[0]
                for s in steps
            ])
            return steps, losses
        at_scale = self._wide[self._wide["scale"] == fidelity.scale]
        final = self._complete_at(fidelity)
        if match(final[self.table.weight_columns].to_numpy(), mixture) is None:
            raise NotInTable(f"mixture {np.round(mixture, 6).tolist()} is not recorded in run table "
                             f"{self.table.name} at scale {fidelity.scale!r} step {fidelity.steps}")
        same = is_among(at_scale[self.table.weight_columns].to_numpy(), mixture[None])
        curve = at_scale[same & (at_scale["step"] <= fidelity.steps).to_numpy()]
        curve = curve.groupby("step")[self.table.loss_columns].mean()  # repeated mixtures: average
        return curve.index.tolist(), curve.to_numpy()

    def run(self, trial: Trial, out_path: str | Path | None = None, log: Callable[[str], None] = print) -> dict:
        """One trial as a ``metrics.json`` record (the schema of a training run), written to
        ``out_path`` when given.

        Never raises for a trial the table cannot answer: it is recorded as failed.
        """
        problem, fidelity = self.problem, trial.fidelity
        record: dict[str, Any] = trial.ids() | {
            "status": "ok", "error": None, "mixture": problem.mixture_dict(trial.mixture),
            "scale": fidelity.scale, "seed": trial.seed, "steps": int(fidelity.steps),
            "n_params": self.table.params(fidelity.scale) if fidelity.scale in self.table.scales() else None,
            "backend": f"table ({self.mode}): {self.table.name}", "checkpoints": [], "wall_time_s": 0.0,
        }
        try:
            if trial.run is not None:
                raise ValueError(f"a run table records fixed-mixture runs only, not {dict(trial.run)}")
            steps, losses = self.losses(trial.mixture, fidelity)
        except ValueError as e:  # NotInTable, or a surrogate refusing a scale outside its range
            record["status"], record["error"] = "failed", f"{type(e).__name__}: {e}"
        else:
            for step, loss in zip(steps, losses):
                f = Fidelity(fidelity.scale, int(step))
                record["checkpoints"].append({
                    "step": int(step), "tokens": self.tokens(f), "flops": self.cost(f),
                    "losses": {d: float(x) for d, x in zip(problem.eval_domains, loss)},
                })
        if out_path is not None:
            log(f"{record['backend']}: {record['status']}" + (f" ({record['error']})" if record["error"] else ""))
            write_json(record, Path(out_path))
        return record


def fit_simulator(settings: Settings, out_path: str | Path, validation_path: str | Path | None = None,
                  base_dir: str | Path = ".", threads: int | None = None) -> Any:
    """Fit the surrogate-mode simulator on the config's run table and save it to ``out_path``;
    its held-out R² per scale and domain goes to ``validation_path``. Returns the simulator."""
    import torch  # the simulator is a torch ensemble

    from mixopt.tables.surrogate import Surrogate

    if threads is not None:
        torch.set_num_threads(threads)  # the job's share of the cores, not all of them
    assert settings.backend.table is not None
    table = cached_table(settings.backend.table, str(Path(base_dir).resolve()))
    surrogate = Surrogate.fit(table, seed=settings.backend.surrogate.seed,
                              extrapolate=settings.backend.surrogate.extrapolate)
    if validation_path is not None:
        write_text(Path(validation_path), surrogate.validation.to_csv(index=False))
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    surrogate.save(out_path)
    print(surrogate.summary())
    return surrogate
