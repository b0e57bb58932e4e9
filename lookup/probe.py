"""The short-query probe: do one-word queries find captions that mention the word?

Measure (one definition for both query kinds): for a query with content words W, the share of
its top-k retrieved captions that contain at least one word of W or its plural. A one-word
query has W = {word}; a sentence query has W = its content words (lowercased alphabetic
tokens that are not stopwords). Sentence queries have more words to match, so their share is
set next to a chance level: the share of the whole database that would count as a match for
the same query (what random retrieval scores).

The query-length curve (issue 14) makes n-word queries from held-out captions
(``short_queries``, rule in ``informative_words``) and scores them with the same word share and
with same-image hit@k, each next to its chance level (``chance_share``, ``hit_chance``).

All functions are pure: texts and neighbour ids in, numbers out.
"""

from __future__ import annotations

import math
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


def share_ceiling(
    db_tokens: Sequence[frozenset[str]], words: Sequence[Sequence[str]], k: int
) -> np.ndarray:
    """(nq,) the best word share at k any retrieval can reach: ``min(m, k) / k`` with m the
    number of database texts that contain one of the query's words (rare words have few)."""
    m = np.rint(chance_share(db_tokens, words) * max(len(db_tokens), 1))
    return np.minimum(m, k) / k


def summarize(
    I: np.ndarray,  # noqa: E741
    db_tokens: Sequence[frozenset[str]],
    queries: Sequence[str],
    k: int,
) -> dict[str, float]:
    """Mean word share at k, its chance level and ceiling (``share_ceiling``) and the mean
    number of matched words per query."""
    words = query_words(queries)
    share = word_share_at_k(I, db_tokens, words, k)
    chance = chance_share(db_tokens, words)
    ceiling = share_ceiling(db_tokens, words, k)
    return {
        f"probe_word_share_at_{k}": float(share.mean()) if len(share) else float("nan"),
        "probe_chance_share": float(chance.mean()) if len(chance) else float("nan"),
        "probe_share_ceiling": float(ceiling.mean()) if len(ceiling) else float("nan"),
        "probe_words_per_query": float(np.mean([len(w) for w in words])) if words else 0.0,
    }


# ---------------------------------------------------------------------------------------------
# The query-length curve

QUERY_LENGTHS: tuple[int, ...] = (1, 2, 3, 5, 8)  # n-word queries; "full" is the caption itself
FULL = "full"


def document_frequencies(db_tokens: Sequence[frozenset[str]]) -> Counter[str]:
    """Number of database texts that contain each lowercased token."""
    df: Counter[str] = Counter()
    for toks in db_tokens:
        df.update(toks)
    return df


def idf_table(db_tokens: Sequence[frozenset[str]]) -> dict[str, float]:
    """Inverse document frequency ``log(N / df)`` of every token of the database (N texts)."""
    df = document_frequencies(db_tokens)
    n = max(len(db_tokens), 1)
    return {w: math.log(n / c) for w, c in df.items()}


def informative_words(text: str, idf: dict[str, float], n: int) -> list[str]:
    """The ``n`` most informative words of ``text``, in their order in the text.

    Rule: the candidates are the text's content words (``lookup.text.content_words``:
    lowercased, alphabetic, not a stopword, first occurrence only) that occur in the database
    (a word absent from it can match nothing). They are ranked by IDF over the database texts,
    highest first (the rarest word says most about which captions fit); ties go to the word
    that comes first in the text. The kept words are put back in text order. The rule has no
    randomness, so the same text always gives the same query. A text with fewer candidates
    keeps them all; a text with none keeps its first ``n`` content words, or failing those its
    first ``n`` alphabetic tokens.
    """
    if n < 1:
        raise ValueError(f"n={n} is invalid; n must be >= 1")
    toks = tokenize(text, lower=True)
    words = content_words(toks)
    cands = [(i, w) for i, w in enumerate(words) if w in idf]
    if not cands:
        return words[:n] if words else [t for t in toks if t.isalpha()][:n]
    ranked = sorted(cands, key=lambda iw: (-idf[iw[1]], iw[0]))[:n]
    return [w for _, w in sorted(ranked)]


def short_queries(texts: Sequence[str], idf: dict[str, float], n: int | str) -> list[str]:
    """The n-word query of each text (its informative words joined by spaces), or the texts
    unchanged for ``n == "full"``."""
    if n == FULL:
        return list(texts)
    if not isinstance(n, int) or isinstance(n, bool):
        raise ValueError(f"query length {n!r} is invalid; valid: a positive int or {FULL!r}")
    return [" ".join(informative_words(t, idf, n)) for t in texts]


def hit_chance(db_labels: np.ndarray, query_labels: np.ndarray, k: int) -> np.ndarray:
    """(nq,) probability that k database items drawn at random without replacement include
    one of the query's label: ``1 - C(N - m, k) / C(N, k)`` with m items of that label."""
    db_labels = np.asarray(db_labels)
    labels, counts = np.unique(db_labels, return_counts=True)
    m_of = dict(zip(labels.tolist(), counts.tolist(), strict=True))
    n = len(db_labels)
    out = np.zeros(len(query_labels), np.float64)
    for q, lab in enumerate(np.asarray(query_labels).tolist()):
        m = m_of.get(lab, 0)
        miss = 1.0
        for i in range(min(k, n)):
            miss *= max(n - m - i, 0) / (n - i)
        out[q] = 1.0 - miss
    return out
