"""Where a proxy trains and what a GPU run does differently: device choice, fused AdamW, CUDA OOM.

The CUDA paths themselves run on a GPU only (``benchmarks/gpu_check.py``); what is checked here is
the logic around them that a CPU can run: the errors a user gets, the optimiser a CUDA run builds,
and how an out-of-memory error on the GPU is recorded.
"""

from __future__ import annotations

import pytest
import torch

import mixopt.training.loop as loop
from mixopt.training.device import adamw_options, training_device
from mixopt.training.trial import run_trial
from test_train import quiet, shards, spec  # noqa: F401  (shards is a fixture)

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the errors of a machine without CUDA")


def test_auto_is_the_cpu_without_cuda_and_cpu_is_the_cpu():
    assert training_device("cpu") == torch.device("cpu")
    expected = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    assert training_device("auto") == expected


@no_cuda
def test_cuda_without_a_gpu_is_one_error_naming_the_setting():
    with pytest.raises(ValueError, match=r"training\.device cuda: no CUDA GPU is visible"):
        training_device("cuda")
    with pytest.raises(ValueError, match=r"training\.device must be one of"):
        training_device("gpu")


@no_cuda
def test_a_cuda_trial_on_a_machine_without_one_is_a_failed_trial_saying_why(shards, tmp_path):  # noqa: F811
    m = run_trial(spec(steps=2, device="cuda"), shards, tmp_path / "metrics.json", log=quiet)
    assert m["status"] == "failed"
    assert m["error"].startswith("ValueError: training.device cuda: no CUDA GPU is visible"), m["error"]


def test_a_cuda_run_steps_fused_adamw_and_a_cpu_run_keeps_the_default():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    assert adamw_options(torch.device("cuda", 0)) == {"fused": True}
    fused = loop._adamw(model, 1e-3, 0.1, torch.device("cuda", 0))  # built on CPU params: torch accepts
    assert fused.defaults["fused"] is True
    assert [g["weight_decay"] for g in fused.param_groups] == [0.1, 0.0]  # decay on the matrices only
    assert not loop._adamw(model, 1e-3, 0.1, torch.device("cpu")).defaults["fused"]


def test_a_gpu_out_of_memory_error_is_recorded_as_out_of_memory(shards, tmp_path, monkeypatch):  # noqa: F811
    """The error torch raises when a CUDA allocation fails (``torch.OutOfMemoryError``) ends the
    trial as a failed one, reason ``out of memory``, with its message; the loop of trials goes on."""
    def out_of_memory(*_args, **_kw):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 64.00 GiB. GPU 0 has a total "
                                     "capacity of 79.19 GiB")

    monkeypatch.setattr(loop, "lm_loss", out_of_memory)
    m = run_trial(spec(steps=4), shards, tmp_path / "metrics.json", log=quiet)
    assert m["status"] == "failed" and m["checkpoints"] == []
    assert m["error"].startswith("out of memory: OutOfMemoryError: CUDA out of memory. Tried to allocate"), m["error"]
