"""Compressed codes: quantisation and truncation on hand-made vectors, Hamming search and its
ties, rescoring with the float32 vectors, and the two truths of a job's rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lookup import codes, metrics, schema
from lookup.distances import hamming_distances
from lookup.errors import BadInput
from lookup.experiment import measure
from lookup.index.faiss_backend import FaissIndex
from lookup.index.faiss_binary_backend import FaissBinaryIndex, exact_knn_hamming
from lookup.job import Job, Option, Settings, check
from lookup.timing import run_queries


def test_int8_maps_the_calibrated_range_onto_256_levels_and_clips_queries() -> None:
    xb = np.array([[0.0, -1.0], [1.0, 1.0], [0.5, 0.0]], np.float32)
    ranges = codes.calibrate(xb, seed=0)
    np.testing.assert_array_equal(ranges, [[0.0, -1.0], [1.0, 1.0]])
    q = codes.quantize(np.array([[2.0, -3.0], [0.25, 0.5]], np.float32), "int8", ranges)
    # clipped into the range; 0.25 of [0, 1] -> level 64 -> -64; 0.5 of [-1, 1] -> 191 -> 63
    np.testing.assert_array_equal(q, [[127.0, -128.0], [-64.0, 63.0]])
    u = codes.quantize(xb, "uint8", ranges)
    assert u.min() == 0 and u.max() == 255


def test_truncation_renormalises_unit_rows_only() -> None:
    unit = np.array([[0.6, 0.0, 0.8]], np.float32)
    raw = np.array([[3.0, 4.0, 12.0]], np.float32)
    np.testing.assert_allclose(codes.truncate(unit, 2), [[1.0, 0.0]], atol=1e-7)
    np.testing.assert_array_equal(codes.truncate(raw, 2), [[3.0, 4.0]])


def test_binary_codes_and_hamming_distances_count_bits() -> None:
    x = np.array([[1, -1, 2, 0, 0.5, -3, 1, 1, 1]], np.float32)  # 9 dims -> 2 bytes
    b = codes.quantize(x, "binary", None)
    assert b.dtype == np.uint8 and b.shape == (1, 2)
    assert codes.Codes("binary").bytes_per_vector(9) == 2.0
    bits = np.unpackbits(b, axis=1)[:, :9]
    np.testing.assert_array_equal(bits, (x > 0).astype(np.uint8))
    other = np.zeros((1, 2), np.uint8)
    assert hamming_distances(other, b, np.array([[0]]))[0, 0] == bits.sum()


def _ties(n: int = 60, nq: int = 7, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """8-bit codes with only 16 distinct values: most distances tie."""
    rng = np.random.default_rng(seed)
    xb = (rng.integers(0, 16, (n, 1)) * 17).astype(np.uint8)
    xq = (rng.integers(0, 16, (nq, 1)) * 17).astype(np.uint8)
    return xb, xq


def test_exact_hamming_search_orders_ties_by_id() -> None:
    xb, xq = _ties()
    D, I = exact_knn_hamming(xb, xq, 10)  # noqa: E741
    full = hamming_distances(xb, xq, np.tile(np.arange(len(xb)), (len(xq), 1)))
    for r in range(len(xq)):
        order = np.lexsort((np.arange(len(xb)), full[r]))[:10]
        np.testing.assert_array_equal(I[r], order)
        np.testing.assert_array_equal(D[r], full[r][order])


def test_tie_aware_recall_counts_hamming_ties_that_id_recall_misses() -> None:
    xb, xq = _ties()
    true_D, true_I = exact_knn_hamming(xb, xq, 5)
    # another answer: for each query, the tied items with the LARGEST ids at each distance
    full = hamming_distances(xb, xq, np.tile(np.arange(len(xb)), (len(xq), 1)))
    other = np.stack([np.lexsort((-np.arange(len(xb)), full[r]))[:5] for r in range(len(xq))])
    run_D = hamming_distances(xb, xq, other)
    assert metrics.recall_at_k(true_D, run_D, 5) == 1.0
    assert metrics.recall_ids(true_I, other, 5) < 1.0


def test_binary_index_is_exact_at_bflat_and_rescoring_recovers_float_neighbours() -> None:
    rng = np.random.default_rng(2)
    xb = rng.normal(size=(300, 32)).astype(np.float32)
    xq = rng.normal(size=(20, 32)).astype(np.float32)
    cb, cq = codes.quantize(xb, "binary", None), codes.quantize(xq, "binary", None)
    index = FaissBinaryIndex(factory="BFlat")
    index.build(cb)
    run = run_queries(index, cq, 5, mode="batch", warmup=0, passes=1)
    true_D, _ = exact_knn_hamming(cb, cq, 5)
    assert metrics.recall_at_k(true_D, hamming_distances(cb, cq, run.I), 5) == 1.0
    full = codes.Rescored(index, xb, xq, factor=60, metric="euclidean")  # 300 candidates: all
    got = run_queries(full, cq, 5, mode="single", warmup=0, passes=1)
    d = np.linalg.norm(xb[None, :, :] - xq[:, None, :], axis=2)
    np.testing.assert_array_equal(got.I, np.argsort(d, axis=1, kind="stable")[:, :5])
    assert full.search_params()["rescore"] == 60
    warm = run_queries(full, cq, 5, mode="batch", warmup=7, passes=1)  # warm-up: 7-row prefix
    np.testing.assert_array_equal(warm.I, got.I)


def test_rescoring_a_lossy_float_index_raises_its_recall() -> None:
    rng = np.random.default_rng(3)
    xb = rng.normal(size=(500, 16)).astype(np.float32)
    xq = rng.normal(size=(30, 16)).astype(np.float32)
    pq = FaissIndex(metric="euclidean", factory="PQ4x4np")
    pq.build(xb)
    d = np.linalg.norm(xb[None, :, :] - xq[:, None, :], axis=2)
    truth = np.sort(d, axis=1)[:, :10]

    def recall(index) -> float:
        I = run_queries(index, xq, 10, mode="batch", warmup=0, passes=1).I  # noqa: E741
        return metrics.recall_at_k(truth, np.take_along_axis(d, I, 1), 10)

    assert recall(codes.Rescored(pq, xb, xq, 8, "euclidean")) > recall(pq)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_batch_rerank_in_blocks_equals_one_block(monkeypatch, metric) -> None:
    """A batch re-rank gathers rows x r·k x d floats; in blocks it must answer the same."""
    rng = np.random.default_rng(5)
    xb = rng.normal(size=(400, 8)).astype(np.float32)
    xq = rng.normal(size=(25, 8)).astype(np.float32)
    inner = FaissIndex(metric=metric, factory="PQ2x4np")
    inner.build(xb)

    def answer():
        r = codes.Rescored(inner, xb, xq, 6, metric)
        return run_queries(r, xq, 5, mode="batch", warmup=0, passes=1)

    whole = answer()
    monkeypatch.setattr(codes, "RERANK_BYTES", 3 * 30 * 8 * 4)  # 3 rows a block, 9 blocks
    blocks = answer()
    np.testing.assert_array_equal(whole.I, blocks.I)
    np.testing.assert_array_equal(whole.D, blocks.D)


def _vectors(folder: Path) -> dict[str, str]:
    rng = np.random.default_rng(4)
    centres = rng.normal(size=(4, 24)).astype(np.float32)
    lb, lq = rng.integers(0, 4, 300), rng.integers(0, 4, 30)
    out = {}
    for name, arr in {
        "db": centres[lb] + 0.5 * rng.normal(size=(300, 24)).astype(np.float32),
        "queries": centres[lq] + 0.5 * rng.normal(size=(30, 24)).astype(np.float32),
        "db_labels": lb.astype(str),
        "query_labels": lq.astype(str),
    }.items():
        np.save(folder / f"{name}.npy", arr)
        out[name] = str(folder / f"{name}.npy")
    return out


def _job(tmp: Path, output: str, index: dict, grid=({},), truncate_dim=None) -> Job:
    return Job(
        dataset=Option("vectors", {"_target_": "vectors", **_vectors(tmp)}),
        encoder=None,
        index=Option(index["_target_"], index),
        settings=Settings(warmup=0, passes=1, mode="batch"),
        cache_dir=str(tmp / "cache"),
        grid=grid,
        codes=codes.Codes(output, truncate_dim),
    )


def test_a_binary_job_has_two_truths_and_a_code_size(tmp_path: Path) -> None:
    job = _job(tmp_path, "binary", {"_target_": "faiss_binary"}, grid=({}, {"rescore": 4}))
    rows = measure(job).rows
    plain, rescored = rows
    assert plain["recall_at_k"] == 1.0  # exact search in the code's own space
    assert plain["recall_at_k_float32"] < 1.0  # what the user wanted, float32 neighbours
    assert rescored["recall_at_k_float32"] > plain["recall_at_k_float32"]
    assert rescored["search_rescore"] == 4 and plain["code_metric"] == "hamming"
    assert plain["bytes_per_vector"] == 3.0 and plain["encoder_output"] == "binary"
    assert 0 <= plain["knn_acc_exact_float32"] <= 1 and "knn_acc_exact" in plain


def test_float32_at_full_width_has_no_reference_columns(tmp_path: Path) -> None:
    rows = measure(_job(tmp_path, "float32", {"_target_": "exact"})).rows
    assert rows[0]["bytes_per_vector"] == 96.0 and "recall_at_k_float32" not in rows[0]


def test_code_settings_are_checked_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"encoder.output='int4' is invalid"):
        codes.Codes("int4")
    with pytest.raises(BadInput, match=r"index=hnswlib cannot search binary codes"):
        check(_job(tmp_path, "binary", {"_target_": "hnswlib"}))
    with pytest.raises(BadInput, match=r"index.search.rescore=0 is invalid"):
        check(_job(tmp_path, "int8", {"_target_": "exact"}, grid=({"rescore": 0},)))
    with pytest.raises(BadInput, match=r"encoder.truncate_dim=99 is invalid; valid: at most"):
        measure(_job(tmp_path, "float16", {"_target_": "exact"}, truncate_dim=99))


def test_the_reference_metrics_are_declared_in_the_table() -> None:
    assert schema.metric("recall_at_k_float32").needs_ref
    assert schema.metric("knn_acc_exact_float32").needs_labels


def test_memory_front_names_the_smallest_code_within_one_point() -> None:
    import pandas as pd

    from lookup import frontier

    base = {"dataset": "d", "encoder": "e", "index": "exact", "qps": 1.0, "dim": 64}
    rows = [  # code, bytes, recall, knn, ci_high, knn exact float32
        {
            **base,
            "encoder_output": "float32",
            "recall_at_k": 1.0,
            "knn_acc": 0.50,
            "knn_acc_ci_high": 0.52,
            "knn_acc_exact": 0.50,
        },
        {
            **base,
            "encoder_output": "int8",
            "bytes_per_vector": 64,
            "recall_at_k": 1.0,
            "recall_at_k_float32": 0.95,
            "knn_acc": 0.495,
            "knn_acc_ci_high": 0.51,
            "knn_acc_exact_float32": 0.50,
        },
        {
            **base,
            "encoder_output": "binary",
            "bytes_per_vector": 8,
            "recall_at_k": 1.0,
            "recall_at_k_float32": 0.6,
            "knn_acc": 0.40,
            "knn_acc_ci_high": 0.42,
            "knn_acc_exact_float32": 0.50,
        },
    ]
    front = frontier.memory_front(pd.DataFrame(rows))
    assert list(front["encoder_output"]) == ["binary", "int8", "float32"]  # by size
    assert list(front["bytes_per_vector"]) == [8, 64, 256]  # float32 rows: 4 * dim
    assert list(front["within_tolerance"]) == [False, True, True]
    assert list(front["ref_recall"]) == [0.6, 0.95, 1.0]
    best = frontier.smallest_codes(front)
    assert list(best["encoder_output"]) == ["int8"]


def test_a_code_jobs_rows_are_rescored_from_its_arrays_with_both_truths(tmp_path: Path) -> None:
    from lookup import perquery

    job = _job(
        tmp_path, "int8", {"_target_": "hnswlib"}, grid=({"ef": 10}, {"ef": 10, "rescore": 3})
    )
    result = measure(job, cid="c1")
    table = tmp_path / "runs.csv"
    perquery.save(perquery.path_of(table, "c1", result.rows[0]["run_id"]), result, seed=0)
    again = perquery.rescore_rows(result.rows, table)
    for live, new in zip(result.rows, again, strict=True):
        assert new["rescored"]
        for col in ("recall_at_k", "recall_at_k_float32", "knn_acc_exact_float32", "mrr_at_k"):
            assert new[col] == pytest.approx(live[col], rel=1e-12), col


@pytest.mark.parametrize(
    "factory,knobs",
    [("BFlat", {}), ("BHNSW16", {"efSearch": 200}), ("BIVF{nlist}", {"nprobe": 64})],
)
def test_binary_backends_keep_the_index_contract_and_match_exact_hamming(factory, knobs, tmp_path):
    """The contract (shapes, dtypes, unique ids, harness distances) and a differential test
    against exact Hamming search for every faiss binary index, at high effort."""
    rng = np.random.default_rng(5)
    cb = codes.quantize(rng.normal(size=(400, 64)).astype(np.float32), "binary", None)
    cq = codes.quantize(rng.normal(size=(25, 64)).astype(np.float32), "binary", None)
    index = FaissBinaryIndex(factory=factory, nlist=None)
    index.set_search_params(**knobs)
    index.build(cb)
    D, I = index.search(cq, 10)  # noqa: E741
    assert D.shape == I.shape == (25, 10) and I.dtype == np.int64
    assert all(len(set(row)) == 10 for row in I)
    np.testing.assert_array_equal(D, hamming_distances(cb, cq, I))  # the harness's distances
    true_D, _ = exact_knn_hamming(cb, cq, 10)
    assert metrics.recall_at_k(true_D, D, 10) == 1.0
    assert index.save(str(tmp_path / "b.index")) > 0


def test_bench_plot_draws_the_memory_front_for_a_table_of_codes(tmp_path: Path) -> None:
    from bench.plot import plot_all
    from bench.table import append_rows

    rows = []
    for code, nbytes, knn in (("float32", 96, 0.5), ("int8", 24, 0.49), ("binary", 3, 0.41)):
        for ef, recall in ((10, 0.9), (40, 0.99)):
            rows.append(
                {
                    "schema_version": schema.SCHEMA_VERSION,
                    "config_id": code,
                    "run_id": code,
                    "row_kind": "job",
                    "dataset": "d",
                    "encoder": "e",
                    "index": "hnswlib",
                    "search_ef": ef,
                    "recall_at_k": recall,
                    "qps": 1000.0 / ef,
                    "dim": 24,
                    "encoder_output": code,
                    "bytes_per_vector": nbytes,
                    "knn_acc": knn,
                    "knn_acc_ci_low": knn - 0.02,
                    "knn_acc_ci_high": knn + 0.02,
                    "knn_acc_exact": 0.5,
                    "knn_acc_exact_float32": 0.5,
                    "build_s": 1.0,
                    "recall_at_k_float32": recall * (1 if code == "float32" else 0.8),
                }
            )
    append_rows(tmp_path / "codes.csv", rows)
    paths = plot_all([str(tmp_path / "codes.csv")], str(tmp_path / "fig"))
    front = tmp_path / "fig" / "memory_front.png"
    assert front in paths and front.stat().st_size > 10_000


def test_a_registered_option_whose_package_is_missing_is_one_line(monkeypatch) -> None:
    from lookup import registry
    from lookup.errors import MissingExtra

    monkeypatch.setitem(registry.INDEXES, "ghost", "lookup_ghost_package.index.GhostIndex")
    with pytest.raises(MissingExtra, match=r"index=ghost needs a package that is not installed"):
        registry.resolve("ghost", "index")


@pytest.mark.parametrize("k", [1, 3, 10, 40])
def test_stable_smallest_is_the_stable_sort_cut_at_k(k: int) -> None:
    """Against the full stable argsort: many ties (small integers), ties at the k-th value,
    inf (invalid candidates), NaN rows (the plain sort decides), k equal to the row length."""
    from lookup.codes import stable_smallest

    rng = np.random.default_rng(k)
    score = rng.integers(0, 6, size=(50, 40)).astype(np.float32)
    score[::7, ::3] = np.inf
    cases = [score, -score, np.full((3, 40), np.inf, dtype=np.float32)]
    with_nan = score.copy()
    with_nan[4, :35] = np.nan
    cases.append(with_nan)
    for s in cases:
        want = np.argsort(s, axis=1, kind="stable")[:, :k]
        np.testing.assert_array_equal(stable_smallest(s, k), want)
