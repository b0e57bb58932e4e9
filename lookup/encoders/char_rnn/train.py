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
import math
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace

import numpy as np
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
    elman_backward,
    elman_states,
    input_sequences,
    load_state,
    pad,
    padded_ids,
    save_checkpoint,
)
from lookup.io import atomic_write_bytes, hold_lock, read_bounded
from lookup.progress import progress

log = logging.getLogger(__name__)

CACHE_FORMAT = 4  # bump when training code changes what a key produces (4: packed batches)
LOOPS = ("fused", "steps")


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters; all of them go into the cache key."""

    task: str = "classify"
    embedding_size: int = 16
    hidden_size: int = 64
    epochs: int = 10
    batch_size: int = 512  # the tutorial's 128 x 4: a quarter of the optimizer steps ...
    lr: float = 4e-3  # ... with the learning rate scaled alike (the tutorial's 1e-3 x 4)
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


# The fused loop's batches: a prefix tree, then packed sequences; one output-layer loss


@dataclass(frozen=True)
class _Packed:
    """One batch for the fused loop: a prefix tree, then packed sequences
    (:class:`~.model.ElmanFunction`'s layout).

    Rows are sorted by length (longest first). The first steps run once per distinct prefix
    (node) of the batch, as every name starts at ``^`` from the same h_0 and a few hundred
    prefixes cover the first characters of 512 names, each node reading its parent
    (``parents``); then each row runs by itself, packed. ``x`` (N,) ids, ``batch_sizes[t]`` the
    nodes or rows of step t. classify: ``read`` (B,) where each row's last step (the end token)
    sits in the (N, H) states, ``target`` its label. predict: ``read`` (U,) where each distinct
    prefix of the batch sits, and per input position (P,) its ``target`` (the next character)
    and the prefix it reads (``owner``, non-decreasing).
    """

    x: torch.Tensor
    batch_sizes: list[int]
    parents: list[torch.Tensor | None]
    read: torch.Tensor
    target: torch.Tensor
    owner: torch.Tensor | None


_CE_CHUNK = 1 << 18  # logits per output-layer chunk (1 MiB of float32: it stays in L2 cache)
_MIN_SHARED = 64  # a step runs per prefix while that spares at least this many rows


def _lexicographic(ids: np.ndarray) -> np.ndarray:
    """The order that sorts the rows of ``ids`` (n, T) >= 0 lexicographically (as
    ``np.lexsort(ids.T[::-1])``, in one sort: each row as one big-endian byte string)."""
    width = 2 if ids.max(initial=0) < 1 << 16 else 4
    keys = np.ascontiguousarray(ids, dtype=f">u{width}").view(f"V{width * ids.shape[1]}")
    return np.argsort(keys.ravel(), kind="stable")


def _pack(ids: np.ndarray, lens: np.ndarray, idx: np.ndarray, labels, task: str) -> _Packed:
    """The batch ``idx`` of ``ids`` (every text as ``^ c1..cn _``, ``lens`` = n+2) for ``task``:
    classify runs ``^ c1..cn _`` and reads its last step, predict runs ``^ c1..cn`` and reads
    every step, the targets ``c1..cn _`` (each prefix once, whatever the rows that share it)."""
    rows = idx[np.argsort(-lens[idx], kind="stable")]
    n = lens[rows] - (task == "predict")  # steps per row
    B, T = len(rows), int(n[0])
    inp = ids[rows, :T]  # (B, T)
    real = np.arange(T) < n[:, None]  # (B, T)
    lex = _lexicographic(inp)  # rows in lexicographic order: equal prefixes are adjacent
    s = inp[lex]
    first = np.ones((B, T), dtype=bool)  # (lex row, t): a prefix the row above does not share
    np.logical_not(np.logical_and.accumulate(s[1:] == s[:-1], axis=1), out=first[1:])
    first &= real[lex]  # a real position that repeats a prefix: the row above is real there too
    nodes, running = np.count_nonzero(first, 0), np.count_nonzero(real, 0)  # (T,) each
    spared = np.flatnonzero(running - nodes < _MIN_SHARED)
    shared = int(spared[0]) if len(spared) else T  # steps that run per node
    # steps < shared: nodes in lexicographic order, each reading its parent node
    gid_lex = np.cumsum(first[:, :shared], axis=0) - 1  # (B, shared): each position's node
    gid = np.empty_like(gid_lex)
    gid[lex] = gid_lex  # in row order
    t_n, r_n = np.nonzero(first[:, :shared].T)  # (nodes,) each, by step then node
    parent_of = np.split(gid_lex[r_n, np.maximum(t_n - 1, 0)], np.cumsum(nodes[:shared])[:-1])
    parents = [None] + [torch.from_numpy(p) for p in parent_of[1:]]
    if 0 < shared < T:  # the first per-row step reads each row's node
        parents.append(torch.from_numpy(gid[: running[shared], shared - 1]))
    parents += [None] * (T - len(parents))
    x = np.concatenate([s[r_n, t_n], inp.T[shared:][real.T[shared:]]])
    sizes = np.concatenate([nodes[:shared], running[shared:]])
    offsets = np.cumsum(sizes) - sizes

    def where(r: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Where position t of row r (row order) sits in the (N, H) states."""
        tree = t < shared  # a node's position, else the row's own
        return offsets[t] + np.where(tree, gid[r, np.where(tree, t, 0)] if shared else 0, r)

    owner = None
    if task == "classify":
        read, target = where(np.arange(B), n - 1), labels[rows]
    else:  # positions in (t, lex row) order, so that owners come out non-decreasing
        real_t = real[lex].T  # (T, B)
        t_u, r_u = np.nonzero(first.T)  # (U,) each
        read = where(lex[r_u], t_u)
        owner = np.cumsum(first.T[real_t]) - 1  # (P,)
        target = ids[rows, 1 : T + 1][lex].T[real_t]  # (P,)
    return _Packed(
        torch.from_numpy(x),
        sizes.tolist(),
        parents,
        torch.from_numpy(read),
        torch.from_numpy(target),
        None if owner is None else torch.from_numpy(owner),
    )


def _to(b: _Packed, device: torch.device) -> _Packed:
    """The batch's tensors on ``device``."""
    if device.type == "cpu":
        return b
    moved = {
        f.name: v.to(device) for f in fields(b) if isinstance(v := getattr(b, f.name), torch.Tensor)
    }
    moved["parents"] = [p if p is None else p.to(device) for p in b.parents]
    return replace(b, **moved)


def _linear_cross_entropy(h, weight, bias, owner, target):
    """``mean_i CE(h[owner_i] W^T + b, target_i)`` over P positions from U distinct rows ``h``
    (``cross_entropy(fc(h[owner]), target)``, each row's logits computed once) and its
    gradients: ``(loss, dL/dh (U, H), dL/dweight, dL/dbias)``; owners non-decreasing.

    Computed per chunk of rows (``_CE_CHUNK`` logits), so that the (U, V) logits never exist
    whole: the chunk's logits, their log-sum-exp (times ``count``, the positions reading the
    row) and, in place, the gradient of the logits ``count * softmax - sum onehot(target)``,
    then the three products.
    """
    U, V, P, dt, dev = h.shape[0], weight.shape[0], owner.shape[0], h.dtype, h.device
    rows = max(1, _CE_CHUNK // V)  # per chunk
    chunk_of = owner.div(rows, rounding_mode="floor")
    # each position's logit within its chunk's (rows, V) block, split by chunk
    flat = (owner - chunk_of * rows).mul_(V).add_(target)
    flat = flat.split(torch.bincount(chunk_of, minlength=-(-U // rows)).tolist())
    count = torch.bincount(owner, minlength=U).to(dt)  # (U,) positions per row
    minus_one = torch.full((1,), -1.0, dtype=dt, device=dev).expand(P)
    W_t, h_t = weight.t().contiguous(), h.t().contiguous()  # (H, V), (H, U): fast GEMMs
    dh, dW_t, db = torch.empty_like(h), torch.zeros_like(W_t), torch.zeros_like(bias)
    sumexp, shift = torch.empty(U, 1, dtype=dt, device=dev), h.new_zeros(U, 1)  # per row
    picked = torch.empty(P, dtype=dt, device=dev)  # each position's target logit
    logits = torch.empty(min(rows, U), V, dtype=dt, device=dev)
    # |logit| <= max|h| * |w_v|_1 + |b_v|: when every exp(logit) and their sum fit the
    # float type, the softmax needs no max subtracted (two passes over the logits fewer)
    bound = float((weight.abs().sum(1) * h.abs().max() + bias.abs()).max())
    stable = bound > math.log(torch.finfo(dt).max) - math.log(V) - 8
    s = p = 0
    for f in flat:
        e, q = min(s + rows, U), p + len(f)
        z = torch.mm(h[s:e], W_t, out=logits[: e - s]).add_(bias)  # (c, V) logits
        torch.take(z, f, out=picked[p:q])
        if stable:
            torch.amax(z, 1, keepdim=True, out=shift[s:e])
            z.sub_(shift[s:e])
        torch.sum(z.exp_(), 1, keepdim=True, out=sumexp[s:e])  # z is exp(logits - shift)
        z.mul_(count[s:e, None] / sumexp[s:e])  # count * softmax
        z.view(-1).index_add_(0, f, minus_one[: q - p])  # - sum onehot(target)
        torch.mm(z, weight, out=dh[s:e])
        dW_t.addmm_(h_t[:, s:e], z)
        db.add_(z.sum(0))
        s, p = e, q
    loss = (torch.dot(sumexp.log_().add_(shift).squeeze(1), count) - picked.sum()) / P
    return loss, dh.div_(P), dW_t.t().contiguous().div_(P), db.div_(P)


def _weighted_cross_entropy(h, weight, bias, target, class_weight):
    """``cross_entropy(h W^T + b, target, weight=class_weight)`` (the weighted mean) and its
    gradients: ``(loss, dL/dh, dL/dweight, dL/dbias)``."""
    logp = torch.log_softmax(torch.addmm(bias, h, weight.t()), 1)  # (B, C)
    at = torch.arange(len(target), device=h.device).mul_(logp.shape[1]).add_(target)
    w = class_weight.take(target)
    w /= w.sum()  # (B,): each row's share of the weighted mean
    loss = -torch.dot(logp.take(at), w)
    dz = logp.exp_().mul_(w[:, None])  # w * softmax ...
    dz.view(-1).index_add_(0, at, w, alpha=-1.0)  # ... - w * onehot(target)
    return loss, dz @ weight, dz.t() @ h, dz.sum(0)


def _fused_step(model: CharRNN, b: _Packed, class_weight: torch.Tensor | None) -> torch.Tensor:
    """The batch's loss, its gradients written to every parameter's ``.grad``, all by hand (no
    autograd graph): the packed Elman kernel forward, the output layer and its loss (classify:
    the class-weighted cross-entropy at each row's last step; predict: the mean cross-entropy
    over the real positions, chunked), then backpropagation through time."""
    emb, rnn, fc = model.emb.weight, model.rnn, model.fc
    with torch.no_grad():
        table = emb @ rnn.W_in2hid  # (V, H): x W_in2hid, one row per character
        h0 = torch.ones(b.batch_sizes[0], table.shape[1], dtype=table.dtype, device=table.device)
        W, sizes, parents = rnn.W_hid2hid, b.batch_sizes, b.parents
        hs = elman_states(table, b.x, W, rnn.b_hid, h0, sizes, parents)  # (N, H)
        h = hs.index_select(0, b.read)  # (B or U, H)
        if b.owner is None:
            loss, dh, dfc_w, dfc_b = _weighted_cross_entropy(
                h, fc.weight, fc.bias, b.target, class_weight
            )
        else:
            loss, dh, dfc_w, dfc_b = _linear_cross_entropy(h, fc.weight, fc.bias, b.owner, b.target)
        dh.addcmul_(dh * h, h, value=-1.0)  # dL/dh (1 - h^2) at the states the loss reads
        dpre = torch.zeros_like(hs).index_put_((b.read,), dh, accumulate=True)  # (N, H)
        dtable, dW, db, _ = elman_backward(hs, dpre, b.x, W, h0, sizes, parents, len(emb))
        grads = {
            emb: dtable @ rnn.W_in2hid.t(),  # row 0 (padding) is never read: it stays zero
            rnn.W_in2hid: emb.t() @ dtable,
            W: dW,
            rnn.b_hid: db.reshape(rnn.b_hid.shape),
            fc.weight: dfc_w,
            fc.bias: dfc_b,
        }
    for p, g in grads.items():
        p.grad = g.contiguous()  # the parameter's layout (fused Adam reads grads as laid out)
    return loss


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
    fused = loop == "fused"
    if fused:  # the whole data once as ^ c1..cn _ (vectorised); batches cut from it
        ids_all, lens_all = padded_ids(vec, texts, "classify")
    else:
        seqs = input_sequences(vec, texts, "classify")  # full ^..._ ; predict splits it below
        ids, other = _targets_and_lengths(seqs, cfg.task)
    weight = y_all = None
    if cfg.task == "classify":
        nv = vec.nationality_vocab
        y_all = np.fromiter(map(nv._mapping.__getitem__, labels), np.int64, len(labels))
        counts = Counter(labels)
        weight = (1.0 / torch.tensor([counts[t] for t in nv.tokens()], dtype=torch.float32)).to(
            device
        )
        loss_fn = nn.CrossEntropyLoss(weight=weight)
    else:
        mask_index = vec.surname_vocab.mask_index
        loss_fn = nn.CrossEntropyLoss(ignore_index=mask_index)
    opt = _adam(model, cfg.lr, fused)
    n_batches = (len(texts) + cfg.batch_size - 1) // cfg.batch_size
    t0 = time.perf_counter()
    bar = progress(total=cfg.epochs * n_batches, desc=f"train rnn ({cfg.task})", unit="batch")
    for epoch in range(cfg.epochs):
        model.train()
        running = 0.0
        batches = _batches(len(texts), cfg.batch_size, gen)  # row indices, one tensor each
        if fused:  # the epoch's batches packed up front: faster than between the steps
            packed = (_pack(ids_all, lens_all, i.numpy(), y_all, cfg.task) for i in batches)
            batches = [_to(b, device) for b in packed]
        for i, batch in enumerate(batches):
            if fused:
                loss = _fused_step(model, batch, weight)  # and the gradients
            else:
                x, o = _step_inputs(ids, other, batch, cfg.task, device)
                if cfg.task == "classify":
                    h = model.hidden_states(x, kernel="steps")  # (B, T, H)
                    logits = model.fc(column_gather(h, o))  # (B, n_out)
                    loss = loss_fn(logits, torch.from_numpy(y_all[batch.numpy()]).to(device))
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
        metrics[name] = evaluate(model, vec, heldout_texts, heldout_labels, cfg.task, kernel=loop)
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
