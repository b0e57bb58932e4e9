"""`python -m bench.migrate TABLE --out NEW`: a results table of an older schema, rewritten as
the current schema so new rows can be appended to it.

Schema 2 -> 3: every row gets ``row_kind`` (``probe`` for rows with probe columns, else
``job``: :func:`lookup.schema.kind_of`) and ``schema_version = 3``; columns added in schema 3
(tail metrics, ``point_index``, code columns) stay empty for the old rows, which keep every
value they had. The old table is left untouched; ``NEW`` must not exist yet.
"""

from __future__ import annotations

import argparse
import os
import sys

from bench.errors import bad_input_code
from bench.table import SCHEMA_MARK, append_rows, read_rows
from lookup import schema
from lookup.errors import BadInput, MissingFile
from lookup.io import check_input_file

FROM = {"2"}  # schema versions this command can migrate


def migrate_rows(rows: list[dict]) -> list[dict]:
    """Rows of an older schema as current-schema rows (BadInput for a version it cannot)."""
    out = []
    for i, row in enumerate(rows, start=2):
        version = str(row.get(SCHEMA_MARK, ""))
        if version == str(schema.SCHEMA_VERSION):
            out.append(dict(row))
            continue
        if version not in FROM:
            raise BadInput(
                f"line {i} has schema_version {version!r}; valid: {', '.join(sorted(FROM))} "
                f"(migrated) or {schema.SCHEMA_VERSION} (kept)"
            )
        out.append({**row, SCHEMA_MARK: schema.SCHEMA_VERSION, "row_kind": schema.kind_of(row)})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.migrate", description=__doc__)
    parser.add_argument("table", help="a results table of an older schema (left untouched)")
    parser.add_argument("--out", required=True, help="the migrated table (a new file)")
    args = parser.parse_args(argv)
    try:
        if not os.path.lexists(args.table):
            raise MissingFile(f"result table not found: {args.table}")
        check_input_file(None, args.table, valid="a results CSV table")
        if os.path.lexists(args.out):
            raise BadInput(f"--out={args.out} is invalid; it exists: give a new file")
        rows = migrate_rows(read_rows(args.table))
        append_rows(args.out, rows)
    except Exception as exc:  # noqa: BLE001 - bad input: one line, exit 2; a bug: raised
        return bad_input_code(exc)
    print(f"wrote {len(rows)} rows of schema_version {schema.SCHEMA_VERSION} to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
