"""Data Mixing Laws (Ye et al., ICLR 2025), nested with the step and size laws.

Per evaluation domain i, at a fixed model size N and training length D, the mixing law is
``L_i(r) = c_i + k_i * exp(sum_j t_ij r_j)``. The proportions sum to one, so a common shift of
every t_ij is the same as rescaling k_i: the fit absorbs k_i into t_i and reports the centred
t_i (mean zero) with ``k_i = exp(mean of the absorbed t_i)``, which makes k_i and t_i unique.

To predict at (N, D) the paper's pipeline is followed:

1. each training run's loss at D: its checkpoint if D was recorded, else the step law
   ``c + (k / D) ** alpha`` fitted on that run's checkpoints (it needs 3 of them);
2. each training mixture's loss at N: recorded if that size was trained, else the size law
   ``c + (k / N) ** alpha`` across the sizes the mixture was trained at (3 sizes, or 2 with a
   fixed ``size_exponent``);
3. the mixing law fitted over the mixtures on those values, evaluated at the query mixtures.

Runs or mixtures that cannot be carried to (N, D) are left out of step 3; too few left is a
LawFitError. The mixing law of each (N, D) is fitted on first use and cached.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mixopt.laws.base import Law, LawFitError, Runs, fit_curve, require_varying, single_threaded
from mixopt.laws.power import PowerLaw, at_size, fit_power


def fit_mixing_law(r: np.ndarray, y: np.ndarray, where: str, seed: int = 0) -> dict[str, np.ndarray | float]:
    """`k x d` mixtures, `k` losses -> ``{"c", "k", "t"}`` of ``c + k exp(t . r)`` (t centred, `d`).

    Fitted as ``c + exp(t' . r)`` (k absorbed into t', valid on the simplex) on relative error,
    with 0 <= c <= min(y); LawFitError with fewer than d + 2 mixtures or an undetermined fit.
    """
    k, d = r.shape
    if k < d + 2:
        raise LawFitError(f"{where}: {k} distinct mixture(s), the mixing law needs at least {d + 2} (d + 2)")
    floor = float(y.min())
    starts = []
    for frac in (0.0, 0.5, 0.8, 0.95):
        c = frac * floor
        # for a given c, log(y - c) is linear in r (the proportions sum to one: no intercept needed)
        t, *_ = np.linalg.lstsq(r, np.log(np.maximum(y - c, 1e-12 * floor)), rcond=None)
        starts.append(np.concatenate([[c], t]))
    lower = np.concatenate([[0.0], np.full(d, -50.0)])
    upper = np.concatenate([[floor], np.full(d, 50.0)])
    x = fit_curve(lambda p: (p[0] + np.exp(r @ p[1:])) / y - 1, np.array(starts), (lower, upper), where,
                  names=["c", *(f"t[{j}]" for j in range(d))], seed=seed)
    t = x[1:]
    return {"c": float(x[0]), "k": float(np.exp(t.mean())), "t": t - t.mean()}


def mixing_law(r: np.ndarray, p: dict) -> np.ndarray:
    """`m x d` mixtures -> `m` losses of one domain's fitted mixing law ``p``."""
    return p["c"] + p["k"] * np.exp(r @ p["t"])


class DataMixingLaw(Law):
    """Data Mixing Laws nested with the step and size laws (see the module docstring).

    Args:
        size_exponent: fixes the size law's exponent (then 2 trained sizes suffice to carry a
            mixture to another size; ``None``: fitted, which needs 3).
        seed: for the random starts of the mixing-law fits.

    After ``fit``, ``params_[(N, D)][domain]`` holds ``{"c", "k", "t"}`` (``t``: `d`, over the
    training domains) for every (N, D) predicted so far; ``laws_at(N, D)`` fits and returns them.
    """

    name: ClassVar[str] = "dml"

    def __init__(self, size_exponent: float | None = None, seed: int = 0) -> None:
        self.size_exponent = size_exponent
        self.seed = seed

    def fit(self, runs: Runs) -> DataMixingLaw:
        mixtures, which = runs.mixture_ids()
        d = len(runs.domains)
        if len(mixtures) < d + 2:
            raise LawFitError(f"{self.name}: {len(mixtures)} distinct mixture(s) in the runs, the mixing law "
                              f"needs at least {d + 2} (d + 2)")
        require_varying(mixtures, runs.domains, self.name)
        self.runs_, self.mixtures_ = runs, mixtures
        # per run (and model size, should a run id be reused across sizes): (row indices, model
        # size, index of its mixture)
        self.run_info_ = [(rows[runs.params[rows] == size], float(size), int(which[rows[0]]))
                          for rows in runs.run_rows() for size in np.unique(runs.params[rows])]
        self.params_: dict[tuple[float, float], dict[str, dict]] = {}
        self._step_laws: dict[int, PowerLaw | LawFitError] = {}
        self._fitted(runs)
        return self

    def _step_law(self, k: int) -> PowerLaw | LawFitError:
        """Run k's step law over every evaluation domain (fitted once), or why it has none."""
        if k not in self._step_laws:
            rows = self.run_info_[k][0]
            try:
                self._step_laws[k] = fit_power(self.runs_.tokens[rows], self.runs_.losses[rows],
                                               f"{self.name}: step law of run {self.runs_.run[rows[0]]!r}")
            except LawFitError as e:
                self._step_laws[k] = e
        return self._step_laws[k]

    def _at_tokens(self, D: float) -> tuple[list[tuple[float, int, np.ndarray]], list[str]]:
        """Every run that can be carried to D: (N, mixture index, `e` losses at D); and why the
        others cannot."""
        out, missing = [], []
        for k, (rows, size, mixture) in enumerate(self.run_info_):
            hit = rows[np.isclose(self.runs_.tokens[rows], D, rtol=1e-6)]
            if len(hit):
                out.append((size, mixture, self.runs_.losses[hit].mean(axis=0)))
                continue
            law = self._step_law(k)
            if isinstance(law, LawFitError):
                missing.append(str(law))
            else:
                out.append((size, mixture, law(D)))
        return out, missing

    @single_threaded
    def laws_at(self, N: float, D: float) -> dict[str, dict]:
        """The per-domain mixing laws at (N, D) (``{domain: {"c", "k", "t"}}``), fitted on first use."""
        key = (float(N), float(D))
        if key in self.params_:
            return self.params_[key]
        carried, missing_runs = self._at_tokens(key[1])
        by_mixture: dict[int, list[tuple[float, np.ndarray]]] = {}
        for size, mixture, values in carried:
            by_mixture.setdefault(mixture, []).append((size, values))
        ids, values, missing = [], [], []
        for mixture, entries in sorted(by_mixture.items()):
            sizes = np.array([s for s, _ in entries])
            try:
                values.append(at_size(sizes, np.array([v for _, v in entries]), key[0],
                                      f"{self.name}: size law of mixture {mixture}", self.size_exponent))
                ids.append(mixture)
            except LawFitError as e:
                missing.append(str(e))  # a mixture trained at too few sizes cannot be carried to N
        d = self.mixtures_.shape[1]
        if len(ids) < d + 2:
            sizes = ", ".join(f"{s:.3g}" for s in np.unique(self.runs_.params))
            why = (missing + missing_runs)[:1]
            raise LawFitError(
                f"{self.name}: {len(ids)} distinct mixture(s) can be carried to N={key[0]:.3g}, D={key[1]:.3g}, "
                f"the mixing law needs at least {d + 2} (d + 2); sizes trained: {sizes} (the size law needs 3, or "
                f"2 with a fixed size_exponent)" + (f"; e.g. {why[0]}" if why else ""))
        r, y = self.mixtures_[ids], np.array(values)
        self.params_[key] = {
            domain: fit_mixing_law(r, y[:, i], f"{self.name}: domain {domain!r} at N={key[0]:.3g}, D={key[1]:.3g}",
                                   self.seed)
            for i, domain in enumerate(self.runs_.eval_domains)
        }
        return self.params_[key]

    def _predict(self, mixtures, params, tokens):
        out = np.empty((len(mixtures), len(self.eval_domains_)))
        # (N, D) computed from GP inputs carry rounding noise: one law per (N, D) to 9 digits
        params, tokens = (np.array([float(f"{v:.9g}") for v in a]) for a in (params, tokens))
        for N, D in sorted(set(zip(params.tolist(), tokens.tolist()))):
            rows = (params == N) & (tokens == D)
            laws = self.laws_at(N, D)
            for i, domain in enumerate(self.eval_domains_):
                out[rows, i] = mixing_law(mixtures[rows], laws[domain])
        return out
