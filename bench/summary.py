"""A readable summary of a job's rows for the terminal."""

from __future__ import annotations

_COLUMNS = (
    ("recall_at_k", "recall", "{:.4f}"),
    ("recall_at_k_ids", "recall_ids", "{:.4f}"),
    ("recall_at_k_annb", "recall_annb", "{:.4f}"),
    ("knn_acc", "knn_acc", "{:.4f}"),
    ("knn_acc_exact", "knn_exact", "{:.4f}"),
    ("latency_p50_ms", "p50_ms", "{:.4f}"),
    ("latency_p99_ms", "p99_ms", "{:.4f}"),
    ("latency_mean_ms", "mean_ms", "{:.4f}"),
    ("qps", "qps", "{:.0f}"),
)
# Option parameters worth a place in the headline (the rest are in the table).
_HEADLINE = ("encoder_pooling", "encoder_task", "encoder_hidden_size", "encoder_epochs")
_NOT_HEADLINE_BUILD = ("build_s", "build_s_std", "build_peak_rss", "build_metric", "build_seed")


def _fmt(value, spec: str) -> str:
    if value is None or value == "":
        return "-"
    try:
        return spec.format(float(value))
    except (TypeError, ValueError):
        return str(value)


def _present(rows: list[dict], col: str) -> bool:
    return any(r.get(col) not in (None, "") for r in rows)


def headline(row: dict) -> str:
    """dataset | encoder params | index build params, sizes and settings, on two lines."""
    enc = " ".join(
        f"{c.removeprefix('encoder_')}={row[c]}" for c in _HEADLINE if row.get(c) not in (None, "")
    )
    build = " ".join(
        f"{c.removeprefix('build_')}={row[c]}"
        for c in row
        if c.startswith("build_") and c not in _NOT_HEADLINE_BUILD and row[c] not in (None, "")
    )
    reps = row.get("n_repeats") or 1
    build_s = _fmt(row.get("build_s"), "{:.2f}")
    spread = f" ± {_fmt(row.get('build_s_std'), '{:.2f}')}" if str(reps) not in ("1", "") else ""
    mb = _fmt(float(row.get("index_bytes") or 0) / 1e6, "{:.1f}")
    return (
        f"{row['dataset']} | {row['encoder']} {enc} | {row['index']} {build}\n"
        f"  n_db={row['n_db']} n_queries={row['n_queries']} dim={row['dim']} k={row['k']} "
        f"metric={row['metric']} mode={row['mode']} threads={row.get('threads')} "
        f"repeats={reps}  build {build_s}{spread} s, {mb} MB"
    )


def summary_table(rows: list[dict]) -> str:
    """Headline, then one line per operating point: its search knobs, recall, accuracy, speed.

    Columns nobody measured (batch-mode percentiles, kNN without labels) are left out.
    """
    if not rows:
        return "(no rows)"
    knobs = sorted({k for r in rows for k in r if k.startswith("search_")})
    cols = [c for c in _COLUMNS if _present(rows, c[0])]
    if _present(rows, "latency_p50_ms"):
        cols = [c for c in cols if c[0] != "latency_mean_ms"]
    names = [k.removeprefix("search_") for k in knobs] + [c[1] for c in cols]
    cells = [
        [str(r.get(k, "")) for k in knobs] + [_fmt(r.get(c[0]), c[2]) for c in cols] for r in rows
    ]
    if _present(rows, "qps_std") and any(str(r.get("n_repeats")) not in ("1", "") for r in rows):
        names.append("qps_std")
        for cell, r in zip(cells, rows, strict=True):
            cell.append(_fmt(r.get("qps_std"), "{:.0f}"))
    widths = [max(len(n), *(len(c[i]) for c in cells)) for i, n in enumerate(names)]
    lines = [headline(rows[0]), "  ".join(n.rjust(w) for n, w in zip(names, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def operating_point_line(rows: list[dict], target: float) -> str:
    """The fastest point whose recall (CI lower bound with repeats) reaches ``target``."""
    import pandas as pd

    from lookup.frontier import operating_point

    df = pd.DataFrame(rows)
    for col in df.columns:
        converted = pd.to_numeric(df[col], errors="coerce")
        if converted.notna().sum() == df[col].replace("", None).notna().sum():
            df[col] = converted
    best, reached = operating_point(df, target)
    if best is None:
        return f"no operating point reaches recall {target} (best: {reached:.4f})"
    knobs = " ".join(
        f"{c.removeprefix('search_')}={best[c]}" for c in df if c.startswith("search_")
    )
    p99 = best.get("latency_p99_ms")
    lat = f"p99 {float(p99):.4f} ms" if pd.notna(p99) else f"mean {best['latency_mean_ms']:.4f} ms"
    return (
        f"operating point for recall >= {target}: {knobs or '(no knobs)'} -> recall "
        f"{best['recall_at_k']:.4f}, {best['qps']:.0f} QPS, {lat}"
    )
