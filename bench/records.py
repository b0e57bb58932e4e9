"""Result rows: the schema's fixed columns and a table that many jobs can append to safely."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import logging
import os
import platform
import subprocess
import tempfile
import uuid
from collections.abc import Iterable
from functools import cache
from importlib import metadata
from pathlib import Path

from filelock import FileLock
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
# Keys of the composed config that do not change what a job measures.
_NOT_IDENTITY = ("results", "force", "hydra")
_LIBRARIES = ("lookup", "torch", "numpy", "faiss-cpu", "hnswlib", "annoy", "hydra-core")


def config_id(cfg: DictConfig) -> str:
    """A stable id of what determines a job's measurements: the resolved config (less where
    rows go), the code's git SHA and the library versions. Files changed in place at the same
    path are not seen: rerun those with force=true."""
    ident = {
        k: OmegaConf.to_container(cfg[k], resolve=True) if OmegaConf.is_config(cfg[k]) else cfg[k]
        for k in cfg
        if k not in _NOT_IDENTITY
    }
    ident.update(_versions(), git_sha=_git_sha())
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:12]


@cache
def _git_sha() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).parent,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@cache
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@cache
def _versions() -> dict[str, str]:
    out = {"version_python": platform.python_version()}
    for lib in _LIBRARIES:
        try:
            out[f"version_{lib.replace('-', '_')}"] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[f"version_{lib.replace('-', '_')}"] = ""
    return out


def _hydra_info() -> dict[str, str]:
    """Choices, overrides and launcher of the running Hydra job ('' outside one)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        hc = HydraConfig.get()
    except (ImportError, ValueError):
        return {
            "choice_dataset": "",
            "choice_encoder": "",
            "choice_index": "",
            "choice_experiment": "",
            "overrides": "",
            "launcher": "",
        }
    choices = hc.runtime.choices
    launcher = str(choices.get("hydra/launcher") or "basic")
    return {
        "choice_dataset": str(choices.get("dataset") or ""),
        "choice_encoder": str(choices.get("encoder") or ""),
        "choice_index": str(choices.get("index") or ""),
        "choice_experiment": str(choices.get("experiment") or ""),
        "overrides": " ".join(hc.overrides.task),
        "launcher": launcher,
    }


def base_row(cfg: DictConfig) -> dict:
    """Columns every row of a job shares: identity, provenance and the run's settings."""
    row = {
        "schema_version": SCHEMA_VERSION,
        "run_id": uuid.uuid4().hex[:12],
        "config_id": config_id(cfg),
        "timestamp_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_sha": _git_sha(),
        "cpu_model": _cpu_model(),
        "host_cpus": os.cpu_count(),
    }
    row.update(_hydra_info())
    row.update(_versions())
    for key in ("k", "metric", "eps", "seed", "threads", "mode", "warmup", "passes"):
        if key in cfg:
            row[key] = cfg[key]
    return row


def read_rows(table: str | Path) -> list[dict]:
    """All rows of a table as dicts of strings (empty list when there is no table)."""
    path = Path(table)
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def has_config(table: str | Path, cid: str) -> bool:
    """Whether the table already holds rows of this configuration (resume after a crash)."""
    return any(r.get("config_id") == cid for r in read_rows(table))


def append_rows(table: str | Path, rows: Iterable[dict]) -> None:
    """Append rows to a CSV table under a file lock; new columns widen the whole table.

    The file is replaced atomically (temp file + rename), so a reader or a crash never sees a
    half-written table, and jobs finishing at once cannot interleave their rows.
    """
    rows = list(rows)
    if not rows:
        return
    path = Path(table)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        old: list[dict] = []
        header: list[str] = []
        if path.exists():
            with path.open(newline="") as f:
                reader = csv.DictReader(f)
                old = list(reader)
                header = list(reader.fieldnames or [])
        for row in rows:
            header += [key for key in row if key not in header]
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=header, restval="")
                writer.writeheader()
                writer.writerows(old)
                writer.writerows(rows)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    log.info("wrote %d rows to %s", len(rows), path)
