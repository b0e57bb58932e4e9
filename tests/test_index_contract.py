"""The Index contract, run over every backend and metric; differential and tie tests against
exact search; bad input gives one-line ValueErrors."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from lookup import registry
from lookup.distances import recompute_distances, tie_floor
from lookup.errors import BadInput
from lookup.index.annoy_backend import AnnoyIndex
from lookup.index.base import path_bytes
from lookup.index.exact import ExactIndex, exact_knn
from lookup.index.faiss_backend import FaissIndex
from lookup.index.hnswlib_backend import HnswlibIndex
from lookup.metrics import recall_at_k, recall_ids, recall_tie_aware
from lookup.protocols import METRICS, Index
from lookup.timing import run_queries

# Embedded databases work in a temporary folder; on a memory file system where there is one
# (Qdrant's local mode commits one SQLite transaction per point: 16 ms each on this disk).
WORKDIR = "/dev/shm" if os.path.isdir("/dev/shm") else None

# (backend, build kwargs, high-effort knobs, low-effort knobs); PQ is lossy (no distance check).
CASES = {
    "exact": ("exact", {}, {}, {}),
    "annoy": ("annoy", {"trees": 10}, {"search_k": 4000}, {"search_k": 5}),
    "hnswlib": ("hnswlib", {"M": 8, "ef_construction": 64}, {"ef": 64}, {"ef": 1}),
    "faiss-Flat": ("faiss", {"factory": "Flat"}, {}, {}),
    "faiss-IVF": ("faiss", {"factory": "IVF8,Flat"}, {"nprobe": 8}, {"nprobe": 1}),
    "faiss-IVFPQ": ("faiss", {"factory": "IVF8,PQ4x4np"}, {"nprobe": 8}, {"nprobe": 1}),
    "faiss-HNSW": ("faiss", {"factory": "HNSW8"}, {"efSearch": 64}, {"efSearch": 1}),
    "usearch": (
        "usearch",
        {"connectivity": 8, "expansion_add": 64},
        {"expansion_search": 64},
        {"expansion_search": 1},
    ),
    "voyager": ("voyager", {"M": 8, "ef_construction": 64}, {"ef": 64}, {"ef": 1}),
    "nmslib": ("nmslib", {"M": 8, "ef_construction": 64}, {"ef": 64}, {"ef": 1}),
    "pynndescent": ("pynndescent", {"n_neighbors": 10}, {"epsilon": 0.3}, {"epsilon": 0.0}),
    "ngt": ("ngt", {"edge_size_for_creation": 10}, {"epsilon": 0.3}, {"epsilon": 0.0}),
    "scann": (
        "scann",
        {"num_leaves": 8},
        {"leaves_to_search": 8, "reorder": 400},
        {"leaves_to_search": 1, "reorder": 1},
    ),
    "svs": (
        "svs",
        {"graph_max_degree": 16, "window_size": 64},
        {"search_window_size": 64},
        {"search_window_size": 1},
    ),
    "vsag": (
        "vsag",
        {"max_degree": 16, "ef_construction": 64},
        {"ef_search": 64},
        {"ef_search": 1},
    ),
    "rabitq": ("rabitq", {"max_degree": 32, "ef_construction": 64}, {"ef": 64}, {"ef": 1}),
    "qdrant": ("qdrant", {"workdir": WORKDIR}, {}, {}),
    "chroma": (
        "chroma",
        {"max_neighbors": 8, "ef_construction": 64, "workdir": WORKDIR},
        {"ef_search": 64},
        {"ef_search": 1},
    ),
    "lancedb-IVF_PQ": (
        "lancedb",
        {"index_type": "IVF_PQ", "num_partitions": 4, "num_sub_vectors": 4, "workdir": WORKDIR},
        {"nprobes": 4, "refine_factor": 50},
        {"nprobes": 1, "refine_factor": 0},
    ),
    "lancedb-HNSW": (
        "lancedb",
        {"index_type": "IVF_HNSW_SQ", "num_partitions": 1, "m": 8, "workdir": WORKDIR},
        {"nprobes": 1, "refine_factor": 50, "ef": 64},
        {"nprobes": 1, "refine_factor": 0, "ef": 1},
    ),
    "milvus_lite-HNSW": (
        "milvus_lite",
        {"index_type": "HNSW", "M": 8, "ef_construction": 64, "workdir": WORKDIR},
        {"ef": 64},
        {"ef": 1},
    ),
}
LOSSY = {"faiss-IVFPQ"}
# Backends of the optional extras: the module their package installs. Their tests skip (via
# pytest.importorskip) where the package is missing; the bundled backends are always there.
PACKAGES = {
    "voyager": "voyager",
    "nmslib": "nmslib",
    "pynndescent": "pynndescent",
    "ngt": "ngtpy",
    "scann": "scann",
    "svs": "svs",
    "vsag": "pyvsag",
    "rabitq": "rabitqlib",
    "qdrant": "qdrant_client",
    "chroma": "chromadb",
    "lancedb": "lancedb",
    "milvus_lite": "milvus_lite",
}
# numba compiles PyNNDescent's graph construction once per process (~40-60 s on 2 cores):
# its cases run with the slow tests (python -m pytest -m slow).
SLOW = {"pynndescent"}


# The embedded databases start an engine per build: their many scaled-vector cases (every
# metric x two scales) run with the slow tests; their contract and differential cases do not.
DATABASES = {"qdrant", "chroma", "lancedb", "milvus_lite"}


def cases(table: dict, slow_too: frozenset[str] = frozenset()) -> list:
    """The keys of a case table as pytest parameters, slow backends marked slow."""
    slow = pytest.mark.slow
    return [pytest.param(c, marks=slow) if table[c][0] in SLOW | slow_too else c for c in table]


def needs(name: str) -> None:
    """Skip the calling test when backend ``name``'s optional package is not installed."""
    if name in PACKAGES:
        pytest.importorskip(PACKAGES[name])


# Backends on another kind of input, covered by their own contract and differential tests.
COVERED_ELSEWHERE = {"faiss_binary": "tests/test_codes.py (packed binary codes, Hamming)"}


def test_every_registered_backend_has_a_case() -> None:
    """A backend added to the registry without a CASES entry fails here, not silently."""
    covered = {name for name, *_ in CASES.values()} | set(COVERED_ELSEWHERE)
    assert set(registry.INDEXES) == covered
    assert set(PACKAGES) <= set(registry.INDEXES)


def structured(n: int, nq: int, dim: int, latent: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded vectors of low intrinsic dimension: a random linear map of a small latent + noise."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n + nq, latent))
    x = z @ rng.standard_normal((latent, dim)) + 0.05 * rng.standard_normal((n + nq, dim))
    x = x.astype(np.float32)
    return x[:n], x[n:]


@pytest.fixture(scope="module")
def small() -> tuple[np.ndarray, np.ndarray]:
    xb, xq = structured(400, 20, 16, 4, seed=1)
    xb[7] = 0.0  # a zero vector: cosine must stay finite
    return xb, xq


def construct(name: str, metric: str, **build):
    """``name``'s index for ``metric``; skip when its package is missing, and when it does not
    support ``metric`` (after checking that it said so in one line, naming what is valid)."""
    needs(name)
    try:
        return registry.resolve(name)(metric=metric, **build)
    except BadInput as exc:
        text = str(exc)
        assert "\n" not in text and repr(metric) in text and "valid:" in text, text
        pytest.skip(f"{name} does not support metric={metric}: {text}")


def make(case: str, metric: str, knobs: str = "high"):
    name, build, high, low = CASES[case]
    index = construct(name, metric, **build)
    index.set_search_params(**(high if knobs == "high" else low))
    return index


def assert_well_formed(D: np.ndarray, I: np.ndarray, nq: int, k: int, n_db: int) -> None:  # noqa: E741
    assert D.shape == I.shape == (nq, k)
    assert D.dtype == np.float32 and I.dtype == np.int64
    assert ((I >= -1) & (I < n_db)).all()
    for row_i, row_d in zip(I, D, strict=True):
        valid = row_i >= 0
        ids = row_i[valid]
        assert len(np.unique(ids)) == len(ids), f"duplicate ids in {row_i}"
        assert (row_i[: valid.sum()] >= 0).all(), "padding must come last"
        assert np.isfinite(row_d[valid]).all() and np.isinf(row_d[~valid]).all()


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("case", cases(CASES))
def test_contract(case: str, metric: str, small, tmp_path) -> None:
    xb, xq = small
    index = make(case, metric)
    assert isinstance(index, Index)
    index.build(xb)
    D, I = index.search(xq, 5)  # noqa: E741
    assert_well_formed(D, I, len(xq), 5, len(xb))
    assert (I >= 0).all()
    assert (np.diff(D, axis=1) >= -1e-5).all(), "distances ascending"
    if case not in LOSSY:  # backends report harness distances
        np.testing.assert_allclose(D, recompute_distances(xb, xq, I, metric), atol=1e-3)

    # single-query timing returns what one batch call returns
    run = run_queries(index, xq, 5, mode="single", warmup=2, passes=1)
    assert run.mode == "single" and run.latencies_s.shape == (len(xq),)
    np.testing.assert_array_equal(run.I, I)
    np.testing.assert_allclose(run.D, D, rtol=1e-5, atol=1e-5)

    # batch timing after a warm-up batch (a second, smaller plan) still answers every query
    run = run_queries(index, xq, 5, mode="batch", warmup=3, passes=1)
    np.testing.assert_array_equal(run.I, I)

    # serialized size
    path = tmp_path / "index.bin"
    n_bytes = index.save(str(path))  # a file, or a folder for multi-file libraries
    assert os.path.exists(path) and n_bytes == path_bytes(path) > 0

    # parameters: flat, JSON-able, and the build ones are constructor keywords
    params = index.build_params()
    assert params["metric"] == metric
    json.dumps(params)
    type(index)(**params)
    assert set(index.search_params()) <= set(index.knob_names)
    json.dumps(index.search_params())

    with pytest.raises(ValueError, match="valid"):
        index.set_search_params(no_such_knob=1)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("case", cases(CASES))
def test_fewer_than_k_never_raises(case: str, metric: str, small) -> None:
    """k = database size with low-effort knobs: results are -1 padded instead of an error."""
    xb, xq = small
    index = make(case, metric, knobs="low")
    index.build(xb)
    for mode in ("batch", "single"):
        run = run_queries(index, xq[:5], len(xb), mode=mode, warmup=0, passes=1)
        assert_well_formed(run.D, run.I, 5, len(xb), len(xb))


def test_search_params_are_reported_and_reapplied(small) -> None:
    xb, xq = small
    index = FaissIndex(metric="euclidean", factory="IVF8,Flat")
    index.set_search_params(nprobe=2)  # before build: applied after it
    index.build(xb)
    assert index.search_params() == {"nprobe": 2}
    index.set_search_params(nprobe=8)
    assert index.search_params() == {"nprobe": 8}
    D, I = index.search(xq, 5)  # noqa: E741
    assert recall_ids(exact_knn(xb, xq, 5, "euclidean")[1], I, 5) == 1.0  # all cells probed


def test_hnswlib_ef_below_k(small) -> None:
    xb, xq = small
    index = HnswlibIndex(metric="euclidean", M=8, ef_construction=64)
    index.build(xb)
    index.set_search_params(ef=2)
    D, I = index.search(xq, 20)  # noqa: E741
    assert_well_formed(D, I, len(xq), 20, len(xb))
    assert (I >= 0).all()
    assert index.search_params() == {"ef": 20}  # what ran: ef raised to k
    index.set_search_params(ef=40)
    assert index.search_params() == {"ef": 40}


# ---- differential: approximate backends against exact search on structured data ----------


@pytest.fixture(scope="module")
def latent6() -> tuple[np.ndarray, np.ndarray]:
    return structured(2000, 100, 32, 6, seed=0)


# high-effort settings: (backend, build kwargs, query knobs)
DIFFERENTIAL = {
    "annoy": ("annoy", {"trees": 20}, {"search_k": 20000}),
    "hnswlib": ("hnswlib", {"M": 16, "ef_construction": 200}, {"ef": 200}),
    "faiss-Flat": ("faiss", {"factory": "Flat"}, {}),
    "faiss-IVF": ("faiss", {"factory": "IVF16,Flat"}, {"nprobe": 16}),
    "faiss-HNSW": ("faiss", {"factory": "HNSW16"}, {"efSearch": 200}),
    "usearch": ("usearch", {"connectivity": 16, "expansion_add": 128}, {"expansion_search": 200}),
    "voyager": ("voyager", {"M": 16, "ef_construction": 200}, {"ef": 200}),
    "nmslib": ("nmslib", {"M": 16, "ef_construction": 200}, {"ef": 200}),
    "pynndescent": ("pynndescent", {"n_neighbors": 30}, {"epsilon": 0.3}),
    "ngt": ("ngt", {"edge_size_for_creation": 20}, {"epsilon": 0.3}),
    "scann": ("scann", {"num_leaves": 16}, {"leaves_to_search": 16, "reorder": 200}),
    "svs": ("svs", {"graph_max_degree": 32, "window_size": 128}, {"search_window_size": 200}),
    "vsag": ("vsag", {"max_degree": 32, "ef_construction": 200}, {"ef_search": 200}),
    "rabitq": ("rabitq", {"max_degree": 32, "ef_construction": 200}, {"ef": 200}),
    "qdrant": ("qdrant", {"workdir": WORKDIR}, {}),
    "chroma": ("chroma", {"max_neighbors": 16, "workdir": WORKDIR}, {"ef_search": 200}),
    "lancedb-IVF_PQ": (
        "lancedb",
        {"index_type": "IVF_PQ", "num_partitions": 8, "num_sub_vectors": 8, "workdir": WORKDIR},
        {"nprobes": 8, "refine_factor": 20},
    ),
    "lancedb-HNSW": (
        "lancedb",
        {"index_type": "IVF_HNSW_SQ", "num_partitions": 1, "workdir": WORKDIR},
        {"nprobes": 1, "refine_factor": 20, "ef": 200},
    ),
    "milvus_lite-HNSW": (
        "milvus_lite",
        {"index_type": "HNSW", "M": 16, "ef_construction": 200, "workdir": WORKDIR},
        {"ef": 200},
    ),
}


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("case", cases(DIFFERENTIAL))
def test_high_effort_matches_exact(case: str, metric: str, latent6) -> None:
    xb, xq = latent6
    k = 10
    true_D, true_I = exact_knn(xb, xq, k, metric)
    name, build, high = DIFFERENTIAL[case]
    index = construct(name, metric, **build)
    index.set_search_params(**high)
    index.build(xb)
    _, I = index.search(xq, k)  # noqa: E741
    run_D = recompute_distances(xb, xq, I, metric)
    assert recall_tie_aware(true_D, run_D, k) >= 0.99
    if case == "faiss-Flat":
        np.testing.assert_array_equal(I, true_I)
        np.testing.assert_allclose(run_D, true_D, atol=1e-5)


def test_exact_index_equals_exact_knn(latent6) -> None:
    xb, xq = latent6
    index = ExactIndex(metric="cosine", block_size=7)  # many blocks
    index.build(xb)
    D, I = index.search(xq, 10)  # noqa: E741
    true_D, true_I = exact_knn(xb, xq, 10, "cosine")
    np.testing.assert_array_equal(I, true_I)
    np.testing.assert_allclose(D, true_D)


def test_ties_count_as_hits_by_distance_not_by_id() -> None:
    """Every vector twice: returning the other copy is a tie-aware hit but an id miss."""
    base, xq = structured(300, 30, 16, 4, seed=2)
    xb = np.concatenate([base, base])  # ids i and i + 300 are identical
    n = len(xb)
    k = 3  # odd: one pair of copies is split at the k-th place
    true_D, true_I = exact_knn(xb, xq, k, "euclidean")  # ties -> smaller id first
    index = ExactIndex(metric="euclidean")
    index.build(xb[::-1].copy())  # same vectors, reversed ids: ties now pick the other copy
    _, rev_I = index.search(xq, k)
    run_I = n - 1 - rev_I
    run_D = recompute_distances(xb, xq, run_I, "euclidean")
    assert recall_tie_aware(true_D, run_D, k) == 1.0
    assert recall_ids(true_I, run_I, k) < 1.0


# ---- bad input: one-line ValueErrors naming the bad value and what is valid ---------------


def assert_one_line(exc: pytest.ExceptionInfo, *needles: str) -> None:
    text = str(exc.value)
    assert "\n" not in text, text
    for needle in needles:
        assert needle in text, text


@pytest.mark.parametrize("case", cases(CASES))
def test_bad_k(case: str, small) -> None:
    xb, xq = small
    index = make(case, "euclidean")
    index.build(xb)
    for k in (0, -3):
        with pytest.raises(ValueError) as exc:
            index.search(xq, k)
        assert_one_line(exc, f"k={k}", "valid")
    with pytest.raises(ValueError) as exc:
        index.search(xq, len(xb) + 1)
    assert_one_line(exc, f"k={len(xb) + 1}", f"{len(xb)}", "valid")
    with pytest.raises(ValueError) as exc:
        run_queries(index, xq, 0, mode="single")
    assert_one_line(exc, "k=0")


@pytest.mark.parametrize("name", list(registry.INDEXES))
def test_unknown_metric(name: str) -> None:
    cls = registry.resolve(name)
    with pytest.raises(ValueError) as exc:
        cls(metric="l1")
    assert_one_line(exc, "'l1'", ", ".join(getattr(cls, "METRICS", METRICS)))


def test_unknown_metric_in_metrics(small) -> None:
    xb, xq = small
    with pytest.raises(ValueError) as exc:
        exact_knn(xb, xq, 3, "l1")
    assert_one_line(exc, "'l1'", "cosine, euclidean, ip")


@pytest.mark.parametrize("name", list(registry.INDEXES))
def test_unknown_knob(name: str) -> None:
    index = registry.resolve(name)()
    with pytest.raises(ValueError) as exc:
        index.set_search_params(nprobe_s=4)
    valid = ", ".join(index.knob_names) or "none"
    assert_one_line(exc, "nprobe_s", valid)


@pytest.mark.parametrize("trees", [0, -1])
def test_bad_trees(trees: int) -> None:
    with pytest.raises(ValueError) as exc:
        AnnoyIndex(trees=trees)
    assert_one_line(exc, f"trees={trees}", ">= 1")


@pytest.mark.parametrize("M", [1, 0])
def test_bad_M(M: int) -> None:  # noqa: N802
    with pytest.raises(ValueError) as exc:
        HnswlibIndex(M=M)
    assert_one_line(exc, f"M={M}", ">= 2")


@pytest.mark.parametrize("factory", ["IVFx,Flat", "NoSuchIndex", "IVF8,PQ5"])
def test_bad_factory(factory: str, small) -> None:
    xb, _ = small  # dim 16: PQ5 does not divide it
    with pytest.raises(ValueError) as exc:
        FaissIndex(factory=factory).build(xb)
    assert_one_line(exc, repr(factory), "valid")


def test_knob_that_does_not_apply_to_the_factory(small) -> None:
    xb, _ = small
    index = FaissIndex(metric="euclidean", factory="HNSW8")
    index.build(xb)
    with pytest.raises(ValueError) as exc:
        index.set_search_params(nprobe=4)
    assert_one_line(exc, "nprobe", "efSearch")


def test_bad_knob_values(small) -> None:
    with pytest.raises(ValueError) as exc:
        HnswlibIndex().set_search_params(ef=0)
    assert_one_line(exc, "ef=0", ">= 1")
    with pytest.raises(ValueError) as exc:
        AnnoyIndex().set_search_params(search_k=0)
    assert_one_line(exc, "search_k=0", "-1")


@pytest.mark.parametrize("case", ["annoy", "hnswlib", "faiss-IVF", "faiss-IVFPQ"])
def test_same_seed_same_neighbours(case: str, small) -> None:
    xb, xq = small
    name, build, _, low = CASES[case]
    runs = {}
    for seed in (0, 0, 1):
        index = registry.resolve(name)(metric="euclidean", seed=seed, **build)
        index.set_search_params(**low)
        index.build(xb)
        runs.setdefault(seed, []).append(index.search(xq, 10)[1])
    np.testing.assert_array_equal(runs[0][0], runs[0][1])
    if case in ("annoy", "faiss-IVF"):  # the seed reaches the library
        assert not np.array_equal(runs[0][0], runs[1][0])


# ---- magnitude: finite float32 vectors far from 1 (issue 25) ------------------------------


def _scaled(x: np.ndarray, scale: float) -> np.ndarray:
    return (x.astype(np.float64) * scale).astype(np.float32)


@pytest.mark.parametrize("scale", [1e30, 1e-40])
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("case", cases(DIFFERENTIAL, frozenset(DATABASES)))
def test_scaled_vectors_give_the_unscaled_recall(
    case: str, metric: str, scale: float, latent6, caplog
) -> None:
    """Vectors scaled by 1e30 or 1e-40 are finite float32; a float32 normalisation or distance
    overflowed or underflowed on them (hnswlib recall 0.005 instead of 1.0). The tolerance is
    for 1e-40: subnormal float32 keep fewer bits, so those rows are not exactly proportional."""
    xb, xq = latent6
    xb, xq = xb[:1000], xq[:50]
    k = 10
    name, build, high = DIFFERENTIAL[case]
    recalls = []
    for b, q in ((xb, xq), (_scaled(xb, scale), _scaled(xq, scale))):
        assert np.isfinite(b).all() and np.any(b, axis=1).all()
        true_D, _ = exact_knn(b, q, k, metric)
        try:
            index = registry.resolve(name)(metric=metric, **build)
        except BadInput as exc:  # a backend without this metric refuses it in one line
            pytest.skip(str(exc))
        index.set_search_params(**high)
        index.build(b)
        D, I = index.search(q, k)  # noqa: E741
        run_D = recompute_distances(b, q, I, metric)
        recalls.append(recall_at_k(true_D, run_D, k, atol=tie_floor(b, q, metric)))
        assert not any(index.altered.values()), index.altered
        f32 = np.finfo(np.float32)
        inside = (np.abs(run_D) < f32.max) & ((np.abs(run_D) > f32.tiny) | (run_D == 0))
        # D is float32: clipped beyond its range, zero below it
        if case != "annoy" or metric != "cosine":  # reported distances on the vectors' scale
            atol = 1e-3 * np.abs(run_D[inside]).max(initial=0.0)
            np.testing.assert_allclose(D[inside], run_D[inside], rtol=1e-3, atol=atol)
    assert recalls[0] >= 0.95
    assert recalls[1] == pytest.approx(recalls[0], abs=0.01)
    assert "differ from those the harness scores" not in caplog.text


def test_vectors_the_library_gets_differently_are_counted_and_warned(caplog) -> None:
    """A database of 1e-40 vectors is rescaled by ~2^130 for the library; queries of size 1
    then leave the float32 range: clipped, counted, warned. A float64 input beyond float32
    is clipped too."""
    xb, xq = structured(300, 10, 8, 3, seed=2)
    index = HnswlibIndex(metric="euclidean", M=8, ef_construction=32)
    index.build(_scaled(xb, 1e-40))
    assert index.altered == {"db_rows_zeroed": 0, "db_values_clipped": 0, "db_values_not_finite": 0}
    with caplog.at_level("WARNING", logger="lookup.index.base"):
        index.search(xq, 5)
    beyond = np.abs(xq.astype(np.float64)) * index._scale > np.finfo(np.float32).max
    assert index.altered["query_values_clipped"] == int(beyond.sum()) > 0
    assert "hnswlib gets query vectors that differ" in caplog.text
    assert f"{int(beyond.sum())} values were clipped" in caplog.text

    caplog.clear()
    big = xb.astype(np.float64)
    big[0, 0] = 1e300
    with caplog.at_level("WARNING", logger="lookup.index.base"):
        HnswlibIndex(metric="cosine", M=8, ef_construction=32).build(big)
    assert "1 values were clipped" in caplog.text


def test_tie_floor_does_not_overflow() -> None:
    xb, xq = structured(50, 5, 8, 3, seed=3)
    for metric in METRICS:
        assert np.isfinite(tie_floor(_scaled(xb, 1e30), _scaled(xq, 1e30), metric))
    assert tie_floor(_scaled(xb, 1e30), _scaled(xq, 1e30), "ip") > 0


def test_hnswlib_ip_on_small_vectors(latent6) -> None:
    """hnswlib ranks inner products by 1 - <q, x> in float32: at |x| ~ 1e-5 every score was
    1.0 and recall fell to 0.015; rows below 1/16 are rescaled (exactly) first."""
    xb, xq = latent6
    xb, xq = xb[:1000], xq[:50]
    recalls = []
    for b, q in ((xb, xq), (_scaled(xb, 1e-6), _scaled(xq, 1e-6))):
        index = HnswlibIndex(metric="ip", M=16, ef_construction=200)
        index.set_search_params(ef=200)
        index.build(b)
        true_D, _ = exact_knn(b, q, 10, "ip")
        run_D = recompute_distances(b, q, index.search(q, 10)[1], "ip")
        recalls.append(recall_at_k(true_D, run_D, 10, atol=tie_floor(b, q, "ip")))
    assert recalls[0] >= 0.95 and recalls[1] == pytest.approx(recalls[0], abs=0.01)
