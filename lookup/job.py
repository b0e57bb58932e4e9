"""A job as typed values: what to measure, made once (from the config by ``bench``, or by hand
from Python) and handed to the engine (:mod:`lookup.experiment`).

- :class:`Settings`: how it is measured (k, metric, seed, threads, mode, repeats, ...),
  validated on construction;
- :class:`Option`: one configured option (dataset, encoder or index) as plain data, its
  ``_target_`` and keyword arguments, and the name it was chosen by;
- :class:`Job`: the three options, the index's search-knob grid, the settings, the cache
  folder, the row kind and its kind-specific options.

:func:`check` validates a job before any work (every value against the real signatures, the
knob grid against the backend); :func:`config_id` is the resume key (everything that could
move a number: options, settings, input file contents, code state, library versions);
:func:`base_row` holds the columns every row of a job shares.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from lookup import registry
from lookup.codes import Codes
from lookup.distances import METRICS
from lookup.errors import BadInput
from lookup.params import check_range
from lookup.protocols import MODES
from lookup.provenance import file_digest, git_state, library_versions, machine
from lookup.schema import SCHEMA_VERSION

# The largest seed every library here accepts (faiss and annoy take a C int).
SEED_MAX = 2**31 - 1
# Option keys that do not change what a job measures (where caches live).
NOT_IDENTITY = ("cache_dir",)
GROUPS = ("dataset", "encoder", "index")


@dataclass(frozen=True)
class Settings:
    """How a job measures: the top-level keys of ``conf/config.yaml``. Checked on construction
    (one-line BadInput naming the key)."""

    k: int = 10
    metric: str = "cosine"
    eps: float = 1e-3
    seed: int = 0
    threads: int = 1
    mode: str = "single"
    warmup: int = 10
    passes: int = 3
    repeats: int = 1
    max_queries: int | None = None

    def __post_init__(self) -> None:
        check_range("", "k", self.k, minimum=1)
        check_range("", "metric", self.metric, choices=METRICS)
        check_range("", "mode", self.mode, choices=MODES)
        check_range("", "eps", self.eps, minimum=0.0)
        check_range("", "seed", self.seed, minimum=0, maximum=SEED_MAX)
        for key in ("threads", "passes", "repeats"):
            check_range("", key, getattr(self, key), minimum=1)
        check_range("", "warmup", self.warmup, minimum=0)
        if self.max_queries is not None:
            check_range("", "max_queries", self.max_queries, minimum=1)

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


@dataclass(frozen=True)
class Option:
    """One option as plain data: ``params`` holds ``_target_`` and the keyword arguments;
    ``name`` is how the user chose it (``rnn02``, ``faiss_ivf``), used in rows and summaries."""

    name: str
    params: Mapping[str, Any]

    @property
    def target(self) -> str:
        return str(self.params.get("_target_", ""))

    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments (``_target_`` and ``search`` left out)."""
        return {k: v for k, v in self.params.items() if k not in ("_target_", "search")}


@dataclass(frozen=True)
class Job:
    """Everything the engine needs, as values. ``grid`` is the list of search-knob points
    measured on one built index (``({},)`` when the backend has no knobs); ``options`` holds
    kind-specific settings (the probe's word lists, ...) and is part of the identity;
    ``labels`` are columns that describe a row without identifying it (Hydra choices,
    overrides, launcher)."""

    dataset: Option
    encoder: Option | None
    index: Option | None
    settings: Settings = field(default_factory=Settings)
    cache_dir: str = ".cache/lookup"
    grid: tuple[Mapping[str, Any], ...] = ({},)
    kind: str = "job"
    options: Mapping[str, Any] = field(default_factory=dict)
    labels: Mapping[str, Any] = field(default_factory=dict)
    codes: Codes = field(default_factory=Codes)  # encoder.output / encoder.truncate_dim


def backend_knobs(point: Mapping[str, Any]) -> dict[str, Any]:
    """A grid point's knobs for the backend (``rescore`` is the harness's own knob)."""
    return {k: v for k, v in point.items() if k != "rescore"}


def rescore_factor(point: Mapping[str, Any]) -> int:
    """The point's ``rescore`` factor r (1: no rescoring); one-line BadInput when invalid."""
    r = point.get("rescore", 1)
    if not isinstance(r, int) or isinstance(r, bool) or r < 1:
        raise BadInput(
            f"index.search.rescore={r!r} is invalid; valid: an integer >= 1 (fetch r*k "
            "candidates from the codes, re-rank them with the float32 vectors; 1: off)"
        )
    return r


@dataclass(frozen=True)
class Checked:
    """What :func:`check` built while validating: reused so nothing is constructed twice."""

    loader: Any
    loader_params: dict[str, Any]
    encoder_spec: Any | None


def make_index(job: Job, metric: str, *, seed_offset: int = 0) -> Any:
    """The index option as a constructed (unbuilt) index; ``seed_offset`` shifts a ``seed``
    build parameter (repeats build with seed, seed+1, ...)."""
    if job.index is None:
        raise BadInput("this job has no index option; valid: index=<one of the index options>")
    node = dict(job.index.params)
    seed = node.get("seed")
    if isinstance(seed, int) and not isinstance(seed, bool):
        node["seed"] = seed + seed_offset
    return registry.make_index(node, metric=metric)


def check(job: Job) -> Checked:
    """Validate every value of ``job`` before any work; one-line BadInput otherwise."""
    if not isinstance(job.cache_dir, str) or not job.cache_dir or os.path.isfile(job.cache_dir):
        raise BadInput(
            f"cache_dir={job.cache_dir!r} is invalid; valid: a folder path (made if missing)"
        )
    if job.index is not None:
        metric = job.codes.metric(job.settings.metric)
        try:
            index = make_index(job, metric)
        except BadInput:
            if metric != "hamming":
                raise
            raise BadInput(
                f"index={job.index.name} cannot search binary codes (encoder.output=binary is "
                "searched by Hamming distance); valid: index=faiss_bflat, faiss_bhnsw or "
                "faiss_bivf, or another encoder.output"
            ) from None
        for point in job.grid:
            rescore_factor(point)
            index.set_search_params(**backend_knobs(point))
    spec = None
    if job.encoder is not None:
        spec = registry.make_encoder_spec(job.encoder.params)
    loader, params = registry.dataset_loader(job.dataset.params)
    return Checked(loader, params, spec)


# ----------------------------------------------------------------------------- identity
def flatten(prefix: str, mapping: Mapping[str, Any] | None) -> dict[str, Any]:
    """Leaves of a nested mapping as ``<prefix>_<key>[_<subkey>]`` columns; lists as JSON text;
    ``_target_`` and cache locations left out."""
    out: dict[str, Any] = {}
    for key, value in (mapping or {}).items():
        if key == "_target_" or key in NOT_IDENTITY:
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


def input_digests(job: Job) -> dict[str, str]:
    """``digest_<group>_<key>``: content digest of every file or folder an option points at."""
    out = {}
    for group in GROUPS:
        option = getattr(job, group)
        if option is None:
            continue
        for name, value in flatten(group, option.kwargs()).items():
            if _looks_like_path(value):
                key = f"{group}.{name.removeprefix(group + '_')}"
                out[f"digest_{name}"] = file_digest(value, key=key)
    return out


def _plain_option(option: Option | None) -> dict[str, Any] | None:
    if option is None:
        return None
    return {k: v for k, v in option.params.items() if k not in NOT_IDENTITY}


def identity(job: Job) -> dict[str, Any]:
    """What determines a job's measurements, as plain data (hashed into :func:`config_id`)."""
    index = _plain_option(job.index)
    if index is not None:
        index = {**{k: v for k, v in index.items() if k != "search"}, "grid": list(job.grid)}
    ident: dict[str, Any] = {
        "kind": job.kind,
        "settings": asdict(job.settings),
        "dataset": _plain_option(job.dataset),
        "encoder": _plain_option(job.encoder),
        "index": index,
        "options": dict(job.options),
        "codes": asdict(job.codes),
        "digests": input_digests(job),
    }
    ident.update(git_state())
    ident.update(library_versions())
    return ident


def config_id(job: Job) -> str:
    """A stable 12-hex id of :func:`identity`: the resume key of the results table."""
    blob = json.dumps(identity(job), sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def base_row(job: Job, cid: str | None = None) -> dict[str, Any]:
    """Columns every row of a job shares: identity, provenance, settings, option parameters."""
    row: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "row_kind": job.kind,
        "run_id": uuid.uuid4().hex[:12],
        "config_id": cid or config_id(job),
        "timestamp_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    row.update(git_state())
    row.update(machine())
    labels = {f"choice_{g}": getattr(job, g).name if getattr(job, g) else "" for g in GROUPS}
    row.update({**labels, "choice_experiment": "", "overrides": "", "launcher": ""})
    row.update(job.labels)
    row.update(library_versions())
    row.update(asdict(job.settings))
    row.update(flatten("dataset", job.dataset.kwargs()))
    if job.encoder is not None:
        row.update(flatten("encoder", job.encoder.kwargs()))
    row.update(input_digests(job))
    return row
