"""Fitted mixing and scaling laws: Data Mixing Laws, BiMix, the scaling law for optimal mixtures,
RegMix's regression; each with ``fit(runs)`` and ``predict(mixtures, params, tokens)``.

``make_law(name, **options)`` builds one by its registry name (``LAWS``).
"""

from __future__ import annotations

from typing import Any

from mixopt.laws.base import Law, LawFitError, Runs, fit_curve
from mixopt.laws.bimix import BiMixLaw
from mixopt.laws.dml import DataMixingLaw
from mixopt.laws.power import PowerLaw, fit_power
from mixopt.laws.regmix import RegMixLaw
from mixopt.laws.scaling import ScalingLaw

LAWS: dict[str, type[Law]] = {cls.name: cls for cls in (DataMixingLaw, BiMixLaw, ScalingLaw, RegMixLaw)}


def make_law(name: str, **options: Any) -> Law:
    """A fresh, unfitted law ``LAWS[name](**options)``; ValueError naming the known laws for an
    unknown name."""
    if name not in LAWS:
        raise ValueError(f"unknown law {name!r}; known laws: {', '.join(LAWS)}")
    return LAWS[name](**options)


__all__ = ["LAWS", "BiMixLaw", "DataMixingLaw", "Law", "LawFitError", "PowerLaw", "RegMixLaw", "Runs", "ScalingLaw",
           "fit_curve", "fit_power", "make_law"]
