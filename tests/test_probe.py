"""The short-query probe's pure functions on hand-made captions and neighbour lists."""

from __future__ import annotations

import numpy as np
import pytest

from lookup.probe import (
    chance_share,
    frequent_nouns,
    hit_chance,
    idf_table,
    informative_words,
    plural,
    query_words,
    short_queries,
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
    assert out["probe_share_ceiling"] == pytest.approx(0.75)  # dog: 2 of 2 slots; cat: 1 of 2


def test_frequent_nouns_skip_stopwords_colours_verbs_and_plurals() -> None:
    texts = ["a dog and a red cat sitting", "two dogs", "cats sit", "a dog", "dogs sits red reds"]
    assert frequent_nouns(texts, 5) == ["dog", "cat"]
    assert frequent_nouns(texts, 1) == ["dog"]


def test_informative_words_rank_by_idf_keep_order_and_break_ties_by_position() -> None:
    db = ["a dog on the grass", "a dog on the beach", "a dog and a cat", "a cat on the grass",
          "a frisbee"]  # fmt: skip
    idf = idf_table(token_sets(db))  # df: dog 3, grass 2, cat 2, beach 1, frisbee 1
    caption = "A dog catches a frisbee on the grass"  # "catches" is not in the database
    assert informative_words(caption, idf, 1) == ["frisbee"]
    assert informative_words(caption, idf, 2) == ["frisbee", "grass"]  # text order
    assert informative_words(caption, idf, 3) == ["dog", "frisbee", "grass"]
    assert informative_words(caption, idf, 8) == ["dog", "frisbee", "grass"]
    assert informative_words("the grass near a cat", idf, 1) == ["grass"]  # tie: first wins
    assert informative_words("a cat near the grass", idf, 1) == ["cat"]
    assert informative_words("zebra and giraffe", idf, 1) == ["zebra"]  # none known: first
    assert informative_words("the of", idf, 2) == ["the", "of"]  # no content word at all
    with pytest.raises(ValueError, match="n=0 is invalid"):
        informative_words(caption, idf, 0)


def test_short_queries_are_deterministic_and_full_is_the_caption() -> None:
    idf = idf_table(token_sets(DB))
    caps = ["Two cats sleep on a bed", "A man rides a horse on the beach"]
    assert short_queries(caps, idf, 1) == short_queries(caps, idf, 1) == ["bed", "man"]
    assert short_queries(caps, idf, "full") == caps
    with pytest.raises(ValueError, match="query length 'long' is invalid"):
        short_queries(caps, idf, "long")


def test_hit_chance_is_the_hypergeometric_probability() -> None:
    db = np.array(["a", "a", "b", "c", "d"])
    out = hit_chance(db, np.array(["a", "b", "z"]), k=2)
    np.testing.assert_allclose(out, [1 - (3 / 5) * (2 / 4), 1 - (4 / 5) * (3 / 4), 0.0])
    assert hit_chance(db, np.array(["a"]), k=5)[0] == 1.0


def test_bench_probe_end_to_end(tmp_path) -> None:
    """bench.probe on a tiny COCO file and a tiny word-vector file: two rows appended."""
    import json
    from pathlib import Path

    from hydra import compose, initialize_config_dir

    from bench.probe import run_probe
    from bench.table import read_rows

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
                "probe.lengths=[1,2,full]",
                "k=2",
                f"cache_dir={tmp_path / 'cache'}",
                f"results.table={tmp_path / 'probe.csv'}",
            ],
        )
    rows = run_probe(cfg)
    assert [r["probe_query_kind"] for r in rows] == ["word", "length", "length", "length"]
    assert [r["probe_query_words"] for r in rows[1:]] == [1, 2, "full"]
    assert rows[0]["probe_words"] == "cat dog man" and rows[0]["n_queries"] == 3
    for r in rows[1:]:
        assert 0 <= r["probe_word_share_at_2"] <= 1 and 0 <= r["hit_at_k"] <= 1
        assert 0 < r["probe_hit_chance"] < 1 and r["n_queries"] == 3
    assert len(read_rows(tmp_path / "probe.csv")) == 4
    again = run_probe(cfg)  # the same configuration: the stored rows, nothing appended
    assert all(r["_stored"] for r in again) and len(read_rows(tmp_path / "probe.csv")) == 4


def test_plot_probe_draws_one_curve_per_encoder_from_a_table(tmp_path) -> None:
    import csv

    from bench.plot_probe import curve_rows, plot_curves

    rows = [
        {"timestamp_utc": f"2026-01-01T00:00:0{i}", "dataset": "coco_captions", "encoder": enc,
         "n_db": 100, "probe_query_kind": "length", "probe_query_words": n,
         "probe_word_share_at_10": 0.5, "probe_chance_share": 0.1, "hit_at_k": 0.3,
         "probe_hit_chance": 0.01}
        for i, enc in enumerate(["infersent", "shared:infersent"])
        for n in [1, 2, "full"]
    ]  # fmt: skip
    rows.append(dict(rows[0], probe_query_kind="word", probe_query_words=""))
    path = tmp_path / "t.csv"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    df = curve_rows([path])
    assert len(df) == 6 and list(df["probe_query_words"])[:3] == ["1", "2", "full"]
    out = plot_curves(df, tmp_path / "fig.png")
    assert out.stat().st_size > 10_000
