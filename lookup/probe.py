"""The short-query probe: do one-word queries find captions that mention the word?

Measure (one definition for both query kinds): for a query with content words W, the share of
its top-k retrieved captions that contain at least one word of W or its plural. A one-word
query has W = {word}; a sentence query has W = its content words (lowercased alphabetic
tokens that are not stopwords). Sentence queries have more words to match, so their share is
set next to a chance level: the share of the whole database that would count as a match for
the same query (what random retrieval scores).

All functions are pure: texts and neighbour ids in, numbers out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from lookup.text import STOPWORDS, content_words, tokenize

_IRREGULAR = {
    "man": "men", "woman": "women", "child": "children", "person": "people", "foot": "feet",
    "tooth": "teeth", "mouse": "mice", "goose": "geese", "sheep": "sheep", "fish": "fish",
    "deer": "deer", "knife": "knives", "leaf": "leaves", "shelf": "shelves", "wolf": "wolves",
    "skis": "skis", "scissors": "scissors", "glasses": "glasses", "bus": "buses",
}  # fmt: skip

# Frequent caption words that are not nouns (colours, sizes, verbs); a POS tagger would need a
# data download, so the noun pick is a frequency list with these filters.
_NOT_NOUNS = frozenset(
    """
    white black red blue green yellow brown orange pink purple gray grey silver colorful
    large small big little young old tall open full empty different various other whole long
    sits sit stands stand holds hold looks look parked filled covered made shown topped
    lying laying close view there very while where what some front using has have
    """.split()
)


def plural(word: str) -> str:
    """English plural of a lowercase noun (regular rules plus common irregular nouns)."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def forms(word: str) -> frozenset[str]:
    """The word and its plural."""
    return frozenset((word, plural(word)))


def token_sets(texts: Iterable[str]) -> list[frozenset[str]]:
    """Lowercased token set of each text."""
    return [frozenset(tokenize(t, lower=True)) for t in texts]


def frequent_nouns(texts: Sequence[str], n: int, *, min_len: int = 3) -> list[str]:
    """The ``n`` most frequent likely nouns of a corpus, picked offline.

    A candidate is a lowercased alphabetic token of at least ``min_len`` letters that is not a
    stopword, not an -ing/-ed form, not a listed colour/size/verb word, and whose plural also
    occurs in the corpus (verbs and adjectives rarely take an -s plural in captions). Plurals
    of another candidate are left out. Ties are broken alphabetically.
    """
    counts: Counter[str] = Counter()
    for t in texts:
        counts.update(tokenize(t, lower=True))

    def candidate(w: str) -> bool:
        return (
            w.isalpha()
            and len(w) >= min_len
            and w not in STOPWORDS
            and w not in _NOT_NOUNS
            and not w.endswith(("ing", "ed"))
        )

    cands = {w for w in counts if candidate(w) and plural(w) != w and counts[plural(w)] > 0}
    plurals = {plural(w) for w in cands}
    ranked = sorted((w for w in cands if w not in plurals), key=lambda w: (-counts[w], w))
    return ranked[:n]


def query_words(queries: Sequence[str]) -> list[list[str]]:
    """Content words of each query (a one-word query is its own content word)."""
    out = []
    for q in queries:
        toks = tokenize(q, lower=True)
        words = content_words(toks)
        out.append(words if words else [t for t in toks if t.isalpha()])
    return out


def _match_sets(words: Sequence[Sequence[str]]) -> list[frozenset[str]]:
    return [frozenset().union(*(forms(w) for w in ws)) if ws else frozenset() for ws in words]


def word_share_at_k(
    I: np.ndarray,  # noqa: E741 (neighbour ids, as returned by search)
    db_tokens: Sequence[frozenset[str]],
    words: Sequence[Sequence[str]],
    k: int,
) -> np.ndarray:
    """(nq,) share of each query's first k neighbours that contain one of its words (or the
    word's plural). Padding ids (-1) count as misses; the denominator is always k."""
    I = np.asarray(I)[:, :k]  # noqa: E741
    if len(I) != len(words):
        raise ValueError(f"I has {len(I)} rows but {len(words)} queries' words were given")
    out = np.zeros(len(I), np.float64)
    for q, (ids, match) in enumerate(zip(I, _match_sets(words), strict=True)):
        out[q] = sum(1 for i in ids if i >= 0 and not match.isdisjoint(db_tokens[i])) / k
    return out


def chance_share(db_tokens: Sequence[frozenset[str]], words: Sequence[Sequence[str]]) -> np.ndarray:
    """(nq,) share of the whole database that contains one of each query's words: the
    expected word share of neighbours drawn at random."""
    postings: dict[str, set[int]] = {}
    for i, toks in enumerate(db_tokens):
        for t in toks:
            postings.setdefault(t, set()).add(i)
    n = max(len(db_tokens), 1)
    out = np.zeros(len(words), np.float64)
    for q, match in enumerate(_match_sets(words)):
        hit: set[int] = set()
        for w in match:
            hit |= postings.get(w, set())
        out[q] = len(hit) / n
    return out


def summarize(
    I: np.ndarray,  # noqa: E741
    db_tokens: Sequence[frozenset[str]],
    queries: Sequence[str],
    k: int,
) -> dict[str, float]:
    """Mean word share at k, mean chance share and mean number of matched words per query."""
    words = query_words(queries)
    share = word_share_at_k(I, db_tokens, words, k)
    chance = chance_share(db_tokens, words)
    return {
        f"probe_word_share_at_{k}": float(share.mean()) if len(share) else float("nan"),
        "probe_chance_share": float(chance.mean()) if len(chance) else float("nan"),
        "probe_words_per_query": float(np.mean([len(w) for w in words])) if words else 0.0,
    }
