"""Data Mixing Laws (Ye et al., ICLR 2025), nested with the step and size laws.

Per evaluation domain i, at a fixed model size and training length:
``L_i(r) = c_i + k_i * exp(sum_j t_ij r_j)``. Because the proportions sum to one, a common shift of
every t_ij is the same as rescaling k_i; the fit fixes that freedom by centring t_i (mean zero), so
``k_i`` and ``t_i`` are unique. To predict at (N, D) the paper's pipeline is followed: each training
run's loss at D (its checkpoint, or the step law ``c + (k / D) ** alpha`` fitted on its learning
curve), then each mixture's loss at N (trained there, or the size law across the sizes it was
trained at), then the mixing law over mixtures on those values.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mixopt.laws.base import Law, LawFitError, Runs, fit_least_squares, require
from mixopt.laws.power import at_size, fit_power, power


def fit_mixing_law(r: np.ndarray, y: np.ndarray, where: str) -> dict[str, np.ndarray | float]:
    """`k x d` mixtures, `k` losses -> ``{"c", "k", "t"}`` of ``c + k exp(t . r)`` (t centred)."""
    k, d = r.shape
    require(k, d + 2, where, "distinct mixture(s) for the mixing law")
    floor = float(y.min())
    starts = []
    for frac in (0.0, 0.5, 0.8, 0.95):
        c = frac * floor
        # for a given c, log(y - c) is linear in r (the proportions sum to one: no intercept needed)
        t, *_ = np.linalg.lstsq(r, np.log(np.maximum(y - c, 1e-12)), rcond=None)
        starts.append(np.concatenate([[c], t]))
    x = fit_least_squares(lambda p: (p[0] + np.exp(r @ p[1:])) / y - 1, starts,
                          np.concatenate([[0.0], np.full(d, -50.0)]), np.concatenate([[floor], np.full(d, 50.0)]), where)
    t = x[1:]
    return {"c": float(x[0]), "k": float(np.exp(t.mean())), "t": t - t.mean()}


def mixing_law(r: np.ndarray, p: dict) -> np.ndarray:
    return p["c"] + p["k"] * np.exp(r @ p["t"])


class DataMixingLaw(Law):
    """Args:
        size_exponent: fixes the size law's exponent (needed when the runs span only 2 sizes and a
            third must be predicted; ``None``: fitted, which needs 3 sizes).

    After ``fit``, ``params_[(N, D)][domain]`` holds ``{"c", "k", "t"}`` for each (N, D) predicted.
    """

    name: ClassVar[str] = "dml"

    def __init__(self, size_exponent: float | None = None) -> None:
        self.size_exponent = size_exponent

    def fit(self, runs: Runs) -> "DataMixingLaw":
        mixtures, which = runs.mixture_ids()
        require(len(mixtures), len(runs.domains) + 2, self.name, "distinct mixture(s)")
        self.runs_, self.mixtures_, self.which_ = runs, mixtures, which
        self.params_: dict[tuple[float, float], dict[str, dict]] = {}
        self._at_tokens: dict[float, dict] = {}
        self.fitted_ = True
        return self

    def _run_values(self, D: float) -> dict:
        """Run id -> (N, mixture index, `e` losses at D), cached per D."""
        if D not in self._at_tokens:
            runs, out = self.runs_, {}
            for run in np.unique(runs.run):
                rows = np.flatnonzero(runs.run == run)
                hit = rows[np.isclose(runs.tokens[rows], D, rtol=1e-6)]
                if len(hit):
                    values = runs.losses[hit[0]]
                else:
                    where = f"{self.name}: step law of run {run}"
                    values = np.array([power(D, *fit_power(runs.tokens[rows], runs.losses[rows, i], where))
                                       for i in range(runs.losses.shape[1])])
                out[run] = (float(runs.params[rows[0]]), int(self.which_[rows[0]]), values)
            self._at_tokens[D] = out
        return self._at_tokens[D]

    def laws_at(self, N: float, D: float) -> dict[str, dict]:
        """The per-domain mixing laws at (N, D), fitted on first use."""
        key = (float(N), float(D))
        if key not in self.params_:
            by_mixture: dict[int, list] = {}
            for size, m, values in self._run_values(float(D)).values():
                by_mixture.setdefault(m, []).append((size, values))
            ids, values = [], []
            for m, entries in by_mixture.items():
                sizes = np.array([s for s, _ in entries])
                vals = np.array([v for _, v in entries])
                try:
                    values.append(at_size(sizes, vals, N, f"{self.name}: size law", self.size_exponent))
                    ids.append(m)
                except LawFitError:
                    continue  # a mixture trained at too few sizes cannot be carried to N
            d = self.mixtures_.shape[1]
            if len(ids) < d + 2:
                sizes = sorted(set(self.runs_.params.tolist()))
                raise LawFitError(f"{self.name}: only {len(ids)} mixture(s) can be carried to N={N:.3g} (sizes "
                                  f"trained: {[f'{s:.3g}' for s in sizes]}; the size law needs 3, or a fixed "
                                  f"size_exponent with 2); the mixing law needs {d + 2}")
            r, y = self.mixtures_[ids], np.array(values)
            self.params_[key] = {
                domain: fit_mixing_law(r, y[:, i], f"{self.name}: domain {domain!r} at N={N:.3g}, D={D:.3g}")
                for i, domain in enumerate(self.runs_.eval_domains)
            }
        return self.params_[key]

    def _predict(self, mixtures, params, tokens):
        out = np.empty((len(mixtures), len(self.runs_.eval_domains)))
        # (N, D) computed from GP inputs carry rounding noise; one law per (N, D) to 9 digits
        params, tokens = (np.array([float(f"{v:.9g}") for v in a]) for a in (params, tokens))
        for N, D in set(zip(params.tolist(), tokens.tolist())):
            rows = (params == N) & (tokens == D)
            laws = self.laws_at(N, D)
            for i, domain in enumerate(self.runs_.eval_domains):
                out[rows, i] = mixing_law(mixtures[rows], laws[domain])
        return out
