"""Fitted mixing and scaling laws: Data Mixing Laws, BiMix, the scaling law for optimal mixtures,
RegMix's regression; each with ``fit(runs)`` and ``predict(mixtures, params, tokens)``."""

from __future__ import annotations

from typing import Any

from mixopt.laws.base import Law, LawFitError, Runs
from mixopt.laws.bimix import BiMixLaw
from mixopt.laws.dml import DataMixingLaw
from mixopt.laws.regmix import RegMixLaw
from mixopt.laws.scaling import ScalingLaw

LAWS: dict[str, type[Law]] = {cls.name: cls for cls in (DataMixingLaw, BiMixLaw, ScalingLaw, RegMixLaw)}


def make_law(name: str, **options: Any) -> Law:
    """A fresh, unfitted law; ValueError naming an unknown law."""
    if name not in LAWS:
        raise ValueError(f"unknown law {name!r}; known: {sorted(LAWS)}")
    return LAWS[name](**options)


__all__ = ["LAWS", "Law", "LawFitError", "Runs", "make_law", "DataMixingLaw", "BiMixLaw", "ScalingLaw", "RegMixLaw"]
