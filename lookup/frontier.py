"""From a results table to decisions: Pareto frontiers, operating points and encoder choice.

Pure functions on pandas DataFrames of result rows (one row per measured operating point; the
metric columns are declared in :mod:`lookup.schema`); no plotting, no Hydra, no I/O. These
functions read rows of kind "job" (``lookup.schema.kind_of``); callers split mixed tables.
Columns that an older table lacks are treated as absent, never as an error, except the few in
:data:`REQUIRED`.

Vocabulary
----------
- a **group** is what a user compares configurations within: one dataset with its parameters x
  one encoder with its parameters x one index family, measured with the same settings
  (:func:`group_columns`);
- a **configuration** inside a group is a build (``build_*``) plus the query knobs of one point
  (``search_*``);
- the **operating point** for a target is the configuration with the highest QPS whose score
  reaches the target (:func:`operating_point`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from lookup import schema
from lookup.errors import BadInput

REQUIRED = ("dataset", "encoder", "index", "recall_at_k", "qps")

# build_* columns that are measurements of the build, not its parameters.
BUILD_MEASUREMENTS = ("build_s", "build_s_std", "build_peak_rss")
# Settings that make two rows incomparable when they differ (measured differently): the
# kernels faiss and its BLAS ran are among them (lookup.kernels: a generic OpenBLAS ran 4.5x
# slower on one machine), so rows of different kernels are never one group.
SETTINGS = ("k", "metric", "eps", "mode", "threads", "kernel_faiss_simd", "kernel_blas_faiss_arch")
# A score this close below a target still reaches it: float noise of a mean of hits/(nq*k),
# orders of magnitude below one query's share of the recall (1/(n_queries*k) >= 1e-7 here).
TARGET_TOL = 1e-9

# Columns copied from the chosen row into an operating-point table (those present): the metric
# table's report columns (with their intervals and spread), then the build's cost and identity.
_POINT_COLUMNS = (
    *(c for mt in schema.report_columns("job") for c in mt.point_columns()),
    "build_s",
    "index_bytes",
    "build_peak_rss",
    "n_repeats",
    "run_id",
    "config_id",
)


# What reads the rows a job-row reader leaves out, by kind.
_READERS = {
    "probe": "bench.plot_probe draws them",
    "runbook": "bench.plot draws them in runbook.png; bench.report tabulates them",
    "refresh": "bench.report tabulates them",
    "filter": "bench.plot draws them in filters.png, bench.report names their crossovers",
}


def kinds_of(df: pd.DataFrame) -> pd.Series:
    """Each row's kind, as :func:`lookup.schema.kind_of` says, for a whole table at once."""

    def filled(col: str) -> pd.Series:
        if col not in df.columns:
            return pd.Series("", index=df.index)
        return df[col].where(df[col].notna(), "").astype(str)

    kind = filled("row_kind")
    inferred = filled("probe_query_kind").map(lambda v: "probe" if v else "job")
    return kind.where(kind != "", inferred)


def rows_of_kind(df: pd.DataFrame, kind: str = "job") -> tuple[pd.DataFrame, dict[str, int]]:
    """(rows of ``kind`` that have the kind's x and y values, counts of the rows left out by
    reason: other kinds by name, and "<kind> rows without <x> or <y>")."""
    kinds = kinds_of(df)
    spec = schema.ROW_KINDS[kind]
    mine = df[kinds == kind]
    left: dict[str, int] = {}
    for other, n in pd.Series(kinds[kinds != kind]).value_counts().items():
        left[f"{other} rows"] = int(n)
    has = pd.Series(True, index=mine.index)
    for col in (spec.x, spec.y):
        has &= pd.to_numeric(
            mine.get(col, pd.Series(np.nan, index=mine.index)), errors="coerce"
        ).notna()
    if (~has).any():
        left[f"{kind} rows without {spec.x} or {spec.y}"] = int((~has).sum())
    return mine[has], left


def left_out_lines(left: dict[str, int]) -> list[str]:
    """'12 probe rows (bench.plot_probe draws them)' per reason."""
    out = []
    for what, n in left.items():
        kind = what.split(" ", 1)[0]
        reader = _READERS.get(kind, "") if what == f"{kind} rows" else ""
        out.append(f"{n} {what}" + (f" ({reader})" if reader else ""))
    return out


def numeric(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every column whose filled cells all parse as numbers converted to numbers
    (a table read back as text, or rows of mixed kinds)."""
    df = df.copy()
    for col in df.columns:
        converted = pd.to_numeric(df[col], errors="coerce")
        if converted.notna().sum() == df[col].replace("", None).notna().sum():
            df[col] = converted
    return df


# ---------------------------------------------------------------------------------- columns
def _present(df: pd.DataFrame, names: Iterable[str]) -> list[str]:
    return [c for c in names if c in df.columns]


def _is_v1_encoder_metric(df: pd.DataFrame, col: str) -> bool:
    """In schema 1 tables, ``encoder_<x>`` held the encoder's training metrics (measurements),
    not its parameters: a column only ever filled by rows of schema < 2 is one of those."""
    if "schema_version" not in df.columns:
        return True  # the oldest tables had no version column and no encoder parameters
    filled = df[col].notna()
    version = pd.to_numeric(df["schema_version"], errors="coerce")
    return bool(filled.any()) and bool((version[filled] < 2).all())


def encoder_param_columns(df: pd.DataFrame) -> list[str]:
    """``encoder_<key>`` columns that are encoder parameters (pooling, hidden_size, ...).

    Excludes ``encoder_fit_*`` (training metrics), ``encoder_fingerprint`` (an id of the
    weights) and schema-1 training-metric columns."""
    return [
        c
        for c in df.columns
        if c.startswith("encoder_")
        and not c.startswith("encoder_fit_")
        and c != "encoder_fingerprint"
        and not _is_v1_encoder_metric(df, c)
    ]


def dataset_param_columns(df: pd.DataFrame) -> list[str]:
    """``dataset_<key>`` columns (limit, min_share, ...)."""
    return [c for c in df.columns if c.startswith("dataset_")]


def build_param_columns(df: pd.DataFrame) -> list[str]:
    """``build_<key>`` columns that are build parameters (not build_s, build_s_std,
    build_peak_rss)."""
    return [c for c in df.columns if c.startswith("build_") and c not in BUILD_MEASUREMENTS]


def search_columns(df: pd.DataFrame) -> list[str]:
    """``search_<knob>`` columns: the swept query knobs."""
    return [c for c in df.columns if c.startswith("search_")]


def group_columns(df: pd.DataFrame) -> list[str]:
    """Columns that define a group: dataset + its parameters + n_db, encoder + its parameters,
    index family, the measurement settings (k, metric, eps, mode, threads) and the query group
    (datasets whose queries come in groups have one row per group and point)."""
    return (
        ["dataset", *dataset_param_columns(df), *_present(df, ["n_db"])]
        + ["encoder", *encoder_param_columns(df)]
        + ["index"]
        + _present(df, SETTINGS)
        + _present(df, ["query_group"])
    )


def curve_columns(df: pd.DataFrame) -> list[str]:
    """Columns whose values tell two curves apart: the group columns, the build parameters and
    the encoder's weights, i.e. every parameter except the swept search knobs."""
    return group_columns(df) + build_param_columns(df) + _present(df, ["encoder_fingerprint"])


def varying(df: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """The columns among ``columns`` that take more than one value in ``df`` (NaN counts as a
    value only next to a real one: a parameter some index families lack is not 'varying')."""
    out = []
    for c in columns:
        if c not in df.columns:
            continue
        values = df[c].dropna().astype(str).unique()
        if len(values) > 1:
            out.append(c)
    return out


def iter_groups(df: pd.DataFrame, columns: Sequence[str]):
    """Yield ``(key dict, rows)`` per distinct value combination (NaN is a value); sorted."""
    columns = list(columns)
    if not columns:
        yield {}, df
        return
    for values, rows in df.groupby(columns, sort=True, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        yield dict(zip(columns, values, strict=True)), rows


# ---------------------------------------------------------------------------------- filters
def parse_where(items: Sequence[str] | None) -> dict[str, list[str]]:
    """``["KEY=VALUE", ...]`` -> ``{KEY: [VALUE, ...]}``; a repeated key means 'any of'."""
    out: dict[str, list[str]] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise BadInput(f"--where {item!r} is invalid; use KEY=VALUE, e.g. dataset=names")
        out.setdefault(key, []).append(value.strip())
    return out


def _matches(series: pd.Series, value: str) -> pd.Series:
    """Rows of ``series`` equal to ``value``: numerically when both are numbers, else as text
    (so ``build_M=16`` matches 16.0 and ``encoder_pooling=gather`` matches 'gather')."""
    as_num = pd.to_numeric(series, errors="coerce")
    try:
        number = float(value)
    except ValueError:
        number = None
    text = series.astype(str).str.strip() == value
    if number is not None and as_num.notna().any():
        return text | np.isclose(as_num, number, rtol=1e-12, atol=0.0)
    if value.lower() in ("true", "false") and series.dtype == bool:
        return series == (value.lower() == "true")
    return text


def apply_where(df: pd.DataFrame, where: Sequence[str] | None) -> pd.DataFrame:
    """Keep rows matching every ``KEY=VALUE`` (same key repeated: any of its values).

    Unknown key -> ValueError naming the close columns; no row left -> ValueError."""
    conditions = parse_where(where)
    mask = pd.Series(True, index=df.index)
    for key, values in conditions.items():
        if key not in df.columns:
            close = [c for c in df.columns if key.split("_")[-1] in c][:8]
            hint = f"; columns like it: {', '.join(close)}" if close else ""
            raise BadInput(f"--where {key}=...: the table has no column {key!r}{hint}")
        hit = pd.Series(False, index=df.index)
        for value in values:
            hit |= _matches(df[key], value)
        mask &= hit
    out = df[mask]
    if out.empty:
        shown = " ".join(f"{k}={v}" for k, vs in conditions.items() for v in vs)
        raise BadInput(f"no rows match --where {shown}")
    return out


# -------------------------------------------------------------------------------- frontier
def pareto_mask(recall: Sequence[float], qps: Sequence[float]) -> np.ndarray:
    """Boolean mask of the points no other point beats: a point is dominated when another has
    recall >= and QPS >= with at least one strictly greater. Exact duplicates are all kept.
    NaN points are never on the frontier."""
    r = np.asarray(recall, dtype=float)
    q = np.asarray(qps, dtype=float)
    ok = np.isfinite(r) & np.isfinite(q)
    keep = np.zeros(len(r), dtype=bool)
    for i in np.flatnonzero(ok):
        ge = ok & (r >= r[i]) & (q >= q[i])
        gt = (r > r[i]) | (q > q[i])
        keep[i] = not np.any(ge & gt)
    return keep


def pareto_frontier(
    df: pd.DataFrame, x: str = "recall_at_k", y: str = "qps", *, within: Sequence[str] = ()
) -> pd.DataFrame:
    """Rows of ``df`` on the (x, y) Pareto frontier, computed separately per ``within`` group,
    sorted by x. Both axes are 'higher is better'."""
    parts = []
    df = df.reset_index(drop=True)
    for _, rows in iter_groups(df, [c for c in within if c in df.columns]):
        parts.append(rows[pareto_mask(rows[x], rows[y])])
    if not parts:
        return df.iloc[0:0]
    return pd.concat(parts).sort_values([*within, x], kind="stable")


# ------------------------------------------------------------------------ operating points
def _repeats(df: pd.DataFrame) -> pd.Series:
    """Repeats behind each row: ``n_repeats``, else the ``repeats`` setting, else 1."""
    for col in ("n_repeats", "repeats"):
        if col in df.columns:
            return pd.to_numeric(df[col], errors="coerce").fillna(1)
    return pd.Series(1.0, index=df.index)


def score_of(df: pd.DataFrame, metric: str = "recall_at_k") -> pd.Series:
    """The value a target is checked against, per row: the lower 95% CI bound
    ``<metric>_ci_low`` when the row was measured more than once and the bound is there,
    else the metric itself."""
    value = pd.to_numeric(df[metric], errors="coerce") if metric in df else _nan(df)
    low_col = f"{metric}_ci_low"
    if low_col not in df.columns:
        return value
    low = pd.to_numeric(df[low_col], errors="coerce")
    use_low = (_repeats(df) > 1) & low.notna()
    return value.where(~use_low, low)


def _nan(df: pd.DataFrame) -> pd.Series:
    return pd.Series(np.nan, index=df.index)


def _rank_order(df: pd.DataFrame, score: pd.Series) -> list:
    """Index labels of ``df`` best first, deterministically: highest QPS; then highest score;
    then lowest p99 latency, build seconds, index bytes (missing = worst); then table order."""
    keys = pd.DataFrame(
        {
            "qps": -pd.to_numeric(df["qps"], errors="coerce").fillna(-np.inf),
            "score": -score.fillna(-np.inf),
            "p99": pd.to_numeric(df.get("latency_p99_ms", _nan(df)), errors="coerce").fillna(
                np.inf
            ),
            "build": pd.to_numeric(df.get("build_s", _nan(df)), errors="coerce").fillna(np.inf),
            "bytes": pd.to_numeric(df.get("index_bytes", _nan(df)), errors="coerce").fillna(np.inf),
            "order": np.arange(len(df)),
        },
        index=df.index,
    )
    return list(keys.sort_values(list(keys.columns), kind="stable").index)


def operating_point(
    rows: pd.DataFrame,
    target: float,
    *,
    metric: str = "recall_at_k",
    relative_to: str | None = None,
) -> tuple[pd.Series | None, float]:
    """The row with the highest QPS whose score reaches ``target``, and the best score seen.

    - score: :func:`score_of` (the CI lower bound when the row has repeats > 1);
    - ``relative_to``: a column (``knn_acc_exact``) the target is a fraction of, row by row;
      the returned best score is then relative too (score / reference);
    - reaching: ``score >= target - TARGET_TOL``;
    - ties on QPS: higher score, then lower p99 latency, build seconds, index bytes, then the
      earlier row of the table;
    - no row reaches it: ``(None, best score)``, the caller reports it (never dropped).
    """
    rows = rows.reset_index(drop=True)  # labels must be unique for the selection below
    score = score_of(rows, metric)
    if relative_to is not None:
        ref = pd.to_numeric(rows.get(relative_to, _nan(rows)), errors="coerce")
        score = score / ref.where(ref > 0)
    best = float(score.max()) if score.notna().any() else math.nan
    reached = rows[score >= target - TARGET_TOL]
    if reached.empty:
        return None, best
    return reached.loc[_rank_order(reached, score[reached.index])[0]], best


def _config_of(row: pd.Series, columns: Sequence[str]) -> str:
    """'M=16 ef_construction=200 ef=40': the non-empty build and search parameters of a row."""
    parts = []
    for c in columns:
        v = row.get(c)
        if v is None or (isinstance(v, float) and math.isnan(v)) or v == "":
            continue
        parts.append(f"{c.removeprefix('build_').removeprefix('search_')}={format_value(v)}")
    return " ".join(parts)


def format_value(v) -> str:
    """A parameter value as a user would type it (16.0 -> '16')."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return f"{v:.6g}"
    return str(v)


_HIDDEN_BUILD = ("build_metric", "build_seed", "build_threads", "build_n_jobs")


def operating_points(
    df: pd.DataFrame,
    recall_targets: Sequence[float] = (0.9, 0.95, 0.99),
    knn_targets: Sequence[float] = (),
) -> pd.DataFrame:
    """One row per group x target: the operating point (its configuration, recall, QPS,
    latency p50/p99, build seconds, index bytes) or ``status='unreached'`` with the best score
    the group reached. kNN targets are relative to the group's exact-search kNN accuracy
    (``knn_acc >= target * knn_acc_exact``); a group without labels gets ``status='no labels'``.
    """
    check_table(df)
    df = df.reset_index(drop=True)
    gcols = group_columns(df)
    build = [c for c in build_param_columns(df) if c not in _HIDDEN_BUILD]
    knobs = search_columns(df)
    out = []
    for key, rows in iter_groups(df, gcols):
        specs = [("recall", t, "recall_at_k", None) for t in recall_targets]
        specs += [("knn", t, "knn_acc", "knn_acc_exact") for t in knn_targets]
        for kind, target, metric, rel in specs:
            rec = {**key, "target_kind": kind, "target": target}
            has = metric in rows and rows[metric].notna().any()
            if rel is not None and (rel not in rows or rows[rel].notna().sum() == 0):
                has = False
            if not has:
                rec.update(status="no labels" if kind == "knn" else "no recall", best=math.nan)
                out.append(rec)
                continue
            row, best = operating_point(rows, target, metric=metric, relative_to=rel)
            rec["best"] = best
            rec["n_points"] = len(rows)
            rec["n_builds"] = rows["run_id"].nunique() if "run_id" in rows else math.nan
            if row is None:
                rec["status"] = "unreached"
            else:
                rec["status"] = "ok"
                rec["config"] = _config_of(row, [*build, *knobs])
                for c in [*build, *knobs]:
                    rec[c] = row.get(c)
                score = _num(score_of(row.to_frame().T, metric).iloc[0])
                rec["score"] = score / _num(row[rel]) if rel is not None else score
                for c in _POINT_COLUMNS:
                    if c in row.index:
                        rec[c] = row[c]
            out.append(rec)
    return pd.DataFrame(out)


def which_encoder(df: pd.DataFrame, target: float) -> pd.DataFrame:
    """Per dataset (with its parameters and settings), encoders side by side at one recall
    target: the fastest operating point over every index family of that encoder, with the
    encoder's accuracy and cost.

    ``end_to_end_ms`` is text in -> neighbours out for one query: the encoder's amortised time
    per query text (1000 / ``encode_queries_items_per_s``, measured in batches) plus the
    search latency at the operating point (p50, else mean, else 1000 / QPS in batch mode);
    precomputed vectors (no encoder) count no encoding time.
    """
    check_table(df)
    df = df.reset_index(drop=True)
    gcols = [c for c in group_columns(df) if c != "index"]
    out = []
    for key, rows in iter_groups(df, gcols):
        row, best = operating_point(rows, target)
        rec = {**key, "target": target, "best": best}
        if row is None:
            rec["status"] = "unreached"
            out.append(rec)
            continue
        rec["status"] = "ok"
        rec["index"] = row["index"]
        build = [c for c in build_param_columns(df) if c not in _HIDDEN_BUILD]
        rec["config"] = _config_of(row, [*build, *search_columns(df)])
        for c in (*_POINT_COLUMNS, *_ENCODER_COLUMNS):
            if c in row.index:
                rec[c] = row[c]
        rec["encode_query_ms"] = _per_item_ms(row.get("encode_queries_items_per_s"))
        search_ms = _search_ms(row)
        rec["search_ms"] = search_ms
        enc = rec["encode_query_ms"]
        rec["end_to_end_ms"] = search_ms + (0.0 if math.isnan(enc) else enc)
        out.append(rec)
    return pd.DataFrame(out)


def robustness_column(delta: float) -> str:
    """The column of robustness-delta@k (``lookup.schema`` declares the stored deltas)."""
    return f"robustness_at_k_{float(delta)}"


def tail_points(df: pd.DataFrame, share: float, delta: float) -> pd.DataFrame:
    """Per group, the fastest configuration where at least ``share`` of the queries reach
    recall ``delta`` (robustness-delta@k >= share; its CI lower bound with repeats), beside
    the mean-recall pick (mean recall >= ``delta``), and what the tail costs:
    ``qps_cost = mean-pick QPS / tail-pick QPS`` (1 = free; NaN when either is unreached)."""
    check_table(df)
    col = robustness_column(delta)
    if col not in df.columns:
        have = sorted(
            c.removeprefix("robustness_at_k_")
            for c in df
            if c.startswith("robustness_at_k_") and not c.endswith(("_low", "_high"))
        )
        raise BadInput(
            f"no column {col} in the table; robustness is stored at recall "
            f"{', '.join(have) or 'none (rows older than schema 3)'}"
        )
    df = df.reset_index(drop=True)
    build = [c for c in build_param_columns(df) if c not in _HIDDEN_BUILD]
    knobs = search_columns(df)
    out = []
    for key, rows in iter_groups(df, group_columns(df)):
        tail, best_share = operating_point(rows, share, metric=col)
        mean, best_recall = operating_point(rows, delta)
        rec = {**key, "target": f"{share:g}@{delta:g}", "best_share": best_share}
        for name, row in (("tail", tail), ("mean", mean)):
            rec[f"{name}_config"] = _config_of(row, [*build, *knobs]) if row is not None else ""
            rec[f"{name}_qps"] = _num(row["qps"]) if row is not None else math.nan
            rec[f"{name}_recall"] = _num(row["recall_at_k"]) if row is not None else math.nan
            rec[f"{name}_{col}"] = _num(row[col]) if row is not None else math.nan
        rec["status"] = "ok" if tail is not None else "unreached"
        rec["qps_cost"] = rec["mean_qps"] / rec["tail_qps"] if tail is not None else math.nan
        out.append(rec)
    return pd.DataFrame(out)


# ------------------------------------------------------------------------------ codes
CODE_COLUMNS = ("encoder_output", "encoder_truncate_dim")
KNN_TOLERANCE = 0.01  # "within one point" of float32 exact search's kNN accuracy


def _code_view(df: pd.DataFrame) -> pd.DataFrame:
    """Rows with their code made explicit: rows without a code column are float32 at full
    width; the float32 reference of a float32 row is its own truth."""
    df = df.copy()
    if "encoder_output" not in df:
        df["encoder_output"] = np.nan
    df["encoder_output"] = df["encoder_output"].fillna("float32")
    if "encoder_truncate_dim" not in df:
        df["encoder_truncate_dim"] = np.nan
    if "bytes_per_vector" not in df:
        df["bytes_per_vector"] = np.nan
    dim = pd.to_numeric(df.get("dim", _nan(df)), errors="coerce")
    df["bytes_per_vector"] = pd.to_numeric(df["bytes_per_vector"], errors="coerce").fillna(4 * dim)
    ref = pd.to_numeric(df.get("recall_at_k_float32", _nan(df)), errors="coerce")
    df["ref_recall"] = ref.fillna(pd.to_numeric(df["recall_at_k"], errors="coerce"))
    f32 = pd.to_numeric(df.get("knn_acc_exact_float32", _nan(df)), errors="coerce")
    df["ref_knn_exact"] = f32.fillna(
        pd.to_numeric(df.get("knn_acc_exact", _nan(df)), errors="coerce")
    )
    return df


def memory_front(df: pd.DataFrame, tolerance: float = KNN_TOLERANCE) -> pd.DataFrame:
    """Per dataset x encoder (and settings) x code: the code's most accurate point (highest
    kNN accuracy over its indexes, knobs and rescoring; by float32 recall without labels), its
    bytes per vector, kNN accuracy with its interval, recall against float32 exact search, and
    whether its interval reaches within ``tolerance`` of float32 exact search's kNN accuracy
    (``knn_acc_ci_high >= knn exact float32 - tolerance``: the code is not shown to lose more
    than one point; a lower-bound rule would fail float32 itself, whose interval straddles its
    own exact value). Sorted by bytes per vector."""
    check_table(df)
    df = _code_view(df.reset_index(drop=True))
    gcols = [c for c in group_columns(df) if c not in ("index", *CODE_COLUMNS)]
    by = "knn_acc" if "knn_acc" in df and df["knn_acc"].notna().any() else "ref_recall"
    build = [c for c in build_param_columns(df) if c not in _HIDDEN_BUILD]
    out = []
    for key, rows in iter_groups(df, [*gcols, *CODE_COLUMNS]):
        score = pd.to_numeric(rows[by], errors="coerce")
        if score.notna().sum() == 0:
            continue
        row = rows.loc[score.idxmax()]
        rec = {**key, "bytes_per_vector": row["bytes_per_vector"], "index": row["index"]}
        rec["config"] = _config_of(row, [*build, *search_columns(df)])
        for c in ("knn_acc", "knn_acc_ci_low", "knn_acc_ci_high", "ref_recall", "ref_knn_exact"):
            rec[c] = _num(row.get(c))
        high = rec["knn_acc_ci_high"]
        high = rec["knn_acc"] if math.isnan(high) else high
        rec["within_tolerance"] = bool(high >= rec["ref_knn_exact"] - tolerance)
        out.append(rec)
    front = pd.DataFrame(out)
    return front.sort_values([*gcols, "bytes_per_vector"], kind="stable") if out else front


def smallest_codes(front: pd.DataFrame) -> pd.DataFrame:
    """Per dataset x encoder, the smallest code of :func:`memory_front` within tolerance."""
    if front.empty:
        return front
    gcols = [
        c for c in front.columns if c in group_columns(front) and c not in ("index", *CODE_COLUMNS)
    ]
    ok = front[front["within_tolerance"]]
    if ok.empty:
        return ok
    return (
        ok.sort_values("bytes_per_vector", kind="stable")
        .groupby(gcols, dropna=False, sort=True)
        .head(1)
    )


# Encoder-side columns of the "which encoder" table (beside the operating point's).
_ENCODER_COLUMNS = (
    "label_precision_at_k",
    "encode_db_items_per_s",
    "encode_queries_items_per_s",
    "dim",
)


def _num(v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f


def _per_item_ms(rate) -> float:
    r = _num(rate)
    return 1000.0 / r if r > 0 else math.nan


def _search_ms(row: pd.Series) -> float:
    for c in ("latency_p50_ms", "latency_mean_ms"):
        v = _num(row.get(c))
        if not math.isnan(v):
            return v
    return _per_item_ms(row.get("qps"))


def check_table(df: pd.DataFrame) -> None:
    """ValueError unless ``df`` has rows and the columns of a results table."""
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise BadInput(f"not a results table (missing columns: {', '.join(missing)})")
    if df.empty:
        raise BadInput("the results table has no rows")
