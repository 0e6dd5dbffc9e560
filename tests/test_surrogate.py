"""The run-table surrogate: held-out R² on unseen runs, range refusal, files, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mixopt.tables.runtable import RunTable
from mixopt.tables.surrogate import Surrogate, SurrogateRangeError

@pytest.fixture(autouse=True)
def one_thread():
    """Small full-batch fits: one thread is fastest, and avoids spinning against other test processes."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


SCALES = {"1M": 1e6, "10M": 1e7, "100M": 1e8}
STEPS = (100, 200, 400, 800)
TOKENS_PER_STEP = 1e5
DOMAINS = ("a", "b", "c")


def smooth(w: np.ndarray, params: float, tokens: float) -> np.ndarray:
    """Losses of two evaluation domains, `n x 3` mixtures -> `n x 2`; the mixture matters less at scale."""
    w = np.atleast_2d(w)
    base = 1.5 + 3.0 * (params / 1e6) ** -0.15 + 2.0 * (tokens / 1e7) ** -0.3
    mix = (params / 1e6) ** -0.1
    return np.column_stack([base - mix * 0.8 * np.log(w[:, 0] + 0.1),
                            base + mix * (0.6 * w[:, 1] - 1.2 * w[:, 0] * w[:, 2])])


def make_table(loss, runs: int = 30, seed: int = 0, run_per_checkpoint: bool = False) -> RunTable:
    """`runs` random mixtures per scale, four checkpoints each; ``loss(w, params, tokens, run_noise)``."""
    rng = np.random.default_rng(seed)
    rows = []
    for scale, params in SCALES.items():
        for r in range(runs):
            w, noise = rng.dirichlet(np.ones(3)), rng.normal(size=2)
            for step in STEPS:
                tokens = step * TOKENS_PER_STEP
                run_id = f"{scale}/{r}" + (f"/{step}" if run_per_checkpoint else "")
                for domain, value in zip(["x", "y"], loss(w, params, tokens, noise)):
                    rows.append({"run_id": run_id, "scale": scale, "params": params, "step": step, "tokens": tokens,
                                 "domain": domain, "loss": value, **{f"w_{d}": v for d, v in zip(DOMAINS, w)}})
    return RunTable.from_long(pd.DataFrame(rows), name="synthetic")


def smooth_loss(w, params, tokens, noise):
    return smooth(w, params, tokens)[0]


def noise_loss(w, params, tokens, noise):
    return 3.0 + noise  # one draw per run, unrelated to mixture, size and tokens


@pytest.fixture(scope="module")
def smooth_table() -> RunTable:
    return make_table(smooth_loss)


@pytest.fixture(scope="module")
def fitted(smooth_table) -> Surrogate:
    return Surrogate.fit(smooth_table, seed=0)


def test_smooth_function_is_learnt(fitted):
    r2 = fitted.r2_by_scale()
    assert list(r2) == list(SCALES)
    assert min(r2.values()) > 0.9, fitted.summary()
    v = fitted.validation
    assert list(v.columns) == ["scale", "params", "domain", "r2", "runs"]
    assert len(v) == len(SCALES) * 3 and set(v["domain"]) == {"x", "y", "mean"} and (v["runs"] == 30).all()
    assert "held-out R²" in fitted.summary()

    w = np.random.default_rng(99).dirichlet(np.ones(3), size=50)  # mixtures no run had
    for scale, params in SCALES.items():
        tokens = 300 * TOKENS_PER_STEP  # between recorded checkpoints
        err = np.abs(fitted.predict(w, params, tokens) - smooth(w, params, tokens))
        assert err.mean() < 0.05 and err.max() < 0.25, (scale, err.mean(), err.max())
    assert fitted.predict(w[0], 3e7, 5e7).shape == (1, 2)


@pytest.mark.slow
def test_held_out_r2_is_scored_on_unseen_runs():
    # every run's losses are noise: only a model scored on rows it trained on could explain them
    table = make_table(noise_loss, seed=1)
    s = Surrogate.fit(table, seed=0)
    assert max(s.r2_by_scale().values()) <= 0.1, s.summary()
    # the same model does memorise its training rows, so an in-sample score would be high
    wide = table.wide()
    fitted = np.concatenate([s.predict(g[table.weight_columns].to_numpy(), p, g["tokens"].to_numpy())
                             for p, g in wide.groupby("params", sort=False)])
    y = wide[table.loss_columns].to_numpy()
    in_sample = 1 - ((y - fitted) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)
    assert in_sample.min() > 0.5, in_sample
    # control: with each checkpoint its own "run", siblings of a held-out row are trained on: R² high
    leaky = Surrogate.fit(make_table(noise_loss, seed=1, run_per_checkpoint=True), seed=0)
    assert min(leaky.r2_by_scale().values()) > 0.5, leaky.summary()


def test_range_refusal(fitted, smooth_table):
    w = np.full(3, 1 / 3)
    with pytest.raises(SurrogateRangeError, match=r"params 2e\+08.*\[1e\+06, 1e\+08\]"):
        fitted.predict(w, 2e8, 1e7)
    with pytest.raises(SurrogateRangeError, match=r"tokens 1e\+09"):
        fitted.predict(w, 1e7, 1e9)
    with pytest.raises(ValueError, match="3 columns"):
        fitted.predict(np.ones((2, 4)) / 4, 1e7, 1e7)
    loose = Surrogate.fit(smooth_table, folds=0, extrapolate=True, epochs=200)
    assert loose.validation.empty and "not validated" in loose.summary()
    assert np.isfinite(loose.predict(w, 2e8, 1e9)).all()


def test_predict_scale(fitted):
    w = np.random.default_rng(3).dirichlet(np.ones(3), size=4)
    np.testing.assert_array_equal(fitted.predict_scale(w, "10M", 400), fitted.predict(w, 1e7, 400 * TOKENS_PER_STEP))
    # an unrecorded step: tokens from the scale's tokens per step
    np.testing.assert_array_equal(fitted.predict_scale(w, "10M", 300), fitted.predict(w, 1e7, 300 * TOKENS_PER_STEP))
    with pytest.raises(ValueError, match="no scale"):
        fitted.predict_scale(w, "7B", 100)


def test_save_load_round_trip(fitted, tmp_path):
    path = tmp_path / "sub" / "surrogate.pt"
    fitted.save(path)
    loaded = Surrogate.load(path)  # weights_only: tensors and plain metadata only
    w = np.random.default_rng(4).dirichlet(np.ones(3), size=8)
    np.testing.assert_array_equal(loaded.predict(w, 3e7, 5e7), fitted.predict(w, 3e7, 5e7))
    pd.testing.assert_frame_equal(loaded.validation, fitted.validation)
    assert loaded.summary() == fitted.summary()
    assert (loaded.mixture_domains, loaded.eval_domains) == (DOMAINS, ("x", "y"))
    assert loaded.scale_params == SCALES and loaded.hparams == fitted.hparams and not loaded.extrapolate


def test_same_seed_same_surrogate(smooth_table):
    a, b = (Surrogate.fit(smooth_table, seed=7, folds=2, ensemble=2, epochs=100) for _ in range(2))
    w = np.random.default_rng(5).dirichlet(np.ones(3), size=8)
    np.testing.assert_array_equal(a.predict(w, 1e7, 4e7), b.predict(w, 1e7, 4e7))
    pd.testing.assert_frame_equal(a.validation, b.validation)
    c = Surrogate.fit(smooth_table, seed=8, folds=2, ensemble=2, epochs=100)
    assert not np.array_equal(a.predict(w, 1e7, 4e7), c.predict(w, 1e7, 4e7))
