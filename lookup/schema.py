"""The metric table and the row kinds: every measured column is declared here, once.

A **metric** is one :class:`Metric` entry: its column name, how it is computed from the
arrays of one operating point (:class:`Truth` and :class:`Answer`), whether it needs labels,
how it is shown (header, format), which direction is better and a one-line doc. The engine
(:mod:`lookup.experiment`) computes the row values from this table, the summary, the report,
the plots and the frontier code take their columns from it, and ``bench.rescore`` recomputes
old rows from their stored per-query arrays with the same entries.

How a metric becomes a row value, by ``kind``:

- ``per_query``: ``fn(truth, answer) -> (nq,)``; per query, the mean over repeats; the row
  value is ``stat`` of that (the mean, or a quantile such as the 1st percentile), with a 95%
  bootstrap interval over queries (``<name>_ci_low``/``_ci_high``) when ``ci``;
- ``aggregate``: ``fn(truth, answer) -> float``, the mean over repeats (no interval);
- ``timing``: ``fn(answer) -> float`` from the latencies of the timed pass, the mean over
  repeats, with ``<name>_std`` (and ``_min``/``_max``) when ``spread`` says so;
- ``exact``: ``fn(truth) -> float``, once per job from exact search (what an index could at
  best give);
- ``recorded``: computed elsewhere (the probe, the build), declared here for display only.

Adding a metric is one entry in :data:`METRICS` (plus its test); it appears in rows, in
``bench.report``'s operating-point tables and as a ``bench.plot`` panel when ``plot`` is set.

A **row kind** (:data:`ROW_KINDS`) names the metrics its rows carry and its plot axes. Every
row has a ``row_kind`` column; a table may mix kinds, and readers handle the kinds they know
and say which rows they left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lookup import metrics as m

# Rows of schema 3 carry ``row_kind`` and the tail metrics; schema 2 rows (no row_kind) are
# read as "job" rows or, when they have probe columns, "probe" rows (see :func:`kind_of`).
SCHEMA_VERSION = 3
N_BOOT = 1000  # bootstrap resamples of the queries for the 95% confidence intervals
ROBUSTNESS_LEVELS = (0.5, 0.8, 0.9, 1.0)  # delta of robustness_at_k_<delta>
RECALL_PERCENTILES = (1, 5)  # recall_at_k_p<q>


@dataclass(frozen=True)
class Truth:
    """What exact search says, shared by every operating point of a job.

    ``D``/``I``: (nq, k) true distances (harness metric) and ids; ``atol``: the absolute tie
    floor (:func:`lookup.distances.tie_floor`); ``eps``: ann-benchmarks' absolute epsilon;
    labels: (n_db,) and (nq,) arrays, or None.
    """

    D: np.ndarray
    I: np.ndarray  # noqa: E741 (API name)
    k: int
    atol: float = 0.0
    eps: float = m.ANNB_EPS
    db_labels: np.ndarray | None = None
    query_labels: np.ndarray | None = None
    ref: Truth | None = None  # float32 exact search when the index searched a compressed code

    @property
    def has_labels(self) -> bool:
        return self.db_labels is not None and self.query_labels is not None

    def subset(self, rows: np.ndarray) -> Truth:
        """The truth of a subset of the queries (a query group)."""
        ql = None if self.query_labels is None else np.asarray(self.query_labels)[rows]
        ref = None if self.ref is None else self.ref.subset(rows)
        return Truth(
            self.D[rows], self.I[rows], self.k, self.atol, self.eps, self.db_labels, ql, ref
        )


@dataclass(frozen=True)
class FilteredTruth(Truth):
    """The truth of filtered queries (:mod:`lookup.filters`): ``D``/``I`` hold each query's
    nearest database items among those its filter passes, padded (``inf`` / -1) past
    ``n_pass``; ``n_pass`` (nq,) counts the items each query's filter passes; ``label_open``
    (nq,) is True where the filter passes the query's own label and at least one other (only
    there is a k-NN vote inside the filtered set a question: elsewhere the filter decides it)."""

    n_pass: np.ndarray | None = None
    label_open: np.ndarray | None = None

    def subset(self, rows: np.ndarray) -> FilteredTruth:
        ql = None if self.query_labels is None else np.asarray(self.query_labels)[rows]
        return FilteredTruth(
            self.D[rows],
            self.I[rows],
            self.k,
            self.atol,
            self.eps,
            self.db_labels,
            ql,
            n_pass=np.asarray(self.n_pass)[rows],
            label_open=np.asarray(self.label_open)[rows],
        )


@dataclass(frozen=True)
class Answer:
    """What an index returned at one operating point in one repeat.

    ``I``: (nq, k) returned ids (-1 padded); ``D``: (nq, k) the harness's own distances of those
    ids (never the library's); ``latencies_s``: (nq,) per-query seconds (single mode) or None
    (batch mode, where only ``total_s`` was measured).
    """

    I: np.ndarray  # noqa: E741 (API name)
    D: np.ndarray
    latencies_s: np.ndarray | None
    total_s: float
    D_ref: np.ndarray | None = None  # the returned ids' float32-space distances (codes only)

    def subset(self, rows: np.ndarray) -> Answer:
        """The answer for a subset of the queries; batch time is shared out by query count."""
        lat = None if self.latencies_s is None else self.latencies_s[rows]
        total = float(lat.sum()) if lat is not None else self.total_s * len(rows) / len(self.I)
        ref = None if self.D_ref is None else self.D_ref[rows]
        return Answer(self.I[rows], self.D[rows], lat, total, ref)


@dataclass(frozen=True)
class Metric:
    """One measured column. See the module docstring for ``kind``."""

    name: str
    kind: str
    fn: Callable[..., Any] | None
    doc: str
    short: str = ""  # header in the printed summary ("" = not in the summary)
    fmt: str = "{:.4f}"
    higher_is_better: bool = True
    needs_labels: bool = False
    needs_ref: bool = False  # needs the float32 reference truth (rows of a compressed code)
    ci: bool = False  # per_query: 95% bootstrap interval columns
    stat: str | float = "mean"  # per_query: "mean" or a quantile in [0, 1]
    spread: tuple[str, ...] = ()  # timing: "std", "min", "max" columns over repeats
    plot: bool = False  # a bench.plot panel of this metric against recall
    report: bool = True  # shown in bench.report's operating-point tables
    exact: str = ""  # the column of its exact-search value (drawn dashed in its panel)
    label: str = ""  # axis label in plots ("" = the column name)

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", self.name)

    def columns(self) -> list[str]:
        """Every column this metric writes."""
        cols = [self.name]
        if self.ci:
            cols += [f"{self.name}_ci_low", f"{self.name}_ci_high"]
        cols += [f"{self.name}_{s}" for s in self.spread]
        return cols

    def point_columns(self) -> list[str]:
        """The columns an operating-point table shows: the value, its lower bound, its std."""
        cols = [self.name] + ([f"{self.name}_ci_low"] if self.ci else [])
        return cols + ([f"{self.name}_std"] if "std" in self.spread else [])


def _recall_q(t: Truth, a: Answer) -> np.ndarray:
    if isinstance(t, FilteredTruth):  # against min(k, passing): the same rule when all pass
        return m.filtered_recall_per_query(t.D, a.D, t.k, t.n_pass, atol=t.atol)
    return m.recall_per_query(t.D, a.D, t.k, atol=t.atol)


def _filter_knn(t: FilteredTruth, ids: np.ndarray) -> float:
    """k-NN accuracy over the queries whose filter leaves their label open (NaN if none)."""
    rows = np.flatnonzero(np.asarray(t.label_open, dtype=bool))
    if len(rows) == 0:
        return float("nan")
    return float(m.knn_correct(ids[rows], t.db_labels, np.asarray(t.query_labels)[rows]).mean())


def _passing_ids(a: Answer) -> np.ndarray:
    """The answer's ids with those the harness scored as misses (rejected, padding) as -1."""
    return np.where(np.isfinite(a.D), a.I, -1)


def _robustness(delta: float) -> Callable[[Truth, Answer], np.ndarray]:
    def fn(t: Truth, a: Answer) -> np.ndarray:
        return m.robustness_per_query(_recall_q(t, a), delta)

    return fn


def _reciprocal_rank(t: Truth, a: Answer) -> np.ndarray:
    """(nq,) 1/rank of the first returned item at the true nearest distance (ties counted by
    recall_at_k's rule), 0 when none of the k is."""
    nearest = np.asarray(t.D, dtype=np.float64)[:, :1]
    hit = np.asarray(a.D, dtype=np.float64) <= nearest + m.TIE_RTOL * np.abs(nearest) + t.atol
    rank = np.argmax(hit, axis=1) + 1
    return np.where(hit.any(axis=1), 1.0 / rank, 0.0)


def _latency(col: str) -> Callable[[Answer], float | None]:
    def fn(a: Answer) -> float | None:
        return m.latency_stats(a.latencies_s, n=len(a.I), total_s=a.total_s)[col]

    return fn


_RECALL_DOC = (
    "counting only real ties: d <= d_k + 2^-20|d_k| + atol (README: what the numbers mean)"
)

METRICS: tuple[Metric, ...] = (
    Metric(
        "recall_at_k",
        "per_query",
        _recall_q,
        f"recall@k {_RECALL_DOC}",
        short="recall",
        ci=True,
        label="recall",
    ),
    Metric(
        "recall_at_k_float32",
        "per_query",
        lambda t, a: m.recall_per_query(t.ref.D, a.D_ref, t.k, atol=t.ref.atol),
        "recall@k against float32 exact search of the uncompressed vectors (what the user "
        "wanted), the returned ids scored in float32 space; tie rule as recall_at_k",
        short="recall_f32",
        ci=True,
        needs_ref=True,
        label="recall vs float32",
    ),
    Metric(
        "mrr_at_k",
        "per_query",
        _reciprocal_rank,
        "mean reciprocal rank of the true nearest neighbour (or an item tied with it) among "
        "the k returned: 1 when it comes first, 1/r at rank r, 0 when missed",
        ci=True,
        plot=True,
        label="MRR@k",
    ),
    Metric(
        "recall_at_k_ids",
        "per_query",
        lambda t, a: m.recall_ids_per_query(t.I, a.I, t.k),
        "share of the true top-k ids returned (ties not counted)",
        short="recall_ids",
        report=False,
    ),
    Metric(
        "recall_at_k_annb",
        "per_query",
        lambda t, a: m.hits_within_abs(t.D, a.D, t.k, t.eps),
        "ann-benchmarks' recall: within an absolute eps of the true k-th distance",
        short="recall_annb",
        report=False,
    ),
    Metric(
        "epsilon_recall_at_k",
        "per_query",
        lambda t, a: m.epsilon_recall_per_query(t.D, a.D, t.k),
        "ann-benchmarks' epsilon recall: within 1% of the true k-th distance",
        report=False,
    ),
    Metric(
        "rel",
        "aggregate",
        lambda t, a: m.rel(t.D, a.D, t.k),
        "ann-benchmarks' rel: sum of returned distances / sum of true ones (1 is perfect)",
        higher_is_better=False,
        report=False,
    ),
    *(
        Metric(
            f"robustness_at_k_{delta}",
            "per_query",
            _robustness(delta),
            f"share of queries whose recall@k reaches {delta} (robustness-delta@k)",
            ci=True,
            report=delta >= 0.9,
            label=f"robust@{delta}",
        )
        for delta in ROBUSTNESS_LEVELS
    ),
    *(
        Metric(
            f"recall_at_k_p{q}",
            "per_query",
            _recall_q,
            f"the {q}th percentile of per-query recall@k (the tail a mean hides)",
            ci=True,
            stat=q / 100,
            report=q == 1,
            label=f"recall p{q}",
        )
        for q in RECALL_PERCENTILES
    ),
    Metric(
        "knn_acc",
        "per_query",
        lambda t, a: m.knn_correct(a.I, t.db_labels, t.query_labels),
        "k-NN majority-vote accuracy with the index's neighbours (ties to the nearest)",
        short="knn_acc",
        needs_labels=True,
        ci=True,
        plot=True,
        exact="knn_acc_exact",
        label="kNN accuracy",
    ),
    Metric(
        "knn_acc_exact",
        "exact",
        lambda t: m.knn_accuracy(t.I, t.db_labels, t.query_labels),
        "k-NN accuracy with exact neighbours: what an index can reach",
        short="knn_exact",
        needs_labels=True,
        label="kNN exact",
    ),
    Metric(
        "knn_acc_exact_float32",
        "exact",
        lambda t: m.knn_accuracy(t.ref.I, t.db_labels, t.query_labels),
        "k-NN accuracy with float32 exact neighbours of the uncompressed vectors",
        short="knn_exact_f32",
        needs_labels=True,
        needs_ref=True,
        label="kNN exact float32",
    ),
    Metric(
        "hit_at_k",
        "per_query",
        lambda t, a: m.hit_per_query(a.I, t.db_labels, t.query_labels, t.k),
        "share of queries with a same-label item among the first k",
        short="hit@k",
        needs_labels=True,
        label="hit@k",
    ),
    Metric(
        "label_precision_at_k",
        "per_query",
        lambda t, a: m.label_precision_per_query(a.I, t.db_labels, t.query_labels, t.k),
        "mean share of the first k neighbours carrying the query's label",
        needs_labels=True,
        report=False,
    ),
    Metric(
        "n_short_answers",
        "aggregate",
        lambda t, a: float(m.short_answers(a.D, t.k, t.n_pass).sum()),
        "filtered queries answered with fewer than min(k, passing) items (post-filtering out "
        "of candidates, an IVF probe short of passing items)",
        short="short",
        fmt="{:.0f}",
        higher_is_better=False,
    ),
    Metric(
        "filter_n_below_k",
        "exact",
        lambda t: float(np.sum(np.asarray(t.n_pass) < t.k)),
        "queries whose filter passes fewer than k database items (recall counts min(k, passing))",
        short="below_k",
        fmt="{:.0f}",
        higher_is_better=False,
    ),
    Metric(
        "filter_knn_acc",
        "aggregate",
        lambda t, a: _filter_knn(t, _passing_ids(a)),
        "k-NN accuracy inside the filtered set, over the queries whose filter passes their own "
        "label and another (NaN when none does: the own-label filter makes it 1, another "
        "label's 0, by construction)",
        needs_labels=True,
        label="kNN acc (filtered)",
    ),
    Metric(
        "filter_knn_acc_exact",
        "exact",
        lambda t: _filter_knn(t, np.asarray(t.I)),
        "filter_knn_acc with the exact filtered neighbours: what an index can reach",
        needs_labels=True,
        label="kNN exact (filtered)",
    ),
    Metric(
        "latency_mean_ms",
        "timing",
        _latency("latency_mean_ms"),
        "mean latency of the library call (batch mode: the batch time per query)",
        short="mean_ms",
        higher_is_better=False,
        spread=("std",),
        report=False,
    ),
    *(
        Metric(
            f"latency_p{p}_ms",
            "timing",
            _latency(f"latency_p{p}_ms"),
            f"{p}th percentile of per-query latency (single mode only)",
            short=f"p{p}_ms" if p != 95 else "",
            higher_is_better=False,
            report=p != 95,
            label=f"p{p} ms",
        )
        for p in (50, 95, 99)
    ),
    Metric(
        "qps",
        "timing",
        _latency("qps"),
        "queries per second of the library call alone",
        short="qps",
        fmt="{:.0f}",
        spread=("std", "min", "max"),
        label="QPS",
    ),
)
_BY_NAME = {mt.name: mt for mt in METRICS}


def metric(name: str) -> Metric:
    """The entry of a metric column; KeyError naming the valid ones otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; valid: {', '.join(_BY_NAME)}") from None


# ----------------------------------------------------------------------------- row kinds
@dataclass(frozen=True)
class RowKind:
    """A kind of row: which metric columns it carries and what its plots draw."""

    name: str
    doc: str
    metrics: tuple[str, ...]
    x: str = "recall_at_k"  # the quality axis of its frontier and plots
    y: str = "qps"  # the speed axis (higher is better)
    sweep: tuple[str, ...] = ()  # columns (besides search_*) that a curve sweeps over
    extra: tuple[str, ...] = field(default=())  # kind-specific columns shown in summaries

    def metric_entries(self) -> list[Metric]:
        return [metric(n) for n in self.metrics]


# Metrics that only a filtered truth (FilteredTruth) can compute: not in job rows.
_FILTER_ONLY = ("n_short_answers", "filter_n_below_k", "filter_knn_acc", "filter_knn_acc_exact")
_JOB_METRICS = tuple(mt.name for mt in METRICS if mt.name not in _FILTER_ONLY)
# What a changing index (runbook) or a refreshed encoder is scored on at each point.
_LIVE_METRICS = (
    "recall_at_k",
    "recall_at_k_ids",
    "recall_at_k_p1",
    "knn_acc",
    "knn_acc_exact",
    "hit_at_k",
    "latency_mean_ms",
    "latency_p50_ms",
    "latency_p99_ms",
    "qps",
)

ROW_KINDS: dict[str, RowKind] = {
    "job": RowKind(
        "job",
        "an index's operating point: one built index x one point of its search-knob sweep",
        _JOB_METRICS,
    ),
    "probe": RowKind(
        "probe",
        "the short-query probe: one query set (one-word nouns or n-word queries), exact search",
        ("hit_at_k",),
        x="probe_query_words",
        y="probe_word_share",
        extra=("probe_query_kind", "probe_query_words", "probe_chance_share", "probe_hit_chance"),
    ),
    "runbook": RowKind(
        "runbook",
        "a checkpoint of a runbook (lookup.runbook): an index changed in place (or rebuilt) "
        "through inserts and deletes, scored against exact search over the live ids",
        _LIVE_METRICS,
        x="generation",
        y="recall_at_k",
        sweep=("step",),
        extra=(
            "step",  # position of the search step in the generated steps
            "generation",  # 0: right after the build
            "n_live",  # ids in the index at the checkpoint
            "maintenance",  # in_place | rebuild (the control: rebuilt at every checkpoint)
            "n_inserted",  # ids inserted since the previous checkpoint (and ..._total)
            "n_deleted",
            "insert_s",  # seconds of the library's inserts since the previous checkpoint
            "delete_s",
            "insert_per_s",  # insert throughput (items/s) since the previous checkpoint
            "delete_per_s",
            "insert_s_total",
            "delete_s_total",
            "build_s",  # the build this checkpoint's index came from
            "builds_s_total",
            "upkeep_s_total",  # build + insert + delete seconds since the start
            "index_bytes",
            "dead_ids",  # returned ids that were deleted (counted as misses; 0 when correct)
        ),
    ),
    "refresh": RowKind(
        "refresh",
        "an encoder refresh (lookup.refresh): an index of one encoder checkpoint searched "
        "with another's queries, or rebuilt, scored against exact search in the new space",
        _LIVE_METRICS,
        extra=(
            "refresh_setup",  # stale | kept | rebuilt (lookup.refresh.SETUPS)
            "refresh_encode_db_s",  # re-encoding the database with the new checkpoint
            "refresh_build_s",  # building the index on the new vectors
            "refresh_cost_s",  # the two together: the price of the rebuilt setup
        ),
    ),
    "filter": RowKind(
        "filter",
        "a filtered lookup (lookup.filters): one filter kind and selectivity x one strategy "
        "(post, in_search, exact) x one knob point, scored against the exact filtered truth",
        (
            "recall_at_k",
            "n_short_answers",
            "filter_n_below_k",
            "filter_knn_acc",
            "filter_knn_acc_exact",
            "latency_mean_ms",
            "latency_p50_ms",
            "latency_p99_ms",
            "qps",
        ),
        sweep=("filter_selectivity", "filter_oversample"),
        extra=("filter_kind", "filter_strategy", "filter_selectivity_achieved"),
    ),
}


def kind_of(row: Mapping[str, Any]) -> str:
    """A row's kind: its ``row_kind`` column, else (schema 2 rows) inferred from its columns."""
    kind = row.get("row_kind")
    if isinstance(kind, str) and kind:
        return kind
    probe = row.get("probe_query_kind")
    return "probe" if isinstance(probe, str) and probe else "job"


def summary_metrics(kind: str = "job") -> list[Metric]:
    """The metrics a printed summary of ``kind`` rows shows, in table order."""
    names = set(ROW_KINDS[kind].metrics)
    return [mt for mt in METRICS if mt.short and mt.name in names]


def report_columns(kind: str = "job") -> list[Metric]:
    """The metrics ``bench.report`` copies into its operating-point tables."""
    names = set(ROW_KINDS[kind].metrics)
    return [mt for mt in METRICS if mt.report and mt.name in names]


def plot_metrics(kind: str = "job") -> list[Metric]:
    """Metrics ``bench.plot`` draws against recall (one panel each)."""
    names = set(ROW_KINDS[kind].metrics)
    return [mt for mt in METRICS if mt.plot and mt.name in names]


def metric_columns(entries: Iterable[Metric] = METRICS) -> list[str]:
    """Every column the given metrics write."""
    return [c for mt in entries for c in mt.columns()]


# ----------------------------------------------------------------------------- evaluation
def evaluate(
    truth: Truth,
    answers: list[Answer],
    *,
    kind: str = "job",
    seed: int = 0,
    n_boot: int = N_BOOT,
) -> dict[str, Any]:
    """The metric columns of one operating point measured ``len(answers)`` times (repeats).

    Pure: arrays in, a dict of numbers out. Metrics that need labels are left out when the
    truth has none; timing columns stay None where the mode measured nothing (batch-mode
    percentiles).
    """
    if not answers:
        raise ValueError("evaluate needs at least one answer")
    entries = [
        mt
        for mt in ROW_KINDS[kind].metric_entries()
        if (truth.has_labels or not mt.needs_labels) and (truth.ref is not None or not mt.needs_ref)
    ]
    row: dict[str, Any] = {}
    per_query = {}
    for mt in entries:
        if mt.kind == "per_query":
            q = np.mean([mt.fn(truth, a) for a in answers], axis=0)  # (nq,) mean over repeats
            per_query[mt.name] = q
            row[mt.name] = float(m.statistic(q, mt.stat))
        elif mt.kind == "aggregate":
            row[mt.name] = float(np.mean([mt.fn(truth, a) for a in answers]))
        elif mt.kind == "exact":
            row[mt.name] = float(mt.fn(truth))
        elif mt.kind == "timing":
            row.update(_timing(mt, [mt.fn(a) for a in answers]))
    with_ci = [mt for mt in entries if mt.ci and mt.name in per_query]
    if with_ci:
        values = np.vstack([per_query[mt.name] for mt in with_ci])
        bounds = m.bootstrap_intervals(
            values, [mt.stat for mt in with_ci], seed=seed, n_boot=n_boot
        )
        for mt, (lo, hi) in zip(with_ci, bounds, strict=True):
            row[f"{mt.name}_ci_low"], row[f"{mt.name}_ci_high"] = lo, hi
    return row


def _timing(mt: Metric, values: list[float | None]) -> dict[str, float | None]:
    """Mean over repeats and the declared spread columns (std needs two repeats)."""
    xs = [float(v) for v in values if v is not None]
    out: dict[str, float | None] = {mt.name: float(np.mean(xs)) if xs else None}
    for s in mt.spread:
        if s == "std":
            out[f"{mt.name}_std"] = float(np.std(xs, ddof=1)) if len(xs) > 1 else None
        elif s == "min":
            out[f"{mt.name}_min"] = min(xs) if xs else None
        elif s == "max":
            out[f"{mt.name}_max"] = max(xs) if xs else None
    return out
