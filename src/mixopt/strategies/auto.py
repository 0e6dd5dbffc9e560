"""The robust default: screen at a cheap proxy, confirm at the target, trust what has earned it.

What a careful person does by hand, as a portfolio of three arms that propose *target* runs:

- **proxy**: the mixture the proxy scale's GP ranks best among those not yet run at the
  target (the cheapest scale first). Iteration 0 screens there (no target run): a space-filling
  design of as many proxy runs as cost ``screen_cost`` (one) target run, at least the batch. Every
  later iteration spends the batch's other slots on the proxy (qLogNEI at the proxy, as ``gp``
  with ``scale`` would).
- **target**: the target-only GP's qLogNEI pick (``gp``), once the target runs can fit it.
- **explore**: the unrun target mixture nearest to the next point of a scrambled Sobol sequence on
  the simplex (the space-filling design gp and mfms start from).

Each iteration runs ``target_runs`` mixtures at the target (default 1: the whole point is to pay
for as few target runs as possible; a target run that confirms or refutes the proxy informs the
next pick) while the proxy may still transfer. Once its picks fail to rank the target runs (its
skill below ``min_skill`` after 3 target runs), or the target runs stop improving on their best
less often than random draws would (a proxy that ranks the spread of mixtures but not the best
ones: its optimum does not transfer), the strategy climbs to the next larger proxy scale
costing at most ``climb_cost`` of a target run: it reruns the target runs' mixtures there (a direct
measure of whether that scale ranks them as the target does) and screens and confirms with that
scale's GP. When the largest such scale fails too, the whole batch runs at the target.

Which arm picks a target run is decided by each arm's *measured skill on the target runs so far*: the Spearman correlation between what the arm's model predicts for the mixtures run at the
target and what they gave there (the proxy GP never sees a target run, so its skill is honest; the
target GP's is its leave-one-out prediction). The first target run is the proxy's pick, the second
explores (a yardstick: a proxy pick is only good relative to something), and every
``explore_every``-th run explores whatever the skills say, so a wrong model costs at most a bounded
share of target runs against random search. After that the arm with the higher skill picks; when
neither ranks the target runs (skill below ``min_skill``), the run explores. With a single scale
there is no proxy, and the strategy is ``gp`` (a space-filling design, then qLogNEI, a GP per
domain).

The recommendation is always the best mixture *run at the target*: under near-ties a model's
unrun favourite is a guess that costs a target run to check, and a recommendation that churns
among mixtures within noise of each other buys nothing.

Why not one multi-scale GP (``mfms``, ``multiscale``): on problems they were not tuned on, a model
that extrapolates a proxy's ranking to the target (or learns cross-scale correlations from a
handful of shared mixtures) fails silently when the proxy does not transfer, and then pays for
many target runs. Here transfer is *measured* on target runs before it is relied on again.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr

from mixopt.core.constraints import Constraints
from mixopt.core.observations import at_fidelity, mixtures
from mixopt.core.problem import Fidelity, Problem
from mixopt.core.simplex import is_among
from mixopt.core.space import MixtureSpace
from mixopt.strategies import options as opt
from mixopt.strategies.base import ProposalBatch, Recommendation, Strategy, best_observed
from mixopt.strategies.gp import GPStrategy
from mixopt.strategies.gp_model import DTYPE



class AutoStrategy(Strategy):
    """Options:
        proxy: the proxy scale to screen at (default: the cheapest scale cheaper than the target
            where mixtures can run); ``null`` with a single scale.
        screen: proxy runs in iteration 0 (default: from ``screen_cost``).
        screen_cost: what iteration 0's screen may cost, in target runs: that many target runs'
            compute in proxy runs, at least the batch and at most 10 per dimension of the mixture.
            One target run's worth bounds what screening can cost against not screening, and a
            cheap proxy's ranking is worth that much (10 seeds of the suite's problems: see
            docs/strategies.md).
        target_runs: target runs per iteration after the screen while the proxy is trusted (the rest
            of the batch runs at the proxy).
        explore_every: every k-th target run explores (space-filling), whatever the skills say.
        min_skill: below this Spearman correlation with the target runs an arm's model is not
            trusted to pick.
        raw_samples: candidate mixtures scored on the simplex (no pool).
        climb: when the proxy's picks fail to rank the target runs, move to the next larger
            proxy scale (calibrated on the target runs' mixtures) before giving up on proxies.
        climb_cost: the most a scale climbed to may cost, as a fraction of a target run (its
            calibration reruns the target runs' mixtures there).
        yardstick: the second target run explores, so that the proxy's first pick is measured
            against something; ``false``: the proxy picks it too (faster where the proxy transfers,
            slower where it does not: docs/strategies.md).
        settle: up to this many iterations (0: none) between target runs, the whole batch runs at
            the proxy while the proxy GP's favourite is a mixture not yet run there, so that a proxy
            pick goes to the target once it is measured, not guessed between runs (at most
            ``screen_cost`` target runs' worth of proxy runs). Faster where the proxy transfers,
            it failed to reach in some seeds where it transfers partly: docs/strategies.md.
        explore: how an exploring target run is picked from a pool: ``sobol``, the unrun mixture
            nearest the next Sobol point; ``random``, an unrun mixture drawn at random, random
            search's own pace (nearest-point picks concentrate on part of a pool: which part, good
            or bad, depends on the pool). Without a pool, always ``sobol``. ``random`` was faster on
            most suite problems but reached less often on ADMIRE's GSM8K task: docs/strategies.md.
        patience, stall_chance: the proxy in use has stalled once its best target run came `k`-th
            of `k + m` with `k / (k + m)` below ``stall_chance`` (random draws of those runs would
            have put the best later more often) and at least ``patience`` of the `m` came after
            that proxy came into use; ``patience: 0`` never stalls. Where the proxy's optimum does
            not transfer (the RegMix simulator) this reached in 6 of 10 seeds where none did;
            a fixed count of runs without a win (3) lost seeds on ADMIRE's near-ties:
            docs/strategies.md.
    """

    name = "auto"
    picks_fidelity = True
    scale_options = ("scale", "proxy")
    declared_options = {
        "proxy": opt.Option(None, "a scale name or null", lambda v: v is None or isinstance(v, str)),
        "screen": opt.positive_int(None, optional=True),
        "screen_cost": opt.positive_number(1.0),
        "target_runs": opt.positive_int(1),
        "explore_every": opt.integer_at_least(2, 4),
        "min_skill": opt.number_in(-1.0, 1.0, 0.2),
        "raw_samples": opt.positive_int(1024),
        "climb": opt.boolean(True),
        "climb_cost": opt.number_in(0.0, 1.0, 0.25),
        "yardstick": opt.boolean(True),
        "settle": opt.integer_at_least(0, 0),
        "explore": opt.choice(["sobol", "random"], "sobol"),
        "patience": opt.integer_at_least(0, 3),
        "stall_chance": opt.number_in(0.0, 1.0, 0.25),
    }

    def __init__(self, problem: Problem, seed: int = 0, space: MixtureSpace | None = None,
                 constraints: Constraints | None = None, **options: Any) -> None:
        super().__init__(problem, seed, None, constraints, **options)
        if self.options["scale"] is not None:
            raise ValueError("auto: option 'scale' does not apply (auto picks the scale of each run; "
                             "use 'proxy' to choose its proxy)")
        self.space = space
        #: the proxy scales, cheapest first: the screening proxy and, with ``climb``, the larger
        #: ones cheaper than the target that the strategy moves to when a smaller one fails
        self.ladder = self._ladder()
        self.proxy = self.ladder[0] if self.ladder else None
        if space is not None:
            self._restrict(space)
        # the proxy GPs are one GP on the objective where it is linear: they rank a screen of up to
        # 10 runs per dimension every iteration, and a GP per domain costs many times more (22
        # domains on Data Mixing Laws). The target GP is gp's own, a GP per domain: once the proxies
        # fail it carries the search, and there it needs fewer target runs (docs/strategies.md)
        self.proxy_model = ({"model": "objective"} if self.proxy is not None and self.problem.is_linear
                            and self.constraints.no_worse_than_reference is None else {})
        self.target_gp = GPStrategy(self.problem, self.seed, constraints=self.constraints)
        self.target_gp.candidates = self.candidates
        #: `k x d` mixtures the proxy and explore arms choose among on the simplex (no pool): scoring a
        #: proxy GP over a dense seeded set costs a fraction of optimize_acqf's restarts per pick. The
        #: target GP's own picks optimise qLogNEI over the simplex as ``gp`` does: once the proxy has
        #: failed, they carry the search, and a fixed set is too sparse near the best (17 domains on
        #: the RegMix simulator)
        self.dense = (self.box(self.problem.target).sample(self.options["raw_samples"], self.seed)
                      if self.proxy is not None and self.candidates is None else None)
        self.proxy_gps = {f.scale: self._proxy_gp(f, rung) for rung, f in enumerate(self.ladder)}

    def _proxy_gp(self, proxy: Fidelity, rung: int) -> GPStrategy:
        """The GP of one proxy scale: ``gp`` at that scale, over its pool or a dense seeded set."""
        gp = GPStrategy(self.problem, self.seed, constraints=self.constraints, scale=proxy.scale,
                        min_observations=2, **self.proxy_model)
        pool = None if self.space is None else self.space.mixtures_at(proxy)
        gp.candidates = (self.box(proxy).sample(self.options["raw_samples"], self.seed + 1 + rung) if pool is None
                         else pool[self.box(proxy).contains(pool)])
        return gp

    # -- fidelities ----------------------------------------------------------------------------

    def _ladder(self) -> list[Fidelity]:
        """Full runs at the proxy scales, cheapest first: the ``proxy`` option (else the cheapest
        scale cheaper than the target where some mixture inside the constraints can run) and, with
        ``climb``, every larger such scale costing at most ``climb_cost`` of a target run."""
        problem, target = self.problem, self.problem.target
        cheaper = sorted((problem.fidelity(s) for s in problem.full_steps
                          if s != target.scale and problem.cost(problem.fidelity(s)) < problem.cost(target)),
                         key=problem.cost)
        runnable = [f for f in cheaper if self._can_run(f)]
        if self.options["proxy"] is not None:
            if self.options["proxy"] == target.scale:
                raise ValueError(f"auto: option 'proxy' is the target scale {target.scale!r}")
            first = problem.fidelity(self.options["proxy"])
            if not self._can_run(first):
                raise ValueError(f"auto: no mixture inside the constraints can run at the proxy {first.scale!r}")
            runnable = [first, *(f for f in runnable if problem.cost(f) > problem.cost(first))]
        if not runnable or not self.options["climb"]:
            return runnable[:1]
        affordable = self.options["climb_cost"] * problem.cost(target)
        return [runnable[0], *(f for f in runnable[1:] if problem.cost(f) <= affordable)]

    def _can_run(self, fidelity: Fidelity) -> bool:
        pool = None if self.space is None else self.space.mixtures_at(fidelity)
        return pool is None or bool(len(pool) and self.box(fidelity).contains(pool).any())

    def fidelities(self) -> list[Fidelity]:
        return [*self.ladder, self.problem.target]

    # -- the arms ------------------------------------------------------------------------------

    def _target_rows(self, observations: pd.DataFrame) -> pd.DataFrame:
        """Successful full target runs in the order they ran."""
        rows = at_fidelity(observations, self.problem.target) if len(observations) else observations
        return rows.sort_values(["iteration", "trial"], kind="stable") if len(rows) else rows

    def _runs_at(self, observations: pd.DataFrame, fidelity: Fidelity) -> pd.DataFrame:
        return at_fidelity(observations, fidelity) if len(observations) else observations

    def _choices(self, observations: pd.DataFrame) -> np.ndarray:
        """`k x d` target mixtures an arm may pick: the pool's unrun ones, or (no pool)
        the target GP's dense set and the mixtures run at a proxy."""
        if self.candidates is not None:
            return self.target_gp.unobserved(observations)
        box = self.box(self.problem.target)
        parts = [self.dense]
        for proxy in self.ladder:
            seen = mixtures(self._runs_at(observations, proxy), self.problem)
            parts.append(seen[box.contains(seen)] if len(seen) else seen)
        w = np.vstack([p for p in parts if len(p)])
        ran = mixtures(self._target_rows(observations), self.problem)
        return w[~is_among(w, ran)] if len(ran) else w

    def _proxy_means(self, observations: pd.DataFrame, w: np.ndarray,
                     proxy: Fidelity | None = None) -> np.ndarray | None:
        """The GP of ``proxy`` (default: the one in use)'s posterior mean of the objective at
        `k x d` mixtures (``None``: too few runs there to fit it)."""
        if self.proxy is None or len(w) == 0:
            return None
        gp = self.proxy_gps[(proxy or self.current_proxy(observations)).scale]
        outputs = gp.outputs(objective_only=True)
        try:
            model = gp.fit(observations, outputs)
        except ValueError:
            return None
        mean, _ = gp.objective_posterior(model, torch.tensor(w, dtype=DTYPE), outputs, noisy=False)
        return mean.numpy()

    def _target_loo(self, observations: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
        """(leave-one-out posterior means, observed values) of the target GP's `k` training runs,
        both in its standardised units, with its fitted hyper-parameters (the closed form of
        Rasmussen & Williams, eq. 5.12; gpytorch has no leave-one-out predictor); ``None`` below 4
        target runs."""
        outputs = self.target_gp.outputs(objective_only=True)
        X, _ = self.target_gp.training_data(observations, outputs)
        if len(X) < 4:
            return None
        model = self.target_gp.fit(observations, outputs)
        with torch.no_grad():
            x, y = model.train_inputs[0], model.train_targets.reshape(-1)
            K = model.covar_module(x).to_dense() + model.likelihood.noise.reshape(-1)[0] * torch.eye(len(x), dtype=DTYPE)
            K_inv = torch.linalg.inv(K)
            loo = y - K_inv @ (y - model.mean_module(x).reshape(-1)) / K_inv.diagonal()
        return loo.numpy(), y.numpy()

    def _proxy_skill(self, observations: pd.DataFrame, proxy: Fidelity) -> float:
        """Spearman correlation of ``proxy``'s GP with the objective of the target runs (NaN
        where it cannot be measured yet). The GP never sees a target run: the skill is honest."""
        rows = self._target_rows(observations)
        y = pd.to_numeric(rows["objective"]).to_numpy(dtype=float) if len(rows) else np.zeros(0)
        if len(y) < 2 or np.ptp(y) == 0:
            return np.nan
        predicted = self._proxy_means(observations, mixtures(rows, self.problem), proxy)
        if predicted is None or np.ptp(predicted) == 0:
            return np.nan
        return float(spearmanr(predicted, y).statistic)

    def _failed(self, observations: pd.DataFrame, proxy: Fidelity) -> bool:
        """Whether ``proxy``'s picks have been measured not to rank the target runs (its skill
        below ``min_skill`` on at least 3 of them) or have stopped winning there (:meth:`_stalled`)."""
        if len(self._target_rows(observations)) < 3:
            return False
        if self._stalled(observations, proxy):
            return True
        skill = self._proxy_skill(observations, proxy)
        return bool(np.isfinite(skill) and skill < self.options["min_skill"])

    def _stalled(self, observations: pd.DataFrame, proxy: Fidelity) -> bool:
        """Whether the target runs have stopped improving as random draws would: the best of the `k + m`
        target runs came `k`-th, and in a random order of those runs the best would come that early
        with chance `k / (k + m)`, below ``stall_chance``; at least ``patience`` of the `m` runs since
        the best came after ``proxy`` came into use (``patience`` 0: never stalled).

        A proxy can rank the spread of mixtures as the target does (a high skill) and still not
        rank the best ones: its optimum does not transfer. Then its picks stop winning at the
        target, and only their outcomes show it (on the RegMix simulator, 1M ranks the 60M runs
        with Spearman 0.8-0.9 while its picks stall far from the best). Near-ties make a few
        runs without a win common, even where the proxy transfers (ADMIRE): hence a test against
        random draws rather than a fixed count."""
        patience = self.options["patience"]
        rows = self._target_rows(observations)
        if not patience or len(rows) <= patience:
            return False
        y = pd.to_numeric(rows["objective"]).to_numpy(dtype=float)
        k = int(np.argmin(y)) + 1
        m = len(y) - k
        runs_there = self._runs_at(observations, proxy)
        since = int(runs_there["iteration"].min()) if len(runs_there) else 0
        later = int((rows["iteration"].to_numpy()[k:] > since).sum())
        return later >= patience and k / (k + m) < self.options["stall_chance"]

    def current_proxy(self, observations: pd.DataFrame) -> Fidelity | None:
        """The proxy in use: the cheapest of the ladder not measured to fail (the largest when
        every one has)."""
        for proxy in self.ladder[:-1]:
            if not self._failed(observations, proxy):
                return proxy
        return self.ladder[-1] if self.ladder else None

    def skills(self, observations: pd.DataFrame) -> dict[str, float]:
        """Spearman correlation of each model's prediction with the objective observed at the
        target runs (NaN where it cannot be measured yet): the proxy in use, and the target GP's
        leave-one-out prediction."""
        proxy = self.current_proxy(observations)
        out = {"proxy": np.nan if proxy is None else self._proxy_skill(observations, proxy), "target": np.nan}
        loo = self._target_loo(observations)
        if loo is not None and np.ptp(loo[0]) > 0 and np.ptp(loo[1]) > 0:
            out["target"] = float(spearmanr(*loo).statistic)
        return out

    def choose_arm(self, runs: int, skills: dict[str, float]) -> str:
        """Which arm picks target run number ``runs + 1`` (see the module docstring)."""
        if runs == 0 or (runs == 1 and not self.options["yardstick"]):
            return "proxy"
        if runs == 1 or (runs + 1) % self.options["explore_every"] == 0:
            return "explore"
        scored = {arm: s for arm, s in skills.items() if np.isfinite(s)}
        if not scored:
            return "explore"
        arm = max(scored, key=lambda a: (scored[a], a == "proxy"))  # a tie goes to the cheaper evidence
        if runs == 2:  # two target runs: the proxy earns a second pick if it ordered them right
            return "proxy" if skills["proxy"] > 0 else "explore"
        return arm if scored[arm] >= self.options["min_skill"] else "explore"

    def _explore(self, choices: np.ndarray, runs: int) -> np.ndarray:
        """Space-filling: the choice nearest (L1) to point ``runs`` of one scrambled Sobol sequence
        on the simplex (inside the target's constraints), the design gp and mfms start from. A
        maximin pick would start at the simplex's corners, where mixtures are rarely good. With
        ``explore: random`` and a pool: a choice drawn at random, seeded by the seed and ``runs``."""
        if self.options["explore"] == "random" and self.candidates is not None:  # a pool
            return choices[np.random.default_rng([self.seed, runs]).integers(len(choices))]
        point = self.box(self.problem.target).sample(runs + 1, self.seed)[runs]
        return choices[int(np.abs(choices - point).sum(axis=1).argmin())]

    def _pick(self, arm: str, observations: pd.DataFrame, choices: np.ndarray, taken: list[np.ndarray],
              iteration: int, runs: int) -> np.ndarray:
        """Target run number ``runs + 1``: the arm's choice among ``choices`` not yet ``taken``."""
        free = choices[~is_among(choices, np.array(taken))] if taken else choices
        if arm == "proxy":
            means = self._proxy_means(observations, free)
            if means is not None:
                return free[int(np.argmin(means))]
            arm = "explore"
        if arm == "target":
            batch = self.target_gp.search(observations, 1, iteration)
            w = batch.proposals[0].mixture
            if not taken or not is_among(w[None], np.array(taken))[0]:
                return w
        return self._explore(free, runs)

    def _unsettled(self, observations: pd.DataFrame, proxy: Fidelity, choices: np.ndarray) -> bool:
        """With ``settle``: whether the proxy GP's favourite among ``choices`` is a mixture not yet run
        at ``proxy``, with fewer than ``settle`` iterations and ``screen_cost`` target runs' worth of
        proxy runs since the last target run (after iteration 0's screen)."""
        if not self.options["settle"] or len(choices) == 0:
            return False
        target_rows = self._target_rows(observations)
        since = int(target_rows["iteration"].max()) if len(target_rows) else 0  # 0: the screen
        later = [rows[rows["iteration"] > since] for rows in (self._runs_at(observations, f) for f in self.ladder)]
        if len({i for rows in later for i in rows["iteration"]}) >= self.options["settle"]:
            return False
        means = self._proxy_means(observations, choices, proxy)
        if means is None:
            return False
        ran = mixtures(self._runs_at(observations, proxy), self.problem)
        if len(ran) and is_among(choices[int(np.argmin(means))][None], ran)[0]:
            return False
        spent = sum(self.problem.cost(f) * len(rows) for f, rows in zip(self.ladder, later))
        return spent < self.options["screen_cost"] * self.problem.cost(self.problem.target)

    def _calibration(self, observations: pd.DataFrame, proxy: Fidelity) -> np.ndarray:
        """`k x d`: the target runs' mixtures that can run at ``proxy`` and have not: run there,
        they measure directly whether that scale ranks mixtures as the target does."""
        w = mixtures(self._target_rows(observations), self.problem)
        if len(w) == 0:
            return w
        pool = self.proxy_gps[proxy.scale].candidates if self.space is not None else None
        w = w[self.box(proxy).contains(w)]
        if pool is not None:
            w = w[is_among(w, pool)]
        ran = mixtures(self._runs_at(observations, proxy), self.problem)
        return w[~is_among(w, ran)] if len(ran) and len(w) else w

    def _screen_size(self, proxy: Fidelity, n: int) -> int:
        """Runs of iteration 0's screen at ``proxy``: the ``screen`` option, else as many
        as cost ``screen_cost`` target runs, at least the batch ``n`` and at most 10 per dimension
        (the rule of thumb for a space-filling design a GP is fitted on: Loeppky, Sacks and Welch
        2009); never more than the pool there."""
        if self.options["screen"] is not None:
            size = self.options["screen"]
        else:
            affordable = int(self.options["screen_cost"] * self.problem.cost(self.problem.target)
                             / self.problem.cost(proxy))
            size = max(n, min(affordable, 10 * self.problem.dim))
        pool = self.proxy_gps[proxy.scale].candidates if self.space is not None else None
        return size if pool is None else max(n, min(size, len(pool)))

    def _screen(self, observations: pd.DataFrame, proxy: Fidelity, n: int, iteration: int) -> ProposalBatch:
        """A batch at ``proxy``: the target runs' mixtures (calibration, on a proxy climbed to),
        then the proxy GP's picks (a space-filling design while it has too few runs to fit), up to
        :meth:`_screen_size` runs in iteration 0 and ``n`` later."""
        calibrate = self._calibration(observations, proxy)
        size = self._screen_size(proxy, n) if iteration == 0 else n
        proposals = self.proposals_at(calibrate, proxy) if len(calibrate) else []
        rest = size - len(proposals)
        if rest > 0:
            proposals += self.proxy_gps[proxy.scale].search(observations, rest, iteration).proposals
        return ProposalBatch(proposals, {"auto": f"screen at the proxy {proxy.scale}",
                                         "proxy_runs": len(self._runs_at(observations, proxy)),
                                         "calibration_runs": len(calibrate)})

    # -- Strategy ------------------------------------------------------------------------------

    def search(self, observations: pd.DataFrame, n: int, iteration: int) -> ProposalBatch:
        if self.proxy is None:  # one scale: gp at the target
            batch = self.target_gp.search(observations, n, iteration)
            batch.diagnostics["auto"] = "single scale: gp at the target"
            return batch
        proxy = self.current_proxy(observations)
        if iteration == 0 or len(self._runs_at(observations, proxy)) < 2:
            return self._screen(observations, proxy, n, iteration)
        target_rows = self._target_rows(observations)
        skills = self.skills(observations)
        choices = self._choices(observations)
        picks: list[np.ndarray] = []
        arms: list[str] = []
        # while the proxy may still transfer, one target run per iteration and the rest at the proxy;
        # once every proxy's picks have failed to rank the target runs, the whole batch runs there
        trusted = not self._failed(observations, proxy)
        if not trusted:  # the last proxy has failed: its picks stop (a stalled one may still rank well)
            skills["proxy"] = np.nan
        if trusted and self.choose_arm(len(target_rows), skills) == "proxy" and self._unsettled(observations, proxy, choices):
            batch = self.proxy_gps[proxy.scale].search(observations, n, iteration)
            return ProposalBatch(batch.proposals, {
                "auto": "the proxy's favourite is not run there yet: screen on", "proxy": proxy.scale,
                "target_runs": len(target_rows), "skills": _rounded(skills)})
        slots = self.options["target_runs"] if trusted else n
        for k in range(min(slots, n, len(choices))):
            arm = self.choose_arm(len(target_rows) + k, skills)
            picks.append(self._pick(arm, observations, choices, picks, iteration, len(target_rows) + k))
            arms.append(arm)
        proposals = self.proposals_at(np.array(picks), self.problem.target) if picks else []
        rest = n - len(proposals)
        if rest > 0:
            proposals += self.proxy_gps[proxy.scale].search(observations, rest, iteration).proposals
        return ProposalBatch(proposals, {
            "auto": "screen and confirm", "proxy": proxy.scale, "target_runs": len(target_rows),
            "arms": arms, "skills": _rounded(skills),
        })

    def answer(self, observations: pd.DataFrame, per_domain: bool = True) -> Recommendation:
        """The best mixture run at the target (inside the constraints there)."""
        try:
            rec = best_observed(observations, self.problem, self.problem.target, box=self.box(self.problem.target))
        except ValueError as e:
            raise ValueError(f"auto: {e}; it screens at the proxy in iteration 0 and runs at the target from "
                             "iteration 1, so run at least 2 iterations") from None
        rec.method = "best run at the target (auto)"
        if self.proxy is not None:
            proxy = self.current_proxy(observations)
            rec.details |= {"proxy": proxy.scale, "skills": _rounded(self.skills(observations))}
        return rec


def _rounded(skills: dict[str, float]) -> dict[str, float | None]:
    return {k: (None if not np.isfinite(v) else round(v, 4)) for k, v in skills.items()}
