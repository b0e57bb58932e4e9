"""lookup.progress: live bars on a terminal, a few log lines (never redraws) elsewhere."""

from __future__ import annotations

import io
import logging

import pytest

from lookup import progress as P


class _Clock:
    """A fake time.monotonic advanced by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock(monkeypatch):
    c = _Clock()
    monkeypatch.setattr(P.time, "monotonic", c)
    return c


@pytest.fixture
def not_a_terminal(monkeypatch):
    monkeypatch.delenv("LOOKUP_PROGRESS", raising=False)
    monkeypatch.setattr(P.sys, "stderr", io.StringIO())


def test_pipe_gets_lines_not_a_bar(not_a_terminal):
    assert not P.draws_live()
    bar = P.progress(total=10, desc="train", unit="batch")
    assert isinstance(bar, P.LineProgress)


def test_terminal_gets_tqdm(monkeypatch):
    class _Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("LOOKUP_PROGRESS", raising=False)
    monkeypatch.setattr(P.sys, "stderr", _Tty())
    assert P.draws_live()
    bar = P.progress(range(3), desc="x", unit="it")
    assert type(bar).__module__.startswith("tqdm")
    assert list(bar) == [0, 1, 2]


def test_env_forces_a_mode(monkeypatch, not_a_terminal):
    monkeypatch.setenv("LOOKUP_PROGRESS", "bar")
    assert P.draws_live()
    monkeypatch.setenv("LOOKUP_PROGRESS", "off")
    assert isinstance(P.progress(total=3, desc="x"), P._Off)
    monkeypatch.setenv("LOOKUP_PROGRESS", "sometimes")
    with pytest.raises(ValueError, match="LOOKUP_PROGRESS=sometimes is invalid; valid: auto"):
        P.progress(total=3, desc="x")


def test_short_loop_writes_nothing(not_a_terminal, clock, caplog):
    caplog.set_level(logging.INFO, logger="lookup.progress")
    out = []
    for i in P.progress(range(1000), desc="encode", unit="batch"):
        clock.t += 0.001  # 1 s in all
        out.append(i)
    assert out == list(range(1000))
    assert caplog.records == []


def test_long_loop_writes_one_line_per_interval(not_a_terminal, clock, caplog):
    caplog.set_level(logging.INFO, logger="lookup.progress")
    bar = P.progress(total=1500, desc="train rnn (predict)", unit="batch")
    for _ in range(1500):  # 0.03 s per batch: 45 s
        clock.t += 0.03
        bar.update(1)
        bar.set_postfix(epoch=1, loss="2.345")
    clock.t += 5  # not a line at 100 %: the closing line says it
    bar.close()
    bar.close()  # idempotent
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 5  # at 10, 20, 30, 40 s and the end
    assert all("\r" not in line and len(line) < 120 for line in lines)
    assert lines[0].startswith("train rnn (predict): 334/1500 batch (22%), 10 s, ~35 s left")
    assert lines[0].endswith("epoch=1, loss=2.345")
    done = "train rnn (predict): 1500/1500 batch (100%), 50 s, epoch=1, loss=2.345 (done)"
    assert lines[-1] == done


def test_a_line_needs_ten_percent_more_or_a_quiet_minute(not_a_terminal, clock, caplog):
    caplog.set_level(logging.INFO, logger="lookup.progress")
    fast = P.progress(total=300, desc="fast", unit="batch")  # 10 % every 30 s
    slow = P.progress(total=1000, desc="slow", unit="batch")  # 10 % every 100 s
    for _ in range(200):  # 1 batch per second each
        clock.t += 1
        fast.update(1)
        slow.update(1)
    fast.close()
    slow.close()
    lines = [r.getMessage().split(",")[0] for r in caplog.records]
    assert [line for line in lines if line.startswith("fast")] == [
        f"fast: {n}/300 batch ({round(n / 3)}%)" for n in (30, 60, 90, 120, 150, 180, 200)
    ]
    assert [line for line in lines if line.startswith("slow")] == [
        f"slow: {n}/1000 batch ({n // 10}%)"
        for n in (60, 120, 180, 200)  # a quiet minute
    ]
    assert caplog.records[-1].getMessage() == "slow: 200/1000 batch (20%), 3.3 min (done)"


def test_lines_without_total_and_context_manager(not_a_terminal, clock, caplog):
    caplog.set_level(logging.INFO, logger="lookup.progress")
    with P.progress(desc="read", unit=" lines") as bar:
        clock.t += 11
        bar.update(7)
    assert [r.getMessage() for r in caplog.records] == [
        "read: 7 lines, 11 s",
        "read: 7 lines, 11 s (done)",
    ]


def test_disable_still_iterates(not_a_terminal):
    bar = P.progress([1, 2, 3], desc="x", disable=True)
    assert list(bar) == [1, 2, 3]
    assert len(bar) == 3
