"""Progress that suits where it draws: a live tqdm bar on a terminal, a few log lines elsewhere.

Every loop a user waits for (training, encoding, exact ground truth) goes through `progress`:

- stderr is a terminal (or a Jupyter kernel): a ``tqdm.auto`` bar, redrawn live;
- anything else (a pipe, a file, CI, pytest's capture): no redraws at all; a loop that lasts
  less than ``interval`` (10 s) writes nothing, a longer one logs one short INFO line on the
  ``lookup.progress`` logger at most every ``interval`` seconds and every 10 % of the total
  (or after a minute without one), and one when it ends: about a dozen lines per loop, e.g.
  ``train rnn (predict): 594/1485 batch (40%), 12 s, ~18 s left, epoch=2, loss=2.345``.

``LOOKUP_PROGRESS=bar|lines|off`` forces one behaviour (default ``auto``: decide by stderr).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

from lookup.errors import BadInput

log = logging.getLogger(__name__)

INTERVAL_S = 10.0  # at least this many seconds between two log lines on a non-terminal
STEP = 0.1  # ... and, with a known total, at least this share of it done since the last line
QUIET_FACTOR = 6  # ... unless 6 intervals passed (a slow loop still shows it is alive)
MODES = ("auto", "bar", "lines", "off")


def _mode() -> str:
    mode = os.environ.get("LOOKUP_PROGRESS", "auto").strip().lower() or "auto"
    if mode not in MODES:
        raise BadInput(f"LOOKUP_PROGRESS={mode} is invalid; valid: {', '.join(MODES)}")
    return mode


def _in_notebook() -> bool:
    return type(sys.stderr).__module__.startswith("ipykernel")


def draws_live() -> bool:
    """True when progress should be a live bar: stderr is a terminal (or a notebook), or
    ``LOOKUP_PROGRESS=bar``. For libraries with their own bar switch (sentence-transformers'
    ``show_progress_bar``)."""
    mode = _mode()
    if mode != "auto":
        return mode == "bar"
    try:
        return sys.stderr.isatty() or _in_notebook()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


def _seconds(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


class LineProgress:
    """The tqdm subset this project uses, as sparse log lines (no carriage returns).

    ``update``, ``set_postfix``, ``set_description``, ``close``, iteration and ``with``.
    """

    def __init__(
        self,
        iterable: Iterable | None = None,
        *,
        total: int | None = None,
        desc: str = "",
        unit: str = "it",
        leave: bool = True,
        interval: float = INTERVAL_S,
        logger: logging.Logger | None = None,
    ) -> None:
        if total is None and iterable is not None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except TypeError:
                total = None
        self.iterable = iterable
        self.total = total
        self.desc = desc
        self.unit = unit.strip() or "it"
        self.leave = leave
        self.interval = interval
        self.n = 0
        self.lines = 0  # lines written so far
        self.postfix = ""
        self._log = logger or log
        self._start = self._last = time.monotonic()
        self._last_n = 0
        self._closed = False

    def __iter__(self) -> Iterator:
        if self.iterable is None:
            raise TypeError("LineProgress was made without an iterable")
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def __len__(self) -> int:
        if self.total is None:
            raise TypeError("progress without a total has no len()")
        return self.total

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        """Count ``n`` more units; log a line when ``interval`` seconds passed since the last
        one and (with a total) the count moved by 10 % of it, or after ``6 * interval``."""
        self.n += n
        now = time.monotonic()
        since = now - self._last
        if since < self.interval or (self.total and self.n >= self.total):
            return  # too soon, or finished: close() says so
        step = self.total is None or self.n - self._last_n >= STEP * self.total
        if step or since >= QUIET_FACTOR * self.interval:
            self._last, self._last_n = now, self.n
            self.lines += 1
            self._log.info("%s", self.status(now))

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True, **kw) -> None:
        """Extra ``key=value`` fields for the next line (as tqdm's)."""
        items = {**(ordered_dict or {}), **kw}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = s

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or ""

    def refresh(self) -> None:
        """Nothing to redraw on a non-terminal."""

    def status(self, now: float | None = None, *, done: bool = False) -> str:
        """One line: what, how far, how long, how much longer, the postfix."""
        elapsed = (time.monotonic() if now is None else now) - self._start
        parts = [f"{self.n}/{self.total} {self.unit}" if self.total else f"{self.n} {self.unit}"]
        if self.total:
            parts[0] += f" ({100 * self.n / self.total:.0f}%)"
        parts.append(_seconds(elapsed))
        if self.total and 0 < self.n < self.total and not done:
            parts.append(f"~{_seconds(elapsed * (self.total - self.n) / self.n)} left")
        if self.postfix:
            parts.append(self.postfix)
        return f"{self.desc}: " + ", ".join(parts)

    def close(self) -> None:
        """One last line, only for a loop that already logged (it lasted > ``interval``)."""
        if self._closed:
            return
        self._closed = True
        if self.leave and self.lines:
            self.lines += 1
            self._log.info("%s (done)", self.status(done=True))


class _Off(LineProgress):
    def update(self, n: int = 1) -> None:
        self.n += n

    def close(self) -> None:
        self._closed = True


def progress(
    iterable: Iterable | None = None,
    *,
    total: int | None = None,
    desc: str,
    unit: str = "it",
    leave: bool = True,
    disable: bool = False,
    interval: float = INTERVAL_S,
) -> Any:
    """A tqdm-like progress object over ``iterable`` (or updated by hand up to ``total``).

    A live ``tqdm.auto`` bar when `draws_live` (terminal), else a `LineProgress` that logs at
    most one line every ``interval`` seconds (nothing for a loop shorter than that).
    ``disable=True`` (or ``LOOKUP_PROGRESS=off``) reports nothing but still counts.
    """
    if disable or _mode() == "off":
        return _Off(iterable, total=total, desc=desc, unit=unit, leave=leave)
    if draws_live():
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, file=sys.stderr)
    return LineProgress(iterable, total=total, desc=desc, unit=unit, leave=leave, interval=interval)
