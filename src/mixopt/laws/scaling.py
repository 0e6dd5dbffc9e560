"""The scaling law for optimal data mixtures (Shukor et al., 2025), one law per evaluation domain.

With h the training mixture (`d`), N the model parameters and D the training tokens:

- ``additive``: ``L = E + 1 / sum_j C_j h_j ** gamma_j + A / N ** alpha + B / D ** beta``;
- ``joint``: the size and data terms depend on the mixture, their coefficients and exponents
  linear in it: ``L = E + 1 / sum_j C_j h_j ** gamma_j + A_h / N ** alpha_h + B_h / D ** beta_h``
  with ``A_h = sum_j A_j h_j``, ``alpha_h = sum_j alpha_j h_j`` (and B_h, beta_h alike).

Fitted on every checkpoint (N, D, h) by bounded least squares on relative error (pred / obs - 1)
with a soft-L1 loss (checkpoints early in training, which power laws fit worst, weigh less),
coefficients in log space, exponents bounded (alpha, beta in (0, 2), gamma in (0, 3)), several
starts; the joint form also starts from the additive fit. A term the data cannot determine is
handled plainly: runs at one size (or one training length) have no size (data) term, and the law
refuses to predict another size (length); two sizes determine the size term only with a fixed
``size_exponent``; two training lengths never determine the data term.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mixopt.laws.base import Law, LawFitError, Runs, fit_curve, require_varying, single_threaded

#: (lower, upper) of each parameter block; None: the smallest observed loss (E lies below it).
_BOUNDS = {"E": (0.0, None), "log_C": (-20.0, 20.0), "gamma": (1e-3, 3.0), "log_A": (-20.0, 80.0),
           "alpha": (1e-3, 2.0), "log_B": (-20.0, 80.0), "beta": (1e-3, 2.0)}


class ScalingLaw(Law):
    """Args:
        form: ``additive`` or ``joint`` (see the module docstring).
        size_exponent: fixes alpha (needed with runs at exactly 2 sizes).
        seed: for the random starts.
        max_points: checkpoints fitted at most (each run's last, then evenly thinned; ``None``:
            all of them).

    After ``fit``, ``params_[domain]`` = ``{"E", "C", "gamma", "A", "alpha", "B", "beta"}``: E a
    float, C and gamma `d`-vectors; A, alpha, B, beta floats (additive) or `d`-vectors over the
    training domains (joint). The size (data) term's entries are absent when the runs span one
    model size (training length); ``alpha`` is the fixed ``size_exponent`` when one is given.
    """

    name: ClassVar[str] = "scaling_law"

    def __init__(self, form: str = "additive", size_exponent: float | None = None, seed: int = 0,
                 max_points: int | None = 400) -> None:
        if form not in ("additive", "joint"):
            raise ValueError(f"scaling_law: form must be 'additive' or 'joint', got {form!r}")
        self.form, self.size_exponent, self.seed, self.max_points = form, size_exponent, seed, max_points

    # -- parameters ----------------------------------------------------------------------------

    def _layout(self, d: int, form: str) -> list[tuple[str, int]]:
        """(name, length) of each block of the parameter vector."""
        width = d if form == "joint" else 1
        blocks = [("E", 1), ("log_C", d), ("gamma", d)]
        if self.size_term_:
            blocks += [("log_A", width)] + ([("alpha", width)] if self.size_exponent is None else [])
        if self.data_term_:
            blocks += [("log_B", width), ("beta", width)]
        return blocks

    def _unpack(self, x: np.ndarray, layout: list[tuple[str, int]]) -> dict[str, np.ndarray]:
        out, i = {}, 0
        for name, length in layout:
            out[name] = x[i:i + length]
            i += length
        return out

    @staticmethod
    def _pack(p: dict[str, np.ndarray], layout: list[tuple[str, int]]) -> np.ndarray:
        return np.concatenate([np.broadcast_to(np.asarray(p[name], dtype=float), (length,)) for name, length in layout])

    def _loss(self, p: dict[str, np.ndarray], h: np.ndarray, N: np.ndarray, D: np.ndarray,
              jac: bool = False) -> np.ndarray | tuple[np.ndarray, dict[str, np.ndarray]]:
        """Raw parameter blocks, `n x d` mixtures, `n` N and D -> `n` losses (and, with ``jac``,
        their derivatives: block name -> `n x length`; analytic, as numerical Jacobians made the
        joint form's fit (31 parameters at d = 5) take minutes)."""
        Ch = np.exp(p["log_C"]) * h ** p["gamma"]  # `n x d`
        mix = 1.0 / Ch.sum(axis=1)
        out = p["E"][0] + mix
        cols = {"E": np.ones((len(h), 1)), "log_C": -mix[:, None] ** 2 * Ch}
        if jac:
            log_h = np.log(np.where(h > 0, h, 1.0))  # h ** gamma * log h -> 0 as h -> 0
            cols["gamma"] = cols["log_C"] * log_h
        for on, coef, expo, x in ((self.size_term_, "log_A", "alpha", N), (self.data_term_, "log_B", "beta", D)):
            if not on:
                continue
            # the term sum_j a_j h_j / x ** (sum_j e_j h_j) (joint) or a / x ** e (additive)
            H = h if len(p[coef]) > 1 else np.ones((len(h), 1))
            a = np.exp(p[coef])
            e = H @ p[expo] if expo in p else np.full(len(h), float(self.size_exponent))
            log_x = np.log(x)
            power = np.exp(-e * log_x)
            term = (H @ a) * power
            out = out + term
            cols[coef] = H * a * power[:, None]
            if expo in p:
                cols[expo] = -(term * log_x)[:, None] * H
        return (out, cols) if jac else out

    # -- fitting -------------------------------------------------------------------------------

    def _starts(self, y: np.ndarray, h: np.ndarray, N: np.ndarray, D: np.ndarray, d: int) -> list[dict]:
        """Heuristic starts (additive): E near half the smallest loss, the other terms sharing the
        rest, at a few exponents."""
        mean = float(y.mean())
        width = (h ** 0.5).sum(axis=1).mean()  # sum_j h_j ** gamma_j at the starting gamma = 0.5
        out = []
        for a, frac in ((0.2, 0.5), (0.35, 0.3), (0.6, 0.7)):
            alpha = self.size_exponent if self.size_exponent is not None else a
            # the mixture term 1 / (C sum_j h_j ** 0.5) starts near a fifth of the mean loss
            out.append({"E": frac * float(y.min()), "log_C": np.full(d, -np.log(0.2 * mean * width)),
                        "gamma": np.full(d, 0.5), "log_A": np.log(0.15 * mean) + alpha * np.log(N).mean(),
                        "alpha": a, "log_B": np.log(0.15 * mean) + a * np.log(D).mean(), "beta": a})
        return out

    def _fit_form(self, form: str, y: np.ndarray, h: np.ndarray, N: np.ndarray, D: np.ndarray,
                  starts: list[dict], where: str, random_starts: int, jitter: float) -> dict[str, np.ndarray]:
        d = h.shape[1]
        layout = self._layout(d, form)
        lower, upper, names = [], [], []
        for name, length in layout:
            lo, hi = _BOUNDS[name]
            lower += [lo] * length
            upper += [float(y.min()) if hi is None else hi] * length
            names += [name.removeprefix("log_") + (f"[{j}]" if length > 1 else "") for j in range(length)]

        def jacobian(x: np.ndarray) -> np.ndarray:
            _, cols = self._loss(self._unpack(x, layout), h, N, D, jac=True)
            return np.hstack([cols[name] for name, _ in layout]) / y[:, None]

        x = fit_curve(lambda x: self._loss(self._unpack(x, layout), h, N, D) / y - 1,
                      np.array([self._pack(s, layout) for s in starts]), (np.array(lower), np.array(upper)), where,
                      names=names, jac=jacobian, loss="soft_l1", f_scale=0.02, random_starts=random_starts,
                      jitter=jitter, seed=self.seed)
        return self._unpack(x, layout)

    @single_threaded
    def fit(self, runs: Runs) -> ScalingLaw:
        d = len(runs.domains)
        mixtures, _ = runs.mixture_ids()
        label = f"{self.name} ({self.form})"
        if len(mixtures) < 2 * d + 1:
            raise LawFitError(f"{label}: {len(mixtures)} distinct mixture(s) in the runs, the mixture term "
                              f"(E, C, gamma) needs at least {2 * d + 1} (2d + 1)")
        require_varying(mixtures, runs.domains, label)
        sizes, lengths = np.unique(runs.params), np.unique(runs.tokens)
        if len(sizes) == 2 and self.size_exponent is None:
            raise LawFitError(f"{label}: runs at 2 sizes cannot determine the size term (A, alpha) and E "
                              "together: give size_exponent, or runs at 3 or more sizes")
        if len(lengths) == 2:
            raise LawFitError(f"{label}: runs at 2 training lengths cannot determine the data term (B, beta) and "
                              "E together: give runs (or checkpoints) at 3 or more lengths")
        self.size_term_, self.data_term_ = len(sizes) > 1, len(lengths) > 2
        self.sizes_, self.lengths_ = sizes, lengths
        fitted = runs.thin(self.max_points) if self.max_points else runs
        h, N, D = fitted.mixtures, fitted.params, fitted.tokens
        self.raw_: dict[str, dict[str, np.ndarray]] = {}
        self.params_: dict[str, dict] = {}
        for i, domain in enumerate(runs.eval_domains):
            y = fitted.losses[:, i]
            where = f"{label}: domain {domain!r}"
            starts = self._starts(y, h, N, D, d)
            p = self._fit_form("additive", y, h, N, D, starts, where, random_starts=3, jitter=0.3)
            if self.form == "joint":
                # the additive fit is the joint law with every A_j, alpha_j (B_j, beta_j) equal: the
                # joint fit starts there, and from random starts around it (its surface has local minima)
                p = self._fit_form("joint", y, h, N, D, [p], where, random_starts=3, jitter=0.5)
            self.raw_[domain] = p
            self.params_[domain] = self._natural(p)
        self._fitted(runs)
        return self

    def _natural(self, p: dict[str, np.ndarray]) -> dict:
        """Raw blocks -> the law's parameters (floats, or `d`-vectors where they vary with h)."""
        def value(v: np.ndarray):
            return float(v[0]) if len(v) == 1 else v.copy()

        out = {"E": float(p["E"][0]), "C": np.exp(p["log_C"]), "gamma": p["gamma"].copy()}
        if self.size_term_:
            out["A"] = value(np.exp(p["log_A"]))
            out["alpha"] = value(p["alpha"]) if "alpha" in p else float(self.size_exponent)
        if self.data_term_:
            out["B"], out["beta"] = value(np.exp(p["log_B"])), value(p["beta"])
        return out

    def _predict(self, mixtures, params, tokens):
        if not self.size_term_ and not np.allclose(params, self.sizes_[0], rtol=1e-6):
            raise LawFitError(f"{self.name}: fitted on one model size ({self.sizes_[0]:.3g}), it has no size term "
                              "to predict another")
        if not self.data_term_ and not np.allclose(tokens, self.lengths_[0], rtol=1e-6):
            raise LawFitError(f"{self.name}: fitted on one training length ({self.lengths_[0]:.3g}), it has no "
                              "data term to predict another")
        # an optimiser's finite differences step slightly below 0, where h ** gamma is undefined
        mixtures = np.clip(mixtures, 0.0, None)
        return np.column_stack([self._loss(self.raw_[domain], mixtures, params, tokens)
                                for domain in self.eval_domains_])
