"""Encoder refresh: the encoder is retrained and the index still holds the old checkpoint's
database vectors. What does a user lose by not re-encoding and rebuilding, and what would
rebuilding cost?

The job's encoder is the **old** checkpoint; ``refresh.encoder`` names the keys the retrained
(**new**) checkpoint changes (another seed, twice the epochs, more training names). Both are
trained or loaded from the cache by the usual prelude (:func:`lookup.experiment.prepare`).
Truth is exact search over the new checkpoint's database vectors with the new checkpoint's
queries: what the user would get after refreshing. Three setups are scored against it, each
at every search knob point (:data:`SETUPS`):

- ``stale``: the old index (old database vectors) searched with the new encoder's queries
  (the encoder was swapped but the index was not; needs equal dimensions);
- ``kept``: the old index searched with the old encoder's queries (nothing refreshed);
- ``rebuilt``: the database re-encoded with the new encoder and the index rebuilt.

Every answer is scored in the new space (the harness recomputes the distances of the
returned ids from the new vectors), so recall compares like with like; kNN accuracy uses the
returned ids' labels. The price of ``rebuilt`` is on every row: ``refresh_encode_db_s``
(re-encoding the database) and ``refresh_build_s`` (building the new index), their sum
``refresh_cost_s``; each row's own ``encode_db_s`` and ``build_s`` are those of the vectors
and index it searched.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from lookup import registry, schema
from lookup.distances import check_ids, recompute_distances
from lookup.errors import BadInput
from lookup.experiment import Prepared, job_columns, prepare, truth_of
from lookup.job import Checked, Job, Option, backend_knobs, check, flatten, make_index
from lookup.provenance import load_average
from lookup.runbook import float_vectors_only
from lookup.timing import BuildStats, measure_build, run_queries

log = logging.getLogger(__name__)

SETUPS = ("stale", "kept", "rebuilt")


def new_encoder(job: Job, changes: Mapping[str, Any] | None) -> Option:
    """The retrained checkpoint: the job's encoder option with ``changes`` applied; one-line
    BadInput for no change or a job without an encoder (:func:`check_refresh` checks the
    values against the encoder's signature)."""
    if job.encoder is None:
        raise BadInput("workload=refresh needs an encoder; valid: a text dataset and encoder=...")
    if not isinstance(changes, Mapping) or not changes:
        raise BadInput(
            f"refresh.encoder={changes!r} is invalid; valid: the encoder keys the retrained "
            "checkpoint changes, e.g. refresh=seed (seed: 1) or refresh=epochs (epochs: 20)"
        )
    old = dict(job.encoder.params)
    for key in ("_target_", "cache_dir"):
        if key in changes:
            raise BadInput(f"refresh.encoder.{key} cannot change; valid: the encoder's settings")
    new = {**old, **changes}
    if new == old:
        raise BadInput(
            f"refresh.encoder={dict(changes)} changes nothing in encoder={job.encoder.name}; "
            "valid: a value that differs from the current one"
        )
    label = " ".join(f"{k}={v}" for k, v in changes.items())
    return Option(f"{job.encoder.name} {label}", new)


def check_refresh(job: Job) -> tuple[Job, Checked]:
    """The new checkpoint's job, validated before any work (the encoder spec checks its
    values); repeats must be 1."""
    if job.settings.repeats != 1:
        raise BadInput(f"repeats={job.settings.repeats} is invalid; valid: 1 with workload=refresh")
    float_vectors_only(job, "refresh")
    new_job = replace(job, encoder=new_encoder(job, job.options.get("refresh", {}).get("encoder")))
    registry.make_encoder_spec(new_job.encoder.params, prefix="refresh.encoder")  # its key names
    return new_job, check(new_job)


def _built(job: Job, prep: Prepared) -> tuple[Any, BuildStats]:
    index = make_index(job, prep.metric)
    stats = measure_build(index, prep.vectors.xb)
    log.info(
        "built %s on %s vectors in %.2f s", type(index).__name__, job.encoder.name, stats.build_s
    )
    return index, stats


def _rows(
    job: Job, new: Prepared, truth: schema.Truth, index: Any, xq: np.ndarray, base: dict
) -> list[dict]:
    """One row per knob point: ``index`` searched with ``xq``, scored in the new space."""
    s, rows = job.settings, []
    for i, point in enumerate(job.grid):
        index.set_search_params(**backend_knobs(point))
        q = run_queries(index, xq, s.k, mode=s.mode, warmup=s.warmup, passes=s.passes)
        check_ids(q.I, len(new.vectors.xb), f"index {type(index).__name__}")
        D = recompute_distances(new.vectors.xb, new.vectors.xq, q.I, new.metric)
        answer = schema.Answer(q.I, D, q.latencies_s, q.total_s)
        row = dict(base, point_index=i, load_avg_1m=load_average())
        row.update({f"search_{k}": v for k, v in index.search_params().items()})
        row["threads_search"] = index.threads_used(s.mode)["search"]
        row.update(schema.evaluate(truth, [answer], kind="refresh", seed=s.seed))
        rows.append(row)
    return rows


def _columns(job: Job, new_job: Job, new: Prepared, build: BuildStats) -> dict[str, Any]:
    """What every row of a refresh shares about the new checkpoint and its cost."""
    changes = job.options["refresh"]["encoder"]
    cols = flatten("refresh_encoder", changes)
    cols.update(
        refresh_encoder=new_job.encoder.name,
        refresh_encoder_fingerprint=new.vectors.encoder_fingerprint,
        refresh_encode_db_s=new.vectors.encode_db_s,
        refresh_build_s=build.build_s,
        refresh_cost_s=new.vectors.encode_db_s + build.build_s,
    )
    fit = {k: v for k, v in new.vectors.encoder_training.items() if isinstance(v, (int, float))}
    cols.update({f"refresh_encoder_fit_{k}": v for k, v in fit.items()})
    return cols


def measure(job: Job, cid: str | None = None, checked: Checked | None = None) -> list[dict]:
    """Run a refresh job: both checkpoints prepared, truth in the new space, the three setups
    at every knob point (``stale`` left out, with a warning, when the dimensions differ)."""
    checked = checked or check(job)
    new_job, new_checked = check_refresh(job)
    old = prepare(job, checked)
    new = prepare(new_job, new_checked)
    truth = truth_of(new_job, new)
    old_index, old_build = _built(job, old)
    new_index, new_build = _built(new_job, new)
    base = job_columns(job, old, cid)
    base.update(_columns(job, new_job, new, new_build))
    base["index"] = job.index.name if job.index is not None else ""
    cases = []
    if old.vectors.xb.shape[1] == new.vectors.xq.shape[1]:
        cases.append(("stale", old_index, old_build, old, new.vectors.xq))
    else:
        log.warning(
            "refresh: dimensions differ (%d vs %d); no stale setup",
            old.vectors.xb.shape[1],
            new.vectors.xq.shape[1],
        )
    cases += [("kept", old_index, old_build, old, old.vectors.xq)]
    cases += [("rebuilt", new_index, new_build, new, new.vectors.xq)]
    rows = []
    for setup, index, build, prep, xq in cases:
        own = dict(base, refresh_setup=setup, encode_db_s=prep.vectors.encode_db_s)
        own.update(build_s=build.build_s, index_bytes=build.index_bytes)
        own.update({f"build_{k}": v for k, v in index.build_params().items()})
        rows += _rows(job, new, truth, index, xq, own)
        log.info("refresh %s: recall %.4f", setup, rows[-1]["recall_at_k"])
    return rows
