"""CPU training throughput of proxy shapes, to size default runs.

Runs the real training loop (:func:`mixopt.training.trial.train_proxy`, 1 thread per job) on shards of
random token ids for each shape, and prints tokens/s for 1 job alone and for N jobs running
side by side (the workflow runs one 1-thread job per core). Token ids do not change the
arithmetic, so random ones measure the same speed as text.

    python benchmarks/train_throughput.py                 # full grid, 1 and 2 jobs
    python benchmarks/train_throughput.py --quick         # three shapes
    python benchmarks/train_throughput.py --seconds 20 --jobs 2

``tok/s`` excludes setup and evaluation; ``eval s`` is one checkpoint's evaluation of one
domain over ``--eval-tokens`` tokens, measured separately. Run it on an otherwise idle machine:
the ``load`` column (1-minute load average) shows when something else was competing.
"""

from __future__ import annotations

import os

# OpenMP threads that spin while waiting steal the core of the job beside them: with two
# 1-thread jobs on two cores, spinning collapses throughput. Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import multiprocessing as mp  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from contextlib import nullcontext  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from mixopt.settings import ModelShape, TrainingSettings, section_defaults  # noqa: E402
from mixopt.training.evaluate import eval_windows as _eval_windows, evaluate as _evaluate  # noqa: E402
from mixopt.training.model import build_model, count_parameters  # noqa: E402
from mixopt.training.spec import TrainSpec  # noqa: E402
from mixopt.training.trial import train_proxy  # noqa: E402

HEAD_DIM = 32


def write_shards(root: Path, vocab: int, n_tokens: int) -> dict[str, Path]:
    d = root / f"v{vocab}"
    if not d.exists():
        d.mkdir(parents=True)
        rng = np.random.default_rng(0)
        dtype = "uint16" if vocab <= 2**16 else "uint32"
        ids = rng.integers(0, vocab, size=n_tokens).astype(dtype)
        ids.tofile(d / "train.bin")
        ids[: n_tokens // 10].tofile(d / "val.bin")
        (d / "meta.json").write_text(json.dumps({"domain": "random", "dtype": dtype, "vocab_size": vocab,
                                                  "eos_token_id": 0,
                                                  "tokens": {"train": n_tokens, "val": n_tokens // 10}}))
    return {"random": d}


def train_tps(shape: ModelShape, shards: dict[str, Path], steps: int) -> tuple[float, float]:
    """(wall tok/s of the training steps, tok/s per CPU-second of this process for the whole call).

    The CPU-time rate is what the job gets from a core of its own (time spent descheduled by
    other processes does not count); it includes setup, so it slightly understates.
    """
    # the schema's training defaults, with one cheap checkpoint: the steps are what is timed
    training = dataclasses.replace(TrainingSettings.from_dict(section_defaults("training")), checkpoints=1,
                                   eval_tokens=shape.context + 1, threads=1, device="cpu")
    spec = TrainSpec.from_settings({"random": 1.0}, "bench", shape, steps, seed=0, training=training)
    cpu = time.process_time()
    m = train_proxy(spec, shards, log=lambda _: None)
    return m["tokens_per_second"], steps * m["tokens_per_step"] / (time.process_time() - cpu)


def _job(args) -> tuple[float, float]:
    return train_tps(*args)


def eval_seconds(shape: ModelShape, vocab: int, eval_tokens: int) -> float:
    torch.set_num_threads(1)
    model = build_model(shape, vocab, seed=0)
    tokens = np.random.default_rng(1).integers(0, vocab, size=eval_tokens)
    windows = {"random": _eval_windows(tokens, shape.context, eval_tokens)}
    t = time.perf_counter()
    _evaluate(model, windows, shape.batch, nullcontext)  # CPU runs in fp32, no autocast
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=8.0, help="target training time per measurement")
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="concurrent 1-thread jobs to measure")
    ap.add_argument("--eval-tokens", type=int, default=8192)
    ap.add_argument("--repeats", type=int, default=2, help="best of this many measurements (noise only slows)")
    ap.add_argument("--quick", action="store_true", help="only 2x64/v4096, 4x128/v8192, 5x128/v8192 at 256x16")
    args = ap.parse_args()

    if args.quick:
        grid = [(2, 64, 4096, 256, 16), (4, 128, 8192, 256, 16), (5, 128, 8192, 256, 16)]
    else:
        grid = [(l, w, v, c, b) for (l, w), v, c, b in
                itertools.product([(2, 64), (4, 128), (5, 128)], [4096, 8192], [128, 256], [8, 16])]

    print(f"torch {torch.__version__}, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, "
          f"{os.cpu_count()} CPUs, 1 thread per job, ~{args.seconds:g} s per measurement")
    cols = ["L", "d", "vocab", "ctx", "B", "params", "non-emb"]
    cols += [f"tok/s x{j}" for j in args.jobs] + [f"cpu tok/s x{j}" for j in args.jobs]
    cols += ["ms/step x1", "eval s", "load"]  # load: 1-min load average after the row; > jobs means contention
    print(" | ".join(cols))
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        for layers, width, vocab, context, batch in grid:
            shape = ModelShape(layers=layers, width=width, heads=width // HEAD_DIM, context=context,
                               batch=batch, lr=1e-3)
            shards = write_shards(Path(tmp), vocab, n_tokens=2_000_000)
            counts = count_parameters(build_model(shape, vocab, seed=0))
            calib, _ = train_tps(shape, shards, steps=3)  # includes first-step overheads; only for sizing
            steps = max(5, int(args.seconds * calib / (batch * context)))
            rates, cpu_rates = [], []
            for jobs in args.jobs:
                best = (0.0, 0.0)
                for _ in range(args.repeats):
                    with ctx.Pool(jobs) as pool:
                        per_job = pool.map(_job, [(shape, shards, steps)] * jobs)
                    # per-job rates (the machine does jobs x these); best of repeats: noise only slows
                    mean = tuple(sum(r[i] for r in per_job) / jobs for i in range(2))
                    best = tuple(max(b, x) for b, x in zip(best, mean))
                rates.append(best[0])
                cpu_rates.append(best[1])
            ms_step = 1000 * batch * context / rates[0]
            ev = eval_seconds(shape, vocab, args.eval_tokens)
            row = [layers, width, vocab, context, batch, f"{counts['total'] / 1e6:.2f}M",
                   f"{counts['non_embedding'] / 1e6:.2f}M"] + [f"{r:,.0f}" for r in rates + cpu_rates]
            row += [f"{ms_step:.0f}", f"{ev:.2f}", f"{os.getloadavg()[0]:.1f}"]
            print(" | ".join(str(x) for x in row), flush=True)


if __name__ == "__main__":
    main()
