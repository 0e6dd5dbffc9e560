"""Loaders from published tables of pretraining runs to the long :class:`RunTable` format.

Each loader fixes its source's quirks (column prefixes, rounded mixtures, missing rows,
checkpoints evaluated on only some domains) and says where its numbers come from:

- ``regmix`` (Liu et al., ICLR 2025; MIT, vendored in ``mixopt/tables/regmix`` with its licence):
  TinyLlama runs of 1001 steps x 512 x 2048 tokens (~1B tokens) at 1M and 60M parameters
  (the 60M recipe is taken to be the 1M one: same data, same steps) and 25,000 steps (~26B tokens)
  at 1B. Sizes are the nominal 1M / 60M / 1B.
- ``mixinglaws`` (Ye et al., ICLR 2025; no licence: read from the user's copy, never bundled):
  learning curves at 70M-1B; 1M tokens per step (100k steps = 100B tokens in the paper).
- ``olmix`` (OLMo 3 swarms; Apache-2.0): 30M proxies at 5x Chinchilla (3B tokens), one checkpoint.
- ``admire`` (ADMIRE-BayesOpt, Chen et al. 2025; CC BY-NC-SA: read from the user's copy, never
  bundled): instruction-tuning mixtures of 19 datasets fine-tuned on Qwen2.5 0.5B, 3B and 7B, task
  accuracies (a loss is 1 - accuracy), one checkpoint, and the measured cost of each run.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
import numpy as np
import pandas as pd

from mixopt.settings import TableSettings
from mixopt.tables.runtable import RunTable, RunTableError, read_run_table, read_table_file

REGMIX_TOKENS_PER_STEP = 512 * 2048
REGMIX_SCALES = {  # label -> (params, steps, mixture file, loss file)
    "1M": (1e6, 1001, ["train_mixture_1m.csv", "test_mixture_1m.csv"], ["train_pile_loss_1m.csv", "test_pile_loss_1m.csv"]),
    "60M": (60e6, 1001, ["test_mixture_60m.csv"], ["test_pile_loss_60m.csv"]),
    "1B": (1e9, 25000, ["test_mixture_1B.csv"], ["test_pile_loss_1B.csv"]),
}
MIXINGLAWS_TOKENS_PER_STEP = 1_000_000
MIXINGLAWS_DOMAINS = {
    "5Mix": ["academic", "prose", "dialogue", "symbolic", "internet"],
    # order of GitHub/Books/Wikipedia inferred upstream from the default Llama mixture (unverified)
    "RedPajama": ["CommonCrawl", "C4", "GitHub", "Books", "Wikipedia", "ArXiv", "StackExchange"],
}
MIXINGLAWS_PARAMS = {"70M": 70e6, "160M": 160e6, "305M": 305e6, "410M": 410e6, "1B": 1e9}
#: the aggregate "valid" loss in the source is not an evaluation domain
MIXINGLAWS_AGGREGATE = "valid"
OLMIX_PARAMS = 30e6
OLMIX_TOKENS = 5 * 20 * OLMIX_PARAMS
ADMIRE_PARAMS = {"Qwen2.5-0.5B": ("0.5B", 0.5e9), "Qwen2.5-3B": ("3B", 3e9), "Qwen2.5-7B": ("7B", 7e9)}


def regmix_dir() -> Path:
    """The vendored RegMix tables."""
    return Path(str(resources.files("mixopt.tables") / "regmix"))


def _read_csv(path: Path, table: str) -> pd.DataFrame:
    return read_table_file(path, f"run table {table}")


def load_regmix(path: str | Path | None = None) -> RunTable:
    """RegMix: 768 mixtures at 1M (512 train + 256 test), the 256 test mixtures at 60M, 64 at 1B.

    Mixture and loss files are joined on ``index``; a mixture without losses would be left out
    (none is in the published files). Mixtures are rounded to 3 decimals upstream (sums 0.998 to
    1.002) and are renormalised. Run ids are ``<scale>/<split>/<index>``.
    """
    folder = Path(path) if path else regmix_dir()
    frames = []
    for scale, (params, steps, mixture_files, loss_files) in REGMIX_SCALES.items():
        for mixture_file, loss_file in zip(mixture_files, loss_files):
            split = mixture_file.split("_")[0]
            w = _read_csv(folder / mixture_file, "regmix").set_index("index")
            losses = _read_csv(folder / loss_file, "regmix").set_index("index")
            w.columns = [c.removeprefix("train_the_pile_") for c in w.columns]
            losses.columns = [c.removeprefix("metric/the_pile_").removesuffix("_val_loss") for c in losses.columns]
            runs = w.index.intersection(losses.index)  # inner join: a mixture without losses is not a run
            long = losses.loc[runs].stack().rename("loss").reset_index()
            long.columns = ["index", "domain", "loss"]
            long = long.join(w.add_prefix("w_"), on="index")
            long["run_id"] = [f"{scale}/{split}/{i}" for i in long["index"]]
            long["scale"], long["params"], long["step"] = scale, params, steps
            long["tokens"] = float(steps * REGMIX_TOKENS_PER_STEP)
            frames.append(long.drop(columns="index"))
    data = pd.concat(frames, ignore_index=True)
    return RunTable.from_long(data, name=f"regmix ({folder})")


def load_mixinglaws(path: str | Path, setting: str = "5Mix") -> RunTable:
    """Data Mixing Laws learning curves of one ``setting`` (5Mix or RedPajama) from the long CSV.

    ``path`` is the CSV or its folder. Rows without a step and the aggregate ``valid`` loss are
    dropped; checkpoints evaluated on only some domains stay in the long table (``RunTable.wide``
    leaves them out).
    """
    path = Path(path)
    if path.is_dir():
        path = path / "mixinglaws_runs_long.csv"
    if setting not in MIXINGLAWS_DOMAINS:
        raise RunTableError(f"run table mixinglaws: setting {setting!r} has no known domain names; "
                            f"choose from {sorted(MIXINGLAWS_DOMAINS)}")
    raw = _read_csv(path, "mixinglaws")
    raw = raw[(raw["setting"] == setting) & raw["step"].notna() & (raw["valid_domain"] != MIXINGLAWS_AGGREGATE)]
    if raw.empty:
        raise RunTableError(f"run table mixinglaws ({path}): no rows for setting {setting!r}")
    domains = MIXINGLAWS_DOMAINS[setting]
    unknown = sorted(set(raw["model_size"]) - set(MIXINGLAWS_PARAMS))
    if unknown:
        raise RunTableError(f"run table mixinglaws ({path}): unknown model size(s) {unknown}")
    data = pd.DataFrame({
        # a run is one mixture trained at one size; run_id alone repeats across sizes
        "run_id": raw["model_size"] + "/" + raw["run_id"].astype(int).astype(str),
        "scale": raw["model_size"],
        "params": raw["model_size"].map(MIXINGLAWS_PARAMS),
        "step": raw["step"].astype(int),
        "tokens": raw["step"].astype(float) * MIXINGLAWS_TOKENS_PER_STEP,
        "domain": raw["valid_domain"],
        "loss": raw["loss"],
    })
    w = raw[[f"w{k}" for k in range(1, len(domains) + 1)]].fillna(0.0).to_numpy(dtype=float)
    # the recorded default RedPajama mixture (run 999) sums to 1.023, as published; renormalise
    w = w / w.sum(axis=1, keepdims=True)
    for k, d in enumerate(domains):
        data[f"w_{d}"] = w[:, k]
    return RunTable.from_long(data, name=f"mixinglaws {setting} ({path})", mixture_domains=domains)


def load_olmix(path: str | Path, name: str = "dclm", metrics: list[str] | None = None) -> RunTable:
    """An Olmix swarm: ``<name>_ratios.csv`` joined with ``<name>_metrics.csv`` on ``run``.

    ``metrics`` picks the task columns used as evaluation domains (default: all of them).
    """
    folder = Path(path)
    ratios = _read_csv(folder / f"{name}_ratios.csv", f"olmix {name}")
    scores = _read_csv(folder / f"{name}_metrics.csv", f"olmix {name}")
    meta = {"Unnamed: 0", "run", "name", "index"}
    domains = [c for c in ratios.columns if c not in meta]
    tasks = metrics or [c for c in scores.columns if c not in meta]
    absent = [t for t in tasks if t not in scores.columns]
    if absent:
        raise RunTableError(f"run table olmix {name}: unknown metric(s) {absent}")
    joined = ratios[["run", *domains]].merge(scores[["run", *tasks]], on="run", how="inner")
    long = joined.melt(id_vars=["run", *domains], value_vars=tasks, var_name="domain", value_name="loss")
    long = long[np.isfinite(pd.to_numeric(long["loss"], errors="coerce"))]
    long = long.rename(columns={"run": "run_id", **{d: f"w_{d}" for d in domains}})
    long["scale"], long["params"], long["step"], long["tokens"] = "30M", OLMIX_PARAMS, 1, OLMIX_TOKENS
    return RunTable.from_long(long, name=f"olmix {name} ({folder})", mixture_domains=domains, eval_domains=tasks)


def load_admire(path: str | Path, metrics: list[str] | None = None) -> RunTable:
    """ADMIRE-BayesOpt instruction-tuning runs: ``admire_ift_runs.csv`` (or its folder).

    One row per run: ``model`` (the scale), ``ratio_<dataset>`` (the mixture), ``metric_<task>``
    (accuracy-like, higher is better; the evaluation domain ``<task>`` records ``1 - metric`` as
    its loss) and ``train_time``. ``metrics`` picks tasks (default: every ``metric_`` column, the
    three averages included). The bench charges runs by FLOPs (6 N D); a fine-tuning run's cost is
    its measured ``train_time``, so each scale's tokens are set to make 6 N D proportional to that
    scale's median ``train_time`` (the only cost the source gives; runs of one scale cost alike).
    """
    path = Path(path)
    if path.is_dir():
        path = path / "admire_ift_runs.csv"
    raw = _read_csv(path, "admire")
    missing = [c for c in ("model", "train_time") if c not in raw.columns]
    if missing:
        raise RunTableError(f"run table admire ({path}): no column(s) {missing}")
    unknown = sorted(set(raw["model"]) - set(ADMIRE_PARAMS))
    if unknown:
        raise RunTableError(f"run table admire ({path}): unknown model(s) {unknown}; known: {sorted(ADMIRE_PARAMS)}")
    weights = [c for c in raw.columns if c.startswith("ratio_")]
    tasks = [c.removeprefix("metric_") for c in raw.columns if c.startswith("metric_")]
    chosen = metrics or tasks
    absent = [t for t in chosen if t not in tasks]
    if absent:
        raise RunTableError(f"run table admire ({path}): unknown metric(s) {absent}; known: {tasks}")
    domains = [c.removeprefix("ratio_") for c in weights]
    w = raw[weights].to_numpy(dtype=float)
    w = w / w.sum(axis=1, keepdims=True)  # published ratios sum to 1 within 0.0006
    scale = raw["model"].map(lambda m: ADMIRE_PARAMS[m][0])
    params = raw["model"].map(lambda m: ADMIRE_PARAMS[m][1]).astype(float)
    cost = raw.groupby("model")["train_time"].transform("median").astype(float)
    wide = pd.DataFrame({"run_id": scale + "/" + raw.index.astype(str), "scale": scale, "params": params,
                         "step": 1, "tokens": cost * 1e9 / (6.0 * params)})
    for k, d in enumerate(domains):
        wide[f"w_{d}"] = w[:, k]
    for t in chosen:
        wide[t] = 1.0 - pd.to_numeric(raw[f"metric_{t}"], errors="coerce")
    long = wide.melt(id_vars=[c for c in wide.columns if c not in chosen], value_vars=chosen,
                     var_name="domain", value_name="loss")
    long = long[np.isfinite(long["loss"])]
    return RunTable.from_long(long, name=f"admire ({path})", mixture_domains=domains, eval_domains=chosen)


def load_table(spec: TableSettings, base_dir: str | Path = ".") -> RunTable:
    """The run table ``spec`` (``backend.table`` of a config) names.

    ``format``: ``regmix`` (``path`` optional: the vendored copy), ``mixinglaws``, ``olmix``,
    ``admire`` or ``long`` (mixopt's own format, CSV or parquet). Relative paths start at ``base_dir``.
    """
    fmt = spec.format
    path = None if spec.path is None else Path(base_dir) / spec.path
    if fmt == "regmix":
        return load_regmix(path)
    if path is None:
        raise RunTableError(f"run table format {fmt!r} needs a 'path'")
    if fmt == "mixinglaws":
        return load_mixinglaws(path, spec.setting)
    if fmt == "olmix":
        return load_olmix(path, spec.name, None if spec.metrics is None else list(spec.metrics))
    if fmt == "admire":
        return load_admire(path, None if spec.metrics is None else list(spec.metrics))
    if fmt == "long":
        return read_run_table(path)
    raise RunTableError(f"unknown run table format {fmt!r}; choose from regmix, mixinglaws, olmix, admire, long")
