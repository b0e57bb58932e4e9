"""Tests generated from the registry: every registered encoder spec loads and encodes tiny
data, every registered dataset loads a tiny input; a registered option without an entry here
fails the suite (so a new option cannot arrive untested)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from lookup import registry
from lookup.data.base import Dataset
from lookup.protocols import Encoder, EncoderData

NAMES = ["Nakamoto", "Yamamoto", "Schmidt", "Schneider", "Rossi", "Russo", "Smith", "Smyth"]
LABELS = np.array(["jp", "jp", "de", "de", "it", "it", "en", "en"])
CAPTIONS = [
    "a dog runs on the beach",
    "a cat sleeps on the grass",
    "a man rides a horse in the field",
    "a bird sits in the snow",
    "a girl plays in the street",
    "a dog sleeps in the room",
    "a horse runs in the snow",
    "a cat plays on the beach",
] * 3
WORDS = sorted({w for c in CAPTIONS for w in c.split()} | {"<s>", "</s>", "<p>", "</p>"})


def _word_vectors(folder: Path, dim: int = 8) -> str:
    rng = np.random.default_rng(0)
    lines = [w + " " + " ".join(f"{v:.5f}" for v in rng.normal(size=dim)) for w in WORDS]
    path = folder / "vectors.txt"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _nli(folder: Path) -> tuple[str, str]:
    rows = ["premise\thypothesis\tlabel"]
    for i, c in enumerate(CAPTIONS):
        rows.append(f"{c}\t{CAPTIONS[(i + 1) % len(CAPTIONS)]}\t{i % 3}")
    path = folder / "nli.tsv"
    path.write_text("\n".join(rows) + "\n")
    return str(path), str(path)


def _char_rnn(tmp: Path) -> tuple[dict, EncoderData]:
    spec = dict(task="predict", pooling="gather", embedding_size=4, hidden_size=8, epochs=1)
    return spec, EncoderData(NAMES, LABELS, NAMES[:2], LABELS[:2])


def _infersent(tmp: Path) -> tuple[dict, EncoderData]:
    train, dev = _nli(tmp)
    spec = dict(
        word_vectors=_word_vectors(tmp),
        word_emb_dim=8,
        enc_lstm_dim=4,
        nli_train=train,
        nli_dev=dev,
        epochs=1,
        batch_size=8,
        fc_dim=4,
    )
    return spec, EncoderData(CAPTIONS)


def _glove_mean(tmp: Path) -> tuple[dict, EncoderData]:
    return dict(word_vectors=_word_vectors(tmp)), EncoderData(CAPTIONS)


def _sentence_transformers(tmp: Path) -> tuple[dict, EncoderData]:
    pytest.importorskip("sentence_transformers")
    from test_hf_encoders import WORDS as HF_WORDS
    from test_hf_encoders import _save_word_model

    from lookup.encoders.word_vectors import load_word_vectors

    wv = load_word_vectors(None, max_words=10000, vocab=set(HF_WORDS))
    glove = {w: wv.vectors[wv.index[w]] for w in HF_WORDS}
    model = _save_word_model(tmp / "st", glove)
    return dict(model=str(model)), EncoderData(["the dog on the beach", "a cat", "a river"])


def _transformers(tmp: Path) -> tuple[dict, EncoderData]:
    pytest.importorskip("transformers")
    import test_hf_encoders

    model = test_hf_encoders.bert_model.__wrapped__(_Factory(tmp))
    return dict(model=str(model)), EncoderData(["the dog on the beach", "a cat", "a river"])


class _Factory:
    """Stands in for pytest's tmp_path_factory for the model builders of test_hf_encoders."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp

    def mktemp(self, name: str) -> Path:
        path = self.tmp / name
        path.mkdir(parents=True, exist_ok=True)
        return path


def _shared(tmp: Path) -> tuple[dict, EncoderData]:
    base = {"_target_": registry.ENCODERS["glove_mean"], "word_vectors": _word_vectors(tmp)}
    return dict(base=base, word_vectors=_word_vectors(tmp)), EncoderData(CAPTIONS)


# registry name -> tiny settings and data (what each option's test trains or loads on)
TINY_ENCODERS: dict[str, Callable[[Path], tuple[dict, EncoderData]]] = {
    "char_rnn": _char_rnn,
    "infersent": _infersent,
    "glove_mean": _glove_mean,
    "shared": _shared,
    "sentence_transformers": _sentence_transformers,
    "transformers": _transformers,
}


def test_every_registered_encoder_has_a_tiny_test() -> None:
    missing = sorted(set(registry.ENCODERS) - set(TINY_ENCODERS))
    assert not missing, f"registered encoders without a tiny test in TINY_ENCODERS: {missing}"


@pytest.mark.parametrize("name", sorted(registry.ENCODERS))
def test_every_registered_encoder_loads_and_encodes(name: str, tmp_path: Path) -> None:
    params, data = TINY_ENCODERS[name](tmp_path)
    spec = registry.make_encoder_spec({"_target_": name, **params})
    enc = spec.load(data, cache_dir=str(tmp_path / "cache"))
    assert isinstance(enc, Encoder)
    x = enc.encode(list(data.texts)[:3])
    assert x.shape == (3, enc.dim) and x.dtype == np.float32 and np.isfinite(x).all()
    again = registry.make_encoder_spec({"_target_": name, **params})
    assert again.load(data, cache_dir=str(tmp_path / "cache")).fingerprint == enc.fingerprint


def _names(tmp: Path, data_dir: Path | None) -> dict:
    # the session's cache: the names package is converted once per test session
    return dict(limit=300, test_fraction=0.2, cache_dir=os.environ["LOOKUP_CACHE_DIR"])


def _surnames(tmp: Path, data_dir: Path | None) -> dict:
    if data_dir is None:
        pytest.skip("reference data absent")
    return dict(path=str(data_dir / "surnames.csv"))


def _coco(tmp: Path, data_dir: Path | None) -> dict:
    if data_dir is None:
        pytest.skip("reference data absent")
    return dict(path=str(data_dir / "captions" / "coco_captions_val2017.json"), n_query_images=20)


def _flickr(tmp: Path, data_dir: Path | None) -> dict:
    if data_dir is None:
        pytest.skip("reference data absent")
    return dict(root=str(data_dir / "captions" / "flickr8k"))


def _vectors(tmp: Path, data_dir: Path | None) -> dict:
    rng = np.random.default_rng(0)
    np.save(tmp / "db.npy", rng.normal(size=(20, 4)).astype(np.float32))
    np.save(tmp / "q.npy", rng.normal(size=(3, 4)).astype(np.float32))
    return dict(db=str(tmp / "db.npy"), queries=str(tmp / "q.npy"))


def _texts(tmp: Path, data_dir: Path | None) -> dict:
    (tmp / "corpus.csv").write_text(
        "text,label\n" + "\n".join(f"{n},{lab}" for n, lab in zip(NAMES, LABELS, strict=True))
    )
    return dict(path=str(tmp / "corpus.csv"), label="label", n_queries=2)


TINY_DATASETS: dict[str, Callable[[Path, Path | None], dict]] = {
    "names": _names,
    "surnames": _surnames,
    "coco_captions": _coco,
    "flickr8k": _flickr,
    "vectors": _vectors,
    "texts": _texts,
}


def test_every_registered_dataset_has_a_tiny_test() -> None:
    missing = sorted(set(registry.DATASETS) - set(TINY_DATASETS))
    assert not missing, f"registered datasets without a tiny test in TINY_DATASETS: {missing}"


@pytest.mark.parametrize("name", sorted(registry.DATASETS))
def test_every_registered_dataset_loads(name: str, tmp_path: Path) -> None:
    from conftest import _data_dir

    data_dir = _data_dir() if (_data_dir() / "surnames.csv").is_file() else None
    loader, params = registry.dataset_loader(
        {"_target_": name, **TINY_DATASETS[name](tmp_path, data_dir)}
    )
    ds = loader(**params)
    assert isinstance(ds, Dataset) and len(ds.db) > 0 and len(ds.queries) > 0
    assert isinstance(ds.fingerprint, str) and ds.fingerprint
    if ds.db_labels is not None:
        assert len(ds.db_labels) == len(ds.db) and len(ds.query_labels) == len(ds.queries)
    assert loader(**params).fingerprint == ds.fingerprint  # stable
