"""`python -m bench.query [NAME ...] [KEY=VALUE ...]`: the k nearest database items of any text.

Builds the configured index once over the dataset's database vectors (cached encodings) and
searches it at the highest-effort point of the index's search sweep. For each name it prints
the predicted label, the index and knob it searched (``hnswlib ef=160``) and the end-to-end
latency (encode + search), then each neighbour with its label and the harness's own distance.
ISO country codes (the ``names`` dataset's labels) are shown as country names.

With no NAME on the command line it reads one name per line from standard input (prompt ``> ``
on a terminal) until end of input, so a session pays for loading and building once. Lines are
read as bytes and decoded one by one: a line that is not UTF-8 is one error line naming it,
and the session goes on.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np
from omegaconf import DictConfig

from bench.cli import CONF_DIR, run_app, split_args
from bench.errors import EXIT_BAD_INPUT, is_user_error, one_line
from bench.jobs import job_of
from lookup import metrics
from lookup.data.countries import country_name
from lookup.distances import recompute_distances
from lookup.errors import BadInput
from lookup.experiment import encode_queries, prepare
from lookup.job import check, make_index

PROG = "python -m bench.query"
USAGE = f"usage: {PROG} [NAME ...] [KEY=VALUE ...] [--hydra-help | --cfg job]"


def _options(group: str) -> str:
    return ", ".join(sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml")))


def help_text() -> str:
    """The ``--help`` page: usage, what NAME, stdin and overrides do, the config choices."""
    return f"""{USAGE}

Look up the k nearest database items of each NAME in the configured dataset, with their
labels and distances and the k-NN-predicted label. The index is built once and searched at
the highest-effort point of its search sweep; each answer names the index and knob it searched
and its end-to-end latency (encode + search).

arguments:
  NAME            a text to look up (quote names with spaces: "O'Neill", "van der Berg");
                  an argument with '=' is an override, one starting with '-' a flag
  (no NAME)       read names from standard input, one per line, until end of input
                  (Ctrl-D); the prompt '> ' is shown only when stdin is a terminal
  KEY=VALUE       Hydra overrides of conf/config.yaml, as for python -m bench:
                    dataset=   {_options("dataset")}
                    encoder=   {_options("encoder")}
                    index=     {_options("index")}
                    k=10  index.search.ef=[400]  encoder.epochs=1  dataset.limit=5000

options:
  -h, --help      this page
  --hydra-help    Hydra's own flags (--cfg job prints the composed config, --info, ...)

examples:
  {PROG} Nakamoto Smith "O'Neill"
  {PROG} dataset=surnames k=5 < names.txt
  {PROG} index=exact

exit codes: 0 done; 2 bad input (an empty NAME, an unknown key or option; one line on
stderr); 130 interrupted (Ctrl-C). In an interactive session a bad name prints its error
line and the session goes on.
"""


class BadName(BadInput):
    """An empty or whitespace-only name, or a line of standard input that is not UTF-8."""


def check_name(text: str) -> str:
    """The name itself, or BadName with the one-line message (an empty name, or one that is
    not UTF-8: a command line decodes such bytes to lone surrogates)."""
    if not text.strip():
        raise BadName(f"name {text!r} is invalid; valid: a non-empty name")
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        raise BadName(f"name {text!r} is not UTF-8 text; valid: a name in UTF-8")
    return text


def split_names(argv: list[str]) -> tuple[list[str], list[str]]:
    """(names, Hydra flags and overrides) of a command line, each in order.

    A name is an argument that is not a flag, a flag's value, ``key=value``, ``+key``/``~key``.
    """
    flags, rest = split_args(argv)
    names = [a for a in rest if "=" not in a and not a.startswith(("+", "~"))]
    overrides = [a for a in rest if a not in names]
    return names, flags + overrides


@dataclass(frozen=True)
class Answer:
    """One query's result: neighbours (nearest first) and what it cost."""

    text: str
    D: np.ndarray  # (k,) harness distances
    I: np.ndarray  # (k,) database ids, -1 padded  # noqa: E741
    predicted: Any
    latency_ms: float  # encode + search


def label_text(x: Any) -> str:
    """A label as shown to people: ISO country codes as country names, None as ''."""
    return "" if x is None else country_name(str(x))


class Searcher:
    """A dataset's database, its encoder and the built index, ready for one query at a time."""

    def __init__(self, cfg: DictConfig) -> None:
        job = job_of(cfg)
        self.knobs = dict(job.grid[-1])
        checked = check(job)  # every value (the knobs on the backend too) before any work
        prep = prepare(job, checked)
        ds = prep.dataset
        if not ds.is_text:
            raise BadInput(
                "bench.query needs a text dataset (names, surnames, captions), not vectors"
            )
        self.k = job.settings.k
        self.db, self.db_labels = ds.db, ds.db_labels
        self.encoder, self.metric, self.vectors = prep.encoder, prep.metric, prep.vectors
        self.xb = self.vectors.xb
        self.index = make_index(job, self.metric)
        self.index.build(self.xb)
        self.index.set_search_params(**self.knobs)
        self.what = " ".join([job.index.name, *(f"{k}={v}" for k, v in self.knobs.items())])
        self.dataset = ds

    def query(self, text: str) -> Answer:
        """Encode and search one text (timed together), then score with the harness metric."""
        t0 = time.perf_counter()
        xq = encode_queries(self.encoder, [text])
        _, I = self.index.search(xq, self.k)  # noqa: E741
        ms = (time.perf_counter() - t0) * 1e3
        D = recompute_distances(self.xb, xq, I, self.metric)
        pred = metrics.knn_predict(I, self.db_labels)[0] if self.db_labels is not None else None
        return Answer(text, D[0], I[0], pred, ms)

    def format(self, a: Answer) -> str:
        """A block: the query line, then one line per neighbour."""
        head = f"{a.text!r}"
        if a.predicted is not None:
            head += f"  -> predicted: {label_text(a.predicted)}"
        head += f"  [{self.what}, {a.latency_ms:.2f} ms]"
        pairs = enumerate(zip(a.D, a.I, strict=True), 1)
        rows = [(r, str(self.db[i]), d, i) for r, (d, i) in pairs if i >= 0]
        width = max([len(name) for _, name, _, _ in rows] + [10])
        labels = ["" if self.db_labels is None else label_text(self.db_labels[i]) for *_, i in rows]
        lw = max([len(x) for x in labels] + [8])
        lines = [head]
        for (rank, name, d, _), label in zip(rows, labels, strict=True):
            lines.append(f"  {rank:>3}. {name:<{width}}  {label:<{lw}}  {d:.6f}")
        return "\n".join(lines)


def _decode(line: bytes | str, number: int) -> str:
    """A line of standard input as text, or BadName naming the line when it is not UTF-8 (a
    text stream that decoded with ``surrogateescape`` shows it by lone surrogates)."""
    if isinstance(line, str):
        bad = next((i for i, ch in enumerate(line) if "\udc80" <= ch <= "\udcff"), None)
        if bad is None:
            return line
        raw, start = line.encode("utf-8", "surrogateescape"), None
    else:
        raw = line
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            start = exc.start
    if start is None:
        start = len(line[:bad].encode("utf-8", "surrogateescape"))
    raise BadName(
        f"line {number} of standard input is not UTF-8 text (byte 0x{raw[start]:02x} at "
        f"position {start}); valid: a name in UTF-8"
    )


def _lines(stream: TextIO, prompt: bool) -> Iterator[str | BadName]:
    """Each line of ``stream`` without its line end; a line that is not UTF-8 comes as its
    BadName (read from the byte stream under ``stream`` when there is one)."""
    raw = getattr(stream, "buffer", None)
    number = 0
    while True:
        if prompt:
            print("> ", end="", file=sys.stderr, flush=True)
        line = (raw or stream).readline()
        if not line:
            if prompt:
                print(file=sys.stderr, flush=True)
            return
        number += 1
        try:
            yield _decode(line, number).rstrip("\r\n")
        except BadName as exc:
            yield exc


def interactive(searcher: Searcher, stream: TextIO, out: TextIO) -> int:
    """Answer each line of ``stream``; a bad line prints its error and the session goes on.

    Returns the number of names answered."""
    tty = stream.isatty()
    if tty:
        print(
            f"{searcher.dataset.name}: {len(searcher.db)} items, {searcher.what}, k={searcher.k}; "
            "one name per line, Ctrl-D to end",
            file=sys.stderr,
            flush=True,
        )
    n = 0
    first = True
    for line in _lines(stream, tty):
        try:
            if isinstance(line, BadName):
                raise line
            block = searcher.format(searcher.query(check_name(line).strip()))
        except Exception as exc:  # noqa: BLE001 - bad input: its line, and the session goes on
            if not is_user_error(exc):
                raise
            msg = f"error: {exc}" if isinstance(exc, BadName) else one_line(exc)
            print(msg, file=sys.stderr, flush=True)
            continue
        print(block if first or tty else "\n" + block, file=out, flush=True)  # tty: "> " parts
        first = False
        n += 1
    return n


def query(cfg: DictConfig, texts: Iterable[str]) -> str:
    """Neighbours of each text in the configured dataset's database, as printable text."""
    searcher = Searcher(cfg)
    return "\n\n".join(searcher.format(searcher.query(t)) for t in texts)


def main(argv: list[str] | None = None) -> None:
    """Names apart from overrides; ``--help`` here, Hydra's flags after; exit 2 on bad input."""
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in args):
        print(help_text(), end="")
        return
    texts, rest = split_names(args)
    try:
        texts = [check_name(t).strip() for t in texts]
    except BadName as exc:  # its repr of the name is kept as it is (one_line folds spaces)
        print(f"error: {exc}", file=sys.stderr, flush=True)
        sys.exit(EXIT_BAD_INPUT)

    def _job(cfg: DictConfig) -> None:
        searcher = Searcher(cfg)
        if texts:
            blocks = (searcher.format(searcher.query(t)) for t in texts)
            print("\n\n".join(blocks), flush=True)
        else:
            interactive(searcher, sys.stdin, sys.stdout)

    run_app(_job, rest, table_key=None)


if __name__ == "__main__":
    main()
