"""`python -m bench.report [TABLE ...] [--where KEY=VALUE ...] [--target-recall 0.9,0.95,0.99]
[--target-knn 0.99] [--out DIR]`: from result tables to a decision.

Writes into DIR (default outputs/report; checked before any table is read: a file, FIFO or
device there is one line, exit 2; every file is written atomically, through symlinks, and a
full disk leaves no partial file):
- operating_points.csv / which_encoder.csv / frontier.csv: the tables, full precision;
- report.md: the tables in Markdown, with the figures as PNG files beside it (figures/);
- report.html: one self-contained page (figures inlined as base64 PNG, sortable tables by a few
  lines of inline JavaScript, no external URL), to open in any browser offline.

Operating point (per dataset x encoder x index family, per target): the configuration, build +
search knobs, with the highest QPS whose recall reaches the target (its 95% CI lower bound when
the row was measured with repeats > 1); a kNN target is a fraction of the group's exact-search
kNN accuracy. Selection rules and ties: :func:`lookup.frontier.operating_point`.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import html
import io
import math
import sys
from pathlib import Path

import pandas as pd

from bench.errors import one_line
from bench.plot import KINDS, add_where_argument, draw, panel_columns, read_tables
from lookup import frontier
from lookup.errors import BadInput
from lookup.io import atomic_path, atomic_write_bytes, check_output_dir

DEFAULT_OUT = "outputs/report"

# Displayed columns: (column, header, format). Missing columns are left out.
_OP_COLUMNS = (
    ("target_kind", "target on", "{}"),
    ("target", "target", "{:g}"),
    ("status", "status", "{}"),
    ("config", "build + search knobs", "{}"),
    ("score", "score", "{:.6g}"),
    ("recall_at_k", "recall", "{:.6g}"),
    ("recall_at_k_ci_low", "recall CI low", "{:.6g}"),
    ("knn_acc", "kNN acc", "{:.4f}"),
    ("knn_acc_exact", "kNN exact", "{:.4f}"),
    ("qps", "QPS", "{:,.0f}"),
    ("qps_std", "QPS std", "{:,.0f}"),
    ("latency_p50_ms", "p50 ms", "{:.4g}"),
    ("latency_p99_ms", "p99 ms", "{:.4g}"),
    ("build_s", "build s", "{:.3g}"),
    ("index_bytes", "index MB", "mb"),
    ("best", "best score in group", "{:.6g}"),
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


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line on stderr and exit code 2."""

    def error(self, message: str):  # noqa: D401 - argparse's hook
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def parse_targets(text: str | None, option: str) -> list[float]:
    """'0.9,0.95' -> [0.9, 0.95]; each in (0, 1]; ValueError naming the option otherwise."""
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


def _sections(df: pd.DataFrame, ops: pd.DataFrame, enc: pd.DataFrame):
    """(title, note, headers, rows) for each table section."""
    out = []
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
    return out


def build(df: pd.DataFrame, recall_targets: list[float], knn_targets: list[float]):
    """The three tables: operating points, which encoder (per recall target), frontier."""
    ops = frontier.operating_points(df, recall_targets, knn_targets)
    enc = pd.concat(
        [frontier.which_encoder(df, t) for t in recall_targets] or [pd.DataFrame()],
        ignore_index=True,
    )
    if "dataset" in enc:
        enc = enc.sort_values(["dataset", "target"], kind="stable")
    front = frontier.pareto_frontier(df, within=frontier.curve_columns(df))
    return ops, enc, front


def write_report(
    tables: list[str],
    out: str | Path = DEFAULT_OUT,
    where: list[str] | None = None,
    recall_targets: list[float] = (0.9, 0.95, 0.99),
    knn_targets: list[float] = (),
) -> list[Path]:
    """Read, filter, select and write every output file; returns their paths.

    ``out`` is checked first (a writable folder, or one that can be made); each file is
    written atomically (:func:`lookup.io.atomic_path`).
    """
    folder = check_output_dir("--out", out)
    check_output_dir("--out", folder / "figures")
    df = frontier.apply_where(read_tables(tables), where)
    ops, enc, front = build(df, list(recall_targets), list(knn_targets))
    paths = []

    def write(path: Path, data: bytes) -> None:
        atomic_write_bytes(path, data, key="--out")
        paths.append(path)

    for name, table in (
        ("operating_points.csv", ops),
        ("which_encoder.csv", enc),
        ("frontier.csv", front),
    ):
        with atomic_path(folder / name, suffix=".csv", key="--out") as tmp:
            table.to_csv(tmp, index=False)
        paths.append(folder / name)

    figures = []  # one figure per dataset row, so the HTML shows each near full size
    for key, part in frontier.iter_groups(df, panel_columns(df)):
        name = "_".join(_slug(frontier.format_value(v)) for v in key.values() if _present(v))
        png = _png(draw(part, KINDS))
        write(folder / "figures" / f"{name}.png", png)
        figures.append((name, png))

    sections = _sections(df, ops, enc)
    stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    source = ", ".join(str(t) for t in tables)
    filt = " ".join(where or []) or "none"
    shas = ", ".join(sorted(df["git_sha"].dropna().astype(str).unique())) if "git_sha" in df else ""
    meta = f"{len(df)} rows from {source}; filters: {filt}; git: {shas or 'unknown'}; {stamp}"

    md = ["# Benchmark report", "", meta, ""]
    for title, note, h, r in sections:
        md += [f"## {title}", "", note, "", markdown(h, r), ""]
    md += ["## Figures", ""] + [f"![{n}](figures/{n}.png)" for n, _ in figures] + [""]
    write(folder / "report.md", "\n".join(md).encode("utf-8"))

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
    write(folder / "report.html", page.encode("utf-8"))
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m bench.report", description=__doc__.split("\n")[0])
    parser.add_argument("tables", nargs="*", default=["results/runs.csv"], help="result CSVs")
    add_where_argument(parser)
    parser.add_argument("--target-recall", default="0.9,0.95,0.99", help="recall targets")
    parser.add_argument(
        "--target-knn", default="", help="kNN targets as fractions of exact-search kNN accuracy"
    )
    parser.add_argument("--out", default=DEFAULT_OUT, help="output folder")
    args = parser.parse_args(argv)
    try:
        recall = parse_targets(args.target_recall, "--target-recall")
        knn = parse_targets(args.target_knn, "--target-knn")
        if not recall and not knn:
            raise BadInput("no target given; use --target-recall and/or --target-knn")
        paths = write_report(args.tables, args.out, args.where, recall, knn)
    except (FileNotFoundError, IsADirectoryError, PermissionError, ValueError) as exc:
        print(one_line(exc), file=sys.stderr)
        return 2
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
