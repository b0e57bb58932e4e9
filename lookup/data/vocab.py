"""Token vocabularies in the PyTorch NLP tutorial's format (``surnames_classify.vocab``).

The tutorial saves its vectorizer as JSON::

    {"surname_vocab": V, "nationality_vocab": V, "max_seq_length": N}

where each ``V`` is the serialised `Vocabulary` below (``_mapping``, ``_flip``, ``_frozen``,
``_i``, ``_counts``, ``_frequency_threshold``, ``use_unks``, ``unk_token``, ``use_mask``,
``mask_token``, ``use_start_end``, ``start_token``, ``end_token``).

Index layout. Special tokens take the lowest indices, in this order, each only if enabled:
``mask`` (always index 0 when used), ``unk``, ``start``, ``end``; ordinary tokens follow in
order of first appearance. So the tutorial's character vocabulary (no UNK) is
``0 <MASK>, 1 ^, 2 _, 3.. characters`` and a character vocabulary built here (UNK reserved, so
unseen characters at lookup time map to it) is ``0 <MASK>, 1 <UNK>, 2 ^, 3 _, 4.. characters``.
A vocabulary without UNK raises `ValueError` naming the unknown tokens.
"""

from __future__ import annotations

import functools
import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from lookup.errors import BadInput
from lookup.io import atomic_write_bytes, check_input_file, read_bounded

_VOCAB_KEYS = (
    "_mapping",
    "_flip",
    "_frozen",
    "_i",
    "_counts",
    "_frequency_threshold",
    "use_unks",
    "unk_token",
    "use_mask",
    "mask_token",
    "use_start_end",
    "start_token",
    "end_token",
)


class Vocabulary:
    """Bidirectional token <-> index map, serialisable in the tutorial's format."""

    def __init__(
        self,
        *,
        use_unks: bool = False,
        unk_token: str = "<UNK>",
        use_mask: bool = False,
        mask_token: str = "<MASK>",
        use_start_end: bool = False,
        start_token: str = "^",
        end_token: str = "_",
        frequency_threshold: int = 0,
    ) -> None:
        self._mapping: dict[str, int] = {}
        self._flip: dict[int, str] = {}
        self._counts: Counter[int] = Counter()
        self._frozen = False
        self._i = 0
        self._frequency_threshold = frequency_threshold
        self.use_unks = use_unks
        self.unk_token = unk_token
        self.use_mask = use_mask
        self.mask_token = mask_token
        self.use_start_end = use_start_end
        self.start_token = start_token
        self.end_token = end_token
        if use_mask:
            self.add(mask_token)
        if use_unks:
            self.add(unk_token)
        if use_start_end:
            self.add(start_token)
            self.add(end_token)

    # -- building -------------------------------------------------------------------------
    def add(self, token: str, count: int = 1) -> int:
        """Index of ``token``, adding it if new (raises if frozen); counts it ``count`` times."""
        idx = self._mapping.get(token)
        if idx is None:
            if self._frozen:
                raise ValueError(f"vocabulary is frozen; cannot add {token!r}")
            idx = self._i
            self._mapping[token] = idx
            self._flip[idx] = token
            self._i += 1
        self._counts[idx] += count
        return idx

    def add_many(self, tokens: Iterable[str]) -> list[int]:
        return [self.add(t) for t in tokens]

    def freeze(self) -> Vocabulary:
        self._frozen = True
        return self

    # -- lookup ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._mapping)

    def __contains__(self, token: str) -> bool:
        return token in self._mapping

    @property
    def mask_index(self) -> int:
        return self._special(self.use_mask, self.mask_token, "mask")

    @property
    def unk_index(self) -> int:
        return self._special(self.use_unks, self.unk_token, "unk")

    @property
    def start_index(self) -> int:
        return self._special(self.use_start_end, self.start_token, "start")

    @property
    def end_index(self) -> int:
        return self._special(self.use_start_end, self.end_token, "end")

    def _special(self, used: bool, token: str, what: str) -> int:
        if not used or token not in self._mapping:
            raise BadInput(f"vocabulary has no {what} token")
        return self._mapping[token]

    def lookup_token(self, token: str) -> int:
        idx = self._mapping.get(token)
        if idx is not None:
            return idx
        if self.use_unks:
            return self.unk_index
        raise BadInput(f"token {token!r} is not in the vocabulary and it has no UNK token")

    def lookup_index(self, index: int) -> str:
        return self._flip[index]

    def unknown(self, tokens: Iterable[str]) -> set[str]:
        """The tokens that are not in the vocabulary (UNK ignored)."""
        return {t for t in tokens if t not in self._mapping}

    def tokens(self) -> list[str]:
        """All tokens in index order."""
        return [self._flip[i] for i in range(len(self._flip))]

    # -- (de)serialisation ----------------------------------------------------------------
    def to_serializable(self) -> dict:
        return {
            "_mapping": dict(self._mapping),
            "_flip": {str(i): t for i, t in self._flip.items()},
            "_frozen": self._frozen,
            "_i": self._i,
            "_counts": [[int(i), int(c)] for i, c in sorted(self._counts.items())],
            "_frequency_threshold": self._frequency_threshold,
            "use_unks": self.use_unks,
            "unk_token": self.unk_token,
            "use_mask": self.use_mask,
            "mask_token": self.mask_token,
            "use_start_end": self.use_start_end,
            "start_token": self.start_token,
            "end_token": self.end_token,
        }

    @classmethod
    def from_serializable(cls, contents: dict, *, name: str = "vocab") -> Vocabulary:
        """Rebuild from the tutorial's JSON dict; malformed input -> one-line ValueError."""
        if not isinstance(contents, dict):
            raise BadInput(f"{name}: expected a JSON object with keys {list(_VOCAB_KEYS)}")
        missing = [k for k in ("_mapping", "use_mask", "use_start_end") if k not in contents]
        if missing:
            raise BadInput(f"{name}: missing keys {missing}; a tutorial vocab has {_VOCAB_KEYS}")
        mapping = contents["_mapping"]
        if not isinstance(mapping, dict) or not all(isinstance(v, int) for v in mapping.values()):
            raise BadInput(f"{name}: _mapping must be an object of token -> int index")
        if sorted(mapping.values()) != list(range(len(mapping))):
            raise BadInput(f"{name}: _mapping indices must be exactly 0..{len(mapping) - 1}")
        v = cls.__new__(cls)
        v._mapping = dict(mapping)
        v._flip = {i: t for t, i in mapping.items()}
        v._frozen = bool(contents.get("_frozen", False))
        v._i = int(contents.get("_i", len(mapping)))
        v._counts = Counter({int(i): int(c) for i, c in contents.get("_counts", [])})
        v._frequency_threshold = int(contents.get("_frequency_threshold", 0))
        v.use_unks = bool(contents.get("use_unks", False))
        v.unk_token = contents.get("unk_token", "<UNK>")
        v.use_mask = bool(contents["use_mask"])
        v.mask_token = contents.get("mask_token", "<MASK>")
        v.use_start_end = bool(contents["use_start_end"])
        v.start_token = contents.get("start_token", "^")
        v.end_token = contents.get("end_token", "_")
        for used, tok, what in (
            (v.use_mask, v.mask_token, "mask"),
            (v.use_unks, v.unk_token, "unk"),
            (v.use_start_end, v.start_token, "start"),
            (v.use_start_end, v.end_token, "end"),
        ):
            if used and tok not in mapping:
                raise BadInput(f"{name}: use of {what} token {tok!r} declared but not mapped")
        return v


@dataclass(frozen=True)
class CharVectorizer:
    """Surname -> index sequence, as in the tutorial: ``^ c1..cn _`` zero-padded.

    ``max_seq_length`` is the longest training surname + 2 (start and end tokens).
    """

    surname_vocab: Vocabulary
    nationality_vocab: Vocabulary
    max_seq_length: int

    @classmethod
    def from_texts(
        cls, texts: Sequence[str], labels: Sequence[str] | None = None, *, use_unks: bool = True
    ) -> CharVectorizer:
        """Build the vocabularies from training data (UNK reserved by default)."""
        sv = Vocabulary(use_unks=use_unks, use_mask=True, use_start_end=True)
        # the same vocabulary as adding every character in turn (indices in order of first
        # appearance, counts), from the code points counted at once instead of ~250k calls
        cp = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), np.uint32)
        counts = np.bincount(cp)
        first = np.full(len(counts), len(cp), dtype=np.int64)
        np.minimum.at(first, cp, np.arange(len(cp)))  # where each code point first appears
        seen = np.flatnonzero(counts)
        for c in seen[np.argsort(first[seen])].tolist():
            sv.add(chr(c), int(counts[c]))
        nv = Vocabulary()
        labs = [str(lab) for lab in labels] if labels is not None else []
        counts = Counter(labs)
        for lab in dict.fromkeys(labs):
            nv.add(lab, counts[lab])
        max_len = max((len(t) for t in texts), default=0) + 2
        return cls(sv.freeze(), nv.freeze(), max_len)

    def indices(self, texts: Sequence[str]) -> list[list[int]]:
        """``[start, c1..cn, end]`` per text; unknown characters without UNK -> ValueError."""
        sv = self.surname_vocab
        mapping = sv._mapping
        if not sv.use_unks:
            unknown = set()
            for t in texts:
                unknown.update(c for c in t if c not in mapping)
            if unknown:
                shown = "".join(sorted(unknown))[:40]
                raise BadInput(
                    f"characters {shown!r} are not in the character vocabulary (it has no UNK); "
                    f"valid characters are those of the training data ({len(sv)} tokens)"
                )
            get = mapping.__getitem__
        else:
            unk = sv.unk_index
            get = lambda c: mapping.get(c, unk)  # noqa: E731
        s, e = sv.start_index, sv.end_index
        return [[s, *map(get, t), e] for t in texts]

    @functools.cached_property
    def _codepoint_table(self) -> np.ndarray:
        """Lookup table code point -> index (-1 = unknown) over the single-character tokens."""
        items = [(ord(t), i) for t, i in self.surname_vocab._mapping.items() if len(t) == 1]
        lut = np.full(max((c for c, _ in items), default=0) + 1, -1, dtype=np.int64)
        for c, i in items:
            lut[c] = i
        return lut

    def char_indices(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised lookup of all characters: (flat ids (sum len,), lengths (n,)).

        Same indices and the same unknown-character error as `indices`, without the
        start/end tokens.
        """
        lens = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        cp = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32)
        lut = self._codepoint_table
        out = lut.take(np.minimum(cp, len(lut) - 1))
        out[cp >= len(lut)] = -1
        known = out >= 0
        if not known.all():
            if not self.surname_vocab.use_unks:
                self.indices([chr(c) for c in np.unique(cp[~known])])  # raises the ValueError
            out = np.where(known, out, self.surname_vocab.unk_index)
        return out, lens

    # -- tutorial JSON ----------------------------------------------------------------------
    def to_serializable(self) -> dict:
        return {
            "surname_vocab": self.surname_vocab.to_serializable(),
            "nationality_vocab": self.nationality_vocab.to_serializable(),
            "max_seq_length": self.max_seq_length,
        }

    @classmethod
    def from_serializable(cls, contents: dict) -> CharVectorizer:
        if not isinstance(contents, dict) or "surname_vocab" not in contents:
            raise BadInput(
                "vocab file must be a JSON object "
                '{"surname_vocab": V, "nationality_vocab": V, "max_seq_length": N}'
            )
        sv = Vocabulary.from_serializable(contents["surname_vocab"], name="surname_vocab")
        if not (sv.use_mask and sv.use_start_end) or sv.mask_index != 0:
            raise BadInput(
                "surname_vocab must use a mask token at index 0 and start/end tokens "
                "(use_mask=true, use_start_end=true)"
            )
        nv_raw = contents.get("nationality_vocab") or {"_mapping": {}, "use_mask": False}
        nv_raw.setdefault("use_start_end", False)
        nv = Vocabulary.from_serializable(nv_raw, name="nationality_vocab")
        msl = contents.get("max_seq_length")
        if not isinstance(msl, int) or msl < 2:
            raise BadInput(f"max_seq_length must be an int >= 2, got {msl!r}")
        return cls(sv, nv, msl)

    def save(self, path: str | os.PathLike) -> None:
        """Write the tutorial's vocab JSON atomically (temp file + os.replace)."""
        atomic_write_bytes(
            path, json.dumps(self.to_serializable(), ensure_ascii=False).encode("utf-8")
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> CharVectorizer:
        check_input_file(None, path, valid="a vocab JSON file")
        try:
            contents = json.loads(read_bounded(None, path).decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadInput(f"vocab file {path} is not valid JSON: {exc}") from None
        return cls.from_serializable(contents)
