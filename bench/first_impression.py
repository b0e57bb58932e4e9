"""`python -m bench.first_impression [--out FILE] [--names A,B,...] ["LABEL: KEY=VALUE ..." ...]`.

How a configuration looks to a new user: for each configuration (a label and Hydra overrides
of ``conf/config.yaml``; none given: the default alone) it loads the dataset, trains or loads
the encoder (cached), encodes the database and queries (cached), and reports

- the classes, the exact kNN@k accuracy of the whole query side and chance (the share of the
  queries' most common label), and the encoder's own training seconds (kept with it when cached);
- for each of ten common surnames of different origins (``--names`` replaces them), the
  k-NN-predicted label and the three nearest database names with their labels, searched
  exactly (``index=exact``) so the answer reflects the encoder and labels, not an index;
- on the ``names`` dataset, a reference that needs no judgement: the share of the name's
  bearers that the package puts under the predicted label (`lookup.data.names.label_shares`),
  the name's top countries, and how many predictions hold at least ``PLAUSIBLE`` of them.

Writes a Markdown before/after table (``--out``, atomically; default stdout). Example::

    python -m bench.first_impression "before: dataset.max_rank=null" "after:" \\
        --out results/first_impression.md
"""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import dataclass

import numpy as np
from omegaconf import DictConfig

from bench.cli import BadInput, log_like_the_app, precheck
from bench.errors import user_errors_exit
from bench.query import Searcher, label_text
from lookup import metrics
from lookup.data.names import label_shares
from lookup.index.exact import exact_knn
from lookup.io import atomic_path
from lookup.kernels import prepare_kernels
from lookup.provenance import load_average, machine

NAMES = (
    "Smith",
    "Nguyen",
    "Kowalski",
    "Nakamoto",
    "Papadopoulos",
    "García",
    "Müller",
    "O'Neill",
    "Rossi",
    "Ivanov",
)
TOP = 3  # neighbours shown per name
PLAUSIBLE = 0.10  # a prediction counts as plausible when its label holds this share of bearers


@dataclass
class Impression:
    """One configuration's numbers and its answers for the names."""

    label: str
    overrides: list[str]
    n_db: int
    n_queries: int
    classes: int
    knn_acc: float | None
    chance: float | None
    chance_label: str
    train_s: float | None  # the encoder's own training seconds (None: not reported)
    predicted: list[str]
    neighbours: list[list[tuple[str, str]]]  # per name: (neighbour, its label) x TOP
    shares: list[float | None]  # per name: bearers' share of the predicted label (None: unknown)
    near_shares: list[list[float] | None]  # per name: bearers' share of each neighbour's label
    top_countries: list[str]  # per name: the package's two largest countries ("" if unknown)


def parse_config(spec: str) -> tuple[str, list[str]]:
    """``"LABEL: k=v k=v"`` -> (label, overrides); without a colon the overrides name it."""
    label, sep, rest = spec.partition(":")
    if not sep or "=" in label:
        label, rest = spec.strip() or "default", spec
    overrides = rest.split()
    return label.strip() or "default", overrides


def compose(overrides: list[str]) -> DictConfig:
    """The configuration with exact search; a BadInput line for bad overrides."""
    return precheck([*overrides, "index=exact"])


def impression(label: str, overrides: list[str], cfg: DictConfig, names: list[str]) -> Impression:
    """Build ``cfg`` (composed from ``overrides`` by `compose`) and look up ``names`` in it."""
    s = Searcher(cfg)  # pins threads, loads, encodes (cached)
    train_s = s.vectors.encoder_training.get("train_seconds")  # as measured when it trained
    ds = s.dataset
    knn_acc = chance = None
    chance_label = ""
    if ds.query_labels is not None:
        _, true_I = exact_knn(s.xb, s.vectors.xq, s.k, s.metric)
        knn_acc = metrics.knn_accuracy(true_I, ds.db_labels, ds.query_labels)
        values, counts = np.unique(np.asarray(ds.query_labels).astype(str), return_counts=True)
        chance = float(counts.max() / counts.sum())
        chance_label = label_text(values[counts.argmax()])
    answers = [s.query(n) for n in names]
    shares: list[float | None] = [None] * len(names)
    near_shares: list[list[float] | None] = [None] * len(names)
    top_countries = [""] * len(names)
    if str(cfg.dataset.get("_target_", "")).endswith("names.load_names"):
        where = {"cache_dir": str(cfg.dataset.cache_dir)}
        by_label = label_shares(names, labels=str(cfg.dataset.labels), **where)
        shares = [
            None if b is None else b.get(str(a.predicted), 0.0)
            for a, b in zip(answers, by_label, strict=True)
        ]
        near_shares = [
            None if b is None else [b.get(str(ds.db_labels[i]), 0.0) for i in a.I[:TOP] if i >= 0]
            for a, b in zip(answers, by_label, strict=True)
        ]
        top_countries = [_top(b) for b in label_shares(names, labels="country", **where)]

    def label_of(i: int) -> str:
        return label_text(None if ds.db_labels is None else ds.db_labels[i])

    return Impression(
        label=label,
        overrides=overrides,
        n_db=len(ds.db),
        n_queries=len(ds.queries),
        classes=0 if ds.db_labels is None else len(set(map(str, ds.db_labels))),
        knn_acc=knn_acc,
        chance=chance,
        chance_label=chance_label,
        train_s=train_s,
        predicted=[label_text(a.predicted) for a in answers],
        neighbours=[[(str(ds.db[i]), label_of(i)) for i in a.I[:TOP] if i >= 0] for a in answers],
        shares=shares,
        near_shares=near_shares,
        top_countries=top_countries,
    )


def _top(shares: dict[str, float] | None, n: int = 2) -> str:
    """The ``n`` largest labels with their shares: ``United States 47%, United Kingdom 33%``."""
    if not shares:
        return ""
    best = sorted(shares.items(), key=lambda kv: -kv[1])[:n]
    return ", ".join(f"{label_text(k)} {v:.0%}" for k, v in best)


def _plausible(shares: list[float | None] | list[list[float] | None]) -> str:
    """``held / known``: how many shares reach `PLAUSIBLE` (nested lists are flattened)."""
    flat = [y for x in shares if x is not None for y in (x if isinstance(x, list) else [x])]
    return f"{sum(x >= PLAUSIBLE for x in flat)} / {len(flat)}" if flat else "-"


def _num(x: float | None, digits: int = 4) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def to_markdown(found: list[Impression], names: list[str], command: str) -> str:
    """The summary table (a column per configuration) and the per-name table."""
    head = "| | " + " | ".join(f.label for f in found) + " |"
    sep = "|---|" + "---|" * len(found)

    def row(name: str, cells: list[str]) -> str:
        return f"| {name} | " + " | ".join(cells) + " |"

    ratio = [
        "-" if f.knn_acc is None or not f.chance else f"{f.knn_acc / f.chance:.1f}x" for f in found
    ]
    lines = [
        "# First impression: ten common surnames looked up, per configuration",
        "",
        "Exact cosine kNN (`index=exact`), so differences come from the dataset's labels and the "
        "encoder, not from an index. Labels are shown as country names. On the names dataset "
        "each prediction carries the share of the name's bearers that names-dataset puts "
        f"under that label (a typed name is looked up as typed, then as letters only: "
        f"O'Neill -> Oneill); a prediction counts as plausible at >= {PLAUSIBLE:.0%}.",
        "",
        head,
        sep,
        row("overrides", [" ".join(f"`{o}`" for o in f.overrides) or "(defaults)" for f in found]),
        row("database / queries", [f"{f.n_db:,} / {f.n_queries:,}" for f in found]),
        row("classes", [str(f.classes) for f in found]),
        row("kNN accuracy (exact, all queries)", [_num(f.knn_acc) for f in found]),
        row(
            "chance (most common query label)",
            [f"{_num(f.chance)} ({f.chance_label})" for f in found],
        ),
        row("accuracy / chance", ratio),
        row("encoder training s (as trained)", [_num(f.train_s, 0) for f in found]),
        row(
            f"predictions held by >= {PLAUSIBLE:.0%} of the name's bearers",
            [_plausible(f.shares) for f in found],
        ),
        row(
            f"nearest {TOP} whose label holds >= {PLAUSIBLE:.0%} of the name's bearers",
            [_plausible(f.near_shares) for f in found],
        ),
        "",
        "| name | top countries (names-dataset) | "
        + " | ".join(f"{f.label}: predicted (bearers) | {f.label}: nearest {TOP}" for f in found)
        + " |",
        "|---|---|" + "---|---|" * len(found),
    ]
    for j, name in enumerate(names):
        cells = [next((f.top_countries[j] for f in found if f.top_countries[j]), "-")]
        for f in found:
            near = ", ".join(f"{n} ({lab})" if lab else n for n, lab in f.neighbours[j])
            share = "" if f.shares[j] is None else f" ({f.shares[j]:.0%})"
            cells += [(f.predicted[j] or "-") + share, near]
        lines.append(row(name, cells))
    lines += [
        "",
        f"Measured {dt.date.today().isoformat()} on {machine()['host_cpus']} CPU cores "
        f"(`threads` as configured), 1-minute load average {load_average()} at the end. "
        "Regenerate:",
        "",
        "```bash",
        command,
        "```",
        "",
    ]
    return "\n".join(lines)


@user_errors_exit
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m bench.first_impression",
        description="Ten common surnames looked up under one or more configurations "
        "(exact search): predicted label, nearest names, kNN accuracy against chance.",
        epilog="example: python -m bench.first_impression "
        '"before: dataset.max_rank=null dataset.limit=20000" after: --out outputs/fi.md  '
        f"(on the names dataset a prediction counts as plausible when names-dataset puts at "
        f"least {PLAUSIBLE:.0%} of the name's bearers under its label; exit 2 on bad input)",
    )
    ap.add_argument(
        "configs",
        nargs="*",
        metavar="LABEL: KEY=VALUE ...",
        help="a configuration: a label, a colon, Hydra overrides (quoted as one argument); "
        "none: the default configuration",
    )
    ap.add_argument("--names", default=",".join(NAMES), help="comma-separated names to look up")
    ap.add_argument("--out", default=None, help="Markdown file to write (default: stdout)")
    args = ap.parse_args(argv)
    log_like_the_app()
    prepare_kernels()  # before faiss loads
    names = [n.strip() for n in args.names.split(",") if n.strip()]
    if not names:
        raise BadInput(f"--names={args.names!r} is invalid; valid: comma-separated names")
    configs = [parse_config(c) for c in (args.configs or ["default:"])]
    cfgs = [compose(overrides) for _, overrides in configs]  # all compose before any work
    found = [impression(lab, o, cfg, names) for (lab, o), cfg in zip(configs, cfgs, strict=True)]
    command = "python -m bench.first_impression " + " ".join(
        f'"{c}"' if " " in c or not c else c for c in (args.configs or [])
    )
    if args.names != ",".join(NAMES):
        command += f' --names "{args.names}"'
    if args.out:
        command += f" --out {args.out}"
    text = to_markdown(found, names, command)
    if args.out:
        with atomic_path(args.out, suffix=".md") as tmp:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)
        print(f"wrote {args.out}")
    else:
        print(text, end="")


if __name__ == "__main__":
    main()
