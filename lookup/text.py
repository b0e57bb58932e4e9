"""Offline word tokenization close to NLTK's ``word_tokenize`` (Penn Treebank conventions).

InferSent was trained on NLTK-tokenized text; NLTK needs a data download for its sentence
splitter, so this module reimplements the Treebank word rules with regular expressions:
punctuation split off, ``n't``/``'s``/``'re``/... split as their own tokens, double quotes
written as `` and ''. It is pure Python and needs no data files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Penn Treebank rules, in NLTK's order (TreebankWordTokenizer, abridged to what captions and
# NLI sentences need).
_STARTING_QUOTES = [
    (re.compile(r'^"'), r"``"),
    (re.compile(r"(``)"), r" \1 "),
    (re.compile(r'([ \(\[{<])(")'), r"\1 `` "),
]
_PUNCTUATION = [
    (re.compile(r"([:,])([^\d])"), r" \1 \2"),
    (re.compile(r"([:,])$"), r" \1 "),
    (re.compile(r"\.\.\."), r" ... "),
    (re.compile(r"[;@#$%&]"), r" \g<0> "),
    (re.compile(r'([^\.])(\.)([\]\)}>"\']*)\s*$'), r"\1 \2\3 "),
    (re.compile(r"[?!]"), r" \g<0> "),
    (re.compile(r"([^'])' "), r"\1 ' "),
]
_PARENS = [(re.compile(r"[\]\[\(\)\{\}\<\>]"), r" \g<0> "), (re.compile(r"--"), r" -- ")]
_ENDING_QUOTES = [
    (re.compile(r'"'), " '' "),
    (re.compile(r"(\S)(\'\')"), r"\1 \2 "),
    (re.compile(r"([^' ])('[sS]|'[mM]|'[dD]|') "), r"\1 \2 "),
    (re.compile(r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) "), r"\1 \2 "),
]
_CONTRACTIONS = [
    re.compile(r"(?i)\b(can)(?#X)(not)\b"),
    re.compile(r"(?i)\b(gon)(?#X)(na)\b"),
    re.compile(r"(?i)\b(got)(?#X)(ta)\b"),
    re.compile(r"(?i)\b(wan)(?#X)(na)\b"),
]


def tokenize(text: str, *, lower: bool = False) -> list[str]:
    """Split ``text`` into Penn Treebank word tokens (NLTK ``word_tokenize`` without the
    sentence splitter). ``lower`` lowercases first (for uncased vectors such as GloVe 6B)."""
    if lower:
        text = text.lower()
    for regexp, sub in _STARTING_QUOTES:
        text = regexp.sub(sub, text)
    for regexp, sub in _PUNCTUATION:
        text = regexp.sub(sub, text)
    for regexp, sub in _PARENS:
        text = regexp.sub(sub, text)
    text = " " + text + " "
    for regexp, sub in _ENDING_QUOTES:
        text = regexp.sub(sub, text)
    for regexp in _CONTRACTIONS:
        text = regexp.sub(r" \1 \2 ", text)
    return text.split()


# A compact English stopword list (NLTK's English list plus counting words and the spatial
# words that fill image captions), used to pick content words.
STOPWORDS: frozenset[str] = frozenset(
    """
    a about above after again against all am an and any are aren't as at be because been before
    being below between both but by can can't cannot could couldn't did didn't do does doesn't
    doing don't down during each few for from further had hadn't has hasn't have haven't having he
    her here hers herself him himself his how i if in into is isn't it it's its itself just me
    more most my myself no nor not now of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was wasn't we were weren't what when where
    which while who whom why will with won't would you your yours yourself yourselves
    n't 's 're 've 'll 'd 'm
    one two three four five six seven eight nine ten several many another lot lots
    next near top front behind back side onto around across along beside inside outside toward
    towards away together something someone
    """.split()
)


def content_words(tokens: Iterable[str]) -> list[str]:
    """Lowercased alphabetic tokens that are not stopwords, first occurrence order, unique."""
    seen: dict[str, None] = {}
    for tok in tokens:
        t = tok.lower()
        if t.isalpha() and t not in STOPWORDS:
            seen.setdefault(t, None)
    return list(seen)
