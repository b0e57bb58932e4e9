"""``bench.report``'s sections for indexes that live: runbooks (recall over generations, and
when a rebuild pays for itself at each recall target) and encoder refreshes. The tables come
from :mod:`lookup.lifecycle`; this module only names their columns and notes."""

from __future__ import annotations

import pandas as pd

from lookup import frontier, lifecycle

# (column, header, format) as bench.report.display_table takes them.
MILESTONE_COLUMNS = (
    ("index", "index", "{}"),
    ("maintenance", "maintenance", "{}"),
    ("knobs", "knobs", "{}"),
    ("gen_first", "gen", "{:.0f}"),
    ("recall_first", "recall", "{:.4f}"),
    ("recall_first_ci", "95% CI", "{}"),
    ("gen_mid", "gen", "{:.0f}"),
    ("recall_mid", "recall", "{:.4f}"),
    ("recall_mid_ci", "95% CI", "{}"),
    ("gen_last", "gen", "{:.0f}"),
    ("recall_last", "recall", "{:.4f}"),
    ("recall_last_ci", "95% CI", "{}"),
    ("knn_acc_last", "kNN acc (last)", "{:.4f}"),
    ("qps_last", "QPS (last)", "{:,.0f}"),
    ("insert_per_s", "inserts/s", "{:,.0f}"),
    ("delete_per_s", "deletes/s", "{:,.0f}"),
    ("upkeep_s_total", "upkeep s", "{:.3g}"),
    ("index_mb_last", "index MB", "{:.2f}"),
)
PAYS_COLUMNS = (
    ("index", "index", "{}"),
    ("knobs", "knobs", "{}"),
    ("target", "recall target", "{:g}"),
    ("status", "status", "{}"),
    ("pays_at_generation", "rebuild pays at generation", "{:.0f}"),
    ("recall_in_place", "recall in place", "{:.4f}"),
    ("recall_rebuilt", "recall rebuilt", "{:.4f}"),
    ("upkeep_in_place_s", "in-place insert+delete s so far", "{:.3g}"),
    ("rebuild_s", "one rebuild s", "{:.3g}"),
    ("cost_generation", "upkeep > one rebuild at generation", "{:.0f}"),
    ("checkpoints", "checkpoints", "{:.0f}"),
)
REFRESH_COLUMNS = (
    ("refresh_encoder", "retrained", "{}"),
    ("index", "index", "{}"),
    ("knobs", "knobs", "{}"),
    ("refresh_setup", "setup", "{}"),
    ("recall_at_k", "recall (new space)", "{:.4f}"),
    ("recall_at_k_ci_low", "CI low", "{:.4f}"),
    ("knn_acc", "kNN acc", "{:.4f}"),
    ("knn_acc_exact", "kNN exact (new)", "{:.4f}"),
    ("qps", "QPS", "{:,.0f}"),
    ("encode_db_s", "encode db s", "{:.3g}"),
    ("build_s", "build s", "{:.3g}"),
    ("refresh_cost_s", "refresh cost s", "{:.3g}"),
)
_NOTES = {
    "runbook_milestones": (
        "Runbooks, recall over generations",
        "Per run and knob point: tie-aware recall@k against exact search over the ids live at "
        "the checkpoint (95% bootstrap CI over queries) at the first, middle and last "
        "checkpoint; inserts/s and deletes/s over the whole runbook (the library's seconds); "
        "upkeep = build + insert + delete seconds since the start (rebuilt: every build).",
    ),
    "rebuild_pays": (
        "Runbooks, when a rebuild pays for itself",
        "The first checkpoint generation at which the in-place index's recall falls below the "
        "target while the same index rebuilt from scratch meets it (same runbook, seed, knobs): "
        "from there only a rebuild keeps the target, at the price of one rebuild. Cumulative "
        "cost alone would compare seconds that buy different recall, so it is shown beside it: "
        "the first generation where the in-place inserts and deletes so far took longer than "
        "one rebuild there.",
    ),
    "refresh": (
        "Encoder refresh",
        "Index of the old checkpoint's database vectors vs a retrained checkpoint, scored "
        "against exact search in the NEW space: stale = old index, new queries; kept = old "
        "index, old queries; rebuilt = database re-encoded and index rebuilt. Refresh cost = "
        "encoding the database with the new checkpoint + building the new index.",
    ),
}


def build(df: pd.DataFrame, targets: tuple[float, ...]) -> dict[str, pd.DataFrame]:
    """The runbook and refresh tables of ``df`` (empty dict when it has neither kind)."""
    out: dict[str, pd.DataFrame] = {}
    runbooks, _ = frontier.rows_of_kind(df, "runbook")
    if not runbooks.empty:
        out["runbook_milestones"] = lifecycle.milestones(runbooks)
        pays = [lifecycle.rebuild_pays(runbooks, t) for t in targets]
        pays = [p for p in pays if not p.empty]
        if pays:
            out["rebuild_pays"] = pd.concat(pays, ignore_index=True)
    refresh = lifecycle.refresh_table(df)
    if not refresh.empty:
        out["refresh"] = refresh
    return out


def _labels(table: pd.DataFrame) -> list[str]:
    return [c for c in ("dataset", "encoder", "runbook") if c in table.columns]


def sections(built: dict[str, pd.DataFrame]) -> list[tuple]:
    """(title, note, headers, rows) per table, as bench.report lays its sections out."""
    from bench.report import display_table

    specs = {
        "runbook_milestones": MILESTONE_COLUMNS,
        "rebuild_pays": PAYS_COLUMNS,
        "refresh": REFRESH_COLUMNS,
    }
    out = []
    for name, spec in specs.items():
        if name in built:
            table = built[name]
            labels = [c for c in _labels(table) if c not in {s[0] for s in spec}]
            title, note = _NOTES[name]
            out.append((title, note, *display_table(table, labels, spec)))
    return out


def terminal(built: dict[str, pd.DataFrame]) -> str:
    """The rebuild and refresh tables as aligned text (the milestones are in report.md)."""
    from bench.report import text_table

    parts = []
    for title, _, headers, rows in sections(built):
        if not title.endswith("recall over generations"):
            parts += [f"{title.lower()}:", text_table(headers, rows)]
    return "\n".join(parts)
