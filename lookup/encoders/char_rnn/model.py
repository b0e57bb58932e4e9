"""The PyTorch NLP tutorial's character RNNs (Day 2, notebooks 01 and 02) as encoders.

Architecture (both tasks, state-dict keys as the tutorial saves them)::

    emb     nn.Embedding(V, E, padding_idx=0)          emb.weight        (V, E)
    rnn     Elman RNN, h_t = tanh(x_t W_in2hid          rnn.W_in2hid      (E, H)
                            + h_{t-1} W_hid2hid + b)    rnn.W_hid2hid     (H, H)
            h_0 = all ONES                              rnn.b_hid         (1, H)
    fc      nn.Linear(H, n_out)                         fc.weight, fc.bias

``task="classify"`` (rnn01, ``charnn_emb16_hid64_surnames_classify.state``): the input is the whole
sequence ``^ c1..cn _`` (length n+2) padded to ``max_seq_length``; ``n_out`` = nationalities.
``task="predict"`` (rnn02, ``..._surnames_predict.state``): a character language model; the input is
``^ c1..cn`` (length n+1) padded to ``max_seq_length - 1``, targets ``c1..cn _``; ``n_out`` = V.

The vector of a name is the "penultimate" hidden state, the one that feeds ``fc``. Indices
read, 0-based positions in the input:

=========  =======================================  =========================================
pooling    classify (input ``^ c1..cn _``)           predict (input ``^ c1..cn``)
=========  =======================================  =========================================
gather     ``n+1``: the end token ``_`` (the last   ``n``: the last character ``cn`` (the last
           real token; tutorial ``column_gather``   real input token; ``column_gather`` at
           at length-1)                             length-1)
last       ``max_seq_length - 1``: the last padded  ``max_seq_length - 2``: the last padded step
           step, ``y_out[:, -1, :]``                 of the LM input
=========  =======================================  =========================================

A name longer than the vocabulary's ``max_seq_length`` allows is not truncated; with ``last``
it reads its own final real step.

Training runs the Elman RNN through a fused recurrent kernel, :class:`ElmanFunction`: the
forward pass is one in-place ``addmm`` + bias + ``tanh`` per step with the tutorial's
association ``(x W_in2hid + h W_hid2hid) + b`` (so its states equal the step-by-step loop
bitwise), the input projection ``x W_in2hid`` is one GEMM over all steps, and the backward pass
is written out (backpropagation through time: one multiply and one GEMM per step, the weight
gradients one GEMM over all steps) instead of ~13 autograd nodes per step. The same recurrence
is ``torch.nn.RNN(nonlinearity="tanh", batch_first=True)`` with ``weight_ih_l0 = W_in2hid^T``,
``weight_hh_l0 = W_hid2hid^T``, ``bias_ih_l0 = b_hid`` and ``bias_hh_l0 = 0``
(:func:`rnn_state`, and back: :func:`elman_state`); ``kernel="torch"`` runs that, but on CPU
torch's RNN is a C++ loop of the same per-step ops with an ordinary autograd backward, slower
than :class:`ElmanFunction` here (``benchmarks/test_perf_training.py``). :class:`ElmanRNN`
keeps the tutorial's parameters, so the checkpoint keeps its format and :data:`STATE_KEYS`;
``kernel="steps"`` is the tutorial's loop, the oracle of the tests and the path
``reference_encode`` runs.

This module holds the model, its config, sequences and the checkpoint format; fast inference
is in :mod:`.encoder`, training in :mod:`.train`, the ``encoder=rnn01|rnn02`` option in
:mod:`.spec`. Imports go one way: model <- encoder, train <- spec.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from lookup.data.vocab import CharVectorizer
from lookup.encoders.device import resolve_device  # noqa: F401 - re-exported
from lookup.errors import BadInput, MissingFile
from lookup.io import atomic_write_bytes, check_input_file, open_regular

TASKS = ("classify", "predict")
POOLINGS = ("last", "gather")
STATE_KEYS = ("emb.weight", "rnn.W_in2hid", "rnn.W_hid2hid", "rnn.b_hid", "fc.weight", "fc.bias")


# Model (tutorial architecture; the Elman loop is the oracle)


KERNELS = ("fused", "torch", "steps")


def rnn_state(W_in2hid: torch.Tensor, W_hid2hid: torch.Tensor, b_hid: torch.Tensor) -> dict:
    """The tutorial's Elman parameters as ``nn.RNN``'s (views, so gradients flow back):
    ``weight_ih_l0`` (H, E), ``weight_hh_l0`` (H, H), ``bias_ih_l0`` (H,), ``bias_hh_l0`` zeros."""
    return {
        "weight_ih_l0": W_in2hid.t(),
        "weight_hh_l0": W_hid2hid.t(),
        "bias_ih_l0": b_hid.reshape(-1),
        "bias_hh_l0": torch.zeros(b_hid.numel(), dtype=b_hid.dtype, device=b_hid.device),
    }


def elman_state(rnn: nn.RNN) -> dict[str, torch.Tensor]:
    """An ``nn.RNN`` (one layer, tanh, unidirectional) as the tutorial's parameters (copies):
    ``W_in2hid`` (E, H), ``W_hid2hid`` (H, H), ``b_hid = bias_ih + bias_hh`` (1, H)."""
    if rnn.num_layers != 1 or rnn.bidirectional or rnn.mode != "RNN_TANH":
        raise ValueError("only a one-layer, unidirectional tanh nn.RNN is an Elman RNN")
    b = torch.zeros(rnn.hidden_size, dtype=rnn.weight_ih_l0.dtype)
    if rnn.bias:
        b = rnn.bias_ih_l0.detach() + rnn.bias_hh_l0.detach()
    return {
        "W_in2hid": rnn.weight_ih_l0.detach().t().clone(),
        "W_hid2hid": rnn.weight_hh_l0.detach().t().clone(),
        "b_hid": b.reshape(1, -1).clone(),
    }


def elman_states(
    xw: torch.Tensor,
    x: torch.Tensor,
    W: torch.Tensor,
    b: torch.Tensor,
    h0: torch.Tensor,
    batch_sizes: Sequence[int],
    parents: Sequence[torch.Tensor | None],
) -> torch.Tensor:
    """The forward pass of :class:`ElmanFunction` (no autograd): hidden states (N, H)."""
    hs = xw.index_select(0, x)  # (N, H): x W_in2hid, then h
    bias = b.reshape(-1)
    prev = h0
    for out, n, p in zip(hs.split(batch_sizes), batch_sizes, parents, strict=True):
        if p is not None:
            prev = prev.index_select(0, p)
        elif prev.shape[0] != n:
            prev = prev[:n]
        out.addmm_(prev, W).add_(bias).tanh_()  # (x W_in2hid + h W_hid2hid) + b, tanh
        prev = out
    return hs


def elman_backward(
    hs: torch.Tensor,
    dpre: torch.Tensor,
    x: torch.Tensor,
    W: torch.Tensor,
    h0: torch.Tensor,
    batch_sizes: Sequence[int],
    parents: Sequence[torch.Tensor | None],
    xw_rows: int,
    need_dh0: bool = False,
):
    """The backward pass of :class:`ElmanFunction` (no autograd).

    ``dpre`` (N, H) holds ``dL/dh_t * (1 - h_t^2)`` on entry, from the loss's own gradient at
    each state, and ``d_t`` on return (the later steps' added, in place). Returns
    ``(dL/dxw (xw_rows, H), dL/dW, dL/db (H,), dL/dh0 or None)``.
    """
    sizes = batch_sizes
    W_t = W.t()
    one = torch.ones((), dtype=hs.dtype, device=hs.device)
    dW = torch.zeros_like(W)  # sum_t h_{t-1}^T d_t, a step at a time
    d_steps, h_steps = dpre.split(sizes), hs.split(sizes)
    for t in range(len(sizes) - 1, 0, -1):  # step t's rows pass d_t W^T to their parents
        d_t, m = d_steps[t], sizes[t]
        back = torch.mm(d_t, W_t)  # (n_t, H)
        d, h = d_steps[t - 1], h_steps[t - 1]
        if parents[t] is not None:
            dW.addmm_(h.index_select(0, parents[t]).t(), d_t)
            back = torch.zeros_like(d).index_add_(0, parents[t], back)
        else:
            if m != sizes[t - 1]:
                d, h = d[:m], h[:m]
            dW.addmm_(h.t(), d_t)
        d.addcmul_(back, torch.addcmul(one, h, h, value=-1.0))  # ... * (1 - h_{t-1}^2)
    n0 = sizes[0]
    h0_rows = h0[:n0] if parents[0] is None else h0.index_select(0, parents[0])
    dW.addmm_(h0_rows.t(), dpre[:n0])  # step 0 reads h0
    dxw = dpre.new_zeros(xw_rows, dpre.shape[1]).index_add_(0, x, dpre)
    dh0 = None
    if need_dh0:
        back = torch.mm(dpre[:n0], W_t)  # (n0, H)
        dh0 = torch.zeros_like(h0)
        if parents[0] is None:
            dh0[:n0] = back  # rows past batch_sizes[0] never run: no gradient
        else:
            dh0.index_add_(0, parents[0], back)
    return dxw, dW, dpre.sum(0), dh0


class ElmanFunction(torch.autograd.Function):
    """The Elman recurrence with a hand-written backward (backpropagation through time), over
    packed sequences.

    ``apply(xw, x, W_hid2hid, b_hid, h0, batch_sizes, parents=None)``: the input projections
    ``x W_in2hid`` are rows of ``xw`` (R, H), position i reading row ``x[i]`` (``xw`` the
    (V, H) table ``emb.weight @ W_in2hid`` and ``x`` the character ids, or one row per position
    and ``x = arange(N)``). The N positions are in ``torch.nn.utils.rnn.PackedSequence``'s
    layout: step by step, rows sorted by length (longest first), step t holding the first
    ``batch_sizes[t]`` rows (non-increasing). ``h0`` (B, H) -> hidden states (N, H) in that
    layout, ``h_t = tanh((xw_t + h_{t-1} W_hid2hid) + b)``. A padded (T, B, H) batch is the
    layout with every batch size B (its ``reshape(T * B, H)``). Packed, no step computes a
    padding position: a loss that reads each row at its real steps only is unchanged.

    ``parents`` (a prefix tree): per step None (row i continues row i of the step before, as
    above) or the (batch_sizes[t],) rows of the step before (of ``h0`` at step 0) that each row
    continues; then batch sizes need not be non-increasing. Rows that share a prefix can so
    share its steps: their states are equal.

    Backward, with ``d_t = (dL/dh_t + sum_children d_{t+1} W_hid2hid^T) * (1 - h_t^2)``:
    ``dL/dxw = sum_{i: x[i] = r} d_i`` per row r, ``dL/dW_hid2hid = sum_t h_{t-1}^T d_t`` and
    ``dL/db = sum_t d_t``, each one reduction over all steps, and ``dL/dh0 = d_0 W_hid2hid^T``
    when asked for (the tutorial's h0 is a constant).
    """

    @staticmethod
    def forward(ctx, xw, x, W, b, h0, batch_sizes: Sequence[int], parents=None):
        parents = parents or [None] * len(batch_sizes)
        hs = elman_states(xw, x, W, b, h0, batch_sizes, parents)
        ctx.save_for_backward(hs, x, W, h0)
        ctx.xw_rows, ctx.b_shape = xw.shape[0], b.shape
        ctx.batch_sizes, ctx.parents = batch_sizes, parents
        return hs

    @staticmethod
    def backward(ctx, dout: torch.Tensor):
        hs, x, W, h0 = ctx.saved_tensors
        dpre = torch.addcmul(dout, dout * hs, hs, value=-1.0)  # dL/dh_t (1 - h_t^2), (N, H)
        dxw, dW, db, dh0 = elman_backward(
            hs, dpre, x, W, h0, ctx.batch_sizes, ctx.parents, ctx.xw_rows,
            need_dh0=ctx.needs_input_grad[4],
        )  # fmt: skip
        return dxw, None, dW, db.reshape(ctx.b_shape), dh0, None, None


class ElmanRNN(nn.Module):
    """The tutorial's Elman RNN, batch first, initial hidden state all ones.

    ``kernel``: ``fused`` (:class:`ElmanFunction`, the default), ``torch`` (``nn.RNN``'s kernel
    on the same parameters) or ``steps`` (the tutorial's loop, one step at a time).
    """

    def __init__(
        self, input_size: int, hidden_size: int, generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.W_in2hid = nn.Parameter(torch.empty(input_size, hidden_size))
        self.W_hid2hid = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.b_hid = nn.Parameter(torch.empty(1, hidden_size))
        bound = 1.0 / hidden_size**0.5
        for p in (self.W_in2hid, self.W_hid2hid, self.b_hid):
            nn.init.uniform_(p, -bound, bound, generator=generator)

    def forward(
        self,
        x_in: torch.Tensor,
        initial_hidden: torch.Tensor | None = None,
        *,
        kernel: str = "fused",
    ) -> torch.Tensor:
        """x_in (B, T, E) -> hidden states (B, T, H), one per step."""
        h = initial_hidden
        if h is None:
            h = torch.ones(x_in.shape[0], self.hidden_size, dtype=x_in.dtype, device=x_in.device)
        if kernel == "fused":
            B, T = x_in.shape[:2]
            xw = (x_in @ self.W_in2hid).transpose(0, 1).reshape(T * B, -1)  # (T*B, H), packed
            rows = torch.arange(T * B, device=xw.device)
            hs = ElmanFunction.apply(xw, rows, self.W_hid2hid, self.b_hid, h, [B] * T)
            return hs.reshape(T, B, -1).transpose(0, 1)  # (B, T, H)
        if kernel == "torch":
            rnn = nn.RNN(x_in.shape[-1], self.hidden_size, nonlinearity="tanh", batch_first=True)
            params = rnn_state(self.W_in2hid, self.W_hid2hid, self.b_hid)
            out, _ = torch.func.functional_call(rnn.to(x_in.device), params, (x_in, h[None]))
            return out
        if kernel != "steps":
            raise ValueError(f"kernel={kernel!r} is invalid; valid: {', '.join(KERNELS)}")
        outs = []
        for t in range(x_in.shape[1]):
            h = torch.tanh(x_in[:, t] @ self.W_in2hid + h @ self.W_hid2hid + self.b_hid)  # (B, H)
            outs.append(h)
        return torch.stack(outs, dim=1)  # (B, T, H)


@dataclass(frozen=True)
class CharRNNConfig:
    """Sizes of a CharRNN (the tutorial's: embedding 16, hidden 64)."""

    vocab_size: int
    n_out: int  # nationalities (classify) or vocab_size (predict)
    embedding_size: int = 16
    hidden_size: int = 64


class CharRNN(nn.Module):
    """emb -> Elman RNN -> fc, with the tutorial's parameter names.

    Parameters are initialised as torch's defaults do, drawn from ``generator`` when given (so
    a seed is passed explicitly, never set globally).
    """

    def __init__(self, config: CharRNNConfig, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.config = config
        E, H = config.embedding_size, config.hidden_size
        self.emb = nn.Embedding(config.vocab_size, E, padding_idx=0)
        self.rnn = ElmanRNN(E, H, generator)
        self.fc = nn.Linear(H, config.n_out)
        with torch.no_grad():
            nn.init.normal_(self.emb.weight, generator=generator)
            self.emb.weight[0].zero_()  # padding row
            nn.init.kaiming_uniform_(self.fc.weight, a=math.sqrt(5), generator=generator)
            bound = 1.0 / math.sqrt(H)
            nn.init.uniform_(self.fc.bias, -bound, bound, generator=generator)

    def hidden_states(self, x: torch.Tensor, *, kernel: str = "fused") -> torch.Tensor:
        """x (B, T) int64 -> (B, T, H), through the RNN ``kernel`` (see :class:`ElmanRNN`)."""
        return self.rnn(self.emb(x), kernel=kernel)

    def forward(self, x: torch.Tensor, *, kernel: str = "fused") -> torch.Tensor:
        """x (B, T) -> logits (B, T, n_out) at every step."""
        return self.fc(self.hidden_states(x, kernel=kernel))


def column_gather(y_out: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Vectorised tutorial ``column_gather``: y_out (B, T, H), lengths (B,) -> y_out[b, len-1]."""
    idx = (lengths.to(y_out.device).long() - 1).view(-1, 1, 1).expand(-1, 1, y_out.shape[-1])
    return y_out.gather(1, idx).squeeze(1)  # (B, H)


def column_gather_loop(y_out: torch.Tensor, x_lengths: torch.Tensor) -> torch.Tensor:
    """The tutorial's Python ``column_gather`` (the reference path)."""
    out = []
    for batch_index, column_index in enumerate(x_lengths.long().detach().cpu().numpy() - 1):
        out.append(y_out[batch_index, column_index])
    return torch.stack(out)


def input_sequences(vec: CharVectorizer, texts: Sequence[str], task: str) -> list[list[int]]:
    """Model inputs: classify ``^ c1..cn _``; predict ``^ c1..cn`` (unknown chars -> ValueError)."""
    seqs = vec.indices(texts)
    if task == "predict":
        seqs = [s[:-1] for s in seqs]
    return seqs


def padded_ids(
    vec: CharVectorizer, texts: Sequence[str], task: str, width: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`input_sequences` + :func:`pad`: ids (n, max(width, longest)) int64
    zero-padded, lengths (n,); classify ``^ c1..cn _``, predict ``^ c1..cn``."""
    flat, n_chars = vec.char_indices(texts)
    sv = vec.surname_vocab
    lens = n_chars + (2 if task == "classify" else 1)
    ids = np.zeros((len(texts), max(width, int(lens.max(initial=0)))), dtype=np.int64)
    ids[:, 0] = sv.start_index
    if task == "classify":
        ids[np.arange(len(texts)), lens - 1] = sv.end_index
    starts = np.repeat(np.cumsum(n_chars) - n_chars - 1, n_chars)  # row start - 1 per char
    ids[np.repeat(np.arange(len(texts)), n_chars), np.arange(len(flat)) - starts] = flat
    return ids, lens


def padded_length(vec: CharVectorizer, task: str) -> int:
    """Length of the tutorial's padded input for ``task``."""
    return vec.max_seq_length if task == "classify" else vec.max_seq_length - 1


def pad(seqs: Sequence[Sequence[int]], width: int) -> tuple[np.ndarray, np.ndarray]:
    """Zero-pad to ``max(width, longest)``: ids (n, T) int64, lengths (n,) int64."""
    lens = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    T = max(width, int(lens.max(initial=0)))
    ids = np.zeros((len(seqs), T), dtype=np.int64)
    if len(seqs):
        flat = np.fromiter((i for s in seqs for i in s), dtype=np.int64, count=int(lens.sum()))
        starts = np.repeat(np.cumsum(lens) - lens, lens)
        rows = np.repeat(np.arange(len(seqs)), lens)
        ids[rows, np.arange(len(flat)) - starts] = flat
    return ids, lens


def check_state(
    state: dict, vec: CharVectorizer, task: str, embedding_size: int, hidden_size: int
) -> None:
    """One-line ValueError when the weights do not fit the architecture or the vocab."""
    if not isinstance(state, dict):
        raise BadInput(f"weights must be a state dict with keys {list(STATE_KEYS)}")
    missing = [k for k in STATE_KEYS if k not in state]
    extra = [k for k in state if k not in STATE_KEYS]
    if missing or extra:
        raise BadInput(
            f"weights have missing keys {missing} / unexpected keys {extra}; "
            f"expected exactly {list(STATE_KEYS)}"
        )
    V = len(vec.surname_vocab)
    n_out = len(vec.nationality_vocab) if task == "classify" else V
    E, H = embedding_size, hidden_size
    expect = {
        "emb.weight": (V, E),
        "rnn.W_in2hid": (E, H),
        "rnn.W_hid2hid": (H, H),
        "rnn.b_hid": (1, H),
        "fc.weight": (n_out, H),
        "fc.bias": (n_out,),
    }
    for k, shape in expect.items():
        got = tuple(state[k].shape)
        if got != shape:
            what = {
                "emb.weight": f"the vocab has {V} tokens and embedding_size={E}",
                "fc.weight": f"task={task!r} needs n_out={n_out} and hidden_size={H}",
                "fc.bias": f"task={task!r} needs n_out={n_out}",
            }.get(k, f"embedding_size={E}, hidden_size={H}")
            raise BadInput(f"weights {k} has shape {got}, expected {shape} ({what})")


def load_state(path: str) -> dict:
    """A torch state dict from ``path``; one-line errors for a missing or foreign file."""
    if not os.path.lexists(path):
        raise MissingFile(f"weights file not found: {path}")
    check_input_file(None, path, valid="a torch state dict file")  # a FIFO would block
    try:
        with open_regular(None, path) as f:
            state = torch.load(f, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for bad files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadInput(f"weights file {path} is not a torch state dict ({first})") from None
    return state


def save_checkpoint(model: CharRNN, vec: CharVectorizer, weights_path: str, vocab_path: str):
    """Tutorial format: ``torch.save(state_dict)`` (CPU tensors) and the vocab JSON."""
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, buf)
    vec.save(vocab_path)
    atomic_write_bytes(weights_path, buf.getvalue())
