"""`python -m bench workload=runbook|refresh ...`: the workloads beside the default search job.

- ``workload=runbook runbook=churn|grow|file``: the index lives through a runbook's steps
  (:mod:`lookup.runbook`); ``workload.rebuild=true`` is the control, rebuilt from scratch on
  the live ids at every checkpoint. One row per checkpoint x search knob point (row kind
  ``runbook``).
- ``workload=refresh refresh=seed|epochs``: an index of the encoder's database vectors
  against a retrained checkpoint (:mod:`lookup.refresh`); ``refresh.encoder.<key>=...``
  changes what the retrained checkpoint changes. One row per setup x knob point (row kind
  ``refresh``).

The resume rule is the one of every job (:func:`bench.table.measure_once`): a
configuration's rows are appended all at once when its runbook (or refresh) has finished,
so a run killed half-way leaves nothing in the table and its rerun measures it whole; a
finished configuration is not measured again (``force=true`` does).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from omegaconf import DictConfig

from bench import table
from bench.jobs import job_of, plain, storing_of
from lookup import refresh, runbook
from lookup.errors import BadInput
from lookup.job import Job, check, config_id
from lookup.params import check_call

KINDS = ("search", "runbook", "refresh")


@dataclass(frozen=True)
class Workload:
    """The ``workload`` node: which workload, and (runbooks) whether to rebuild instead."""

    kind: str = "search"
    rebuild: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise BadInput(f"workload.kind={self.kind!r} is invalid; valid: {', '.join(KINDS)}")
        if self.rebuild and self.kind != "runbook":
            raise BadInput("workload.rebuild=true is only for workload=runbook")


def workload_of(cfg: DictConfig) -> Workload:
    """The workload of a config (the default search job when it has none); a runbook or
    refresh option without its workload is refused (it would be ignored)."""
    node = plain(cfg.get("workload")) or {}
    if not isinstance(node, dict):
        raise BadInput(f"workload={node!r} is invalid; valid: search, runbook or refresh")
    work = Workload(**check_call(Workload, node, prefix="workload"))
    for group in ("runbook", "refresh"):
        if cfg.get(group) is not None and work.kind != group:
            raise BadInput(
                f"{group} is set but workload={work.kind}; valid: workload={group} {group}=..."
            )
    return work


def _choice(group: str) -> str:
    try:
        from hydra.core.hydra_config import HydraConfig

        return str(HydraConfig.get().runtime.choices.get(group) or "")
    except (ImportError, ValueError):
        return ""


def runbook_job(cfg: DictConfig) -> Job:
    """The typed runbook job: the runbook's steps and the rebuild flag in ``options`` (its
    identity), the runbook's name (or file) as the ``runbook`` column."""
    node = plain(cfg.get("runbook"))
    rb = runbook.runbook_of(node)
    options = {"runbook": rb.as_dict(), "rebuild": workload_of(cfg).rebuild}
    job = job_of(cfg, kind="runbook", options=options)
    name = _choice("runbook") or "custom"
    if isinstance(node, dict) and node.get("path"):
        name = f"file:{node['path']}"
    return replace(job, labels={**job.labels, "runbook": name})


def refresh_job(cfg: DictConfig) -> Job:
    """The typed refresh job: the encoder keys the retrained checkpoint changes in
    ``options``; the preset's name as the ``refresh`` column."""
    node = plain(cfg.get("refresh")) or {}
    unknown = [k for k in node if k != "encoder"]
    if unknown:
        raise BadInput(f"refresh.{unknown[0]} is not a refresh key; valid: encoder")
    job = job_of(cfg, kind="refresh", options={"refresh": {"encoder": node.get("encoder")}})
    return replace(job, labels={**job.labels, "refresh": _choice("refresh") or "custom"})


def run_workload(cfg: DictConfig) -> list[dict]:
    """Run the runbook or refresh job of ``cfg`` under the resume rule; returns its rows
    (the stored ones, each marked ``_stored``, when it was measured before)."""
    kind = workload_of(cfg).kind
    if kind == "runbook":
        job = runbook_job(cfg)
        checked = check(job)
        runbook.check_runbook(job)
        engine = runbook.measure
    elif kind == "refresh":
        job = refresh_job(cfg)
        checked = check(job)
        refresh.check_refresh(job)
        engine = refresh.measure
    else:
        raise BadInput("run_workload runs workload=runbook or refresh; search is python -m bench")
    storing = storing_of(cfg)
    path = cfg.results.table
    table.check_table(path)
    cid = config_id(job)
    return table.measure_once(path, cid, lambda: engine(job, cid, checked), force=storing.force)


def _cell(value: Any, spec: str) -> str:
    if value is None or value == "":
        return "-"
    try:
        return spec.format(float(value))
    except (TypeError, ValueError):
        return str(value)


_RUNBOOK_COLUMNS = (
    ("generation", "gen", "{:.0f}"),
    ("n_live", "live", "{:.0f}"),
    ("recall_at_k", "recall", "{:.4f}"),
    ("knn_acc", "knn_acc", "{:.4f}"),
    ("qps", "qps", "{:.0f}"),
    ("latency_p99_ms", "p99_ms", "{:.4f}"),
    ("insert_per_s", "insert/s", "{:.0f}"),
    ("delete_per_s", "delete/s", "{:.0f}"),
    ("upkeep_s_total", "upkeep_s", "{:.2f}"),
    ("index_bytes", "MB", "{:.2f}"),
)
_REFRESH_COLUMNS = (
    ("refresh_setup", "setup", "{}"),
    ("recall_at_k", "recall", "{:.4f}"),
    ("knn_acc", "knn_acc", "{:.4f}"),
    ("knn_acc_exact", "knn_exact", "{:.4f}"),
    ("qps", "qps", "{:.0f}"),
    ("encode_db_s", "encode_db_s", "{:.2f}"),
    ("build_s", "build_s", "{:.2f}"),
)


def summary(rows: list[dict]) -> str:
    """The rows as an aligned table (knobs first), for the terminal."""
    kind = rows[0].get("row_kind", "runbook")
    cols = _RUNBOOK_COLUMNS if kind == "runbook" else _REFRESH_COLUMNS
    knobs = [c for c in rows[0] if c.startswith("search_")]
    header = [c.removeprefix("search_") for c in knobs] + [h for _, h, _ in cols]
    body = []
    for r in rows:
        cells = [_cell(r.get(c), "{:g}") for c in knobs]
        for col, _, spec in cols:
            v = r.get(col)
            if col == "index_bytes" and v not in (None, ""):
                v = float(v) / 1e6
            cells.append(_cell(v, spec))
        body.append(cells)
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(b, widths, strict=True)) for b in body]
    first = rows[0]
    head = f"{first.get('dataset')} | {first.get('encoder')} | {first.get('index')}"
    if kind == "runbook":
        head += f" | runbook {first.get('runbook')} ({first.get('maintenance')})"
    else:
        head += f" | refresh: {first.get('refresh_encoder')}"
    return "\n".join([head, *lines])


def job(cfg: DictConfig) -> None:
    """Run the workload and print its rows (bench/__main__ hands runbook and refresh here)."""
    rows = run_workload(cfg)
    if rows and rows[0].get("_stored"):
        print(
            f"already measured (config_id {rows[0]['config_id']}); stored rows from "
            f"{cfg.results.table} (force=true measures again):",
            flush=True,
        )
    if rows:
        print(summary(rows), flush=True)
