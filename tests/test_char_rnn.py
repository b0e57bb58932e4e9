"""Char-RNN encoders: fast path vs the tutorial's loop, tutorial file format, bad inputs, cache."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
import torch

from lookup.data.vocab import CharVectorizer
from lookup.encoders.char_rnn import (
    STATE_KEYS,
    CharRNN,
    CharRNNConfig,
    CharRNNEncoder,
    CharRNNSpec,
    ElmanRNN,
    load_or_train,
    reference_encode,
    resolve_device,
)
from lookup.encoders.char_rnn import train as char_rnn_train
from lookup.encoders.char_rnn.model import column_gather
from lookup.protocols import Encoder

TRAIN = ["Hadad", "Smith", "Nakamura", "Ivanov", "Müller", "O'Neill", "Kim", "Rossi", "Nguyen"]
LABELS = ["ar", "en", "ja", "ru", "de", "ir", "ko", "it", "vi"]
QUERIES = ["Hadad", "", "Smyth", "Kimura", "Ivanovskii-Nakamurasmithson", "Kim", "Rossi"]


def make(task="classify", pooling="last", seed=0, use_unks=True, E=8, H=16) -> CharRNNEncoder:
    vec = CharVectorizer.from_texts(TRAIN, LABELS, use_unks=use_unks)
    n_out = len(vec.nationality_vocab) if task == "classify" else len(vec.surname_vocab)
    gen = torch.Generator().manual_seed(seed)
    model = CharRNN(CharRNNConfig(len(vec.surname_vocab), n_out, E, H), generator=gen)
    return CharRNNEncoder(model, vec, task=task, pooling=pooling)


@pytest.mark.parametrize("task", ["classify", "predict"])
@pytest.mark.parametrize("pooling", ["last", "gather"])
@pytest.mark.parametrize("batch_size", [2, 4096])
def test_fast_path_matches_tutorial_loop(task, pooling, batch_size):
    enc = make(task, pooling)
    texts = QUERIES * 3 + TRAIN
    fast = enc.encode(texts, batch_size=batch_size)
    ref = reference_encode(enc.model, enc.vectorizer, texts, task=task, pooling=pooling)
    assert fast.shape == (len(texts), 16) and fast.dtype == np.float32
    np.testing.assert_allclose(fast, ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize("task", ["classify", "predict"])
@pytest.mark.parametrize("pooling", ["last", "gather"])
def test_fast_path_matches_on_random_names(task, pooling):
    """Random lengths 0..30 (longer than max_seq_length too), shared prefixes, duplicates."""
    rng = np.random.default_rng(0)
    alphabet = list("".join(TRAIN))
    texts = ["".join(rng.choice(alphabet, rng.integers(0, 31))) for _ in range(300)]
    texts += [t[: len(t) // 2] for t in texts[:100]] + texts[:20]
    enc = make(task, pooling)
    ref = reference_encode(enc.model, enc.vectorizer, texts, task=task, pooling=pooling)
    for bs in (5, 64, 4096):
        np.testing.assert_allclose(enc.encode(texts, batch_size=bs), ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize("task", ["classify", "predict"])
def test_single_name_path_matches_tutorial_loop(task):
    """One to four names with gather take the numpy loop; it agrees with the oracle too."""
    enc = make(task, "gather")
    texts = QUERIES + TRAIN
    ref = reference_encode(enc.model, enc.vectorizer, texts, task=task, pooling="gather")
    singles = np.concatenate([enc.encode([t]) for t in texts])
    np.testing.assert_allclose(singles, ref, atol=1e-5, rtol=0)
    np.testing.assert_allclose(enc.encode(texts[:3]), ref[:3], atol=1e-5, rtol=0)


def test_indices_read_per_task_and_pooling():
    """gather reads the last real token; last reads the last padded step."""
    for task, n_extra, pad_len in (("classify", 2, 0), ("predict", 1, -1)):
        enc = make(task, "gather")
        vec, m = enc.vectorizer, enc.model
        seq = vec.indices(["Kim"])[0]  # ^ K i m _
        x = torch.tensor([seq[: 3 + n_extra]])  # classify: ^Kim_ ; predict: ^Kim
        with torch.inference_mode():
            y = m.hidden_states(x)[0]  # (T, H)
        np.testing.assert_allclose(enc.encode(["Kim"])[0], y[-1].numpy(), atol=1e-6)
        enc.pooling = "last"
        T = vec.max_seq_length + pad_len
        full = torch.zeros(1, T, dtype=torch.long)
        full[0, : x.shape[1]] = x[0]
        with torch.inference_mode():
            y = m.hidden_states(full)[0]
        np.testing.assert_allclose(enc.encode(["Kim"])[0], y[T - 1].numpy(), atol=1e-6)


def test_elman_cell_and_ones_initial_state_match_fused_rnn():
    torch.manual_seed(0)
    cell = ElmanRNN(4, 6)
    x = torch.randn(3, 5, 4)
    with torch.no_grad():
        h1 = torch.tanh(x[:, 0] @ cell.W_in2hid + torch.ones(3, 6) @ cell.W_hid2hid + cell.b_hid)
        rnn = torch.nn.RNN(4, 6, batch_first=True, nonlinearity="tanh")
        rnn.weight_ih_l0.copy_(cell.W_in2hid.T)
        rnn.weight_hh_l0.copy_(cell.W_hid2hid.T)
        rnn.bias_ih_l0.copy_(cell.b_hid[0])
        rnn.bias_hh_l0.zero_()
        fused, _ = rnn(x, torch.ones(1, 3, 6))
        ours = cell(x)
    torch.testing.assert_close(ours[:, 0], h1)
    torch.testing.assert_close(ours, fused, atol=1e-6, rtol=0)


def _random_batch(seed: int, B: int = 11, T: int = 9, V: int = 40):
    """Padded id batches: rows of random lengths 1..T, zero padding after."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(1, V, (B, T), generator=g)
    lens = torch.randint(1, T + 1, (B,), generator=g)
    x[torch.arange(T)[None, :] >= lens[:, None]] = 0
    return x


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fused_kernel_equals_the_tutorial_loop_forward_and_backward(seed):
    """The oracle is the step-by-step loop: the fused kernel's states are bitwise equal to it
    (same association), its hand-written backward equals autograd through the loop, and torch's
    nn.RNN kernel on the same parameters equals it within float tolerance."""
    model = CharRNN(CharRNNConfig(40, 40, 8, 16), generator=torch.Generator().manual_seed(seed))
    x = _random_batch(seed)
    states, grads = {}, {}
    for kernel in ("steps", "fused", "torch"):
        model.zero_grad()
        h = model.hidden_states(x, kernel=kernel)
        (h.square() * torch.linspace(-1, 1, h.shape[-1])).sum().backward()
        states[kernel] = h.detach()
        named = model.named_parameters()
        grads[kernel] = {n: p.grad.clone() for n, p in named if p.grad is not None}
    torch.testing.assert_close(states["fused"], states["steps"], atol=0, rtol=0)
    torch.testing.assert_close(states["torch"], states["steps"], atol=1e-6, rtol=0)
    assert set(grads["fused"]) == {"emb.weight", "rnn.W_in2hid", "rnn.W_hid2hid", "rnn.b_hid"}
    for kernel in ("fused", "torch"):
        for name, g in grads["steps"].items():
            torch.testing.assert_close(grads[kernel][name], g, atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="kernel='cudnn' is invalid"):
        model.hidden_states(x, kernel="cudnn")


def test_elman_parameters_convert_to_nn_rnn_and_back():
    """Both directions: the tutorial's parameters as nn.RNN's (rnn_state) run the same
    recurrence as the loop, and any nn.RNN (two nonzero biases) as the tutorial's parameters
    (elman_state) runs the same recurrence as that nn.RNN."""
    from lookup.encoders.char_rnn.model import elman_state, rnn_state

    torch.manual_seed(3)
    cell = ElmanRNN(5, 7)
    x = torch.randn(4, 6, 5)
    h0 = torch.ones(4, 7)
    rnn = torch.nn.RNN(5, 7, batch_first=True, nonlinearity="tanh")
    with torch.no_grad():
        for name, value in rnn_state(cell.W_in2hid, cell.W_hid2hid, cell.b_hid).items():
            getattr(rnn, name).copy_(value)
        torch.testing.assert_close(rnn(x, h0[None])[0], cell(x, kernel="steps"), atol=1e-6, rtol=0)
        back = ElmanRNN(5, 7)
        rnn.bias_hh_l0.normal_()  # an nn.RNN of its own, with both biases
        for name, value in elman_state(rnn).items():
            getattr(back, name).copy_(value)
        torch.testing.assert_close(back(x, kernel="steps"), rnn(x, h0[None])[0], atol=1e-6, rtol=0)
        assert list(back.state_dict()) == ["W_in2hid", "W_hid2hid", "b_hid"]
    with pytest.raises(ValueError, match="one-layer"):
        elman_state(torch.nn.RNN(5, 7, num_layers=2))


def test_the_real_position_loss_equals_the_tutorial_loss():
    """predict: cross-entropy of fc at the non-padding positions == the tutorial's
    CrossEntropyLoss(ignore_index=mask) over every padded position; so do their gradients."""
    model = CharRNN(CharRNNConfig(40, 40, 8, 16), generator=torch.Generator().manual_seed(4))
    x = _random_batch(4)
    y = torch.roll(x, -1, dims=1)
    y[:, -1] = 0
    losses, grads = [], []
    for real_only in (False, True):
        model.zero_grad()
        h = model.hidden_states(x)
        if real_only:
            mask = y != 0
            loss = torch.nn.functional.cross_entropy(model.fc(h[mask]), y[mask])
        else:
            loss = torch.nn.CrossEntropyLoss(ignore_index=0)(model.fc(h).reshape(-1, 40), y.ravel())
        loss.backward()
        losses.append(loss.detach())
        grads.append([p.grad.clone() for p in model.parameters()])
    torch.testing.assert_close(losses[1], losses[0], atol=1e-6, rtol=1e-6)
    for a, b in zip(grads[1], grads[0], strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_packed_steps_equal_the_padded_loop_at_real_positions():
    """Packed sequences (rows sorted by length, step t runs the first batch_sizes[t]): the
    states at real positions are bitwise those of the tutorial loop over the padded batch, and
    a loss that reads only real positions gets the same gradients (h0 included)."""
    from lookup.encoders.char_rnn.model import ElmanFunction

    g = torch.Generator().manual_seed(7)
    rnn = ElmanRNN(5, 6, generator=g)
    lens = torch.tensor([7, 7, 5, 2, 2, 1])  # longest first
    B, T = len(lens), int(lens[0])
    x = torch.randn(B, T, 5, generator=g)
    real = torch.arange(T)[None, :] < lens[:, None]  # (B, T)
    weights = torch.randn(B, T, 6, generator=g)
    states, grads = [], []
    for packed in (False, True):
        rnn.zero_grad()
        h0 = torch.full((B, 6), 0.5, requires_grad=True)
        if packed:
            sizes = real.sum(0).tolist()
            xw = (x @ rnn.W_in2hid).transpose(0, 1)[real.T]  # (N, H), step by step
            rows = torch.arange(len(xw))
            hs = ElmanFunction.apply(xw, rows, rnn.W_hid2hid, rnn.b_hid, h0, sizes)
            h = torch.zeros(T, B, 6).masked_scatter(real.T[..., None], hs).transpose(0, 1)
        else:
            h = rnn(x, h0, kernel="steps")  # (B, T, H)
        (h * weights)[real].sum().backward()
        states.append(h[real].detach())
        grads.append([p.grad.clone() for p in (rnn.W_in2hid, rnn.W_hid2hid, rnn.b_hid, h0)])
    torch.testing.assert_close(states[1], states[0], atol=0, rtol=0)
    for a, b in zip(grads[1], grads[0], strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("logit_scale", [1.0, 1e3])
@pytest.mark.parametrize("task", ["classify", "predict"])
def test_packed_deduplicated_batches_give_the_tutorial_loss(task, logit_scale, monkeypatch):
    """The fused loop's step (a prefix tree, then packed rows; the output layer once per
    distinct prefix, in chunks; every gradient by hand) has the tutorial loop's loss and
    gradients (autograd through the step-by-step loop), on names that share prefixes and repeat,
    over several output chunks; also with logits far beyond exp's range (the softmax then
    subtracts each row's max)."""
    monkeypatch.setattr(char_rnn_train, "_CE_CHUNK", 64 * 40)  # 64 rows a chunk at V = 40
    texts = TRAIN + ["Smithson", "Smit", "Kimura", "Kim", "Kim", "Nakamoto", "Iv", "O"] * 3
    texts += [f"Na{chr(97 + i % 26)}{chr(97 + i // 26)}x" for i in range(300)]
    labels = (LABELS + ["en", "en", "ja", "ko", "ko", "ja", "ru", "ir"] * 3)[: len(texts)]
    labels += ["xx"] * (len(texts) - len(labels))
    vec = CharVectorizer.from_texts(texts, labels)
    V = len(vec.surname_vocab)
    n_out = len(vec.nationality_vocab) if task == "classify" else V
    model = CharRNN(CharRNNConfig(V, n_out, 8, 16), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        model.fc.weight.mul_(logit_scale)
    idx = np.random.default_rng(0).permutation(len(texts))
    ids, lens = char_rnn_train.padded_ids(vec, texts, "classify")
    y = np.asarray([vec.nationality_vocab.lookup_token(t) for t in labels])
    weight = torch.rand(n_out, generator=torch.Generator().manual_seed(3)) + 0.5
    losses, grads = [], []
    for fused in (False, True):
        model.zero_grad()
        if fused:
            b = char_rnn_train._pack(ids, lens, idx, y, task)
            assert b.parents[1] is not None and len(b.x) < (lens[idx] - (task == "predict")).sum()
            if task == "predict":
                assert len(b.read) < len(b.target)  # each prefix once
                assert len(b.read) > 3 * 64  # four chunks or more
            loss = char_rnn_train._fused_step(model, b, weight if task == "classify" else None)
        else:
            x = torch.from_numpy(ids[idx])
            h = model.hidden_states(x if task == "classify" else x[:, :-1], kernel="steps")
            if task == "classify":
                logits = model.fc(column_gather(h, torch.from_numpy(lens[idx])))
                loss = torch.nn.CrossEntropyLoss(weight=weight)(logits, torch.from_numpy(y[idx]))
            else:
                target = x[:, 1:]
                loss = torch.nn.CrossEntropyLoss(ignore_index=0)(
                    model.fc(h).reshape(-1, V), target.reshape(-1)
                )
            loss.backward()
        losses.append(loss.detach())
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    torch.testing.assert_close(losses[1], losses[0], atol=1e-6, rtol=1e-5)
    for name, g in grads[0].items():  # float rounding, on the scale of each gradient
        err = float((grads[1][name] - g).abs().max()) / float(g.abs().max())
        assert err < 1e-4, (name, err)


@pytest.mark.parametrize("task", ["classify", "predict"])
def test_fused_and_reference_loops_train_alike(task):
    """Same data, seed and batches: the fused loop and today's loop end at the same loss and
    held-out metric (they differ only by the rounding of the gradients)."""
    kw = dict(task=task, embedding_size=8, hidden_size=16, epochs=3, batch_size=4, seed=5)
    cfg = char_rnn_train.TrainConfig(**kw)
    out = {
        loop: char_rnn_train.train(cfg, TRAIN * 3, LABELS * 3, TRAIN, LABELS, loop=loop)
        for loop in char_rnn_train.LOOPS
    }
    (m_f, _, fused), (m_s, _, steps) = out["fused"], out["steps"]
    assert list(m_f.state_dict()) == list(STATE_KEYS)
    assert fused["final_train_loss"] == pytest.approx(steps["final_train_loss"], rel=1e-4)
    metric = "heldout_accuracy" if task == "classify" else "heldout_char_accuracy"
    assert fused[metric] == pytest.approx(steps[metric], abs=1e-9)
    for a, b in zip(m_f.parameters(), m_s.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-3)
    with pytest.raises(ValueError, match="loop='gpu' is invalid"):
        char_rnn_train.train(cfg, TRAIN, LABELS, loop="gpu")


def test_protocol_dim_fingerprint_and_input_order():
    enc = make()
    assert isinstance(enc, Encoder) and enc.dim == 16
    a = enc.encode(["Kim", "Rossi"])
    b = enc.encode(["Rossi", "Kim"])
    np.testing.assert_array_equal(a, b[::-1])
    assert enc.encode([]).shape == (0, 16)
    assert make(seed=1).fingerprint != enc.fingerprint
    assert make(pooling="gather").fingerprint != enc.fingerprint


@pytest.mark.parametrize("task", ["classify", "predict"])
def test_round_trip_tutorial_format(tmp_path, task):
    enc = make(task, "gather")
    w, v = str(tmp_path / f"charnn_{task}.state"), str(tmp_path / f"{task}.vocab")
    enc.save(w, v)
    state = torch.load(w, weights_only=True)
    assert list(state) == list(STATE_KEYS)
    with open(v, encoding="utf-8") as f:
        raw = json.load(f)
    assert set(raw) == {"surname_vocab", "nationality_vocab", "max_seq_length"}
    back = load_or_train(
        CharRNNSpec(
            task=task, pooling="gather", weights=w, vocab=v, embedding_size=8, hidden_size=16
        )
    )
    np.testing.assert_array_equal(back.encode(QUERIES), enc.encode(QUERIES))
    assert back.fingerprint == enc.fingerprint


def test_tutorial_vocab_without_unk_names_unknown_chars(tmp_path):
    enc = make(use_unks=False)
    assert "<UNK>" not in enc.vectorizer.surname_vocab
    with pytest.raises(ValueError, match="'Zß'") as info:
        enc.encode(["Kim", "Zoß"])
    assert "\n" not in str(info.value)
    assert make(use_unks=True).encode(["Zoß"]).shape == (1, 16)


def _saved(tmp_path, task="classify"):
    enc = make(task)
    w, v = str(tmp_path / "m.state"), str(tmp_path / "v.json")
    enc.save(w, v)
    return enc, w, v


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"hidden_size": 32}, r"rnn\.W_in2hid has shape \(8, 16\), expected \(8, 32\)"),
        ({"embedding_size": 4}, r"emb\.weight has shape .* embedding_size=4"),
        ({"task": "predict"}, r"fc\.weight .*task='predict'"),
    ],
)
def test_weights_that_do_not_fit(tmp_path, kwargs, match):
    _, w, v = _saved(tmp_path)
    kw = {"embedding_size": 8, "hidden_size": 16} | kwargs
    with pytest.raises(ValueError, match=match) as info:
        load_or_train(CharRNNSpec(weights=w, vocab=v, **kw))
    assert "\n" not in str(info.value)


def test_bad_state_files(tmp_path):
    enc, w, v = _saved(tmp_path)
    state = torch.load(w, weights_only=True)
    del state["rnn.b_hid"]
    state["rnn.bias"] = torch.zeros(1)
    torch.save(state, tmp_path / "keys.state")
    with pytest.raises(ValueError, match=r"missing keys \['rnn.b_hid'\].*'rnn.bias'"):
        CharRNNSpec(weights=str(tmp_path / "keys.state"), vocab=v, embedding_size=8, hidden_size=16)
    (tmp_path / "junk.state").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="not a torch state dict"):
        CharRNNSpec(weights=str(tmp_path / "junk.state"), vocab=v, embedding_size=8, hidden_size=16)
    with pytest.raises(FileNotFoundError):
        CharRNNSpec(weights=str(tmp_path / "nope.state"), vocab=v)
    with pytest.raises(ValueError, match=r"encoder.vocab=.*nope.json is invalid .*does not exist"):
        CharRNNSpec(weights=w, vocab=str(tmp_path / "nope.json"))
    with pytest.raises(ValueError, match="without encoder.vocab"):
        CharRNNSpec(weights=w)


def test_vocab_that_does_not_match_weights(tmp_path):
    _, w, _ = _saved(tmp_path)
    other = CharVectorizer.from_texts(TRAIN + ["Xyzqvw"], LABELS + ["xx"])
    other.save(tmp_path / "other.json")
    with pytest.raises(ValueError, match=r"emb\.weight .*the vocab has \d+ tokens"):
        CharRNNSpec(weights=w, vocab=str(tmp_path / "other.json"), embedding_size=8, hidden_size=16)


def test_bad_task_pooling_device():
    with pytest.raises(ValueError, match=r"encoder.pooling='mean' is invalid"):
        CharRNNSpec(pooling="mean")
    with pytest.raises(ValueError, match=r"encoder.task='tag' is invalid"):
        CharRNNSpec(task="tag")
    with pytest.raises(ValueError, match="device"):
        resolve_device("tpu")
    assert resolve_device("auto").type in {"cpu", "cuda"}
    with pytest.raises(ValueError, match="no weights and no train_texts"):
        load_or_train(CharRNNSpec())


_DATA_KEYS = ("train_texts", "train_labels", "heldout_texts", "heldout_labels")


def _load(cache_dir: str = ".cache/lookup", **kw):
    """load_or_train from keyword arguments: the spec's keys and the data to train on."""
    spec = CharRNNSpec(**{k: v for k, v in kw.items() if k not in _DATA_KEYS})
    return load_or_train(spec, cache_dir=cache_dir, **{k: kw[k] for k in _DATA_KEYS if k in kw})


@pytest.mark.parametrize("task", ["classify", "predict"])
def test_training_is_deterministic_cached_and_atomic(tmp_path, task, caplog):
    kw = dict(
        task=task,
        pooling="gather",
        embedding_size=8,
        hidden_size=16,
        epochs=2,
        batch_size=4,
        train_texts=TRAIN,
        train_labels=LABELS,
        heldout_texts=TRAIN,
        heldout_labels=LABELS,
    )
    caplog.set_level("INFO")
    a = _load(cache_dir=str(tmp_path / "a"), **kw)
    assert "heldout" in caplog.text
    b = _load(cache_dir=str(tmp_path / "b"), **kw)
    np.testing.assert_array_equal(a.encode(QUERIES), b.encode(QUERIES))
    t0 = time.perf_counter()
    c = _load(cache_dir=str(tmp_path / "a"), **kw)
    assert time.perf_counter() - t0 < 1.0
    np.testing.assert_array_equal(a.encode(QUERIES), c.encode(QUERIES))
    (key_dir,) = (tmp_path / "a" / "char_rnn").iterdir()
    files = sorted(p.name for p in key_dir.iterdir())
    assert files == [".lock", "meta.json", "model.state", "vocab.json"]  # no temp files
    assert list(torch.load(key_dir / "model.state", weights_only=True)) == list(STATE_KEYS)
    # the cached files are the tutorial's format: loadable as given weights
    d = _load(
        task=task,
        pooling="gather",
        weights=str(key_dir / "model.state"),
        vocab=str(key_dir / "vocab.json"),
        embedding_size=8,
        hidden_size=16,
    )
    np.testing.assert_array_equal(a.encode(QUERIES), d.encode(QUERIES))
    # another hyperparameter -> another key
    _load(cache_dir=str(tmp_path / "a"), **(kw | {"lr": 1e-2}))
    assert len(list((tmp_path / "a" / "char_rnn").iterdir())) == 2


def test_crash_while_saving_leaves_no_cache(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("killed")

    monkeypatch.setattr(char_rnn_train, "save_checkpoint", boom)
    with pytest.raises(RuntimeError):
        _load(
            epochs=1,
            embedding_size=8,
            hidden_size=16,
            train_texts=TRAIN,
            train_labels=LABELS,
            cache_dir=str(tmp_path),
        )
    (key_dir,) = (tmp_path / "char_rnn").iterdir()
    assert not (key_dir / "model.state").exists()
    assert [p for p in os.listdir(key_dir) if p != ".lock"] == []


def test_classify_needs_labels(tmp_path):
    with pytest.raises(ValueError, match="needs train_labels"):
        _load(task="classify", train_texts=TRAIN, cache_dir=str(tmp_path))


@pytest.mark.slow
def test_rnn01_gather_knn_on_tutorial_surnames(tmp_path):
    """The eval's headline: kNN@10 >= 0.74 with rnn01 gather vectors (trains ~30 s)."""
    from pathlib import Path

    from lookup.data.surnames import load_surnames
    from lookup.index.exact import exact_knn
    from lookup.metrics import knn_accuracy

    data = Path(os.environ.get("LOOKUP_DATA_DIR", Path(__file__).parents[2] / "shared/data"))
    if not (data / "surnames.csv").exists():
        pytest.skip("tutorial surnames not available")
    ds = load_surnames(str(data / "surnames.csv"))
    enc = _load(
        task="classify",
        pooling="gather",
        epochs=40,
        cache_dir=str(tmp_path),
        train_texts=ds.db,
        train_labels=ds.db_labels,
    )
    _, ids = exact_knn(enc.encode(ds.db), enc.encode(ds.queries), 10, "cosine")
    assert knn_accuracy(ids, ds.db_labels, ds.query_labels) >= 0.74


def test_heldout_label_unseen_in_training_counts_as_wrong(tmp_path, caplog):
    caplog.set_level("INFO")
    _load(
        epochs=1,
        embedding_size=8,
        hidden_size=16,
        train_texts=TRAIN,
        train_labels=LABELS,
        heldout_texts=["Zed"],
        heldout_labels=["zz"],
        cache_dir=str(tmp_path),
    )
    assert "heldout_accuracy = 0.0000" in caplog.text


@pytest.mark.parametrize(("max_train", "applied"), [(5, 1), (50, 0), (None, 0)])
def test_training_budget_is_stated_when_it_applies(tmp_path, caplog, max_train, applied):
    from lookup.encoders.char_rnn.spec import MAX_TRAIN, CharRNNSpec
    from lookup.protocols import EncoderData

    assert CharRNNSpec().max_train == MAX_TRAIN  # a budget by default
    spec = CharRNNSpec(
        task="predict",
        pooling="gather",
        embedding_size=8,
        hidden_size=16,
        epochs=1,
        max_train=max_train,
    )
    caplog.set_level("INFO")
    enc = spec.load(EncoderData(TRAIN, np.asarray(LABELS), QUERIES), cache_dir=str(tmp_path))
    assert enc.training["max_train_applied"] == applied
    assert enc.training["n_train"] == (5 if applied else len(TRAIN))
    assert ("training budget" in caplog.text) == bool(applied)
    if applied:
        assert "seeded sample of 5 of 9 names (encoder.max_train=5" in caplog.text
