"""A readable summary of a job's rows for the terminal; its columns come from the metric table
(:func:`lookup.schema.summary_metrics`), and only columns the shown rows filled are printed."""

from __future__ import annotations

import math

from lookup import schema

# Option parameters worth a place in the headline (the rest are in the table).
_HEADLINE = ("encoder_pooling", "encoder_task", "encoder_hidden_size", "encoder_epochs")
_NOT_HEADLINE_BUILD = ("build_s", "build_s_std", "build_peak_rss", "build_metric", "build_seed")


def _missing(value) -> bool:
    if value is None or value == "":
        return True
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def _fmt(value, spec: str) -> str:
    if _missing(value):
        return "-"
    try:
        return spec.format(float(value))
    except (TypeError, ValueError):
        return str(value)


def _knob(value) -> str:
    """A knob value as typed: 10.0 read back from a table prints as 10."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    return str(int(f)) if f.is_integer() else f"{f:g}"


def _present(rows: list[dict], col: str) -> bool:
    return any(not _missing(r.get(col)) for r in rows)


def headline(row: dict) -> str:
    """dataset | encoder params | index build params, sizes and settings, on two lines."""
    enc = " ".join(
        f"{c.removeprefix('encoder_')}={row[c]}" for c in _HEADLINE if not _missing(row.get(c))
    )
    if not _missing(row.get("encoder_output")) and (
        row.get("encoder_output") != "float32" or not _missing(row.get("encoder_truncate_dim"))
    ):
        width = row.get("encoder_truncate_dim")
        code = f"{row['encoder_output']}" + ("" if _missing(width) else f"[:{_knob(width)}]")
        enc += f" code={code} ({_knob(row.get('bytes_per_vector'))} bytes/vector)"
    dataset = row.get("dataset_source") if not _missing(row.get("dataset_source")) else None
    build = " ".join(
        f"{c.removeprefix('build_')}={_knob(row[c])}"
        for c in row
        if c.startswith("build_") and c not in _NOT_HEADLINE_BUILD and not _missing(row[c])
    )
    reps = row.get("n_repeats") or 1
    build_s = _fmt(row.get("build_s"), "{:.2f}")
    spread = f" ± {_fmt(row.get('build_s_std'), '{:.2f}')}" if _knob(reps) != "1" else ""
    mb = _fmt(float(row.get("index_bytes") or 0) / 1e6, "{:.1f}")
    return (
        f"{dataset or row['dataset']} | {row['encoder']} {enc} | {row['index']} {build}\n"
        f"  n_db={row['n_db']} n_queries={row['n_queries']} dim={row['dim']} k={row['k']} "
        f"metric={row['metric']} mode={row['mode']} threads={row.get('threads')} "
        f"seed={_knob(row.get('seed', ''))} "
        f"repeats={_knob(reps)}  build {build_s}{spread} s, {mb} MB"
    )


def knob_columns(rows: list[dict]) -> list[str]:
    """The ``search_*`` columns these rows set (a stored table holds every family's knobs)."""
    return sorted({k for r in rows for k in r if k.startswith("search_") and _present(rows, k)})


def summary_table(rows: list[dict]) -> str:
    """Headline, then one line per operating point: its knobs (and query group) and the
    summary metrics of the metric table that these rows measured."""
    if not rows:
        return "(no rows)"
    keys = knob_columns(rows) + (["query_group"] if _present(rows, "query_group") else [])
    cols = [mt for mt in schema.summary_metrics("job") if _present(rows, mt.name)]
    if _present(rows, "latency_p50_ms"):
        cols = [mt for mt in cols if mt.name != "latency_mean_ms"]
    names = [k.removeprefix("search_") for k in keys] + [mt.short for mt in cols]
    cells = [
        [_knob(r.get(k, "")) for k in keys] + [_fmt(r.get(mt.name), mt.fmt) for mt in cols]
        for r in rows
    ]
    if _present(rows, "qps_std") and any(_knob(r.get("n_repeats")) not in ("1", "") for r in rows):
        names.append("qps_std")
        for cell, r in zip(cells, rows, strict=True):
            cell.append(_fmt(r.get("qps_std"), "{:.0f}"))
    widths = [max(len(n), *(len(c[i]) for c in cells)) for i, n in enumerate(names)]
    lines = [headline(rows[0]), "  ".join(n.rjust(w) for n, w in zip(names, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def operating_point_line(rows: list[dict], target: float) -> str:
    """The fastest point whose recall (CI lower bound with repeats) reaches ``target``, over
    all queries (rows of a query group are left out)."""
    import pandas as pd

    from lookup.frontier import numeric, operating_point

    rows = [r for r in rows if _missing(r.get("query_group")) or r.get("query_group") == "all"]
    df = numeric(pd.DataFrame(rows))
    best, reached = operating_point(df, target)
    if best is None:
        return f"no operating point reaches recall {target} (best: {reached:.4f})"
    knobs = " ".join(f"{c.removeprefix('search_')}={_knob(best[c])}" for c in knob_columns(rows))
    p99 = best.get("latency_p99_ms")
    lat = f"p99 {float(p99):.4f} ms" if pd.notna(p99) else f"mean {best['latency_mean_ms']:.4f} ms"
    return (
        f"operating point for recall >= {target}: {knobs or '(no knobs)'} -> recall "
        f"{best['recall_at_k']:.4f}, {best['qps']:.0f} QPS, {lat}"
    )
