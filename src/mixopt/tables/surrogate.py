"""A simulator fitted on a run table: (mixture, model size, tokens) -> per-domain validation losses.

As in the multi-fidelity BO paper (arXiv 2503.21023), a small MLP is fitted on recorded runs and then
answers for *any* mixture. Inputs are the `d` mixture weights, ``log(params)`` and ``log(tokens)``;
outputs are the `e` losses; both standardised. An ensemble of a few seeds is averaged.

Before it is trusted, the surrogate is scored on runs it never saw: a K-fold split *by run* (all
checkpoints of a run in one fold), out-of-fold predictions, R² per (scale, evaluation domain).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from mixopt.core.atomic import atomic_open
from mixopt.tables.runtable import RunTable

FORMAT = 1


class SurrogateRangeError(ValueError):
    """A prediction was asked outside the sizes or token counts the surrogate was fitted on."""


class _Ensemble(nn.Module):
    """`M` independent MLPs (2 hidden SiLU layers) evaluated at once: `M x n x p` -> `M x n x e`."""

    def __init__(self, models: int, p: int, e: int, hidden: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        sizes = [p, hidden, hidden, e]
        # nn.Linear's default init, one independent draw per model, never from the global RNG
        generator = generator or torch.Generator()
        bounds = [1 / math.sqrt(a) for a in sizes[:-1]]
        self.weights = nn.ParameterList(torch.empty(models, a, b).uniform_(-s, s, generator=generator)
                                        for a, b, s in zip(sizes[:-1], sizes[1:], bounds))
        self.biases = nn.ParameterList(torch.empty(models, 1, b).uniform_(-s, s, generator=generator)
                                       for b, s in zip(sizes[1:], bounds))

    def forward(self, x: Tensor) -> Tensor:
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b, x, w)
            x = nn.functional.silu(x) if i < len(self.weights) - 1 else x
        return x


def _moments(v: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and std of `n x k` values `v` over the rows each of `M` models trains on: `M x 1 x k` each."""
    n = mask.sum(1, keepdim=True).unsqueeze(-1)
    mean = (mask.unsqueeze(-1) * v).sum(1, keepdim=True) / n
    std = ((mask.unsqueeze(-1) * (v - mean) ** 2).sum(1, keepdim=True) / n).sqrt()
    return mean, torch.where(std > 1e-8, std, torch.ones_like(std))  # a constant input stays constant


def _fold_of_runs(runs: pd.DataFrame, folds: int, seed: int) -> dict[str, int]:
    """Runs (columns run_id, scale) -> fold; shuffled within each scale so every fold has every scale."""
    rng = np.random.default_rng(seed)
    out: dict[str, int] = {}
    for _, group in runs.groupby("scale", sort=True):
        for i, run in enumerate(rng.permutation(group["run_id"].to_numpy())):
            out[run] = i % folds
    return out


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    ss = float(((y - y.mean()) ** 2).sum())
    return 1 - float(((y - pred) ** 2).sum()) / ss if ss > 0 else float("nan")


class Surrogate:
    """Per-domain losses of a mixture at a model size and token count, learnt from a :class:`RunTable`.

    Attributes:
        mixture_domains, eval_domains: the `d` inputs and `e` outputs, in the table's order.
        scale_params: scale label -> parameters. checkpoints: scale -> recorded step -> tokens.
        tokens_per_step: scale -> tokens per optimiser step. params_range, tokens_range: (min, max) fitted on.
        extrapolate: whether predictions outside those ranges are allowed. seed, hparams: how it was fitted.
        validation: held-out R², columns ``scale, params, domain, r2, runs`` (domain ``"mean"``: R² of the
            mean-over-domains loss).
    """

    def __init__(self, net: _Ensemble, norm: dict[str, Tensor], meta: dict) -> None:
        self.net, self.norm = net.eval(), norm
        self.mixture_domains: tuple[str, ...] = tuple(meta["mixture_domains"])
        self.eval_domains: tuple[str, ...] = tuple(meta["eval_domains"])
        self.scale_params: dict[str, float] = dict(meta["scale_params"])
        self.checkpoints: dict[str, dict[int, float]] = {s: dict(c) for s, c in meta["checkpoints"].items()}
        self.tokens_per_step: dict[str, float] = dict(meta["tokens_per_step"])
        self.params_range: tuple[float, float] = tuple(meta["params_range"])
        self.tokens_range: tuple[float, float] = tuple(meta["tokens_range"])
        self.extrapolate: bool = meta["extrapolate"]
        self.seed: int = meta["seed"]
        self.hparams: dict = dict(meta["hparams"])
        self.table_name: str = meta["table_name"]
        self.validation = pd.DataFrame.from_records(meta["validation"],
                                                    columns=["scale", "params", "domain", "r2", "runs"])
        self._meta = meta

    @classmethod
    def fit(cls, table: RunTable, seed: int = 0, folds: int = 5, extrapolate: bool = False, hidden: int = 32,
            ensemble: int = 3, epochs: int = 800, lr: float = 3e-2, weight_decay: float = 1e-4) -> "Surrogate":
        """Score by K-fold over runs (``folds=0``: no scoring), then fit on every row of ``table.wide()``.

        Args: ``hidden`` units in each of 2 layers; ``ensemble`` members averaged; ``epochs`` full-batch
        AdamW steps at ``lr`` (cosine decay to 0) with ``weight_decay``; ``extrapolate`` lets :meth:`predict`
        leave the fitted ranges of params and tokens. Defaults tuned on RegMix and Data Mixing Laws 5Mix.
        The `folds` held-out fits and the final fit are trained together as one batch of
        ``(folds + 1) * ensemble`` models; each model's loss and standardisation see only its own rows,
        so a held-out run never reaches the model that predicts it.
        """
        if folds == 1 or folds < 0:
            raise ValueError(f"folds must be 0 (no validation) or at least 2, not {folds}")
        wide = table.wide()
        x = np.column_stack([wide[table.weight_columns].to_numpy(float),
                             np.log(wide["params"].to_numpy(float)), np.log(wide["tokens"].to_numpy(float))])
        y = wide[table.loss_columns].to_numpy(float)
        fold = wide["run_id"].map(_fold_of_runs(wide[["run_id", "scale"]].drop_duplicates(), max(folds, 1), seed))
        fold = fold.to_numpy() if folds else np.full(len(wide), -1)
        # model m = f * ensemble + k: fold f (f == folds: all rows), member k
        trains = np.array([fold != f for f in range(folds + 1)]).repeat(ensemble, axis=0)
        mask = torch.as_tensor(trains, dtype=torch.float32)
        xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
        (xm, xs), (ym, ys) = _moments(xt, mask), _moments(yt, mask)
        # one pooled scale for all weights: per-weight stds would blow a rarely used domain up so
        # that a larger weight of it (RegMix 1B: 0.25 where small runs had at most 0.06) extrapolates wildly
        d = len(table.mixture_domains)
        xs = torch.cat([xs[..., :d].pow(2).mean(-1, keepdim=True).sqrt().expand(-1, -1, d), xs[..., d:]], -1)
        xn, yn = (xt - xm) / xs, (yt - ym) / ys

        # a private generator: deterministic for a seed, and the caller's global RNG is left alone
        net = _Ensemble(len(mask), x.shape[1], y.shape[1], hidden, torch.Generator().manual_seed(seed))
        opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.5 * (1 + math.cos(math.pi * t / epochs)))
        rows = mask.sum(1)
        for _ in range(epochs):  # full batch: the tables are small
            opt.zero_grad()
            # per-model mean squared error, summed over models: each model's gradient is its own
            loss = ((((net(xn) - yn) ** 2).mean(-1) * mask).sum(1) / rows).sum()
            loss.backward()
            opt.step()
            sched.step()

        with torch.no_grad():
            pred = (net(xn) * ys + ym).reshape(folds + 1, ensemble, len(x), -1).mean(1).double().numpy()
        records = []
        if folds:
            oof = pred[fold, np.arange(len(x))]  # each row from the fold that held it out
            for scale in table.scales():
                at = (wide["scale"] == scale).to_numpy()
                runs, params = int(wide.loc[at, "run_id"].nunique()), table.params(scale)
                for j, domain in enumerate([*table.eval_domains, "mean"]):
                    yy, pp = (y[at, j], oof[at, j]) if domain != "mean" else (y[at].mean(1), oof[at].mean(1))
                    records.append({"scale": scale, "params": params, "domain": domain, "r2": _r2(yy, pp),
                                    "runs": runs})

        final = slice(folds * ensemble, None)
        keep = _Ensemble(ensemble, x.shape[1], y.shape[1], hidden)
        keep.load_state_dict({k: v[final].detach().clone() for k, v in net.state_dict().items()})
        norm = {k: v[final].clone() for k, v in {"x_mean": xm, "x_std": xs, "y_mean": ym, "y_std": ys}.items()}
        steps = wide.drop_duplicates(["scale", "step"])
        positive = steps[steps["step"] > 0]
        meta = {
            "format": FORMAT, "table_name": table.name, "seed": seed, "extrapolate": extrapolate,
            "mixture_domains": list(table.mixture_domains), "eval_domains": list(table.eval_domains),
            "scale_params": {s: table.params(s) for s in table.scales()},
            "checkpoints": {s: {int(r.step): float(r.tokens) for r in g.itertuples()}
                            for s, g in steps.groupby("scale")},
            "tokens_per_step": {s: float((g["tokens"] / g["step"]).median()) for s, g in positive.groupby("scale")},
            "params_range": (float(wide["params"].min()), float(wide["params"].max())),
            "tokens_range": (float(wide["tokens"].min()), float(wide["tokens"].max())),
            "hparams": {"folds": folds, "hidden": hidden, "ensemble": ensemble, "epochs": epochs, "lr": lr,
                        "weight_decay": weight_decay},
            "validation": records,
        }
        return cls(keep, norm, meta)

    def predict(self, mixtures: np.ndarray, params: float, tokens: float | np.ndarray) -> np.ndarray:
        """Losses of `n x d` mixtures (or one `d` mixture) at ``params`` after ``tokens`` (scalar or `n`): `n x e`."""
        w, tokens = np.atleast_2d(np.asarray(mixtures, dtype=float)), np.atleast_1d(np.asarray(tokens, dtype=float))
        if w.ndim != 2 or w.shape[1] != len(self.mixture_domains):
            raise ValueError(f"mixtures need {len(self.mixture_domains)} columns ({', '.join(self.mixture_domains)}), "
                             f"got shape {np.shape(mixtures)}")
        n = max(len(w), len(tokens))  # one mixture at many token counts, or many mixtures at one
        if tokens.ndim != 1 or {len(w), len(tokens)} - {1, n}:
            raise ValueError(f"tokens of shape {tokens.shape} do not match {len(w)} mixtures")
        w, tokens = np.broadcast_to(w, (n, w.shape[1])), np.broadcast_to(tokens, (n,))
        for name, values, (lo, hi) in (("params", np.array([params], float), self.params_range),
                                        ("tokens", tokens, self.tokens_range)):
            # a small slack: recorded values pass after float round trips
            out = (values < lo * (1 - 1e-9)) | (values > hi * (1 + 1e-9)) | ~np.isfinite(values) | (values <= 0)
            if out.any() and not (self.extrapolate and np.isfinite(values).all() and (values > 0).all()):
                raise SurrogateRangeError(f"{name} {values[out][0]:.6g} is outside the range the surrogate was fitted "
                                          f"on, [{lo:.6g}, {hi:.6g}] (table {self.table_name}); "
                                          f"fit with extrapolate=True to allow it")
        x = np.column_stack([w, np.full(len(w), math.log(params)), np.log(tokens)])
        with torch.no_grad():
            xn = (torch.as_tensor(x, dtype=torch.float32) - self.norm["x_mean"]) / self.norm["x_std"]
            y = self.net(xn) * self.norm["y_std"] + self.norm["y_mean"]
        return y.mean(0).double().numpy()

    def predict_scale(self, mixtures: np.ndarray, scale: str, step: int) -> np.ndarray:
        """:meth:`predict` at a recorded scale label and optimiser step: `n x e`."""
        if scale not in self.scale_params:
            raise ValueError(f"no scale {scale!r} in the surrogate; scales are {list(self.scale_params)}")
        tokens = self.checkpoints[scale].get(int(step))
        if tokens is None:
            if scale not in self.tokens_per_step:
                raise ValueError(f"scale {scale!r} has no checkpoint with a positive step to convert step {step}")
            tokens = self.tokens_per_step[scale] * step
        return self.predict(mixtures, self.scale_params[scale], tokens)

    def r2_by_scale(self) -> dict[str, float]:
        """Held-out R² per scale, the mean over evaluation domains (the ``"mean"`` rows excluded)."""
        per = self.validation[self.validation["domain"] != "mean"]
        return {s: float(per.loc[per["scale"] == s, "r2"].mean()) for s in dict.fromkeys(per["scale"])}

    def summary(self) -> str:
        if self.validation.empty:
            return f"surrogate of {self.table_name}: not validated (folds=0)"
        lines = [f"surrogate of {self.table_name}: held-out R² over {self.hparams['folds']} folds by run"]
        v = self.validation
        for scale, r2 in self.r2_by_scale().items():
            at = v[v["scale"] == scale]
            worst, mean = at[at["domain"] != "mean"].sort_values("r2").iloc[0], at[at["domain"] == "mean"].iloc[0]
            lines.append(f"  {scale:>6} ({mean['runs']} runs): mean over domains {r2:.3f}, "
                         f"worst {worst['r2']:.3f} ({worst['domain']}), of the mean loss {mean['r2']:.3f}")
        return "\n".join(lines)

    def save(self, path: str | Path) -> None:
        """One torch file of tensors and plain metadata; :meth:`load` reads it with ``weights_only=True``."""

        with atomic_open(Path(path), "wb") as f:
            torch.save({"state": self.net.state_dict(), "norm": self.norm, "meta": self._meta}, f)

    @classmethod
    def load(cls, path: str | Path) -> "Surrogate":
        obj = torch.load(Path(path), weights_only=True)
        meta = obj["meta"]
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: surrogate file format {meta.get('format')!r}, expected {FORMAT}")
        h, state = meta["hparams"], obj["state"]
        net = _Ensemble(h["ensemble"], len(meta["mixture_domains"]) + 2, len(meta["eval_domains"]), h["hidden"])
        net.load_state_dict(state)
        return cls(net, obj["norm"], meta)
