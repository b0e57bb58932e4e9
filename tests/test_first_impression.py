"""bench.first_impression: configurations parsed from "LABEL: overrides", a tiny real run whose
table shows each name's prediction and neighbours and an accuracy that matches exact search,
and bad input that exits 2 with one line and writes nothing."""

from __future__ import annotations

import re

import numpy as np
import pytest

import bench.first_impression as F
from bench.cli import precheck
from bench.query import Searcher
from lookup import metrics

TINY = "dataset.limit=400 encoder.epochs=1 k=3"


@pytest.mark.parametrize(
    ("spec", "label", "overrides"),
    [
        (
            "before: dataset.max_rank=null encoder=rnn02",
            "before",
            ["dataset.max_rank=null", "encoder=rnn02"],
        ),
        ("after:", "after", []),
        ("k=3 seed=1", "k=3 seed=1", ["k=3", "seed=1"]),  # no label: the overrides name it
        ("a=b: k=3", "a=b: k=3", ["a=b:", "k=3"]),  # '=' before the colon: not a label
        ("", "default", []),
    ],
)
def test_parse_config(spec, label, overrides) -> None:
    assert F.parse_config(spec) == (label, overrides)


def test_a_tiny_before_after_table(tmp_path, capsys) -> None:
    out = tmp_path / "fi.md"
    F.main(
        [
            f"before: {TINY} dataset.max_rank=null",
            f"after: {TINY} dataset.max_rank=500",
            "--names",
            "Smith,Rossi",
            "--out",
            str(out),
        ]
    )
    assert capsys.readouterr().out == f"wrote {out}\n"
    text = out.read_text()
    lines = text.splitlines()
    assert lines[0].startswith("# First impression")
    rows = {line.split(" | ")[0].lstrip("| "): line for line in lines if line.startswith("| ")}
    for name in ("Smith", "Rossi"):
        cells = rows[name].strip("| ").split(" | ")
        # name, the package's top countries, then predicted (bearers' share) and nearest 3 twice
        assert len(cells) == 2 + 2 * 2
        assert re.fullmatch(r"\w[\w ]+ \d+%, \w[\w ]+ \d+%", cells[1])  # Smith: US, UK
        assert all(cells[2:]) and re.fullmatch(r".+ \(\d+%\)", cells[2])
        assert cells[3].count("(") == 3  # three neighbours with labels
    assert "`dataset.max_rank=500`" in rows["overrides"]
    held = rows["predictions held by >= 10% of the name's bearers"].strip("| ").split(" | ")[1:]
    assert all(re.fullmatch(r"[0-2] / 2", x) for x in held)
    near = rows["nearest 3 whose label holds >= 10% of the name's bearers"].strip("| ").split(" | ")
    assert all(re.fullmatch(r"[0-6] / 6", x) for x in near[1:])
    assert '--names "Smith,Rossi"' in text and f"--out {out}" in text
    # the accuracy and chance cells equal a numpy brute force over the same (cached) vectors
    cell = rows["kNN accuracy (exact, all queries)"].strip("| ").split(" | ")[2]
    s = Searcher(precheck([*TINY.split(), "dataset.max_rank=500", "index=exact"]))
    xb, xq = (v / np.linalg.norm(v, axis=1, keepdims=True) for v in (s.xb, s.vectors.xq))
    top = np.argsort(-(xq.astype(np.float64) @ xb.T.astype(np.float64)), axis=1, kind="stable")
    ds = s.dataset
    acc = metrics.knn_accuracy(top[:, :3], ds.db_labels, ds.query_labels)
    assert float(cell) == pytest.approx(acc, abs=2.0 / len(ds.queries))  # a tie may flip one
    _, counts = np.unique(ds.query_labels.astype(str), return_counts=True)
    chance = rows["chance (most common query label)"].strip("| ").split(" | ")[2]
    assert float(chance.split()[0]) == pytest.approx(counts.max() / counts.sum(), abs=5e-5)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["x: k=0"], "k=0 is invalid"),
        (["x: dataset.max_rank=0 dataset.limit=400"], "dataset.max_rank=0 is invalid"),
        (["x: nope=1"], "nope"),
        (["--names", " , "], "--names"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(argv, needle, tmp_path, capsys) -> None:
    out = tmp_path / "fi.md"
    with pytest.raises(SystemExit) as exc:
        F.main([*argv, "--out", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]
    assert not out.exists()
