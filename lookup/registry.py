"""The one registry of datasets, index backends and encoder specs, used by the app and the tests.

A config option names its class (or, for a dataset, its loader function) with ``_target_`` and
its other keys are the constructor's keyword arguments. :func:`make_index`,
:func:`make_encoder_spec` and :func:`dataset_loader` resolve the target, check every value
against the signature (:func:`lookup.params.check_call`) and construct it: plain dicts in, no
OmegaConf, so no cost grows with the data.

Only registered targets are resolved: a ``_target_`` is configuration, and configuration must
not be able to name an arbitrary callable (``os.system``) that would run while it is checked.
A user's own backend, encoder or loader is allowed on purpose, by dotted path, through the
environment variable ``LOOKUP_EXTRA_TARGETS`` (comma-separated) or :func:`allow`; nothing is
imported before the check. Imports are lazy: listing the registry imports no backend library.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from typing import Any

from lookup.errors import BadInput, MissingExtra
from lookup.params import check_call

# name -> dotted path of the loader function (each returns a lookup.data.base.Dataset)
DATASETS: dict[str, str] = {
    "names": "lookup.data.names.load_names",
    "surnames": "lookup.data.surnames.load_surnames",
    "coco_captions": "lookup.data.captions.load_coco_captions",
    "flickr8k": "lookup.data.captions.load_flickr8k",
    "vectors": "lookup.data.vectors.load_vectors",
    "texts": "lookup.data.texts.load_texts",
}
# name -> dotted path of the class
INDEXES: dict[str, str] = {
    "exact": "lookup.index.exact.ExactIndex",
    "annoy": "lookup.index.annoy_backend.AnnoyIndex",
    "hnswlib": "lookup.index.hnswlib_backend.HnswlibIndex",
    "faiss": "lookup.index.faiss_backend.FaissIndex",
    "faiss_binary": "lookup.index.faiss_binary_backend.FaissBinaryIndex",
    "usearch": "lookup.index.usearch_backend.UsearchIndex",
}
ENCODERS: dict[str, str] = {
    "char_rnn": "lookup.encoders.char_rnn.CharRNNSpec",
    "infersent": "lookup.encoders.infersent.InferSentSpec",
    "glove_mean": "lookup.encoders.glove_mean.GloveMeanSpec",
    "shared": "lookup.encoders.shared.SharedSpec",
    "sentence_transformers": "lookup.encoders.sentence_transformers.SentenceTransformerSpec",
    "transformers": "lookup.encoders.transformers_encoder.TransformersSpec",
}
TABLES: dict[str, dict[str, str]] = {"dataset": DATASETS, "index": INDEXES, "encoder": ENCODERS}
EXTRA_ENV = "LOOKUP_EXTRA_TARGETS"
_ALLOWED: set[str] = set()


def allow(*paths: str) -> None:
    """Allow these dotted paths as ``_target_`` values too (your own classes or loaders)."""
    _ALLOWED.update(p.strip() for p in paths if p.strip())


def _allowed_extra() -> set[str]:
    env = {p.strip() for p in os.environ.get(EXTRA_ENV, "").split(",") if p.strip()}
    return env | _ALLOWED


def resolve(target: str, kind: str = "index") -> Any:
    """The class (or loader) behind a registry name, a registered dotted path or an allowed
    one; a one-line BadInput naming the key and what is valid otherwise. Nothing is imported
    unless the target is registered or allowed."""
    table = TABLES[kind]
    path = table.get(target, target)
    if path not in table.values() and path not in _allowed_extra():
        raise BadInput(
            f"{kind}._target_={target!r} is invalid; valid: one of {', '.join(table)} (or their "
            f"dotted paths), or a dotted path you allow in ${EXTRA_ENV}"
        )
    module, _, name = str(path).rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as exc:
        if path in table.values():  # a registered option whose optional extra is missing
            raise MissingExtra(
                f"{kind}={short_name(target, kind)} needs a package that is not installed "
                f"({exc}); install the optional extras with the README's install command"
            ) from None
        raise BadInput(f"{kind}._target_={target!r} cannot be imported ({exc})") from None
    except (AttributeError, ValueError) as exc:
        raise BadInput(f"{kind}._target_={target!r} cannot be imported ({exc})") from None


def name_of(cls: Any, kind: str = "index") -> str:
    """The registry name of a class (or loader), or its dotted path when it is not registered."""
    for name in TABLES[kind]:
        try:
            if resolve(name, kind) is cls:
                return name
        except ImportError:  # an optional extra that is not installed
            continue
    return f"{cls.__module__}.{cls.__qualname__}"


def short_name(target: str, kind: str = "index") -> str:
    """A readable name for a ``_target_``: its registry name, else its last dotted part."""
    table = TABLES[kind]
    if target in table:
        return target
    for name, registered in table.items():
        if registered == target:
            return name
    return str(target).rsplit(".", 1)[-1]


def _split(node: Mapping[str, Any], kind: str) -> tuple[Any, dict[str, Any]]:
    params = dict(node)
    target = params.pop("_target_", None)
    if not target:
        raise BadInput(
            f"the {kind} option has no _target_; valid: one of {', '.join(TABLES[kind])}"
        )
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


def dataset_loader(node: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
    """The dataset option's loader and its checked keyword arguments (nothing is loaded)."""
    fn, params = _split(node, "dataset")
    return fn, check_call(fn, params, prefix="dataset")
