"""The printed summary of a job: its columns come from the metric table, and only the metrics
the rows filled are shown (hit@k where the data has labels, not otherwise)."""

from __future__ import annotations

from bench.summary import summary_table


def _row(ef: int, **metrics) -> dict:
    return {
        "dataset": "names",
        "encoder": "rnn02",
        "index": "hnswlib",
        "n_db": 100,
        "n_queries": 10,
        "dim": 8,
        "k": 10,
        "metric": "cosine",
        "mode": "single",
        "threads": 1,
        "seed": 0,
        "build_s": 0.5,
        "index_bytes": 1000,
        "search_ef": ef,
        "recall_at_k": 0.9,
        "qps": 1000.0,
        **metrics,
    }


def test_labelled_rows_show_hit_at_k_and_unlabelled_rows_do_not() -> None:
    labelled = summary_table([_row(10, knn_acc=0.42, hit_at_k=0.696), _row(20, hit_at_k=0.7)])
    header, first, second = labelled.splitlines()[2:5]
    assert header.split() == ["ef", "recall", "knn_acc", "hit@k", "qps"]
    assert first.split() == ["10", "0.9000", "0.4200", "0.6960", "1000"]
    assert second.split()[3] == "0.7000" and second.split()[2] == "-"  # a metric one row lacks
    plain = summary_table([_row(10)])
    assert "hit@k" not in plain and plain.splitlines()[2].split() == ["ef", "recall", "qps"]
