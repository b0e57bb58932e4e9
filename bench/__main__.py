"""`python -m bench [overrides]`: the Hydra entry point; it only hands the config to run()."""

import logging
import os

from omegaconf import DictConfig

from bench.cli import run_app

log = logging.getLogger("bench")


def job(cfg: DictConfig) -> None:
    """One job: run it and print its summary (workload=runbook or refresh: bench.workload)."""
    from bench import workload

    if workload.workload_of(cfg).kind != "search":
        workload.job(cfg)
        return
    from bench.run import run  # here, so bad overrides are reported before torch loads
    from bench.summary import operating_point_line, summary_table

    rows = run(cfg)
    if not rows:
        return
    stored = rows[0].get("_stored", False)
    if rows[0].get("row_kind") == "filter":
        from bench.filters import summary

        if stored:
            print(f"already measured (config_id {rows[0]['config_id']}); stored rows:", flush=True)
        print(summary(rows, float(cfg.get("target_recall", 0.95))), flush=True)
        return
    if stored:
        print(
            f"already measured (config_id {rows[0]['config_id']}, {rows[0]['timestamp_utc']}); "
            f"stored rows from {cfg.results.table} (force=true measures again):",
            flush=True,
        )
    print(summary_table(rows), flush=True)
    print(operating_point_line(rows, float(cfg.get("target_recall", 0.95))), flush=True)
    if not stored:
        log.info("%d rows appended to %s", len(rows), cfg.results.table)


def main(argv: list[str] | None = None) -> None:
    """`python -m bench [overrides]`: one-line errors (exit 2), Ctrl-C exits 130."""
    # Ray's driver folds repeated worker lines into "[repeated Nx across cluster]", which
    # scrambled a sweep's printed tables (rows before their headers); every line is kept.
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    run_app(job, argv)


if __name__ == "__main__":
    main()
