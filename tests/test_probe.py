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
