"""The ``train`` back end: every trial is a real proxy run on the tokenized domains, trained in
processes of its own (:mod:`mixopt.training.launch`: one, or torchrun's k for ``gpus: k``).

The problem it answers for comes from the settings alone: the domains, each scale's parameter
count (by formula, :func:`~mixopt.training.resources.proxy_params`, so a light job such as
``propose`` never imports transformers) and its FLOPs per step (6 N D).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from mixopt.core.atomic import write_json
from mixopt.core.errors import ConfigError, DataError
from mixopt.core.flops import training_flops
from mixopt.core.problem import Fidelity, Problem
from mixopt.core.trial import Trial
from mixopt.corpora.builtin import BUILTIN_DOMAINS, missing_sources
from mixopt.data.documents import resolve_paths
from mixopt.data.preflight import check_domain_text
from mixopt.settings import Settings
from mixopt.training.launch import run_trial_processes
from mixopt.training.metrics import failed_metrics
from mixopt.training.resources import proxy_params
from mixopt.training.spec import TrainSpec

#: The resume checkpoint of a trial sits next to its metrics.json. It is no declared output, so
#: Snakemake keeps it when a killed job's outputs are cleaned up, and the rerun resumes from it.
RESUME_FILE = "resume.pt"
#: A trained model kept for a later trial (DoReMi's reference run), beside its metrics.json.
MODEL_FILE = "model.pt"


def problem_from_settings(settings: Settings) -> Problem:
    """The problem of a training config: its domains, scales and target."""
    domains = tuple(settings.domains)
    weights = settings.objective.weights_for(domains)
    vocab = settings.tokenizer.vocab_size
    params = {name: proxy_params(shape, vocab) for name, shape in settings.scales.items()}
    tokens = int(settings.target.tokens or 0)
    return Problem(
        domains=domains,
        objective_weights=np.array([weights[d] for d in domains], dtype=float),
        target=Fidelity(settings.target.scale, settings.target_steps),
        full_steps={name: tokens // shape.tokens_per_step for name, shape in settings.scales.items()},
        step_flops={name: training_flops(params[name], shape.tokens_per_step) for name, shape in settings.scales.items()},
        params={name: float(n) for name, n in params.items()},
        target_tokens=tokens,
        objective_kind=settings.objective.kind,
        objective_reference=(None if settings.objective.kind != "worst_excess"
                             else np.array(settings.objective.reference_for(domains))),
    )


def run_options(run: Mapping | None, out_path: Path) -> dict:
    """A trial's ``run`` (:class:`~mixopt.core.trial.Trial`) as the spec's ``weighting`` and
    ``save_model``: a saved model sits beside its metrics.json (``results/iter_i/trial_j/model.pt``),
    and a DoReMi run's reference ``{iteration, trial}`` names the trial whose model it loads."""
    if not run:
        return {}
    unknown = sorted(set(run) - {"save_model", "weighting"})
    if unknown:
        raise ValueError(f"unknown run option(s) {unknown}; known: save_model, weighting")
    options: dict = {}
    if run.get("save_model"):
        options["save_model"] = str(out_path.with_name(MODEL_FILE))
    weighting = run.get("weighting")
    if weighting is not None:
        weighting = dict(weighting)
        reference = weighting.pop("reference", None)
        if reference is not None:
            results = out_path.parents[2]
            weighting["reference_model"] = str(
                results / f"iter_{int(reference['iteration'])}" / f"trial_{int(reference['trial'])}" / MODEL_FILE)
        options["weighting"] = weighting
    return options


class TrainingBackend:
    """Trains a proxy per trial.

    Args:
        settings: the config (scales, training, domains, target, objective).
        shard_dirs: domain -> its token shards (``train.bin``, ``val.bin``, ``meta.json``); needed
            only to run trials.
    """

    name = "train"

    def __init__(self, settings: Settings, shard_dirs: Mapping[str, Path] | None = None) -> None:
        self.settings = settings
        self.shard_dirs = dict(shard_dirs or {})
        self.problem = problem_from_settings(settings)

    @classmethod
    def from_settings(cls, settings: Settings, base_dir: str | Path = ".",
                      shard_dirs: Mapping[str, Path] | None = None) -> "TrainingBackend":
        return cls(settings, shard_dirs)

    def mixtures_at(self, fidelity: Fidelity) -> None:
        """Any mixture can be trained."""
        return None

    def run(self, trial: Trial, out_path: str | Path | None = None, log: Callable[[str], None] = print) -> dict:
        """Train ``trial`` in processes of its own (``scales.<s>.gpus`` of them) and write its
        metrics.json (required: the resume file sits beside it).

        A trial that cannot be a run (a scale the config lacks, a bad spec) is written as failed,
        and so is one whose training dies without a record (out of memory:
        :mod:`mixopt.training.launch`).

        Raises:
            TrainingInterrupted: the training was stopped (a preemption, Ctrl-C): nothing written.
        """
        if out_path is None:
            raise ValueError("a training trial needs the path of its metrics.json")
        out_path = Path(out_path)
        scale, scales = trial.fidelity.scale, self.settings.scales
        try:
            if scale not in scales:
                raise ValueError(f"proposal asks for scale {scale!r}, which is not in config scales {sorted(scales)}")
            spec = TrainSpec.from_settings(mixture=self.problem.mixture_dict(trial.mixture), scale=scale,
                                           shape=scales[scale], steps=int(trial.fidelity.steps),
                                           seed=int(trial.seed), training=self.settings.training,
                                           **run_options(trial.run, out_path))
        except ValueError as e:
            record = trial.ids() | failed_metrics(f"{type(e).__name__}: {e}")
            log(f"trial not run: {record['error']}")
            write_json(record, out_path)
            return record
        return run_trial_processes(spec, self.shard_dirs, out_path, extra=trial.ids(), log=log,
                                   resume=out_path.with_name(RESUME_FILE),
                                   resume_every=self.settings.training.resume_every)

    def preflight(self, base_dir: str | Path = ".", deep: bool = False) -> None:
        """The tokenizer directory and every domain's sources or files exist, and the files'
        first documents (``deep``: all of them) read as text (ConfigError naming the key otherwise)."""
        base_dir = Path(base_dir)
        path = self.settings.tokenizer.path
        if path is not None and not (base_dir / path).is_dir():
            raise ConfigError(f"config key 'tokenizer.path': {path!r} is not a directory")
        sources = base_dir / self.settings.corpora.sources
        for name, spec in self.settings.domains.items():
            if spec.builtin is not None:
                if spec.builtin not in BUILTIN_DOMAINS:
                    raise ConfigError(f"config key 'domains.{name}.builtin': unknown built-in domain "
                                      f"{spec.builtin!r}; choose from {sorted(BUILTIN_DOMAINS)}")
                missing = missing_sources(spec.builtin, sources)
                if missing:
                    raise ConfigError(
                        f"config key 'domains.{name}.builtin': sources of {spec.builtin!r} not found "
                        f"({', '.join(map(str, missing))}); run the README set-up "
                        f"(mixopt-fetch-corpora --dest {sources})")
            else:
                try:
                    files = resolve_paths(list(spec.paths or ()), base_dir)
                except DataError as e:
                    raise ConfigError(f"config key 'domains.{name}.paths': {e}") from None
                self._check_text(name, files, deep)

    def _check_text(self, name: str, files: list[Path], deep: bool = False) -> None:
        """The domain's files are readable, decodable and hold enough text (ConfigError naming the
        key and the file otherwise); replaced characters, where allowed, are reported."""
        settings, spec = self.settings, self.settings.domains[name]
        val_tokens = max(settings.training.eval_tokens, *(s.context + 1 for s in settings.scales.values()))
        try:
            sample = check_domain_text(f"domains.{name}", files, spec.text_field, spec.errors,
                                       spec.max_replaced_fraction, val_tokens, settings.data.validation_fraction,
                                       deep=deep)
        except DataError as e:
            raise ConfigError(str(e)) from None
        if sample.replaced:
            print(f"mixopt: domain {name!r}: {sample.replaced} of {sample.characters:,} characters read were not "
                  f"UTF-8 and are replaced (domains.{name}.errors: replace)", file=sys.stderr)
