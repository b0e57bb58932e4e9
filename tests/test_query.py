"""bench.query (formerly bench.lookup): usage and --help, names apart from overrides, the index
and knob searched, per-query latency, country names, and an interactive session over stdin
that builds the index once."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import bench.lookup
import bench.query as Q
from bench.cli import compose_and_run

REPO = Path(__file__).resolve().parents[1]
TINY = ["dataset=surnames", "encoder=rnn02", "encoder.epochs=1", "k=5"]
HEAD = re.compile(r"^'(?P<name>.+)'  -> predicted: .+  \[hnswlib ef=\d+, (?P<ms>\d+\.\d\d) ms\]$")


def test_old_name_is_an_alias() -> None:
    assert bench.lookup.main is Q.main


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_is_its_own(flag, capsys) -> None:
    Q.main([flag, "dataset=surnames"])
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m bench.query [NAME ...] [KEY=VALUE ...]")
    for word in ("NAME", "standard input", "KEY=VALUE", "--hydra-help", "surnames", "hnswlib"):
        assert word in out


def test_names_apart_from_overrides_and_flags() -> None:
    argv = ["Smith", "k=3", "O'Neill", "--cfg", "job", "+x=1", "~index.search", "van der Berg"]
    names, rest = Q.split_names(argv)
    assert names == ["Smith", "O'Neill", "van der Berg"]
    assert rest == ["--cfg", "job", "k=3", "+x=1", "~index.search"]


@pytest.mark.parametrize("name", ["", "   ", "\t"])
def test_empty_name_is_one_line_and_exit_2(name, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        Q.main(["Smith", name, "k=3"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err == f"error: name {name!r} is invalid; valid: a non-empty name\n"


def test_labels_that_are_country_codes_show_as_names() -> None:
    assert Q.label_text("JP") == "Japan"
    assert Q.label_text("Japanese") == "Japanese"  # the tutorial's nationalities pass through
    s = object.__new__(Q.Searcher)
    s.db, s.db_labels, s.what = ["Sato", "Suzuki"], np.asarray(["JP", "JP"]), "exact"
    a = Q.Answer("Sakamoto", np.asarray([0.001, 0.002]), np.asarray([0, -1]), "JP", 1.234)
    assert s.format(a).splitlines() == [
        "'Sakamoto'  -> predicted: Japan  [exact, 1.23 ms]",
        "    1. Sato        Japan     0.001000",
    ]


def test_interactive_builds_once_and_goes_on_after_a_bad_line(
    data_dir, monkeypatch, capsys
) -> None:
    built = []
    real = Q.make_index

    def counting(cfg, metric):
        index = real(cfg, metric)
        build = index.build
        index.build = lambda xb: (built.append(len(xb)), build(xb))[1]
        return index

    monkeypatch.setattr(Q, "make_index", counting)
    monkeypatch.setattr(sys, "stdin", io.StringIO("Nakamoto\n   \nSmith\nGarcía\n"))
    compose_and_run(lambda cfg: Q.interactive(Q.Searcher(cfg), sys.stdin, sys.stdout), TINY)
    out, err = capsys.readouterr()
    assert len(built) == 1
    heads = [line for line in out.splitlines() if line.startswith("'")]
    assert [HEAD.match(h)["name"] for h in heads] == ["Nakamoto", "Smith", "García"]
    assert "error: name '   ' is invalid; valid: a non-empty name" in err
    assert "> " not in err  # no prompt when stdin is not a terminal


def test_interactive_session_through_stdin(data_dir, tmp_path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.query", *TINY, f"hydra.run.dir={tmp_path / 'run'}"],
        input="Nakamoto\nSmith\n\n",
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    blocks = proc.stdout.strip().split("\n\n")
    assert len(blocks) == 2
    for block, name in zip(blocks, ("Nakamoto", "Smith"), strict=True):
        head, *rows = block.splitlines()
        m = HEAD.match(head)
        assert m and m["name"] == name and float(m["ms"]) > 0
        assert len(rows) == 5 and rows[0].lstrip().startswith("1. ")
    assert "error: name '' is invalid; valid: a non-empty name" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_names_on_the_command_line(data_dir, tmp_path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.query",
            "Nakamoto",
            *TINY,
            "index=exact",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    head = proc.stdout.splitlines()[0]
    assert head.startswith("'Nakamoto'  -> predicted: ") and "[exact, " in head


def test_a_line_that_is_not_utf8_is_one_error_and_the_session_goes_on(
    data_dir, monkeypatch, capsys
) -> None:
    """Bytes that are not UTF-8 on stdin ended the whole session (a strict decoder) or gave a
    codec error naming 'utf-32-le' (surrogateescape); now: one line naming the line."""
    raw = io.BytesIO(b"Nakamoto\n\xff\xfeabc\nSmith\n")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(raw, encoding="utf-8", errors="strict"))
    compose_and_run(lambda cfg: Q.interactive(Q.Searcher(cfg), sys.stdin, sys.stdout), TINY)
    out, err = capsys.readouterr()
    heads = [line for line in out.splitlines() if line.startswith("'")]
    assert [HEAD.match(h)["name"] for h in heads] == ["Nakamoto", "Smith"]
    want = "error: line 2 of standard input is not UTF-8 text (byte 0xff at position 0)"
    assert [ln for ln in err.splitlines() if ln.startswith("error")] == [
        want + "; valid: a name in UTF-8"
    ]


@pytest.mark.parametrize(
    "line, number, byte",
    [(b"ab\xe9\n", 3, "0xe9 at position 2"), ("ab\udce9\n", 4, "0xe9 at position 2")],
)
def test_decode_names_the_line_and_the_byte(line, number, byte) -> None:
    with pytest.raises(Q.BadName, match=f"line {number} of standard input .*{byte}"):
        Q._decode(line, number)
    assert Q._decode("Müller\n", 1) == "Müller\n" and Q._decode("Müller".encode(), 1) == "Müller"


def test_a_name_argument_that_is_not_utf8(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        Q.main(["Smith\udcff"])
    assert exc.value.code == 2
    want = "error: name 'Smith\\udcff' is not UTF-8 text; valid: a name in UTF-8\n"
    assert capsys.readouterr().err == want
