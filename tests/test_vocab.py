"""Vocabulary and vectorizer: the tutorial's JSON format, index layout, unknown characters."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lookup.data.vocab import CharVectorizer, Vocabulary, atomic_write_bytes

VOCAB_KEYS = {
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
}


def tutorial_vectorizer() -> CharVectorizer:
    """Like the tutorial's file: mask, start, end, characters; no UNK."""
    return CharVectorizer.from_texts(["Abe", "Bo"], ["x", "y"], use_unks=False)


def test_built_vocab_reserves_unk_and_layout():
    vec = CharVectorizer.from_texts(["Nam", "Amy"], ["a", "b"])
    assert vec.surname_vocab.tokens() == ["<MASK>", "<UNK>", "^", "_", "N", "a", "m", "A", "y"]
    assert vec.nationality_vocab.tokens() == ["a", "b"]
    assert vec.max_seq_length == 5
    assert vec.indices(["maZ"]) == [[2, 6, 5, 1, 3]]  # Z -> UNK


def test_tutorial_layout_without_unk_and_unknown_chars_named():
    vec = tutorial_vectorizer()
    assert vec.surname_vocab.tokens()[:3] == ["<MASK>", "^", "_"]
    with pytest.raises(ValueError, match="'Zé'") as info:
        vec.indices(["Abé", "Z"])
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="'Z'"):
        vec.char_indices(["Z"])


def test_char_indices_matches_list_path():
    vec = CharVectorizer.from_texts(["Hadad", "Ó'Neill", "Smith-Jones", "^_"], None)
    texts = ["Hadad", "", "Xyz", "Ó'Neill", "^_"]
    flat, lens = vec.char_indices(texts)
    expected = [i for s in vec.indices(texts) for i in s[1:-1]]
    np.testing.assert_array_equal(flat, expected)
    np.testing.assert_array_equal(lens, [len(t) for t in texts])


def test_vocab_built_in_one_pass_equals_adding_every_character():
    """from_texts counts all characters at once; the vocabulary (indices in order of first
    appearance, counts, special tokens met in the text) is the one of adding them in turn."""
    texts = ["Hadad", "Ó'Neill", "^_x", "<UNK>", "", "Smith-Jones", "Hadad"]
    texts += ["😀a", "b\ud800"]  # an astral character, a lone surrogate
    labels = ["ar", "ir", "zz", "zz", "en", "en", "ar", "zz", "zz"]
    vec = CharVectorizer.from_texts(texts, labels)
    sv = Vocabulary(use_unks=True, use_mask=True, use_start_end=True)
    for t in texts:
        sv.add_many(t)
    nv = Vocabulary()
    for lab in labels:
        nv.add(lab)
    assert vec.surname_vocab.to_serializable() == sv.freeze().to_serializable()
    assert vec.nationality_vocab.to_serializable() == nv.freeze().to_serializable()
    assert vec.surname_vocab.to_serializable()["_counts"][2:4] == [[2, 2], [3, 2]]  # ^ and _


def test_json_round_trip_has_tutorial_keys(tmp_path):
    vec = CharVectorizer.from_texts(["Hadad", "Smith"], ["arabic", "english"])
    path = tmp_path / "v.json"
    vec.save(path)
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert set(raw) == {"surname_vocab", "nationality_vocab", "max_seq_length"}
    assert set(raw["surname_vocab"]) == VOCAB_KEYS
    assert raw["surname_vocab"]["_flip"]["0"] == "<MASK>"
    back = CharVectorizer.load(path)
    assert back.to_serializable() == vec.to_serializable()


@pytest.mark.parametrize(
    "contents, match",
    [
        ([], "JSON object"),
        ({"surname_vocab": {"use_mask": True}}, "missing keys"),
        (
            {"surname_vocab": {"_mapping": {"a": 1}, "use_mask": True, "use_start_end": True}},
            "0..0",
        ),
        (
            {
                "surname_vocab": {"_mapping": {"a": 0}, "use_mask": False, "use_start_end": False},
                "max_seq_length": 3,
            },
            "mask token at index 0",
        ),
    ],
)
def test_malformed_vocab_raises_one_line(contents, match, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(contents))
    with pytest.raises(ValueError, match=match) as info:
        CharVectorizer.load(path)
    assert "\n" not in str(info.value)


def test_not_json_and_missing_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        CharVectorizer.load(path)
    with pytest.raises(FileNotFoundError):
        CharVectorizer.load(tmp_path / "nope.json")


def test_atomic_write_leaves_nothing_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "out.bin"

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("lookup.data.vocab.os.replace", boom)
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"data")
    assert list(tmp_path.iterdir()) == []


def test_frozen_vocab_and_unk_lookup():
    v = Vocabulary(use_unks=True, use_mask=True)
    v.add("a")
    v.freeze()
    assert v.lookup_token("zz") == v.unk_index == 1
    with pytest.raises(ValueError, match="frozen"):
        v.add("b")
    assert Vocabulary().unknown(["q"]) == {"q"}
