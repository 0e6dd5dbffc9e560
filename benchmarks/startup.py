"""Start-up cost of the workflow's jobs: what each script imports, and a training job's time to
its first step.

Every Snakemake job starts a fresh Python that imports its script's modules before doing any
work; with 12 trials, 2 light jobs per iteration and the plots, those seconds add up (and show as
system time). For each script under ``workflow/scripts/`` this starts a fresh interpreter that
imports exactly the modules the script imports (read from its ``import`` lines, so it stays in step
with the scripts) and prints the wall time (best of ``--repeats``) and which heavy packages came
with them. Then it times a training job from process start to the end of a 1-step run (the
training loop's own set-up: shards, model, optimiser, one step and one minimal evaluation): in
the job's own process, and as the workflow runs it, the job starting the training in a process of
its own (:mod:`mixopt.training.launch`), which costs a second interpreter's start.

    python benchmarks/startup.py
    python benchmarks/startup.py --repeats 5 --scripts train_proxy propose aggregate
    python benchmarks/startup.py --smoke      # one script, one repeat: seconds (the tests)

``--markdown FILE`` also writes the table, with the command, date, commit and machine, to FILE
(the docs include docs/benchmarks/startup.md).
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import markdown_table  # beside this script

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "workflow" / "scripts"
HEAVY = ("torch", "transformers", "botorch", "gpytorch", "smac", "datasets", "matplotlib", "sklearn", "pandas", "scipy")


def imported_modules(script: Path) -> list[str]:
    """The modules a script's top-level import statements load."""
    tree = ast.parse(script.read_text())
    names = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def import_seconds(modules: list[str]) -> tuple[float, list[str]]:
    """Wall seconds of a fresh interpreter importing ``modules`` (start-up included), and the heavy
    packages it ended up with."""
    code = ("import sys, json\n" + "".join(f"import {m}\n" for m in modules)
            + f"print(json.dumps([h for h in {HEAVY!r} if h in sys.modules]))")
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return time.perf_counter() - t, json.loads(out.strip().splitlines()[-1])


FIRST_STEP = """
import json, numpy as np, sys
from pathlib import Path
from mixopt.settings import ModelShape, TrainingSettings, section_defaults
from mixopt.training.spec import TrainSpec
import dataclasses
d = Path(sys.argv[1])
ids = np.random.default_rng(0).integers(0, 4096, size=200_000).astype("uint16")
ids.tofile(d / "train.bin"); ids[:20_000].tofile(d / "val.bin")
(d / "meta.json").write_text(json.dumps({"domain": "random", "dtype": "uint16", "vocab_size": 4096, "eos_token_id": 0,
                                         "tokens": {"train": 200_000, "val": 20_000}}))
shape = ModelShape(layers=2, width=64, heads=2, context=128, batch=16, lr=3e-3)
training = dataclasses.replace(TrainingSettings.from_dict(section_defaults("training")), checkpoints=1,
                               eval_tokens=129, threads=1, device="cpu")
spec = TrainSpec.from_settings({"random": 1.0}, "s", shape, 1, seed=0, training=training)
if sys.argv[2] == "launched":  # what the job imports: no torch
    from mixopt.training.launch import run_trial_processes
    m = run_trial_processes(spec, {"random": d}, d / "metrics.json", extra={}, log=lambda _: None)
else:
    from mixopt.training.trial import train_proxy
    m = train_proxy(spec, {"random": d}, log=lambda _: None)
assert m["status"] == "ok", m["error"]
"""


def first_step_seconds(mode: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", FIRST_STEP, tmp, mode], check=True, cwd=ROOT)
        return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="best of this many (the first also warms the disk cache)")
    ap.add_argument("--scripts", nargs="*", help="script names without .py (default: all)")
    ap.add_argument("--smoke", action="store_true", help="one script (aggregate), one repeat: seconds, to check it runs")
    ap.add_argument("--markdown", metavar="FILE", help="also write the table as Markdown, with what produced it")
    args = ap.parse_args()
    if args.smoke:
        args.repeats, args.scripts = 1, args.scripts or ["aggregate"]
    scripts = sorted(SCRIPTS.glob("*.py")) if not args.scripts else [SCRIPTS / f"{s}.py" for s in args.scripts]
    bare, _ = min((import_seconds([]) for _ in range(args.repeats)), key=lambda r: r[0])
    print(f"python {sys.version.split()[0]}; a bare interpreter starts in {bare:.2f} s (best of {args.repeats})")
    print(f"{'script':<22} {'import s':>9}  heavy packages loaded")
    rows: list[list[object]] = [["(a bare interpreter)", f"{bare:.2f}", "-"]]
    for script in scripts:
        seconds, heavy = min((import_seconds(imported_modules(script)) for _ in range(args.repeats)), key=lambda r: r[0])
        print(f"{script.stem:<22} {seconds:9.2f}  {', '.join(heavy) or '-'}", flush=True)
        rows.append([script.stem, f"{seconds:.2f}", ", ".join(heavy) or "-"])
    first_steps: list[list[object]] = []
    for mode, what in (("in-process", "in the job's own process"), ("launched", "in a training process the job starts")):
        first = min(first_step_seconds(mode) for _ in range(args.repeats))
        print(f"a training job, process start to the end of a 1-step run {what}: {first:.2f} s "
              f"(best of {args.repeats})", flush=True)
        first_steps.append([what, f"{first:.2f}"])
    if args.markdown:
        markdown_table.write(args.markdown, [
            (f"Import seconds of each workflow script in a fresh interpreter (start-up included), best of "
             f"{args.repeats}, and the heavy packages it loads", ["script", "import s", "heavy packages"], rows),
            (f"A training job from process start to the end of a 1-step run, best of {args.repeats}",
             ["training runs", "seconds"], first_steps),
        ])


if __name__ == "__main__":
    main()
