"""Multi-fidelity, multi-scale Bayesian optimisation (arXiv 2503.21023).

One GP over (mixture, model size, training steps): a product of RBF kernels over the three blocks
(ARD over the mixture) with a linear mean, fitted on *every checkpoint* of every run -- a run to z
steps also observed every z' < z. Sizes enter as log FLOPs per step, steps as log steps, both
scaled to [0, 1] over the fidelity grid and the target.

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

from typing import Any

import numpy as np
import pandas as pd
import torch
from botorch.models import SingleTaskGP
from botorch.models.transforms import Standardize
from gpytorch.kernels import Kernel
from gpytorch.means import LinearMean

from mixopt.core.constraints import MixtureBox
from mixopt.core.observations import losses, mixtures, successful_runs
from mixopt.core.problem import Fidelity
from mixopt.core.simplex import is_among
from mixopt.gp.kernels import DISTANCES, mixture_fidelity_kernel
from mixopt.gp.means import FidelityLinearMean
from mixopt.strategies import options as opt
from mixopt.strategies.base import Proposal, ProposalBatch, Recommendation, fallback
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


class MFMSStrategy(GPModelStrategy):
    """Options:
        scales: proxy scales of the fidelity grid (default: every known scale).
        step_fractions: fractions of each scale's full run in the grid.
        cooling_iterations: iterations over which the cost exponent cools from 1 to 0.
        raw_samples: candidate mixtures scored per fidelity (simplex mode).
        min_observations: runs before the GP is used (a space-filling design at the cheapest
            full-length fidelity until then).
        mixture_kernel: ``rbf`` (ARD, the paper's), or a simplex distance: ``tv`` (total
            variation) or ``js`` (Jensen-Shannon), see :mod:`mixopt.gp.kernels`.
        mean: ``linear`` in every input (the paper's), or ``fidelity``: linear in size and steps
            only, so the mixture's effect lives in the GP alone and shrinks evenly across
            mixtures as the target gets further from what was trained.
        structure: ``product`` (the paper's kernel) or ``additive`` (plus a fidelity-only term).
        recommend_from: ``observed``: the recommendation is a mixture trained at some fidelity
            (the model ranks them at the target); ``anywhere``: any candidate (pool) or point of
            the simplex, trusting the model where no mixture near it was trained.
        max_checkpoints: the most checkpoints the GP is fitted on; beyond it each run keeps its
            last checkpoint and evenly spaced earlier ones (an exact GP is cubic in its points).
    """

    name = "mfms"
    picks_fidelity = True
    scale_options = ("scale", "scales")
    declared_options = {
        **GPModelStrategy.declared_options,
        "scales": opt.names(None, "scale names"),
        "step_fractions": opt.unit_fractions([0.25, 0.5, 1.0]),
        "cooling_iterations": opt.positive_int(10),
        "raw_samples": opt.positive_int(1024),
        "min_observations": opt.positive_int(4),
        "recommend_from": opt.choice(("observed", "anywhere"), "observed"),
        "mixture_kernel": opt.choice(("rbf", *DISTANCES), "rbf"),
        "structure": opt.choice(("product", "additive"), "product"),
        "mean": opt.choice(("linear", "fidelity"), "linear"),
        "max_checkpoints": opt.positive_int(1000),
    }

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

    def _fidelity_features(self, scales: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """(log FLOPs per step, log steps) of `n` checkpoints, scaled to [0, 1] over the grid and
        the target; `n x 2`."""
        grid = self.grid() + [self.problem.target]
        size = np.log([self.problem.step_flops[f.scale] for f in grid])
        length = np.log([f.steps for f in grid])
        lo = np.array([size.min(), np.log(max(1, min(f.steps for f in grid) // 4))])
        hi = np.array([size.max(), length.max()])
        span = np.where(hi > lo, hi - lo, 1.0)
        raw = np.column_stack([np.log([self.problem.step_flops[s] for s in scales]), np.log(steps)])
        return (raw - lo) / span

    def law_inputs(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`n x (d + 2)` GP inputs -> (mixtures, parameters, tokens) for a law. The size input is
        FLOPs per step; each input is mapped to the known scale nearest to it (the GP is only ever
        evaluated at known scales)."""
        d = self.problem.dim
        scales = list(self.problem.full_steps)
        known = self._fidelity_features(np.array(scales), np.ones(len(scales)))[:, 0]
        nearest = np.abs(X[:, d][:, None] - known[None, :]).argmin(axis=1)
        grid = self.grid() + [self.problem.target]
        lo = np.log(max(1, min(f.steps for f in grid) // 4))
        steps = np.exp(lo + X[:, d + 1] * (np.log(max(f.steps for f in grid)) - lo))
        params = np.array([self.problem.n_params(scales[i]) for i in nearest])
        per_step = np.array([self.problem.step_flops[scales[i]] for i in nearest]) / (6.0 * params)
        return X[:, :d], params, steps * per_step

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

    def build_model(self, X: torch.Tensor, Y: torch.Tensor, observations: pd.DataFrame,
                    outputs: Outputs) -> SingleTaskGP:
        """The paper's product kernel over (mixture, size, steps) and a linear mean, or the law's."""
        d, m = self.problem.dim, Y.shape[-1]
        batch = torch.Size([m]) if m > 1 else torch.Size([])
        covar = self.covariance(d, batch)
        torch.manual_seed(self.seed)
        mean = self.prior_mean(observations, Y, outputs) or (
            LinearMean(d + 2, batch_shape=batch) if self.options["mean"] == "linear"
            else FidelityLinearMean(d, batch_shape=batch))
        return SingleTaskGP(X, Y, covar_module=covar, mean_module=mean, outcome_transform=Standardize(m=m))

    def covariance(self, d: int, batch: torch.Size) -> Kernel:
        """The paper's product kernel over (mixture, size, steps); see :func:`mixture_fidelity_kernel`."""
        return mixture_fidelity_kernel(d, batch, self.options["mixture_kernel"], self.options["structure"])

    def hyperparameters(self, model: SingleTaskGP) -> dict[str, Any]:
        return {"noise": model.likelihood.noise.detach().reshape(-1).tolist()}

    # -- acquisition ---------------------------------------------------------------------------

    def _observed_mixtures(self, observations: pd.DataFrame, box: MixtureBox | None = None) -> np.ndarray:
        """`k x d` distinct mixtures with a successful trial at any fidelity (inside ``box``)."""
        seen = np.unique(mixtures(observations[observations["status"] == "ok"], self.problem), axis=0)
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
        gap = best - mean[:, 0]
        u = gap / spread
        normal = torch.distributions.Normal(0.0, 1.0)
        ei = spread * normal.log_prob(u).exp() + gap * normal.cdf(u)
        return ei.clamp_min(0).numpy()

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
        ok = observations[observations["status"] == "ok"]
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
        for _ in range(n):
            scores = np.stack([feasible * self.value_of_observing(model, w, f, best, outputs) / (self.cost(f) / unit) ** alpha
                               for f in grid])  # `|grid| x k`
            scores[done] = -np.inf
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

    def answer(self, observations: pd.DataFrame, per_domain: bool = True) -> Recommendation:
        """The mixture minimising the posterior mean of the target objective at the target fidelity,
        among the candidates (pool) or a dense set plus every observed mixture."""
        outputs = self.outputs(objective_only=not per_domain and self.no_worse is None)
        X, _ = self.training_data(observations, outputs)
        if len(X) < 2:
            return fallback(observations, self.problem, self.problem.target, "too few observations to fit the GP")
        model = self.fit(observations, outputs)
        box = self.box(self.problem.target)
        if self.options["recommend_from"] == "observed":
            w = self._observed_mixtures(observations, box)
        else:
            w = self._mixture_candidates(model, observations, self.iteration_seed(0), outputs, box)
        w = self.with_reference(w)
        prediction = self.predict(model, self.inputs(w, self.problem.target), outputs)
        best, checked = int(np.argmin(prediction["objective_mean"])), {}
        if self.no_worse is not None:
            best, checked = self.keep_no_worse(model, w, prediction["objective_mean"])
        trained = (observations["scale"] == self.problem.target.scale).any()
        return Recommendation(
            mixture=w[best], fidelity=self.problem.target,
            objective=float(prediction["objective_mean"][best]),
            objective_std=float(prediction["objective_std"][best]),
            losses=prediction["loss_mean"][best], loss_std=prediction["loss_std"][best],
            method="multi-fidelity GP posterior mean minimum at the target",
            considered=w,
            details={"checkpoints_used": len(X),
                     "target_scale_trained": bool(trained), **checked,
                     **({} if trained else {"note": f"the target scale {self.problem.target.scale} was never "
                                                    "trained: its prediction is an extrapolation across sizes"})},
        )
