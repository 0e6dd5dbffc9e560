"""Issue 33: domain weights that change during a run. DoReMi's Group DRO step and the online
bandit's weights against hand-computed values; the sampler's changing weights across a resume;
a DoReMi proxy run and an online run resumed after a kill give the same metrics as uninterrupted
ones (bit-identical on CPU), with the weights they used at each step."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from mixopt.training.bandit import Exp3, exploration_rate
from mixopt.training.group_dro import GroupDRO, domain_means, group_dro_step
from mixopt.training.sampler import MixtureSampler
from mixopt.training.trial import run_trial, train_proxy
from test_resume import Preempted, stop_at, without_timing
from test_sampler import CONTEXT, domain_of, labelled_tokens
from test_train import quiet, shards, spec  # noqa: F401  (shards is a fixture)

UNIFORM = {"prose": 0.5, "code": 0.5, "docs": 0.0}  # docs: evaluated only (test_train's shards)


def test_group_dro_step_matches_a_hand_computed_step():
    # α = (1/2, 1/4, 1/4), excess (0, ln 2, 0), η = 1: α' ∝ (1/2, 1/2, 1/4) = (0.4, 0.4, 0.2);
    # smoothing c = 0.1: 0.9 α' + 0.1 / 3
    new = group_dro_step(torch.tensor([0.5, 0.25, 0.25], dtype=torch.float64),
                         torch.tensor([0.0, math.log(2.0), 0.0], dtype=torch.float64), 1.0, 0.1)
    assert torch.allclose(new, torch.tensor([0.36, 0.36, 0.18], dtype=torch.float64) + 0.1 / 3)
    # no excess anywhere: only the smoothing moves the weights
    same = group_dro_step(torch.tensor([0.7, 0.3], dtype=torch.float64), torch.zeros(2, dtype=torch.float64), 1.0, 0.0)
    assert torch.allclose(same, torch.tensor([0.7, 0.3], dtype=torch.float64))


def test_excess_loss_is_clipped_per_token_and_averaged_over_each_domains_tokens():
    """Two rows of domain 0, one of domain 1, none of domain 2; a reference that predicts
    uniformly over the vocabulary has loss ln V on every token."""
    vocab = 4

    class Uniform(torch.nn.Module):
        def forward(self, input_ids):
            return type("Out", (), {"logits": torch.zeros(*input_ids.shape, vocab)})()

    x = torch.zeros(3, 2, dtype=torch.long)
    proxy = torch.tensor([[2.0, 0.0], [1.0, 1.0], [3.0, 1.0]])  # per-token losses of the proxy
    rule = GroupDRO(Uniform(), np.full(3, 1 / 3), step_size=1.0, smoothing=0.0, steps=1)
    rule.update(x, x, proxy, np.array([0, 0, 1]))
    ln4 = math.log(vocab)
    # domain 0: max(2 - ln 4, 0) + 0 + 0 + 0 over 4 tokens; domain 1: (3 - ln 4) + 0 over 2 tokens
    want = torch.tensor([(2 - ln4) / 4, (3 - ln4) / 2, 0.0], dtype=torch.float64)
    assert torch.allclose(rule.excess[0], want)
    assert torch.allclose(rule.weights, torch.softmax(torch.log(torch.full((3,), 1 / 3, dtype=torch.float64)) + want, 0))
    assert torch.allclose(rule.trace[0], torch.full((3,), 1 / 3, dtype=torch.float64))  # the weights used
    assert torch.allclose(domain_means(proxy, torch.tensor([0, 0, 1]), 3), torch.tensor([1.0, 2.0, 0.0], dtype=torch.float64))


def test_the_bandit_explores_then_favours_the_domain_with_the_larger_loss():
    k = 2
    assert exploration_rate(1, k) == 0.5 and exploration_rate(4, k) == pytest.approx(math.sqrt(math.log(2) / 8))
    bandit = Exp3(k, reward_smoothing=0.5, steps=3)
    assert torch.allclose(bandit.weights, torch.tensor([0.5, 0.5], dtype=torch.float64))
    x = torch.zeros(2, 1, dtype=torch.long)
    w = bandit.update(x, x, torch.tensor([[2.0], [1.0]]), np.array([0, 1]))
    # rewards 0.5 * 0 + 0.5 * L / 0.5 = (2, 1); step 2: ε_2 = sqrt(ln 2 / 4), ε_1 = 1/2
    eps = math.sqrt(math.log(2) / 4)
    soft = np.exp([1.0, 0.5]) / np.exp([1.0, 0.5]).sum()
    assert np.allclose(w, (1 - 2 * eps) * soft + eps) and w[0] > w[1]
    # a domain the batch missed keeps its reward
    bandit.update(x, x, torch.tensor([[9.0], [9.0]]), np.array([1, 1]))
    assert bandit.rewards[0] == pytest.approx(2.0) and bandit.rewards[1] > 1.0


def test_the_samplers_changing_weights_survive_a_resume():
    tokens = labelled_tokens(1_000, ["a", "b", "c"])
    weights = {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}
    s = MixtureSampler(tokens, weights, CONTEXT, 64, seed=3)
    s.next_batch()
    s.set_weights(np.array([0.9, 0.05, 0.05]))
    x, _ = s.next_batch()
    assert [domain_of(r) for r in x] == s.batch_domains.tolist()
    assert (s.batch_domains == 0).mean() > 0.75  # the new weights, not the initial ones
    s.set_weights(np.array([0.1, 0.1, 0.8]))
    state = json.loads(json.dumps(s.state_dict()))
    expected = [s.next_batch()[0].numpy() for _ in range(4)]
    resumed = MixtureSampler(tokens, weights, CONTEXT, 64, seed=0)
    resumed.load_state_dict(state)
    assert np.allclose(resumed.current_weights, [0.1, 0.1, 0.8])
    assert all(np.array_equal(e, resumed.next_batch()[0].numpy()) for e in expected)
    with pytest.raises(ValueError, match="sum to"):
        s.set_weights(np.array([0.5, 0.5, 0.5]))


STEPS, EVERY = 60, 10


@pytest.fixture(scope="module")
def reference_model(shards, tmp_path_factory):  # noqa: F811
    path = tmp_path_factory.mktemp("reference") / "model.pt"
    train_proxy(spec(mixture=UNIFORM, steps=STEPS, save_model=str(path)), shards, log=quiet)
    return path


def weighted_spec(method: str, reference_model) -> object:
    rule = ({"method": "doremi", "reference_model": str(reference_model), "step_size": 1.0, "smoothing": 1e-3}
            if method == "doremi" else {"method": "online", "reward_smoothing": 0.9})
    return spec(mixture=UNIFORM, steps=STEPS, weighting=rule)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["doremi", "online"])
def test_a_weighted_run_logs_its_weights_and_resumes_bit_identically(method, shards, reference_model, tmp_path):  # noqa: F811
    whole = run_trial(weighted_spec(method, reference_model), shards, tmp_path / "whole.json", log=quiet)
    assert whole["status"] == "ok", whole["error"]
    record = whole["domain_weights"]
    used = np.array(record["steps"])
    assert record["method"] == method and record["domains"] == ["code", "prose"] and used.shape == (STEPS, 2)
    assert np.allclose(used[0], 1 / 2) and np.allclose(used.sum(1), 1)
    assert np.ptp(used[-1]) > 1e-3  # the weights moved away from uniform
    # the run's mixture is the average of the weights it used (DoReMi's answer)
    assert np.allclose([whole["mixture"][d] for d in record["domains"]], used.mean(0))
    assert record["initial"] == UNIFORM

    out, resume = tmp_path / "metrics.json", tmp_path / "resume.pt"
    with pytest.raises(Preempted):
        train_proxy(weighted_spec(method, reference_model), shards, log=stop_at(36), resume=resume, resume_every=EVERY)
    assert torch.load(resume, weights_only=True)["step"] == 30
    resumed = run_trial(weighted_spec(method, reference_model), shards, out, log=quiet, resume=resume,
                        resume_every=EVERY)
    assert without_timing(resumed) == without_timing(whole)


def test_a_doremi_run_without_its_reference_model_fails_naming_it(shards, tmp_path):  # noqa: F811
    missing = tmp_path / "nowhere" / "model.pt"
    failed = run_trial(weighted_spec("doremi", missing), shards, tmp_path / "m.json", log=quiet)
    assert failed["status"] == "failed" and f"the reference model {missing} does not exist" in failed["error"]
