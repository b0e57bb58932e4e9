"""Training the tutorial's character RNNs, with a content-keyed checkpoint cache.

classify (01): class-weighted cross-entropy (weight 1/count), Adam, logits from the hidden state
at each name's true last position (the end token ``_``). predict (02): next-character language
model, input ``^ c1..cn``, target ``c1..cn _``, loss ignoring padding.

Each batch is cut to its own longest sequence: for both losses the steps past that are padding
that never reaches the loss, so this equals training on the tutorial's fully padded tensors.

Two loops compute the same loss, batches and updates (``loop=``):

- ``fused`` (what :func:`train_cached` runs): the Elman RNN through the fused recurrent kernel
  (:class:`~.model.ElmanFunction`), and for predict the output layer and the loss only at the real
  (non-padding) positions: ``cross_entropy(fc(h[mask]), y[mask])`` is the mean over the same
  positions as the tutorial's ``CrossEntropyLoss(ignore_index=mask)`` over all of them, with half
  the output-layer work (names average 8 of ~18 padded steps here); torch's fused Adam;
- ``steps``: today's loop as it was, the step-by-step Elman RNN and the output layer at every
  padded position; kept as the reference of ``benchmarks/test_perf_training.py``.

The forward passes are bitwise equal; the gradients differ by float rounding only (summation
order), so the two train equally good models, not bitwise equal ones.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn

from lookup.cache import quarantine
from lookup.data.base import fingerprint_texts
from lookup.data.vocab import CharVectorizer
from lookup.encoders.char_rnn.model import (
    CharRNN,
    CharRNNConfig,
    check_state,
    column_gather,
    input_sequences,
    load_state,
    pad,
    save_checkpoint,
)
from lookup.io import atomic_write_bytes, hold_lock, read_bounded
from lookup.progress import progress

log = logging.getLogger(__name__)

CACHE_FORMAT = 3  # bump when training code changes what a key produces (3: the fused loop)
LOOPS = ("fused", "steps")


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters; all of them go into the cache key."""

    task: str = "classify"
    embedding_size: int = 16
    hidden_size: int = 64
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 1337


def cache_key(cfg: TrainConfig, texts: Sequence[str], labels: Sequence[str] | None, device):
    """Hash of the training data's content, the hyperparameters and the device type."""
    payload = {
        "format": CACHE_FORMAT,
        "cfg": asdict(cfg),
        "data": fingerprint_texts(texts, labels),
        "device": torch.device(device).type,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


def _targets_and_lengths(seqs: list[list[int]], task: str):
    """classify: (ids, lengths); predict: (input ids, target ids) both (n, T)."""
    ids, lens = pad(seqs, 0)
    if task == "classify":
        return torch.from_numpy(ids), torch.from_numpy(lens)
    return torch.from_numpy(ids[:, :-1]), torch.from_numpy(ids[:, 1:])


def _batches(n: int, batch_size: int, gen: torch.Generator | None):
    order = torch.randperm(n, generator=gen) if gen is not None else torch.arange(n)
    for s in range(0, n, batch_size):
        yield order[s : s + batch_size]


def _step_inputs(ids, other, idx, task, device):
    """Cut a batch to its longest real sequence and move it to the model's device."""
    x = ids[idx]
    if task == "classify":
        lens = other[idx]
        T = int(lens.max())
        return x[:, :T].to(device), lens.to(device)
    y = other[idx]
    T = int((y != 0).sum(1).max())
    return x[:, :T].to(device), y[:, :T].to(device)


def evaluate(
    model: CharRNN, vec: CharVectorizer, texts, labels, task: str, *, kernel: str = "fused"
) -> float:
    """classify: accuracy; predict: per-character next-token accuracy (padding excluded)."""
    dev = model.emb.weight.device
    seqs = input_sequences(vec, list(texts), "classify")
    ids, other = _targets_and_lengths(seqs, task)
    if task == "classify":
        known = vec.nationality_vocab._mapping  # a label never seen in training counts as wrong
        y_true = torch.tensor([known.get(str(x), -1) for x in labels])
    correct = total = 0
    model.eval()
    with torch.inference_mode():
        for idx in _batches(len(seqs), 1024, None):
            x, o = _step_inputs(ids, other, idx, task, dev)
            h = model.hidden_states(x, kernel=kernel)  # (B, T, H)
            if task == "classify":
                pred = model.fc(column_gather(h, o)).argmax(-1).cpu()
                correct += int((pred == y_true[idx]).sum())
                total += len(idx)
            else:
                mask = o != 0
                pred = model.fc(h[mask]).argmax(-1)  # real positions only
                correct += int((pred == o[mask]).sum())
                total += int(mask.sum())
    return correct / max(total, 1)


def _adam(model: CharRNN, lr: float, fused: bool) -> torch.optim.Adam:
    """Adam; the fused loop asks for torch's fused implementation (one kernel for all
    parameters, ~2x faster than ``foreach`` here), ``foreach`` where it is not available."""
    if fused:
        try:
            return torch.optim.Adam(model.parameters(), lr=lr, fused=True)
        except (RuntimeError, TypeError, ValueError):  # older torch, or a device without it
            return torch.optim.Adam(model.parameters(), lr=lr, foreach=True)
    return torch.optim.Adam(model.parameters(), lr=lr)


@contextlib.contextmanager
def _torch_threads(n: int):
    """Temporarily set torch's intra-op thread count."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train(
    cfg: TrainConfig,
    train_texts: Sequence[str],
    train_labels: Sequence[str] | None,
    heldout_texts: Sequence[str] | None = None,
    heldout_labels: Sequence[str] | None = None,
    *,
    device: torch.device | str = "cpu",
    loop: str = "fused",
) -> tuple[CharRNN, CharVectorizer, dict]:
    """Seeded, deterministic training; returns (model, vectorizer, metrics).

    ``loop``: ``fused`` or ``steps`` (today's loop, the benchmark's reference; module
    docstring). Runs on one intra-op thread: a fixed thread count keeps the result independent
    of the machine's core count (a GEMM may round differently when split across threads).
    """
    if loop not in LOOPS:
        raise ValueError(f"loop={loop!r} is invalid; valid: {', '.join(LOOPS)}")
    with _torch_threads(1):
        return _train(cfg, train_texts, train_labels, heldout_texts, heldout_labels, device, loop)


def _train(cfg, train_texts, train_labels, heldout_texts, heldout_labels, device, loop):
    """`train` without the thread pinning."""
    texts = [str(t) for t in train_texts]
    if not texts:
        raise ValueError("train_texts is empty; training needs at least one name")
    if cfg.task == "classify":
        if train_labels is None or len(train_labels) != len(texts):
            raise ValueError("task='classify' needs train_labels, one per train text")
    labels = None if train_labels is None else [str(x) for x in train_labels]
    device = torch.device(device)
    gen = torch.Generator().manual_seed(cfg.seed)  # the only source of randomness: init, order
    vec = CharVectorizer.from_texts(texts, labels, use_unks=True)
    V = len(vec.surname_vocab)
    n_out = len(vec.nationality_vocab) if cfg.task == "classify" else V
    config = CharRNNConfig(V, n_out, cfg.embedding_size, cfg.hidden_size)
    model = CharRNN(config, generator=gen).to(device)
    seqs = input_sequences(vec, texts, "classify")  # full ^..._ ; predict splits it below
    ids, other = _targets_and_lengths(seqs, cfg.task)
    if cfg.task == "classify":
        nv = vec.nationality_vocab
        y_all = torch.tensor([nv.lookup_token(x) for x in labels])
        counts = Counter(labels)
        weight = 1.0 / torch.tensor([counts[t] for t in nv.tokens()], dtype=torch.float32)
        loss_fn = nn.CrossEntropyLoss(weight=weight.to(device))
    else:
        mask_index = vec.surname_vocab.mask_index
        loss_fn = nn.CrossEntropyLoss(ignore_index=mask_index)
    fused = loop == "fused"
    kernel = "fused" if fused else "steps"
    opt = _adam(model, cfg.lr, fused)
    n_batches = (len(texts) + cfg.batch_size - 1) // cfg.batch_size
    t0 = time.perf_counter()
    bar = progress(total=cfg.epochs * n_batches, desc=f"train rnn ({cfg.task})", unit="batch")
    for epoch in range(cfg.epochs):
        model.train()
        running = 0.0
        for i, idx in enumerate(_batches(len(texts), cfg.batch_size, gen)):
            x, o = _step_inputs(ids, other, idx, cfg.task, device)
            if cfg.task == "classify":
                h = model.hidden_states(x, kernel=kernel)  # (B, T, H)
                logits = model.fc(column_gather(h, o))  # (B, n_out)
                loss = loss_fn(logits, y_all[idx].to(device))
            elif fused:  # the output layer at real positions only: (P, V), P = non-padding
                mask = o != mask_index
                loss = nn.functional.cross_entropy(model.fc(model.hidden_states(x)[mask]), o[mask])
            else:
                logits = model(x, kernel="steps")  # (B, T, V)
                loss = loss_fn(logits.reshape(-1, V), o.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            running += (loss.item() - running) / (i + 1)
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{running:.3f}")
    bar.close()
    metrics = {"train_seconds": round(time.perf_counter() - t0, 2), "final_train_loss": running}
    if heldout_texts is not None and (cfg.task == "predict" or heldout_labels is not None):
        name = "heldout_accuracy" if cfg.task == "classify" else "heldout_char_accuracy"
        metrics[name] = evaluate(model, vec, heldout_texts, heldout_labels, cfg.task, kernel=kernel)
        log.info("char rnn (%s) %s = %.4f", cfg.task, name, metrics[name])
    model.eval()
    return model, vec, metrics


def train_cached(
    cfg: TrainConfig,
    train_texts,
    train_labels,
    heldout_texts=None,
    heldout_labels=None,
    *,
    cache_dir: str = ".cache/lookup",
    device: torch.device | str = "cpu",
) -> tuple[CharRNN, CharVectorizer, dict]:
    """Load ``<cache_dir>/char_rnn/<key>/`` if present, else train and write it atomically.

    Returns the model, its vectorizer and the training's metrics (held-out accuracy, ...)."""
    if train_texts is None:
        raise ValueError("no weights and no train_texts: pass weights+vocab, or data to train on")
    texts = [str(t) for t in train_texts]
    labels = None if train_labels is None else [str(x) for x in train_labels]
    key = cache_key(cfg, texts, labels, device)
    d = os.path.join(cache_dir, "char_rnn", key)
    wpath, vpath, mpath = (os.path.join(d, f) for f in ("model.state", "vocab.json", "meta.json"))
    os.makedirs(d, exist_ok=True)
    with hold_lock(os.path.join(d, ".lock"), f"the char rnn checkpoint {d}, trained elsewhere"):
        if os.path.lexists(wpath) or os.path.lexists(vpath):
            try:
                return _load_cached(cfg, wpath, vpath, mpath, device)
            except (ValueError, OSError, KeyError, RuntimeError, TypeError) as exc:
                # the three files are one entry: one warning names the entry, all move aside
                quarantine(d, f"{type(exc).__name__}: {exc}", files=(wpath, vpath, mpath))
        model, vec, metrics = train(
            cfg, texts, labels, heldout_texts, heldout_labels, device=device
        )
        save_checkpoint(model, vec, wpath, vpath)
        meta = {"config": asdict(cfg), "metrics": metrics, "n_train": len(texts)}
        atomic_write_bytes(mpath, json.dumps(meta, indent=1).encode())
        log.info("char rnn (%s): trained and cached at %s", cfg.task, d)
    return model, vec, metrics


def _load_cached(cfg: TrainConfig, wpath: str, vpath: str, mpath: str, device):
    """A cached checkpoint (weights, vocab, meta); raises on any damage (the caller heals)."""
    vec = CharVectorizer.load(vpath)
    state = load_state(wpath)
    check_state(state, vec, cfg.task, cfg.embedding_size, cfg.hidden_size)
    V = len(vec.surname_vocab)
    n_out = len(vec.nationality_vocab) if cfg.task == "classify" else V
    model = CharRNN(CharRNNConfig(V, n_out, cfg.embedding_size, cfg.hidden_size))
    model.load_state_dict(state)
    meta = json.loads(read_bounded(None, mpath).decode("utf-8"))
    metrics = meta["metrics"]
    if not isinstance(metrics, dict):
        raise ValueError(f"{mpath} has no metrics mapping")
    log.info("char rnn (%s): cached checkpoint %s %s", cfg.task, os.path.dirname(wpath), metrics)
    return model.to(device).eval(), vec, metrics


__all__ = ["LOOPS", "TrainConfig", "cache_key", "evaluate", "train", "train_cached"]
