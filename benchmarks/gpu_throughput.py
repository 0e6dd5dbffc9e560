"""Training throughput and MFU of ~20M, ~124M and ~350M proxies on a GPU, beside a reference decoder.

For each proxy and mode (eager, ``torch.compile``), in one process on one device:

* mixopt's real training loop (:func:`mixopt.training.trial.train_proxy`, ``training.precision``
  ``auto``: bf16 autocast on a GPU that has it; AdamW fused on CUDA, :mod:`mixopt.training.device`);
* the minimal reference decoder of the same shape (``benchmarks/reference_decoder.py``), with the
  same autocast, optimiser and clipping;

both with SDPA held to the flash-attention kernel where the device has it for the head size (a
model whose attention call cannot use flash, e.g. because it passes a mask, fails there: the row
then says so and is measured with SDPA's own choice). It writes ``throughput.md`` (the table, with
the command, date, commit and machine above it) and ``throughput.json`` into ``--out``.

Figures: ``tok/s`` is the steady rate, the median over the second half of a run's timed intervals
(mixopt: its own progress lines, 20 per run; the reference: 10 intervals, synchronised with the
device), so compiling and the first steps' allocations are left out. ``MFU`` is ``6 N tok/s``
(:func:`mixopt.core.flops.training_flops`, ``N`` with the tied embedding counted once) over the
device's dense bf16 peak: from :data:`PEAK_TFLOPS` by the GPU's name, or ``--peak-tflops``. On a
CPU (``--device cpu``: tiny shapes, 1 thread) the peak is a nominal 1 TFLOP/s unless given, so the
MFU there only exercises the arithmetic.

    python benchmarks/gpu_throughput.py --out gpu-check/throughput
    python benchmarks/gpu_throughput.py --out /tmp/t --device cpu --modes eager
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.nn.attention import SDPBackend, sdpa_kernel  # noqa: E402

from mixopt.core.flops import training_flops  # noqa: E402
from mixopt.core.progress import parse_progress  # noqa: E402
from mixopt.settings import ModelShape  # noqa: E402
from mixopt.training.device import adamw_options, training_device  # noqa: E402
from mixopt.training.model import parameter_count  # noqa: E402
from mixopt.training.precision import autocast_for  # noqa: E402
from mixopt.training.trial import is_out_of_memory, train_proxy  # noqa: E402
import markdown_table  # noqa: E402  (beside this script)
from provenance import environment, provenance_markdown  # noqa: E402
from reference_decoder import reference_step  # noqa: E402
from train_throughput import bench_spec, write_shards  # noqa: E402

#: Dense (not sparse) bf16 tensor-core peak, TFLOP/s, from NVIDIA's datasheets, matched in this order
#: against torch's device name (the first name contained in it wins: "H100 NVL" before "H100").
PEAK_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H100 NVL", 835.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.0),  # SXM: "NVIDIA H100 80GB HBM3"
    ("H200 NVL", 835.0),
    ("H200", 989.0),
    ("A100", 312.0),
    ("L40S", 362.0),
)
#: --device cpu: a nominal peak, so that the MFU column is computed; not this CPU's peak
NOMINAL_CPU_TFLOPS = 1.0

#: name -> (shape, vocab): GPT-2's vocabulary (50257, padded to 50304) and context 1024 on a GPU
GPU_PROXIES: dict[str, tuple[ModelShape, int]] = {
    "20M": (ModelShape(layers=8, width=256, heads=4, context=1024, batch=16, lr=6e-4, ffn_width=688), 50304),
    "124M": (ModelShape(layers=12, width=768, heads=12, context=1024, batch=16, lr=6e-4, ffn_width=2048), 50304),
    "350M": (ModelShape(layers=24, width=1024, heads=16, context=1024, batch=16, lr=3e-4, ffn_width=2752), 50304),
}
#: --device cpu: tiny shapes that run in seconds on one thread
CPU_PROXIES: dict[str, tuple[ModelShape, int]] = {
    "tiny-1": (ModelShape(layers=1, width=32, heads=2, context=32, batch=4, lr=1e-3), 512),
    "tiny-2": (ModelShape(layers=2, width=64, heads=2, context=64, batch=4, lr=1e-3), 512),
}
MODES = ("eager", "compiled")
#: timed intervals of the reference run; the median of the second half is its steady rate
REFERENCE_INTERVALS = 10


def peak_tflops(device: torch.device, given: float | None) -> tuple[float | None, str]:
    """The dense bf16 peak used for MFU and where it came from (``None``: unknown)."""
    if given is not None:
        return given, "--peak-tflops"
    if device.type != "cuda":
        return NOMINAL_CPU_TFLOPS, "nominal (CPU; not a measured or published peak)"
    name = torch.cuda.get_device_name(device)
    known = known_peak(name)
    if known is None:
        return None, f"unknown for {name!r}: pass --peak-tflops"
    return known[1], f"datasheet ({known[0]}, dense bf16)"


def known_peak(device_name: str) -> tuple[str, float] | None:
    """The :data:`PEAK_TFLOPS` entry whose name ``device_name`` contains (the first), if any."""
    return next(((key, tflops) for key, tflops in PEAK_TFLOPS if key in device_name), None)


def flash_available(device: torch.device, shape: ModelShape, dtype: torch.dtype) -> str | None:
    """``None`` when SDPA's flash kernel runs a causal attention of ``shape``'s heads on ``device``
    in ``dtype``; else why not."""
    head = shape.width // shape.heads
    q = torch.randn(1, shape.heads, min(shape.context, 128), head, device=device, dtype=dtype)
    try:
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            F.scaled_dot_product_attention(q, q, q, is_causal=True)
    except RuntimeError as e:
        return str(e).splitlines()[0]
    return None


def steady(rates: list[float]) -> float:
    """The median rate over the second half of a run's intervals (compiling and warm-up left out)."""
    return statistics.median(rates[len(rates) // 2:])


def reference_rate(shape: ModelShape, vocab: int, device: torch.device, autocast: Callable, compile: bool,
                   seconds: float) -> tuple[float, int]:
    """(steady tok/s, steps timed) of the reference decoder, for about ``seconds`` of steps."""
    step = reference_step(shape, vocab, device, autocast, compile)
    data = torch.randint(0, vocab, (4, shape.batch, shape.context + 1), device=device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for i in range(3):  # warm-up: allocations, autotuning, compiling
        step(data[i % 4])
    sync()
    t = time.perf_counter()
    step(data[3])
    sync()
    per_interval = max(2, int(seconds / (time.perf_counter() - t)) // REFERENCE_INTERVALS)
    rates = []
    for _ in range(REFERENCE_INTERVALS):
        t = time.perf_counter()
        for i in range(per_interval):
            step(data[i % 4])
        sync()
        rates.append(per_interval * shape.batch * shape.context / (time.perf_counter() - t))
    return steady(rates), per_interval * REFERENCE_INTERVALS


def mixopt_rate(shape: ModelShape, shards: dict[str, Path], device: str, compile: bool, steps: int
                ) -> tuple[float, str]:
    """(steady tok/s, dtype) of mixopt's loop: the median of its progress lines' rates, second half."""
    lines: list[str] = []
    m = train_proxy(bench_spec(shape, steps, "auto", compile, device=device), shards, log=lines.append)
    rates = [p.tokens_per_second for p in map(parse_progress, lines) if p is not None]
    return steady(rates), m["dtype"]


def measure(name: str, shape: ModelShape, vocab: int, shards: dict[str, Path], device: torch.device, mode: str,
            seconds: float) -> dict[str, Any]:
    """One row: both models of ``shape`` in ``mode``, flash attention where it runs."""
    autocast, dtype = autocast_for(device, "auto")
    row: dict[str, Any] = {"proxy": name, "mode": mode, "params": parameter_count(shape, vocab), "vocab": vocab,
                           **shape.to_dict(), "dtype": dtype,
                           "adamw": "fused" if adamw_options(device).get("fused") else "foreach"}
    refused = flash_available(device, shape, torch.bfloat16 if dtype == "bfloat16" else torch.float32)
    attention = [("flash", lambda: sdpa_kernel(SDPBackend.FLASH_ATTENTION))] if refused is None else []
    attention.append(("sdpa default", contextlib.nullcontext))
    notes = [] if refused is None else [f"flash unavailable: {refused}"]
    compile = mode == "compiled"
    for label, kernel in attention:
        try:
            with kernel():
                ref, steps = reference_rate(shape, vocab, device, autocast, compile, seconds)
                ours, row["dtype"] = mixopt_rate(shape, shards, device.type, compile, max(40, steps + 3))
        except RuntimeError as e:
            if is_out_of_memory(e) or label != "flash":
                raise
            notes.append(f"flash refused: {str(e).splitlines()[0]}")
            continue
        finally:
            gc.collect()
            if device.type == "cuda":
                torch.cuda.empty_cache()
        row.update(attention=label, mixopt_tps=ours, reference_tps=ref, status="ok")
        break
    row["notes"] = "; ".join(notes)
    return row


def throughput_table(rows: list[dict[str, Any]], peak: float | None, peak_source: str) -> str:
    """The rows as a Markdown table, below the peak their MFU is against."""
    head = ["proxy", "params", "L x d", "vocab", "ctx x batch", "mode", "dtype", "AdamW", "attention",
            "mixopt tok/s", "reference tok/s", "mixopt/ref", "mixopt MFU", "reference MFU", "notes"]

    def mfu(tps: float) -> str:
        return f"{training_flops(row['params'], tps) / (peak * 1e12):.1%}" if peak else "n/a"

    cells = []
    for row in rows:
        line = [row["proxy"], f"{row['params'] / 1e6:.3g}M", f"{row['layers']} x {row['width']}", row["vocab"],
                f"{row['context']} x {row['batch']}", row["mode"], row.get("dtype", ""), row.get("adamw", "")]
        if row["status"] == "ok":
            line += [row["attention"], f"{row['mixopt_tps']:,.0f}", f"{row['reference_tps']:,.0f}",
                     f"{row['mixopt_tps'] / row['reference_tps']:.2f}x", mfu(row["mixopt_tps"]),
                     mfu(row["reference_tps"]), row["notes"]]
        else:
            line += ["", "", "", "", "", "", f"{row['status']}; {row['notes']}".strip("; ")]
        cells.append(line)
    caption = f"MFU against a peak of {peak:g} TFLOP/s, {peak_source}." if peak else f"MFU: no peak ({peak_source})."
    return f"{caption}\n\n{markdown_table.table(head, cells)}\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for throughput.md and throughput.json")
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--proxies", nargs="+", help="which proxies (default: all of the device's: "
                    f"cuda {', '.join(GPU_PROXIES)}; cpu {', '.join(CPU_PROXIES)})")
    ap.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    ap.add_argument("--seconds", type=float, default=6.0, help="timed steps per measurement, about (each model)")
    ap.add_argument("--peak-tflops", type=float, help="the device's dense bf16 peak (default: known GPUs' datasheet)")
    ap.add_argument("--budget-s", type=float, default=float("inf"),
                    help="start no measurement after this many seconds (the rest are recorded as skipped)")
    args = ap.parse_args(argv)

    proxies = GPU_PROXIES if args.device == "cuda" else CPU_PROXIES
    unknown = sorted(set(args.proxies or []) - set(proxies))
    if unknown:
        ap.error(f"--proxies: unknown for --device {args.device}: {', '.join(unknown)} (known: {', '.join(proxies)})")
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA GPU is visible (use --device cpu)")
    if args.peak_tflops is not None and args.peak_tflops <= 0:
        ap.error(f"--peak-tflops must be positive, got {args.peak_tflops}")
    device = training_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(1)  # as a workflow job: bench_spec's training.threads
    peak, peak_source = peak_tflops(device, args.peak_tflops)
    env = environment()

    start, rows = time.monotonic(), []
    names = args.proxies or list(proxies)
    with tempfile.TemporaryDirectory(prefix="mixopt-gpu-throughput-") as tmp:
        # every proxy eager first, then compiled (slower to start): the budget cuts the compiled rows
        for mode, name in [(mode, name) for mode in args.modes for name in names]:
            shape, vocab = proxies[name]
            row = {"proxy": name, "mode": mode, "params": parameter_count(shape, vocab), "vocab": vocab,
                   **shape.to_dict(), "status": "skipped: time budget", "notes": ""}
            if time.monotonic() - start <= args.budget_s:
                shards = write_shards(Path(tmp), vocab, n_tokens=4_000_000 if device.type == "cuda" else 200_000)
                try:
                    row = measure(name, shape, vocab, shards, device, mode, args.seconds)
                except Exception as e:  # one failed row is a finding; the others still run
                    row.update(status="out of memory" if is_out_of_memory(e) else "failed",
                               notes=f"{type(e).__name__}: {e}".splitlines()[0])
                    gc.collect()
                    if device.type == "cuda":
                        torch.cuda.empty_cache()
            rows.append(row)
            print(json.dumps(row), flush=True)
    rows.sort(key=lambda r: (names.index(r["proxy"]), args.modes.index(r["mode"])))

    args.out.mkdir(parents=True, exist_ok=True)
    text = "# Training throughput\n\n" + provenance_markdown(env) + "\n"
    (args.out / "throughput.md").write_text(text + throughput_table(rows, peak, peak_source))
    (args.out / "throughput.json").write_text(json.dumps({"environment": env, "peak_tflops": peak,
                                                           "peak_source": peak_source, "rows": rows}, indent=2))
    print(throughput_table(rows, peak, peak_source))
    return 0 if all(r["status"] in ("ok", "skipped: time budget") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
