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


class ElmanRNN(nn.Module):
    """The tutorial's explicit Elman RNN, batch first, initial hidden state all ones."""

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

    def forward(self, x_in: torch.Tensor, initial_hidden: torch.Tensor | None = None):
        """x_in (B, T, E) -> hidden states (B, T, H), one per step."""
        B, T, _ = x_in.shape
        h = initial_hidden
        if h is None:
            h = torch.ones(B, self.hidden_size, dtype=x_in.dtype, device=x_in.device)  # (B, H)
        outs = []
        for t in range(T):
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

    def hidden_states(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T) int64 -> (B, T, H)."""
        return self.rnn(self.emb(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T) -> logits (B, T, n_out) at every step."""
        return self.fc(self.hidden_states(x))


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
