r"""The specification of one proxy run.

A :class:`TrainSpec` and the shard directories determine a run completely: the same spec on the
same shards gives bit-identical metrics on CPU. Its defaults live in the config schema only
(``schemas/config.schema.yaml``, section ``training``); build a spec from the typed settings with
:meth:`TrainSpec.from_settings`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping

from mixopt.settings import ModelShape, TrainingSettings

__all__ = ["TrainSpec", "checkpoint_steps"]


@dataclass(frozen=True)
class TrainSpec:
    r"""Everything that determines one proxy run (with the shards).

    ``mixture`` maps domain -> weight (>= 0, summing to 1). ``scale`` is a label for the shape
    (e.g. ``"xs"``), copied into the metrics. ``steps`` optimiser steps of
    ``shape.batch * shape.context`` tokens each. ``training``: how it trains and is evaluated
    (``training.checkpoints`` evaluations, evenly spaced, the last at ``steps``;
    ``training.eval_tokens`` validation tokens read per domain at most; see
    :class:`~mixopt.settings.TrainingSettings`, whose ``resume_every`` is not part of a run).

    ``shape`` and ``training`` may be given as mappings (e.g. parsed JSON); they are turned into a
    :class:`~mixopt.settings.ModelShape` and a :class:`~mixopt.settings.TrainingSettings`.

    ``weighting`` (``None``: the mixture holds for the whole run) changes the domain weights as
    the run goes, starting from ``mixture`` (:mod:`mixopt.training.weighting`): ``{"method":
    "doremi", "reference_model": path, "step_size": η, "smoothing": c}`` or ``{"method": "online",
    "reward_smoothing": β}``. ``save_model``: a path the trained model's state dict is written to
    (a DoReMi reference run's, for its proxy run).
    """

    mixture: dict[str, float]
    scale: str
    shape: ModelShape
    steps: int
    seed: int
    training: TrainingSettings
    weighting: dict | None = None
    save_model: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.shape, Mapping):
            object.__setattr__(self, "shape", ModelShape.from_dict(self.shape))
        if isinstance(self.training, Mapping):
            object.__setattr__(self, "training", TrainingSettings.from_dict(self.training))
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")

    def to_dict(self) -> dict:
        """Plain values (JSON); ``TrainSpec(**spec.to_dict())`` is the same spec."""
        return {**self.__dict__, "mixture": dict(self.mixture), "shape": self.shape.to_dict(),
                "training": asdict(self.training), "weighting": None if self.weighting is None else dict(self.weighting)}

    @classmethod
    def from_settings(cls, mixture: Mapping[str, float], scale: str, shape: ModelShape, steps: int, seed: int,
                      training: TrainingSettings, weighting: Mapping | None = None,
                      save_model: str | None = None) -> TrainSpec:
        """The run of ``mixture`` at ``scale`` (of ``shape``) for ``steps`` steps, trained and
        evaluated as the ``training`` settings say (``training.resume_every`` is not part of a
        run: it says how often the run is saved, see :func:`mixopt.training.trial.run_trial`)."""
        return cls(mixture=dict(mixture), scale=scale, shape=shape, steps=steps, seed=seed, training=training,
                   weighting=None if weighting is None else dict(weighting), save_model=save_model)


def checkpoint_steps(steps: int, n: int) -> list[int]:
    """``n`` evenly spaced steps in ``[1, steps]`` ending at ``steps``: ``ceil(i * steps / n)``.

    Distinct and increasing; when ``n > steps`` duplicates collapse, giving every step once.
    """
    if steps < 1 or n < 1:
        raise ValueError(f"steps and n must be >= 1, got {steps}, {n}")
    return sorted({-(-i * steps // n) for i in range(1, n + 1)})
