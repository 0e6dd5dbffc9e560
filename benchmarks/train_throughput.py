"""CPU training throughput of proxy shapes: mixopt's loop beside a minimal reference GPT.

For each shape it runs, one thread each, on shards of random token ids (token ids do not change
the arithmetic, so random ones measure the same speed as text):

* mixopt's real training loop (:func:`mixopt.training.trial.train_proxy`) in fp32 and in bf16
  (``training.precision``);
* a minimal reference decoder of the same shape in plain torch (``benchmarks/reference_decoder.py``:
  RMSNorm, rotary positions, SDPA attention, SwiGLU, tied embeddings: the Llama blocks mixopt
  builds), with the same AdamW and gradient clipping, in fp32 and under bf16 autocast;

and prints tokens/s of each and the ratios: bf16 over fp32 for both, and mixopt over the reference
at the same precision (the issue's goal: >= 1.0x the bf16 reference). The reference runs twice in
bf16: in this process, after mixopt's loop has set glibc's allocator to keep freed blocks
(:mod:`mixopt.training.allocator`), and in a fresh process with glibc's defaults, as a script of
one's own would run; ``mixopt/ref bf16`` is against the first, ``mixopt/ref glibc`` the second. ``--jobs 2`` also measures
mixopt with 2 jobs side by side (the workflow runs one 1-thread job per core).

    python benchmarks/train_throughput.py --quick         # four shapes
    python benchmarks/train_throughput.py                 # the full grid
    python benchmarks/train_throughput.py --seconds 20 --jobs 1 2
    python benchmarks/train_throughput.py --quick --compile   # and training.compile against eager
    python benchmarks/train_throughput.py --smoke             # one tiny shape, seconds (the tests)

``--markdown FILE`` also writes the tables, with the command, date, commit and machine, to FILE
(the docs include docs/benchmarks/train_throughput.md).

``tok/s`` excludes setup and evaluation (mixopt's own count; the reference times the same steps).
Run it on an otherwise idle machine: the ``load`` column (1-minute load average) shows when
something else was competing. Whether this CPU computes bf16 natively is printed first.
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
from mixopt.training.precision import cpu_has_native_bf16  # noqa: E402
from mixopt.training.spec import TrainSpec  # noqa: E402
from mixopt.training.trial import train_proxy  # noqa: E402
from reference_decoder import reference_step  # noqa: E402

import markdown_table  # noqa: E402  (beside this script)

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


def bench_spec(shape: ModelShape, steps: int, precision: str, compile: bool = False, device: str = "cpu") -> TrainSpec:
    """A 1-thread run of ``shape`` on the random domain (on the CPU unless ``device`` says otherwise):
    the schema's training defaults, with one cheap checkpoint (the steps are what is timed)."""
    training = dataclasses.replace(TrainingSettings.from_dict(section_defaults("training")), checkpoints=1,
                                   eval_tokens=shape.context + 1, threads=1, device=device, precision=precision,
                                   compile=compile)
    return TrainSpec.from_settings({"random": 1.0}, "bench", shape, steps, seed=0, training=training)


def train_tps(shape: ModelShape, shards: dict[str, Path], steps: int, precision: str = "fp32") -> tuple[float, float]:
    """(wall tok/s of the training steps, tok/s per CPU-second of this process for the whole call).

    The CPU-time rate is what the job gets from a core of its own (time spent descheduled by
    other processes does not count); it includes setup, so it slightly understates.
    """
    cpu = time.process_time()
    m = train_proxy(bench_spec(shape, steps, precision), shards, log=lambda _: None)
    return m["tokens_per_second"], steps * m["tokens_per_step"] / (time.process_time() - cpu)


def reference_tps(shape: ModelShape, vocab: int, steps: int, bf16: bool) -> float:
    """tok/s of the reference's training steps (AdamW, clipping) on random token ids."""
    torch.set_num_threads(1)
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else nullcontext
    step = reference_step(shape, vocab, torch.device("cpu"), autocast)
    data = torch.randint(0, vocab, (steps + 1, shape.batch, shape.context + 1))
    step(data[0])  # the first step allocates: not timed, as mixopt's own count skips nothing but setup
    t = time.perf_counter()
    for i in range(1, steps + 1):
        step(data[i])
    return steps * shape.batch * shape.context / (time.perf_counter() - t)


def _job(args) -> tuple[float, float]:
    return train_tps(*args)


def _fresh_reference(args) -> float:
    """The bf16 reference in a fresh process: glibc's allocator as it comes."""
    shape, vocab, steps, repeats = args
    return _best(lambda: reference_tps(shape, vocab, steps, bf16=True), repeats)


def _compiled_wall(args) -> float:
    """Wall seconds of one whole compiled bf16 run (setup, compile, steps), in a fresh process."""
    shape, shards, steps, cache = args
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
    torch.set_num_threads(1)
    return _wall(shape, shards, steps, compile=True)


def _wall(shape: ModelShape, shards: dict[str, Path], steps: int, compile: bool) -> float:
    t = time.perf_counter()
    m = train_proxy(bench_spec(shape, steps, "bf16", compile), shards, log=lambda _: None)
    if m["status"] != "ok":
        raise RuntimeError(m["error"])
    return time.perf_counter() - t


def compile_row(shape: ModelShape, shards: dict[str, Path], steps: int, ctx) -> list[str]:
    """training.compile against eager, both bf16: steady tok/s, the compile's extra seconds with a
    cold inductor cache (a trial's first run on a machine) and a warm one (later trials: inductor
    keeps its kernels on disk), and the run length in steps from which compiling pays.

    Every run is a fresh process (what a trial is); a run of n steps and one of 2n give the steady
    time per step (their difference over n) and the fixed cost (the rest)."""
    with tempfile.TemporaryDirectory() as cache:
        with ctx.Pool(1, maxtasksperchild=1) as pool:
            cold = pool.map(_compiled_wall, [(shape, shards, steps, cache)])[0]
        with ctx.Pool(1, maxtasksperchild=1) as pool:
            warm = pool.map(_compiled_wall, [(shape, shards, n, cache) for n in (steps, 2 * steps)], chunksize=1)
    eager = [_wall(shape, shards, n, compile=False) for n in (steps, 2 * steps)]
    step_e, step_c = (eager[1] - eager[0]) / steps, (warm[1] - warm[0]) / steps
    fixed_e, fixed_cold, fixed_warm = eager[0] - steps * step_e, cold - steps * step_c, warm[0] - steps * step_c
    tokens = shape.batch * shape.context
    gain = step_e - step_c  # seconds saved per step

    def pays(extra: float) -> str:
        return f"{extra / gain:,.0f}" if gain > 0 else "never"

    return [f"{tokens / step_e:,.0f}", f"{tokens / step_c:,.0f}", f"{step_e / step_c:.2f}x",
            f"{fixed_cold - fixed_e:.1f}", f"{fixed_warm - fixed_e:.1f}",
            pays(fixed_cold - fixed_e), pays(fixed_warm - fixed_e)]


def eval_seconds(shape: ModelShape, vocab: int, eval_tokens: int) -> float:
    torch.set_num_threads(1)
    model = build_model(shape, vocab, seed=0)
    tokens = np.random.default_rng(1).integers(0, vocab, size=eval_tokens)
    windows = {"random": _eval_windows(tokens, shape.context, eval_tokens)}
    t = time.perf_counter()
    _evaluate(model, windows, shape.batch, nullcontext)  # CPU runs in fp32, no autocast
    return time.perf_counter() - t


def _best(fn, repeats: int) -> float:
    """The best of ``repeats`` measurements: noise only slows."""
    return max(fn() for _ in range(repeats))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=8.0, help="target training time per measurement")
    ap.add_argument("--jobs", type=int, nargs="+", default=[1], help="also measure mixopt (bf16) with this many 1-thread jobs side by side")
    ap.add_argument("--eval-tokens", type=int, default=8192)
    ap.add_argument("--repeats", type=int, default=2, help="best of this many measurements (noise only slows)")
    ap.add_argument("--compile", action="store_true",
                    help="also measure training.compile against eager (bf16): steady tok/s, compile seconds, break-even steps")
    ap.add_argument("--quick", action="store_true", help="only the default proxy (2x64/v2048 at 64x8), 2x64/v4096, 4x128/v8192, 5x128/v8192 at 256x16")
    ap.add_argument("--smoke", action="store_true",
                    help="one tiny shape, short measurements, one repeat: seconds, to check the benchmark runs")
    ap.add_argument("--markdown", metavar="FILE", help="also write the tables as Markdown, with what produced them")
    args = ap.parse_args()

    if args.smoke:
        grid = [(1, 32, 512, 32, 4)]
        args.seconds, args.repeats, args.eval_tokens = 0.2, 1, 256
    elif args.quick:
        grid = [(2, 64, 2048, 64, 8), (2, 64, 4096, 256, 16), (4, 128, 8192, 256, 16), (5, 128, 8192, 256, 16)]
    else:
        grid = [(l, w, v, c, b) for (l, w), v, c, b in
                itertools.product([(2, 64), (4, 128), (5, 128), (8, 256)], [4096, 8192], [128, 256], [8, 16])]

    print(f"torch {torch.__version__}, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, {os.cpu_count()} CPUs, "
          f"native bf16: {cpu_has_native_bf16()}, 1 thread per job, ~{args.seconds:g} s per measurement")
    cols = ["L", "d", "vocab", "ctx", "B", "params", "non-emb", "mixopt fp32", "mixopt bf16", "ref fp32", "ref bf16",
            "ref bf16 glibc", "bf16/fp32 mixopt", "bf16/fp32 ref", "mixopt/ref bf16", "mixopt/ref fp32",
            "mixopt/ref glibc"]
    extra = [j for j in args.jobs if j > 1]
    cols += [f"mixopt bf16 x{j} jobs" for j in extra] + ["eval s", "load"]
    print(" | ".join(cols))
    ctx = mp.get_context("spawn")
    measured: list[list] = []
    compiled: list[list] = []
    with tempfile.TemporaryDirectory() as tmp:
        for layers, width, vocab, context, batch in grid:
            shape = ModelShape(layers=layers, width=width, heads=max(1, width // HEAD_DIM), context=context,
                               batch=batch, lr=1e-3)
            shards = write_shards(Path(tmp), vocab, n_tokens=20_000 if args.smoke else 2_000_000)
            counts = count_parameters(build_model(shape, vocab, seed=0))
            calib, _ = train_tps(shape, shards, steps=3)  # includes first-step overheads; only for sizing
            steps = max(5, int(args.seconds * calib / (batch * context)))
            torch.set_num_threads(1)
            ours = {p: _best(lambda p=p: train_tps(shape, shards, steps, p)[0], args.repeats) for p in ("fp32", "bf16")}
            ref = {p: _best(lambda p=p: reference_tps(shape, vocab, steps, p == "bf16"), args.repeats)
                   for p in ("fp32", "bf16")}
            with ctx.Pool(1, maxtasksperchild=1) as pool:
                ref_glibc = pool.map(_fresh_reference, [(shape, vocab, steps, args.repeats)])[0]
            side_by_side = []
            for jobs in extra:
                with ctx.Pool(jobs) as pool:
                    per_job = pool.map(_job, [(shape, shards, steps, "bf16")] * jobs)
                side_by_side.append(sum(r[0] for r in per_job) / jobs)  # per job: the machine does jobs x this
            ev = eval_seconds(shape, vocab, args.eval_tokens)
            row = [layers, width, vocab, context, batch, f"{counts['total'] / 1e6:.2f}M",
                   f"{counts['non_embedding'] / 1e6:.2f}M"]
            row += [f"{x:,.0f}" for x in (ours["fp32"], ours["bf16"], ref["fp32"], ref["bf16"], ref_glibc)]
            row += [f"{ours['bf16'] / ours['fp32']:.2f}x", f"{ref['bf16'] / ref['fp32']:.2f}x",
                    f"{ours['bf16'] / ref['bf16']:.2f}x", f"{ours['fp32'] / ref['fp32']:.2f}x",
                    f"{ours['bf16'] / ref_glibc:.2f}x"]
            row += [f"{r:,.0f}" for r in side_by_side] + [f"{ev:.2f}", f"{os.getloadavg()[0]:.1f}"]
            print(" | ".join(str(x) for x in row), flush=True)
            measured.append(row)
            if args.compile:
                compiled.append([layers, width, vocab, context, batch, *compile_row(shape, shards, steps, ctx)])
    compile_caption = ("training.compile against eager, bf16, 1 thread; compile s: extra seconds of a whole run, "
                       "with a cold and a warm inductor cache; pays after: the run length in steps from which "
                       "compiling saves time")
    compile_cols = ["L", "d", "vocab", "ctx", "B", "eager tok/s", "compiled tok/s", "speed-up",
                    "compile s cold", "compile s warm", "pays after (cold)", "pays after (warm)"]
    if args.compile:
        print(f"\n{compile_caption}")
        print(" | ".join(compile_cols))
        for row in compiled:
            print(" | ".join(str(x) for x in row), flush=True)
    if args.markdown:
        sections = [(f"Training tokens/s, 1 thread per job, best of {args.repeats} measurements of "
                     f"~{args.seconds:g} s per cell; native bf16: {cpu_has_native_bf16()}; torch {torch.__version__}",
                     cols, measured)]
        if args.compile:
            sections.append((compile_caption, compile_cols, compiled))
        markdown_table.write(args.markdown, sections)


if __name__ == "__main__":
    main()
