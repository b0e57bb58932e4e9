"""The row schema: what identifies a measurement and the columns every row of a job shares.

A row names its whole configuration: every leaf of the resolved ``dataset`` and ``encoder``
options (``dataset_<key>``, ``encoder_<key>``; nested keys joined with ``_``), the index's
build parameters (``build_<key>``, from the built index, so derived values such as a faiss
``nlist`` appear as they ran) and the knobs of its operating point (``search_<knob>``), the
content digest of every input file the options point at (``digest_<group>_<key>``), the code
state (``git_sha``, ``git_dirty``, ``git_diff_sha``) and library versions. ``config_id`` hashes
all of that except where rows go, so the resume check sees any change that could move a number.

The results table itself (checks, locking, appending) is :mod:`bench.table`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import uuid
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from lookup.provenance import file_digest, git_state, library_versions, machine
from lookup.registry import short_name

SCHEMA_VERSION = 2
# Top-level keys that do not change what a job measures.
NOT_IDENTITY = ("results", "force", "hydra", "cache_dir", "target_recall")
# Option keys that do not change what a job measures (where caches live).
_NOT_IDENTITY_LEAVES = ("cache_dir",)
SETTINGS = (
    "k",
    "metric",
    "eps",
    "seed",
    "threads",
    "mode",
    "warmup",
    "passes",
    "repeats",
    "max_queries",
)
OPTION_GROUPS = ("dataset", "encoder", "index")


def plain(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as plain Python (no OmegaConf nodes), without ``hydra``."""
    out = {}
    for key in cfg:
        if key == "hydra":
            continue
        value = cfg[key]
        out[key] = (
            OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
        )
    return out


def flatten(prefix: str, mapping: Mapping[str, Any] | None) -> dict[str, Any]:
    """Leaves of a nested mapping as ``<prefix>_<key>[_<subkey>]`` columns; lists as JSON text;
    ``_target_`` and cache locations left out."""
    out: dict[str, Any] = {}
    for key, value in (mapping or {}).items():
        if key == "_target_" or key in _NOT_IDENTITY_LEAVES:
            continue
        name = f"{prefix}_{key}"
        if isinstance(value, Mapping):
            out.update(flatten(name, value))
        elif isinstance(value, (list, tuple)):
            out[name] = json.dumps(list(value))
        else:
            out[name] = value
    return out


def _looks_like_path(value: Any) -> bool:
    return isinstance(value, str) and ("/" in value or "." in value) and os.path.exists(value)


def input_digests(options: Mapping[str, Any]) -> dict[str, str]:
    """``digest_<group>_<key>``: content digest of every file or folder an option points at."""
    out = {}
    for group in OPTION_GROUPS:
        for name, value in flatten(group, options.get(group)).items():
            if _looks_like_path(value):
                out[f"digest_{name}"] = file_digest(value)
    return out


def identity(cfg: DictConfig) -> dict[str, Any]:
    """What determines a job's measurements, as plain data (hashed into ``config_id``)."""
    options = plain(cfg)
    ident = {k: v for k, v in options.items() if k not in NOT_IDENTITY}
    for group in OPTION_GROUPS:
        if isinstance(ident.get(group), Mapping):
            ident[group] = {k: v for k, v in ident[group].items() if k not in _NOT_IDENTITY_LEAVES}
    ident["digests"] = input_digests(options)
    ident.update(git_state())
    ident.update(library_versions())
    return ident


def config_id(cfg: DictConfig) -> str:
    """A stable 12-hex id of :func:`identity`: the resume key of the results table."""
    blob = json.dumps(identity(cfg), sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def hydra_info() -> dict[str, str]:
    """Choices, overrides and launcher of the running Hydra job ('' outside one)."""
    empty = {f"choice_{g}": "" for g in (*OPTION_GROUPS, "experiment")}
    empty.update(overrides="", launcher="")
    try:
        from hydra.core.hydra_config import HydraConfig

        hc = HydraConfig.get()
    except (ImportError, ValueError):
        return empty
    choices = hc.runtime.choices
    out = {f"choice_{g}": str(choices.get(g) or "") for g in (*OPTION_GROUPS, "experiment")}
    out.update(
        overrides=" ".join(hc.overrides.task),
        launcher=str(choices.get("hydra/launcher") or "basic"),
    )
    return out


def option_name(cfg: DictConfig, group: str) -> str:
    """The ``<group>=`` choice of the running Hydra job, else the registry name of the
    option's ``_target_`` ("none" when it has none)."""
    choice = hydra_info().get(f"choice_{group}")
    if choice:
        return choice
    node = cfg.get(group)
    if not node or node.get("_target_") is None:
        return "none"
    return short_name(node._target_, "encoder" if group == "encoder" else "index")


def base_row(cfg: DictConfig, cid: str | None = None) -> dict[str, Any]:
    """Columns every row of a job shares: identity, provenance, settings, option parameters."""
    options = plain(cfg)
    row: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run_id": uuid.uuid4().hex[:12],
        "config_id": cid or config_id(cfg),
        "timestamp_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    row.update(git_state())
    row.update(machine())
    row.update(hydra_info())
    row.update(library_versions())
    for key in SETTINGS:
        if key in cfg:
            row[key] = cfg[key]
    row.update(flatten("dataset", options.get("dataset")))
    row.update(flatten("encoder", options.get("encoder")))
    row.update(input_digests(options))
    return row
