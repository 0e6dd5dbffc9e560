"""Issue 16's constraints and objectives: bounds and repetition caps as a box on the simplex that no
strategy proposes or recommends outside (on the simplex and from a pool; a hand-edited proposal
outside is recorded as failed); the worst-domain and worst-excess objectives; no worse than the
reference; a warm start from earlier runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mixopt.backends.table import TableBackend, problem_from_table
from mixopt.bench.run import StrategySpec, run_seed
from mixopt.backends.constraints import constraints_of
from mixopt.config import ConfigError, check_config, with_defaults
from mixopt.core.constraints import Constraints, InfeasibleBox, MixtureBox, repetition_caps
from mixopt.core.observations import build_table, mixtures
from mixopt.core.problem import Fidelity, Problem
from mixopt.core.simplex import is_among, space_filling
from mixopt.core.trial import Trial
from mixopt.settings import ObjectiveSettings, TargetSettings
from mixopt.strategies import STRATEGIES, make_strategy
from mixopt.strategies.base import Proposal, ProposalBatch
from mixopt.tables.runtable import RunTable
from mixopt.workflow.prior import prior_metrics
from mixopt.workflow.proposals import proposals_table
from mixopt.workflow.report import headline, recommendation_report
from mixopt.workflow.trial import run_proposed_trial

DOMAINS = ("web", "code", "books", "papers")


def test_a_repetition_cap_is_an_upper_bound_that_depends_on_the_run_length():
    """20% code in a 100B-token run with 5B code tokens repeats code 4 times: the cap at 4 epochs."""
    caps = repetition_caps({"code": 5e9}, run_tokens=100e9, max_repetition=4)
    assert caps["code"][0] == pytest.approx(0.2)
    short = repetition_caps({"code": 5e9}, run_tokens=10e9, max_repetition=4)
    assert short["code"][0] == pytest.approx(2.0)  # a proxy on fewer tokens: no cap in effect
    box = MixtureBox.of(DOMAINS, caps=caps)
    assert box.contains(np.array([[0.4, 0.2, 0.2, 0.2], [0.3, 0.25, 0.25, 0.2]])).tolist() == [True, False]
    assert box.violations(np.array([0.3, 0.25, 0.25, 0.2])) == [
        "code 0.25 > 0.2 (4 epochs of 5e+09 tokens in a run of 1e+11)"]


def test_infeasible_settings_name_the_domains():
    with pytest.raises(InfeasibleBox, match=r"lower bounds sum to 1.2 > 1: \{'web': 0.6, 'code': 0.6\}"):
        MixtureBox.of(DOMAINS, bounds={"web": [0.6, 1.0], "code": [0.6, 1.0]})
    caps = repetition_caps({d: 1e9 for d in DOMAINS}, run_tokens=100e9, max_repetition=4)
    with pytest.raises(InfeasibleBox, match="largest weights sum to 0.16 < 1.*web.*4 epochs of 1e\\+09"):
        MixtureBox.of(DOMAINS, caps=caps)
    with pytest.raises(InfeasibleBox, match=r"lower bound above the upper one for \['code'\]"):
        MixtureBox.of(DOMAINS, bounds={"code": [0.3, 1.0]}, caps={"code": (0.2, "4 epochs")})


def test_space_filling_designs_stay_in_the_box_and_cover_it():
    box = MixtureBox.of(DOMAINS, bounds={"code": [0.05, 0.3], "web": [0.2, 1.0]})
    points = box.sample(200, seed=0)
    assert points.shape == (200, 4) and box.contains(points).all()
    assert np.allclose(points.sum(axis=1), 1.0)
    assert points[:, 1].min() < 0.08 and points[:, 1].max() > 0.27  # the whole range of code is used
    assert len(np.unique(points.round(9), axis=0)) == 200
    assert np.array_equal(points, box.sample(200, seed=0))  # seeded
    free = MixtureBox.unconstrained(DOMAINS)
    assert free.is_unconstrained and not box.is_unconstrained and free.contains(free.sample(50, 1)).all()


# -- the constraints in every strategy, on the simplex and from a pool -----------------------------

NEED = np.array([0.4, 0.3, 0.2, 0.1])  # web needs most weight; the mean optimum starves papers
SCALES = {"S": (1e6, 0.5), "T": (1e7, 0.0)}  # scale -> (params, loss offset); T is the target
STEPS, TOKENS_PER_STEP = 100, 1000
FAST = {"gp": {"raw_samples": 64, "num_restarts": 2, "mc_samples": 64},
        "mfms": {"raw_samples": 64}, "multiscale": {"raw_samples": 64},
        "fixed": {"mixture": {"web": 0.5, "code": 0.3, "books": 0.1, "papers": 0.1}}}


def law(w: np.ndarray, scale: str, step: int) -> np.ndarray:
    """`k x d` mixtures -> `k x d` losses: each domain's loss falls with its share."""
    return 3.0 + SCALES[scale][1] + 0.2 * NEED / (np.atleast_2d(w) + 0.05) + 100.0 / (step + 100)


def law_record(w: np.ndarray, scale: str, steps: int, iteration: int, trial: int) -> dict:
    checkpoints = [{"step": s, "tokens": s * TOKENS_PER_STEP, "flops": 6.0 * SCALES[scale][0] * s * TOKENS_PER_STEP,
                    "losses": dict(zip(DOMAINS, law(w, scale, s)[0].tolist()))} for s in (steps // 2, steps)]
    return {"iteration": iteration, "trial": trial, "status": "ok", "error": None, "scale": scale, "seed": trial,
            "n_params": SCALES[scale][0], "steps": steps, "mixture": dict(zip(DOMAINS, w.tolist())),
            "checkpoints": checkpoints}


def law_problem(**changes) -> Problem:
    return Problem(DOMAINS, changes.pop("weights", np.full(4, 0.25)), Fidelity("T", STEPS),
                   full_steps=changes.pop("full_steps", {"S": STEPS, "T": STEPS}),
                   step_flops={s: 6.0 * p * TOKENS_PER_STEP for s, (p, _) in SCALES.items()},
                   params={s: p for s, (p, _) in SCALES.items()}, **changes)


#: web within [0.1, 0.5], papers at least 5%, and code at most 15% of a full run (4 epochs of its
#: 3750 tokens in 100k); a shorter run may take more code
def law_constraints(problem: Problem, every_domain: bool = False) -> Constraints:
    """``every_domain``: the other domains' token counts too (a token heuristic needs them all),
    each enough for several full runs, so that only code's cap binds."""
    tokens = {"code": 0.15 * STEPS * TOKENS_PER_STEP / 4}
    if every_domain:
        tokens |= {"web": 3.0 * STEPS * TOKENS_PER_STEP, "books": 2.0 * STEPS * TOKENS_PER_STEP,
                   "papers": 1.0 * STEPS * TOKENS_PER_STEP}
    return Constraints(problem, bounds={"web": (0.1, 0.5), "papers": (0.05, 1.0)}, tokens_available=tokens,
                       max_repetition=4)


def run_loop(strategy, problem: Problem, iterations: int = 3, n: int = 3, per_domain: bool = True):
    """Propose, train on the law, recommend; every proposal and the recommendation returned."""
    records, proposed = [], []
    for iteration in range(iterations):
        batch = strategy.propose(build_table(records, problem), n if iteration else 5, iteration)
        for j, p in enumerate(batch.proposals):
            proposed.append(p)
            records.append(law_record(p.mixture, p.fidelity.scale, p.fidelity.steps, iteration, j))
    table = build_table(records, problem)
    return proposed, strategy.recommend(table, per_domain=per_domain), table


#: strategies whose loops below fit GPs for seconds each: in the full suite only (-m slow)
GP_STRATEGIES = {"gp", "mfms", "multiscale"}


def cases(names) -> list:
    """``names`` as parameters, those of :data:`GP_STRATEGIES` marked slow."""
    return [pytest.param(n, marks=pytest.mark.slow) if n in GP_STRATEGIES else n for n in names]


@pytest.mark.parametrize("name", cases(sorted(STRATEGIES)))
def test_no_strategy_proposes_or_recommends_outside_the_bounds_and_caps(name):
    problem = law_problem()
    constraints = law_constraints(problem, every_domain=STRATEGIES[name].needs_token_counts)
    strategy = make_strategy(name, problem, 0, FAST.get(name, {}), constraints=constraints)
    # mfms's per-domain GP takes minutes to fit on this law (thousands of L-BFGS steps): its
    # objective GP answers where the mixture lies, which is what is checked here
    proposed, rec, _ = run_loop(strategy, problem, per_domain=name != "mfms")
    for p in proposed:
        assert constraints.check(p.mixture, p.fidelity) == [], (p.fidelity, p.mixture)
        assert abs(p.mixture.sum() - 1) < 1e-9
    assert constraints.check(rec.mixture, problem.target) == [], rec.mixture
    assert rec.mixture[1] <= 0.15 + 1e-6 and 0.1 - 1e-6 <= rec.mixture[0] <= 0.5 + 1e-6


def test_a_repetition_cap_binds_at_the_target_and_not_at_a_shorter_proxy_run():
    problem = law_problem()
    constraints = law_constraints(problem)
    short = Fidelity("S", STEPS // 4)  # a quarter of the tokens: code may take up to 60%
    assert constraints.box(problem.target).upper[1] == pytest.approx(0.15)
    assert constraints.box(short).upper[1] == pytest.approx(0.6)
    assert constraints.check(np.array([0.3, 0.4, 0.2, 0.1]), short) == []
    assert "code 0.4 > 0.15" in constraints.check(np.array([0.3, 0.4, 0.2, 0.1]), problem.target)[0]


def test_projection_is_the_nearest_mixture_inside_the_box():
    box = MixtureBox.of(DOMAINS, bounds={"web": [0.1, 0.5]}, caps={"code": (0.15, "cap")})
    w = np.array([[0.05, 0.6, 0.2, 0.15], [0.25, 0.25, 0.25, 0.25]])
    x = box.project(w)
    assert box.contains(x).all() and np.allclose(x.sum(axis=1), 1)
    assert np.allclose(x[1], box.project(x[1])[0])  # inside stays (up to the caps that bind)
    grid = box.sample(4000, seed=1)
    assert np.linalg.norm(x[0] - w[0]) <= np.linalg.norm(grid - w[0], axis=1).min() + 1e-9


def law_table(n: int = 40, seed: int = 5) -> RunTable:
    """A pool of ``n`` mixtures recorded at S and T (two checkpoints each), in the long format."""
    pool = space_filling(n, 4, seed)
    rows = []
    for k, w in enumerate(pool):
        for scale, (params, _) in SCALES.items():
            for step in (STEPS // 2, STEPS):
                for d, loss in zip(DOMAINS, law(w, scale, step)[0]):
                    rows.append({"run_id": f"{scale}-{k}", "scale": scale, "params": params, "step": step,
                                 "tokens": step * TOKENS_PER_STEP, "domain": d, "loss": loss,
                                 **{f"w_{x}": v for x, v in zip(DOMAINS, w)}})
    return RunTable.from_long(pd.DataFrame(rows), "law")


def table_backend(table: RunTable, **objective) -> TableBackend:
    spec = ObjectiveSettings.from_dict({"type": "mean"} | objective)
    return TableBackend(table, problem_from_table(table, TargetSettings.from_dict({"scale": "T"}), spec))


@pytest.mark.parametrize("name", cases(["random", "gp", "multiscale", "dml", "hyperband"]))
def test_pool_strategies_keep_to_the_constraints(name):
    backend = table_backend(law_table())
    problem = backend.problem
    constraints = Constraints(problem, bounds={"web": (0.2, 0.6)}, tokens_available={"code": 0.2 * STEPS * TOKENS_PER_STEP / 4})
    strategy = make_strategy(name, problem, 0, FAST.get(name, {}), space=backend, constraints=constraints)
    records = []
    for iteration in range(3):
        batch = strategy.propose(build_table(records, problem), 4 if iteration == 0 else 2, iteration)
        for j, p in enumerate(batch.proposals):
            assert constraints.check(p.mixture, p.fidelity) == []
            records.append(backend.run(Trial(p.mixture, p.fidelity, iteration=iteration, index=j)))
    assert all(r["status"] == "ok" for r in records)  # every proposal was a recorded mixture
    rec = strategy.recommend(build_table(records, problem))
    assert constraints.check(rec.mixture, problem.target) == []


def test_a_hand_edited_proposal_that_breaks_a_constraint_is_recorded_as_failed(tmp_path):
    backend = table_backend(law_table())
    problem = backend.problem
    constraints = Constraints(problem, bounds={"web": (0.2, 0.6)})
    pool = backend.candidates([problem.target])
    outside = pool[~constraints.box(problem.target).contains(pool)][0]
    inside = pool[constraints.box(problem.target).contains(pool)][0]
    batch = ProposalBatch([Proposal(inside, problem.target), Proposal(outside, problem.target)])
    path = tmp_path / "proposals.csv"
    proposals_table(batch, problem, 0, 0).to_csv(path, index=False)
    records = [run_proposed_trial(backend, path, 0, j, tmp_path / f"m{j}.json", constraints=constraints) for j in (0, 1)]
    assert records[0]["status"] == "ok"
    assert records[1]["status"] == "failed" and records[1]["error"].startswith("ConstraintViolation")
    assert "web" in records[1]["error"] and "bounds [0.2, 0.6]" in records[1]["error"]
    table = build_table(records, problem)
    failed = table[table["status"] == "failed"]
    assert len(failed) == 1 and np.allclose(mixtures(failed, problem)[0], outside)  # shown with its mixture


def test_infeasible_caps_are_one_config_error_naming_the_domains(tmp_path):
    path = tmp_path / "runs.csv"
    law_table(8).write(path)
    config = with_defaults({"backend": {"name": "table", "table": {"format": "long", "path": str(path)}},
                            "target": {"scale": "T"}, "strategy": {"name": "gp"},
                            "budget": {"iterations": 2, "initial_design": 4, "trials_per_iteration": 2},
                            "domains": {d: {"tokens": 1000} for d in DOMAINS}})
    with pytest.raises(ConfigError, match=r"constraints.*largest weights sum to 0.16 < 1.*web.*4 epochs of 1e\+03"):
        check_config(config, tmp_path)
    config = with_defaults(config | {"domains": {"poetry": {"tokens": 1000}}})
    with pytest.raises(ConfigError, match=r"'domains': unknown domain\(s\) \['poetry'\]"):
        check_config(config, tmp_path)
    config = with_defaults(config | {"domains": {"code": {"tokens": 5000}}})  # 20% of code in a 100k-token target run
    settings = check_config(config, tmp_path)
    box = constraints_of(settings, TableBackend.from_settings(settings, tmp_path).problem).box(Fidelity("T", STEPS))
    assert box.upper[1] == pytest.approx(0.2)


# -- objectives: the worst domain, the worst excess over the reference, no worse than it -----------

UNIFORM = np.full(4, 0.25)


def test_worst_and_worst_excess_objectives_of_the_recorded_losses():
    worst = law_problem(weights=np.ones(4), objective_kind="worst")
    assert worst.objective(np.array([3.0, 3.4, 3.1, 3.2])) == pytest.approx(3.4)
    excess = law_problem(weights=np.ones(4), objective_kind="worst_excess", objective_reference=UNIFORM)
    w = np.array([0.55, 0.2, 0.15, 0.1])
    records = [law_record(UNIFORM, "T", STEPS, 0, 0), law_record(w, "T", STEPS, 0, 1),
               law_record(w, "T", 80, 0, 2), law_record(w, "S", STEPS, 0, 3)]
    table = build_table(records, excess)
    at = lambda trial, step: table[(table["trial"] == trial) & (table["step"] == step)].iloc[0]  # noqa: E731
    expected = (law(w, "T", STEPS) - law(UNIFORM, "T", STEPS))[0].max()
    assert at(1, STEPS)["objective"] == pytest.approx(expected)
    assert at(0, STEPS)["objective"] == pytest.approx(0.0)
    # a run of 80 steps has checkpoints at 40 and 80: the reference's curve is interpolated at 80,
    # and 40 lies before its first checkpoint (50): no objective there, nor at S (no reference run)
    ref_80 = np.interp(80, [50, 100], [law(UNIFORM, "T", 50)[0, 3], law(UNIFORM, "T", 100)[0, 3]])
    assert at(2, 80)["objective"] >= law(w, "T", 80)[0, 3] - ref_80 - 1e-12
    assert np.isnan(at(2, 40)["objective"]) and np.isnan(at(3, STEPS)["objective"])


def true_worst(w: np.ndarray) -> float:
    return float(law(w, "T", STEPS)[0].max())


@pytest.mark.slow
def test_gp_on_the_worst_domain_gives_a_mixture_whose_worst_domain_is_better():
    """The mean optimum starves papers; optimising the worst domain's loss does not."""
    recommended = {}
    for kind, weights in (("linear", np.full(4, 0.25)), ("worst", np.ones(4))):
        problem = law_problem(weights=weights, objective_kind=kind, full_steps={"T": STEPS})
        strategy = make_strategy("gp", problem, 0, FAST["gp"] | {"min_observations": 8})
        records = [law_record(w, "T", STEPS, 0, j) for j, w in enumerate(space_filling(12, 4, 2))]
        for j, p in enumerate(strategy.propose(build_table(records, problem), 2, 1).proposals):
            records.append(law_record(p.mixture, "T", STEPS, 1, j))
        rec = strategy.recommend(build_table(records, problem))
        if kind == "worst":  # the answer's predicted objective is its worst domain's predicted loss
            assert rec.objective == pytest.approx(true_worst(rec.mixture), abs=0.05)
        recommended[kind] = rec.mixture
    assert true_worst(recommended["worst"]) < true_worst(recommended["linear"]) - 0.005


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gp", "multiscale"])
def test_no_worse_than_reference_keeps_every_domain_near_the_reference(name):
    """Uniform is the reference; the mean optimum is 0.036 worse on papers, beyond the 0.01 allowed."""
    problem = law_problem()
    tolerance = 0.01
    worse = {}
    for constrained in (False, True):
        constraints = Constraints(problem, no_worse_than_reference=(tolerance, 0.9) if constrained else None)
        strategy = make_strategy(name, problem, 0, FAST[name] | {"min_observations": 8}, constraints=constraints,
                                 reference=UNIFORM)
        records = [law_record(w, "T", STEPS, 0, j) for j, w in enumerate(space_filling(24, 4, 2))]
        for j, p in enumerate(strategy.propose(build_table(records, problem), 2, 1).proposals):
            records.append(law_record(p.mixture, p.fidelity.scale, p.fidelity.steps, 1, j))
        rec = strategy.recommend(build_table(records, problem))
        worse[constrained] = float((law(rec.mixture, "T", STEPS) - law(UNIFORM, "T", STEPS)).max())
        if constrained:
            assert "no_worse_than_reference" in rec.details
    assert worse[False] > 2 * tolerance  # unconstrained, a domain is sacrificed ...
    assert worse[True] <= 2 * tolerance  # ... and the constraint prevents it (up to the model's error)


def test_when_no_candidate_meets_no_worse_than_reference_the_headline_says_so():
    """From a pool without the uniform reference, and no tolerance, no mixture is as good as uniform
    on every domain: the answer is the best of the likeliest, and best_mixture.yaml's headline says
    the constraint is not met rather than passing the answer off as meeting it."""
    backend = table_backend(law_table())
    problem = backend.problem
    strategy = make_strategy("gp", problem, 0, FAST["gp"] | {"min_observations": 8}, space=backend,
                             constraints=Constraints(problem, no_worse_than_reference=(0.0, 0.99)), reference=UNIFORM)
    pool = backend.candidates([problem.target])
    table = build_table([backend.run(Trial(w, problem.target, iteration=0, index=j)) for j, w in enumerate(pool[:12])],
                        problem)
    rec = strategy.recommend(table)
    checked = rec.details["no_worse_than_reference"]
    assert checked["meet"] == 0 and checked["considered"] == len(pool)
    line = headline(recommendation_report(rec, problem, table, "gp", 1), problem)
    assert "NO_WORSE_THAN_REFERENCE NOT MET: none of 40 considered" in line


@pytest.mark.parametrize("name", [pytest.param("gp", marks=pytest.mark.slow), "multiscale"])
def test_worst_excess_runs_the_reference_at_every_scale_it_is_measured_at(name):
    problem = law_problem(weights=np.ones(4), objective_kind="worst_excess", objective_reference=UNIFORM)
    strategy = make_strategy(name, problem, 0, FAST[name] | {"min_observations": 4})
    proposed, rec, table = run_loop(strategy, problem, iterations=2, n=2, per_domain=False)
    for scale in {p.fidelity.scale for p in proposed}:
        assert any(p.fidelity.scale == scale and np.allclose(p.mixture, UNIFORM) for p in proposed), scale
    ok = table[(table["status"] == "ok")]
    assert ok["objective"].notna().any() and (ok["objective"].dropna() >= -0.5).all()
    assert np.isfinite(rec.objective)


# -- warm start from earlier runs ----------------------------------------------------------------


def long_runs(table: RunTable, mixtures_: np.ndarray, scale: str = "T") -> pd.DataFrame:
    """The long-format rows of ``table``'s runs of ``mixtures_`` at ``scale``."""
    data = table.data[table.data["scale"] == scale]
    keep = is_among(data[[f"w_{d}" for d in DOMAINS]].to_numpy(), mixtures_)
    return data[keep]


def test_prior_runs_become_observations_and_a_table_lacking_a_domain_is_an_error(tmp_path):
    table = law_table()
    problem = table_backend(table).problem
    path = tmp_path / "prior.csv"
    three = space_filling(40, 4, 5)[:3]  # runs of law_table()'s pool
    long_runs(table, three).to_csv(path, index=False)
    records = prior_metrics(path, problem)
    assert len(records) == 3 and all(r["prior"] and r["iteration"] == -1 for r in records)
    observed = build_table(records, problem)
    assert observed["prior"].all() and len(observed) == 6  # two checkpoints each
    elsewhere = long_runs(table, three[:1]).assign(scale="XL", run_id="XL-0")  # a scale this problem lacks
    pd.concat([long_runs(table, three), elsewhere]).to_csv(path, index=False)
    assert len(prior_metrics(path, problem)) == 3
    lacking = long_runs(table, three)
    lacking = lacking.assign(w_web=lacking["w_web"] + lacking["w_papers"]).drop(columns="w_papers")
    lacking.to_csv(path, index=False)
    with pytest.raises(ConfigError, match=r"prior_runs.*lacks mixture column\(s\) w_<d> for \['papers'\]"):
        prior_metrics(path, problem)


@pytest.mark.slow
def test_a_warm_start_proposes_no_prior_mixture_and_reaches_the_best_with_fewer_trials(tmp_path):
    table = law_table(60, seed=9)
    backend = table_backend(table)
    problem = backend.problem
    pool = backend.candidates([problem.target])
    truth = np.array([problem.objective(backend.losses(w, problem.target)[1][-1]) for w in pool])
    best = pool[np.argmin(truth)]
    # the prior study ran the 6 mixtures nearest the best (not the best itself) at the target
    order = np.argsort(np.abs(pool - best).sum(axis=1))
    path = tmp_path / "prior.csv"
    long_runs(table, pool[order[1:7]]).to_csv(path, index=False)
    prior = prior_metrics(path, problem)
    spec = StrategySpec("gp", "gp", FAST["gp"] | {"min_observations": 4})

    strategy = make_strategy("gp", problem, 0, spec.options, space=backend)
    batch = strategy.propose(build_table(prior, problem), 2, 0)
    assert not is_among(np.array([p.mixture for p in batch.proposals]), pool[order[1:7]]).any()

    def trials_to_best(prior_runs) -> list[int]:
        out = []
        for seed in range(3):
            curve = run_seed(spec, seed, backend, budget_flops=40 * backend.cost(problem.target), initial_design=6,
                             trials_per_iteration=2, stop_at=truth.min(), max_iterations=8, prior=prior_runs)
            reached = curve[curve["best_objective"] <= truth.min() + 1e-12]
            out.append(int(curve["trials"].cumsum()[reached.index[0]]) if len(reached) else 10**6)
        return out

    cold, warm = trials_to_best(None), trials_to_best(prior)
    assert sorted(warm)[1] < sorted(cold)[1], (warm, cold)  # the median over seeds


@pytest.mark.slow
def test_the_bench_scores_against_the_best_inside_the_constraints_and_refuses_what_cannot_keep_them(tmp_path):
    """`mixopt bench` under bounds and no_worse_than_reference: the goal is the best pool mixture
    inside the bounds (not the unconstrained one), strategies without per-domain models are refused
    with the reason, and the others run."""
    from mixopt.bench.suite import run_bench  # noqa: PLC0415 (the bench runner is only needed here)
    from mixopt.settings import Settings

    table = law_table()
    path = tmp_path / "runs.csv"
    table.data.to_csv(path, index=False)
    config = with_defaults({
        "backend": {"name": "table", "table": {"format": "long", "path": str(path)}, "mode": "pool"},
        "target": {"scale": "T"}, "objective": {"type": "mean"},
        "constraints": {"bounds": {"web": [0.0, 0.15]}, "no_worse_than_reference": {"tolerance": 1.0}},
        "strategy": {"name": "gp"}, "budget": {"iterations": 2, "initial_design": 4, "trials_per_iteration": 2},
        "bench": {"seeds": 1, "jobs": 1, "max_iterations": 2,
                  "strategies": {"random": {"name": "random"}, "gp": {"name": "gp", "options": FAST["gp"]}}},
    })
    settings = Settings.from_config(config)
    lines: list[str] = []
    summary = run_bench(settings, tmp_path / "bench", base_dir=tmp_path, log=lines.append)
    backend = table_backend(table)
    pool = backend.candidates([backend.problem.target])
    truth = np.array([backend.problem.objective(backend.losses(w, backend.problem.target)[1][-1]) for w in pool])
    inside = pool[:, DOMAINS.index("web")] <= 0.15
    assert truth[inside].min() > truth.min()  # the bound excludes the pool's best
    bench = pd.read_json(tmp_path / "bench" / "bench.json", typ="series")
    assert bench["best_objective"] == pytest.approx(truth[inside].min())
    assert any("random cannot run here" in line and "no_worse_than_reference" in line for line in lines)
    assert list(summary["strategy"]) == ["gp"]
