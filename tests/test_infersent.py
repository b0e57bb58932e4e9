"""InferSent: released key names + a small word-vector file match a plain-loop reference."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from lookup.encoders.infersent import (
    InferSentConfig,
    InferSentModel,
    InferSentSpec,
    load_released,
    load_state,
)
from lookup.errors import BadInput
from lookup.protocols import EncoderData
from lookup.text import tokenize

D, H = 5, 3


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny LSTMs only lose from intra-op threads, badly so on a busy machine."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


WORDS = ["<s>", "</s>", "<p>", "</p>", "a", "dog", "runs", "on", "the", "beach", "cat", "."]


def _write_vectors(path: Path, dim: int = D, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    table = {w: rng.normal(size=dim).astype(np.float32) for w in WORDS}
    lines = [w + " " + " ".join(f"{v:.6f}" for v in vec) for w, vec in table.items()]
    path.write_text("\n".join(lines) + "\n")
    return {w: np.array([float(f"{v:.6f}") for v in vec], np.float32) for w, vec in table.items()}


def _released_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict with the key names of infersent1.pkl at small sizes, built by hand."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for sfx in ("", "_reverse"):
        state[f"enc_lstm.weight_ih_l0{sfx}"] = torch.randn(4 * H, D, generator=g) * 0.5
        state[f"enc_lstm.weight_hh_l0{sfx}"] = torch.randn(4 * H, H, generator=g) * 0.5
        state[f"enc_lstm.bias_ih_l0{sfx}"] = torch.randn(4 * H, generator=g) * 0.1
        state[f"enc_lstm.bias_hh_l0{sfx}"] = torch.randn(4 * H, generator=g) * 0.1
    return state


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _lstm_direction(xs: list[list[float]], W, U, b1, b2) -> list[list[float]]:
    """One LSTM direction as plain loops: gates i, f, g, o stacked in W's rows (PyTorch order)."""
    h = [0.0] * H
    c = [0.0] * H
    outs = []
    for x in xs:
        pre = [
            sum(W[r][j] * x[j] for j in range(D))
            + sum(U[r][j] * h[j] for j in range(H))
            + b1[r]
            + b2[r]
            for r in range(4 * H)
        ]
        i = [_sigmoid(pre[k]) for k in range(H)]
        f = [_sigmoid(pre[H + k]) for k in range(H)]
        gg = [math.tanh(pre[2 * H + k]) for k in range(H)]
        o = [_sigmoid(pre[3 * H + k]) for k in range(H)]
        c = [f[k] * c[k] + i[k] * gg[k] for k in range(H)]
        h = [o[k] * math.tanh(c[k]) for k in range(H)]
        outs.append(h)
    return outs


def _reference(sentence: str, vectors: dict, state: dict, *, version: int, pad_to: int) -> list:
    """InferSent by hand: markers, drop unknown words, BiLSTM, max over time (v1: with zeros
    of the padding up to ``pad_to`` steps; v2: real steps only)."""
    bos, eos = ("<s>", "</s>") if version == 1 else ("<p>", "</p>")
    words = [w for w in [bos, *tokenize(sentence), eos] if w in vectors]
    xs = [vectors[w].tolist() for w in words]
    p = {k: v.tolist() for k, v in state.items()}
    fwd = _lstm_direction(
        xs, *(p[f"enc_lstm.{n}_l0"] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
    )
    bwd = _lstm_direction(
        xs[::-1],
        *(p[f"enc_lstm.{n}_l0_reverse"] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")),
    )[::-1]
    steps = [f + b for f, b in zip(fwd, bwd, strict=True)]
    if version == 1:
        steps += [[0.0] * (2 * H)] * (pad_to - len(steps))
    return [max(s[k] for s in steps) for k in range(2 * H)]


@pytest.mark.parametrize("version", [1, 2])
def test_released_weights_match_reference(tmp_path: Path, version: int) -> None:
    vectors = _write_vectors(tmp_path / "vectors.txt")
    state = _released_state()
    torch.save(state, tmp_path / f"infersent{version}.pkl")
    enc = load_released(
        tmp_path / f"infersent{version}.pkl",
        tmp_path / "vectors.txt",
        version=version,
        word_emb_dim=D,
        enc_lstm_dim=H,
        max_words=None,
    )
    # "unicorn" has no vector and is dropped; the first sentence is the longest of the batch
    texts = ["a dog runs on the beach .", "the cat", "a unicorn dog"]
    got = enc.encode(texts, batch_size=8)
    assert got.shape == (3, 2 * H) and got.dtype == np.float32
    n_max = len([w for w in ["x", *tokenize(texts[0]), "y"]])
    for text, row in zip(texts, got, strict=True):
        ref = _reference(text, vectors, state, version=version, pad_to=n_max)
        np.testing.assert_allclose(row, ref, rtol=1e-4, atol=1e-5)


def test_word_vector_restrictions(tmp_path: Path) -> None:
    _write_vectors(tmp_path / "vectors.txt")
    torch.save(_released_state(), tmp_path / "w.pkl")
    enc = load_released(
        tmp_path / "w.pkl",
        tmp_path / "vectors.txt",
        version=2,
        word_emb_dim=D,
        enc_lstm_dim=H,
        max_words=6,
        vocab=["the dog"],
    )
    # top 6 = markers, "a", "dog"; corpus = {the, dog} + markers; markers always kept
    assert set(enc.vocab.wv.words) == {"<p>", "</p>", "dog"}


def test_weights_of_wrong_size_raise_one_line(tmp_path: Path) -> None:
    torch.save(_released_state(), tmp_path / "w.pkl")
    with pytest.raises(ValueError, match=r"word_emb_dim=300, enc_lstm_dim=2048") as e:
        load_state(tmp_path / "w.pkl", InferSentConfig(300, 2048, 1))
    msg = str(e.value)
    assert "\n" not in msg and "implies word_emb_dim=5, enc_lstm_dim=3" in msg
    with pytest.raises(FileNotFoundError):
        load_state(tmp_path / "missing.pkl", InferSentConfig(D, H, 1))
    (tmp_path / "junk.pkl").write_text("not a checkpoint")
    with pytest.raises(ValueError, match="not a torch state dict"):
        load_state(tmp_path / "junk.pkl", InferSentConfig(D, H, 1))
    bad = _released_state()
    del bad["enc_lstm.bias_hh_l0_reverse"]
    torch.save(bad, tmp_path / "bad.pkl")
    with pytest.raises(ValueError, match="lack key 'enc_lstm.bias_hh_l0_reverse'"):
        load_state(tmp_path / "bad.pkl", InferSentConfig(D, H, 1))


def test_vectors_of_wrong_dimension_raise(tmp_path: Path) -> None:
    _write_vectors(tmp_path / "vectors.txt", dim=4)
    torch.save(_released_state(), tmp_path / "w.pkl")
    with pytest.raises(ValueError, match=r"has 4-d vectors but word_emb_dim=5"):
        load_released(
            tmp_path / "w.pkl", tmp_path / "vectors.txt", version=1, word_emb_dim=D, enc_lstm_dim=H
        )


def test_model_state_dict_has_released_key_names() -> None:
    keys = set(InferSentModel(InferSentConfig(D, H, 1)).state_dict())
    assert keys == set(_released_state())


def _write_nli(path: Path, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = ["premise\thypothesis\tlabel"]
    for _ in range(n):
        label = int(rng.integers(3))
        p = "a dog runs on the beach ."
        h = ["a dog runs .", "the cat runs on the beach .", "the cat ."][label]
        rows.append(f"{p}\t{h}\t{label}")
    path.write_text("\n".join(rows) + "\n")


def test_training_is_seeded_cached_and_reports_accuracy(tmp_path: Path) -> None:
    _write_vectors(tmp_path / "vectors.txt")
    _write_nli(tmp_path / "train.tsv", 48, 0)
    _write_nli(tmp_path / "dev.tsv", 24, 1)
    kw = dict(
        version=2,
        word_vectors=str(tmp_path / "vectors.txt"),
        word_emb_dim=D,
        enc_lstm_dim=H,
        nli_train=str(tmp_path / "train.tsv"),
        nli_dev=str(tmp_path / "dev.tsv"),
        epochs=12,
        batch_size=8,
        lr=0.05,
        fc_dim=8,
        dropout=0.0,
        seed=0,
    )
    cache = str(tmp_path / "cache")
    enc = InferSentSpec(**kw).load(EncoderData([]), cache_dir=cache)
    assert enc.training["dev_accuracy"] > 0.9  # three hypothesis templates, one per label
    files = list((tmp_path / "cache").rglob("*.npz"))
    assert len(files) == 1
    mtime = files[0].stat().st_mtime_ns
    again = InferSentSpec(**kw).load(EncoderData([]), cache_dir=cache)  # from the cache
    assert files[0].stat().st_mtime_ns == mtime and again.fingerprint == enc.fingerprint
    x = enc.encode(["a dog", "the cat"])
    np.testing.assert_array_equal(x, again.encode(["a dog", "the cat"]))
    other = InferSentSpec(**{**kw, "seed": 1, "epochs": 1}).load(EncoderData([]), cache_dir=cache)
    assert other.fingerprint != enc.fingerprint
    assert len(list((tmp_path / "cache").rglob("*.npz"))) == 2


def test_training_is_deterministic(tmp_path: Path) -> None:
    from lookup.data.nli import load_nli
    from lookup.encoders.infersent import NLITrainConfig, train_nli
    from lookup.encoders.word_vectors import load_word_vectors

    _write_vectors(tmp_path / "vectors.txt")
    _write_nli(tmp_path / "train.tsv", 24, 0)
    data = load_nli(tmp_path / "train.tsv")
    wv = load_word_vectors(tmp_path / "vectors.txt")
    cfg, tcfg = InferSentConfig(D, H, 1), NLITrainConfig(epochs=2, batch_size=8, fc_dim=8)
    a, info = train_nli(data, data, wv, cfg, tcfg, lowercase=False, seed=3)
    b, _ = train_nli(data, data, wv, cfg, tcfg, lowercase=False, seed=3)
    assert len(info["dev_accuracy_per_epoch"]) == 2
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_infersent_needs_weights_or_nli(tmp_path: Path) -> None:
    spec = InferSentSpec(nli_train=None, word_emb_dim=D, enc_lstm_dim=H)
    with pytest.raises(BadInput, match="nli_train"):
        spec.load(EncoderData([]), cache_dir=str(tmp_path))


@pytest.mark.skipif(
    not (
        Path(os.environ.get("LOOKUP_DATA_DIR", Path(__file__).parents[2] / "shared/data"))
        / "nli/snli_1.0_test.hf.tsv"
    ).exists(),
    reason="SNLI reference data absent",
)
def test_snli_tsv_loads() -> None:
    from lookup.data.nli import load_nli

    root = Path(os.environ.get("LOOKUP_DATA_DIR", Path(__file__).parents[2] / "shared/data"))
    pairs = load_nli(root / "nli/snli_1.0_validation.hf.tsv")
    assert len(pairs) == 9842 and set(pairs.labels.tolist()) == {0, 1, 2}


def test_nli_official_formats_and_bad_header(tmp_path: Path) -> None:
    import json

    from lookup.data.nli import load_nli

    recs = [
        {"gold_label": "entailment", "sentence1": "A dog runs.", "sentence2": "A dog moves."},
        {"gold_label": "-", "sentence1": "No", "sentence2": "consensus"},
        {"gold_label": "contradiction", "sentence1": "A cat.", "sentence2": "A dog."},
    ]
    (tmp_path / "snli_1.0_dev.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    pairs = load_nli(tmp_path / "snli_1.0_dev.jsonl")
    assert pairs.hypotheses == ["A dog moves.", "A dog."] and pairs.labels.tolist() == [0, 2]
    header = "gold_label\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1\tsentence2"
    rows = [header, 'neutral\t( x )\t( y )\tA "quoted" man.\tHe waits.', "-\t.\t.\tx\ty"]
    (tmp_path / "snli_1.0_dev.txt").write_text("\n".join(rows) + "\n")
    pairs = load_nli(tmp_path / "snli_1.0_dev.txt")
    assert pairs.premises == ['A "quoted" man.'] and pairs.labels.tolist() == [1]
    (tmp_path / "other.tsv").write_text("a\tb\tc\n1\t2\t3\n")
    with pytest.raises(ValueError, match="has header"):
        load_nli(tmp_path / "other.tsv")
