"""A byte-level BPE tokenizer shared by all domains.

Byte-level BPE never meets an unknown character and decodes back to exactly
the input text, so loss is comparable across domains whatever their script
or formatting. The tokenizer is fitted on the training split only (validation
text must stay unseen) and on an equal byte budget from each domain, so the
vocabulary is not shaped by whichever domain happens to be largest.
"""

from __future__ import annotations

import os

# Nothing in mixopt may reach the network at run time; set before the imports.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from collections.abc import Iterator, Mapping  # noqa: E402
from pathlib import Path  # noqa: E402

from typing import TYPE_CHECKING  # noqa: E402

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: E402

from mixopt.core.atomic import atomic_dir, write_json  # noqa: E402
from mixopt.data.documents import Document, domain_documents  # noqa: E402
from mixopt.core.errors import DataError  # noqa: E402
from mixopt.data.sample import sample_plan  # noqa: E402
from mixopt.data.split import assign_splits  # noqa: E402
from mixopt.settings import TokenizerSettings  # noqa: E402

if TYPE_CHECKING:  # transformers takes seconds and ~200 MB to import; the tokenize job needs none of it
    from transformers import PreTrainedTokenizerFast

__all__ = ["EOS_TOKEN", "TRAINING_STATS_FILE", "load_encoder", "load_tokenizer", "prepare_tokenizer", "train_tokenizer"]

EOS_TOKEN = "<|endoftext|>"
#: Written next to the tokenizer files: what the tokenizer was fitted on.
TRAINING_STATS_FILE = "mixopt_training.json"

# 256 byte symbols + the EOS token: anything smaller cannot even hold the alphabet.
_MIN_VOCAB = 257 + 1


def _training_texts(
    domain: str,
    paths: list[Path],
    budget: int,
    fraction: float,
    seed: int,
    text_field: str,
    stats: dict,
    max_bytes: int | None = None,
) -> Iterator[str]:
    """Yield a seeded random sample of one domain's training-split text, ``budget`` UTF-8 bytes
    (all of it when the split is smaller), in corpus order.

    Not a prefix: sorted sources would give the tokenizer only their first letters or years. The
    documents are drawn as in :func:`~mixopt.data.sample.sample_plan`, and the one that crosses the
    budget is cut (at a character boundary), so every domain contributes the same number of bytes
    when it can, and a domain of a few long documents still contributes.
    """

    def training_documents() -> Iterator[Document]:
        # the documents the shards are made of: the same sample when the domain has max_bytes
        pairs = assign_splits(domain, domain_documents(paths, text_field, max_bytes, seed, domain), fraction, seed)
        return (doc for doc, is_val in pairs if not is_val)

    sizes = (len(doc.text.encode("utf-8")) for doc in training_documents())
    chosen, crossing, total = sample_plan(sizes, budget, seed, f"tokenizer:{domain}")
    room = budget - total
    used = documents = 0
    for index, doc in enumerate(training_documents()):
        if index in chosen:
            text = doc.text
        elif index == crossing and room > 0:
            text = doc.text.encode("utf-8")[:room].decode("utf-8", errors="ignore")
        else:
            continue
        if text:
            used += len(text.encode("utf-8"))
            documents += 1
            yield text
    stats[domain] = {"documents": documents, "bytes": used}


def train_tokenizer(domain_paths: dict[str, list[Path]], vocab_size: int, out_dir: Path, bytes_per_domain: int,
                    validation_fraction: float, seed: int, text_field: str | Mapping[str, str] = "text",
                    max_bytes: Mapping[str, int | None] | None = None) -> PreTrainedTokenizerFast:
    """Fit a byte-level BPE tokenizer on the training split of every domain.

    Args:
        domain_paths: Domain name -> its corpus files (see
            :func:`~mixopt.data.documents.resolve_paths`). Domains are read in
            sorted name order, documents in file order.
        vocab_size: Target vocabulary size, EOS and the 256 byte symbols
            included. The result can be smaller when the text has too few
            repeated pairs to merge.
        out_dir: Directory to write (replaced atomically if it exists).
        bytes_per_domain: UTF-8 bytes of training text taken from each domain.
        validation_fraction: Share of documents held out; these are never seen
            (same split as :func:`~mixopt.data.shards.tokenize_domain`).
        seed: Split seed.
        text_field: JSON key / parquet column holding text: one for all
            domains, or a mapping domain -> field (domains not in it use
            ``"text"``).
        max_bytes: domain -> its sample's byte budget (``domains.<d>.max_bytes``), so the
            tokenizer is trained on the documents the shards will hold.

    Returns:
        The saved tokenizer, reloaded from ``out_dir``. ``decode(encode(x))``
        reproduces ``x`` exactly; no special token is added when encoding.

    Raises:
        DataError: no domains, too small a vocabulary or budget, or an
            unreadable corpus (see :func:`~mixopt.data.documents.iter_documents`).
    """
    fields = _text_fields(domain_paths, vocab_size, bytes_per_domain, text_field)
    tokenizer = Tokenizer(models.BPE())
    # No prefix space: it would make decode(encode(x)) differ from x.
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=[EOS_TOKEN],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    stats: dict[str, dict] = {}

    def texts() -> Iterator[str]:
        for domain in sorted(domain_paths):
            yield from _training_texts(
                domain,
                [Path(p) for p in domain_paths[domain]],
                bytes_per_domain,
                validation_fraction,
                seed,
                fields[domain],
                stats,
                (max_bytes or {}).get(domain),
            )

    tokenizer.train_from_iterator(texts(), trainer=trainer)

    from transformers import PreTrainedTokenizerFast

    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token=EOS_TOKEN,
        clean_up_tokenization_spaces=False,
    )
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        wrapped.save_pretrained(tmp)
        write_json(
            {
                "vocab_size": len(wrapped),
                "requested_vocab_size": vocab_size,
                "bytes_per_domain": bytes_per_domain,
                "validation_fraction": validation_fraction,
                "seed": seed,
                "domains": {d: {**stats[d], "text_field": fields[d]} for d in sorted(stats)},
            },
            tmp / TRAINING_STATS_FILE,
        )
    return load_tokenizer(out_dir)


def _text_fields(domain_paths: Mapping[str, list[Path]], vocab_size: int, bytes_per_domain: int,
                 text_field: str | Mapping[str, str]) -> dict[str, str]:
    """Domain -> its text field, once :func:`train_tokenizer`'s arguments are checked (DataError)."""
    if not domain_paths:
        raise DataError("train_tokenizer: no domains given")
    if vocab_size < _MIN_VOCAB:
        raise DataError(f"vocab_size must be at least {_MIN_VOCAB}, got {vocab_size}")
    if bytes_per_domain <= 0:
        raise DataError(f"bytes_per_domain must be positive, got {bytes_per_domain}")
    if isinstance(text_field, str):
        return {d: text_field for d in domain_paths}
    unknown = sorted(set(text_field) - set(domain_paths))
    if unknown:
        raise DataError(f"text_field names unknown domain(s) {unknown}")
    return {d: text_field.get(d, "text") for d in domain_paths}


def load_tokenizer(path: Path) -> PreTrainedTokenizerFast:
    """Load a tokenizer directory written by :func:`train_tokenizer`, offline.

    Raises:
        DataError: ``path`` is not a tokenizer directory, cannot be loaded, or
            the tokenizer has no EOS token.
    """
    from transformers import AutoTokenizer

    path = Path(path)
    if not (path / "tokenizer.json").is_file():
        raise DataError(f"{path}: not a tokenizer directory (no tokenizer.json)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{path}: cannot load tokenizer ({exc})") from None
    if tokenizer.eos_token is None or tokenizer.eos_token_id is None:
        raise DataError(f"{path}: tokenizer has no EOS token")
    return tokenizer


def load_encoder(path: Path) -> tuple[Tokenizer, int]:
    """The Rust tokenizer of a directory :func:`load_tokenizer` accepts, and its EOS id, read
    without transformers (which costs seconds and a few hundred MB to import, and which the
    tokenize job needs for nothing else).

    Raises:
        DataError: no ``tokenizer.json``, or no EOS token in ``tokenizer_config.json`` or
            ``special_tokens_map.json`` that the vocabulary holds.
    """
    import json

    path = Path(path)
    if not (path / "tokenizer.json").is_file():
        raise DataError(f"{path}: not a tokenizer directory (no tokenizer.json)")
    try:
        encoder = Tokenizer.from_file(str(path / "tokenizer.json"))
    except Exception as exc:  # the Rust side raises a bare Exception
        raise DataError(f"{path}: cannot load tokenizer ({exc})") from None
    eos = None
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        config = path / name
        if eos is None and config.is_file():
            eos = json.loads(config.read_text(encoding="utf-8")).get("eos_token")
    if isinstance(eos, dict):  # an AddedToken written out
        eos = eos.get("content")
    eos_id = encoder.token_to_id(eos) if isinstance(eos, str) else None
    if eos_id is None:
        raise DataError(f"{path}: tokenizer has no EOS token")
    return encoder, int(eos_id)


def prepare_tokenizer(settings: TokenizerSettings, domain_paths: dict[str, list[Path]], text_fields: Mapping[str, str],
                      out_dir: Path, validation_fraction: float, seed: int,
                      max_bytes: Mapping[str, int | None] | None = None) -> PreTrainedTokenizerFast:
    """The run's tokenizer in ``out_dir``: a copy of ``settings.path`` when one is given, else a
    byte-level BPE trained on the domains' training documents (:func:`train_tokenizer`)."""
    if settings.path is not None:
        tokenizer = load_tokenizer(Path(settings.path))
        tokenizer.save_pretrained(out_dir)
        print(f"copied tokenizer from {settings.path} (vocab {len(tokenizer)})")
        return tokenizer
    tokenizer = train_tokenizer(domain_paths, vocab_size=settings.vocab_size, out_dir=out_dir,
                                bytes_per_domain=settings.train_bytes_per_domain,
                                validation_fraction=validation_fraction, seed=seed, text_field=dict(text_fields),
                                max_bytes=max_bytes)
    print(f"trained tokenizer, vocab {len(tokenizer)}")
    return tokenizer
