"""Training loop, schedule, evaluation and the failure-proof trial wrapper, on real text."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import math
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pydoc_data.topics
import pytest
import torch

from mixopt.core.atomic import write_json
from mixopt.core.flops import training_flops
from mixopt.settings import ModelShape, TrainingSettings, section_defaults
from mixopt.training.evaluate import eval_windows
from mixopt.training.metrics import NonFiniteLoss, failed_metrics
from mixopt.training.precision import autocast_for, cpu_has_native_bf16
from mixopt.training.schedule import lr_at
from mixopt.training.spec import TrainSpec, checkpoint_steps
from mixopt.training.trial import run_trial, train_proxy

SHAPE = ModelShape(layers=2, width=32, heads=2, context=32, batch=8, lr=3e-3)
MIXTURE = {"prose": 0.7, "code": 0.3, "docs": 0.0}
TRAINING = TrainingSettings.from_dict(section_defaults("training"))  # the schema's defaults
STDLIB = ["inspect", "argparse", "textwrap", "json.decoder", "os", "pathlib", "collections", "dataclasses"]


def quiet(_: str) -> None:
    pass


def strict_json(path: Path) -> dict:
    """Parse as strict JSON: NaN/Infinity literals are an error, as in most non-Python readers."""
    def refuse(token):
        raise ValueError(f"non-standard JSON constant {token}")
    return json.loads(path.read_text(), parse_constant=refuse)


def write_domain(root: Path, name: str, text: bytes, train: bool = True, vocab_size: int = 256) -> Path:
    """Byte-level shards (token id = byte), the last 10% held out for validation; meta.json has the
    token counts that :func:`mixopt.data.shards.load_tokens` checks the files against."""
    d = root / name
    d.mkdir(parents=True)
    ids = np.frombuffer(text, dtype=np.uint8).astype(np.uint16)
    cut = len(ids) * 9 // 10
    if train:
        ids[:cut].tofile(d / "train.bin")
    ids[cut:].tofile(d / "val.bin")
    meta = {"domain": name, "dtype": "uint16", "vocab_size": vocab_size, "eos_token_id": 0,
            "tokens": {"train": cut if train else 0, "val": len(ids) - cut}}
    (d / "meta.json").write_text(json.dumps(meta))
    return d


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("shards")
    modules = [importlib.import_module(m) for m in STDLIB]
    prose = "\n\n".join(pydoc_data.topics.topics.values()).encode()
    code = b"\n".join(Path(inspect.getfile(m)).read_bytes() for m in modules)
    members = [
        obj for m in modules for _, obj in inspect.getmembers(m, lambda o: inspect.isclass(o) or inspect.isfunction(o))
    ]
    docs = "\n\n".join(inspect.getdoc(obj) or "" for obj in members).encode()
    return {
        "prose": write_domain(root, "prose", prose),
        "code": write_domain(root, "code", code),
        # weight 0 in MIXTURE: evaluated, never trained on, so it needs no train.bin at all
        "docs": write_domain(root, "docs", docs, train=False),
    }


def spec(**kw) -> TrainSpec:
    """The tests' run: the schema's training defaults, 4 checkpoints over 2048 validation tokens, then
    ``kw`` (fields of the spec or of its training settings)."""
    own = {f.name for f in dataclasses.fields(TrainingSettings)}
    training = TRAINING.replace(**{"checkpoints": 4, "eval_tokens": 2048, **{k: v for k, v in kw.items() if k in own}})
    base = TrainSpec.from_settings(MIXTURE, "tiny", SHAPE, steps=120, seed=0, training=training)
    return dataclasses.replace(base, **{k: v for k, v in kw.items() if k not in own})


@pytest.fixture(scope="module")
def run(shards) -> dict:
    return train_proxy(spec(), shards, log=quiet)


# --- pure helpers -------------------------------------------------------------------------------


def test_checkpoint_steps():
    assert checkpoint_steps(100, 4) == [25, 50, 75, 100]
    assert checkpoint_steps(10, 4) == [3, 5, 8, 10]
    assert checkpoint_steps(7, 1) == [7]
    assert checkpoint_steps(3, 5) == [1, 2, 3]
    for steps, n in [(1, 1), (13, 5), (1000, 7), (4, 4)]:
        got = checkpoint_steps(steps, n)
        assert got[-1] == steps and got[0] >= 1 and len(set(got)) == len(got) == min(n, steps)
        assert got == sorted(got)
    with pytest.raises(ValueError):
        checkpoint_steps(0, 4)


def test_lr_schedule_warmup_peak_end():
    lr, steps = 1e-3, 101  # warm-up W = 10 updates, cosine over updates 10..100
    sched = [lr_at(s, steps, lr, 0.1, 0.1) for s in range(steps)]
    assert sched[0] == pytest.approx(lr / 11)
    assert sched[9] == pytest.approx(lr * 10 / 11)
    assert sched[10] == lr == max(sched)  # peak right after warm-up
    assert sched[55] == pytest.approx((lr + 0.1 * lr) / 2)  # half-way down the cosine
    assert sched[-1] == pytest.approx(0.1 * lr)  # the last update runs at the floor
    assert lr_at(500, steps, lr, 0.1, 0.1) == pytest.approx(0.1 * lr)
    assert all(a < b for a, b in zip(sched[:10], sched[1:11]))
    assert all(a >= b for a, b in zip(sched[10:], sched[11:]))
    assert lr_at(0, 50, lr, 0.0, 0.0) == lr and lr_at(49, 50, lr, 0.0, 0.0) == pytest.approx(0.0)


def test_eval_windows_fixed_prefix_capped_by_what_exists():
    val = np.arange(1000, dtype=np.uint16)
    w = eval_windows(val, context=15, eval_tokens=8192)  # capped: 1000 // 16 = 62 windows
    assert w.shape == (62, 16) and w.dtype == torch.int64
    assert torch.equal(w.flatten(), torch.arange(62 * 16))
    assert eval_windows(val, context=15, eval_tokens=100).shape == (6, 16)
    assert eval_windows(val[:10], context=15, eval_tokens=100).shape == (0, 16)


def test_write_json_atomic_writes_nan_as_null(tmp_path):
    out = tmp_path / "sub" / "metrics.json"
    write_json({"a": float("nan"), "b": [float("inf"), np.float32("nan"), 1.5], "c": (1, 2)}, out)
    assert strict_json(out) == {"a": None, "b": [None, None, 1.5], "c": [1, 2]}
    assert [p.name for p in out.parent.iterdir()] == ["metrics.json"]  # no temp file left behind


# --- training -----------------------------------------------------------------------------------


def test_metrics_schema_and_arithmetic(run, shards):
    assert list(run) == [
        "status", "error", "mixture", "scale", "shape", "seed", "steps", "tokens_per_step", "n_params",
        "n_params_embedding", "n_params_non_embedding", "device", "processes", "dtype", "compiled", "checkpoints",
        "domain_sequences", "domain_epochs", "wall_time_s", "tokens_per_second", "torch_version",
    ]
    assert run["status"] == "ok" and run["error"] is None
    # training.precision auto: bf16 autocast where the CPU computes bf16 natively
    assert run["device"] == "cpu" and run["dtype"] == ("bfloat16" if cpu_has_native_bf16() else "float32")
    assert run["processes"] == 1
    assert run["shape"] == SHAPE.to_dict() and run["tokens_per_step"] == 8 * 32
    assert run["n_params"] == run["n_params_embedding"] + run["n_params_non_embedding"]
    assert run["n_params_embedding"] == 256 * 32
    assert [c["step"] for c in run["checkpoints"]] == [30, 60, 90, 120]
    for c in run["checkpoints"]:
        assert c["tokens"] == c["step"] * 256
        assert c["flops"] == training_flops(run["n_params"], c["tokens"]) == 6 * run["n_params"] * c["tokens"]
    seqs = run["domain_sequences"]
    assert seqs["docs"] == 0 and sum(seqs.values()) == 120 * 8
    assert 0.55 < seqs["prose"] / (120 * 8) < 0.85  # 0.7 weight; binomial std over 960 draws is 0.015
    # passes over each domain's training tokens (what constraints.max_repetition limits)
    train_tokens = {d: json.loads((shards[d] / "meta.json").read_text())["tokens"]["train"] for d in seqs}
    for d in ("prose", "code"):
        assert run["domain_epochs"][d] == pytest.approx(seqs[d] * SHAPE.context / train_tokens[d])
    assert run["domain_epochs"]["docs"] == 0 and run["domain_epochs"]["prose"] > 0
    assert run["tokens_per_second"] > 0 and run["wall_time_s"] > 0


def test_every_domain_evaluated_and_loss_decreases(run):
    first, last = run["checkpoints"][0]["losses"], run["checkpoints"][-1]["losses"]
    assert set(first) == set(last) == {"prose", "code", "docs"}  # including the weight-0 domain
    assert all(math.isfinite(v) for c in run["checkpoints"] for v in c["losses"].values())
    for name in ("prose", "code"):
        curve = [c["losses"][name] for c in run["checkpoints"]]
        assert all(a > b for a, b in zip(curve, curve[1:])), (name, curve)
    assert last["docs"] < first["docs"]  # never trained on, but English text transfers
    assert last["prose"] < math.log(256) - 1.5  # well below a uniform guess over bytes
    train = [c["train_loss"] for c in run["checkpoints"]]
    assert train[-1] < train[0]


def test_same_spec_is_bit_identical_on_cpu(run, shards):
    again = train_proxy(spec(), shards, log=quiet)
    assert again["checkpoints"] == run["checkpoints"]  # exact float equality
    assert again["domain_sequences"] == run["domain_sequences"]
    other = train_proxy(spec(seed=1, steps=30, checkpoints=1), shards, log=quiet)
    assert other["checkpoints"][0]["losses"] != run["checkpoints"][0]["losses"]


#: bf16 and fp32 runs of the same spec differ by rounding only: measured at most 0.001 nats apart
#: over the 4 checkpoints and 3 domains of 120 steps (losses 3.4 to 2.9), so 10x that is allowed
BF16_TOLERANCE = 0.01


def test_bf16_losses_track_fp32(run, shards):
    """bf16 autocast (what `auto` picks on a CPU with native bf16) trains to the same validation
    losses as fp32 at every checkpoint, within BF16_TOLERANCE nats (40 steps: bf16 on a CPU
    without native bf16 is slow)."""
    runs = {p: train_proxy(spec(precision=p, steps=40), shards, log=quiet) for p in ("fp32", "bf16")}
    assert runs["fp32"]["dtype"] == "float32" and runs["bf16"]["dtype"] == "bfloat16"
    gaps = [abs(a["losses"][d] - b["losses"][d]) for a, b in zip(runs["fp32"]["checkpoints"], runs["bf16"]["checkpoints"])
            for d in a["losses"]]
    assert max(gaps) < BF16_TOLERANCE, gaps
    assert max(gaps) > 0  # the two really ran at different precisions
    with pytest.raises(ValueError, match="training.precision must be one of"):
        autocast_for(torch.device("cpu"), "fp16")


@pytest.mark.slow
def test_compiled_run_trains_like_the_eager_one(shards, tmp_path, monkeypatch):
    """training.compile: the steps really run through torch.compile (one graph captured), and the
    run reaches the eager run's losses within BF16_TOLERANCE (fusion may round differently)."""
    from torch._dynamo.utils import counters  # noqa: PLC0415  (dynamo's own record of compiled frames)

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    short = dict(steps=20, checkpoints=2, precision="fp32")
    eager = train_proxy(spec(**short), shards, log=quiet)
    counters.clear()
    lines: list[str] = []
    compiled = train_proxy(spec(**short, compile=True), shards, log=lines.append)
    assert compiled["status"] == "ok" and compiled["compiled"] is True and eager["compiled"] is False
    assert counters["frames"]["ok"] >= 1 and "compiled" in lines[0]
    gaps = [abs(a["losses"][d] - b["losses"][d]) for a, b in zip(eager["checkpoints"], compiled["checkpoints"])
            for d in a["losses"]]
    assert len(gaps) == 2 * 3 and max(gaps) < BF16_TOLERANCE, gaps


def test_thread_count_restored(shards):
    before = torch.get_num_threads()
    torch.set_num_threads(3)  # not the run's 1 (conftest.py runs the tests on one thread)
    try:
        train_proxy(spec(steps=2, checkpoints=1, threads=1), shards, log=quiet)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_vocab_disagreement_raises(shards, tmp_path):
    odd = write_domain(tmp_path, "odd", b"some other text " * 200, vocab_size=512)
    with pytest.raises(ValueError, match="vocab_size"):
        train_proxy(spec(), {**shards, "odd": odd}, log=quiet)


# --- failures -----------------------------------------------------------------------------------


def test_missing_domain_trial_fails_cleanly(shards, tmp_path):
    out = tmp_path / "t" / "metrics.json"
    mixture = {"prose": 0.5, "klingon": 0.5}
    result = run_trial(spec(mixture=mixture), shards, out, extra={"iteration": 3, "trial": "t007"}, log=quiet)
    written = strict_json(out)
    assert written == json.loads(json.dumps(result))
    assert list(written)[:3] == ["iteration", "trial", "status"]
    assert written["status"] == "failed" and written["checkpoints"] == []
    assert written["error"].startswith("ValueError: ") and "'klingon'" in written["error"]
    assert written["mixture"] == mixture and written["n_params"] is None


def test_domain_without_files_trial_fails_cleanly(shards, tmp_path):
    empty = tmp_path / "ghost"
    empty.mkdir()
    out = tmp_path / "metrics.json"
    result = run_trial(spec(mixture={"prose": 0.5, "ghost": 0.5}), {**shards, "ghost": empty}, out, log=quiet)
    assert result["status"] == "failed" and result["error"].startswith("DataError: ")
    assert "no meta.json" in result["error"]  # mixopt.data.shards.load_meta names what is missing
    assert strict_json(out)["status"] == "failed"


def test_divergent_trial_fails_with_nonfinite_loss(shards, tmp_path):
    # Reliable by construction, not by a lucky seed: decoupled weight decay multiplies every
    # matrix by (1 - lr * wd) = 1 - 1e5 per step, so |w| grows ~1e5x per step (Adam's own step is
    # bounded by ~lr) and float32 (max 3.4e38) overflows within ~8 steps; inf - inf then gives NaN.
    # Checked on 8 seeds x 3 shapes: NaN by step 3-4 every time.
    out = tmp_path / "metrics.json"
    hot = ModelShape(**{**SHAPE.to_dict(), "lr": 1e6})
    s = spec(shape=hot, steps=20, checkpoints=20, warmup_fraction=0.0, weight_decay=0.1)
    result = run_trial(s, shards, out, log=quiet)
    written = strict_json(out)
    assert written["status"] == "failed"
    assert written["error"].startswith("NonFiniteLoss: non-finite ") and " at step " in written["error"]
    bad_step = int(written["error"].rsplit(" ", 1)[-1])
    assert 1 <= bad_step <= 10
    # checkpoints completed before the failure are kept, and they are all finite
    assert [c["step"] for c in written["checkpoints"]] == list(range(1, len(written["checkpoints"]) + 1))
    assert all(c["step"] < bad_step for c in written["checkpoints"])
    assert all(v is not None for c in written["checkpoints"] for v in c["losses"].values())
    assert written["n_params"] == result["n_params"] > 0
    # With a checkpoint every step the first NaN shows up in validation; with one checkpoint at
    # the end, the training loss is where it is caught.
    with pytest.raises(NonFiniteLoss, match=r"non-finite train loss nan at step \d+$") as info:
        train_proxy(dataclasses.replace(s, training=s.training.replace(checkpoints=1)), shards, log=quiet)
    assert 1 <= info.value.step <= 10


def test_failed_metrics_for_a_run_that_never_started(run, tmp_path):
    m = failed_metrics("ValueError: weights sum to 0.9")
    assert list(m) == list(run) and m["status"] == "failed" and m["checkpoints"] == []
    assert all(m[k] is None for k in ("mixture", "shape", "n_params", "device"))
    m = failed_metrics("ValueError: boom", spec())
    assert m["shape"] == SHAPE.to_dict() and m["tokens_per_step"] == 256
    write_json({"iteration": 1, **m}, tmp_path / "m.json")
    assert strict_json(tmp_path / "m.json")["error"] == "ValueError: boom"


def test_extra_colliding_with_schema_is_a_caller_bug(shards, tmp_path):
    with pytest.raises(ValueError, match="collide"):
        run_trial(spec(), shards, tmp_path / "m.json", extra={"status": "mine"}, log=quiet)
    assert not (tmp_path / "m.json").exists()


@pytest.mark.slow
def test_a_training_process_keeps_freed_blocks_for_the_next_step():
    """Each step frees and reallocates the same large tensors (the logits); after the training
    loop's allocator set-up, a 128 MB tensor made and freed over and over reuses its pages once the
    heap has settled (a few rounds: torch's aligned allocations leave fragments at first), where
    glibc's defaults page-fault all of it in again every time. In a fresh process: the setting is
    process-wide."""
    import subprocess
    import sys

    code = """
import resource, torch
from mixopt.training.allocator import keep_freed_memory
def faults():  # minor page faults of allocating, filling and freeing 128 MB
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t = torch.ones(1 << 25); del t
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
default = [faults() for _ in range(12)]
was_set = keep_freed_memory()
kept = [faults() for _ in range(12)]
print(min(default[-3:]), max(kept[-3:]), was_set)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    default, kept, was_set = int(out[0]), int(out[1]), out[2] == "True"
    assert was_set
    assert default > 1000  # glibc's default: 128 MB is mmapped and faulted in afresh each time
    assert kept < default / 20, (default, kept)
