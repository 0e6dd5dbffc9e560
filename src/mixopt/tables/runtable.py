"""The run table: recorded pretraining runs in one long format.

One row per (run, checkpoint, evaluation domain). Columns:

- ``run_id`` (str): one training run; its mixture, scale and size are constant.
- ``scale`` (str): a label for the model size, e.g. ``"60M"``.
- ``params`` (float): parameters of that model (the label's nominal size where the source gives no
  exact count); FLOPs are ``6 * params * tokens``.
- ``step`` (int): the checkpoint's optimiser step.
- ``tokens`` (float): training tokens seen at that checkpoint.
- ``domain`` (str): the evaluation domain whose validation loss is in ``loss``.
- ``loss`` (float): validation loss (or any lower-is-better metric).
- ``w_<domain>`` (float), one per *training* domain: the run's mixture, summing to one.

Training domains (the mixture) and evaluation domains (the losses) may differ, as in RegMix
(17 training domains of the Pile, 13 validation domains).
"""

from __future__ import annotations

import functools

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mixopt.core.atomic import atomic_open
from mixopt.core.simplex import SUM_TOLERANCE

ID_COLUMNS = ["run_id", "scale", "params", "step", "tokens", "domain", "loss"]
#: Recorded mixtures are often rounded (RegMix: 3 decimals); sums within this are renormalised.
ROUNDING_TOLERANCE = 5e-3


class RunTableError(ValueError):
    """A run table is malformed; the message names the table and what is wrong."""


@dataclass(frozen=True)
class RunTable:
    """Recorded runs in the long format (see the module docstring).

    Attributes:
        name: where the table came from, used in every error message.
        data: the long table, checked, sorted by scale size, run, step and domain.
        mixture_domains: the `d` training domains, in the order of ``w_<domain>`` columns.
        eval_domains: the `e` evaluation domains, in their order of first appearance.
    """

    name: str
    data: pd.DataFrame
    mixture_domains: tuple[str, ...]
    eval_domains: tuple[str, ...]

    @classmethod
    def from_long(cls, data: pd.DataFrame, name: str, mixture_domains: list[str] | None = None,
                  eval_domains: list[str] | None = None) -> "RunTable":
        """Check a long table and build a RunTable; raises RunTableError naming ``name``."""
        missing = [c for c in ID_COLUMNS if c not in data.columns]
        if missing:
            raise RunTableError(f"run table {name}: missing column(s) {missing}")
        w_cols = [c for c in data.columns if c.startswith("w_")]
        if mixture_domains is None:
            mixture_domains = [c[2:] for c in w_cols]
        if len(mixture_domains) < 2:
            raise RunTableError(f"run table {name}: needs at least 2 mixture columns w_<domain>, has {w_cols}")
        absent = [d for d in mixture_domains if f"w_{d}" not in data.columns]
        if absent:
            raise RunTableError(f"run table {name}: no mixture column for domain(s) {absent}")
        wcols = [f"w_{d}" for d in mixture_domains]
        data = data[ID_COLUMNS + wcols].copy()
        data["run_id"] = data["run_id"].astype(str)
        data["scale"] = data["scale"].astype(str)
        data["domain"] = data["domain"].astype(str)
        for c in ["params", "step", "tokens", "loss", *wcols]:
            data[c] = pd.to_numeric(data[c], errors="coerce")
        bad = data[ID_COLUMNS[2:5] + ["loss"] + wcols].isna().any(axis=1) | ~np.isfinite(data["loss"])
        if bad.any():
            row = data[bad].iloc[0]
            raise RunTableError(f"run table {name}: {int(bad.sum())} row(s) with an empty or non-finite value, "
                                f"e.g. run {row['run_id']} step {row['step']} domain {row['domain']}")
        data["step"] = data["step"].astype(int)

        w = data[wcols].to_numpy(dtype=float)
        sums = w.sum(axis=1)
        if (w < 0).any() or (np.abs(sums - 1) > ROUNDING_TOLERANCE).any():
            i = int(np.argmax((w < 0).any(axis=1) | (np.abs(sums - 1) > ROUNDING_TOLERANCE)))
            raise RunTableError(f"run table {name}: run {data['run_id'].iloc[i]} mixture is not on the simplex "
                                f"(sum {sums[i]:.6g}, min {w[i].min():.6g})")
        data[wcols] = w / sums[:, None]

        runs = data.groupby("run_id")
        spread = (runs[wcols].max() - runs[wcols].min()).max(axis=1) > SUM_TOLERANCE
        rescaled = runs[["scale", "params"]].nunique().max(axis=1) > 1
        for key, varying in (("mixture", spread), ("scale", rescaled)):
            if varying.any():
                raise RunTableError(f"run table {name}: run {varying[varying].index[0]} changes {key} between rows")
        params = data.groupby("scale")["params"].nunique()
        if (params > 1).any():
            raise RunTableError(f"run table {name}: scale {params[params > 1].index[0]!r} has several params values")
        dup = data.duplicated(["run_id", "step", "domain"])
        if dup.any():
            row = data[dup].iloc[0]
            raise RunTableError(f"run table {name}: run {row['run_id']} has two losses for step {row['step']} "
                                f"domain {row['domain']}")
        if eval_domains is None:
            eval_domains = list(dict.fromkeys(data["domain"]))
        data = data[data["domain"].isin(eval_domains)]  # domains not asked for are left out
        if data.empty:
            raise RunTableError(f"run table {name}: no rows")
        # domains in their given order, so a written table reads back with the same order
        rank = data["domain"].map({d: i for i, d in enumerate(eval_domains)})
        data = data.assign(_rank=rank).sort_values(["params", "run_id", "step", "_rank"], kind="stable")
        data = data.drop(columns="_rank").reset_index(drop=True)
        return cls(name, data, tuple(mixture_domains), tuple(eval_domains))

    # -- reading -------------------------------------------------------------------------------

    @property
    def weight_columns(self) -> list[str]:
        return [f"w_{d}" for d in self.mixture_domains]

    @property
    def loss_columns(self) -> list[str]:
        return [f"loss_{d}" for d in self.eval_domains]

    @functools.cached_property
    def _checkpoints(self) -> pd.DataFrame:
        """One row per recorded (scale, params, step, tokens); looked up on every simulated trial,
        so computed once instead of scanning the long table each time."""
        keys = ["scale", "params", "step", "tokens"]
        return self.data[keys].drop_duplicates().sort_values(["params", "step"]).reset_index(drop=True)

    def scales(self) -> list[str]:
        """Scale labels, smallest model first."""
        return list(dict.fromkeys(self._checkpoints["scale"]))

    def params(self, scale: str) -> float:
        self._check_scale(scale)
        return float(self._checkpoints.loc[self._checkpoints["scale"] == scale, "params"].iloc[0])

    def steps(self, scale: str) -> list[int]:
        """Checkpoint steps recorded at ``scale`` (by any run), ascending."""
        self._check_scale(scale)
        return sorted(self._checkpoints.loc[self._checkpoints["scale"] == scale, "step"].unique().tolist())

    def full_steps(self, scale: str) -> int:
        """A full run at ``scale``: the longest checkpoint that at least half of its runs reached
        with every evaluation domain. A few runs extended far beyond the rest (Data Mixing Laws'
        100k-step runs at 70M) would otherwise leave a "full run" with almost no mixtures."""
        wide = self.wide(scale)
        runs = wide.groupby("step")["run_id"].nunique()
        enough = runs[runs >= 0.5 * wide["run_id"].nunique()]
        return int(enough.index.max())

    def tokens(self, scale: str, step: int) -> float:
        rows = self._checkpoints[(self._checkpoints["scale"] == scale) & (self._checkpoints["step"] == step)]
        if rows.empty:
            raise RunTableError(f"run table {self.name}: no checkpoint at scale {scale!r} step {step}")
        return float(rows["tokens"].iloc[0])

    def wide(self, scale: str | None = None, step: int | None = None) -> pd.DataFrame:
        """One row per (run, checkpoint) that has a loss for *every* evaluation domain.

        Columns: ``run_id, scale, params, step, tokens``, ``w_<domain>`` (`d`) and
        ``loss_<domain>`` (`e`). Checkpoints missing a domain are left out.
        """
        data = self.data
        if scale is not None:
            self._check_scale(scale)
            data = data[data["scale"] == scale]
        if step is not None:
            data = data[data["step"] == step]
        keys = ["run_id", "scale", "params", "step", "tokens"]
        losses = data.pivot_table(index=keys, columns="domain", values="loss", aggfunc="first")
        losses = losses.reindex(columns=list(self.eval_domains)).dropna()
        losses.columns = self.loss_columns
        mixtures = data.drop_duplicates("run_id").set_index("run_id")[self.weight_columns]
        out = losses.reset_index().join(mixtures, on="run_id")
        out = out.sort_values(["params", "run_id", "step"], kind="stable").reset_index(drop=True)
        return out[keys + self.weight_columns + self.loss_columns]

    def _check_scale(self, scale: str) -> None:
        if scale not in set(self._checkpoints["scale"]):
            raise RunTableError(f"run table {self.name}: no scale {scale!r}; scales are {self.scales()}")

    # -- files ---------------------------------------------------------------------------------

    def write(self, path: str | Path) -> None:
        """Write the long table as CSV or parquet (by the file's suffix)."""

        path = Path(path)
        with atomic_open(path, "wb") as f:
            if path.suffix == ".parquet":
                self.data.to_parquet(f, index=False)
            else:
                f.write(self.data.to_csv(index=False).encode())


def read_table_file(path: str | Path, what: str = "run table") -> pd.DataFrame:
    """The CSV or parquet file ``path`` as a frame.

    Raises:
        RunTableError: naming the file, when it is missing, empty, not UTF-8 (CSV), or not a table
            pandas can parse: one message instead of the parser's traceback.
    """
    path = Path(path)
    if not path.is_file():
        raise RunTableError(f"{what}: file not found: {path}")
    if path.stat().st_size == 0:
        raise RunTableError(f"{what} {path}: the file is empty")
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, encoding="utf-8")
    except UnicodeDecodeError as e:
        raise RunTableError(f"{what} {path}: not UTF-8 text (byte {e.start}: {e.reason}); save it as UTF-8") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError) as e:
        # pyarrow's ArrowInvalid is a ValueError; an unreadable file an OSError
        raise RunTableError(f"{what} {path}: cannot be read as a table ({type(e).__name__}: {e})") from None


def read_run_table(path: str | Path) -> RunTable:
    """Read a long-format run table from CSV or parquet (errors: :func:`read_table_file`)."""
    return RunTable.from_long(read_table_file(path), name=str(path))
