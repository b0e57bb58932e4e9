"""``encoder=transformers``: mean or CLS pooling over any Hugging Face ``AutoModel`` folder, for
encoder models that are not packaged for sentence-transformers (BERT, RoBERTa, E5, BGE, ...).

``model=`` is a folder, ``package:<module>`` or a hub name (:mod:`lookup.encoders.model_files`);
the folder needs ``config.json`` and a tokenizer. A text (with its role's prompt in front) is
tokenized with padding and truncation to ``max_length`` tokens, the model runs under
``torch.inference_mode()`` on ``device`` and its ``last_hidden_state`` (B, T, H) is pooled:

- ``mean``: the mean of the token vectors under the attention mask (special tokens included,
  padding excluded), as sentence-transformers' mean pooling does;
- ``cls``: the first token's vector.

``normalize`` scales each vector to unit length. Texts are batched by length (less padding);
the output is in input order. As for ``sentence_transformers``, the fingerprint covers the
digest of the model's files, every setting that changes a vector and the transformers
version, and the weights load on first use.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np

from lookup.encoders.device import check_device, resolve_device
from lookup.encoders.model_files import ModelSource, model_digest, require, resolve_model
from lookup.encoders.sentence_transformers import load_errors, load_failure
from lookup.errors import BadInput
from lookup.params import check_range
from lookup.progress import progress
from lookup.protocols import EncoderData, check_role

log = logging.getLogger(__name__)

POOLINGS = ("mean", "cls")
MARKERS = ("config.json",)
DEFAULT_MAX_LENGTH = 512  # when neither the tokenizer nor the config gives a limit


def pool(hidden: Any, mask: Any, pooling: str) -> Any:
    """(B, H) sentence vectors from token vectors ``hidden`` (B, T, H) and the attention
    ``mask`` (B, T): the masked mean, or the first token's vector."""
    if pooling == "cls":
        return hidden[:, 0]
    m = mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)


class TransformersEncoder:
    """Encoder protocol around ``AutoTokenizer`` + ``AutoModel`` loaded from a local folder."""

    def __init__(
        self,
        source: ModelSource,
        *,
        pooling: str = "mean",
        normalize: bool = False,
        max_length: int | None = None,
        batch_size: int = 32,
        device: str = "cpu",
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        if source.folder is None:
            raise ValueError("the model must be resolved to a folder first")
        self.source = source
        self.pooling = pooling
        self.normalize = normalize
        self.max_length = max_length
        self.batch_size = batch_size
        self.device = device
        self.prompts = {"query": query_prompt or None, "document": document_prompt or None}
        self.trust_remote_code = trust_remote_code
        self.training: dict = {}  # pretrained: nothing is fitted here
        self.files = model_digest(source.folder)
        identity = {
            "encoder": "transformers",
            "files": self.files,
            "pooling": pooling,
            "normalize": normalize,
            "max_length": max_length,
            "prompts": self.prompts,
            "versions": [metadata.version("transformers")],
        }
        blob = json.dumps(identity, sort_keys=True).encode()
        self.fingerprint = hashlib.sha256(blob).hexdigest()[:16]
        self._loaded: tuple[Any, Any, Any, int] | None = None

    def _load(self) -> tuple[Any, Any, Any, int]:
        """(tokenizer, model, torch device, max_length), loaded on first use."""
        if self._loaded is None:
            from transformers import AutoModel, AutoTokenizer

            folder = str(self.source.folder)
            opts = {"local_files_only": True, "trust_remote_code": self.trust_remote_code}
            dev = resolve_device(self.device)
            try:
                tokenizer = AutoTokenizer.from_pretrained(folder, **opts)
                model = AutoModel.from_pretrained(folder, **opts).to(dev).eval()
            except load_errors() as exc:
                raise load_failure(self.source.given, "transformers", exc) from exc
            limit = self.max_length or _model_limit(tokenizer, model)
            self._loaded = (tokenizer, model, dev, limit)
            log.info(
                "transformers model %s (%s, files %s): %s, %s pooling, max_length %d",
                self.source.given,
                folder,
                self.files,
                type(model).__name__,
                self.pooling,
                limit,
            )
        return self._loaded

    @property
    def dim(self) -> int:
        """The vector dimension: the model's hidden size (loads the model)."""
        model = self._load()[1]
        return int(model.config.hidden_size)

    def encode(
        self, texts: Sequence[str], *, batch_size: int | None = None, role: str = "document"
    ) -> np.ndarray:
        """(n, hidden) float32 in input order; ``role`` picks the query or document prompt."""
        import torch

        prompt = self.prompts[check_role(role)] or ""
        texts = [prompt + t for t in texts]
        tokenizer, model, dev, limit = self._load()
        out = np.zeros((len(texts), self.dim), np.float32)
        bs = batch_size or self.batch_size
        order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths together
        starts = range(0, len(texts), bs)
        with torch.inference_mode():
            for s in progress(starts, desc="transformers encode", unit="batch",
                              disable=len(starts) < 20):  # fmt: skip
                idx = order[s : s + bs]
                batch = tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=limit,
                    return_tensors="pt",
                ).to(dev)
                hidden = model(**batch).last_hidden_state  # (B, T, H)
                x = pool(hidden, batch["attention_mask"], self.pooling)  # (B, H)
                if self.normalize:
                    x = torch.nn.functional.normalize(x, dim=-1)
                out[idx] = x.float().cpu().numpy()
        return out


def _model_limit(tokenizer: Any, model: Any) -> int:
    """The longest input the model takes: the tokenizer's ``model_max_length`` unless unset
    (transformers then gives a huge number), capped by the position embeddings."""
    limits = [int(tokenizer.model_max_length)] if tokenizer.model_max_length < 1e9 else []
    positions = getattr(model.config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        limits.append(positions)
    return min(limits) if limits else DEFAULT_MAX_LENGTH


@dataclass(frozen=True)
class TransformersSpec:
    """The ``encoder=transformers`` option.

    ``model`` (required): a folder with ``config.json`` and a tokenizer, ``package:<module>`` or
    a hub name. ``pooling``: ``mean`` (masked mean of the token vectors) or ``cls`` (the first
    token's). ``normalize``: unit-length vectors. ``max_length``: truncate inputs to this many
    tokens (None: the model's limit). ``batch_size``: texts per forward pass. ``device``: cpu,
    cuda, cuda:N or auto. ``query_prompt``/``document_prompt``: text put before each query /
    database text. ``trust_remote_code``: let a model folder run its own Python code.
    """

    model: str | None = None
    pooling: str = "mean"
    normalize: bool = False
    max_length: int | None = None
    batch_size: int = 32
    device: str = "cpu"
    query_prompt: str | None = None
    document_prompt: str | None = None
    trust_remote_code: bool = False

    def __post_init__(self) -> None:
        try:
            check_range("encoder", "pooling", self.pooling, choices=POOLINGS)
            check_range("encoder", "batch_size", self.batch_size, minimum=1)
            if self.max_length is not None:
                check_range("encoder", "max_length", self.max_length, minimum=1)
            check_device(self.device)
        except ValueError as exc:
            raise BadInput(str(exc)) from None
        require("transformers", "transformers")
        resolve_model(self.model, markers=MARKERS, download=False)  # cheap checks, early

    def load(self, data: EncoderData, *, cache_dir: str) -> TransformersEncoder:
        """Resolve (download a hub model not yet cached) and digest the model; nothing is
        fitted, and the weights load on first use."""
        return TransformersEncoder(
            resolve_model(self.model, markers=MARKERS),
            pooling=self.pooling,
            normalize=self.normalize,
            max_length=self.max_length,
            batch_size=self.batch_size,
            device=self.device,
            query_prompt=self.query_prompt,
            document_prompt=self.document_prompt,
            trust_remote_code=self.trust_remote_code,
        )
