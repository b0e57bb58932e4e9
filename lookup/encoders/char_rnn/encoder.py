"""Fast inference of the tutorial's character RNNs: the encoder a job uses.

Fast inference (`CharRNNEncoder.encode`) runs on the same weights:

* duplicate names are encoded once; characters are looked up with one vectorised table;
* the input projection ``emb.weight @ W_in2hid`` is precomputed as a (V, H) table, so a step is
  one row lookup, one (k, H) x (H, H) GEMM, the bias and tanh, in place;
* names are sorted by the number of steps they need and step t updates only the rows still
  running, so ``gather`` runs no padded steps at all (``last`` must run them: they change
  the state);
* the first steps run once per distinct prefix (every name starts with ``^``, and a few
  thousand prefixes cover the first three or four characters of a batch);
* large batches, ``torch.inference_mode()``, tensors on the model's device.

The arithmetic keeps the tutorial's association ``(x W_in2hid + h W_hid2hid) + b_hid`` and every
product is a GEMM of at least 8 rows (smaller ones switch torch to GEMV, which rounds
differently), so the vectors are bitwise equal to the batched tutorial loop on CPU. That matters
for ``last`` on trained weights: ~20 recurrent steps amplify one-ulp differences to ~6e-5 (the
tutorial loop run one name at a time differs from itself run in batches by 4e-5). The
step-by-step loop is kept in `reference_encode` as the test oracle.

Vocabulary: with the tutorial's character vocabulary (no UNK) an unknown character raises
`ValueError` naming it; vocabularies built here reserve ``<UNK>`` at index 1 (see
`lookup.data.vocab`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from lookup.data.vocab import CharVectorizer
from lookup.encoders.char_rnn.model import (
    POOLINGS,
    TASKS,
    CharRNN,
    CharRNNConfig,
    check_state,
    column_gather_loop,
    input_sequences,
    load_state,
    pad,
    padded_ids,
    padded_length,
    resolve_device,
    save_checkpoint,
)
from lookup.errors import BadInput
from lookup.progress import progress
from lookup.protocols import check_role

log = logging.getLogger(__name__)

_MIN_GEMM_ROWS = 8
_MIN_SHARED_ROWS = 256  # below this many names, no shared-prefix phase
_SMALL_NAMES = 4  # up to this many names (gather, CPU): a plain numpy loop, no torch dispatch


@dataclass
class CharRNNEncoder:
    """Encodes names as the hidden state feeding ``fc`` (see module docstring for indices).

    Implements `lookup.protocols.Encoder`.
    """

    model: CharRNN
    vectorizer: CharVectorizer
    task: str = "classify"
    pooling: str = "last"
    training: dict = field(default_factory=dict)  # held-out metrics when trained here

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise BadInput(f"task must be one of {TASKS}, got {self.task!r}")
        if self.pooling not in POOLINGS:
            raise BadInput(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        self.model.eval()
        self.dim = self.model.rnn.hidden_size
        self._refresh()

    def _refresh(self) -> None:
        """Recompute the (V, H) input table and the weights hash; call after changing weights."""
        m = self.model
        with torch.inference_mode():
            # Input projection of every character, computed once: (V, E) @ (E, H) -> (V, H).
            # The bias is added per step so the rounding matches the tutorial's loop exactly.
            self._xW = (m.emb.weight @ m.rnn.W_in2hid).contiguous()  # (V, H)
            self._W_hh = m.rnn.W_hid2hid.detach().contiguous()  # (H, H)
            self._b = m.rnn.b_hid.detach().reshape(-1).contiguous()  # (H,)
        # numpy views of the same tensors for the single-name path (CPU only)
        cpu = self._xW.device.type == "cpu"
        self._np = (self._xW.numpy(), self._W_hh.numpy(), self._b.numpy()) if cpu else None
        h = hashlib.sha256()
        for k, v in m.state_dict().items():
            h.update(k.encode())
            h.update(v.detach().cpu().contiguous().numpy().tobytes())
        h.update(json.dumps(self.vectorizer.to_serializable(), sort_keys=True).encode())
        self._weights_sha = h.hexdigest()

    @property
    def fingerprint(self) -> str:
        """Changes whenever the vectors could: weights, vocab, task, pooling."""
        key = f"{self._weights_sha}|{self.task}|{self.pooling}".encode()
        return hashlib.sha256(key).hexdigest()[:16]

    @property
    def device(self) -> torch.device:
        return self.model.emb.weight.device

    def _padded_ids(self, texts: Sequence[str], width: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised tokenisation: ids (n, max(width, longest)) int64 zero-padded, lengths (n,)."""
        return padded_ids(self.vectorizer, texts, self.task, width)

    def _run_steps(self, x: torch.Tensor, steps: np.ndarray, h0: torch.Tensor) -> torch.Tensor:
        """Elman steps over rows sorted by ``steps`` (descending): x (S, m) ids, h0 (m, H).

        Returns hs (S, m, H) where ``hs[t, i]`` is row i's h_{t+1} for t < steps[i]; entries past
        a row's last step are never read. Step t updates only the first ``active[t]`` rows (those
        still running), but never fewer than ``_MIN_GEMM_ROWS``: below that torch switches from
        GEMM to GEMV, whose rounding differs from the batched tutorial loop.
        """
        S, m = x.shape
        active = np.searchsorted(-steps, -np.arange(S), side="left")
        active = np.maximum(active, min(m, _MIN_GEMM_ROWS)).tolist()
        table, W, b = self._xW, self._W_hh, self._b
        hs = torch.empty(S, m, self.dim, dtype=table.dtype, device=x.device)  # (S, m, H)
        prev = h0
        for k, h_t, x_t in zip(active, hs.unbind(0), x.unbind(0), strict=True):
            if k < m:
                cur, x_t, p = h_t[:k], x_t[:k], prev[:k]  # (k, H), contiguous
            else:
                cur, p = h_t, prev
            torch.index_select(table, 0, x_t, out=cur)  # x_t W_in2hid (padding: mask row)
            # (x W_in + h W_hid) + b: the tutorial's association, hence its rounding
            cur.addmm_(p, W).add_(b).tanh_()
            prev = h_t
        return hs

    def _shared_prefix(self, ids: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
        """Longest s0 whose length-s0 prefixes are few (<= n/4): (s0, first rows, inverse)."""
        n, T = ids.shape
        if n < _MIN_SHARED_ROWS:  # not worth the bookkeeping for a few names
            return 0, np.arange(n), np.arange(n)
        V = len(self.vectorizer.surname_vocab)
        max_s0 = min(T, int(62 // max(np.log2(max(V, 2)), 1.0)))  # keys must fit in int64
        key = np.zeros(n, dtype=np.int64)
        s0, first, inverse = 0, np.arange(n), np.arange(n)
        for t in range(max_s0):
            key = key * V + ids[:, t]
            _, f, inv = np.unique(key, return_index=True, return_inverse=True)
            if len(f) > n // 4:
                break
            s0, first, inverse = t + 1, f, inv.reshape(-1)
        return s0, first, inverse

    def _encode_small(self, texts: Sequence[str]) -> np.ndarray:
        """A few names with ``gather`` on CPU: one numpy matrix-vector step per character.

        A lookup encodes one name at a time; torch's per-op dispatch dominates there, and this
        loop is ~3x faster. Its rounding differs from the GEMM path by < 1e-6 (gather runs no
        padded steps that could amplify it); tests hold it to the tutorial loop within 1e-5.
        """
        table, W, b = self._np
        ids, lens = self._padded_ids(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, n_steps in enumerate(lens.tolist()):
            h = np.ones(self.dim, dtype=np.float32)  # h_0 = ones
            for c in ids[i, :n_steps].tolist():
                h = np.tanh(table[c] + h @ W + b)  # (H,)
            out[i] = h
        return out

    @torch.inference_mode()
    def _encode_chunk(self, texts: Sequence[str]) -> torch.Tensor:
        n_in = len(texts)
        if n_in < _MIN_GEMM_ROWS:  # pad tiny batches so that every step is a GEMM
            texts = [*texts, *[""] * (_MIN_GEMM_ROWS - n_in)]
        # steps = how many RNN steps a row needs; its vector is the state after the last one
        width = padded_length(self.vectorizer, self.task) if self.pooling == "last" else 0
        ids, lens = self._padded_ids(texts, width)
        steps = np.maximum(lens, width)
        order = np.argsort(-steps, kind="stable")  # longest first: running rows are a prefix
        ids, steps = ids[order], steps[order]
        n, H, dev = len(order), self.dim, self.device
        dtype = self._xW.dtype
        # Phase A, steps 0..s0-1: names sharing their first s0 tokens (all start with "^")
        # share these states, so they run once per distinct prefix.
        s0, first, inverse = self._shared_prefix(ids)
        if s0:
            pad = max(0, min(n, _MIN_GEMM_ROWS) - len(first))
            first = np.concatenate([first, np.zeros(pad, dtype=first.dtype)])
            xa = torch.from_numpy(np.ascontiguousarray(ids[first, :s0].T)).to(dev)  # (s0, u)
            ones = torch.ones(len(first), H, dtype=dtype, device=dev)  # h_0 = ones
            hs_a = self._run_steps(xa, np.full(len(first), s0), ones)  # (s0, u, H)
        # Phase B, steps s0..: every row still running continues from its prefix's state.
        n_b = int((steps > s0).sum())
        m_b = max(n_b, min(n, _MIN_GEMM_ROWS)) if n_b else 0
        final = torch.empty(n, H, dtype=dtype, device=dev)
        if m_b:
            if s0:
                h0 = hs_a[s0 - 1].index_select(0, torch.from_numpy(inverse[:m_b]).to(dev))
            else:
                h0 = torch.ones(m_b, H, dtype=dtype, device=dev)  # h_0 = ones
            xb = torch.from_numpy(np.ascontiguousarray(ids[:m_b, s0 : int(steps[0])].T)).to(dev)
            hs_b = self._run_steps(xb, np.maximum(steps[:m_b] - s0, 0), h0)  # (S - s0, m_b, H)
            if n_b == m_b and (steps[:n_b] == steps[0]).all():  # typical for "last"
                final[:n_b] = hs_b[-1]
            else:
                rows = torch.arange(n_b, device=dev)
                final[:n_b] = hs_b[torch.from_numpy(steps[:n_b] - s0 - 1).to(dev), rows]
        if n_b < n:  # rows that finished within phase A
            t_a = torch.from_numpy(steps[n_b:] - 1).to(dev)
            final[n_b:] = hs_a[t_a, torch.from_numpy(inverse[n_b:]).to(dev)]
        out = torch.empty_like(final)
        out[torch.from_numpy(order).to(dev)] = final
        return out[:n_in]  # (n, H), input order

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 4096, role: str = "document"
    ) -> np.ndarray:
        """(n, hidden) float32 in input order; a progress bar when there are many batches.
        Both roles (query, document) get the same vectors.

        Characters missing from a vocabulary without UNK raise `ValueError` naming them.
        """
        check_role(role)
        texts = texts if isinstance(texts, list) else list(texts)
        if len(texts) <= _SMALL_NAMES and self.pooling == "gather" and self._np is not None:
            return self._encode_small(texts)
        uniq = list(dict.fromkeys(texts))  # identical names get identical vectors: encode once
        pos = {t: i for i, t in enumerate(uniq)}
        inverse = np.fromiter(map(pos.__getitem__, texts), dtype=np.int64, count=len(texts))
        out = np.empty((len(uniq), self.dim), dtype=np.float32)
        starts = range(0, len(uniq), batch_size)
        if len(uniq) >= 100_000:  # a bar only when the user waits (tqdm costs ~0.1 ms per call)
            starts = progress(starts, desc="encode", unit="batch", leave=False)
        for s in starts:
            out[s : s + batch_size] = self._encode_chunk(uniq[s : s + batch_size]).float().cpu()
        return out[inverse]

    def save(self, weights_path: str, vocab_path: str) -> None:
        """Write ``torch.save(state_dict)`` + the tutorial's vocab JSON, each atomically."""
        save_checkpoint(self.model, self.vectorizer, weights_path, vocab_path)


def load_pretrained(
    weights: str,
    vocab: str,
    *,
    task: str = "classify",
    pooling: str = "last",
    embedding_size: int = 16,
    hidden_size: int = 64,
    device: str = "cpu",
) -> CharRNNEncoder:
    """Load the tutorial's ``.state`` + vocab JSON, validating shapes against the vocab."""
    if task not in TASKS:
        raise BadInput(f"task must be one of {TASKS}, got {task!r}")
    vec = CharVectorizer.load(vocab)
    state = load_state(weights)
    check_state(state, vec, task, embedding_size, hidden_size)
    n_out = len(vec.nationality_vocab) if task == "classify" else len(vec.surname_vocab)
    model = CharRNN(CharRNNConfig(len(vec.surname_vocab), n_out, embedding_size, hidden_size))
    model.load_state_dict(state)
    model.to(resolve_device(device))
    return CharRNNEncoder(model, vec, task=task, pooling=pooling)


@torch.inference_mode()
def reference_encode(
    model: CharRNN,
    vec: CharVectorizer,
    texts: Sequence[str],
    *,
    task: str,
    pooling: str,
    batch_size: int = 128,
) -> np.ndarray:
    """The tutorial's path: padded batches of 128, step-by-step Elman loop, Python gather."""
    model.eval()
    dev = model.emb.weight.device
    width = padded_length(vec, task)
    seqs = input_sequences(vec, texts, task)
    outs = []
    for s in range(0, len(seqs), batch_size):
        ids, lens = pad(seqs[s : s + batch_size], width)
        y_out = model.hidden_states(torch.from_numpy(ids).to(dev), kernel="steps")  # (B, T, H)
        if pooling == "gather":
            outs.append(column_gather_loop(y_out, torch.from_numpy(lens)))
        else:
            last = torch.from_numpy(np.maximum(lens, width))  # == T unless a name is too long
            outs.append(column_gather_loop(y_out, last))
    return torch.cat(outs).float().cpu().numpy()
