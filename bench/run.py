"""`python -m bench`'s job: the config becomes a typed job, the engine measures it, the rows
and their per-query arrays are stored under the resume rule.

Order of work: every value is validated first (settings, the three options against their
constructors' signatures, the knob grid, the results table), then the configuration is
claimed in the table (a configuration already measured is not measured again), and only then
is data read. The engine is :mod:`lookup.experiment`; this module is glue.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from bench import table
from bench.jobs import job_of, storing_of
from lookup import experiment, perquery
from lookup.job import check, config_id


def run(cfg: DictConfig) -> list[dict]:
    """Run one job and append its rows to ``cfg.results.table``; returns the rows.

    A configuration already in the table is not measured again (unless ``force``): its stored
    rows are returned, each marked with ``"_stored": True``. Nothing is written unless every
    sweep point of every repeat was measured; the per-query arrays are written first
    (:mod:`lookup.perquery`), so a stored row always has them.
    """
    if cfg.get("filter") is not None:  # a filtered-lookup job: rows of kind "filter"
        from bench import filters

        return filters.run(cfg)
    job, storing = job_of(cfg), storing_of(cfg)
    checked = check(job)  # every value, before any heavy work
    path = cfg.results.table
    table.check_table(path)  # before hashing the inputs: a bad table is reported first
    cid = config_id(job)

    saved: list[Path] = []

    def measure() -> list[dict]:
        result = experiment.measure(job, cid, checked)
        saved.append(perquery.path_of(path, cid, result.rows[0]["run_id"]))
        perquery.save(saved[-1], result, seed=job.settings.seed)
        return result.rows

    try:
        return table.measure_once(path, cid, measure, force=storing.force)
    except BaseException:  # the rows were not appended: their arrays go too
        for p in saved:
            p.unlink(missing_ok=True)
        raise
