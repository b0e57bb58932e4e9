"""encoder=shared on tiny fakes (word vectors and a base encoder made here): milliseconds."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pytest

from lookup.encoders.shared import (
    SharedSpec,
    fit_ridge,
    fit_shared,
    route_to_map,
)
from lookup.encoders.word_vectors import WordVectors
from lookup.index.exact import exact_knn
from lookup.probe import token_sets, word_share_at_k
from lookup.text import content_words, tokenize

SUBJECTS = ["dog", "cat", "man", "horse", "bird", "girl"]
PLACES = ["beach", "grass", "street", "snow", "field", "room"]
D_WORDS, D_BASE = 8, 12


def fake_word_vectors(words: Sequence[str], seed: int = 0) -> WordVectors:
    """Unit random vectors, one per word."""
    v = np.random.default_rng(seed).normal(size=(len(words), D_WORDS)).astype(np.float32)
    return WordVectors(tuple(words), v / np.linalg.norm(v, axis=1, keepdims=True), "fake")


def orthonormal_rows(seed: int = 1) -> np.ndarray:
    """(D_WORDS, D_BASE) with orthonormal rows: x -> x A keeps lengths."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(D_BASE, D_WORDS)))
    return q.T.astype(np.float32)


class FakeBase:
    """A 'sentence encoder' that is linear in the mean word vector of a text's content words,
    except that it fails on one-word texts: those get a vector seeded by the text's hash."""

    def __init__(self, wv: WordVectors, A: np.ndarray) -> None:
        self.wv, self.A = wv, A
        self.dim = A.shape[1]
        self.fingerprint = "fake-base"
        self.training = {"dev_accuracy": 0.5, "note": "not a number"}
        self.roles: list[str] = []  # the role of every encode call, in order

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 256, role: str = "document"
    ) -> np.ndarray:
        self.roles.append(role)
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            toks = tokenize(t, lower=True)
            words = [w for w in content_words(toks) if w in self.wv.index]
            if len(toks) <= 1:
                seed = int(hashlib.sha256(t.encode()).hexdigest()[:8], 16)
                out[i] = np.random.default_rng(seed).normal(size=self.dim)
            elif words:
                out[i] = np.mean([self.wv.vectors[self.wv.index[w]] for w in words], 0) @ self.A
        return out


def corpus() -> list[str]:
    return [f"a {s} on the {p}" for s in SUBJECTS for p in PLACES for _ in range(2)]


def test_fit_ridge_recovers_a_linear_map() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    W, b = rng.normal(size=(5, 7)), rng.normal(size=7)
    W_hat, b_hat = fit_ridge(X, X @ W + b, alpha=0.0)
    np.testing.assert_allclose(W_hat, W, atol=1e-4)
    np.testing.assert_allclose(b_hat, b, atol=1e-4)
    W_shrunk, _ = fit_ridge(X, X @ W + b, alpha=10.0)
    assert np.linalg.norm(W_shrunk) < np.linalg.norm(W)  # the penalty shrinks


@pytest.mark.parametrize("fit_on", ["keywords", "words"])
def test_map_on_a_synthetic_corpus_recovers_the_known_relation(tmp_path, fit_on: str) -> None:
    """Captions with one content word each: the base vector of a caption is g(w) A with
    orthonormal A and unit g(w), so every training pair satisfies y = x A exactly."""
    wv = fake_word_vectors(SUBJECTS + PLACES)
    A = orthonormal_rows()
    texts = [f"the {w}" for w in SUBJECTS + PLACES for _ in range(3)]
    settings = {"max_map_words": 2, "fit_on": fit_on, "fit_lengths": [1], "ridge": 0.0,
                "shrink": None, "seed": 0}  # fmt: skip
    enc = fit_shared(FakeBase(wv, A), wv, texts, settings, cache_dir=str(tmp_path))
    np.testing.assert_allclose(enc.map.W, A, atol=1e-4)
    np.testing.assert_allclose(enc.map.b, 0, atol=1e-4)
    assert enc.training["map_train_cosine"] == pytest.approx(1.0, abs=1e-5)
    assert enc.training["base_dev_accuracy"] == 0.5 and "base_note" not in enc.training
    assert all(isinstance(v, float) for v in enc.training.values())


def test_one_word_queries_find_the_word_more_often_than_the_base(tmp_path) -> None:
    wv = fake_word_vectors(SUBJECTS + PLACES)
    base = FakeBase(wv, orthonormal_rows())
    db = corpus()
    settings = {"max_map_words": 2, "fit_on": "keywords", "fit_lengths": [1, 2], "ridge": 0.01,
                "shrink": None, "seed": 0}  # fmt: skip
    shared = fit_shared(base, wv, db, settings, cache_dir=str(tmp_path))
    queries = SUBJECTS + PLACES
    toks = token_sets(db)
    k = 5

    def share(encoder) -> float:
        xb = shared.encode(db) if encoder is shared else encoder.encode(db)
        _, I = exact_knn(xb, encoder.encode(queries), k, "cosine")  # noqa: E741
        return float(word_share_at_k(I, toks, [[q] for q in queries], k).mean())

    np.testing.assert_array_equal(shared.encode(db), base.encode(db))  # one index for both
    assert share(shared) >= 0.8 > 0.5 > share(base)


def test_the_length_rule_is_deterministic() -> None:
    texts = ["dog", "a dog on the grass", "a brown dog on the grass", "Dog!", "", "a dog sits"]
    database = frozenset({"a dog sits"})
    expected = [True, True, False, True, True, False]
    assert route_to_map(texts, 2, database).tolist() == expected
    assert route_to_map(texts[::-1], 2, database).tolist() == expected[::-1]  # per text
    assert route_to_map(texts, 0, frozenset()).tolist() == [False] * 4 + [True, False]


def test_encoding_is_cached_and_short_queries_without_vectors_fall_back(tmp_path) -> None:
    wv = fake_word_vectors(SUBJECTS + PLACES)
    base = FakeBase(wv, orthonormal_rows())
    settings = {"max_map_words": 2, "fit_on": "both", "fit_lengths": [1], "ridge": 0.01,
                "shrink": 2.0, "seed": 0}  # fmt: skip
    a = fit_shared(base, wv, corpus(), settings, cache_dir=str(tmp_path))
    b = fit_shared(base, wv, corpus(), settings, cache_dir=str(tmp_path))
    assert a.fingerprint == b.fingerprint and a.training == b.training
    assert (tmp_path / "shared_map").is_dir()
    other = fit_shared(base, wv, corpus(), {**settings, "ridge": 0.1}, cache_dir=str(tmp_path))
    assert other.fingerprint != a.fingerprint
    x = a.encode(["dog", "zebra"])
    assert a.routes(["dog", "zebra"]).tolist() == [True, False]
    np.testing.assert_array_equal(x[1], base.encode(["zebra"])[0])
    assert x.dtype == np.float32 and x.shape == (2, D_BASE)


def test_the_role_reaches_the_base_encoder(tmp_path) -> None:
    """A query is encoded by the base as a query, even when it is also a database text (whose
    stored document vector would otherwise stand in)."""
    wv = fake_word_vectors(SUBJECTS + PLACES)
    base = FakeBase(wv, orthonormal_rows())
    settings = {"max_map_words": 0, "fit_on": "both", "fit_lengths": [1], "ridge": 0.01,
                "shrink": None, "seed": 0}  # fmt: skip
    db = corpus()
    shared = fit_shared(base, wv, db, settings, cache_dir=str(tmp_path))
    base.roles.clear()
    shared.encode(db[:3])  # database texts: the stored base vectors, no base call
    assert base.roles == []
    shared.encode(db[:3], role="query")
    assert base.roles == ["query"]
    with pytest.raises(TypeError, match="role='doc'"):
        shared.encode(db[:1], role="doc")


GLOVE = {"_target_": "lookup.encoders.glove_mean.GloveMeanSpec"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base": {}}, "encoder.base={} is invalid"),
        ({"base": GLOVE, "pairs": "sentences"}, "encoder.pairs='sentences' is invalid"),
        ({"base": GLOVE, "max_map_words": -1}, "encoder.max_map_words=-1 is invalid"),
        ({"base": GLOVE, "pair_lengths": []}, "encoder.pair_lengths=[] is invalid"),
        ({"base": {**GLOVE, "dim": 0}}, "encoder.base.dim=0 is invalid"),
    ],
)
def test_spec_rejects_bad_settings_in_one_line(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")) as e:
        SharedSpec(**kwargs)
    assert "\n" not in str(e.value)


def test_mix_blends_map_and_base_at_the_base_scale(tmp_path) -> None:
    wv = fake_word_vectors(SUBJECTS + PLACES)
    base = FakeBase(wv, orthonormal_rows())
    settings = {"max_map_words": 3, "fit_on": "keywords", "fit_lengths": [1], "ridge": 0.01,
                "shrink": 1.0, "seed": 0}  # fmt: skip
    alone = fit_shared(base, wv, corpus(), {**settings, "mix": 1.0}, cache_dir=str(tmp_path))
    half = fit_shared(base, wv, corpus(), {**settings, "mix": 0.5}, cache_dir=str(tmp_path))
    none = fit_shared(base, wv, corpus(), {**settings, "mix": 0.0}, cache_dir=str(tmp_path))
    assert half.fingerprint != alone.fingerprint
    q = ["dog grass", "dog"]  # not database texts
    xb = base.encode(q)
    np.testing.assert_allclose(none.encode(q), xb, rtol=1e-5, atol=1e-6)
    x = half.encode(q)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), np.linalg.norm(xb, axis=1), rtol=1e-5)
    cos = lambda a, b: float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))  # noqa: E731
    m = alone.encode(q)
    for i in range(2):  # the blend lies between the two
        assert cos(x[i], m[i]) > cos(xb[i], m[i]) and cos(x[i], xb[i]) > cos(m[i], xb[i])
