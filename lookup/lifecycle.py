"""Reading the rows of indexes that live (runbook and refresh rows): pure pandas, for
``bench.plot`` and ``bench.report``. No metric is computed here; every value is a column.

- :func:`runbook_curves`: one curve per run (the same runbook, index, build, maintenance and
  search knobs), its checkpoints in generation order; a configuration measured twice keeps
  its latest run;
- :func:`milestones`: per curve, recall at the first, middle and last checkpoint with their
  95% intervals, and the insert and delete throughput over the whole runbook;
- :func:`rebuild_pays`: when a rebuild pays for itself at a recall target (the rule below);
- :func:`refresh_table`: the encoder-refresh rows, one per setup and knob point.

**When a rebuild pays for itself** (per pair of runs that differ only in ``maintenance``: an
index changed in place and the same index rebuilt from scratch at every checkpoint, same
runbook, seed, knobs): the first checkpoint generation at which the in-place index's recall
falls below the target while the rebuilt one meets it. From there on only a rebuild keeps the
target, so its build time is the price of the target. Why this rule and not cumulative cost
alone: in-place upkeep is usually far cheaper than rebuilding at every checkpoint, so seconds
alone would always favour it while comparing indexes of different quality; the recall rule
says when that cheapness stops buying the target. The cost crossing is reported beside it
(``cost_generation``: the first checkpoint where the in-place inserts and deletes so far took
longer than one rebuild there), for a user whose target is met either way.
"""

from __future__ import annotations

import math

import pandas as pd

from lookup import frontier

RUNBOOK_KEYS = ("runbook", "maintenance")
# Columns that differ between the two runs of a pair (everything else must be equal).
_PAIR_FREE = ("maintenance",)


def _runbook_columns(df: pd.DataFrame) -> list[str]:
    extra = [c for c in df.columns if c.startswith("runbook_")]
    return [c for c in (*RUNBOOK_KEYS, *extra) if c in df.columns]


def key_columns(df: pd.DataFrame) -> list[str]:
    """What names a runbook curve besides its build: dataset, encoder (and their parameters,
    the encoder's weights), index, settings, the runbook and its steps, the maintenance and
    the search knobs."""
    cols = (
        frontier.group_columns(df)
        + [c for c in ("encoder_fingerprint",) if c in df.columns]
        + _runbook_columns(df)
        + frontier.search_columns(df)
    )
    return list(dict.fromkeys(c for c in cols if c in df.columns))


def _num(rows: pd.DataFrame, col: str) -> pd.Series:
    if col not in rows:
        return pd.Series(math.nan, index=rows.index)
    return pd.to_numeric(rows[col], errors="coerce")


def runbook_curves(df: pd.DataFrame) -> list[tuple[dict, pd.DataFrame]]:
    """``(key, rows)`` per curve of runbook rows (one configuration, ``config_id``, at one
    knob point), rows in generation order. The key holds :func:`key_columns` and the build
    parameters of generation 0 (a rebuilt faiss IVF resolves ``nlist`` anew at every
    checkpoint). Of a configuration measured more than once, the latest run (by timestamp);
    of two knob points that ran alike (hnswlib's ef below k runs as ef=k), the first."""
    keys = key_columns(df)
    builds = frontier.build_param_columns(df)
    out = []
    for _, rows in frontier.iter_groups(df, [*keys, *(["config_id"] if "config_id" in df else [])]):
        if "run_id" in rows and rows["run_id"].nunique() > 1:
            latest = rows.sort_values("timestamp_utc", kind="stable")["run_id"].iloc[-1]
            rows = rows[rows["run_id"] == latest]
        rows = rows.drop_duplicates("step").sort_values(["generation", "step"], kind="stable")
        first = rows.iloc[0]
        out.append(({c: first.get(c) for c in (*keys, *builds)}, rows))
    return out


def _at(rows: pd.DataFrame, i: int) -> pd.Series:
    return rows.iloc[i]


def _interval(row: pd.Series, col: str) -> str:
    lo, hi = row.get(f"{col}_ci_low"), row.get(f"{col}_ci_high")
    if lo is None or hi is None or pd.isna(lo) or pd.isna(hi):
        return ""
    return f"[{float(lo):.4f}, {float(hi):.4f}]"


def _knobs(key: dict) -> str:
    knobs = [c for c in key if c.startswith("search_") and not pd.isna(key[c])]
    return " ".join(f"{c.removeprefix('search_')}={frontier.format_value(key[c])}" for c in knobs)


def milestones(df: pd.DataFrame) -> pd.DataFrame:
    """Per runbook curve: recall (and its 95% interval) at the first, middle and last
    checkpoint, kNN accuracy and QPS at the last, and insert / delete throughput over the
    whole runbook (items over the library's seconds)."""
    out = []
    for key, rows in runbook_curves(df):
        first, mid, last = _at(rows, 0), _at(rows, len(rows) // 2), _at(rows, -1)
        rec = {c: key.get(c) for c in ("dataset", "encoder", "index", "runbook", "maintenance")}
        rec["knobs"] = _knobs(key)
        for name, row in (("first", first), ("mid", mid), ("last", last)):
            rec[f"gen_{name}"] = row["generation"]
            rec[f"recall_{name}"] = row["recall_at_k"]
            rec[f"recall_{name}_ci"] = _interval(row, "recall_at_k")
        rec["recall_change"] = float(last["recall_at_k"]) - float(first["recall_at_k"])
        rec["knn_acc_last"] = last.get("knn_acc")
        rec["qps_last"] = last.get("qps")
        for what, n_col in (("insert", "n_inserted_total"), ("delete", "n_deleted_total")):
            n, seconds = last.get(n_col), last.get(f"{what}_s_total")
            ok = not pd.isna(n) and not pd.isna(seconds) and float(seconds) > 0
            rec[f"{what}_per_s"] = float(n) / float(seconds) if ok else None
        rec["upkeep_s_total"] = last.get("upkeep_s_total")
        rec["index_mb_last"] = float(last["index_bytes"]) / 1e6
        out.append(rec)
    return pd.DataFrame(out)


def _stamp(rows: pd.DataFrame) -> str:
    return str(rows["timestamp_utc"].max()) if "timestamp_utc" in rows else ""


def _pairs(df: pd.DataFrame):
    """(key, in-place rows, rebuilt rows) for curves whose keys differ only in maintenance
    (the latest curve of each when a configuration was measured under several ids)."""
    buckets: dict[str, dict[str, tuple[dict, pd.DataFrame]]] = {}
    for key, rows in runbook_curves(df):
        same = repr(sorted((k, str(v)) for k, v in key.items() if k not in _PAIR_FREE))
        bucket, how = buckets.setdefault(same, {}), str(key.get("maintenance"))
        if how not in bucket or _stamp(rows) >= _stamp(bucket[how][1]):
            bucket[how] = (key, rows)
    for bucket in buckets.values():
        if {"in_place", "rebuild"} <= set(bucket):
            yield bucket["in_place"][0], bucket["in_place"][1], bucket["rebuild"][1]


def _first(mask: pd.Series, gens: pd.Series):
    hit = gens[mask]
    return None if hit.empty else hit.iloc[0]


def rebuild_pays(df: pd.DataFrame, target: float) -> pd.DataFrame:
    """Per pair of in-place / rebuilt runs: the generation at which a rebuild pays for itself
    at recall ``target`` (module docstring), with both recalls there and what each cost."""
    out = []
    for key, inplace, rebuilt in _pairs(df):
        both = inplace.merge(rebuilt, on="generation", suffixes=("", "_rb"))
        gens = _num(both, "generation")
        r_in, r_rb = _num(both, "recall_at_k"), _num(both, "recall_at_k_rb")
        upkeep = _num(both, "insert_s_total") + _num(both, "delete_s_total")
        rec = {c: key.get(c) for c in ("dataset", "encoder", "index", "runbook")}
        rec.update(knobs=_knobs(key), target=target, checkpoints=len(both))
        pays = _first((r_in < target) & (r_rb >= target), gens)
        rec["cost_generation"] = _first(upkeep > _num(both, "build_s_rb"), gens)
        rec["pays_at_generation"] = pays
        if pays is not None:
            at = both[gens == pays].iloc[0]
            rec["status"] = "pays"
            rec.update(recall_in_place=at["recall_at_k"], recall_rebuilt=at["recall_at_k_rb"])
            rec.update(upkeep_in_place_s=at["insert_s_total"] + at["delete_s_total"])
            rec.update(rebuild_s=at["build_s_rb"])
        else:
            last = both.iloc[-1]
            miss = _first(r_in < target, gens)
            rec["status"] = (
                "never: in place meets the target throughout"
                if miss is None
                else f"never: the rebuilt index misses it too (generation {miss:g})"
            )
            rec.update(recall_in_place=last["recall_at_k"], recall_rebuilt=last["recall_at_k_rb"])
            rec.update(upkeep_in_place_s=last["insert_s_total"] + last["delete_s_total"])
            rec.update(rebuild_s=last["build_s_rb"])
        out.append(rec)
    return pd.DataFrame(out)


REFRESH_COLUMNS = (
    "dataset",
    "encoder",
    "refresh_encoder",
    "index",
    "refresh_setup",
    "recall_at_k",
    "recall_at_k_ci_low",
    "knn_acc",
    "knn_acc_exact",
    "qps",
    "encode_db_s",
    "build_s",
    "refresh_cost_s",
)


def refresh_table(df: pd.DataFrame) -> pd.DataFrame:
    """The refresh rows: one per (refresh, setup, knob point), the latest run of each."""
    rows, _ = frontier.rows_of_kind(df, "refresh")
    if rows.empty:
        return pd.DataFrame()
    knobs = frontier.search_columns(rows)
    keys = [c for c in ("dataset", "encoder", "refresh_encoder", "index") if c in rows]
    keys += [c for c in frontier.curve_columns(rows) if c not in keys]
    rows = rows.sort_values("timestamp_utc", kind="stable")
    rows = rows.drop_duplicates([*keys, "refresh_setup", *knobs], keep="last")
    order = {s: i for i, s in enumerate(("stale", "kept", "rebuilt"))}
    rows = rows.assign(
        _o=rows["refresh_setup"].map(order),
        knobs=[_knobs(dict(r)) for _, r in rows[knobs].iterrows()],
    )
    rows = rows.sort_values([*keys[:4], *knobs, "_o"], kind="stable")
    cols = [c for c in (*REFRESH_COLUMNS[:4], "knobs", *REFRESH_COLUMNS[4:]) if c in rows]
    return rows[cols].reset_index(drop=True)
