"""`python -m bench filter=sweep [overrides]`: filtered lookups, rows of kind ``filter``.

The ``filter`` config group (``conf/filter/*.yaml``, keys = :class:`lookup.filters.FilterOptions`)
turns a job into a filtered-lookup job: the same dataset, encoder, index and knob grid, the
same table, resume rule and launchers, but one row per filter x strategy x knob point
(:mod:`lookup.filter_run`). ``bench.run.run`` hands the config here when ``filter`` is set.
Filter rows keep no per-query arrays beside the table (``bench.rescore`` reads job rows only).
Example: ``python -m bench filter=sweep index=faiss_ivf max_queries=500``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from omegaconf import DictConfig

from bench import table
from bench.jobs import job_of, plain, storing_of
from lookup.errors import BadInput
from lookup.filter_run import check_job, measure
from lookup.filters import FilterOptions
from lookup.job import check, config_id
from lookup.params import check_call


def filter_options(cfg: DictConfig) -> FilterOptions:
    """The ``filter`` group of the config, checked (one-line BadInput naming the key)."""
    node = plain(cfg.get("filter"))
    if not isinstance(node, Mapping):
        raise BadInput(f"filter={node!r} is invalid; valid: filter=<an option of conf/filter>")
    return FilterOptions(**check_call(FilterOptions, dict(node), prefix="filter"))


def run(cfg: DictConfig) -> list[dict]:
    """Run one filtered-lookup job and append its rows (the rule of ``bench.run.run``: every
    value checked first, the configuration claimed, nothing written unless all was measured)."""
    opts = filter_options(cfg)
    job = job_of(cfg, kind="filter", options={"filter": opts.plain()})
    storing = storing_of(cfg)
    checked = check(job)
    check_job(job, opts)  # mode, backend x strategy: before the table or any data
    path = cfg.results.table
    table.check_table(path)
    cid = config_id(job)
    return table.measure_once(
        path, cid, lambda: measure(job, opts, cid, checked), force=storing.force
    )


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def summary(rows: list[dict], target: float) -> str:
    """Per filter (kind, selectivity) and strategy: the best recall, and the highest QPS of
    the points reaching ``target`` (all queries; per-bin rows are in the table)."""
    best: dict[tuple, dict] = {}
    for r in rows:
        if r.get("query_group") not in (None, "", "all") and not _is_nan(r.get("query_group")):
            continue
        key = (r["filter_kind"], _num(r.get("filter_selectivity")), r["filter_strategy"])
        rec = best.setdefault(key, {"recall": -1.0, "qps": math.nan, "r": r})
        recall, qps = _num(r.get("recall_at_k")), _num(r.get("qps"))
        rec["recall"] = max(rec["recall"], recall)
        if recall >= target and not qps <= rec["qps"]:
            rec["qps"] = qps
    head = f"{'filter':>12} {'target':>7} {'passing':>8} {'strategy':>9}  best_recall  qps@"
    lines = [f"{head}{target:g}"]
    for (kind, sel, strategy), rec in best.items():
        achieved = _num(rec["r"].get("filter_selectivity_achieved"))
        qps = "unreached" if math.isnan(rec["qps"]) else f"{rec['qps']:.0f}"
        target_s = "-" if math.isnan(sel) else f"{sel:g}"
        lines.append(
            f"{kind:>12} {target_s:>7} {achieved:>8.4f} {strategy:>9}  "
            f"{rec['recall']:>11.4f}  {qps}"
        )
    return "\n".join(lines)


def _is_nan(v) -> bool:
    return isinstance(v, float) and math.isnan(v)
