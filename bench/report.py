"""`python -m bench.report [TABLE ...] [--where KEY=VALUE ...] [--target-recall 0.9,0.95,0.99]
[--target-knn 0.99] [--target-robustness 0.99@0.9] [--out DIR]`: from result tables to a decision.

Prints the operating points as a table on stdout and writes into DIR (default outputs/report;
checked before any table is read: a file, FIFO or device there is one line, exit 2; every file
is written atomically, through symlinks, and a full disk leaves no partial file):
- operating_points.csv / which_encoder.csv / frontier.csv (/ tail_points.csv, memory_front.csv);
- report.md: the tables in Markdown, with the figures as PNG files beside it (figures/);
- report.html: one self-contained page (figures inlined as base64 PNG, sortable tables by a few
  lines of inline JavaScript, no external URL), to open in any browser offline.

Operating point (per dataset x encoder x index family, per target): the configuration, build +
search knobs, with the highest QPS whose recall reaches the target (its 95% CI lower bound when
the row was measured with repeats > 1); a kNN target is a fraction of the group's exact-search
kNN accuracy. Selection rules and ties: :func:`lookup.frontier.operating_point`. A robustness
target ``S@R`` asks for the fastest configuration where a share S of the queries reach recall R
(robustness-R@k >= S, :func:`lookup.frontier.tail_points`), beside the mean-recall pick for R
and what the tail costs in QPS. The columns come from the metric table (:mod:`lookup.schema`).
Runbook rows add two sections (recall over generations; the generation at which a rebuild
pays for itself at each recall target, rule in :mod:`lookup.lifecycle`) and the runbook
figure; refresh rows add the encoder-refresh table (:mod:`bench.report_runbook`). Other rows
are left out and the command says how many.
Filter rows (``python -m bench filter=...``) get their own section, crossovers.csv (per
encoder x index x filter kind x recall target, the selectivity below which exact search over
the filtered subset beats the index, :mod:`lookup.crossover`) and the filters figure; other
kinds are left out and the command says which rows it left out.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import html
import io
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench import report_runbook
from bench.errors import bad_input_code
from bench.plot import KINDS, add_where_argument, draw, job_rows, panel_columns, read_tables
from bench.plot_runbook import draw_runbooks
from bench.table import default_table
from lookup import crossover, frontier, schema
from lookup.errors import BadInput
from lookup.io import atomic_path, atomic_write_bytes, check_output_dir

DEFAULT_OUT = "outputs/report"


# Displayed columns: (column, header, format). Missing columns are left out.
def _metric_spec(mt: schema.Metric) -> list[tuple[str, str, str]]:
    fmt = "{:,.0f}" if mt.name == "qps" else ("{:.6g}" if mt.name == "recall_at_k" else mt.fmt)
    out = [(mt.name, mt.label, fmt)]
    if mt.ci and mt.name == "recall_at_k":
        out.append((f"{mt.name}_ci_low", f"{mt.label} CI low", fmt))
    if "std" in mt.spread:
        out.append((f"{mt.name}_std", f"{mt.label} std", fmt))
    return out


_OP_COLUMNS = (
    ("target_kind", "target on", "{}"),
    ("target", "target", "{:g}"),
    ("status", "status", "{}"),
    ("config", "build + search knobs", "{}"),
    ("score", "score", "{:.6g}"),
    *(c for mt in schema.report_columns("job") for c in _metric_spec(mt)),
    ("build_s", "build s", "{:.3g}"),
    ("index_bytes", "index MB", "mb"),
    ("best", "best score in group", "{:.6g}"),
)
# Printed on stdout: the decision at a glance.
_STDOUT_COLUMNS = ("target", "status", "config", "recall_at_k", "qps", "latency_p99_ms")
_TAIL_COLUMNS = (
    ("target", "share@recall", "{}"),
    ("status", "status", "{}"),
    ("tail_config", "tail pick: build + search knobs", "{}"),
    ("tail_qps", "tail QPS", "{:,.0f}"),
    ("tail_recall", "tail mean recall", "{:.4f}"),
    ("mean_config", "mean-recall pick", "{}"),
    ("mean_qps", "mean-pick QPS", "{:,.0f}"),
    ("qps_cost", "QPS cost (mean/tail)", "{:.2f}x"),
    ("best_share", "best share in group", "{:.4f}"),
)
_ENC_COLUMNS = (
    ("target", "recall target", "{:g}"),
    ("status", "status", "{}"),
    ("index", "index", "{}"),
    ("config", "build + search knobs", "{}"),
    ("recall_at_k", "recall", "{:.6g}"),
    ("knn_acc", "kNN acc", "{:.4f}"),
    ("knn_acc_exact", "kNN exact", "{:.4f}"),
    ("hit_at_k", "hit@k", "{:.4f}"),
    ("end_to_end_ms", "text -> neighbours ms", "{:.4g}"),
    ("encode_query_ms", "encode ms/query", "{:.4g}"),
    ("search_ms", "search ms", "{:.4g}"),
    ("encode_queries_items_per_s", "encode query items/s", "{:,.0f}"),
    ("encode_db_items_per_s", "encode db items/s", "{:,.0f}"),
    ("qps", "QPS", "{:,.0f}"),
    ("dim", "dim", "{:.0f}"),
)


# The crossover of filter rows (lookup.crossover), per group x index strategy x target.
_CROSS_COLUMNS = (
    ("filter_kind", "filter", "{}"),
    ("strategy", "index strategy", "{}"),
    ("target", "recall target", "{:g}"),
    ("status", "status", "{}"),
    ("crossover", "crossover", "{:.3g}"),
    ("exact_wins_below", "exact wins up to", "{:.3g}"),
    ("index_wins_from", "index wins from", "{:.3g}"),
    ("crossover_low", "interval low", "{:.3g}"),
    ("crossover_high", "interval high", "{:.3g}"),
    ("n_repeats", "repeats", "{:.0f}"),
    ("n_flips", "flips", "{:.0f}"),
    ("qps_ratio_lowest", "index/exact QPS, lowest", "{:.3g}"),
    ("qps_ratio_highest", "index/exact QPS, highest", "{:.3g}"),
    ("x_lowest", "lowest selectivity", "{:.3g}"),
    ("x_highest", "highest selectivity", "{:.3g}"),
)
_CROSS_STDOUT = (
    "filter_kind",
    "strategy",
    "target",
    "status",
    "crossover",
    "exact_wins_below",
    "index_wins_from",
    "crossover_low",
    "crossover_high",
)
_CROSS_NOTE = (
    "Filtered lookups (rows of kind filter): the selectivity (share of the database that "
    "passes the filter) below which exact search over the filtered subset is faster than the "
    "index strategy's fastest knob point reaching the recall target (best: the faster of post "
    "and in_search at each selectivity). 'exact wins up to' and 'index wins from' are the "
    "measured points around it, 'crossover' their log-log interpolation of the QPS ratio; the "
    "interval widens that bracket by the QPS spread over repeats (empty: beyond the sweep); "
    "flips > 1 means the winner changes more than once along the sweep. Own- and other-label "
    "points are selectivity bins of their queries (lookup.crossover)."
)


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line on stderr and exit code 2."""

    def error(self, message: str):  # noqa: D401 - argparse's hook
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def parse_targets(text: str | None, option: str) -> list[float]:
    """'0.9,0.95' -> [0.9, 0.95]; each in (0, 1]; BadInput naming the option otherwise."""
    if text is None or not text.strip():
        return []
    out = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            value = math.nan
        if not 0 < value <= 1:
            raise BadInput(
                f"{option} {text!r} is invalid; use numbers in (0, 1] separated by commas"
            )
        out.append(value)
    return sorted(set(out))


def parse_robustness(text: str | None) -> list[tuple[float, float]]:
    """'0.99@0.9,0.95@1.0' -> [(0.99, 0.9), (0.95, 1.0)]: share of queries @ recall each one
    reaches; both in (0, 1]; BadInput otherwise."""
    if text is None or not text.strip():
        return []
    out = []
    for part in text.split(","):
        share, sep, recall = part.partition("@")
        try:
            pair = (float(share), float(recall))
        except ValueError:
            pair = (math.nan, math.nan)
        if not sep or not all(0 < v <= 1 for v in pair):
            raise BadInput(
                f"--target-robustness {text!r} is invalid; use SHARE@RECALL, e.g. 0.99@0.9 "
                "(99% of the queries at recall >= 0.9), each in (0, 1], separated by commas"
            )
        out.append(pair)
    return out


@dataclass(frozen=True)
class Targets:
    """What the report selects operating points for."""

    recall: tuple[float, ...] = (0.9, 0.95, 0.99)
    knn: tuple[float, ...] = ()
    robustness: tuple[tuple[float, float], ...] = ()


# --------------------------------------------------------------------------------- tables
def _label_columns(df: pd.DataFrame, table: pd.DataFrame) -> list[str]:
    """Group columns worth showing: dataset, encoder, index and any group parameter that
    differs in the table (others are the same everywhere and go to the header)."""
    base = [c for c in ("dataset", "encoder", "index") if c in table.columns]
    gcols = [c for c in frontier.group_columns(df) if c in table.columns and c not in base]
    return base[:2] + frontier.varying(table, gcols) + base[2:]


def _fmt(value, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return ""
    if spec == "mb":
        return f"{float(value) / 1e6:.2f}"
    try:
        return spec.format(value)
    except (TypeError, ValueError):
        return str(value)


def display_table(table: pd.DataFrame, labels: list[str], spec) -> tuple[list[str], list[list]]:
    """(headers, rows of (text, sort value)) for the present columns."""
    cols = [(c, c.removeprefix("dataset_").removeprefix("encoder_"), "{}") for c in labels]
    cols += [s for s in spec if s[0] in table.columns]
    headers = [h for _, h, _ in cols]
    rows = []
    for _, r in table.iterrows():
        cells = []
        for c, _, f in cols:
            v = r.get(c)
            if c in labels:
                text = "" if _fmt(v, "{}") == "" else frontier.format_value(v)
            else:
                text = _fmt(v, f)
            if c == "config" and r.get("status") == "unreached":
                text = f"none reaches {r['target']:g} (best {r.get('best', math.nan):.6g})"
            cells.append((text, v))
        rows.append(cells)
    return headers, rows


def markdown(headers: list[str], rows: list[list]) -> str:
    esc = lambda s: str(s).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(esc(h) for h in headers) + " |"]
    lines.append("|" + "|".join("---" for _ in headers) + "|")
    lines += ["| " + " | ".join(esc(t) for t, _ in r) + " |" for r in rows]
    return "\n".join(lines)


def html_table(headers: list[str], rows: list[list]) -> str:
    """A sortable table: numeric cells carry their raw value in data-v."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for r in rows:
        cells = []
        for text, v in r:
            num = _as_number(v)
            attr = f' data-v="{num!r}"' if num is not None else ""
            cls = ' class="bad"' if text.startswith("none reaches") else ""
            cls = cls or ("" if num is not None else ' class="t"')
            cells.append(f"<td{attr}{cls}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="wrap"><table class="sortable"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _as_number(v) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


# ---------------------------------------------------------------------------------- report
def _present(v) -> bool:
    return not (v is None or v == "" or (isinstance(v, float) and math.isnan(v)))


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-._" else "-" for ch in text)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


_JS = """
document.querySelectorAll('table.sortable th').forEach(function (th) {
  th.title = 'click to sort';
  th.addEventListener('click', function () {
    var table = th.closest('table'), body = table.tBodies[0];
    var col = Array.prototype.indexOf.call(th.parentNode.children, th);
    var asc = th.dataset.dir !== 'asc'; th.dataset.dir = asc ? 'asc' : 'desc';
    var key = function (tr) { var td = tr.children[col];
      return td.dataset.v !== undefined ? parseFloat(td.dataset.v) : td.textContent; };
    Array.from(body.rows).sort(function (a, b) {
      var x = key(a), y = key(b), c = (typeof x === 'number' && typeof y === 'number')
        ? x - y : String(x).localeCompare(String(y), undefined, {numeric: true});
      return asc ? c : -c;
    }).forEach(function (tr) { body.appendChild(tr); });
  });
});
"""
_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 12px; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; white-space: nowrap; }
th { background: #f0f0f0; cursor: pointer; position: sticky; top: 0; }
td.t { text-align: left; }
.wrap { overflow-x: auto; max-width: 100%; }
td.bad { color: #a00; text-align: left; }
img { max-width: 100%; border: 1px solid #ddd; }
code { background: #f4f4f4; padding: 0 3px; }
.note { color: #555; max-width: 70em; }
"""


def _sections(df: pd.DataFrame, built: dict[str, pd.DataFrame]):
    """(title, note, headers, rows) for each table section."""
    out = []
    ops, enc = built["operating_points"], built["which_encoder"]
    op_labels = _label_columns(df, ops)
    for kind, note in (
        (
            "recall",
            "Highest QPS whose tie-aware recall@k (its 95% CI lower bound when measured with "
            "repeats > 1) reaches the target; ties: higher score, then lower p99, build "
            "seconds, index bytes, then table order.",
        ),
        (
            "knn",
            "kNN target relative to the group's exact-search kNN accuracy: "
            "knn_acc >= target x knn_acc_exact; 'score' is knn_acc / knn_acc_exact.",
        ),
    ):
        part = ops[ops["target_kind"] == kind] if "target_kind" in ops else ops.iloc[0:0]
        if part.empty:
            continue
        drop = {"target_kind"}
        if kind == "recall" and "score" in part and "recall_at_k" in part:
            same = (part["score"] - part["recall_at_k"]).abs().fillna(0).max() == 0
            drop |= {"score"} if same else set()  # no repeats: the score is the recall
        spec = [s for s in _OP_COLUMNS if s[0] not in drop]
        h, r = display_table(part, op_labels, spec)
        out.append((f"Operating points: {kind} targets", note, h, r))
    if not enc.empty:
        enc_labels = _label_columns(df, enc)
        enc_labels = [c for c in enc_labels if c != "index"]
        h, r = display_table(enc, enc_labels, _ENC_COLUMNS)
        out.append(
            (
                "Which encoder",
                "Per dataset, each encoder at its fastest operating point over every index "
                "family for the recall target. Text -> neighbours = encoding one query "
                "(1 / encode query items/s, measured in batches) + search latency p50 at that "
                "point (1 / QPS in batch mode).",
                h,
                r,
            )
        )
    if "memory_front" in built:
        out.append(_memory_section(df, built["memory_front"]))
    if "tail_points" in built:
        tails = built["tail_points"]
        h, r = display_table(tails, _label_columns(df, tails), _TAIL_COLUMNS)
        note = (
            "SHARE@RECALL: the fastest configuration where at least SHARE of the queries reach "
            "recall@k >= RECALL (robustness-RECALL@k, its CI lower bound with repeats > 1), "
            "beside the fastest whose MEAN recall reaches RECALL; QPS cost = mean-pick QPS / "
            "tail-pick QPS (the price of a guarantee per query, not on average)."
        )
        out.append(("Tail operating points", note, h, r))
    return out


_MEMORY_COLUMNS = (
    ("encoder_output", "code", "{}"),
    ("encoder_truncate_dim", "dims kept", "{:.0f}"),
    ("bytes_per_vector", "bytes/vector", "{:g}"),
    ("index", "index", "{}"),
    ("config", "build + search knobs", "{}"),
    ("knn_acc", "kNN acc", "{:.4f}"),
    ("knn_acc_ci_low", "kNN CI low", "{:.4f}"),
    ("knn_acc_ci_high", "kNN CI high", "{:.4f}"),
    ("ref_knn_exact", "kNN float32 exact", "{:.4f}"),
    ("ref_recall", "recall vs float32", "{:.4f}"),
    ("within_tolerance", "within 1 point", "{}"),
)


def _memory_section(df: pd.DataFrame, front: pd.DataFrame):
    """The memory front and, per dataset x encoder, the smallest code within one point."""
    labels = [c for c in _label_columns(df, front) if c not in ("index", *frontier.CODE_COLUMNS)]
    h, r = display_table(front, labels, _MEMORY_COLUMNS)
    best = frontier.smallest_codes(front)
    named = [
        f"{row['dataset']} / {row['encoder']}: {row['encoder_output']}"
        + (
            f" of {int(row['encoder_truncate_dim'])} dims"
            if _present(row.get("encoder_truncate_dim"))
            else ""
        )
        + f" ({row['bytes_per_vector']:g} bytes/vector)"
        for _, row in best.iterrows()
    ]
    note = (
        "Each code (encoder.output x truncate_dim) at its most accurate configuration. A code is "
        "within one point when the upper end of its kNN-accuracy interval reaches float32 exact "
        "search's kNN accuracy minus 0.01. Smallest code within one point: "
        + ("; ".join(named) if named else "none")
        + "."
    )
    return ("Memory front: bytes per vector", note, h, r)


def build(df: pd.DataFrame, targets: Targets) -> dict[str, pd.DataFrame]:
    """The report's tables: operating points, which encoder (per recall target), the
    frontier, and the tail points (per robustness target)."""
    tables = {"operating_points": frontier.operating_points(df, targets.recall, targets.knn)}
    enc = pd.concat(
        [frontier.which_encoder(df, t) for t in targets.recall] or [pd.DataFrame()],
        ignore_index=True,
    )
    if "dataset" in enc:
        enc = enc.sort_values(["dataset", "target"], kind="stable")
    tables["which_encoder"] = enc
    tables["frontier"] = frontier.pareto_frontier(df, within=frontier.curve_columns(df))
    from bench.plot_codes import has_codes

    if has_codes(df):
        tables["memory_front"] = frontier.memory_front(df)
    if targets.robustness:
        tables["tail_points"] = pd.concat(
            [frontier.tail_points(df, share, r) for share, r in targets.robustness],
            ignore_index=True,
        )
    return tables


def _read(tables: list[str], where: list[str] | None, targets: Targets):
    """(job rows, their tables, runbook/refresh tables, filter rows, every row) of the
    filtered tables; says on stderr which rows each part left out."""
    every = frontier.apply_where(read_tables(tables), where)
    kinds = frontier.kinds_of(every)
    life = report_runbook.build(every, targets.recall)
    filt = every[kinds == "filter"]
    if (kinds == "job").any() or not (life or len(filt)):
        df = job_rows(every, "bench.report")
        return df, build(df, targets), life, filt, every
    print("bench.report: no job rows; reporting the other row kinds only", file=sys.stderr)
    return every.iloc[0:0], {}, life, filt, every


def _figure_target(targets: Targets) -> float:
    """The recall target of the filter figure: the middle one of the recall targets."""
    ts = sorted(targets.recall) or [0.95]
    return ts[len(ts) // 2]


def _filter_parts(filt: pd.DataFrame, targets: Targets, built: dict) -> list:
    """The crossover table (into ``built``) and the filter figure of the filter rows."""
    if filt.empty:
        return []
    from bench.plot_filters import draw_filters

    built["crossovers"] = crossover.crossovers(filt, targets.recall or (0.95,))
    return [("filters", _png(draw_filters(filt, _figure_target(targets))))]


def _figures(df: pd.DataFrame) -> list[tuple[str, bytes]]:
    """One figure per dataset row (so the HTML shows each near full size), named by its
    position and dataset only (never by a parameter such as a data path)."""
    out = []
    for i, (key, part) in enumerate(frontier.iter_groups(df, panel_columns(df)), 1):
        out.append((f"figure{i}_{_slug(str(key['dataset']))}", _png(draw(part, KINDS))))
    return out


def _page(meta: str, sections, figures) -> tuple[str, str]:
    """(Markdown, self-contained HTML) of the report."""
    md = ["# Benchmark report", "", meta, ""]
    for title, note, h, r in sections:
        md += [f"## {title}", "", note, "", markdown(h, r), ""]
    md += ["## Figures", ""] + [f"![{n}](figures/{n}.png)" for n, _ in figures] + [""]
    body = [f"<h1>Benchmark report</h1><p class='note'>{html.escape(meta)}</p>"]
    body.append("<p class='note'>Click a column header to sort.</p>")
    for title, note, h, r in sections:
        body.append(f"<h2>{html.escape(title)}</h2><p class='note'>{html.escape(note)}</p>")
        body.append(html_table(h, r))
    body.append("<h2>Figures</h2>")
    for name, png in figures:
        data = base64.b64encode(png).decode("ascii")
        body.append(f'<p><img alt="{name}" src="data:image/png;base64,{data}"></p>')
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<title>lookup benchmark report</title>"
        f"<style>{_CSS}</style></head><body>{''.join(body)}<script>{_JS}</script></body></html>"
    )
    return "\n".join(md), page


def write_report(
    tables: list[str],
    out: str | Path = DEFAULT_OUT,
    where: list[str] | None = None,
    targets: Targets = Targets(),
) -> tuple[list[Path], str]:
    """Read, filter, select and write every output file; returns their paths and the
    operating points as text for the terminal. Runbook and refresh rows
    (:mod:`bench.report_runbook`) and filter rows (crossovers) get sections of their own; a
    table may hold only those."""
    folder = check_output_dir("--out", out)
    check_output_dir("--out", folder / "figures")
    df, built, life, filt, every = _read(tables, where, targets)
    figures = (_figures(df) if "operating_points" in built else []) + _filter_parts(
        filt, targets, built
    )  # the filter part adds the crossover table to ``built``
    runbooks = frontier.rows_of_kind(every, "runbook")[0]
    if not runbooks.empty:
        figures.append(("runbook", _png(draw_runbooks(runbooks))))
    paths = []

    def write(path: Path, data: bytes) -> None:
        atomic_write_bytes(path, data, key="--out")
        paths.append(path)

    for name, table in {**built, **life}.items():
        with atomic_path(folder / f"{name}.csv", suffix=".csv", key="--out") as tmp:
            table.to_csv(tmp, index=False)
        paths.append(folder / f"{name}.csv")
    for name, png in figures:
        write(folder / "figures" / f"{name}.png", png)
    stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    source = ", ".join(str(t) for t in tables)
    where_s = " ".join(where or []) or "none"
    both = pd.concat([df, filt])
    sha = both["git_sha"] if "git_sha" in both else pd.Series(dtype=str)
    shas = ", ".join(sorted(sha.dropna().astype(str).unique()))
    n_rows = f"{len(df)} job rows" + (f" and {len(filt)} filter rows" if len(filt) else "")
    meta = f"{n_rows} from {source}; filters: {where_s}; git: {shas or 'unknown'}; {stamp}"
    found = (_sections(df, built) if "operating_points" in built else []) + _crossover_sections(
        filt, built
    )
    md, page = _page(meta, found + report_runbook.sections(life), figures)
    write(folder / "report.md", md.encode("utf-8"))
    write(folder / "report.html", page.encode("utf-8"))
    text = terminal_summary(df, built, filt)
    return paths, "\n".join([text, report_runbook.terminal(life)]).strip()


def _crossover_sections(filt: pd.DataFrame, built: dict) -> list:
    cross = built.get("crossovers")
    if cross is None or cross.empty:
        return []
    h, r = display_table(cross, _label_columns(filt, cross), _CROSS_COLUMNS)
    return [("Filtered lookups: where exact search over the subset wins", _CROSS_NOTE, h, r)]


def terminal_summary(
    df: pd.DataFrame, built: dict[str, pd.DataFrame], filt: pd.DataFrame | None = None
) -> str:
    """The operating points (tail points, crossovers) as aligned text: the decision at a
    glance."""
    parts = []
    cross = built.get("crossovers")
    if cross is not None and not cross.empty:
        spec = [c for c in _CROSS_COLUMNS if c[0] in _CROSS_STDOUT]
        labels = _label_columns(filt if filt is not None else df, cross)
        parts += ["crossovers (exact over the filtered subset vs the index):"]
        parts += [text_table(*display_table(cross, labels, spec))]
    if "operating_points" not in built:
        return "\n".join(parts)
    ops = built["operating_points"]
    labels = _label_columns(df, ops)
    spec = [c for c in _OP_COLUMNS if c[0] in _STDOUT_COLUMNS or c[0] == "target_kind"]
    parts = ["operating points:", text_table(*display_table(ops, labels, spec)), *parts]
    if "tail_points" in built:
        tails = built["tail_points"]
        parts += [
            "tail points:",
            text_table(*display_table(tails, _label_columns(df, tails), _TAIL_COLUMNS)),
        ]
    return "\n".join(parts)


def text_table(headers: list[str], rows: list[list]) -> str:
    """Aligned plain text: two spaces between columns, numbers right-aligned."""
    cells = [[t for t, _ in r] for r in rows]
    widths = [max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(headers)]
    num = [
        all(_as_number(r[i][1]) is not None or not r[i][0] for r in rows)
        for i in range(len(headers))
    ]
    fmt = lambda vals: "  ".join(  # noqa: E731
        v.rjust(w) if n else v.ljust(w) for v, w, n in zip(vals, widths, num, strict=True)
    ).rstrip()
    return "\n".join([fmt(headers), *(fmt(c) for c in cells)])


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m bench.report", description=__doc__.split("\n")[0])
    parser.add_argument(
        "tables",
        nargs="*",
        default=[default_table()],
        help="result CSVs (default: the results table)",
    )
    add_where_argument(parser)
    parser.add_argument("--target-recall", default="0.9,0.95,0.99", help="recall targets")
    parser.add_argument(
        "--target-knn", default="", help="kNN targets as fractions of exact-search kNN accuracy"
    )
    parser.add_argument(
        "--target-robustness",
        default="",
        help="SHARE@RECALL targets, e.g. 0.99@0.9: the fastest configuration where 99%% of "
        "the queries reach recall 0.9, against the mean-recall pick",
    )
    parser.add_argument("--out", default=DEFAULT_OUT, help="output folder")
    args = parser.parse_args(argv)
    try:
        targets = Targets(
            tuple(parse_targets(args.target_recall, "--target-recall")),
            tuple(parse_targets(args.target_knn, "--target-knn")),
            tuple(parse_robustness(args.target_robustness)),
        )
        if not (targets.recall or targets.knn or targets.robustness):
            raise BadInput(
                "no target given; use --target-recall, --target-knn or --target-robustness"
            )
        paths, text = write_report(args.tables, args.out, args.where, targets)
    except Exception as exc:  # noqa: BLE001 - bad input: one line, exit 2; a bug: raised
        return bad_input_code(exc)
    print(text)
    print(f"wrote {len(paths)} files to {args.out}: report.md, report.html, tables, figures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
