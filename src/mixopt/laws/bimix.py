"""BiMix (Ge et al., 2024): each domain's loss in its own proportion and the training amount.

Per evaluation domain i, with r_i the proportion of the training domain it maps to and s the
training tokens: ``L_i(r_i, s) = A_i / r_i ** alpha_i * (B_i / s ** beta_i + C_i)``. A_i only
scales B_i and C_i (the data determine A_i B_i and A_i C_i, not A_i), so the fit fixes A_i = 1 and
reports B_i and C_i with A_i folded in.

BiMix has no model-size term: one BiMix is fitted per model size, and a size that was not
fitted is reached with the size law ``c + (k / N) ** alpha`` across the fitted sizes (3, or 2
with a fixed ``size_exponent``), as in Data Mixing Laws.
"""

from __future__ import annotations

from typing import ClassVar, Mapping

import numpy as np
from scipy.stats import rankdata

from mixopt.laws.base import Law, LawFitError, Runs, fit_curve, single_threaded
from mixopt.laws.power import at_size

#: r = 0 makes the law infinite (under a power law in r, a domain never trained on has an
#: unbounded loss), so a proportion below this floor is read as the floor.
PROPORTION_FLOOR = 1e-3

#: Exponents scanned for the starts: (alpha, beta) on a grid, B and C solved exactly for each.
_ALPHAS = np.array([0.0, 0.02, 0.05, 0.1, 0.2, 0.4, 0.8])
_BETAS = np.geomspace(0.05, 1.5, 10)


def bimix(r: np.ndarray, s: np.ndarray, p: np.ndarray) -> np.ndarray:
    """`m` proportions and tokens -> `m` losses; p = (alpha, log B, beta, log C), A = 1."""
    r = np.maximum(r, PROPORTION_FLOOR)
    return r ** -p[0] * (np.exp(p[1] - p[2] * np.log(s)) + np.exp(p[3]))


def _starts(r: np.ndarray, s: np.ndarray, y: np.ndarray, best: int = 3) -> np.ndarray:
    """The ``best`` (alpha, log B, beta, log C) of a grid over the exponents: for fixed exponents
    the law is linear in (B, C), solved by least squares on relative error (B, C kept positive)."""
    r = np.maximum(r, PROPORTION_FLOOR)
    out = []
    for alpha in _ALPHAS:
        for beta in _BETAS:
            X = np.column_stack([r ** -alpha * s ** -beta, r ** -alpha]) / y[:, None]
            (B, C), *_ = np.linalg.lstsq(X, np.ones_like(y), rcond=None)
            B, C = max(B, 1e-12), max(C, 1e-6)  # positive: they are fitted in log space
            error = float(((X @ [B, C]) - 1) @ ((X @ [B, C]) - 1))
            out.append((error, [alpha, np.log(B), beta, np.log(C)]))
    out.sort(key=lambda e: e[0])
    return np.array([x for _, x in out[:best]])


def _spearman_by_group(runs: Runs) -> np.ndarray:
    """`d x e` Spearman correlation of each training proportion with each evaluation loss,
    computed within each group of checkpoints at one (N, D) with 3 or more distinct mixtures (so
    size and length do not swamp the mixture's effect) and averaged weighted by group size; a
    pair that never varies together gets +inf (never the most negative)."""
    keys = np.column_stack([runs.params, runs.tokens])
    _, group = np.unique(keys, axis=0, return_inverse=True)
    groups = [np.flatnonzero(group.reshape(-1) == g) for g in range(group.max() + 1)]
    groups = [g for g in groups if len(np.unique(runs.mixtures[g].round(6), axis=0)) >= 3] or [np.arange(len(runs))]
    total = np.zeros((len(runs.domains), len(runs.eval_domains)))
    weight = np.zeros_like(total)
    for g in groups:
        rx, ry = rankdata(runs.mixtures[g], axis=0), rankdata(runs.losses[g], axis=0)
        rx, ry = rx - rx.mean(axis=0), ry - ry.mean(axis=0)
        norm = np.outer(np.linalg.norm(rx, axis=0), np.linalg.norm(ry, axis=0))
        with np.errstate(invalid="ignore", divide="ignore"):
            rho = rx.T @ ry / norm  # NaN where a proportion or a loss is constant in the group
        ok = np.isfinite(rho)
        total += np.where(ok, rho * len(g), 0.0)
        weight += ok * len(g)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 0, total / np.where(weight > 0, weight, 1.0), np.inf)


class BiMixLaw(Law):
    """BiMix, one fit per model size and evaluation domain (see the module docstring).

    Args:
        domain_map: evaluation domain -> the training domain whose proportion r_i drives it.
            Default for a domain not in it: the same name when it is a training domain,
            otherwise inferred from the data as the training domain whose proportion has the most
            negative Spearman correlation with that evaluation loss (computed within each group
            of checkpoints at the same (N, D), so size and length do not swamp the mixture's
            effect, and averaged weighted by group size). ``domain_map_`` holds the map used.
        size_exponent: fixes the size law's exponent (then 2 fitted sizes suffice to predict
            another size).
        seed: for the random starts.

    After ``fit``, ``params_[N][domain]`` = ``{"A", "alpha", "B", "beta", "C"}`` (A = 1, see the
    module docstring) for every size N that could be fitted; ``skipped_[N]`` says why a trained
    size could not (too few mixtures or checkpoints there).
    """

    name: ClassVar[str] = "bimix"

    def __init__(self, domain_map: Mapping[str, str] | None = None, size_exponent: float | None = None,
                 seed: int = 0) -> None:
        self.domain_map = dict(domain_map or {})
        self.size_exponent = size_exponent
        self.seed = seed

    def _infer_map(self, runs: Runs) -> dict[str, str]:
        out = {domain: self.domain_map.get(domain, domain) for domain in runs.eval_domains}
        unmapped = [i for i, domain in enumerate(runs.eval_domains) if out[domain] not in runs.domains
                    and domain not in self.domain_map]
        if unmapped:
            rho = _spearman_by_group(runs)[:, unmapped]  # `d x u`
            for column, i in enumerate(unmapped):
                out[runs.eval_domains[i]] = runs.domains[int(np.argmin(rho[:, column]))]
        unknown = sorted({v for v in out.values() if v not in runs.domains})
        if unknown:
            raise ValueError(f"{self.name}: domain_map names unknown training domain(s) {unknown}; "
                             f"training domains: {list(runs.domains)}")
        return out

    def _fit_size(self, runs: Runs, N: float) -> dict[str, np.ndarray]:
        """Every evaluation domain's BiMix on the checkpoints at size N: (alpha, log B, beta, log C)."""
        at = runs.subset(runs.params == N)
        out = {}
        for i, domain in enumerate(runs.eval_domains):
            source = self.domain_map_[domain]
            r, s, y = at.mixtures[:, runs.domains.index(source)], at.tokens, at.losses[:, i]
            where = f"{self.name}: domain {domain!r} at N={N:.3g}"
            distinct = len(np.unique(np.maximum(r, PROPORTION_FLOOR).round(6)))
            if distinct < 2:
                raise LawFitError(f"{where}: the proportion of {source!r} takes {distinct} distinct value(s), needs "
                                  "at least 2 to fit alpha")
            if len(np.unique(s)) < 3:
                raise LawFitError(f"{where}: {len(np.unique(s))} distinct training length(s), needs at least 3 "
                                  "to fit B, beta and C")
            p = fit_curve(lambda p: bimix(r, s, p) / y - 1, _starts(r, s, y),
                          (np.array([0.0, -50.0, 1e-3, -50.0]), np.array([3.0, 80.0, 3.0, 50.0])), where,
                          names=["alpha", "B", "beta", "C"], seed=self.seed)
            out[domain] = p
        return out

    @single_threaded
    def fit(self, runs: Runs) -> BiMixLaw:
        mixtures, _ = runs.mixture_ids()
        if len(mixtures) < 2:
            raise LawFitError(f"{self.name}: {len(mixtures)} distinct mixture(s) in the runs, needs at least 2 "
                              "to fit the proportion exponent")
        self.domain_map_ = self._infer_map(runs)
        self.raw_: dict[float, dict[str, np.ndarray]] = {}
        self.skipped_: dict[float, str] = {}
        for N in np.unique(runs.params):
            try:
                self.raw_[float(N)] = self._fit_size(runs, float(N))
            except LawFitError as e:
                self.skipped_[float(N)] = str(e)
        if not self.raw_:
            raise next(LawFitError(m) for m in self.skipped_.values())
        self.params_ = {N: {domain: {"A": 1.0, "alpha": float(p[0]), "B": float(np.exp(p[1])), "beta": float(p[2]),
                                     "C": float(np.exp(p[3]))} for domain, p in fitted.items()}
                        for N, fitted in self.raw_.items()}
        self._fitted(runs)
        return self

    def _predict(self, mixtures, params, tokens):
        sizes = np.array(sorted(self.raw_))
        out = np.empty((len(mixtures), len(self.eval_domains_)))
        for i, domain in enumerate(self.eval_domains_):
            r = mixtures[:, self.domains_.index(self.domain_map_[domain])]
            per_size = np.array([bimix(r, tokens, self.raw_[N][domain]) for N in sizes])  # `sizes x m`
            for N in np.unique(params):
                rows = np.flatnonzero(params == N)
                fitted = np.isclose(sizes, N, rtol=1e-6)
                if fitted.any():
                    out[rows, i] = per_size[np.argmax(fitted), rows]
                    continue
                # a size not fitted: each query's values across the fitted sizes, carried to N
                where = f"{self.name}: size law to N={N:.3g} for domain {domain!r}" + (
                    f" ({self.skipped_[float(N)]})" if float(N) in self.skipped_ else "")
                out[rows, i] = at_size(sizes, per_size[:, rows], N, where, self.size_exponent)
        return out
