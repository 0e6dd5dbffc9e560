"""BiMix (Ge et al., 2024): each domain's loss in its own proportion and the training amount.

Per evaluation domain i, with r_i the proportion of the training domain it belongs to and s the
training tokens: ``L_i(r_i, s) = A_i / r_i ** alpha_i * (B_i / s ** beta_i + C_i)``. A_i only scales
B_i and C_i, so the fit uses the identified ``r ** -alpha * (B' / s ** beta + C')`` (B' = A B,
C' = A C) and reports those. BiMix has no size term: one BiMix is fitted per model size, and a
size that was not trained is reached with the size law across the fitted sizes, as in Data
Mixing Laws.
"""

from __future__ import annotations

from typing import ClassVar, Mapping

import numpy as np
from scipy.stats import spearmanr

from mixopt.laws.base import Law, LawFitError, Runs, fit_least_squares, require
from mixopt.laws.power import at_size

#: r = 0 makes the law infinite (a domain never seen has no finite loss under a power law); a
#: proportion below this floor is read as the floor.
PROPORTION_FLOOR = 1e-3


def bimix(r: np.ndarray, s: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``r ** -alpha * (exp(log_b) / s ** beta + exp(log_c))`` with p = (alpha, log_b, beta, log_c)."""
    r = np.maximum(r, PROPORTION_FLOOR)
    return r ** -p[0] * (np.exp(p[1] - p[2] * np.log(s)) + np.exp(p[3]))


class BiMixLaw(Law):
    """Args:
        domain_map: evaluation domain -> the training domain whose proportion drives it. Default:
            the same name when it is a training domain, otherwise inferred from the data: the
            training domain whose proportion has the most negative Spearman correlation with that
            domain's loss (``domain_map_`` holds the mapping used).
        size_exponent: fixes the size law's exponent (see :class:`DataMixingLaw`).

    After ``fit``, ``params_[N][domain]`` = ``{"alpha", "B", "beta", "C"}``.
    """

    name: ClassVar[str] = "bimix"

    def __init__(self, domain_map: Mapping[str, str] | None = None, size_exponent: float | None = None) -> None:
        self.domain_map = dict(domain_map or {})
        self.size_exponent = size_exponent

    def _infer_map(self, runs: Runs) -> dict[str, str]:
        out = {}
        for i, domain in enumerate(runs.eval_domains):
            if domain in self.domain_map:
                out[domain] = self.domain_map[domain]
            elif domain in runs.domains:
                out[domain] = domain
            else:
                rho = [spearmanr(runs.mixtures[:, j], runs.losses[:, i]).statistic for j in range(len(runs.domains))]
                out[domain] = runs.domains[int(np.nanargmin(np.nan_to_num(rho, nan=np.inf)))]
        unknown = sorted(v for v in out.values() if v not in runs.domains)
        if unknown:
            raise ValueError(f"{self.name}: domain_map names unknown training domain(s) {unknown}")
        return out

    def fit(self, runs: Runs) -> "BiMixLaw":
        mixtures, _ = runs.mixture_ids()
        require(len(mixtures), 2, self.name, "distinct mixture(s)")
        self.domain_map_ = self._infer_map(runs)
        self.eval_domains_, self.domains_ = runs.eval_domains, runs.domains
        self.params_: dict[float, dict[str, dict]] = {}
        for N in np.unique(runs.params):
            at = runs.params == N
            self.params_[float(N)] = {}
            for i, domain in enumerate(runs.eval_domains):
                j = runs.domains.index(self.domain_map_[domain])
                r, s, y = runs.mixtures[at, j], runs.tokens[at], runs.losses[at, i]
                where = f"{self.name}: domain {domain!r} at N={N:.3g}"
                require(len(np.unique(r.round(6))), 2, where, f"distinct proportion(s) of {self.domain_map_[domain]!r}")
                require(len(np.unique(s)), 2, where, "distinct training length(s)")
                starts = [np.array([a, np.log(y.mean()) + 2, 0.3, np.log(0.8 * y.min())]) for a in (0.01, 0.1)]
                p = fit_least_squares(lambda p: bimix(r, s, p) / y - 1, starts, np.array([0.0, -50.0, 1e-3, -50.0]),
                                      np.array([3.0, 50.0, 3.0, 50.0]), where)
                self.params_[float(N)][domain] = {"alpha": p[0], "B": np.exp(p[1]), "beta": p[2], "C": np.exp(p[3]),
                                                  "_p": p}
        self.fitted_ = True
        return self

    def _predict(self, mixtures, params, tokens):
        sizes = np.array(sorted(self.params_))
        out = np.empty((len(mixtures), len(self.eval_domains_)))
        for i, domain in enumerate(self.eval_domains_):
            r = mixtures[:, self.domains_.index(self.domain_map_[domain])]
            per_size = np.array([bimix(r, tokens, self.params_[N][domain]["_p"]) for N in sizes])  # sizes x m
            for N in np.unique(params):
                rows = np.flatnonzero(params == N)
                trained = np.isclose(sizes, N, rtol=1e-9)
                if trained.any():
                    out[rows, i] = per_size[trained][0, rows]
                    continue
                # a size never trained: each mixture's value carried there by the size law
                out[rows, i] = [at_size(sizes, per_size[:, k:k + 1], N, f"{self.name}: size law",
                                        self.size_exponent)[0] for k in rows]
        return out
