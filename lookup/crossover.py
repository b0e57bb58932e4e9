"""Where exact search over the filtered subset beats the index: the crossover selectivity of
filter rows (:mod:`lookup.filters`), pure pandas like :mod:`lookup.frontier`.

A **point** is one filter at one selectivity: a ``selectivity`` target, a selectivity bin
(``query_group``) of own- or other-label rows, or the given ``labels``; its x is the share of
the database that passed (``filter_selectivity_achieved``). At each point and recall target,
each strategy's **operating point** is its fastest row whose recall reaches the target
(:func:`lookup.frontier.operating_point`: the CI lower bound with repeats > 1); the exact
strategy always reaches it. Exact **wins** at a point where the index strategy is unreached or
slower.

The **crossover** of a group (dataset x encoder x index x settings x filter kind) and index
strategy (``post``, ``in_search`` or ``best``, the faster of the two at each point): exact
wins at every measured point up to ``exact_wins_below`` and the index at every point from
``index_wins_from`` on; ``crossover`` interpolates the QPS ratio between the two (log-log) when
the index reached the target at both. The interval ``crossover_low``..``crossover_high`` widens
that bracket by the spread over repeats: at or below ``crossover_low`` exact wins even against
the index's fastest build (``qps_max`` vs exact's ``qps_min``), at or above ``crossover_high``
the index wins even with its slowest build against exact's fastest (NaN: beyond the measured
sweep on that side); with one repeat it is the bracket itself. A winner that flips more than
once along x is counted (``n_flips``), not hidden.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from lookup import frontier

INDEX_STRATEGIES = ("post", "in_search")
BEST = "best"


def point_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The filter rows that are sweep points, with ``_point`` (what identifies the point in
    its group) and ``_x`` (the achieved selectivity): selectivity targets, own/other-label
    bins (their ``all`` rows left out) and given labels."""
    group = df.get("query_group", pd.Series(np.nan, index=df.index)).astype(object)
    keep = group.isna() | (group.astype(str) != "all")
    rows = df[keep].copy()
    target = pd.to_numeric(rows.get("filter_selectivity"), errors="coerce")
    bins = group[keep].where(group[keep].notna(), "labels").astype(str)
    rows["_point"] = np.where(target.notna(), target.map(lambda v: f"{v:g}"), bins)
    rows["_x"] = pd.to_numeric(rows["filter_selectivity_achieved"], errors="coerce")
    return rows


def group_columns(df: pd.DataFrame) -> list[str]:
    """Dataset x encoder x index x settings x filter kind (the point key left out)."""
    cols = [c for c in frontier.group_columns(df) if c != "query_group"]
    return cols + ["filter_kind"]


def _fastest(rows: pd.DataFrame, target: float) -> tuple[float, float, float]:
    """(qps, qps_min, qps_max) of the fastest row reaching ``target``; NaNs if none does."""
    if rows.empty:
        return math.nan, math.nan, math.nan
    row, _ = frontier.operating_point(rows, target)
    if row is None:
        return math.nan, math.nan, math.nan
    qps = float(row["qps"])
    lo, hi = (float(row.get(c, math.nan)) for c in ("qps_min", "qps_max"))
    return qps, (qps if math.isnan(lo) else lo), (qps if math.isnan(hi) else hi)


def point_table(rows: pd.DataFrame, target: float) -> pd.DataFrame:
    """Per point of one group: x and each strategy's fastest QPS at ``target`` (with its
    min/max over repeats) and best recall (``<strategy>_recall``, over its knob points);
    ``best`` is the faster index strategy at each point."""
    out = []
    for point, part in rows.groupby("_point", sort=False):
        rec: dict = {"point": point, "x": float(part["_x"].median())}
        for strategy in ("exact", *INDEX_STRATEGIES):
            mine = part[part["filter_strategy"] == strategy]
            q, lo, hi = _fastest(mine, target)
            rec.update({strategy: q, f"{strategy}_min": lo, f"{strategy}_max": hi})
            recall = pd.to_numeric(mine.get("recall_at_k"), errors="coerce")
            rec[f"{strategy}_recall"] = float(recall.max()) if len(mine) else math.nan
        index = [s for s in INDEX_STRATEGIES if not math.isnan(rec[s])]
        best = max(index, key=lambda s: rec[s]) if index else None
        for suffix in ("", "_min", "_max"):
            rec[f"{BEST}{suffix}"] = rec[f"{best}{suffix}"] if best else math.nan
        out.append(rec)
    return pd.DataFrame(out).sort_values("x", kind="stable").reset_index(drop=True)


def bracket(x: Sequence[float], index_qps: Sequence[float], exact_qps: Sequence[float]) -> dict:
    """Where exact stops winning along increasing ``x``: ``exact_wins_below`` (the last point
    where exact wins with the index winning at every point above; NaN if the index wins
    everywhere), ``index_wins_from`` (the point after it; NaN if exact wins everywhere),
    ``crossover`` (log-log interpolation of index/exact QPS between them when both are finite),
    ``n_flips`` (changes of winner along x)."""
    x = np.asarray(x, dtype=float)
    idx, ex = np.asarray(index_qps, dtype=float), np.asarray(exact_qps, dtype=float)
    exact_wins = np.isnan(idx) | (idx < ex)
    flips = int(np.sum(exact_wins[1:] != exact_wins[:-1]))
    out = {"exact_wins_below": math.nan, "index_wins_from": math.nan, "crossover": math.nan}
    out["n_flips"] = flips
    if not exact_wins.any():
        out["status"] = "index wins everywhere"
        return out
    last = int(np.flatnonzero(exact_wins)[-1])
    out["exact_wins_below"] = float(x[last])
    if last == len(x) - 1:
        out["status"] = "exact wins everywhere"
        return out
    out["index_wins_from"] = float(x[last + 1])
    out["status"] = "crossover"
    r0, r1 = idx[last] / ex[last], idx[last + 1] / ex[last + 1]
    if np.isfinite(r0) and r0 > 0 and x[last] > 0:
        t = math.log(r0) / (math.log(r0) - math.log(r1))
        out["crossover"] = float(math.exp(math.log(x[last]) + t * math.log(x[last + 1] / x[last])))
    return out


def crossovers(df: pd.DataFrame, targets: Sequence[float] = (0.95,)) -> pd.DataFrame:
    """One row per group x index strategy x recall target: the crossover, its interval from
    the QPS spread over repeats, and the QPS ratio index/exact at the lowest and highest
    selectivity measured."""
    rows = point_rows(df)
    out = []
    for key, part in frontier.iter_groups(rows, group_columns(rows)):
        reps = int(pd.to_numeric(part.get("n_repeats"), errors="coerce").max() or 1)
        for target in targets:
            pts = point_table(part, target)
            if pts["exact"].isna().all():
                continue  # no exact rows: nothing to compare with
            present = [s for s in INDEX_STRATEGIES if s in set(part["filter_strategy"])]
            for strategy in [*present, BEST] if present else []:
                rec = {**key, "strategy": strategy, "target": target, "n_points": len(pts)}
                rec["n_repeats"] = reps
                rec.update(bracket(pts["x"], pts[strategy], pts["exact"]))
                pess = bracket(pts["x"], pts[f"{strategy}_min"], pts["exact_max"])
                opti = bracket(pts["x"], pts[f"{strategy}_max"], pts["exact_min"])
                rec["crossover_low"] = opti["exact_wins_below"]
                rec["crossover_high"] = pess["index_wins_from"]
                ratio = pts[strategy] / pts["exact"]
                rec["qps_ratio_lowest"] = float(ratio.iloc[0])
                rec["qps_ratio_highest"] = float(ratio.iloc[-1])
                rec["x_lowest"], rec["x_highest"] = (
                    float(pts["x"].iloc[0]),
                    float(pts["x"].iloc[-1]),
                )
                out.append(rec)
    return pd.DataFrame(out)
