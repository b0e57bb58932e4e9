"""The Python API, for notebooks and scripts: the same jobs as ``python -m bench``.

    from bench import api
    df = api.run(dataset="names", encoder="rnn02", index="hnswlib", overrides=["k=5"])
    api.plot(df)                       # the bench.plot grid, as a matplotlib Figure
    api.operating_points(df, 0.95)     # the report's table for a recall target

:func:`run` composes the same ``conf/`` options as the command line (choices, overrides,
presets), validates them the same way (a bad value raises :class:`lookup.errors.BadInput`
with the one line the CLI would print), and runs the job under the same cache and resume
rules: a configuration already in the table is not measured again and its stored rows come
back (column ``stored`` is True). The rows go to ``table`` (default: ``results.table`` of the
config, ``$LOOKUP_RESULTS_TABLE`` or ``results/runs.csv``), their per-query arrays beside it.

Hydra lives in ``bench``; the engine underneath (:mod:`lookup.experiment`) takes typed values
(:class:`lookup.job.Job`) for code that does not want a config at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from bench.cli import precheck, rewrite_search_knobs
from lookup import frontier
from lookup.kernels import prepare_kernels


def _value(v: Any) -> str:
    """A Python value as a Hydra override value."""
    if isinstance(v, bool):
        return str(v).lower()
    if v is None:
        return "null"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_value(x) for x in v) + "]"
    if isinstance(v, str) and any(ch in v for ch in ",[]{}=' "):
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return str(v)


def overrides_of(
    dataset: str | None = None,
    encoder: str | None = None,
    index: str | None = None,
    overrides: Iterable[str] = (),
    *,
    table: str | None = None,
    **settings: Any,
) -> list[str]:
    """The command-line overrides these arguments stand for (``k=5`` for ``k=5``, ...)."""
    args = [f"{g}={v}" for g, v in (("dataset", dataset), ("encoder", encoder), ("index", index))]
    args = [a for a in args if not a.endswith("=None")]
    args += [f"{k}={_value(v)}" for k, v in settings.items()]
    args += list(overrides)
    if table is not None:
        args.append(f"results.table={_value(str(table))}")
    return rewrite_search_knobs(args)


def run(
    dataset: str | None = None,
    encoder: str | None = None,
    index: str | None = None,
    overrides: Sequence[str] = (),
    *,
    table: str | None = None,
    **settings: Any,
) -> pd.DataFrame:
    """Measure one configuration (or return its stored rows) as a DataFrame, one row per
    operating point. ``settings`` are top-level keys (``k=5``, ``threads=2``, ``force=True``);
    ``overrides`` anything the command line takes (``"index.search.ef=[10,40]"``)."""
    from hydra.core.hydra_config import HydraConfig

    from bench.run import run as run_job

    prepare_kernels()  # names a generic OpenBLAS (fixes it when faiss has not loaded yet)
    cfg = precheck(overrides_of(dataset, encoder, index, overrides, table=table, **settings))
    HydraConfig.instance().set_config(cfg)
    rows = run_job(cfg)
    df = pd.DataFrame([{k: v for k, v in r.items() if k != "_stored"} for r in rows])
    df["stored"] = [bool(r.get("_stored")) for r in rows]
    return frontier.numeric(df.replace("", float("nan")))


def sweep(runs: Iterable[dict[str, Any]], **common: Any) -> pd.DataFrame:
    """Several :func:`run` calls (one dict of arguments each, ``common`` shared), one table."""
    frames = [run(**{**common, **one}) for one in runs]
    return pd.concat(frames, ignore_index=True)


def plot(df: pd.DataFrame):
    """The ``bench.plot`` grid of these rows (a matplotlib Figure; shown inline in Jupyter)."""
    from bench.plot import KINDS, draw

    fig = draw(frontier.rows_of_kind(df, "job")[0], KINDS)
    fig._repr_png_ = lambda: _png(fig)  # Jupyter shows a bare Figure through this hook
    return fig


def _png(fig) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


def operating_points(df: pd.DataFrame, *targets: float) -> pd.DataFrame:
    """The fastest configuration per dataset x encoder x index reaching each recall target."""
    rows = frontier.rows_of_kind(df, "job")[0]
    return frontier.operating_points(rows, targets or (0.9, 0.95, 0.99))
