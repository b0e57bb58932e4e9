"""Runbooks: an index that lives through inserts, deletes and replacements, measured at
checkpoints against exact search over the ids live at that moment.

A **runbook** (:class:`Runbook`, one option of ``conf/runbook/`` or a user's YAML file) says
how a database changes: the index is built on a ``start`` set, then ``generations`` times
the steps of one ``generation`` run in order. A step is ``insert: n``, ``delete: n``,
``replace: n`` (delete n live ids and insert n others, in one step) or ``search`` (a
checkpoint). An amount is a share of the database (a float in (0, 1]) or a count (an
integer). The build is always followed by a checkpoint (generation 0); the search steps of a
generation run in every ``search_every``-th generation and in the last one.

:func:`generate` turns a runbook into concrete steps for one dataset with the seed: which ids
start, which are deleted (drawn from the live ones), which are inserted (drawn from the ids
not live, so a deleted id may come back). Ids are the dataset's database rows throughout:
the index stores them, the answers return them.

:func:`measure` runs the steps on an index that changes in place
(:class:`lookup.protocols.MutableIndex`) or, with ``rebuild``, on one rebuilt from scratch on
the live rows at every checkpoint (the control; any backend). At each checkpoint and search
knob point one row: recall and kNN accuracy against exact search over the live set (the
metric table's :func:`lookup.schema.evaluate`), QPS and latency, index bytes, and the time
spent in inserts and deletes since the last checkpoint and in total. A returned id that is
not live counts as a miss (``dead_ids`` counts them).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lookup import schema
from lookup.distances import check_ids, recompute_distances, tie_floor
from lookup.errors import BadInput, MissingFile
from lookup.experiment import Prepared, job_columns, load_dataset, prepare
from lookup.index.exact import exact_knn
from lookup.job import Checked, Job, backend_knobs, check, flatten, make_index
from lookup.params import check_call, invalid
from lookup.protocols import MutableIndex
from lookup.provenance import load_average
from lookup.timing import run_queries

log = logging.getLogger(__name__)

CHANGE_STEPS = ("insert", "delete", "replace")
SEARCH = "search"
# The in-place changes each step kind needs.
_NEEDS = {"insert": {"insert"}, "delete": {"delete"}, "replace": {"insert", "delete"}}
_COUNTED = {"insert": "n_inserted", "delete": "n_deleted"}  # the count column of each change
_AMOUNT = "a share of the database in (0, 1] (a float) or a count >= 1 (an integer)"


def _amount(where: str, value: Any) -> float | int:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and isinstance(value, float):
        ok = 0 < value <= 1
    elif ok:
        ok = value >= 1
    if not ok:
        raise BadInput(f"{where}={value!r} is invalid; valid: {_AMOUNT}")
    return value


def _step(j: int, step: Any) -> tuple[str, float | int | None]:
    """One step of a generation as (kind, amount); one-line BadInput naming it otherwise."""
    where = f"runbook.generation[{j}]"
    if step == SEARCH:
        return SEARCH, None
    if isinstance(step, Mapping) and len(step) == 1:
        ((kind, amount),) = step.items()
        if kind in CHANGE_STEPS:
            return str(kind), _amount(f"{where}.{kind}", amount)
    raise BadInput(
        f"{where}={step!r} is not a runbook step; valid: search, or one of "
        f"{', '.join(f'{k}: N' for k in CHANGE_STEPS)} (N {_AMOUNT})"
    )


@dataclass(frozen=True)
class Runbook:
    """How a database changes; see the module docstring. Keys of a runbook option."""

    start: int | float = 1.0
    generations: int = 0
    generation: tuple = ()
    search_every: int = 1

    def __post_init__(self) -> None:
        _amount("runbook.start", self.start)
        for key in ("generations", "search_every"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v < (0 if key[0] == "g" else 1):
                raise invalid("runbook", key, v, f"an integer >= {0 if key[0] == 'g' else 1}")
        if isinstance(self.generation, (str, bytes, Mapping)):
            raise invalid("runbook", "generation", self.generation, "a list of steps")
        steps = tuple(_step(j, s) for j, s in enumerate(self.generation))
        object.__setattr__(self, "generation", steps)
        if self.generations and not any(kind == SEARCH for kind, _ in steps):
            raise BadInput(
                f"runbook.generation={[dict([s]) if s[1] else s[0] for s in steps]} has no "
                "search step, so no generation would be measured; valid: add - search"
            )

    def needs(self) -> frozenset[str]:
        """The in-place changes its steps need (``insert``, ``delete``)."""
        out: set[str] = set()
        for kind, _ in self.generation if self.generations else ():
            out |= _NEEDS.get(kind, set())
        return frozenset(out)

    def as_dict(self) -> dict[str, Any]:
        """Plain data in the option's own shape (what :func:`runbook_of` reads back)."""
        d = asdict(self)
        d["generation"] = [SEARCH if a is None else {k: a} for k, a in self.generation]
        return d


def read_runbook(path: str | os.PathLike) -> Runbook:
    """A runbook from a YAML file of :class:`Runbook` keys; one-line BadInput otherwise."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise MissingFile(f"runbook.path={str(path)!r}: no such file; valid: a YAML file of steps")
    try:
        node = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        line = " ".join(str(exc).split())
        raise BadInput(f"runbook.path={str(path)!r} is not valid YAML: {line}") from None
    if not isinstance(node, Mapping) or "path" in node:
        raise BadInput(
            f"runbook.path={str(path)!r} holds {type(node).__name__}; valid: a mapping of "
            "start, generations, generation, search_every"
        )
    return runbook_of(node)


def runbook_of(node: Mapping[str, Any] | None) -> Runbook:
    """The runbook of a config node: its keys are :class:`Runbook`'s, or ``path`` names a
    YAML file of them."""
    if node is None:
        raise BadInput("runbook is not set; valid: runbook=churn, grow or file")
    node = dict(node)
    if "path" in node:
        path = node.pop("path")
        if node:
            raise BadInput(f"runbook.{next(iter(node))} is set beside runbook.path; valid: one")
        if not isinstance(path, str) or not path:
            raise invalid("runbook", "path", path, "a path to a YAML file of runbook steps")
        return read_runbook(path)
    return Runbook(**check_call(Runbook, node, prefix="runbook"))


# ------------------------------------------------------------------------------- generation
@dataclass(frozen=True)
class Step:
    """One concrete step: ``kind`` is build, insert, delete, replace or search; ``added`` and
    ``removed`` are dataset ids (sorted); ``n_live`` counts the live ids after the step."""

    index: int
    generation: int
    kind: str
    added: np.ndarray
    removed: np.ndarray
    n_live: int


def count_of(amount: float | int, n_db: int, where: str) -> int:
    """Items an amount stands for in a database of ``n_db`` (a share is rounded)."""
    n = int(round(amount * n_db)) if isinstance(amount, float) else int(amount)
    if n < 1:
        raise BadInput(
            f"{where}={amount!r} is 0 items of a {n_db}-item database; valid: a larger "
            "share or a count >= 1"
        )
    return n


_NONE = np.empty(0, dtype=np.int64)


def _draw(rng, live: np.ndarray, n: int, from_live: bool, where: str, g: int) -> np.ndarray:
    """``n`` distinct ids drawn from the live ids (or from those not live), sorted."""
    pool = np.flatnonzero(live if from_live else ~live)
    if n > len(pool):
        what = "live" if from_live else f"not live (of {len(live)} database ids)"
        raise BadInput(
            f"{where} asks for {n} ids at generation {g} but only {len(pool)} are {what}; "
            "valid: a smaller amount, more generations apart or another start"
        )
    return np.sort(rng.choice(pool, n, replace=False)).astype(np.int64)


def generate(rb: Runbook, n_db: int, *, seed: int, k: int = 1) -> list[Step]:
    """The concrete steps of ``rb`` on a database of ``n_db`` ids, drawn with ``seed``.
    One-line BadInput when a step cannot run (deleting more than is live, inserting more
    than is left, fewer than ``k`` live ids)."""
    rng = np.random.default_rng(seed)
    live = np.zeros(n_db, dtype=bool)
    start = _draw(rng, live, count_of(rb.start, n_db, "runbook.start"), False, "runbook.start", 0)
    if len(start) < k:
        raise BadInput(f"runbook.start={rb.start!r} is {len(start)} ids, fewer than k={k}")
    live[start] = True
    steps = [Step(0, 0, "build", start, _NONE, len(start))]
    steps.append(Step(1, 0, SEARCH, _NONE, _NONE, len(start)))
    for g in range(1, rb.generations + 1):
        for j, (kind, amount) in enumerate(rb.generation):
            if kind == SEARCH:
                if g % rb.search_every == 0 or g == rb.generations:
                    steps.append(Step(len(steps), g, SEARCH, _NONE, _NONE, int(live.sum())))
                continue
            where = f"runbook.generation[{j}].{kind}"
            n = count_of(amount, n_db, where)
            added = _draw(rng, live, n, False, where, g) if kind != "delete" else _NONE
            removed = _draw(rng, live, n, True, where, g) if kind != "insert" else _NONE
            live[removed] = False
            live[added] = True
            if live.sum() < k:
                raise BadInput(
                    f"{where} leaves {int(live.sum())} live ids at generation {g}, fewer than "
                    f"k={k}; valid: a smaller amount or a larger start"
                )
            steps.append(Step(len(steps), g, kind, added, removed, int(live.sum())))
    return steps


# ----------------------------------------------------------------------------------- check
def float_vectors_only(job: Job, workload: str) -> None:
    """One-line BadInput when the job stores its vectors in a code (``encoder.output``,
    ``encoder.truncate_dim``): runbooks and refreshes measure float32 vectors only, and the
    harness's ``rescore`` knob only applies to codes."""
    c = job.codes
    if not c.is_identity:
        key, value = (
            ("output", c.output) if c.output != "float32" else ("truncate_dim", c.truncate_dim)
        )
        raise BadInput(
            f"encoder.{key}={value!r} is not supported with workload={workload}; valid: the "
            "float32 vectors at full width (encoder.output=float32 encoder.truncate_dim=null)"
        )
    for point in job.grid:
        if point.get("rescore", 1) != 1:
            raise BadInput(
                f"index.search.rescore={point['rescore']!r} is only for codes; valid: 1 with "
                f"workload={workload}"
            )


def options_of(job: Job) -> tuple[Runbook, bool]:
    """The runbook and the rebuild flag of a runbook job (``job.options``)."""
    opts = job.options
    return runbook_of(opts.get("runbook")), bool(opts.get("rebuild", False))


def check_runbook(job: Job) -> tuple[Runbook, bool]:
    """Validate a runbook job before any work: repeats, and that the index can make the
    runbook's changes in place (unless rebuilt); one-line BadInput otherwise."""
    rb, rebuild = options_of(job)
    float_vectors_only(job, "runbook")
    if job.settings.repeats != 1:
        raise invalid("", "repeats", job.settings.repeats, "1 with workload=runbook")
    if rebuild or not rb.needs():
        return rb, rebuild
    index = make_index(job, job.settings.metric)
    name = job.index.name if job.index is not None else type(index).__name__
    if not isinstance(index, MutableIndex):
        raise BadInput(
            f"index={name} cannot change in place; valid: workload.rebuild=true (rebuilt from "
            "scratch at each checkpoint) or an index that can (hnswlib, usearch, faiss_ivf)"
        )
    for change in sorted(rb.needs() - index.changes()):
        does = " and ".join(sorted(index.changes())) or "nothing"
        raise BadInput(
            f"index={name} cannot {change} in place (it does {does} only); valid: a runbook "
            f"without {change} steps, workload.rebuild=true, or index=hnswlib, usearch or "
            "faiss_ivf"
        )
    return rb, rebuild


# ---------------------------------------------------------------------------------- engine
@dataclass
class _Live:
    """The state a runbook carries from step to step."""

    live: np.ndarray  # (n_db,) bool
    index: Any = None
    rows_ids: np.ndarray | None = None  # rebuild: the dataset id of each index row
    build_s: float = 0.0  # the build the current index came from
    since: dict[str, float] = field(default_factory=dict)  # since the last checkpoint
    total: dict[str, float] = field(default_factory=dict)

    def spend(self, key: str, seconds: float, n: int) -> None:
        for d in (self.since, self.total):
            d[f"{key}_s"] = d.get(f"{key}_s", 0.0) + seconds
            d[_COUNTED[key]] = d.get(_COUNTED[key], 0) + n


def _timed(call) -> float:
    t0 = time.perf_counter()
    call()
    return time.perf_counter() - t0


def _build(job: Job, prep: Prepared, state: _Live, ids: np.ndarray, with_ids: bool) -> None:
    """A fresh index on the rows ``ids`` (stored under them, or under positions)."""
    index = make_index(job, prep.metric)
    rows = np.ascontiguousarray(prep.vectors.xb[ids])
    if with_ids:
        seconds = _timed(lambda: index.build_with_ids(rows, ids))
    else:
        seconds = _timed(lambda: index.build(rows))
    state.index, state.rows_ids, state.build_s = index, None if with_ids else ids, seconds
    state.total["build_s"] = state.total.get("build_s", 0.0) + seconds
    log.info("built %s on %d live ids in %.2f s", type(index).__name__, len(ids), seconds)


def _change(prep: Prepared, state: _Live, step: Step, in_place: bool) -> None:
    """Apply a change step to the live set and, in place, to the index (timed)."""
    xb = prep.vectors.xb
    if len(step.removed):
        seconds = 0.0
        if in_place:
            seconds = _timed(state.index.remove_call(step.removed))
        state.live[step.removed] = False
        state.spend("delete", seconds, len(step.removed))
    if len(step.added):
        seconds = 0.0
        if in_place:
            seconds = _timed(state.index.add_call(np.ascontiguousarray(xb[step.added]), step.added))
        state.live[step.added] = True
        state.spend("insert", seconds, len(step.added))


def live_truth(job: Job, prep: Prepared, live_ids: np.ndarray) -> schema.Truth:
    """Exact neighbours over the live rows only, as dataset ids."""
    s, vec, ds = job.settings, prep.vectors, prep.dataset
    xl = np.ascontiguousarray(vec.xb[live_ids])
    D, I = exact_knn(xl, vec.xq, s.k, prep.metric)  # noqa: E741
    labelled = ds.db_labels is not None and ds.query_labels is not None
    return schema.Truth(
        D,
        np.where(I >= 0, live_ids[np.maximum(I, 0)], -1),
        s.k,
        atol=tie_floor(xl, vec.xq, prep.metric),
        eps=s.eps,
        db_labels=ds.db_labels if labelled else None,
        query_labels=ds.query_labels if labelled else None,
    )


def _answer(job: Job, prep: Prepared, state: _Live) -> tuple[schema.Answer, int]:
    """One timed search of every query; ids as dataset ids, dead ids turned into misses."""
    s, vec = job.settings, prep.vectors
    q = run_queries(state.index, vec.xq, s.k, mode=s.mode, warmup=s.warmup, passes=s.passes)
    ids = q.I
    if state.rows_ids is not None:
        ids = np.where(ids >= 0, state.rows_ids[np.maximum(ids, 0)], -1)
    check_ids(ids, len(vec.xb), f"index {type(state.index).__name__}")
    dead = (ids >= 0) & ~state.live[np.maximum(ids, 0)]
    ids = np.where(dead, -1, ids)
    D = recompute_distances(vec.xb, vec.xq, ids, prep.metric)
    return schema.Answer(ids, D, q.latencies_s, q.total_s), int(dead.sum())


def _index_bytes(index: Any) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        return int(index.save(os.path.join(tmp, "index.bin")))


def _upkeep_columns(state: _Live) -> dict[str, Any]:
    since, total = state.since, state.total
    row: dict[str, Any] = {"build_s": state.build_s, "builds_s_total": total.get("build_s", 0.0)}
    for key in ("insert", "delete"):
        n, seconds = int(since.get(_COUNTED[key], 0)), since.get(f"{key}_s", 0.0)
        row[_COUNTED[key]] = n
        row[f"{key}_s"] = seconds
        row[f"{key}_per_s"] = n / seconds if n and seconds > 0 else None
        row[f"{key}_s_total"] = total.get(f"{key}_s", 0.0)
        row[f"{_COUNTED[key]}_total"] = int(total.get(_COUNTED[key], 0))
    row["upkeep_s_total"] = row["builds_s_total"] + row["insert_s_total"] + row["delete_s_total"]
    return row


def _checkpoint(job: Job, prep: Prepared, state: _Live, step: Step, base: dict) -> list[dict]:
    """The rows of one search step: one per search knob point."""
    live_ids = np.flatnonzero(state.live)
    truth = live_truth(job, prep, live_ids)
    index = state.index
    row = dict(base, step=step.index, generation=step.generation, n_live=len(live_ids))
    row.update(_upkeep_columns(state))
    row.update(index_bytes=_index_bytes(index), threads_build=index.threads_used("single")["build"])
    row.update({f"build_{k}": v for k, v in index.build_params().items()})
    rows = []
    for i, point in enumerate(job.grid):
        index.set_search_params(**backend_knobs(point))
        answer, dead = _answer(job, prep, state)
        r = dict(row, point_index=i, dead_ids=dead, load_avg_1m=load_average())
        r.update({f"search_{k}": v for k, v in index.search_params().items()})
        r["threads_search"] = index.threads_used(job.settings.mode)["search"]
        r.update(schema.evaluate(truth, [answer], kind="runbook", seed=job.settings.seed))
        rows.append(r)
    state.since = {}
    log.info(
        "runbook checkpoint at step %d (generation %d): %d live, recall %.4f, %.0f QPS",
        step.index,
        step.generation,
        len(live_ids),
        rows[0]["recall_at_k"],
        rows[0]["qps"] or 0.0,
    )
    return rows


def runbook_columns(job: Job, rb: Runbook, rebuild: bool) -> dict[str, Any]:
    """The columns every row of a runbook shares: its option values and the maintenance."""
    cols = flatten("runbook", rb.as_dict())
    cols["maintenance"] = "rebuild" if rebuild else "in_place"
    cols["index"] = job.index.name if job.index is not None else ""
    return cols


def measure(job: Job, cid: str | None = None, checked: Checked | None = None) -> list[dict]:
    """Run a runbook job: the steps drawn with the seed, a row per checkpoint x knob point."""
    checked = checked or check(job)
    rb, rebuild = check_runbook(job)
    n_db = len(load_dataset(job, checked).db)
    steps = generate(rb, n_db, seed=job.settings.seed, k=job.settings.k)  # before encoding
    log.info("runbook: %d steps, %d checkpoints", len(steps), sum(s.kind == SEARCH for s in steps))
    prep = prepare(job, checked)
    base = job_columns(job, prep, cid)
    base.update(runbook_columns(job, rb, rebuild))
    state, rows = _Live(np.zeros(n_db, dtype=bool)), []
    for step in steps:
        if step.kind == "build":
            state.live[step.added] = True
            if not rebuild:
                _build(job, prep, state, step.added, with_ids=True)
        elif step.kind == SEARCH:
            if rebuild:
                _build(job, prep, state, np.flatnonzero(state.live), with_ids=False)
            rows += _checkpoint(job, prep, state, step, base)
        else:
            _change(prep, state, step, in_place=not rebuild)
    return rows
