"""World last names from the PyPI package ``names-dataset`` (no network needed).

``names_dataset/v3/last_names.pkl.gz`` is a dict ``{name: {"country": {ISO2: share, ...},
"gender": {}, "rank": {ISO2: rank}}}`` with ~983k names; shares of one name sum to ~1. A name is
labelled with its dominant country (largest share) when that share is >= ``min_share``.

The pickle takes ~7 s to unpickle, so it is converted once into a compact cached table
(``<cache_dir>/names_v3_last.npz``: names as one UTF-8 blob + offsets, dominant-country code and
share) that loads in well under 2 s. The table does not depend on ``min_share``/``limit``/``seed``.

Split: eligible names (share >= min_share) in the package's order are permuted with
``numpy.random.default_rng(seed)``; the first ``limit`` are kept; of those, the first
``round(limit * test_fraction)`` are queries (test), the rest the database (train).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import pickle
import tempfile

import numpy as np

from lookup.data.base import Dataset, fingerprint_texts

log = logging.getLogger(__name__)

TABLE_VERSION = 1
TABLE_NAME = f"names_v3_last_t{TABLE_VERSION}.npz"


def _pickle_path() -> str:
    try:
        import names_dataset
    except ImportError as exc:  # pragma: no cover - dependency declared in pyproject
        raise FileNotFoundError(
            "package names-dataset is not installed; pip install names-dataset"
        ) from exc
    p = os.path.join(os.path.dirname(names_dataset.__file__), "v3", "last_names.pkl.gz")
    if not os.path.exists(p):
        raise FileNotFoundError(f"names-dataset has no v3/last_names.pkl.gz at {p}")
    return p


def build_table(raw: dict) -> dict[str, np.ndarray]:
    """Compact arrays from the package dict: names blob/offsets, country code index, share."""
    names: list[str] = []
    codes: list[str] = []
    shares: list[float] = []
    seen: set[str] = set()
    for key, info in raw.items():
        name = str(key).strip()
        countries = (info or {}).get("country") or {}
        if not name or "\n" in name or name in seen or not countries:
            continue
        top = max(sorted(countries), key=lambda c: countries[c])  # ties -> alphabetical first
        seen.add(name)
        names.append(name)
        codes.append(top)
        shares.append(float(countries[top]))
    country_list = sorted(set(codes))
    cidx = {c: i for i, c in enumerate(country_list)}
    encoded = [n.encode("utf-8") for n in names]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    return {
        "blob": np.frombuffer(b"".join(encoded), dtype=np.uint8),
        "offsets": offsets,
        "country": np.asarray([cidx[c] for c in codes], dtype=np.int16),
        "share": np.asarray(shares, dtype=np.float32),
        "countries": np.asarray(country_list),
        "version": np.asarray(TABLE_VERSION),
    }


def _load_table(cache_dir: str) -> dict[str, np.ndarray]:
    path = os.path.join(cache_dir, TABLE_NAME)
    if not os.path.exists(path):
        from filelock import FileLock

        os.makedirs(cache_dir, exist_ok=True)
        with FileLock(path + ".lock"):
            if not os.path.exists(path):
                src = _pickle_path()
                log.info("converting %s into %s (one time, ~10 s)", src, path)
                with gzip.open(src, "rb") as f:
                    raw = pickle.load(f)
                table = build_table(raw)
                buf = io.BytesIO()
                np.savez(buf, **table)
                fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".tmp-", suffix=".npz")
                try:
                    with os.fdopen(fd, "wb") as f:
                        f.write(buf.getvalue())
                    os.replace(tmp, path)
                finally:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _decode(blob: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> list[str]:
    b = blob.tobytes()
    return [b[offsets[i] : offsets[i + 1]].decode("utf-8") for i in rows]


def load_names(
    *,
    min_share: float = 0.5,
    limit: int | None = 20000,
    test_fraction: float = 0.2,
    seed: int = 0,
    cache_dir: str = ".cache/lookup",
) -> Dataset:
    """World last names labelled by dominant country (ISO 3166 alpha-2).

    Args:
        min_share: keep a name only if its dominant country holds at least this share.
        limit: total names kept (seeded sample); None keeps all eligible names.
        test_fraction: share of the kept names used as queries.
        seed: seed of the sample/split permutation.
        cache_dir: where the compact table is cached.
    """
    if not 0.0 <= min_share <= 1.0:
        raise ValueError(f"min_share must be in [0, 1], got {min_share}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if limit is not None and limit < 2:
        raise ValueError(f"limit must be None or >= 2, got {limit}")
    t = _load_table(cache_dir)
    eligible = np.flatnonzero(t["share"] >= np.float32(min_share))
    if len(eligible) < 2:
        raise ValueError(f"only {len(eligible)} names have a country share >= {min_share}")
    rng = np.random.default_rng(seed)
    chosen = eligible[rng.permutation(len(eligible))]
    if limit is not None:
        chosen = chosen[:limit]
    n_test = min(max(1, round(len(chosen) * test_fraction)), len(chosen) - 1)
    q_rows, db_rows = chosen[:n_test], chosen[n_test:]
    countries = t["countries"]
    db = _decode(t["blob"], t["offsets"], db_rows)
    queries = _decode(t["blob"], t["offsets"], q_rows)
    db_labels = countries[t["country"][db_rows]]
    q_labels = countries[t["country"][q_rows]]
    h = hashlib.sha256(f"{min_share}|{limit}|{test_fraction}|{seed}".encode()).hexdigest()[:8]
    log.info(
        "names: %d db / %d queries (min_share=%s, limit=%s)",
        len(db),
        len(queries),
        min_share,
        limit,
    )
    return Dataset(
        name="names",
        db=db,
        queries=queries,
        db_labels=db_labels,
        query_labels=q_labels,
        fingerprint=fingerprint_texts(db, list(db_labels), queries, list(q_labels), [h]),
    )
