"""`python -m bench.plot_probe [TABLE ...] [--out FILE]`: the query-length curve figure.

Reads the ``probe_query_kind=length`` rows of result tables written by ``python -m bench.probe``
(default: the results table the probe wrote to, ``$LOOKUP_RESULTS_TABLE`` or
``results/runs.csv``; the README's figure comes from ``results/probe_length.csv``) and draws
one panel row per dataset and two columns: the word share at k and same-image hit@k over query
length (1, 2, 3, 5, 8 words, full caption; a tick says how many words the queries averaged
when captions had fewer content words), one curve per encoder, with the chance level of each
as a grey dotted line and the word share's ceiling (``probe_share_ceiling``: rare words occur
in fewer than k captions). Every plotted value is a column of the table; when a (dataset,
encoder, length) was measured more than once, the latest row is drawn.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd

from bench.errors import bad_input_code
from bench.table import default_table
from lookup.errors import BadInput
from lookup.io import atomic_path, check_input_file, check_output_file

log = logging.getLogger(__name__)

DEFAULT_OUT = "outputs/probe_length.png"
FULL = "full"


def _order(value: str) -> float:
    return float("inf") if value == FULL else float(value)


def curve_rows(tables: list[str | Path]) -> pd.DataFrame:
    """The length rows of the tables, the latest per (dataset, encoder, length)."""
    frames = [
        pd.read_csv(
            check_input_file(None, t, valid="a probe CSV table"), dtype={"probe_query_words": str}
        )
        for t in tables
    ]
    df = pd.concat(frames, ignore_index=True)
    df = df[df["probe_query_kind"] == "length"].copy()
    if df.empty:
        raise BadInput(f"no probe_query_kind=length rows in {', '.join(map(str, tables))}")
    df = df.sort_values("timestamp_utc").drop_duplicates(
        ["dataset", "encoder", "probe_query_words"], keep="last"
    )
    df["_x"] = df["probe_query_words"].map(_order)
    return df.sort_values(["dataset", "encoder", "_x"])


def _tick(rows: pd.DataFrame, n: str) -> str:
    """'8' or, when the queries averaged fewer words (short captions), '8\n(avg 5.1)'."""
    if n == FULL or "probe_words_per_query" not in rows:
        return str(n)
    mean = pd.to_numeric(
        rows.loc[rows["probe_query_words"] == n, "probe_words_per_query"], errors="coerce"
    ).mean()
    return str(n) if not mean == mean or mean >= float(n) - 0.05 else f"{n}\n(avg {mean:.1f})"


def plot_curves(df: pd.DataFrame, out: str | Path, *, k: int = 10) -> Path:
    """Draw the figure to ``out`` (PNG) and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(df["dataset"]))
    lengths = sorted(set(df["probe_query_words"]), key=_order)
    pos = {n: i for i, n in enumerate(lengths)}
    encoders = list(dict.fromkeys(df["encoder"]))
    # shared:<base> takes its base's colour (solid, thick) next to the base (dashed)
    bases = [e for e in encoders if not e.startswith("shared")]
    colours = {e: f"C{i}" for i, e in enumerate(bases)}
    for e in encoders:
        colours.setdefault(e, colours.get(e.split(":", 1)[-1], f"C{len(colours)}"))
    panels = [
        (f"probe_word_share_at_{k}", "probe_chance_share", f"word share@{k}"),
        ("hit_at_k", "probe_hit_chance", f"same-image hit@{k}"),
    ]
    fig, axes = plt.subplots(
        len(datasets), 2, figsize=(11, 3.6 * len(datasets)), squeeze=False, sharex=True
    )
    for r, ds in enumerate(datasets):
        sub = df[df["dataset"] == ds]
        n_db = int(sub["n_db"].iloc[0])
        for c, (col, chance_col, label) in enumerate(panels):
            ax = axes[r][c]
            for enc in encoders:
                e = sub[sub["encoder"] == enc]
                if e.empty:
                    continue
                shared = enc.startswith("shared")
                ax.plot(
                    [pos[n] for n in e["probe_query_words"]],
                    e[col].astype(float),
                    marker="o",
                    lw=2.4 if shared else 1.4,
                    ls="-" if shared else "--",
                    color=colours[enc],
                    label=enc,
                )
            chance = sub.groupby("probe_query_words")[chance_col].mean()
            ax.plot(
                [pos[n] for n in chance.index],
                chance.values,
                color="0.6",
                ls=":",
                lw=1.2,
                label="chance",
            )
            if c == 0 and "probe_share_ceiling" in sub:
                ceiling = sub.groupby("probe_query_words")["probe_share_ceiling"].mean()
                ax.plot(
                    [pos[n] for n in ceiling.index],
                    ceiling.values,
                    color="0.3",
                    ls="-.",
                    lw=1.0,
                    label="ceiling (perfect retrieval)",
                )
            ax.set_title(f"{ds} ({n_db:,} captions): {label}", fontsize=10)
            ax.set_ylabel(label)
            ax.set_ylim(0, 1.02)
            ax.grid(alpha=0.3)
            ax.set_xticks(range(len(lengths)), [_tick(df, n) for n in lengths])  # shared x
            if r == len(datasets) - 1:
                ax.set_xlabel("query length (most informative words of a held-out caption)")
    axes[0][0].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    out = Path(out)
    check_output_file("--out", out)
    with atomic_path(out, suffix=".png", key="--out") as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> None:
    """Command line: tables in, one PNG out."""
    p = argparse.ArgumentParser(
        prog="python -m bench.plot_probe", description=__doc__.split("\n")[0]
    )
    p.add_argument("tables", nargs="*", default=[default_table()])
    p.add_argument("--out", default=DEFAULT_OUT, help=f"PNG to write (default {DEFAULT_OUT})")
    p.add_argument("--k", type=int, default=10, help="the k of the word-share column")
    args = p.parse_args(argv)
    try:
        check_output_file("--out", args.out)  # before the tables are read
        out = plot_curves(curve_rows(args.tables), args.out, k=args.k)
    except Exception as exc:  # noqa: BLE001 - bad input: one line, exit 2; a bug: raised
        raise SystemExit(bad_input_code(exc)) from None
    print(out)


if __name__ == "__main__":
    main()
