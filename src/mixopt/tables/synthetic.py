r"""Synthetic run tables with a known ground truth, for the failure modes a mixture search must survive.

Both kinds are built from a joint law of mixture ``w`` (`d` domains), model size ``N`` and tokens
``D`` in the style of Shukor et al. (2025): for each evaluation domain ``j``,

    L_j(N, D, w) = E_j + A_j(w) / N^{alpha(w)} + B_j / D^{beta},
    A_j(w) = a_j * (w_j + c)^{-gamma} * prod_k (w_k + c)^{-gamma * transfer / d},

so weight on a domain lowers its own loss (and, through ``transfer``, a little every other's).

- ``moving_optimum``: the size exponent depends on the mixture, ``alpha(w) = alpha_0 + slope * (w . u)``
  with ``u`` favouring some domains, and the coefficient grows with it (``A_j`` times
  ``exp(slope * log(crossover) * (w . u))``). Mixtures rich in those domains are worse below
  ``crossover`` parameters and better above, so the small proxies' optimum is not the target's.
- ``near_ties``: ``alpha`` is constant (proxy optima transfer), the top of the target pool is
  flattened so the best few mixtures lie within a few times ``noise``, and every recorded loss
  gets independent Gaussian noise of sd ``noise`` (run-to-run noise).

Each table is a :class:`RunTable` whose rows are what a study would have recorded: every
mixture of the proxy pool at every proxy scale and a subset at the target, at three checkpoints.
Hand-written because no library generates mixture-law tables; the law itself follows the paper.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mixopt.tables.runtable import RunTable

KINDS = ("moving_optimum", "near_ties")
#: (label, parameters); tokens are 20 per parameter (Chinchilla), steps of 2**20 tokens
SIZES = (("20M", 20e6), ("60M", 60e6), ("200M", 200e6), ("1B", 1e9))
TOKENS_PER_STEP = 2**20
CHECKPOINT_FRACTIONS = (0.25, 0.5, 1.0)
#: moving_optimum: how much the size exponent varies with the mixture, and the size at which
#: mixtures rich in the late-blooming domains overtake the rest (between the proxies and the target)
SLOPE, CROSSOVER = 0.15, 150e6


def _law(w: np.ndarray, params: float, tokens: float, alpha: np.ndarray, terms: dict) -> np.ndarray:
    """`m x d` mixtures -> `m x d` per-domain losses at one size and token count."""
    c, gamma, transfer = terms["c"], terms["gamma"], terms["transfer"]
    d = w.shape[1]
    own = (w + c) ** -gamma
    shared = np.prod((w + c) ** (-gamma * transfer / d), axis=1, keepdims=True)
    size_term = terms["a"][: len(w)] * own * shared / params ** alpha[:, None]  # "a": per run, `m x d`
    return terms["E"] + size_term + terms["B"] / tokens ** 0.3


def synthetic_table(kind: str, seed: int = 0, domains: int = 5, proxy_pool: int = 80,
                    target_pool: int = 30, noise: float | None = None) -> RunTable:
    """A synthetic run table of ``kind`` (see the module docstring).

    ``proxy_pool`` mixtures run at every proxy size; the first ``target_pool`` of them also at the
    target (1B). ``noise``: sd of the Gaussian noise on every recorded loss (default 0 for
    ``moving_optimum``, 0.002 for ``near_ties``).
    """
    if kind not in KINDS:
        raise ValueError(f"synthetic table kind {kind!r}: choose from {list(KINDS)}")
    if not 2 <= target_pool <= proxy_pool:
        raise ValueError(f"synthetic table: need 2 <= target_pool <= proxy_pool, got {target_pool}, {proxy_pool}")
    rng = np.random.default_rng(seed)
    names = [f"d{k}" for k in range(domains)]
    terms = {"E": rng.uniform(1.6, 2.4, domains), "a": rng.uniform(40.0, 80.0, domains),
             "B": rng.uniform(20.0, 40.0, domains), "c": 0.05, "gamma": 0.25, "transfer": 1.0}
    w = rng.dirichlet(np.ones(domains), proxy_pool)
    terms["a"] = np.tile(terms["a"], (proxy_pool, 1))
    if kind == "moving_optimum":
        noise = 0.0 if noise is None else noise
        u = rng.permutation(np.linspace(-1.0, 1.0, domains))
        alpha = 0.30 + SLOPE * (w @ u)
        # a larger coefficient where the exponent is steeper: the two cancel at CROSSOVER parameters
        terms["a"] = terms["a"] * np.exp(SLOPE * np.log(CROSSOVER) * (w @ u))[:, None]
    else:
        noise = 0.002 if noise is None else noise
        alpha = np.full(proxy_pool, 0.30)
    offset = np.zeros(proxy_pool)  # per run, on every domain, scale and step
    if kind == "near_ties":
        # the best 5 target mixtures end 0.5 noise sd apart: closer than one run's noise
        target = _law(w[:target_pool], SIZES[-1][1], 20 * SIZES[-1][1], alpha[:target_pool], terms).mean(axis=1)
        top = np.argsort(target)[:5]
        offset[top] = target[top[0]] + 0.5 * noise * np.arange(5) - target[top]
    rows = []
    for label, n in SIZES:
        runs = target_pool if label == SIZES[-1][0] else proxy_pool
        full = int(round(20 * n / TOKENS_PER_STEP))
        for frac in CHECKPOINT_FRACTIONS:
            step = max(1, int(round(full * frac)))
            losses = _law(w[:runs], n, step * TOKENS_PER_STEP, alpha[:runs], terms) + offset[:runs, None]
            losses = losses + (rng.normal(0.0, noise, losses.shape) if noise > 0 else 0.0)
            for i in range(runs):
                for j, dom in enumerate(names):
                    rows.append((f"{label}/{i}", label, n, step, float(step * TOKENS_PER_STEP), dom,
                                 float(losses[i, j]), *w[i]))
    data = pd.DataFrame(rows, columns=["run_id", "scale", "params", "step", "tokens", "domain", "loss",
                                       *[f"w_{d}" for d in names]])
    return RunTable.from_long(data, name=f"synthetic {kind} (seed {seed})", mixture_domains=names)
