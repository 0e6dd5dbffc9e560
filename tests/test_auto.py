"""The robust default (`auto`): screen at the cheapest proxy, confirm at the target, and trust an
arm only as far as its picks have ranked the target runs."""

from __future__ import annotations

import numpy as np
import pytest

from mixopt.backends.table import TableBackend
from mixopt.core.observations import build_table
from mixopt.core.problem import Fidelity
from mixopt.core.simplex import is_among
from mixopt.core.trial import Trial
from mixopt.strategies import make_strategy
from mixopt.tables.runtable import RunTable
from mixopt.tables.synthetic import synthetic_table


def _backend(kind: str, tmp_path, **table) -> TableBackend:
    path = tmp_path / f"{kind}.csv"
    synthetic_table(kind, seed=0, **table).write(path)
    from mixopt.config import with_defaults
    from mixopt.settings import Settings

    settings = Settings.from_config(with_defaults({
        "backend": {"name": "table", "table": {"format": "long", "path": str(path)}, "mode": "pool"},
        "target": {"scale": "1B"}, "objective": {"type": "mean"}, "strategy": {"name": "auto"},
        "budget": {"iterations": 4, "initial_design": 4, "trials_per_iteration": 2}}))
    return TableBackend.from_settings(settings, str(tmp_path))


def _run(backend: TableBackend, strategy, iterations: int, n0: int = 4, n: int = 2) -> list[dict]:
    records: list[dict] = []
    for it in range(iterations):
        batch = strategy.propose(build_table(records, backend.problem), n0 if it == 0 else n, it)
        records += [backend.run(Trial(p.mixture, p.fidelity, seed=j, iteration=it, index=j))
                    for j, p in enumerate(batch.proposals)]
    return records


def test_iteration_0_screens_at_the_cheapest_proxy_and_then_one_target_run_per_iteration(tmp_path):
    backend = _backend("near_ties", tmp_path)
    strategy = make_strategy("auto", backend.problem, 0, space=backend)
    assert strategy.proxy == backend.problem.fidelity("20M")
    records = _run(backend, strategy, iterations=4)
    by_iteration = [[r["scale"] for r in records if r["iteration"] == it] for it in range(4)]
    problem = backend.problem
    worth = int(problem.cost(problem.target) / problem.cost(problem.fidelity("20M")))  # one target run's
    assert by_iteration[0] == ["20M"] * min(worth, 10 * problem.dim, 80)  # the screen; 80 mixtures at 20M
    for scales in by_iteration[1:]:
        assert sorted(scales) == ["1B", "20M"]


def test_the_screen_costs_screen_cost_target_runs():
    from mixopt.core.problem import Problem

    # a proxy run costs a tenth of a target run; at most 10 per dimension: 30
    problem = Problem(("a", "b", "c"), np.full(3, 1 / 3), Fidelity("big", 100), full_steps={"small": 100},
                      step_flops={"big": 600.0, "small": 60.0}, params={"big": 100.0, "small": 10.0})
    for screen_cost, runs in ((0.1, 2), (0.5, 5), (1.0, 10), (2.0, 20), (10.0, 30)):
        strategy = make_strategy("auto", problem, 0, {"screen_cost": screen_cost})
        assert strategy._screen_size(strategy.proxy, 2) == runs, screen_cost
    assert make_strategy("auto", problem, 0)._screen_size(problem.fidelity("small"), 2) == 10  # one target run
    assert make_strategy("auto", problem, 0, {"screen": 3})._screen_size(problem.fidelity("small"), 2) == 3


def test_the_first_target_run_is_the_proxy_models_favourite(tmp_path):
    backend = _backend("near_ties", tmp_path)
    strategy = make_strategy("auto", backend.problem, 0, space=backend)
    records = _run(backend, strategy, iterations=1)
    observations = build_table(records, backend.problem)
    batch = strategy.propose(observations, 2, 1)
    target = [p.mixture for p in batch.proposals if p.fidelity == backend.problem.target]
    assert batch.diagnostics["arms"] == ["proxy"]
    pool = strategy.candidates
    means = strategy._proxy_means(observations, pool)
    assert np.allclose(target[0], pool[int(np.argmin(means))])


def test_arms_follow_the_measured_skill():
    strategy = make_strategy("auto", _problem_with_proxy(), 0)
    nan = float("nan")
    assert strategy.choose_arm(0, {"proxy": nan, "target": nan}) == "proxy"
    assert strategy.choose_arm(1, {"proxy": nan, "target": nan}) == "explore"
    assert strategy.choose_arm(2, {"proxy": 1.0, "target": nan}) == "proxy"  # it ordered the two right
    assert strategy.choose_arm(2, {"proxy": -1.0, "target": nan}) == "explore"
    assert strategy.choose_arm(3, {"proxy": 0.9, "target": nan}) == "explore"  # every 4th run explores
    assert strategy.choose_arm(4, {"proxy": 0.9, "target": 0.5}) == "proxy"
    assert strategy.choose_arm(4, {"proxy": -0.5, "target": 0.6}) == "target"
    assert strategy.choose_arm(4, {"proxy": 0.1, "target": 0.0}) == "explore"  # neither ranks the target runs


def test_without_the_yardstick_the_proxy_picks_the_second_target_run_too():
    strategy = make_strategy("auto", _problem_with_proxy(), 0, {"yardstick": False})
    nan = float("nan")
    assert [strategy.choose_arm(runs, {"proxy": nan, "target": nan}) for runs in (0, 1)] == ["proxy", "proxy"]
    assert strategy.choose_arm(3, {"proxy": 0.9, "target": nan}) == "explore"  # every 4th run still explores


def test_a_random_explorer_draws_any_unrun_pool_mixture_reproducibly(tmp_path):
    """``explore: random``: an exploring target run is an unrun pool mixture drawn at random, as
    random search draws it (every one alike), and the same seed draws the same one."""
    backend = _backend("near_ties", tmp_path)
    pool = backend.mixtures_at(backend.problem.target)
    unrun = pool[1:]

    def pick(seed: int, runs: int = 1) -> np.ndarray:
        return make_strategy("auto", backend.problem, seed, {"explore": "random"}, space=backend)._explore(unrun, runs)

    picks = np.array([pick(seed) for seed in range(300)])
    assert is_among(picks, unrun).all()
    assert len(np.unique(picks.round(9), axis=0)) == len(unrun)  # none left out
    assert np.array_equal(pick(7), pick(7)) and not np.array_equal(pick(7, runs=1), pick(7, runs=5))


def _problem_with_proxy():
    from mixopt.core.problem import Problem

    return Problem(("a", "b", "c"), np.full(3, 1 / 3), Fidelity("big", 100),
                   full_steps={"small": 100}, step_flops={"big": 600.0, "small": 6.0},
                   params={"big": 100.0, "small": 1.0})


@pytest.mark.slow
def test_a_proxy_that_ranks_backwards_is_left_for_a_larger_one_calibrated_on_the_target_runs(tmp_path):
    """On the moving optimum the smallest proxy ranks the target pool backwards: auto moves to the
    next larger proxy, first running the target runs' mixtures there; without ``climb`` the target
    runs go to exploring and the target GP instead of more proxy picks."""
    backend = _backend("moving_optimum", tmp_path)
    strategy = make_strategy("auto", backend.problem, 0, space=backend)
    assert [f.scale for f in strategy.ladder] == ["20M", "60M", "200M"]
    records = _run(backend, strategy, iterations=9)
    observations = build_table(records, backend.problem)
    assert strategy._proxy_skill(observations, strategy.ladder[0]) < 0
    climbed = strategy.current_proxy(observations)
    assert climbed != strategy.ladder[0]
    target = np.array([list(r["mixture"].values()) for r in records if r["scale"] == "1B"])
    at_climbed = np.array([list(r["mixture"].values()) for r in records if r["scale"] == climbed.scale])
    assert is_among(target[:3], at_climbed).all()  # the calibration runs

    single = make_strategy("auto", backend.problem, 0, {"climb": False}, space=backend)
    assert single.ladder == [backend.problem.fidelity("20M")]
    observations = build_table(_run(backend, single, iterations=9), backend.problem)
    assert single.skills(observations)["proxy"] < 0
    assert single.propose(observations, 2, 9).diagnostics["arms"] != ["proxy"]


def test_the_ladder_climbs_only_to_scales_costing_at_most_climb_cost_of_a_target_run():
    from mixopt.core.problem import Problem

    flops = {"target": 100.0, "tiny": 1.0, "small": 20.0, "mid": 40.0}  # per step; 100 steps each
    problem = Problem(("a", "b", "c"), np.full(3, 1 / 3), Fidelity("target", 100),
                      full_steps={s: 100 for s in flops}, step_flops=flops, params=flops)
    assert [f.scale for f in make_strategy("auto", problem, 0).ladder] == ["tiny", "small"]
    assert [f.scale for f in make_strategy("auto", problem, 0, {"climb_cost": 0.5}).ladder] == ["tiny", "small", "mid"]
    assert [f.scale for f in make_strategy("auto", problem, 0, {"proxy": "mid"}).ladder] == ["mid"]
    assert [f.scale for f in make_strategy("auto", problem, 0, {"climb": False}).ladder] == ["tiny"]


@pytest.mark.slow
def test_recommends_the_best_target_run_and_says_when_there_is_none(tmp_path):
    backend = _backend("near_ties", tmp_path)
    strategy = make_strategy("auto", backend.problem, 0, space=backend)
    screened = build_table(_run(backend, strategy, iterations=1), backend.problem)
    with pytest.raises(ValueError, match="run at least 2 iterations"):
        strategy.recommend(screened)
    observations = build_table(_run(backend, strategy, iterations=5), backend.problem)
    rec = strategy.recommend(observations)
    at_target = observations[(observations["scale"] == "1B") & (observations["status"] == "ok")]
    at_target = at_target[at_target["step"] == backend.problem.target.steps]
    assert rec.objective == pytest.approx(at_target["objective"].min())
    assert rec.method.startswith("best run at the target")


@pytest.mark.slow
def test_one_scale_is_gp_at_the_target():
    from test_strategies import PROBLEM, table

    ours = make_strategy("auto", PROBLEM, 0).propose(table(6), 2, 1)
    gp = make_strategy("gp", PROBLEM, 0).propose(table(6), 2, 1)
    assert ours.proposals and all(p.fidelity == PROBLEM.target for p in ours.proposals)
    assert np.allclose([p.mixture for p in ours.proposals], [p.mixture for p in gp.proposals])


@pytest.mark.parametrize("options, message", [
    ({"proxy": "1B"}, "is the target scale"),
    ({"proxy": "3B"}, "unknown scale"),
    ({"scale": "20M"}, "option 'scale' does not apply"),
    ({"explore_every": 1}, "explore_every"),
    ({"climb": 1}, "true or false"),
])
def test_bad_options_are_refused(tmp_path, options, message):
    backend = _backend("near_ties", tmp_path)
    with pytest.raises(ValueError, match=message):
        make_strategy("auto", backend.problem, 0, options, space=backend)


def test_a_pool_the_proxy_never_ran_is_screened_from_the_proxys_own_runs(tmp_path):
    """RegMix-like: the target's mixtures were never run at the proxy; the proxy screens its own
    recorded mixtures and ranks the target's from its GP."""
    table = synthetic_table("near_ties", seed=0)
    data = table.data
    target_ids = set(data.loc[data["scale"] == "1B", "run_id"].str.split("/").str[1])
    keep = ~((data["scale"] != "1B") & data["run_id"].str.split("/").str[1].isin(target_ids))
    path = tmp_path / "disjoint.csv"
    RunTable.from_long(data[keep].reset_index(drop=True), name="disjoint",
                       mixture_domains=table.mixture_domains).write(path)
    from mixopt.config import with_defaults
    from mixopt.settings import Settings

    settings = Settings.from_config(with_defaults({
        "backend": {"name": "table", "table": {"format": "long", "path": str(path)}, "mode": "pool"},
        "target": {"scale": "1B"}, "strategy": {"name": "auto"},
        "budget": {"iterations": 3, "initial_design": 4, "trials_per_iteration": 2}}))
    backend = TableBackend.from_settings(settings, str(tmp_path))
    strategy = make_strategy("auto", backend.problem, 0, space=backend)
    records = _run(backend, strategy, iterations=3)
    proxy = np.array([list(r["mixture"].values()) for r in records if r["scale"] == "20M"])
    target = np.array([list(r["mixture"].values()) for r in records if r["scale"] == "1B"])
    assert len(proxy) >= 4 and len(target) == 2
    assert not is_among(target, proxy).any()
    assert is_among(target, strategy.candidates).all()


def test_a_proxy_that_is_not_a_scale_is_refused_before_any_job(tmp_path):
    from mixopt.config import ConfigError, check_config, with_defaults

    path = tmp_path / "t.csv"
    synthetic_table("near_ties", seed=0).write(path)
    config = with_defaults({
        "backend": {"name": "table", "table": {"format": "long", "path": str(path)}, "mode": "pool"},
        "target": {"scale": "1B"}, "strategy": {"name": "auto", "options": {"proxy": "3B"}},
        "budget": {"iterations": 3, "initial_design": 4, "trials_per_iteration": 2}})
    with pytest.raises(ConfigError, match=r"'strategy.options.proxy': '3B' is not a scale"):
        check_config(config, str(tmp_path))


def test_with_settle_a_proxy_pick_waits_one_iteration_for_the_proxy_to_run_its_favourite(tmp_path):
    from mixopt.core.observations import at_fidelity, mixtures

    backend = _backend("near_ties", tmp_path)
    problem = backend.problem
    strategy = make_strategy("auto", problem, 0, {"settle": 1, "screen": 4}, space=backend)
    records = _run(backend, strategy, iterations=1)  # a screen of 4 runs at the proxy
    observations = build_table(records, problem)
    choices = strategy._choices(observations)
    favourite = choices[int(np.argmin(strategy._proxy_means(observations, choices)))]
    assert not is_among(favourite[None], mixtures(at_fidelity(observations, strategy.proxy), problem))[0]
    waiting = strategy.propose(observations, 2, 1)
    assert [p.fidelity for p in waiting.proposals] == [strategy.proxy] * 2
    assert "not run there yet" in waiting.diagnostics["auto"]
    records += [backend.run(Trial(p.mixture, p.fidelity, seed=j, iteration=1, index=j))
                for j, p in enumerate(waiting.proposals)]
    confirming = strategy.propose(build_table(records, problem), 2, 2)  # settle: 1 iteration at most
    assert sorted(p.fidelity.scale for p in confirming.proposals) == sorted([problem.target.scale, strategy.proxy.scale])
    assert confirming.diagnostics["arms"] == ["proxy"]


def test_a_proxy_whose_picks_stop_winning_at_the_target_is_no_longer_trusted(tmp_path):
    """A proxy can rank the spread of mixtures well and still miss the best. Once the target runs
    since the best are so many that random draws would have beaten it at least 3 times in 4
    (`k / (k + m)` below ``stall_chance``), its picks end and the whole batch runs at the target;
    the later the best came, the longer the run without a win that this takes."""
    from mixopt.core.observations import at_fidelity

    backend = _backend("near_ties", tmp_path)
    problem = backend.problem
    strategy = make_strategy("auto", problem, 0, {"climb": False}, space=backend)
    records = _run(backend, strategy, iterations=1)  # the screen at the proxy
    pool = backend.mixtures_at(problem.target)
    everything = build_table([backend.run(Trial(w, problem.target, seed=0, iteration=0, index=0)) for w in pool], problem)
    ranked = np.argsort(at_fidelity(everything, problem.target)["objective"].to_numpy(dtype=float))

    def stalled(order, **options) -> bool:
        runs = [backend.run(Trial(pool[i], problem.target, seed=0, iteration=k + 1, index=0))
                for k, i in enumerate(order)]
        ours = make_strategy("auto", problem, 0, {"climb": False, **options}, space=backend)
        return ours._stalled(build_table(records + runs, problem), ours.proxy)

    best, worse = ranked[0], ranked[-8:]
    assert not stalled([best, *worse[:3]])  # 1 in 4
    assert stalled([best, *worse[:4]])  # 1 in 5
    assert not stalled([*worse[:2], best, *worse[2:6]])  # 3 in 7
    assert stalled([*worse[:2], best, *worse[2:8], *ranked[-12:-8]])  # 3 in 13
    assert not stalled(ranked[:8][::-1])  # each run improves on the last
    assert not stalled([best, *worse[:4]], patience=0)
    assert not stalled([best, *worse[:4]], stall_chance=0.1)

    runs = [backend.run(Trial(pool[i], problem.target, seed=0, iteration=k + 1, index=0))
            for k, i in enumerate([best, *worse[:4]])]
    batch = strategy.propose(build_table(records + runs, problem), 2, 6)
    assert [p.fidelity for p in batch.proposals] == [problem.target] * 2
    assert "proxy" not in batch.diagnostics["arms"] and batch.diagnostics["skills"]["proxy"] is None
