"""Per-query results kept beside a results table, so any metric can be recomputed later.

For every measured job the raw arrays go to ``<table>.perquery/<config_id>-<run_id>.npz``
(atomic, written before the job's rows are appended, so a row never exists without them):

- the truth: exact distances and ids (``truth_D``, ``truth_I``), labels, query groups, and the
  scalars ``k``, ``atol``, ``eps`` in the meta;
- per operating point ``p<i>`` and repeat: the returned ids (``p<i>_I``, (R, nq, k)), the
  harness's distances of them (``p<i>_D``), per-query latencies (``p<i>_lat``, (R, nq), single
  mode) and each timed pass's total seconds (``p<i>_total``), with the point's knobs.

:func:`rescore` recomputes every metric column of stored rows from these arrays with the
metric table (:func:`lookup.schema.evaluate`), the same code that wrote them.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from lookup import schema
from lookup.errors import BadPath
from lookup.io import atomic_path, open_regular, resolve_output

log = logging.getLogger(__name__)

FORMAT = 1
SUFFIX = ".perquery"


def folder_of(table: str | os.PathLike) -> Path:
    """The sidecar folder of a results table: ``<table>.perquery`` beside the table's real
    file (symlinks followed, as the table's rows and locks are), so every path to one table
    finds the same arrays."""
    p = resolve_output(table)
    return p.with_name(p.name + SUFFIX)


def path_of(table: str | os.PathLike, config_id: str, run_id: str) -> Path:
    """Where the arrays of one measured job (one ``run_id``) live."""
    return folder_of(table) / f"{config_id}-{run_id}.npz"


def _ids(a: np.ndarray) -> np.ndarray:
    return a.astype(np.int32) if a.size == 0 or a.max(initial=-1) < 2**31 - 1 else a


def save(path: str | os.PathLike, result: Any, *, seed: int, kind: str = "job") -> Path:
    """Write a :class:`lookup.experiment.Result`'s arrays to ``path`` atomically."""
    t = result.truth
    arrays: dict[str, np.ndarray] = {"truth_D": t.D, "truth_I": _ids(np.asarray(t.I))}
    if t.ref is not None:  # the float32 reference truth of a compressed code
        arrays.update(ref_D=t.ref.D, ref_I=_ids(np.asarray(t.ref.I)))
    if t.has_labels:
        arrays["db_labels"] = np.asarray(t.db_labels).astype(str)
        arrays["query_labels"] = np.asarray(t.query_labels).astype(str)
    if result.query_groups is not None:
        arrays["query_groups"] = np.asarray(result.query_groups).astype(str)
    points = []
    for i, p in enumerate(result.points):
        arrays[f"p{i}_I"] = _ids(np.stack([a.I for a in p.answers]))
        arrays[f"p{i}_D"] = np.stack([a.D for a in p.answers])  # as scored (float64)
        arrays[f"p{i}_total"] = np.array([a.total_s for a in p.answers])
        if p.answers[0].latencies_s is not None:
            arrays[f"p{i}_lat"] = np.stack([a.latencies_s for a in p.answers])
        if p.answers[0].D_ref is not None:
            arrays[f"p{i}_Dref"] = np.stack([a.D_ref for a in p.answers])
        points.append({"params": p.params, "threads_search": p.threads_search})
    meta = {"format": FORMAT, "k": t.k, "atol": t.atol, "eps": t.eps, "seed": seed, "kind": kind}
    if t.ref is not None:
        meta["ref_atol"] = t.ref.atol
    meta["points"] = points
    path = Path(path)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, __meta__=np.array(json.dumps(meta, default=str)), **arrays)
    return path


def load(path: str | os.PathLike) -> tuple[schema.Truth, list[dict], dict, np.ndarray | None]:
    """(truth, points, meta, query groups) of a sidecar file; each point is
    ``{"params": ..., "answers": [Answer per repeat]}``. A path that is not a regular file, or a
    file that is not a sidecar this harness wrote (damaged, cut, another kind), is one BadPath
    naming it."""
    with open_regular(None, path) as f:
        try:
            return _load(f)
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
            raise BadPath(
                f"{path} is not a per-query sidecar this harness can read "
                f"({type(exc).__name__}: {exc}); valid: an .npz written by bench"
            ) from None


def _load(f) -> tuple[schema.Truth, list[dict], dict, np.ndarray | None]:
    with np.load(f, allow_pickle=False) as z:
        meta = json.loads(str(z["__meta__"]))
        labels = (z["db_labels"], z["query_labels"]) if "db_labels" in z.files else (None, None)
        truth = schema.Truth(
            z["truth_D"],
            z["truth_I"].astype(np.int64),
            int(meta["k"]),
            float(meta["atol"]),
            float(meta["eps"]),
            *labels,
        )
        if "ref_D" in z.files:
            ref = schema.Truth(
                z["ref_D"], z["ref_I"].astype(np.int64), int(meta["k"]), float(meta["ref_atol"])
            )
            truth = replace(truth, ref=ref)
        groups = z["query_groups"] if "query_groups" in z.files else None
        points = []
        for i, info in enumerate(meta["points"]):
            ids, dist, total = z[f"p{i}_I"].astype(np.int64), z[f"p{i}_D"], z[f"p{i}_total"]
            lat = z[f"p{i}_lat"] if f"p{i}_lat" in z.files else None
            dref = z[f"p{i}_Dref"] if f"p{i}_Dref" in z.files else None
            answers = [
                schema.Answer(
                    ids[r],
                    dist[r],
                    None if lat is None else lat[r],
                    float(total[r]),
                    None if dref is None else dref[r],
                )
                for r in range(len(ids))
            ]
            points.append({**info, "answers": answers})
    return truth, points, meta, groups


def _point_of(row: dict[str, Any], points: list[dict]) -> dict | None:
    """The stored point of a row: by its ``point_index`` column."""
    try:
        i = int(float(row.get("point_index")))
    except (TypeError, ValueError):
        return None
    return points[i] if 0 <= i < len(points) else None


def rescore_rows(rows: list[dict[str, Any]], table: str | os.PathLike) -> list[dict[str, Any]]:
    """Every metric column of ``rows`` (one job's rows: one config_id and run_id) recomputed
    from its sidecar; a row whose sidecar is missing is returned unchanged with
    ``rescored=False``."""
    if not rows:
        return []
    cid, run = rows[0].get("config_id"), rows[0].get("run_id")
    path = path_of(table, str(cid), str(run))
    if not path.is_file():
        return [dict(r, rescored=False) for r in rows]
    try:
        truth, points, meta, groups = load(path)
    except BadPath as exc:  # one unreadable sidecar: its rows stay as they are, said once
        log.warning("%s; its %d rows are kept unrescored", exc, len(rows))
        return [dict(r, rescored=False) for r in rows]
    out = []
    for row in rows:
        point = _point_of(row, points)
        if point is None:
            out.append(dict(row, rescored=False))
            continue
        t, answers = truth, point["answers"]
        group = row.get("query_group")
        if isinstance(group, str) and group and group != "all" and groups is not None:
            sel = np.flatnonzero(groups == group)
            t, answers = truth.subset(sel), [a.subset(sel) for a in answers]
        values = schema.evaluate(t, answers, kind=meta.get("kind", "job"), seed=int(meta["seed"]))
        out.append({**row, **values, "rescored": True})
    return out
