"""The first-GPU check (``benchmarks/gpu_check.py``) in CPU mode, and its refusals of bad input.

On a CPU the check runs every step but the CUDA-only out-of-memory trial: the workflow on two
built-in domains (bf16 records on the CPU), a 2-process trial over gloo stopped by SIGTERM and
resumed, and the throughput table against the reference decoder. What it writes is what a person
reads after the GPU run: report.md with the command, date, commit and machine above each table.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from mixopt.config import load_settings
from mixopt.corpora.builtin import missing_sources

sys.path.insert(0, str(REPO / "benchmarks"))
import gpu_check  # noqa: E402

SOURCES = REPO / "resources" / "sources"
DOMAINS = ["books", "code"]
unfetched = [str(p) for d in DOMAINS for p in missing_sources(d, SOURCES)]
needs_sources = pytest.mark.skipif(bool(unfetched), reason=f"built-in sources missing: {unfetched} "
                                                           "(run mixopt-fetch-corpora)")


@pytest.mark.slow
@needs_sources
def test_the_check_runs_on_a_cpu_and_reports_every_step(tmp_path):
    out = tmp_path / "check"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks/gpu_check.py"), "--out", str(out), "--device", "cpu", "--domains",
         *DOMAINS, "--throughput-args", "--modes eager --proxies tiny-1 --seconds 1"],
        capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]

    steps = {s["name"]: s for s in json.loads((out / "check.json").read_text())["steps"]}
    assert {name: s["status"] for name, s in steps.items()} == {
        "environment": "ok", "workflow": "ok", "out of memory": "skipped: no CUDA", "2 processes": "ok",
        "throughput": "ok"}
    assert json.loads((out / "environment.json").read_text())["gpus"] == []

    # the workflow's trials, as the check read them: bf16 on the CPU, both iterations
    records = [json.loads(p.read_text()) for p in sorted(out.glob("workflow/results/iter_*/trial_*/metrics.json"))]
    assert len(records) == 3 and {(m["status"], m["dtype"], m["device"]) for m in records} == {
        ("ok", "bfloat16", "cpu")}
    assert (out / "workflow/results/best_mixture.yaml").is_file()

    # the 2-process trial was stopped after its first resume checkpoint and resumed from it
    assert "resume: continuing from step 10 of 200" in " ".join(steps["2 processes"]["details"])
    resumed = json.loads((out / "distributed/metrics.json").read_text())
    assert resumed["status"] == "ok" and resumed["processes"] == 2 and not (out / "distributed/resume.pt").exists()

    # the throughput table: one measured row, with its provenance
    table = json.loads((out / "throughput/throughput.json").read_text())
    (row,) = table["rows"]
    assert row["status"] == "ok" and row["mixopt_tps"] > 0 and row["reference_tps"] > 0
    report = (out / "report.md").read_text()
    for line in ("GPU: none (no CUDA device visible)", "Measured with `python benchmarks/gpu_check.py --out",
                 "Measured with `python benchmarks/gpu_throughput.py --out", ", commit `", " cores)",
                 "| workflow | ok |", "| out of memory | skipped: no CUDA |", "| tiny-1 | ",
                 "nominal (CPU; not a measured or published peak)"):
        assert line in report, line


def test_the_cuda_workflow_config_passes_the_config_check(tmp_path):
    """The config the check writes on a GPU node is valid mixopt input (checked here, on a CPU):
    its `oom` scale too, which only the CUDA run meets."""
    if unfetched:
        pytest.skip(f"built-in sources missing: {unfetched}")
    config = gpu_check.workflow_config("cuda", DOMAINS, SOURCES)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    settings = load_settings(tmp_path / "config.yaml")
    assert settings.training.device == "cuda" and settings.training.precision == "auto"
    assert set(settings.scales) == {"check", "oom"} and settings.target.scale == "check"


@pytest.mark.parametrize("args, message", [
    (["--domains", "books", "poetry"], "--domains: poetry not built-in"),
    (["--domains", "code"], "--domains: give at least 2 distinct built-in domains"),
    (["--sources", "nowhere"], "--sources nowhere: missing"),
    (["--budget-s", "0"], "--budget-s must be positive"),
])
def test_bad_input_is_one_error_with_status_2_and_nothing_written(args, message, tmp_path, capsys):
    out = tmp_path / "check"
    with pytest.raises(SystemExit) as exit_:
        gpu_check.parse_args(["--out", str(out), "--device", "cpu", "--domains", *DOMAINS, *args])
    assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert not out.exists()


def test_an_output_folder_with_files_is_refused(tmp_path, capsys):
    (tmp_path / "old.md").write_text("an earlier check")
    with pytest.raises(SystemExit) as exit_:
        gpu_check.parse_args(["--out", str(tmp_path), "--device", "cpu"])
    assert exit_.value.code == 2 and "exists and is not an empty folder" in capsys.readouterr().err


@pytest.mark.skipif(gpu_check.torch.cuda.is_available(), reason="a machine without CUDA")
def test_cuda_without_a_gpu_is_refused_before_anything_runs(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        gpu_check.parse_args(["--out", str(tmp_path / "check"), "--device", "cuda"])
    assert exit_.value.code == 2 and "--device cuda: no CUDA GPU is visible" in capsys.readouterr().err
    assert not (tmp_path / "check").exists()


@pytest.mark.parametrize("name, peak", [
    ("NVIDIA H100 80GB HBM3", 989.0),  # SXM
    ("NVIDIA H100 PCIe", 756.0),
    ("NVIDIA H100 NVL", 835.0),
    ("NVIDIA H200", 989.0),
    ("NVIDIA A100-SXM4-80GB", 312.0),
    ("NVIDIA GeForce RTX 4090", None),
])
def test_mfu_uses_the_dense_bf16_peak_of_the_gpu_named_by_torch(name, peak):
    """The MFU of the H100 target is against the SXM card's 989 TFLOP/s, not the PCIe or NVL one;
    a GPU that is not in the table gets no MFU rather than a wrong one."""
    import gpu_throughput

    found = gpu_throughput.known_peak(name)
    assert (found[1] if found else None) == peak
