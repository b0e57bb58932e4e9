"""The one registry of index backends and encoder specs, used by the app and the tests.

A config option names its class with ``_target_`` (a dotted path) and its other keys are the
constructor's keyword arguments. :func:`make_index` and :func:`make_encoder_spec` resolve the
target, check every value against the constructor's signature (:func:`lookup.params.check_call`)
and construct it: plain dicts in, no OmegaConf, so no cost grows with the data.

A dotted path that is not registered still works (a user's own backend), but only registered
classes are run through the contract tests. Imports are lazy: listing the registry imports no
backend library.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from lookup.params import check_call

# name -> dotted path of the class
INDEXES: dict[str, str] = {
    "exact": "lookup.index.exact.ExactIndex",
    "annoy": "lookup.index.annoy_backend.AnnoyIndex",
    "hnswlib": "lookup.index.hnswlib_backend.HnswlibIndex",
    "faiss": "lookup.index.faiss_backend.FaissIndex",
    "usearch": "lookup.index.usearch_backend.UsearchIndex",
    # optional extra [ann]
    "voyager": "lookup.index.voyager_backend.VoyagerIndex",
    "nmslib": "lookup.index.nmslib_backend.NmslibIndex",
    "pynndescent": "lookup.index.pynndescent_backend.PynndescentIndex",
    "ngt": "lookup.index.ngt_backend.NgtIndex",
    "scann": "lookup.index.scann_backend.ScannIndex",
    "svs": "lookup.index.svs_backend.SvsIndex",
    "vsag": "lookup.index.vsag_backend.VsagIndex",
    "rabitq": "lookup.index.rabitq_backend.RabitqIndex",
    # optional extra [vectordb]: embedded databases, each in its own temporary folder
    "qdrant": "lookup.index.qdrant_backend.QdrantIndex",
    "chroma": "lookup.index.chroma_backend.ChromaIndex",
    "lancedb": "lookup.index.lancedb_backend.LancedbIndex",
    "milvus_lite": "lookup.index.milvus_backend.MilvusLiteIndex",
}
ENCODERS: dict[str, str] = {
    "char_rnn": "lookup.encoders.char_rnn.CharRNNSpec",
    "infersent": "lookup.encoders.infersent.InferSentSpec",
    "glove_mean": "lookup.encoders.glove_mean.GloveMeanSpec",
    "minilm": "lookup.encoders.minilm.MiniLMSpec",
    "shared": "lookup.encoders.shared.SharedSpec",
}


def resolve(target: str, kind: str = "index") -> type:
    """The class behind a registry name or a dotted path; one-line ValueError if neither."""
    table = INDEXES if kind == "index" else ENCODERS
    path = table.get(target, target)
    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        raise ValueError(
            f"{kind}._target_={target!r} is invalid; valid: one of {', '.join(table)} "
            "or the dotted path of a class"
        ) from None


def name_of(cls: type, kind: str = "index") -> str:
    """The registry name of a class, or its dotted path when it is not registered."""
    table = INDEXES if kind == "index" else ENCODERS
    for name in table:
        try:
            if resolve(name, kind) is cls:
                return name
        except ValueError:  # an optional extra that is not installed
            continue
    return f"{cls.__module__}.{cls.__qualname__}"


def short_name(target: str, kind: str = "index") -> str:
    """A readable name for a ``_target_``: its registry name, else its class name."""
    return name_of(resolve(target, kind), kind).rsplit(".", 1)[-1]


def _split(node: Mapping[str, Any], kind: str) -> tuple[type, dict[str, Any]]:
    params = dict(node)
    target = params.pop("_target_", None)
    if not target:
        raise ValueError(f"the {kind} option has no _target_; valid: a registered class path")
    return resolve(str(target), kind), params


def make_index(node: Mapping[str, Any], *, metric: str) -> Any:
    """An index from its option (``_target_`` + build parameters; ``search`` is ignored)."""
    cls, params = _split(node, "index")
    params.pop("search", None)
    params = check_call(cls, params, prefix="index", runtime=("metric",))
    return cls(metric=metric, **params)


def make_encoder_spec(node: Mapping[str, Any], *, prefix: str = "encoder") -> Any:
    """An encoder spec from its option (``_target_`` + settings), validated on construction."""
    cls, params = _split(node, "encoder")
    params = check_call(cls, params, prefix=prefix)
    return cls(**params)
