"""The first-GPU check: one command that measures mixopt on a GPU node and proves its CUDA paths.

Steps, each recorded in ``OUT/report.md`` (and ``OUT/check.json``) as ok, failed or skipped:

1. ``environment``: GPU model, driver, CUDA, cuDNN, NCCL and torch versions, bf16 support
   (``environment.json``).
2. ``workflow``: the Snakemake workflow, 2 iterations on built-in domains, with a small scale on
   the device (``workflow/config.yaml``, written here): every finished trial's metrics.json must
   record ``dtype: bfloat16`` and the device (``cuda:0``; on a CPU, ``cpu`` with
   ``training.precision: bf16``), and the loop must write ``best_mixture.yaml`` (the report's
   figures are not drawn).
3. ``out of memory`` (CUDA only): one trial of iteration 0 is moved to a scale far too large for
   any card (262k-token batches through 16 layers); its metrics.json must say ``failed``, ``out of memory:
   OutOfMemoryError``, and the loop must go on to the end.
4. ``2 processes`` (2+ GPUs, or the CPU): a ``gpus: 2`` trial through torchrun (NCCL on GPUs,
   gloo on a CPU), stopped by SIGTERM after its first resume checkpoint, as a preemption is, then
   rerun: it must resume from that checkpoint and finish with ``processes: 2``.
5. ``throughput``: ``benchmarks/gpu_throughput.py`` with the time left (``throughput/``).

``--device cpu`` runs every step but the CUDA-only one with tiny shapes, so the check itself is
proven before a GPU is at hand (``tests/test_gpu_check.py``). On one H100 the whole check is meant
to fit 8 minutes (``--budget-s``, default 480: the throughput step starts no measurement past it).

    python benchmarks/gpu_check.py --out gpu-check
    python benchmarks/gpu_check.py --out /tmp/check --device cpu --domains books code
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable  # noqa: E402

import pandas as pd  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

from mixopt.corpora.builtin import BUILTIN_DOMAINS, missing_sources  # noqa: E402
from mixopt.settings import ModelShape, TrainingSettings, section_defaults  # noqa: E402
from mixopt.training.launch import TrainingInterrupted, run_trial_processes  # noqa: E402
from mixopt.training.spec import TrainSpec  # noqa: E402
import markdown_table  # noqa: E402  (beside this script)
from provenance import ROOT, environment, provenance_markdown  # noqa: E402

#: the workflow's scales: ``check`` on the device; ``oom`` (CUDA) keeps ~20 GB of activations per
#: layer for the backward pass (262k tokens a batch), hundreds of GB over its 16 layers in the first
#: forward pass, more than any card has, while its weights (270M parameters, 4 GB with AdamW's
#: state) and each single tensor (under 2**31 elements) stay ordinary
SCALES = {
    "cuda": {"check": {"layers": 4, "width": 256, "heads": 4, "context": 256, "batch": 32, "lr": 3e-3},
             "oom": {"layers": 16, "width": 1024, "heads": 8, "context": 2048, "batch": 128, "lr": 1e-4}},
    "cpu": {"check": {"layers": 1, "width": 32, "heads": 2, "context": 32, "batch": 4, "lr": 1e-2}},
}
#: steps of the workflow's trials and of the 2-process trial, and its resume interval
STEPS = {"cuda": 200, "cpu": 40}
RESUME_EVERY = {"cuda": 40, "cpu": 10}
#: seconds the workflow and the 2-process steps may take before they are failed
WORKFLOW_TIMEOUT_S = 300
DISTRIBUTED_TIMEOUT_S = 180


@dataclass
class Step:
    """One step's outcome: ``ok``, ``failed`` or ``skipped: <why>``, and what it found."""

    name: str
    status: str = "ok"
    seconds: float = 0.0
    details: list[str] = field(default_factory=list)

    def fail(self, why: str) -> None:
        self.status = "failed"
        self.details.append(why)

    def expect(self, ok: bool, why: str) -> None:
        if not ok:
            self.fail(why)


def run_step(name: str, steps: list[Step], body: Callable[[Step], None]) -> Step:
    """Run ``body`` as step ``name``; an exception fails the step, not the check."""
    step = Step(name)
    t = time.monotonic()
    try:
        body(step)
    except Exception as e:  # a broken step is a finding; the next steps still run
        step.fail(f"{type(e).__name__}: {e}")
    step.seconds = time.monotonic() - t
    steps.append(step)
    print(f"[gpu check] {name}: {step.status} ({step.seconds:.0f} s)" +
          "".join(f"\n    {d}" for d in step.details), flush=True)
    return step


# --- the workflow -------------------------------------------------------------------------------

def workflow_config(device: str, domains: list[str], sources: Path) -> dict[str, Any]:
    """A 2-iteration config on built-in ``domains`` with the scale(s) of ``device``; random
    proposals (the strategy is not under test)."""
    cuda = device == "cuda"
    scales = SCALES[device]
    check = scales["check"]
    return {
        "seed": 0,
        "domains": {d: {"builtin": d} for d in domains},
        "corpora": {"sources": str(sources.resolve()), "max_bytes": 2_000_000 if cuda else 200_000},
        "tokenizer": {"vocab_size": 4096 if cuda else 512, "train_bytes_per_domain": 500_000 if cuda else 100_000},
        "data": {"validation_fraction": 0.05, "num_proc": 1},
        "scales": scales,
        "target": {"scale": "check", "tokens": STEPS[device] * check["batch"] * check["context"]},
        # bf16 where CUDA has it natively (auto); on a CPU asked for, so the record is the same
        "training": {"checkpoints": 2, "eval_tokens": 4096 if cuda else 1024, "device": device,
                     "precision": "auto" if cuda else "bf16", "threads": 1},
        "objective": {"type": "mean"},
        "strategy": {"name": "random"},
        # on CUDA iteration 0 has one trial more: it becomes the out-of-memory trial
        "budget": {"iterations": 2, "initial_design": 3 if cuda else 2, "trials_per_iteration": 1},
    }


def snakemake(workdir: Path, *targets: str, gpus: int, timeout: float) -> None:
    """Run the workflow in ``workdir`` (its output in ``snakemake.log``); raise on failure."""
    bindir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / "config.yaml"), "--cores", str(os.cpu_count() or 1), *targets]
    if gpus:
        cmd += ["--resources", f"gpu={gpus}"]
    with (workdir / "snakemake.log").open("a") as log:
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"snakemake {' '.join(targets) or '(all)'} exited with {proc.returncode}; see "
                           f"{workdir.name}/snakemake.log")


def check_workflow(step: Step, oom: Step, workdir: Path, device: str, domains: list[str], sources: Path) -> None:
    """The 2-iteration loop; on CUDA, its iteration 0 also carries the out-of-memory trial."""
    workdir.mkdir(parents=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(workflow_config(device, domains, sources), sort_keys=False))
    gpus = torch.cuda.device_count() if device == "cuda" else 0
    deadline = time.monotonic() + WORKFLOW_TIMEOUT_S
    snakemake(workdir, "results/iter_0/proposals.csv", gpus=gpus, timeout=WORKFLOW_TIMEOUT_S)
    proposals = workdir / "results/iter_0/proposals.csv"
    oom_trial = None
    if device == "cuda":
        table = pd.read_csv(proposals)
        oom_trial = int(table["trial"].iloc[-1])
        table.loc[table["trial"] == oom_trial, "scale"] = "oom"
        table.to_csv(proposals, index=False)
    # the loop to its answer; the report's figures are not under test
    snakemake(workdir, "results/best_mixture.yaml", gpus=gpus, timeout=max(1.0, deadline - time.monotonic()))

    results = workdir / "results"
    step.expect((results / "best_mixture.yaml").is_file(), "the loop wrote no results/best_mixture.yaml")
    expected_device = "cuda:0" if device == "cuda" else "cpu"
    records = {p.parent.relative_to(results).as_posix(): json.loads(p.read_text())
               for p in sorted(results.glob("iter_*/trial_*/metrics.json"))}
    iterations = {name.split("/")[0] for name in records}
    step.expect(iterations == {"iter_0", "iter_1"}, f"trials of {sorted(iterations)}, expected iter_0 and iter_1")
    ok = {name: m for name, m in records.items() if name != f"iter_0/trial_{oom_trial}"}
    for name, m in ok.items():
        step.expect(m["status"] == "ok", f"{name}: status {m['status']} ({m['error']})")
        step.expect(m["dtype"] == "bfloat16", f"{name}: dtype {m['dtype']}, expected bfloat16")
        step.expect(m["device"] == expected_device, f"{name}: device {m['device']}, expected {expected_device}")
    if ok:
        first = next(iter(ok.values()))
        step.details.append(f"{len(ok)} trials: status {sorted({m['status'] for m in ok.values()})}, dtype "
                            f"{sorted({str(m['dtype']) for m in ok.values()})}, device "
                            f"{sorted({str(m['device']) for m in ok.values()})}; {first['n_params']:,} params, "
                            f"{first['tokens_per_second'] or 0:,.0f} tok/s (first trial)")
    if oom_trial is None:
        oom.status = "skipped: no CUDA"
        return
    m = records.get(f"iter_0/trial_{oom_trial}")
    if m is None:
        oom.fail(f"iter_0/trial_{oom_trial} (scale oom) has no metrics.json")
        return
    error = m["error"] or ""
    oom.expect(m["status"] == "failed" and error.startswith("out of memory: OutOfMemoryError"),
               f"the oom trial: status {m['status']}, error {error[:200]!r}; expected failed, "
               f"'out of memory: OutOfMemoryError'")
    oom.expect((results / "best_mixture.yaml").is_file() and "iter_1" in iterations,
               "the loop did not go on after the out-of-memory trial")
    oom.details.append(f"iter_0/trial_{oom_trial}: {m['status']}: {error[:160]}")


# --- two processes, stopped and resumed ---------------------------------------------------------

def check_two_processes(step: Step, workdir: Path, device: str, domains: list[str]) -> None:
    """A ``gpus: 2`` trial on the workflow's shards, SIGTERM after its first resume checkpoint,
    then rerun: it must resume and finish on 2 processes."""
    shards = {d: workdir.parent / "workflow/results/data" / d for d in domains}
    if not all((s / "meta.json").is_file() for s in shards.values()):
        step.status = "skipped: the workflow step wrote no token shards"
        return
    workdir.mkdir(parents=True)
    shape = ModelShape.from_dict({**SCALES[device]["check"], "gpus": 2})
    training = TrainingSettings.from_dict({**section_defaults("training"), "checkpoints": 2, "eval_tokens": 1024,
                                           "device": device, "precision": "auto", "threads": 1})
    steps = 5 * STEPS[device]  # room for the stop to land before the end
    spec = TrainSpec.from_settings({d: 1 / len(domains) for d in domains}, "check", shape, steps, 0, training)
    out, resume = workdir / "metrics.json", workdir / "resume.pt"
    log_file, lines = (workdir / "train.log").open("a"), []

    def log(line: str) -> None:
        lines.append(line)
        log_file.write(line + "\n")
        log_file.flush()

    fired, done = threading.Event(), threading.Event()

    def stop_after_first_checkpoint() -> None:
        deadline = time.monotonic() + DISTRIBUTED_TIMEOUT_S
        while not done.is_set() and time.monotonic() < deadline:
            if resume.exists():
                fired.set()
                os.kill(os.getpid(), signal.SIGTERM)  # as a preemption: run_trial_processes passes it on
                return
            time.sleep(0.01)

    def outside_the_run(sig: int, _frame: object) -> None:
        if not fired.is_set():  # someone else's stop: end the check, as without this handler
            sys.exit(128 + sig)
        log("SIGTERM after the run ended: ignored")  # ours, landing after the run had finished

    previous = signal.signal(signal.SIGTERM, outside_the_run)
    watcher = threading.Thread(target=stop_after_first_checkpoint, daemon=True)
    try:
        watcher.start()
        try:
            first = run_trial_processes(spec, shards, out, {"check": "2 processes"}, log, resume, RESUME_EVERY[device])
            step.fail(f"the run was not stopped: it ended {first['status']} ({first['error']})")
            return
        except TrainingInterrupted as e:
            step.details.append(f"stopped: {e}".split(";")[0])
        finally:
            done.set()
            watcher.join()
        step.expect(resume.is_file() and not out.exists(), "the stopped run left no resume file, or a record")
        start = len(lines)
        log("--- rerun ---")
        m = run_trial_processes(spec, shards, out, {"check": "2 processes"}, log, resume, RESUME_EVERY[device])
    finally:
        signal.signal(signal.SIGTERM, previous)
        log_file.close()
    resumed = [line for line in lines[start:] if line.startswith("resume: continuing from step")]
    step.expect(bool(resumed), "the rerun did not resume from the resume checkpoint (no 'resume: continuing' line)")
    step.expect(m["status"] == "ok", f"the rerun ended {m['status']} ({m['error']})")
    step.expect(m["processes"] == 2, f"processes {m['processes']}, expected 2")
    step.expect(len(m["checkpoints"]) == 2 and m["checkpoints"][-1]["step"] == steps,
                f"checkpoints at {[c['step'] for c in m['checkpoints']]}, expected 2 ending at {steps}")
    backend = "NCCL" if device == "cuda" else "gloo"
    where = resumed[0].split(" (")[0] if resumed else "not resumed"
    step.details.append(f"{backend}: {where}; {m['status']} on {m['processes']} processes, device {m['device']}, "
                        f"dtype {m['dtype']}")


# --- throughput ---------------------------------------------------------------------------------

def check_throughput(step: Step, out: Path, device: str, budget_s: float, extra: list[str]) -> None:
    cmd = [sys.executable, str(ROOT / "benchmarks/gpu_throughput.py"), "--out", str(out), "--device", device,
           "--budget-s", f"{max(0.0, budget_s):.0f}", *extra]
    with (out.parent / "throughput.log").open("w") as log:
        # a measurement started before the budget ran out may take up to a few minutes more
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=max(60.0, budget_s) + 240)
    table = out / "throughput.json"
    if not table.is_file():
        step.fail(f"gpu_throughput.py exited with {proc.returncode} and wrote no table; see throughput.log")
        return
    rows = json.loads(table.read_text())["rows"]
    for row in rows:
        if row["status"] != "ok":
            step.details.append(f"{row['proxy']} {row['mode']}: {row['status']} {row['notes']}".strip())
    step.expect(proc.returncode == 0, f"gpu_throughput.py exited with {proc.returncode}")
    step.details.append(f"{sum(r['status'] == 'ok' for r in rows)} of {len(rows)} rows measured "
                        f"(throughput/throughput.md)")


# --- the command --------------------------------------------------------------------------------

def report(out: Path, steps: list[Step], env: dict[str, Any]) -> None:
    rows = [[s.name, s.status, f"{s.seconds:.0f}", "<br>".join(d.replace("\n", " ") for d in s.details)]
            for s in steps]
    lines = ["# GPU check", "", provenance_markdown(env), markdown_table.table(["step", "status", "seconds", "details"],
                                                                               rows)]
    table = out / "throughput/throughput.md"
    if table.is_file():
        lines += ["", table.read_text().replace("# Training throughput", "## Training throughput", 1)]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    (out / "check.json").write_text(json.dumps({"environment": env, "steps": [s.__dict__ for s in steps]}, indent=2))


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="a new (or empty) folder for everything the check writes")
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--domains", nargs="+", default=list(BUILTIN_DOMAINS),
                    help=f"built-in domains of the workflow step (default all: {' '.join(BUILTIN_DOMAINS)})")
    ap.add_argument("--sources", type=Path, default=ROOT / "resources/sources",
                    help="where mixopt-fetch-corpora put the built-in sources")
    ap.add_argument("--budget-s", type=float, default=480.0,
                    help="the whole check's time; the throughput step starts no measurement after it")
    ap.add_argument("--throughput-args", default="",
                    help="more arguments for gpu_throughput.py, quoted as one: --throughput-args "
                         "'--modes eager --seconds 3' (a single one as --throughput-args=--modes=eager)")
    args = ap.parse_args(argv)
    if args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
        ap.error(f"--out {args.out}: exists and is not an empty folder; give a new one")
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error(f"--device cuda: no CUDA GPU is visible (torch {torch.__version__}, CUDA build "
                 f"{torch.version.cuda}); run with --device cpu to check the CPU paths")
    unknown = [d for d in args.domains if d not in BUILTIN_DOMAINS]
    if unknown:
        ap.error(f"--domains: {', '.join(unknown)} not built-in (built-in: {', '.join(BUILTIN_DOMAINS)})")
    if len(set(args.domains)) < 2:
        ap.error("--domains: give at least 2 distinct built-in domains (a mixture of one is no mixture)")
    missing = [str(p) for d in args.domains for p in missing_sources(d, args.sources)]
    if missing:
        ap.error(f"--sources {args.sources}: missing {', '.join(missing)}; run mixopt-fetch-corpora first")
    if args.budget_s <= 0:
        ap.error(f"--budget-s must be positive, got {args.budget_s}")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    t0 = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    steps: list[Step] = []
    env: dict[str, Any] = {}

    def env_step(step: Step) -> None:
        env.update(environment())
        (args.out / "environment.json").write_text(json.dumps(env, indent=2))
        gpus = ", ".join(f"{g['name']} ({g['memory_gib']} GiB, sm {g['compute_capability']})" for g in env["gpus"])
        step.details.append(f"GPUs: {gpus or 'none'}; driver {env['driver']}; CUDA {env['cuda_build']}; "
                            f"cuDNN {env['cudnn']}; NCCL {env['nccl']}; torch {env['torch']}; bf16 {env['bf16']}")

    run_step("environment", steps, env_step)
    oom = Step("out of memory")
    run_step("workflow", steps, lambda s: check_workflow(s, oom, args.out / "workflow", args.device, args.domains,
                                                         args.sources))
    steps.append(oom)
    if oom.status == "ok" and not oom.details:
        oom.status = "skipped: the workflow step did not get to it" if args.device == "cuda" else "skipped: no CUDA"
    if args.device == "cuda" and torch.cuda.device_count() < 2:
        steps.append(Step("2 processes", f"skipped: {torch.cuda.device_count()} GPU visible, 2 needed"))
    else:
        run_step("2 processes", steps, lambda s: check_two_processes(s, args.out / "distributed", args.device,
                                                                     args.domains))
    left = args.budget_s - (time.monotonic() - t0)
    run_step("throughput", steps, lambda s: check_throughput(s, args.out / "throughput", args.device, left,
                                                             args.throughput_args.split()))
    report(args.out, steps, env)
    print((args.out / "report.md").read_text())
    return 1 if any(s.status == "failed" for s in steps) else 0


if __name__ == "__main__":
    sys.exit(main())
