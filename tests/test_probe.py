"""The short-query probe's pure functions on hand-made captions and neighbour lists."""

from __future__ import annotations

import numpy as np
import pytest

from lookup.probe import (
    chance_share,
    frequent_nouns,
    plural,
    query_words,
    summarize,
    token_sets,
    word_share_at_k,
)

DB = [
    "A dog runs on the beach.",  # 0
    "Two dogs play in the grass.",  # 1
    "A cat sleeps on a bed.",  # 2
    "Men standing near a bus.",  # 3
    "A man rides a horse.",  # 4
    "The red doghouse.",  # 5: not the word "dog"
]


@pytest.mark.parametrize(
    ("word", "p"),
    [("dog", "dogs"), ("bus", "buses"), ("man", "men"), ("pony", "ponies"), ("toy", "toys"),
     ("box", "boxes"), ("person", "people")],
)  # fmt: skip
def test_plural(word: str, p: str) -> None:
    assert plural(word) == p


def test_word_share_counts_plurals_padding_and_whole_tokens() -> None:
    toks = token_sets(DB)
    I = np.array([[0, 1, 5, -1], [3, 4, 2, 0]])  # noqa: E741
    share = word_share_at_k(I, toks, [["dog"], ["man"]], k=4)
    np.testing.assert_allclose(share, [2 / 4, 2 / 4])  # doghouse is no dog; -1 is a miss
    np.testing.assert_allclose(word_share_at_k(I, toks, [["dog"], ["man"]], k=1), [1, 1])
    with pytest.raises(ValueError, match="2 rows but 1 queries"):
        word_share_at_k(I, toks, [["dog"]], k=2)


def test_sentence_queries_match_any_content_word() -> None:
    toks = token_sets(DB)
    words = query_words(["A dog on the grass", "cat"])
    assert words == [["dog", "grass"], ["cat"]]
    I = np.array([[0, 2], [2, 4]])  # noqa: E741
    np.testing.assert_allclose(word_share_at_k(I, toks, words, k=2), [0.5, 0.5])
    np.testing.assert_allclose(chance_share(toks, words), [2 / 6, 1 / 6])
    out = summarize(I, toks, ["A dog on the grass", "cat"], k=2)
    assert out["probe_word_share_at_2"] == 0.5 and out["probe_words_per_query"] == 1.5
    assert out["probe_chance_share"] == pytest.approx(0.25)


def test_frequent_nouns_skip_stopwords_colours_verbs_and_plurals() -> None:
    texts = ["a dog and a red cat sitting", "two dogs", "cats sit", "a dog", "dogs sits red reds"]
    assert frequent_nouns(texts, 5) == ["dog", "cat"]
    assert frequent_nouns(texts, 1) == ["dog"]


def test_bench_probe_end_to_end(tmp_path) -> None:
    """bench.probe on a tiny COCO file and a tiny word-vector file: two rows appended."""
    import json
    from pathlib import Path

    from hydra import compose, initialize_config_dir

    from bench.probe import run_probe
    from bench.records import read_rows

    words = ["dog", "dogs", "cat", "cats", "man", "men", "beach", "grass", "a", "on", "the"]
    rng = np.random.default_rng(0)
    (tmp_path / "v.txt").write_text(
        "".join(w + " " + " ".join(f"{x:.4f}" for x in rng.normal(size=8)) + "\n" for w in words)
    )
    subjects = ["a dog", "two dogs", "a cat", "two cats", "a man", "two men"]
    anns = [
        {"image_id": i, "id": 10 * i + j, "caption": f"{subjects[i]} on the {place}"}
        for i in range(6)
        for j, place in enumerate(["beach", "grass", "beach"])
    ]
    (tmp_path / "captions_val.json").write_text(json.dumps({"annotations": anns}))
    conf = Path(__file__).resolve().parents[1] / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose(
            config_name="config",
            overrides=[
                "experiment=probe",
                "encoder=glove_mean",
                f"encoder.word_vectors={tmp_path / 'v.txt'}",
                f"dataset.path={tmp_path / 'captions_val.json'}",
                "dataset.n_query_images=3",
                "probe.n_words=3",
                "k=2",
                f"cache_dir={tmp_path / 'cache'}",
                f"results.table={tmp_path / 'probe.csv'}",
            ],
        )
    rows = run_probe(cfg)
    assert [r["probe_query_kind"] for r in rows] == ["word", "sentence"]
    assert rows[0]["probe_words"] == "cat dog man" and rows[0]["n_queries"] == 3
    assert 0 <= rows[1]["probe_word_share_at_2"] <= 1 and "hit_at_k" in rows[1]
    assert len(read_rows(tmp_path / "probe.csv")) == 2
