"""The ``encoder=rnn01|rnn02`` option: settings validated up front, then load or train.

:class:`CharRNNSpec` is what the option instantiates (its fields are the option's keys);
``spec.load(data, cache_dir=...)`` trains on the database side or loads the tutorial's files, and
returns a :class:`CharRNNEncoder`.

Training budget: at most ``max_train`` names (default :data:`MAX_TRAIN`, a seeded sample; null:
all), so a database scaled up to the whole names package (~714k) trains on 50k names in a
minute or two rather than for an hour, while encoding still covers every name. When the cap
applies, a log line says so and the encoder's ``training`` dict carries ``n_train`` and
``max_train_applied`` (1), which become ``encoder_fit_*`` columns.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from lookup.data.vocab import CharVectorizer
from lookup.encoders.char_rnn.encoder import CharRNNEncoder, load_pretrained
from lookup.encoders.char_rnn.model import POOLINGS, TASKS, check_state, load_state
from lookup.encoders.char_rnn.train import TrainConfig, train_cached
from lookup.encoders.device import check_device, resolve_device
from lookup.errors import BadInput
from lookup.params import check_range
from lookup.protocols import EncoderData

log = logging.getLogger(__name__)

MAX_TRAIN = 50_000  # default training budget in names (the default names data has 30,078)


@dataclass(frozen=True)
class CharRNNSpec(TrainConfig):
    """rnn01 (``task="classify"``) or rnn02 (``task="predict"``): the training hyperparameters
    are :class:`TrainConfig`'s fields (inherited, declared once), plus how the vectors are read
    (``pooling``), the tutorial's files to load instead of training (``weights``, ``vocab``),
    the training budget and the device; see :func:`load_or_train`."""

    pooling: str = "last"
    weights: str | None = None
    vocab: str | None = None
    max_train: int | None = MAX_TRAIN
    device: str = "cpu"

    def train_config(self) -> TrainConfig:
        """The hyperparameters training uses (and hashes into its cache key)."""
        return TrainConfig(**{f.name: getattr(self, f.name) for f in fields(TrainConfig)})

    def __post_init__(self) -> None:
        check_range("encoder", "task", self.task, choices=TASKS)
        check_range("encoder", "pooling", self.pooling, choices=POOLINGS)
        for key in ("embedding_size", "hidden_size", "epochs", "batch_size"):
            check_range("encoder", key, getattr(self, key), minimum=1)
        check_range("encoder", "lr", self.lr, minimum=0.0)
        if not self.lr > 0:
            raise BadInput(f"encoder.lr={self.lr!r} is invalid; valid: a number > 0")
        if self.max_train is not None:
            check_range("encoder", "max_train", self.max_train, minimum=1)
        check_range("encoder", "seed", self.seed, minimum=0)
        check_device(self.device)
        if (self.weights is None) != (self.vocab is None):
            given, missing = ("weights", "vocab") if self.vocab is None else ("vocab", "weights")
            raise BadInput(
                f"encoder.{given} is set without encoder.{missing}; valid: both (the tutorial's "
                "files) or neither (train here)"
            )
        if self.weights is not None:  # the files are small: check them before any data is read
            try:
                vec = CharVectorizer.load(self.vocab)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                reason = " ".join(str(exc).split()) or type(exc).__name__
                raise BadInput(
                    f"encoder.vocab={self.vocab} is invalid ({reason}); valid: the tutorial's "
                    "vocab JSON (surname_vocab, nationality_vocab, max_seq_length)"
                ) from None
            state = load_state(self.weights)
            check_state(state, vec, self.task, self.embedding_size, self.hidden_size)

    def load(self, data: EncoderData, *, cache_dir: str) -> CharRNNEncoder:
        """Train on ``data.texts`` (sampled to ``max_train``) or load the given files."""
        texts, labels = list(data.texts), data.labels
        capped = self.weights is None and self.max_train is not None
        capped = capped and len(texts) > self.max_train
        if capped:
            log.info(
                "training budget: %s (task=%s) trains on a seeded sample of %d of %d names "
                "(encoder.max_train=%d; null trains on all of them)",
                "rnn01" if self.task == "classify" else "rnn02",
                self.task,
                self.max_train,
                len(texts),
                self.max_train,
            )
            rng = np.random.default_rng(self.seed)
            rows = np.sort(rng.choice(len(texts), self.max_train, replace=False))
            texts = [texts[i] for i in rows]
            labels = None if labels is None else np.asarray(labels)[rows]
        encoder = load_or_train(
            self,
            cache_dir=cache_dir,
            train_texts=texts,
            train_labels=None if labels is None else list(labels),
            heldout_texts=list(data.heldout_texts),
            heldout_labels=None if data.heldout_labels is None else list(data.heldout_labels),
        )
        if self.weights is None:
            encoder.training = {
                **encoder.training,
                "n_train": len(texts),
                "max_train_applied": int(capped),
            }
        return encoder


def load_or_train(
    spec: CharRNNSpec,
    *,
    cache_dir: str = ".cache/lookup",
    train_texts: Sequence[str] | None = None,
    train_labels: Sequence[str] | None = None,
    heldout_texts: Sequence[str] | None = None,
    heldout_labels: Sequence[str] | None = None,
) -> CharRNNEncoder:
    """rnn01 (``task="classify"``) or rnn02 (``task="predict"``) as an encoder.

    With ``spec.weights`` (and ``vocab``) the tutorial's files are loaded as they are. Without,
    the model is trained on ``train_texts``/``train_labels`` (seeded, cached under
    ``<cache_dir>/char_rnn/<key>/model.state`` + ``vocab.json``; the key hashes the data and
    ``spec.train_config()``) and the held-out metric is logged.
    """
    if spec.weights is not None:
        return load_pretrained(
            spec.weights,
            spec.vocab,
            task=spec.task,
            pooling=spec.pooling,
            embedding_size=spec.embedding_size,
            hidden_size=spec.hidden_size,
            device=spec.device,
        )
    model, vec, metrics = train_cached(
        spec.train_config(),
        train_texts,
        train_labels,
        heldout_texts,
        heldout_labels,
        cache_dir=cache_dir,
        device=resolve_device(spec.device),
    )
    return CharRNNEncoder(model, vec, task=spec.task, pooling=spec.pooling, training=metrics)
