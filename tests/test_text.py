"""The offline tokenizer follows NLTK's word_tokenize (Treebank) conventions."""

from __future__ import annotations

import pytest

from lookup.text import content_words, tokenize


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("A dog runs on the beach.", ["A", "dog", "runs", "on", "the", "beach", "."]),
        (
            "He doesn't like it, isn't it?",
            ["He", "does", "n't", "like", "it", ",", "is", "n't", "it", "?"],
        ),
        ('She said "hi" (twice).', ["She", "said", "``", "hi", "''", "(", "twice", ")", "."]),
        ("The dog's ball cost $3.50", ["The", "dog", "'s", "ball", "cost", "$", "3.50"]),
        ("I cannot wait...", ["I", "can", "not", "wait", "..."]),
        ("  spaced   out  ", ["spaced", "out"]),
        ("", []),
    ],
)
def test_treebank_rules(text: str, tokens: list[str]) -> None:
    assert tokenize(text) == tokens


def test_lower_and_content_words() -> None:
    toks = tokenize("Two Dogs are playing with a frisbee on the grass, two dogs.", lower=True)
    assert toks[:2] == ["two", "dogs"]
    assert content_words(toks) == ["dogs", "playing", "frisbee", "grass"]
