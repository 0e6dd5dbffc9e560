"""Domain weights that change during a run: which rule a spec asks for, built for the loop.

A rule is an object with ``weights`` (`k`, the next batch's, in the sampler's domain order),
``trace`` (`steps x k`: the weights each step's batch was drawn with), ``update(x, y, token_loss,
rows) -> weights`` after each step, and ``state_dict``/``load_state_dict`` for resume files.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from mixopt.training.bandit import Exp3
from mixopt.training.group_dro import GroupDRO
from mixopt.training.model import build_model
from mixopt.training.sampler import MixtureSampler
from mixopt.training.spec import TrainSpec

__all__ = ["make_weighting", "weighting_record"]


def make_weighting(spec: TrainSpec, sampler: MixtureSampler, vocab_size: int, device: torch.device,
                   autocast: Callable[[], AbstractContextManager], world: int) -> GroupDRO | Exp3 | None:
    """The rule of ``spec.weighting`` over the sampler's domains (``None`` for a fixed mixture).

    Raises:
        ValueError: an unknown method, a run of several processes, or a DoReMi reference model
            that is missing or of another shape.
    """
    rule = spec.weighting
    if rule is None:
        return None
    if world > 1:
        raise ValueError(f"weighting {rule['method']!r} runs in one process (scales.{spec.scale}.gpus: 1)")
    initial = sampler.current_weights
    if rule["method"] == "doremi":
        path = Path(rule["reference_model"])
        if not path.is_file():
            raise ValueError(f"doremi: the reference model {path} does not exist (the reference run saves it)")
        reference = build_model(spec.shape, vocab_size, spec.seed)
        try:
            reference.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except RuntimeError as e:
            raise ValueError(f"doremi: the reference model {path} is not a model of scale {spec.scale!r}: {e}") from None
        return GroupDRO(reference.to(device), initial, rule["step_size"], rule["smoothing"], spec.steps, autocast)
    if rule["method"] == "online":
        return Exp3(len(initial), rule["reward_smoothing"], spec.steps)
    raise ValueError(f"unknown weighting method {rule['method']!r}; choose from ['doremi', 'online']")


def weighting_record(rule: GroupDRO | Exp3, domains: list[str], steps: int) -> dict[str, Any]:
    """The metrics of a run whose weights changed: ``mixture`` (the average of the weights its
    first ``steps`` batches were drawn with: the mixture it trained on) and ``domain_weights``
    (the method, its domains and, per step, the weights used)."""
    used = rule.trace[:steps]
    average = used.mean(0).numpy() if steps else rule.weights.numpy()
    average = average / average.sum()
    return {"mixture": {d: float(w) for d, w in zip(domains, average)},
            "domain_weights": {"method": rule.method, "domains": list(domains),
                               "steps": np.round(used.numpy(), 8).tolist()}}
