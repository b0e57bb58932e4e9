"""A readable summary of a job's rows for the terminal."""

from __future__ import annotations

_COLUMNS = (
    ("recall_at_k", "recall", "{:.4f}"),
    ("recall_at_k_ids", "recall_ids", "{:.4f}"),
    ("knn_acc", "knn_acc", "{:.4f}"),
    ("knn_acc_exact", "knn_exact", "{:.4f}"),
    ("latency_p50_ms", "p50_ms", "{:.4f}"),
    ("latency_p99_ms", "p99_ms", "{:.4f}"),
    ("qps", "qps", "{:.0f}"),
)


def _fmt(value, spec: str) -> str:
    if value is None or value == "":
        return "-"
    try:
        return spec.format(float(value))
    except (TypeError, ValueError):
        return str(value)


def summary_table(rows: list[dict]) -> str:
    """One line per operating point: its search knobs, then recall, accuracy and latency."""
    if not rows:
        return "(no rows)"
    first = rows[0]
    knobs = sorted({k for r in rows for k in r if k.startswith("search_")})
    head = (
        f"{first['dataset']} | {first['encoder']} | {first['index']}  n_db={first['n_db']} "
        f"n_queries={first['n_queries']} dim={first['dim']} k={first['k']} "
        f"metric={first['metric']} "
        f"mode={first['mode']} threads={first['threads']}  build {first['build_s']:.2f} s, "
        f"{first['index_bytes'] / 1e6:.1f} MB"
    )
    names = [k.removeprefix("search_") for k in knobs] + [c[1] for c in _COLUMNS]
    cells = [
        [str(r.get(k, "")) for k in knobs] + [_fmt(r.get(c[0]), c[2]) for c in _COLUMNS]
        for r in rows
    ]
    widths = [max(len(n), *(len(c[i]) for c in cells)) for i, n in enumerate(names)]
    lines = [head, "  ".join(n.rjust(w) for n, w in zip(names, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)
