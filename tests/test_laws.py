"""Each law recovers what generated its data, and says so when the data cannot identify it."""

from __future__ import annotations

import numpy as np
import pytest

from mixopt.laws import (LAWS, BiMixLaw, DataMixingLaw, LawFitError, RegMixLaw, Runs, ScalingLaw, fit_curve,
                         fit_power, make_law)
from mixopt.laws.power import at_size
from mixopt.core.simplex import dirichlet

DOMAINS = ("web", "code", "books")
SIZES = (2e7, 6e7, 2e8)
TOKENS = (1e8, 2e8, 4e8, 8e8)


def make_runs(loss, mixtures: np.ndarray, sizes=SIZES, tokens=TOKENS, eval_domains=None) -> Runs:
    """Every mixture trained at every size, a checkpoint at every token count; ``loss(w, N, D)``
    gives the `e` losses."""
    rows = [(w, n, t, f"{i}-{n:g}") for i, w in enumerate(mixtures) for n in sizes for t in tokens]
    losses = np.array([loss(w, n, t) for w, n, t, _ in rows])
    return Runs(
        mixtures=np.array([r[0] for r in rows]), params=np.array([r[1] for r in rows]),
        tokens=np.array([r[2] for r in rows]), losses=losses, run=np.array([r[3] for r in rows]),
        domains=DOMAINS, eval_domains=eval_domains or DOMAINS[:losses.shape[1]],
    )


def mixtures(n: int, seed: int) -> np.ndarray:
    return dirichlet(n, 3, 1.0, seed) * 0.9 + 0.1 / 3


T = np.array([[-1.2, 0.5, 0.7], [0.4, -1.5, 1.1], [0.3, 0.6, -0.9]])  # centred rows
C, K = np.array([1.8, 0.9, 2.2]), np.array([0.8, 1.1, 0.6])


def mixing(w):
    return C + K * np.exp(T @ w)


def nested(w, n, t):  # each run follows the step law, each mixture the size law (exponents 0.3)
    return mixing(w) + 40.0 / n ** 0.3 + 300.0 / t ** 0.3


# -- data and fitting helpers -------------------------------------------------------------------


def test_runs_names_a_malformed_field_and_finds_each_runs_last_checkpoint():
    runs = make_runs(lambda w, n, t: mixing(w), mixtures(3, 0), sizes=(1e8,))
    with pytest.raises(ValueError, match="Runs.losses"):
        Runs(runs.mixtures, runs.params, runs.tokens, runs.losses[:, :2], runs.run, DOMAINS, DOMAINS)
    with pytest.raises(ValueError, match="Runs.mixtures"):
        Runs(runs.mixtures * 2, runs.params, runs.tokens, runs.losses, runs.run, DOMAINS, DOMAINS)
    with pytest.raises(ValueError, match="Runs.tokens"):
        Runs(runs.mixtures, runs.params, -runs.tokens, runs.losses, runs.run, DOMAINS, DOMAINS)
    final = runs.final()
    assert len(final) == 3 and (final.tokens == TOKENS[-1]).all()
    thinned = runs.thin(5)
    assert len(thinned) == 5 and (thinned.tokens == TOKENS[-1]).sum() == 3  # every run's last checkpoint kept
    assert len(runs.mixture_ids()[0]) == 3


def test_fit_curve_needs_enough_points_and_determined_parameters():
    x = np.linspace(0.0, 1.0, 8)
    y = 2.0 * np.exp(-1.5 * x)
    fitted = fit_curve(lambda p: p[0] * np.exp(-p[1] * x) - y, np.array([[1.0, 1.0]]),
                       (np.array([0.0, 0.0]), np.array([10.0, 10.0])), "toy")
    assert fitted == pytest.approx([2.0, 1.5], rel=1e-6)
    with pytest.raises(LawFitError, match="toy: 2 data point"):
        fit_curve(lambda p: p[0] + p[1] * x[:2] + p[2] * x[:2] ** 2 - y[:2], np.zeros((1, 3)),
                  (np.full(3, -10.0), np.full(3, 10.0)), "toy")
    # only the product a * b shows in the data
    with pytest.raises(LawFitError, match=r"toy: the data do not determine the parameters a, b"):
        fit_curve(lambda p: p[0] * p[1] * np.exp(-x) - y, np.array([[1.0, 1.0]]),
                  (np.array([0.1, 0.1]), np.array([10.0, 10.0])), "toy", names=["a", "b"])


def test_power_law_recovers_its_parameters_for_several_curves_at_once():
    x = np.array([1e8, 2e8, 4e8, 8e8, 1.6e9])
    y = np.column_stack([1.5 + (3e7 / x) ** 0.35, 2.0 + (5e6 / x) ** 0.6])
    law = fit_power(x, y, "toy")
    assert law.c == pytest.approx([1.5, 2.0], rel=1e-5)
    assert law.alpha == pytest.approx([0.35, 0.6], rel=1e-4)
    assert law.k == pytest.approx([3e7, 5e6], rel=1e-3)
    assert law(1e11) == pytest.approx([1.5 + (3e7 / 1e11) ** 0.35, 2.0 + (5e6 / 1e11) ** 0.6], rel=1e-6)
    one = fit_power(x, y[:, 0], "toy")  # one curve: scalar parameters
    assert float(one.alpha) == pytest.approx(0.35, rel=1e-4) and one(x).shape == x.shape
    with pytest.raises(LawFitError, match="give size_exponent"):
        at_size(x[:2], y[:2], 1e10, "toy")
    fixed = at_size(x[:2], y[:2], 1e10, "toy", exponent=0.35)[0]
    assert fixed == pytest.approx(1.5 + (3e7 / 1e10) ** 0.35, rel=1e-9)


# -- Data Mixing Laws ---------------------------------------------------------------------------


def test_dml_recovers_the_mixing_law_at_a_fixed_scale():
    runs = make_runs(lambda w, n, t: mixing(w), mixtures(12, 0), sizes=(1e8,), tokens=(1e9,))
    law = DataMixingLaw().fit(runs)
    fitted = law.laws_at(1e8, 1e9)
    for i, domain in enumerate(DOMAINS):
        assert fitted[domain]["c"] == pytest.approx(C[i], rel=1e-3)
        assert fitted[domain]["k"] == pytest.approx(K[i], rel=1e-3)
        assert np.allclose(fitted[domain]["t"], T[i], atol=1e-3)
    held_out = mixtures(5, 9)
    assert np.allclose(law.predict(held_out, 1e8, 1e9), np.array([mixing(w) for w in held_out]), rtol=1e-4)
    assert law.params_[(1e8, 1e9)] is fitted  # cached


def test_dml_nests_step_and_size_laws_to_predict_a_larger_model_trained_longer():
    law = DataMixingLaw().fit(make_runs(nested, mixtures(12, 1)))
    held_out = mixtures(5, 8)
    predicted = law.predict(held_out, 1e9, 3e9)  # 5x the largest size, 4x the longest run
    assert predicted.shape == (5, 3)
    assert np.allclose(predicted, np.array([nested(w, 1e9, 3e9) for w in held_out]), rtol=5e-3)
    # the mixing law there: t unchanged, c shifted by the size and step terms
    fitted = law.params_[(1e9, 3e9)]["code"]
    assert np.allclose(fitted["t"], T[1], atol=0.02)
    assert fitted["c"] == pytest.approx(C[1] + 40.0 / 1e9 ** 0.3 + 300.0 / 3e9 ** 0.3, rel=0.01)


def test_dml_needs_three_sizes_or_a_fixed_exponent_to_reach_another_size():
    runs = make_runs(nested, mixtures(8, 2), sizes=SIZES[:2])
    law = DataMixingLaw().fit(runs)
    assert law.predict(mixtures(2, 3), SIZES[1], TOKENS[-1]).shape == (2, 3)  # a trained size: fine
    with pytest.raises(LawFitError, match=r"^dml: 0 distinct mixture\(s\) can be carried to N=1e\+09.*size_exponent"):
        law.predict(mixtures(2, 3), 1e9, TOKENS[-1])
    fixed = DataMixingLaw(size_exponent=0.3).fit(runs)
    held_out = mixtures(3, 4)
    assert np.allclose(fixed.predict(held_out, 1e9, TOKENS[-1]), [nested(w, 1e9, TOKENS[-1]) for w in held_out],
                       rtol=5e-3)


# -- BiMix --------------------------------------------------------------------------------------

ALPHA, B, BETA, CB = np.array([0.1, 0.2, 0.05]), np.array([30.0, 60.0, 20.0]), np.array([0.25, 0.3, 0.2]), \
    np.array([1.5, 1.0, 2.0])


def bimix_loss(w, n, t):
    return w ** -ALPHA * (B / t ** BETA + CB)


def test_bimix_recovers_its_parameters_from_its_own_data():
    law = BiMixLaw().fit(make_runs(bimix_loss, mixtures(10, 2), sizes=(1e8,)))
    assert law.domain_map_ == {d: d for d in DOMAINS}
    for i, domain in enumerate(DOMAINS):
        p = law.params_[1e8][domain]
        assert (p["A"], p["alpha"], p["B"], p["beta"], p["C"]) == \
            pytest.approx((1.0, ALPHA[i], B[i], BETA[i], CB[i]), rel=1e-3)
    held_out = mixtures(4, 7)
    assert np.allclose(law.predict(held_out, 1e8, 5e9), [bimix_loss(w, 1e8, 5e9) for w in held_out], rtol=1e-4)


def test_bimix_reaches_an_unseen_size_through_the_size_law():
    def loss(w, n, t):  # the constant term shrinks with the model size, as a power law in N
        return w ** -ALPHA * (B / t ** BETA + CB + (3e6 / n) ** 0.4)

    law = BiMixLaw().fit(make_runs(loss, mixtures(8, 5)))
    assert sorted(law.params_) == list(SIZES)
    held_out = mixtures(4, 6)
    predicted = law.predict(held_out, 1e9, 1.6e9)
    assert np.allclose(predicted, [loss(w, 1e9, 1.6e9) for w in held_out], rtol=5e-3)


def test_bimix_maps_an_evaluation_domain_to_the_training_domain_that_drives_it():
    def loss(w, n, t):
        return np.array([w[1] ** -0.2 * (50 / t ** 0.3 + 1.2)])  # "heldout" is driven by code

    runs = make_runs(loss, mixtures(10, 3), sizes=(1e8,), eval_domains=("heldout",))
    assert BiMixLaw().fit(runs).domain_map_ == {"heldout": "code"}
    assert BiMixLaw(domain_map={"heldout": "books"}).fit(runs).domain_map_ == {"heldout": "books"}
    with pytest.raises(ValueError, match="unknown training domain"):
        BiMixLaw(domain_map={"heldout": "math"}).fit(runs)


# -- the scaling law for optimal mixtures -------------------------------------------------------

SCALING = {"E": 1.2, "C": np.array([3.0, 0.5, 0.8]), "gamma": np.array([0.6, 0.8, 0.5]),
           "A": 60.0, "alpha": 0.3, "B": 400.0, "beta": 0.28}


def additive(w, n, t):
    p = SCALING
    mix = 1 / (p["C"] * w ** p["gamma"]).sum()
    return np.array([p["E"] + mix + p["A"] / n ** p["alpha"] + p["B"] / t ** p["beta"]])


def test_additive_scaling_law_recovers_its_parameters_and_extrapolates_in_size():
    law = ScalingLaw("additive").fit(make_runs(additive, mixtures(14, 4)))
    p = law.params_["web"]
    assert p["alpha"] == pytest.approx(SCALING["alpha"], rel=0.02)
    assert p["beta"] == pytest.approx(SCALING["beta"], rel=0.02)
    assert p["E"] == pytest.approx(SCALING["E"], rel=0.02)
    assert np.allclose(p["C"], SCALING["C"], rtol=0.05)
    assert np.allclose(p["gamma"], SCALING["gamma"], rtol=0.05)
    held_out = mixtures(5, 6)
    predicted = law.predict(held_out, 1e9, 8e8)
    assert predicted.shape == (5, 1)
    assert np.allclose(predicted, [additive(w, 1e9, 8e8) for w in held_out], rtol=5e-3)


def test_joint_scaling_law_lets_the_size_term_depend_on_the_mixture():
    A, alpha = np.array([30.0, 90.0, 50.0]), np.array([0.25, 0.35, 0.3])

    def joint(w, n, t):
        return np.array([1.2 + 1 / (SCALING["C"] * w ** SCALING["gamma"]).sum() + (A @ w) / n ** (alpha @ w)
                         + 400.0 / t ** 0.28])

    runs = make_runs(joint, mixtures(20, 5), sizes=(2e7, 6e7, 2e8, 6e8))
    held_out = mixtures(5, 6)
    truth = np.array([joint(w, 2e9, 8e8) for w in held_out])
    fitted = ScalingLaw("joint").fit(runs)
    assert np.allclose(fitted.params_["web"]["alpha"], alpha, atol=0.03)
    error = np.abs(fitted.predict(held_out, 2e9, 8e8) / truth - 1).mean()
    assert error < 5e-3
    assert error < np.abs(ScalingLaw("additive").fit(runs).predict(held_out, 2e9, 8e8) / truth - 1).mean()


def test_scaling_law_needs_three_sizes_or_a_fixed_exponent():
    runs = make_runs(additive, mixtures(12, 4), sizes=(2e7, 6e7))
    with pytest.raises(LawFitError, match="give size_exponent"):
        ScalingLaw().fit(runs)
    fixed = ScalingLaw(size_exponent=0.3).fit(runs)
    assert fixed.params_["web"]["alpha"] == 0.3
    held_out = mixtures(3, 5)
    assert np.allclose(fixed.predict(held_out, 6e8, 8e8), [additive(w, 6e8, 8e8) for w in held_out], rtol=5e-3)


# -- RegMix -------------------------------------------------------------------------------------

COEF = np.array([[2.0, 3.0, 2.5], [3.1, 1.9, 2.6], [2.2, 2.8, 1.7]])


def test_regmix_linear_recovers_a_linear_law():
    runs = make_runs(lambda w, n, t: COEF @ w, mixtures(10, 7), sizes=(1e6,), tokens=(1e9,))
    law = RegMixLaw("linear").fit(runs)
    for i, domain in enumerate(DOMAINS):
        assert law.params_[domain]["coef"] == pytest.approx(COEF[i], rel=1e-9)
    held_out = mixtures(4, 3)
    assert np.allclose(law.predict(held_out, 1e6, 1e9), held_out @ COEF.T, atol=1e-9)


def test_regmix_linear_extrapolates_in_log_size_and_trees_do_not():
    def loss(w, n, t):
        return COEF @ w - 0.1 * np.log(n) - 0.05 * np.log(t)

    runs = make_runs(loss, mixtures(16, 7), sizes=SIZES, tokens=(1e9,))
    held_out = mixtures(4, 3)
    truth = np.array([loss(w, 1e10, 1e9) for w in held_out])
    linear = RegMixLaw("linear").fit(runs)
    assert linear.params_["web"]["log_params"] == pytest.approx(-0.1, rel=1e-9)
    assert np.allclose(linear.predict(held_out, 1e10, 1e9), truth, atol=1e-9)
    trees = RegMixLaw("lightgbm").fit(runs)  # flat beyond the largest size it saw
    assert np.allclose(trees.predict(held_out, 1e10, 1e9), trees.predict(held_out, SIZES[-1], 1e9))


def test_regmix_lightgbm_ranks_mixtures_it_never_saw_deterministically():
    runs = make_runs(lambda w, n, t: mixing(w), mixtures(200, 8), sizes=(1e6,), tokens=(1e9,))
    held_out = mixtures(40, 11)
    predicted = RegMixLaw("lightgbm").fit(runs).predict(held_out, 1e6, 1e9)[:, 0]
    truth = np.array([mixing(w)[0] for w in held_out])
    assert np.corrcoef(np.argsort(np.argsort(predicted)), np.argsort(np.argsort(truth)))[0, 1] > 0.9
    assert np.array_equal(predicted, RegMixLaw("lightgbm").fit(runs).predict(held_out, 1e6, 1e9)[:, 0])


# -- what every law shares ----------------------------------------------------------------------

ALL_LAWS = [DataMixingLaw(), BiMixLaw(), ScalingLaw("additive"), ScalingLaw("joint"), RegMixLaw("linear"),
            RegMixLaw("lightgbm")]


@pytest.mark.parametrize("law", ALL_LAWS, ids=lambda law: law.name)
def test_one_mixture_only_is_a_clear_error(law):
    runs = make_runs(nested, np.array([[0.5, 0.3, 0.2]]))
    with pytest.raises(LawFitError, match=rf"^{law.name}.*1 distinct mixture"):
        law.fit(runs)


@pytest.mark.parametrize("law", [pytest.param(law, marks=pytest.mark.slow) if law is ALL_LAWS[3] else law
                                 for law in ALL_LAWS], ids=lambda law: law.name)  # the joint law's fit: seconds
def test_predict_before_fit_is_an_error_and_after_fit_gives_m_x_e(law):
    with pytest.raises(RuntimeError, match=rf"^{law.name}: predict before fit"):
        law.predict(np.full((1, 3), 1 / 3), 1e8, 1e9)
    runs = make_runs(nested, mixtures(20, 12), tokens=(1e8, 2e8, 4e8))
    law.fit(runs)
    held_out = mixtures(4, 13)
    predicted = law.predict(held_out, np.array([2e7, 2e7, 6e7, 6e7]), 4e8)
    assert predicted.shape == (4, 3) and np.all(np.isfinite(predicted))
    assert np.allclose(predicted[2], law.predict(held_out[2], 6e7, 4e8)[0])
    with pytest.raises(ValueError, match="mixtures must be m x 3"):
        law.predict(np.full((1, 2), 0.5), 1e8, 1e9)


def test_make_law_builds_each_law_and_names_the_known_ones():
    assert set(LAWS) == {"dml", "bimix", "scaling_law", "regmix"}
    assert isinstance(make_law("scaling_law", form="joint"), ScalingLaw)
    assert make_law("regmix", model="linear").model == "linear"
    with pytest.raises(ValueError, match="unknown law 'olmix'; known laws: dml, bimix, scaling_law, regmix"):
        make_law("olmix")
