"""Each law recovers what generated its data, and says so when the data cannot identify it."""

from __future__ import annotations

import numpy as np
import pytest

from mixopt.laws import BiMixLaw, DataMixingLaw, LawFitError, RegMixLaw, Runs, ScalingLaw
from mixopt.simplex import dirichlet

DOMAINS = ("web", "code", "books")
SIZES = (2e7, 6e7, 2e8)
TOKENS = (1e8, 2e8, 4e8, 8e8)


def make_runs(loss, mixtures: np.ndarray, sizes=SIZES, tokens=TOKENS) -> Runs:
    """Every mixture trained at every size, a checkpoint at every token count; ``loss(w, N, D)``
    gives the `e` losses."""
    rows = [(w, n, t, f"{i}-{n:g}") for i, w in enumerate(mixtures) for n in sizes for t in tokens]
    losses = np.array([loss(r[0], r[1], r[2]) for r in rows])
    return Runs(
        mixtures=np.array([r[0] for r in rows]), params=np.array([r[1] for r in rows]),
        tokens=np.array([r[2] for r in rows]), losses=losses,
        run=np.array([r[3] for r in rows]), domains=DOMAINS, eval_domains=DOMAINS[:losses.shape[1]],
    )


def mixtures(n: int, seed: int) -> np.ndarray:
    return dirichlet(n, 3, 1.0, seed) * 0.9 + 0.1 / 3


T = np.array([[-1.2, 0.5, 0.7], [0.4, -1.5, 1.1], [0.3, 0.6, -0.9]])  # centred rows
C, K = np.array([1.8, 0.9, 2.2]), np.array([0.8, 1.1, 0.6])


def mixing(w):
    return C + K * np.exp(T @ w)


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


def test_dml_nests_step_and_size_laws_to_predict_a_larger_model_trained_longer():
    def loss(w, n, t):  # each run follows the step law, each mixture the size law (exponents 0.3)
        return mixing(w) + 40.0 / n ** 0.3 + 300.0 / t ** 0.3

    law = DataMixingLaw().fit(make_runs(loss, mixtures(12, 1)))
    held_out = mixtures(5, 8)
    predicted = law.predict(held_out, 1e9, 3e9)  # 5x the largest size, 4x the longest run
    assert predicted.shape == (5, 3)
    assert np.allclose(predicted, np.array([loss(w, 1e9, 3e9) for w in held_out]), rtol=5e-3)


def test_bimix_recovers_its_parameters_from_its_own_data():
    alpha, B, beta, Cc = np.array([0.1, 0.2, 0.05]), np.array([30.0, 60.0, 20.0]), np.array([0.25, 0.3, 0.2]), np.array([1.5, 1.0, 2.0])

    def loss(w, n, t):
        return w ** -alpha * (B / t ** beta + Cc)

    law = BiMixLaw().fit(make_runs(loss, mixtures(10, 2), sizes=(1e8,)))
    assert law.domain_map_ == {d: d for d in DOMAINS}
    for i, domain in enumerate(DOMAINS):
        p = law.params_[1e8][domain]
        assert (p["alpha"], p["B"], p["beta"], p["C"]) == pytest.approx((alpha[i], B[i], beta[i], Cc[i]), rel=1e-3)
    held_out = mixtures(4, 7)
    assert np.allclose(law.predict(held_out, 1e8, 5e9), [loss(w, 1e8, 5e9) for w in held_out], rtol=1e-4)


def test_bimix_maps_an_evaluation_domain_to_the_training_domain_that_drives_it():
    def loss(w, n, t):
        return np.array([w[1] ** -0.2 * (50 / t ** 0.3 + 1.2)])  # "heldout" is driven by code

    base = make_runs(loss, mixtures(10, 3), sizes=(1e8,))
    runs = Runs(base.mixtures, base.params, base.tokens, base.losses, base.run, DOMAINS, ("heldout",))
    assert BiMixLaw().fit(runs).domain_map_ == {"heldout": "code"}


SCALING = {"E": 1.2, "C": np.array([3.0, 0.5, 0.8]), "gamma": np.array([0.6, 0.8, 0.5]),
           "A": 60.0, "alpha": 0.3, "B": 400.0, "beta": 0.28}


def additive(w, n, t):
    p = SCALING
    return np.array([p["E"] + 1 / (p["C"] * w ** p["gamma"]).sum() + p["A"] / n ** p["alpha"] + p["B"] / t ** p["beta"]])


def test_additive_scaling_law_recovers_its_parameters_and_extrapolates_in_size():
    law = ScalingLaw("additive").fit((make_runs(additive, mixtures(14, 4))))
    p = law.params_["web"]
    assert p["alpha"][0] == pytest.approx(SCALING["alpha"], rel=0.02)
    assert p["beta"][0] == pytest.approx(SCALING["beta"], rel=0.02)
    assert np.allclose(np.exp(p["log_C"]), SCALING["C"], rtol=0.05)
    assert np.allclose(p["gamma"], SCALING["gamma"], rtol=0.05)
    held_out = mixtures(5, 6)
    predicted = law.predict(held_out, 1e9, 8e8)
    assert np.allclose(predicted, [additive(w, 1e9, 8e8) for w in held_out], rtol=5e-3)


def test_joint_scaling_law_lets_the_size_term_depend_on_the_mixture():
    A, alpha = np.array([30.0, 90.0, 50.0]), np.array([0.25, 0.35, 0.3])

    def joint(w, n, t):
        return np.array([1.2 + 1 / (SCALING["C"] * w ** SCALING["gamma"]).sum() + (A @ w) / n ** (alpha @ w)
                         + 400.0 / t ** 0.28])

    runs = (make_runs(joint, mixtures(20, 5), sizes=(2e7, 6e7, 2e8, 6e8)))
    held_out = mixtures(5, 6)
    truth = np.array([joint(w, 2e9, 8e8) for w in held_out])
    error = lambda form: np.abs(ScalingLaw(form).fit(runs).predict(held_out, 2e9, 8e8) / truth - 1).mean()
    assert error("joint") < 5e-3
    assert error("joint") < error("additive")


def test_regmix_linear_recovers_a_linear_law():
    coef = np.array([[2.0, 3.0, 2.5], [3.1, 1.9, 2.6], [2.2, 2.8, 1.7]])
    runs = make_runs(lambda w, n, t: coef @ w, mixtures(10, 7), sizes=(1e6,), tokens=(1e9,))
    held_out = mixtures(4, 3)
    assert np.allclose(RegMixLaw("linear").fit(runs).predict(held_out, 1e6, 1e9), held_out @ coef.T, atol=1e-9)


def test_regmix_lightgbm_ranks_mixtures_it_never_saw():
    runs = make_runs(lambda w, n, t: mixing(w), mixtures(200, 8), sizes=(1e6,), tokens=(1e9,))
    held_out = mixtures(40, 11)
    predicted = RegMixLaw("lightgbm").fit(runs).predict(held_out, 1e6, 1e9)[:, 0]
    truth = np.array([mixing(w)[0] for w in held_out])
    assert np.corrcoef(np.argsort(np.argsort(predicted)), np.argsort(np.argsort(truth)))[0, 1] > 0.9


@pytest.mark.parametrize("law", [DataMixingLaw(), BiMixLaw(), ScalingLaw("additive"), ScalingLaw("joint"),
                                 RegMixLaw("linear"), RegMixLaw("lightgbm")], ids=lambda law: law.name)
def test_one_mixture_only_is_a_clear_error(law):
    runs = make_runs(lambda w, n, t: mixing(w) + 40.0 / n ** 0.3 + 300.0 / t ** 0.3, np.array([[0.5, 0.3, 0.2]]))
    with pytest.raises(LawFitError, match=rf"^{law.name}.*mixture"):
        law.fit(runs)


def test_predict_before_fit_and_two_sizes_without_an_exponent_are_errors():
    with pytest.raises(RuntimeError, match="predict before fit"):
        DataMixingLaw().predict(np.full((1, 3), 1 / 3), 1e8, 1e9)
    runs = (make_runs(additive, mixtures(12, 4), sizes=(2e7, 6e7)))
    with pytest.raises(LawFitError, match="size_exponent"):
        ScalingLaw().fit(runs)
    fixed = ScalingLaw(size_exponent=0.3).fit(runs)
    held_out = mixtures(3, 5)
    assert np.allclose(fixed.predict(held_out, 6e8, 8e8), [additive(w, 6e8, 8e8) for w in held_out], rtol=5e-3)
