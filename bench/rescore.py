"""`python -m bench.rescore [TABLE] [--where KEY=VALUE ...] [--out FILE]`: recompute every
metric of stored rows from their per-query arrays.

Each measured job keeps what its index returned (``<table>.perquery/``, see
:mod:`lookup.perquery`); this command runs the metric table (:mod:`lookup.schema`) over those
arrays again. Without ``--out`` it checks: for every metric column it prints how many rows it
recomputed and the largest difference from the stored value (0 when the table is what the
arrays say). With ``--out FILE`` it writes the table with every metric recomputed, metrics
added to the table since the rows were measured included, as a new results table.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import pandas as pd

from bench.errors import bad_input_code
from bench.plot import add_where_argument
from bench.table import append_rows, check_table, default_table, read_rows
from lookup import frontier, perquery, schema
from lookup.errors import BadInput, MissingFile


def rescore_table(path: str, where: list[str] | None = None) -> tuple[list[dict], list[dict]]:
    """(stored rows, rescored rows) of the table's job rows that match ``where``."""
    if not os.path.lexists(path):
        raise MissingFile(f"result table not found: {path}")
    rows = read_rows(path)  # anything but a regular UTF-8 CSV table: one line naming its kind
    if where:
        kept = frontier.apply_where(pd.DataFrame(rows), where).index
        rows = [rows[i] for i in kept]
    rows = [r for r in rows if schema.kind_of(r) == "job"]
    if not rows:
        raise BadInput(f"{path} holds no job rows to rescore")
    jobs: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        jobs.setdefault((r.get("config_id", ""), r.get("run_id", "")), []).append(r)
    new = [r for group in jobs.values() for r in perquery.rescore_rows(group, path)]
    return rows, new


def differences(old: list[dict], new: list[dict]) -> list[tuple[str, int, float]]:
    """Per metric column: (name, rows compared, largest |stored - recomputed|)."""
    out = []
    for col in schema.metric_columns():
        diffs = []
        for a, b in zip(old, new, strict=True):
            if not b.get("rescored"):
                continue
            x, y = _num(a.get(col)), _num(b.get(col))
            if math.isnan(x) and math.isnan(y):
                continue
            diffs.append(abs(x - y) if not (math.isnan(x) or math.isnan(y)) else math.inf)
        if diffs:
            out.append((col, len(diffs), max(diffs)))
    return out


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rescore", description=__doc__)
    parser.add_argument("table", nargs="?", default=default_table(), help="a results table")
    add_where_argument(parser)
    parser.add_argument("--out", default=None, help="write the rescored rows to this new table")
    args = parser.parse_args(argv)
    try:
        old, new = rescore_table(args.table, args.where)
        if args.out:
            check_table(args.out)
            if read_rows(args.out):
                raise BadInput(f"--out {args.out} already holds rows; choose a new file")
            append_rows(args.out, [{k: v for k, v in r.items() if k != "rescored"} for r in new])
    except Exception as exc:  # noqa: BLE001 - bad input: one line, exit 2; a bug: raised
        return bad_input_code(exc)
    done = sum(bool(r.get("rescored")) for r in new)
    print(f"{done} of {len(new)} job rows recomputed from {perquery.folder_of(args.table)}")
    if done < len(new):
        print(f"{len(new) - done} rows have no per-query arrays (measured before they were kept)")
    for col, n, worst in differences(old, new):
        print(f"  {col:<28} {n:>5} rows  max |stored - recomputed| = {worst:.3g}")
    if args.out:
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
