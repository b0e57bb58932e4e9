"""World last names from the PyPI package ``names-dataset`` (no network needed).

``names_dataset/v3/last_names.pkl.gz`` is a dict ``{name: {"country": {ISO2: share, ...},
"gender": {}, "rank": {ISO2: rank}}}`` with ~983k names; shares of one name sum to ~1.

Labels (``labels=``):

- ``country``: the dominant country (largest share, ISO 3166-1 alpha-2 code), kept when its
  share is >= ``min_share`` (724k names at 0.5, 105 countries);
- ``region``: the surname region of `lookup.data.countries` whose countries together hold the
  largest share, kept when that share is >= ``min_share`` (875k names at 0.5, 17 regions).
  Smith (US 47 %, GB 33 %, ...) has no country label at 0.5 but is 83 % English-speaking.

The pickle takes ~7 s to unpickle, so it is converted once into a compact cached table
(``<cache_dir>/names_v3_last_t<version>.npz``: names as one UTF-8 blob + offsets, dominant
country and share, each name's whole country distribution, and its region and region share)
that loads in well under a second.

Converting streams (:func:`_collect_package`): unpickled whole, the package is ~1 GB of small
dicts (``pickle.load`` alone peaked at 1.05 GB, the conversion at 1.59 GB). The unpickler's
memo keeps every memoized object alive until the end, and the top-level dict keeps every name's
dicts. So the stream is rewritten before the C unpickler reads it: one regular expression over
the opcodes of each item (a name and its ``{"country": {...}, "gender": {...}, "rank": {...}}``)
makes every ``MEMOIZE`` of a name or a dict memoize ``None`` instead (nothing refers back to
them; the memo keeps its numbering, so references to the shared country codes stay valid), and
the top-level dict becomes a :class:`_Collector` whose ``__setitem__`` keeps only compact
columns. A package whose layout does not fit (a new version) falls back to ``pickle.load``, with
one log line. The table does not depend on ``min_share``/``limit``/``seed``;
when `lookup.data.countries` regroups countries after the table was built, region shares are
recomputed from the stored distributions (~1 s) instead of read.

Split: eligible names (share >= min_share) in the package's order are permuted with
``numpy.random.default_rng(seed)`` and the first ``limit`` are kept (``limit=None``: all). With
``n_queries`` set, the first ``n_queries`` of them are the queries and the rest the database, so
for one seed, labelling and ``n_queries`` the queries are the same at every ``limit`` and the
database of a smaller ``limit`` is a prefix of a larger one's (nested subsets for scaling
curves). Without it, the first ``round(limit * test_fraction)`` are the queries.
"""

from __future__ import annotations

import gc
import gzip
import io
import logging
import os
import pickle
import re
from array import array
from collections.abc import Iterator

import numpy as np

from lookup.data.base import Dataset, fingerprint
from lookup.data.countries import COUNTRIES
from lookup.errors import BadInput, MissingFile

log = logging.getLogger(__name__)

TABLE_VERSION = 3
TABLE_NAME = f"names_v3_last_t{TABLE_VERSION}.npz"


def _pickle_path() -> str:
    try:
        import names_dataset
    except ImportError as exc:  # pragma: no cover - dependency declared in pyproject
        raise MissingFile(
            "package names-dataset is not installed; pip install names-dataset"
        ) from exc
    p = os.path.join(os.path.dirname(names_dataset.__file__), "v3", "last_names.pkl.gz")
    if not os.path.exists(p):
        raise MissingFile(f"names-dataset has no v3/last_names.pkl.gz at {p}")
    return p


def _region_index(countries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Region names (sorted) and, per entry of ``countries``, the index of its region.

    A code that `lookup.data.countries` does not know gets the region "Other".
    """
    of = [COUNTRIES[str(c)].region if str(c) in COUNTRIES else "Other" for c in countries]
    regions = sorted(set(of))
    pos = {r: i for i, r in enumerate(regions)}
    return np.asarray(regions), np.asarray([pos[r] for r in of], dtype=np.int16)


def _region_shares(
    ptr: np.ndarray, dist_country: np.ndarray, dist_share: np.ndarray, region_of_country: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per name, the region with the largest summed share (ties: first region) and that share."""
    n, g = len(ptr) - 1, int(region_of_country.max()) + 1 if len(region_of_country) else 1
    rows = np.repeat(np.arange(n), np.diff(ptr))
    sums = np.zeros((n, g), dtype=np.float32)  # (names, regions)
    np.add.at(sums, (rows, region_of_country[dist_country]), dist_share)
    top = sums.argmax(axis=1)
    return top.astype(np.int16), sums[np.arange(n), top]


_LAYOUT = frozenset({"country", "gender", "rank"})


class _Ids(dict):
    """Numbers keys in order of first appearance: ``ids[key]`` (C speed unless the key is new)."""

    def __missing__(self, key) -> int:
        self[key] = value = len(self)
        return value


class _Collector:
    """Takes the package's ``(name, info)`` pairs one at a time and keeps compact columns only:
    the kept names (stripped, no newline, first occurrence, with a country), in the package's
    order, and for each its countries (as the package spells them), shares and ranks.

    ``strict``: raise on anything but the package's layout (a str name and a dict with at most
    the keys country, gender, rank, its country a dict), so that the streaming conversion falls
    back instead of guessing.
    """

    def __init__(self, *, strict: bool = False) -> None:
        self.strict = strict
        self.names: list[str] = []
        self.seen: set[str] = set()
        self.lens = array("q")  # countries per kept name
        self.ids = _Ids()  # country code (as the package spells it) -> small int
        self.codes = array("i")  # one per (name, country): its code's id
        self.shares = array("d")
        self.ranks = array("i")  # the name's rank in that country (`NO_RANK`: none)
        self.items = 0

    def __setitem__(self, key, info) -> None:
        self.items += 1
        if self.strict and not (
            type(key) is str
            and type(info) is dict
            and info.keys() <= _LAYOUT
            and type(info.get("country")) is dict
        ):
            raise ValueError(f"unexpected entry {key!r}: {type(info).__name__}")
        name = str(key).strip()
        countries = (info or {}).get("country") or {}
        if not name or "\n" in name or name in self.seen or not countries:
            return
        self.seen.add(name)
        self.names.append(name)
        self.lens.append(len(countries))
        self.codes.extend(map(self.ids.__getitem__, countries))
        self.shares.extend(countries.values())
        ranks = info.get("rank")
        if ranks:
            self.ranks.extend(map(_rank, map(ranks.get, countries)))
        else:
            self.ranks.extend(_NO_RANK_ARRAY * len(countries))


# One item of the package's pickle (protocol 4, frames removed): the top-level batch's MARK
# (after the previous batch's SETITEMS), the name (SHORT_BINUNICODE, MEMOIZE), its dict
# (EMPTY_DICT, MEMOIZE, MARK) with three keys, each a reference (BINGET, LONG_BINGET, or a short
# ASCII string seen for the first time, memoized) to "country", "gender" and "rank" and each an
# EMPTY_DICT + MEMOIZE: country {code: BINFLOAT ...}, gender {}, rank {code: BININT* ...}.
_NEW = rb"\x8c[\x01-\x7f][\x20-\x7e]+\x94"
_REF = rb"(?:h.|j....|" + _NEW + rb")"
_INT = rb"(?:K.|M..|J....)"
_ITEM = re.compile(
    rb"(?P<pre>(?:u?\()?)\x8c(?P<nl>.)(?P<name>.*?)\x94\}\x94\((?P<k1>" + _REF + rb")\}\x94"
    rb"(?P<cb>\((?:" + _REF + rb"G.{8})+u|" + _REF + rb"G.{8}s)"
    rb"(?P<k2>" + _REF + rb")\}\x94(?P<k3>" + _REF + rb")\}\x94"
    rb"(?P<rb>(?:\((?:" + _REF + _INT + rb")+u|" + _REF + _INT + rb"s)?)u",
    re.S,
)
_NONE_MEMO = b"N\x940"  # NONE, MEMOIZE, POP: the memo gets None, the stack is unchanged
_ITEM_REWRITE = (
    rb"\g<pre>" + b"\x8c" + rb"\g<nl>\g<name>" + _NONE_MEMO + b"}" + _NONE_MEMO + b"("
    + rb"\g<k1>" + b"}" + _NONE_MEMO + rb"\g<cb>\g<k2>" + b"}" + _NONE_MEMO
    + rb"\g<k3>" + b"}" + _NONE_MEMO + rb"\g<rb>" + b"u"
)  # fmt: skip
_SINK = ("lookup.data.names", "_Collector")  # GLOBAL that stands in for the top-level dict


class _StreamUnpickler(pickle.Unpickler):
    """Resolves only the collector's GLOBAL; nothing else may be imported by the stream."""

    def __init__(self, file, collector: _Collector) -> None:
        super().__init__(file)
        self._collector = collector

    def find_class(self, module: str, name: str):
        if (module, name) == _SINK:
            return lambda: self._collector
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")


_WINDOW = 1 << 23  # opcodes rewritten at a time (8 MiB): the package is never in memory whole


def _frames(f) -> Iterator[bytes]:
    """The opcodes of a protocol 4 pickle, frame by frame (``f``: the decompressed file)."""
    if f.read(2) != b"\x80\x04":
        raise ValueError("not a protocol 4 pickle")
    while frame := f.read(9):  # FRAME + 8-byte length, then the frame's opcodes
        if frame[0] != 0x95 or len(frame) != 9:
            raise ValueError("an opcode outside a frame")
        n = int.from_bytes(frame[1:], "little")
        chunk = f.read(n)
        if len(chunk) != n:
            raise ValueError("a truncated frame")
        yield chunk


def _rewritten(path: str, head: bytes, counts: list[int]) -> Iterator[bytes]:
    """``head``, then the package's opcodes after its top-level EMPTY_DICT MEMOIZE with each item
    rewritten (module docstring), one window of ~8 MiB at a time.

    A window may end anywhere: an item cut in two matches in neither window and passes through
    as it is (unchanged bytes stay a valid stream; that one item is just not released early).
    """
    yield head
    buf = bytearray()
    started = False
    with gzip.open(path, "rb") as f:
        for chunk in _frames(f):
            buf += chunk
            if not started and len(buf) >= 2:
                if buf[:2] != b"}\x94":  # EMPTY_DICT MEMOIZE: the top-level dict
                    raise ValueError("the top level is not a dict")
                del buf[:2]
                started = True
            if len(buf) >= _WINDOW:
                out, n = _ITEM.subn(_ITEM_REWRITE, buf)
                counts[0] += n
                buf = bytearray()
                yield out
    if not buf.endswith(b"u."):  # SETITEMS of the last batch, STOP
        raise ValueError("the top level is not one dict of batched items")
    out, n = _ITEM.subn(_ITEM_REWRITE, buf)
    counts[0] += n
    yield out


class _Chunks(io.RawIOBase):
    """A readable stream over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._chunk = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not len(self._chunk):
            nxt = next(self._chunks, None)
            if nxt is None:
                return 0
            self._chunk = memoryview(nxt)
        n = min(len(b), len(self._chunk))
        b[:n] = self._chunk[:n]
        self._chunk = self._chunk[n:]
        return n


def _collect_package(path: str) -> _Collector:
    """The package's names as a :class:`_Collector`, streaming (module docstring); raises
    ``ValueError`` or ``pickle.UnpicklingError`` when the layout does not fit."""
    # PROTO 4, GLOBAL _Collector, EMPTY_TUPLE, REDUCE, MEMOIZE: replaces EMPTY_DICT, MEMOIZE
    head = b"\x80\x04c" + "\n".join(_SINK).encode() + b"\n)R\x94"
    counts = [0]
    stream = io.BufferedReader(_Chunks(_rewritten(path, head, counts)), buffer_size=1 << 20)
    collector = _Collector(strict=True)
    enabled = gc.isenabled()
    gc.disable()  # ~1M short-lived dicts: the cyclic GC would rescan the growing columns
    try:
        if _StreamUnpickler(stream, collector).load() is not collector:
            raise ValueError("the stream did not end with the collector")
    finally:
        if enabled:
            gc.enable()
    log.debug("names package: %d of %d items streamed", counts[0], collector.items)
    return collector


NO_RANK = np.iinfo(np.int32).max  # a country that gives the name no rank
_NO_RANK_ARRAY = array("i", [NO_RANK])


def _rank(r) -> int:
    """A package rank (an int >= 1) or `NO_RANK` for a missing or malformed one."""
    ok = isinstance(r, (int, np.integer)) and not isinstance(r, bool) and r >= 1
    return int(r) if ok else NO_RANK


def _blob_and_offsets(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """All names as one UTF-8 byte array and the offsets of each (names hold no newline)."""
    offsets = np.zeros(len(names) + 1, dtype=np.int64)
    if not names:
        return np.zeros(0, dtype=np.uint8), offsets
    joined = np.frombuffer("\n".join(names).encode("utf-8"), dtype=np.uint8)
    newline = joined == 10
    ends = np.append(np.flatnonzero(newline), len(joined))  # (n,) end of name i, with separators
    offsets[1:] = ends - np.arange(len(names))  # minus the i separators before name i's end
    return joined[~newline], offsets


def build_table(raw: dict) -> dict[str, np.ndarray]:
    """Compact arrays from the package dict (see :func:`_table`)."""
    collector = _Collector()
    for key, info in raw.items():
        collector[key] = info
    return _table(collector)


def _table(c: _Collector) -> dict[str, np.ndarray]:
    """Compact arrays from the collected names (emptying ``c`` as it goes, to keep the peak low).

    ``blob``/``offsets`` (UTF-8 names), ``country``/``share`` (dominant country index into
    ``countries`` and its share; ties go to the alphabetically first code),
    ``dist_ptr``/``dist_country``/``dist_share``/``dist_rank`` (every country of name i at
    ``dist_ptr[i]:dist_ptr[i+1]``, in the package's order, with the name's rank among that
    country's surnames, `NO_RANK` when the package gives none), ``region``/``region_share`` (index
    into ``regions``) with the mapping they were computed with (``region_of_country``).
    Only the walk over the dict is Python; everything after it is vectorised (~1M names).
    """
    n, m = len(c.names), len(c.codes)
    blob, offsets = _blob_and_offsets(c.names)
    c.names, c.seen = [], set()
    lens = np.frombuffer(c.lens, dtype=np.int64) if n else np.zeros(0, dtype=np.int64)
    dist_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lens, out=dist_ptr[1:])
    shares = np.frombuffer(c.shares, dtype=np.float64) if m else np.zeros(0)  # (m,)
    as_text = [str(k) for k in c.ids]  # the codes in id order, as text
    country_list = sorted(set(as_text))
    cidx = {code: i for i, code in enumerate(country_list)}
    country_of_id = np.asarray([cidx[t] for t in as_text], dtype=np.int16)
    codes = np.frombuffer(c.codes, dtype=np.int32) if m else np.zeros(0, dtype=np.int32)
    dist_country = country_of_id[codes] if m else np.zeros(0, dtype=np.int16)  # (m,)
    dist_rank = np.frombuffer(c.ranks, dtype=np.int32) if m else np.zeros(0, dtype=np.int32)
    if n:  # the dominant country: largest share, ties to the smallest (alphabetical) code
        starts = dist_ptr[:-1]
        top_share = np.maximum.reduceat(shares, starts)  # (n,)
        is_top = shares == np.repeat(top_share, lens)
        cand = np.where(is_top, dist_country, np.iinfo(np.int16).max).astype(np.int16)
        country = np.minimum.reduceat(cand, starts).astype(np.int16)
    else:
        top_share, country = np.zeros(0), np.zeros(0, dtype=np.int16)
    dist_share = shares.astype(np.float32)
    del shares
    c.shares = array("d")
    countries_arr = np.asarray(country_list)
    regions, region_of_country = _region_index(countries_arr)
    region, region_share = _region_shares(dist_ptr, dist_country, dist_share, region_of_country)
    return {
        "blob": blob,
        "offsets": offsets,
        "country": country,
        "share": top_share.astype(np.float32),
        "countries": countries_arr,
        "dist_ptr": dist_ptr,
        "dist_country": dist_country,
        "dist_share": dist_share,
        "dist_rank": dist_rank,
        "regions": regions,
        "region_of_country": regions[region_of_country],
        "region": region,
        "region_share": region_share,
        "version": np.asarray(TABLE_VERSION),
    }


_TABLE_KEYS = (
    "blob",
    "offsets",
    "country",
    "share",
    "countries",
    "dist_ptr",
    "dist_country",
    "dist_rank",
    "version",
)


def _read_table(path: str) -> dict[str, np.ndarray]:
    """The cached table, read fully; raises on any damage (empty, truncated, missing arrays, not
    a regular file: a FIFO there is never opened)."""
    from lookup.io import open_regular

    with open_regular(None, path) as f, np.load(f, allow_pickle=False) as z:
        table = {k: z[k] for k in z.files}
    missing = [k for k in _TABLE_KEYS if k not in table]
    if missing:
        raise ValueError(f"missing array {', '.join(missing)}")
    if int(table["version"]) != TABLE_VERSION:
        raise ValueError(f"table version {int(table['version'])}, expected {TABLE_VERSION}")
    if len(table["offsets"]) != len(table["country"]) + 1 or table["offsets"][-1] != len(
        table["blob"]
    ):
        raise ValueError("offsets do not match the names blob")
    return table


def _load_table(cache_dir: str) -> dict[str, np.ndarray]:
    """The compact names table from the cache, converted from the package on first use.

    A cached table that fails to load is moved aside (one warning) and converted again.
    """
    from lookup.cache import quarantine
    from lookup.io import atomic_path, check_output_dir, hold_lock

    path = os.path.join(cache_dir, TABLE_NAME)
    if os.path.lexists(path):
        try:
            return _read_table(path)
        except Exception:  # noqa: BLE001 - re-checked under the lock below
            pass
    check_output_dir("dataset.cache_dir", cache_dir)
    os.makedirs(cache_dir, exist_ok=True)
    with hold_lock(path + ".lock", f"the names table {path}, converted by another job"):
        if os.path.lexists(path):  # another job may have healed it meanwhile
            try:
                return _read_table(path)
            except Exception as exc:  # noqa: BLE001 - any damage: heal by converting again
                quarantine(path, f"{type(exc).__name__}: {exc}")
        src = _pickle_path()
        log.info("converting %s into %s (one time, ~10 s)", src, path)
        try:
            table = _table(_collect_package(src))
        except (ValueError, TypeError, pickle.UnpicklingError, EOFError, OSError) as exc:
            log.info("names package layout not recognised (%s); converting with pickle.load", exc)
            with gzip.open(src, "rb") as f:
                raw = pickle.load(f)
            table = build_table(raw)
            del raw
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, **table)
    return table


def _gather(blob: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> bytes:
    """The UTF-8 bytes of the names at ``rows``, each followed by a newline (vectorised)."""
    rows = np.asarray(rows, dtype=np.int64)
    starts = offsets[rows]
    lens = offsets[rows + 1] - starts
    out = np.full(int(lens.sum()) + len(rows), 10, dtype=np.uint8)  # 10: "\n"
    owner = np.repeat(np.arange(len(rows)), lens)  # row of each name byte
    k = np.arange(len(owner))  # position among the concatenated name bytes
    out[k + owner] = blob[k + np.repeat(starts - (np.cumsum(lens) - lens), lens)]
    return out.tobytes()


def _decode(blob: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> list[str]:
    return _gather(blob, offsets, rows).decode("utf-8").split("\n")[:-1]


LABELS = ("country", "region")


def _is_int(x) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _is_number(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def _check_arguments(labels, min_share, limit, n_queries, test_fraction, seed, cache_dir) -> None:
    """One-line BadInput naming the first bad key=value and what is valid."""
    if labels not in LABELS:
        raise BadInput(f"dataset.labels={labels!r} is invalid; valid: {', '.join(LABELS)}")
    if not (_is_number(min_share) and 0.0 <= min_share <= 1.0):
        raise BadInput(f"dataset.min_share={min_share!r} is invalid; it must be a number in [0, 1]")
    if limit is not None and not (_is_int(limit) and limit >= 2):
        raise BadInput(
            f"dataset.limit={limit!r} is invalid; it must be null (all) or an integer >= 2"
        )
    if n_queries is not None and not (_is_int(n_queries) and n_queries >= 1):
        raise BadInput(
            f"dataset.n_queries={n_queries!r} is invalid; it must be null (test_fraction decides) "
            "or an integer >= 1"
        )
    if limit is not None and n_queries is not None and n_queries >= limit:
        raise BadInput(
            f"dataset.n_queries={n_queries} is invalid with limit={limit}; "
            "n_queries must be < limit "
            "(limit counts queries and database together)"
        )
    if not (_is_number(test_fraction) and 0.0 < test_fraction < 1.0):
        raise BadInput(
            f"dataset.test_fraction={test_fraction!r} is invalid; it must be a number in (0, 1)"
        )
    if not (_is_int(seed) and seed >= 0):
        raise BadInput(f"dataset.seed={seed!r} is invalid; it must be an integer >= 0")
    if not (isinstance(cache_dir, (str, os.PathLike)) and str(cache_dir)):
        raise BadInput(f"dataset.cache_dir={cache_dir!r} is invalid; it must be a directory path")


def _labels_of(t: dict[str, np.ndarray], labels: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(class names, per-name class index, per-name share of that class) for a labelling."""
    if labels == "country":
        return t["countries"], t["country"], t["share"]
    regions, region_of_country = _region_index(t["countries"])
    if "region" in t and np.array_equal(t["region_of_country"], regions[region_of_country]):
        return t["regions"], t["region"], t["region_share"]
    log.info("regions changed since the names table was built; recomputing region shares")
    dist = (t["dist_ptr"], t["dist_country"], t["dist_share"])
    top, share = _region_shares(*dist, region_of_country)
    return regions, top, share


def _label_ranks(t: dict[str, np.ndarray], labels: str, label_idx: np.ndarray) -> np.ndarray:
    """Per name, its best rank in a country of its label (`NO_RANK` if none ranks it).

    Country labels: the rank in the labelled country; region labels: the smallest rank among
    the region's countries (O'Neill: 130th in GB, 21st in IE -> 21 for English-speaking).
    """
    ptr = t["dist_ptr"]
    n = len(ptr) - 1
    if n == 0:
        return np.zeros(0, dtype=np.int32)
    owner = np.repeat(np.arange(n), np.diff(ptr))  # (m,) name of each distribution entry
    cls = t["dist_country"]
    if labels == "region":
        cls = _region_index(t["countries"])[1][cls]
    rank = np.where(cls == label_idx[owner], t["dist_rank"], NO_RANK)  # (m,)
    return np.minimum.reduceat(rank, ptr[:-1]).astype(np.int32)


def _split(t, labels, label_idx, share, min_share, max_rank, limit, n_queries, test_fraction, seed):
    """(query rows, database rows) of the table: the eligible names, seeded and cut."""
    keep = share >= np.float32(min_share)
    if max_rank is not None:
        keep &= _label_ranks(t, labels, label_idx) <= max_rank
    eligible = np.flatnonzero(keep)
    if len(eligible) < 2:
        key, value = ("max_rank", max_rank) if max_rank is not None else ("min_share", min_share)
        raise BadInput(
            f"dataset.{key}={value} is invalid for labels={labels}, min_share={min_share}, "
            f"max_rank={max_rank}: only {len(eligible)} names qualify (2 needed)"
        )
    chosen = eligible[np.random.default_rng(seed).permutation(len(eligible))]
    if limit is not None:
        chosen = chosen[:limit]
    if n_queries is None:
        n_test = min(max(1, round(len(chosen) * test_fraction)), len(chosen) - 1)
    elif n_queries < len(chosen):
        n_test = n_queries
    else:
        raise BadInput(
            f"dataset.n_queries={n_queries} is invalid: only {len(chosen)} names have a "
            f"{labels} share "
            f">= {min_share}, and the database needs at least one"
        )
    return chosen[:n_test], chosen[n_test:]


def load_names(
    *,
    labels: str = "country",
    min_share: float = 0.5,
    max_rank: int | None = 1000,
    limit: int | None = 40000,
    n_queries: int | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    cache_dir: str = ".cache/lookup",
) -> Dataset:
    """World last names labelled by dominant country (ISO 3166 alpha-2) or surname region.

    Args:
        labels: ``country`` (ISO code of the dominant country) or ``region`` (the region of
            `lookup.data.countries` holding the largest share of the name's bearers).
        min_share: keep a name only if its label holds at least this share of its bearers.
        max_rank: keep a name only if it is among the ``max_rank`` most common surnames of a
            country of its label (the package ranks each country's surnames; 1 = most
            common); None keeps rare names too (most of the package's 983k names are rare
            and their shares come from a handful of bearers).
        limit: names kept in all, queries and database together (seeded sample); None keeps
            every eligible name (~724k countries / ~875k regions at 0.5).
        n_queries: the first ``n_queries`` kept names are the queries, the rest the database;
            None: ``round(limit * test_fraction)`` queries. Same seed and ``n_queries``:
            the database of a smaller ``limit`` is a prefix of a larger one's.
        test_fraction: share of the kept names used as queries when ``n_queries`` is None.
        seed: seed of the sample/split permutation.
        cache_dir: where the compact table is cached.

    Raises:
        BadInput: one line naming the bad key=value and what is valid.
    """
    _check_arguments(labels, min_share, limit, n_queries, test_fraction, seed, cache_dir)
    if max_rank is not None and not (_is_int(max_rank) and max_rank >= 1):
        raise BadInput(
            f"dataset.max_rank={max_rank!r} is invalid; it must be null (every name) or an "
            "integer >= 1"
        )
    t = _load_table(cache_dir)
    classes, label_idx, share = _labels_of(t, labels)
    q_rows, db_rows = _split(
        t, labels, label_idx, share, min_share, max_rank, limit, n_queries, test_fraction, seed
    )
    db_bytes = _gather(t["blob"], t["offsets"], db_rows)
    q_bytes = _gather(t["blob"], t["offsets"], q_rows)
    db_idx, q_idx = label_idx[db_rows], label_idx[q_rows]
    db = db_bytes.decode("utf-8").split("\n")[:-1]
    queries = q_bytes.decode("utf-8").split("\n")[:-1]
    log.info(
        "names: %d db / %d queries, %s labels (min_share=%s, max_rank=%s, limit=%s, n_queries=%s)",
        len(db),
        len(queries),
        labels,
        min_share,
        max_rank,
        limit,
        n_queries,
    )
    return Dataset(
        name="names",
        db=db,
        queries=queries,
        db_labels=classes[db_idx],
        query_labels=classes[q_idx],
        fingerprint=fingerprint(b"names", classes, db_bytes, db_idx, q_bytes, q_idx),
    )


def _folded(name: str) -> str:
    """The package's spelling of a typed name: letters only, first upper, rest lower
    (``O'Neill`` -> ``Oneill``, ``MÜLLER`` -> ``Müller``)."""
    letters = "".join(ch for ch in name if ch.isalpha())
    return letters[:1].upper() + letters[1:].lower()


def _row_of(t: dict[str, np.ndarray], name: str) -> int | None:
    """The table row holding ``name`` (names are unique), compared as UTF-8 bytes against the
    names of its byte length only, without decoding the ~1M names."""
    want = np.frombuffer(name.encode("utf-8"), dtype=np.uint8)
    starts = t["offsets"][:-1][np.diff(t["offsets"]) == len(want)]
    if not len(want) or not len(starts):
        return None
    same = (t["blob"][starts[:, None] + np.arange(len(want))] == want).all(axis=1)
    hits = np.flatnonzero(same)
    return None if not len(hits) else int(np.searchsorted(t["offsets"], starts[hits[0]]))


def label_shares(
    names: list[str], *, labels: str = "country", cache_dir: str = ".cache/lookup"
) -> list[dict[str, float] | None]:
    """Per name, the share of its bearers under each label as the package counts them.

    A reference for judging a prediction: a name is looked up as typed, then folded
    (`_folded`); None when the package does not have it. Country labels are ISO codes;
    region labels sum the shares of the region's countries.
    """
    if labels not in LABELS:
        raise BadInput(f"labels={labels!r} is invalid; valid: {', '.join(LABELS)}")
    t = _load_table(cache_dir)
    ptr, dist_country, dist_share = t["dist_ptr"], t["dist_country"], t["dist_share"]
    keys = t["countries"]
    if labels == "region":
        regions, region_idx = _region_index(t["countries"])
        keys = regions[region_idx]  # per country, its region
    out: list[dict[str, float] | None] = []
    for name in names:
        i = _row_of(t, name.strip())
        if i is None:
            i = _row_of(t, _folded(name))
        if i is None:
            out.append(None)
            continue
        shares: dict[str, float] = {}
        span = slice(ptr[i], ptr[i + 1])
        for c, share in zip(dist_country[span], dist_share[span], strict=True):
            key = str(keys[c])
            shares[key] = shares.get(key, 0.0) + float(share)
        out.append(shares)
    return out
