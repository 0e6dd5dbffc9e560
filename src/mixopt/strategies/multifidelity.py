"""Multi-fidelity Bayesian optimisation over a grid of scales x run lengths: what ``mfms`` and
``multiscale`` share. Each says how its GP sees a scale and a step (``_fidelity_features``) and
builds that GP; the fidelity grid, the GP's training data and the acquisition are here.

Acquisition, for a mixture w and a fidelity f of the grid: the expected improvement of the
*target* objective that observing (w, f) buys. Observing y_f shifts the target posterior mean at w
by a normal variable with standard deviation ``s_f = cov(y_T, y_f) / sd(y_f + noise)``; the
expected improvement over the incumbent with that spread is ``s_f * phi(u) + (best - mu_T) * Phi(u)``,
``u = (best - mu_T) / s_f``. At the target it is ordinary EI; at a cheap fidelity that is nearly as
informative it is nearly as large, and dividing by ``cost(f) ** alpha`` makes it win. ``alpha``
cools from 1 to 0 over ``cooling_iterations`` (cost-aware early, information-greedy late). A batch
of q is chosen greedily, each pick conditioned on the previous ones (kriging believer).
"""

from __future__ import annotations

import abc
from typing import ClassVar

import numpy as np
import pandas as pd
import torch

from mixopt.core.constraints import MixtureBox
from mixopt.core.observations import losses, mixtures, successful, successful_runs
from mixopt.core.problem import Fidelity
from mixopt.core.simplex import is_among
from mixopt.strategies import options as opt
from mixopt.strategies.base import Proposal, ProposalBatch
from mixopt.strategies.gp_model import DTYPE, GPModelStrategy, Outputs


def thinned_checkpoints(rows: pd.DataFrame, limit: int) -> np.ndarray:
    """Boolean mask over `n` checkpoint rows keeping at most ``limit`` (at least one per run): each
    run's last checkpoint and, as the limit allows, the same number of evenly spaced earlier ones.

    Learning curves are smooth, so neighbouring checkpoints of one run add little; the GP's cost
    grows as n cubed. Runs are (iteration, trial) pairs.
    """
    keep = np.ones(len(rows), dtype=bool)
    if len(rows) <= limit:
        return keep
    runs = rows.groupby(["iteration", "trial"], sort=False).indices
    per_run = max(1, limit // len(runs))
    keep[:] = False
    steps = rows["step"].to_numpy(dtype=float)
    for positions in runs.values():
        ordered = positions[np.argsort(steps[positions], kind="stable")]
        chosen = np.unique(np.round(np.linspace(len(ordered) - 1, 0, per_run)).astype(int)) if per_run > 1 else [-1]
        keep[ordered[chosen]] = True
    return keep


def expected_improvement(gap: torch.Tensor, spread: torch.Tensor) -> torch.Tensor:
    """EI of a normal variable of sd ``spread`` over an incumbent ``gap`` below the mean (both
    `k`); `k`, at least 0. By hand: BoTorch's analytic EI takes a model, not a spread."""
    u = gap / spread
    normal = torch.distributions.Normal(0.0, 1.0)
    return (spread * normal.log_prob(u).exp() + gap * normal.cdf(u)).clamp_min(0)


#: the options of the grid and the acquisition (each strategy declares those it takes)
ACQUISITION_OPTIONS: dict[str, opt.Option] = {
    "scales": opt.names(None, "scale names"),
    "step_fractions": opt.unit_fractions([0.25, 0.5, 1.0]),
    "cooling_iterations": opt.positive_int(10),
    "raw_samples": opt.positive_int(1024),
    "min_observations": opt.positive_int(4),
    "max_checkpoints": opt.positive_int(1000),
}


class MultiFidelityGPStrategy(GPModelStrategy):
    """A GP over (mixture, scale, steps) fitted on every checkpoint, and the acquisition above.

    Options (:data:`ACQUISITION_OPTIONS`):
        scales: proxy scales of the fidelity grid (default: every known scale).
        step_fractions: fractions of each scale's full run in the grid.
        cooling_iterations: iterations over which the cost exponent cools from 1 to 0.
        raw_samples: candidate mixtures scored per fidelity (simplex mode).
        min_observations: runs before the GP is used (a space-filling design at the cheapest
            full-length fidelity until then).
        max_checkpoints: the most checkpoints the GP is fitted on; beyond it each run keeps its
            last checkpoint and evenly spaced earlier ones (an exact GP is cubic in its points).
    """

    picks_fidelity = True
    scale_options: ClassVar[tuple[str, ...]] = ("scale", "scales")
    #: mixtures scored exactly at a time (:meth:`scores`)
    SCORE_CHUNK: ClassVar[int] = 64

    @abc.abstractmethod
    def _fidelity_features(self, scales: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """`n x f` GP inputs of `n` checkpoints' scales and steps (the columns after the mixture)."""

    # -- fidelities ----------------------------------------------------------------------------

    def grid(self) -> list[Fidelity]:
        """The fidelities trials may run at: each proxy scale x each step fraction."""
        scales = self.options["scales"] or list(self.problem.full_steps)  # known scales (check_options)
        out = []
        for scale in scales:
            full = self.problem.full_steps[scale]
            recorded = self.problem.recorded_steps.get(scale)
            for frac in sorted(set(self.options["step_fractions"])):
                steps = max(1, int(round(full * frac)))
                if recorded:  # recorded runs stop only where they were evaluated: the nearest one
                    steps = min(recorded, key=lambda r: abs(r - steps))
                out.append(Fidelity(scale, steps))
        return sorted(set(out), key=self.cost)

    def fidelities(self) -> list[Fidelity]:
        return self.grid()

    def design_fidelity(self, grid: list[Fidelity], n: int) -> Fidelity:
        """The cheapest full run of the grid where ``n`` candidates can run (else the one where most can)."""
        full = [f for f in grid if f.steps == self.problem.full_steps[f.scale]] or grid
        if self.candidates is None:
            return min(full, key=self.cost)
        room = {f: len(self.runnable(f)) for f in full}
        enough = [f for f in full if room[f] >= n]
        return min(enough, key=self.cost) if enough else max(full, key=lambda f: (room[f], -self.cost(f)))

    def cost(self, fidelity: Fidelity) -> float:
        """FLOPs of a run to ``fidelity``."""
        return self.problem.cost(fidelity)

    def inputs(self, w: np.ndarray, fidelity: Fidelity) -> torch.Tensor:
        """`k x d` mixtures at one fidelity -> `k x (d + 2)` GP inputs."""
        w = np.atleast_2d(w)
        f = self._fidelity_features(np.full(len(w), fidelity.scale), np.full(len(w), fidelity.steps, dtype=float))
        return torch.tensor(np.hstack([w, f]), dtype=DTYPE)

    def answer_inputs(self, mixtures_: np.ndarray) -> torch.Tensor:
        return self.inputs(mixtures_, self.problem.target)

    def inputs_at(self, mixtures_: np.ndarray, fidelity: Fidelity) -> torch.Tensor | None:
        return self.inputs(mixtures_, fidelity) if fidelity.scale in self.problem.full_steps else None

    # -- model ---------------------------------------------------------------------------------

    def training_data(self, observations: pd.DataFrame, outputs: Outputs) -> tuple[torch.Tensor, torch.Tensor]:
        """Every checkpoint of every run at a known scale: `n x (d + 2)` inputs, `n x k` outcomes."""
        rows = observations[observations["scale"].isin(list(self.problem.full_steps))]
        rows = rows[pd.to_numeric(rows["step"], errors="coerce").notna()]
        y = losses(rows, self.problem)[:, outputs.modelled] if len(rows) else np.zeros((0, len(outputs.modelled)))
        keep, y = outputs.outcomes(rows, y)
        rows = rows[keep]
        thinned = thinned_checkpoints(rows, self.options["max_checkpoints"])
        rows, y = rows[thinned], y[thinned]
        if rows.empty:
            return (torch.zeros(0, self.problem.dim + 2, dtype=DTYPE),
                    torch.zeros(0, len(outputs.modelled), dtype=DTYPE))
        X = np.hstack([mixtures(rows, self.problem),
                       self._fidelity_features(rows["scale"].to_numpy(), rows["step"].to_numpy(dtype=float))])
        return torch.tensor(X, dtype=DTYPE), torch.tensor(y, dtype=DTYPE)

    # -- acquisition ---------------------------------------------------------------------------

    def _observed_mixtures(self, observations: pd.DataFrame, box: MixtureBox | None = None) -> np.ndarray:
        """`k x d` distinct mixtures with a successful trial at any fidelity (inside ``box``)."""
        seen = np.unique(mixtures(successful(observations), self.problem), axis=0)
        seen = seen[np.isfinite(seen).all(axis=1)]
        return seen if box is None else seen[box.contains(seen)]

    def _target_means(self, model, w: np.ndarray, outputs: Outputs) -> torch.Tensor:
        """Posterior mean of the target objective at `k x d` mixtures; `k x 1`."""
        mean, _ = self.objective_posterior(model, self.inputs(w, self.problem.target).unsqueeze(1), outputs,
                                            noisy=False)
        return mean

    def incumbent(self, model, observations: pd.DataFrame, outputs: Outputs) -> float:
        """Lowest posterior mean of the target objective over the mixtures observed so far that
        may run at the target (all of them, if none may)."""
        seen = self._observed_mixtures(observations, self.box(self.problem.target))
        seen = seen if len(seen) else self._observed_mixtures(observations)
        return float(self._target_means(model, seen, outputs).min())

    def value_of_observing(self, model, w: np.ndarray, fidelity: Fidelity, best: float,
                           outputs: Outputs) -> np.ndarray:
        """Expected improvement of the target objective from observing `k x d` mixtures at
        ``fidelity`` (see the module docstring); `k`."""
        X = torch.stack([self.inputs(w, self.problem.target), self.inputs(w, fidelity)], dim=1)
        mean, cov = self.objective_posterior(model, X, outputs, noisy=True)
        spread = (cov[:, 0, 1] / cov[:, 1, 1].clamp_min(1e-12).sqrt()).clamp_min(1e-9)
        return expected_improvement(best - mean[:, 0], spread).numpy()

    def scores(self, model, w: np.ndarray, grid: list[Fidelity], best: float, outputs: Outputs,
               weight: np.ndarray, divisor: np.ndarray, done: np.ndarray) -> np.ndarray:
        """`|grid| x k`: ``weight`` (`k`) x :meth:`value_of_observing` / ``divisor`` (`|grid|`) of
        each mixture at each fidelity, ``-inf`` where ``done``, and also ``-inf`` where it cannot
        be the largest (so the argmax is the exact one's).

        Observing any fidelity moves the target mean by a spread of at most the target's own
        posterior sd (Cauchy-Schwarz), and EI grows with the spread: so a mixture's EI at the
        target with that sd bounds its value at every fidelity. Mixtures are scored exactly in
        descending order of that bound until the bound falls below the best exact score: on a
        5,000-checkpoint swarm this skips most of the `|grid| x k` joint posteriors.
        """
        scores = np.full((len(grid), len(w)), -np.inf)
        open_ = ~done.all(axis=0)
        if not open_.any():
            return scores
        mean, cov = self.objective_posterior(model, self.inputs(w, self.problem.target).unsqueeze(1), outputs)
        sd = cov[:, 0, 0].clamp_min(0).sqrt().clamp_min(1e-9)
        reach = np.where(done, 0.0, 1.0 / divisor[:, None]).max(axis=0)  # the cheapest open fidelity
        bound = weight * expected_improvement(best - mean[:, 0], sd).numpy() * reach
        order = np.flatnonzero(open_)[np.argsort(-bound[open_], kind="stable")]
        top = -np.inf
        for start in range(0, len(order), self.SCORE_CHUNK):
            chunk = order[start:start + self.SCORE_CHUNK]
            if bound[chunk[0]] < top or (bound[chunk[0]] == 0 and top == 0):  # nothing left can beat it
                break
            for fi, fidelity in enumerate(grid):
                exact = weight[chunk] * self.value_of_observing(model, w[chunk], fidelity, best, outputs) / divisor[fi]
                scores[fi, chunk] = np.where(done[fi, chunk], -np.inf, exact)
            top = max(top, scores[:, chunk].max())
        return scores

    def cost_exponent(self, iteration: int) -> float:
        return max(0.0, 1.0 - (iteration - 1) / self.options["cooling_iterations"])

    def _mixture_candidates(self, model, observations: pd.DataFrame, seed: int, outputs: Outputs,
                            box: MixtureBox) -> np.ndarray:
        """The pool, or space-filling points, the observed mixtures and points near the 5 best,
        inside ``box`` (points near the best are projected into it)."""
        if self.candidates is not None:
            return self.candidates
        rng = np.random.default_rng(seed)
        base = box.sample(self.options["raw_samples"], seed)
        seen = self._observed_mixtures(observations, box)
        top = seen[np.argsort(self._target_means(model, seen, outputs)[:, 0].numpy())[:5]] if len(seen) else seen
        local = (np.vstack([rng.dirichlet(50 * w + 0.5, size=64) for w in top]) if len(top)
                 else np.zeros((0, self.problem.dim)))
        if len(local) and not box.is_unconstrained:
            local = box.project(local)
        return np.vstack([base, seen, local])

    def _already_observed(self, observations: pd.DataFrame, w: np.ndarray, grid: list[Fidelity]) -> np.ndarray:
        """`|grid| x k`: True where that mixture already has a checkpoint at that scale and step."""
        done = np.zeros((len(grid), len(w)), dtype=bool)
        ok = successful(observations)
        for fi, f in enumerate(grid):
            rows = ok[(ok["scale"] == f.scale) & (pd.to_numeric(ok["step"]) >= f.steps)]
            if len(rows):
                done[fi] = is_among(w, mixtures(rows, self.problem))
        return done

    def search(self, observations: pd.DataFrame, n: int, iteration: int) -> ProposalBatch:
        outputs = self.outputs(objective_only=True)  # proposing needs only the objective: one GP
        X, _ = self.training_data(observations, outputs)
        runs = successful_runs(observations)
        grid = self.grid()
        if runs < self.options["min_observations"] or len(X) < 2:
            where = self.design_fidelity(grid, n)
            return ProposalBatch(self.initial_design(n, iteration, observations, where),
                                 {"design": "space-filling at the cheapest full run", "runs": runs})
        seed = self.iteration_seed(iteration)
        model = self.fit(observations, outputs)
        best = self.incumbent(model, observations, outputs)
        alpha = self.cost_exponent(iteration)
        w = self._mixture_candidates(model, observations, seed, outputs, self.box(self.problem.target))
        unit = self.cost(self.problem.target)
        chosen: list[Proposal] = []
        done = self._already_observed(observations, w, grid)
        if self.candidates is not None and self.available is not None:  # pool: not recorded there
            done |= ~np.stack([self.available.get(f, np.ones(len(w), dtype=bool)) for f in grid])
        done |= ~np.stack([self.box(f).contains(w) for f in grid])  # a run there would break the constraints
        # constrained EI (Gardner et al., 2014): EI times P(no worse than the reference) at the target
        feasible = 1.0 if self.no_worse is None else self.probability_no_worse(
            self.fit(observations, self.outputs(objective_only=False)), w)
        weight = np.broadcast_to(np.asarray(feasible, dtype=float), (len(w),))
        divisor = np.array([(self.cost(f) / unit) ** alpha for f in grid])
        for _ in range(n):
            scores = self.scores(model, w, grid, best, outputs, weight, divisor, done)  # `|grid| x k`
            if not np.isfinite(scores).any():
                break
            fi, wi = np.unravel_index(int(np.argmax(scores)), scores.shape)
            done[:, wi] = True  # distinct mixtures within the batch (a longer run holds the shorter one)
            fidelity = grid[fi]
            chosen.append(Proposal(w[wi], fidelity))
            # kriging believer: condition on the posterior mean there, so the next pick goes elsewhere
            x = self.inputs(w[wi], fidelity)
            with torch.no_grad():
                y = model.posterior(x).mean
            model = model.condition_on_observations(x, y)
        return ProposalBatch(chosen, {
            "design": "multi-fidelity EI per cost^alpha", "alpha": alpha, "incumbent": best,
            "fidelities": [(p.fidelity.scale, p.fidelity.steps) for p in chosen], "checkpoints_used": len(X),
            **({"prior_mean": self.prior_note} if self.prior_note else {}),
        })
