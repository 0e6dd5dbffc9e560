"""The scaling law for optimal data mixtures (Shukor et al., 2025), one law per evaluation domain.

``additive``: ``L = E + 1 / sum_j C_j h_j ** gamma_j + A / N ** alpha + B / D ** beta``.
``joint``: the size and data terms depend on the mixture, their coefficients and exponents linear
in it: ``A_h = sum_j A_j h_j``, ``alpha_h = sum_j alpha_j h_j`` (and B_h, beta_h alike).

Fitted on every checkpoint (N, D, h) by bounded least squares on relative error, positive
coefficients in log space, several starts. A term the data cannot determine is handled plainly:
runs at one size (or one training length) have no size (data) term, and the law then refuses to
predict at another; two sizes determine the size term only with a fixed ``size_exponent``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mixopt.laws.base import Law, LawFitError, Runs, fit_least_squares, require


class ScalingLaw(Law):
    """Args:
        form: ``additive`` or ``joint``.
        size_exponent: fixes alpha (needed with runs at exactly 2 sizes).
        seed: for the random starts.

    After ``fit``, ``params_[domain]`` = ``{"E", "C", "gamma", "A", "alpha", "B", "beta"}`` (vectors
    over training domains for the joint form's size and data terms; absent terms are omitted).
    """

    name: ClassVar[str] = "scaling_law"

    def __init__(self, form: str = "additive", size_exponent: float | None = None, seed: int = 0) -> None:
        if form not in ("additive", "joint"):
            raise ValueError(f"scaling_law: form must be 'additive' or 'joint', got {form!r}")
        self.form, self.size_exponent, self.seed = form, size_exponent, seed

    def _layout(self, d: int) -> list[tuple[str, int]]:
        """(name, length) of each parameter block."""
        width = d if self.form == "joint" else 1
        blocks = [("E", 1), ("log_C", d), ("gamma", d)]
        if self.size_term:
            blocks += [("log_A", width)] + ([("alpha", width)] if self.size_exponent is None else [])
        if self.data_term:
            blocks += [("log_B", width), ("beta", width)]
        return blocks

    def _unpack(self, p: np.ndarray, d: int) -> dict[str, np.ndarray]:
        out, i = {}, 0
        for name, length in self._layout(d):
            out[name] = p[i:i + length]
            i += length
        return out

    def _loss(self, p: dict, h: np.ndarray, N: np.ndarray, D: np.ndarray) -> np.ndarray:
        mix = 1.0 / (np.exp(p["log_C"]) * h ** p["gamma"]).sum(axis=1)
        out = p["E"][0] + mix
        joint = self.form == "joint"
        if self.size_term:
            A = h @ np.exp(p["log_A"]) if joint else np.exp(p["log_A"][0])
            alpha = self.size_exponent if self.size_exponent is not None else (h @ p["alpha"] if joint else p["alpha"][0])
            out = out + A * np.exp(-alpha * np.log(N))
        if self.data_term:
            B = h @ np.exp(p["log_B"]) if joint else np.exp(p["log_B"][0])
            beta = h @ p["beta"] if joint else p["beta"][0]
            out = out + B * np.exp(-beta * np.log(D))
        return out

    def fit(self, runs: Runs) -> "ScalingLaw":
        d = len(runs.domains)
        mixtures, _ = runs.mixture_ids()
        require(len(mixtures), d + 2, self.name, "distinct mixture(s)")
        sizes, lengths = np.unique(runs.params), np.unique(runs.tokens)
        if len(sizes) == 2 and self.size_exponent is None:
            raise LawFitError(f"{self.name}: runs at 2 sizes cannot determine the size term (A, alpha) and E "
                              "together: give size_exponent, or runs at 3 or more sizes")
        if len(lengths) == 2:
            raise LawFitError(f"{self.name}: 2 training lengths cannot determine the data term (B, beta) and E")
        self.size_term, self.data_term = len(sizes) > 1, len(lengths) > 2
        self.sizes_, self.lengths_ = sizes, lengths
        h, N, D = runs.mixtures, runs.params, runs.tokens
        lower, upper = [], []
        bounds = {"E": (0.0, None), "log_C": (-20.0, 20.0), "gamma": (0.01, 3.0), "log_A": (-20.0, 60.0),
                  "alpha": (0.01, 2.0), "log_B": (-20.0, 60.0), "beta": (0.01, 2.0)}
        rng = np.random.default_rng(self.seed)
        self.params_ = {}
        for i, domain in enumerate(runs.eval_domains):
            y = runs.losses[:, i]
            lower, upper = [], []
            for name, length in self._layout(d):
                lo, hi = bounds[name]
                lower += [lo] * length
                upper += [float(y.min()) if hi is None else hi] * length
            lower, upper = np.array(lower), np.array(upper)
            starts = []
            for k in range(4):
                # size and data terms each start near a tenth of the loss, the mixture term near a half
                x = {"E": [0.4 * y.min()], "log_C": np.full(d, np.log(2.0 / y.mean())), "gamma": np.full(d, 0.5),
                     "log_A": np.full(d if self.form == "joint" else 1, np.log(0.1 * y.mean()) + 0.3 * np.log(sizes.mean())),
                     "alpha": np.full(d if self.form == "joint" else 1, 0.3),
                     "log_B": np.full(d if self.form == "joint" else 1, np.log(0.1 * y.mean()) + 0.3 * np.log(lengths.mean())),
                     "beta": np.full(d if self.form == "joint" else 1, 0.3)}
                if self.size_exponent is not None:
                    x["log_A"] = x["log_A"] - 0.3 * np.log(sizes.mean()) + self.size_exponent * np.log(sizes.mean())
                x0 = np.concatenate([np.asarray(x[name], dtype=float) for name, _ in self._layout(d)])
                if k:
                    x0 = x0 + rng.normal(0, 0.3, x0.shape)
                starts.append(x0)
            where = f"{self.name} ({self.form}): domain {domain!r}"
            p = fit_least_squares(lambda p: self._loss(self._unpack(p, d), h, N, D) / y - 1, starts, lower, upper, where)
            self.params_[domain] = self._unpack(p, d)
        self.eval_domains_ = runs.eval_domains
        self.fitted_ = True
        return self

    def _predict(self, mixtures, params, tokens):
        if not self.size_term and not np.allclose(params, self.sizes_[0], rtol=1e-9):
            raise LawFitError(f"{self.name}: fitted on one model size ({self.sizes_[0]:.3g}); cannot predict another")
        if not self.data_term and not np.allclose(tokens, self.lengths_[0], rtol=1e-9):
            raise LawFitError(f"{self.name}: fitted on one training length; cannot predict another")
        return np.column_stack([self._loss(self.params_[dom], mixtures, params, tokens) for dom in self.eval_domains_])
