"""Every bad input ends in one clear line and exit code 2, and leaves the table as it was.

Each case runs a real entry point's ``main(argv)`` (bench, bench.lookup, bench.embed,
bench.plot) in this process, which is the same code path as ``python -m ...`` minus the
interpreter start; a few run as real subprocesses to prove the wiring. Each asserts:

- exit code 2 and exactly one line on stderr, starting ``error: ``: bad input is found
  before any work, so nothing has been logged yet (Hydra's console log goes to stderr);
- the key and value (or the path) named in that line;
- the results table byte-identical afterwards (and every file the case pointed at);
- and at the end the same cache and table still serve a good run.

Vectors are tiny (.npy, 300 x 16); the text cases use the tutorial surnames with rnn01 and
fail before any training.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from bench.table import SCHEMA_MARK, append_rows, read_rows
from lookup.schema import SCHEMA_VERSION

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Case:
    """One bad input: entry point, overrides (``{name}`` = a fixture file), what the line says."""

    id: str
    args: tuple[str, ...]
    expect: tuple[str, ...]  # substrings of the error line (after formatting)
    entry: str = "bench"  # bench | lookup | embed | plot
    base: str = "vectors"  # vectors | text | bare
    family: str = ""
    untouched: tuple[str, ...] = field(default=())  # fixture files that must not change
    # Found only from the data (its size, dim or values): the work that loaded it may have
    # logged before the error line. Everything else is decided from the config alone, before
    # any work, so stderr is exactly the one line.
    after_data: bool = False
    needs: str = ""  # a module the case's backend imports (an optional extra): skipped without it


def C(family: str, id: str, args: str, *expect: str, **kw) -> Case:
    return Case(id, tuple(shlex.split(args)), tuple(expect), family=family, **kw)


CASES = [
    # --- accepted silently before: types and ranges of top-level settings
    C("silent", "bool-not-bool", "force=yes", "force", "yes"),
    C("silent", "bool-as-int", "force=1", "force", "1"),
    C("silent", "float-for-int-k", "k=2.5", "k=2.5"),
    C("silent", "integral-float-for-int", "k=3.0", "k=3.0"),
    C("silent", "zero-k", "k=0", "k=0"),
    C("silent", "negative-k", "k=-1", "k=-1"),
    C("silent", "bool-for-int", "k=true", "k=True"),
    C("silent", "k-larger-than-db", "k=1000", "k=1000", after_data=True),
    C("silent", "zero-threads", "threads=0", "threads=0"),
    C("silent", "zero-passes", "passes=0", "passes=0"),
    C("silent", "negative-warmup", "warmup=-1", "warmup=-1"),
    C("silent", "negative-eps", "eps=-0.1", "eps=-0.1"),
    C("silent", "string-eps", "eps=abc", "eps", "abc"),
    C("silent", "unknown-metric", "metric=manhattan", "metric", "manhattan"),
    C("silent", "unknown-mode", "mode=fast", "mode", "fast"),
    C("silent", "zero-max-queries", "max_queries=0", "max_queries=0"),
    C("silent", "float-seed", "seed=1.5", "seed=1.5"),
    # --- index build parameters
    C("index", "float-M", "index.M=1.5", "index.M=1.5"),
    C("index", "too-small-M", "index.M=1", "index.M=1"),
    C("index", "zero-ef-construction", "index.ef_construction=0", "index.ef_construction=0"),
    C("index", "zero-index-threads", "index.threads=0", "index.threads=0"),
    C("index", "zero-trees", "index=annoy index.trees=0", "index.trees=0"),
    C("index", "string-trees", "index=annoy index.trees=abc", "index.trees", "abc"),
    C("index", "seed-beyond-c-int", "index=annoy index.seed=2147483648", "index.seed=2147483648"),
    C("index", "zero-block-size", "index=exact index.block_size=0", "index.block_size=0"),
    C("index", "exact-proposer", "index=exact index.proposer=gpu", "index.proposer='gpu'", "torch"),
    C("index", "exact-selector", "index=exact index.selector=simd", "index.selector='simd'"),
    C("index", "exact-precision", "index=exact index.precision=fp8", "index.precision='fp8'"),
    C(
        "index",
        "exact-bfloat16-heaps",
        "index=exact index.precision=bfloat16 index.selector=heaps",
        "index.selector auto or numba",
        "heaps",
    ),
    C(
        "index",
        "pynndescent-diversify",
        "index=pynndescent index.diversify_prob=2",
        "index.diversify_prob=2",
        needs="pynndescent",
    ),
    C(
        "index",
        "scann-threshold",
        "index=scann index.anisotropic_threshold=abc",
        "index.anisotropic_threshold='abc'",
        needs="scann",
    ),
    C("index", "svs-alpha", "index=svs index.alpha=0", "index.alpha=0", needs="svs"),
    C(
        "knob",
        "lancedb-ef-on-ivf",
        "index=lancedb_ivfpq index.search.ef=[10]",
        "index.search.ef",
        needs="lancedb",
    ),
    C(
        "knob",
        "milvus-nprobe-on-hnsw",
        "index=milvus_lite index.search.nprobe=[4]",
        "index.search.nprobe",
        needs="pymilvus",
    ),
    C("index", "zero-train-size", "index=faiss_ivf index.train_size=0", "index.train_size=0"),
    C("index", "unknown-build-key", "index.bogus=1", "index.bogus"),
    C("index", "unknown-build-key-plus", "+index.bogus=1", "index.bogus", "M"),
    C(
        "index",
        "nlist-above-train",
        "index=faiss_ivf \"index.factory='IVF5000,Flat'\"",
        "IVF5000",
        after_data=True,
    ),
    C(
        "index",
        "pq-not-dividing-dim",
        "index=faiss_ivfpq \"index.factory='IVF8,PQ5'\"",
        "PQ5",
        after_data=True,
    ),
    C(
        "index",
        "bad-factory",
        "index=faiss_ivf index.factory=Nonsense",
        "Nonsense",
        after_data=True,
    ),
    # --- query-time knobs
    C("knob", "empty-knob-list", "index.search.ef=[]", "index.search.ef"),
    C("knob", "knob-list-of-lists", "index.search.ef=[[1,2]]", "ef"),
    C("knob", "search-not-a-mapping", "index.search=5", "index.search"),
    C("knob", "zero-ef", "index.search.ef=[0]", "ef=0"),
    C("knob", "negative-ef", "index.search.ef=[10,-5]", "ef=-5"),
    C("knob", "float-ef", "index.search.ef=[2.5]", "ef=2.5"),
    C("knob", "string-ef", "index.search.ef=[abc]", "ef", "abc"),
    C("knob", "zero-search-k", "index=annoy index.search.search_k=[0]", "search_k=0"),
    C(
        "knob",
        "zero-nprobe",
        "index=faiss_ivf \"index.factory='IVF8,Flat'\" index.search.nprobe=[0]",
        "nprobe=0",
    ),
    C("knob", "zero-efsearch", "index=faiss_hnsw index.search.efSearch=[0]", "efSearch=0"),
    C("knob", "ef-beyond-c-int", "index.search.ef=[99999999999999999999]", "ef=9999999999"),
    C(
        "knob",
        "search-k-beyond-c-int",
        "index=annoy index.search.search_k=[4294967296]",
        "search_k=4294967296",
        "<= 2147483647",
    ),
    C("knob", "unknown-knob-without-plus", "index.search.foo=[1]", "foo", "valid: ef"),
    C("knob", "knob-on-exact", "index=exact index.search.ef=[10]", "ef"),
    C(
        "knob",
        "faiss-knob-not-for-factory",
        "index=faiss_flat index.search.nprobe=[4]",
        "nprobe",
        after_data=True,
    ),
    C(
        "knob",
        "ivf-knob-on-hnsw",
        "index=faiss_hnsw index.search.nprobe=[4]",
        "nprobe",
        after_data=True,
    ),
    # --- Hydra composition: one line, exit 2, the valid choices
    C("hydra", "unknown-index", "index=nope", "index=nope", "hnswlib"),
    C("hydra", "unknown-dataset", "dataset=nope", "dataset=nope", "surnames", base="bare"),
    C("hydra", "unknown-encoder", "encoder=nope", "encoder=nope", "rnn02", base="bare"),
    C("hydra", "unknown-experiment", "experiment=nope", "experiment=nope", "smoke"),
    C("hydra", "unknown-top-level-key", "foo=1", "foo=1", "+foo=1"),
    C("hydra", "unknown-nested-key", "results.foo=1", "results.foo", "table"),
    C("hydra", "plus-on-existing-key", "+k=1", "+k=1"),
    C("hydra", "delete-missing-key", "~foo", "~foo"),
    C("hydra", "bad-syntax-bracket", "k=[1", "k=[1"),
    C("hydra", "bad-syntax-no-equals", "k", "k"),
    C("hydra", "sweep-without-m", "index=annoy,hnswlib", "index=annoy,hnswlib", "-m"),
    C("hydra", "unquoted-factory", "index=faiss_ivf index.factory=IVF8,Flat", "IVF8,Flat"),
    C("hydra", "sweep-bad-value", "-m index=annoy,nope", "index=nope"),
    C("hydra", "unknown-launcher", "hydra/launcher=nope", "hydra/launcher=nope", "basic"),
    C("hydra", "interval-sweep", "-m k=interval(1,2)", "interval"),
    C("hydra", "bad-interpolation", "k=${{nope}}", "nope"),
    # --- .npy / HDF5 files of the wrong kind
    C("files", "missing-db", "dataset.db={tmp}/missing.npy", "missing.npy"),
    C("files", "object-array", "dataset.db={obj}", "obj.npy"),
    C("files", "one-d-array", "dataset.db={one_d}", "one_d.npy"),
    C("files", "three-d-array", "dataset.db={three_d}", "three_d.npy"),
    C("files", "string-array", "dataset.db={strings}", "strings.npy"),
    C("files", "garbage-npy", "dataset.db={garbage}", "garbage.npy"),
    C("files", "empty-array", "dataset.db={empty}", "empty.npy", after_data=True),
    C("files", "non-finite-vectors", "dataset.db={nan}", "nan.npy", after_data=True),
    C("files", "dim-mismatch", "dataset.queries={dim8}", "dim", after_data=True),
    C(
        "files",
        "labels-wrong-length",
        "dataset.db_labels={short_labels}",
        "short_labels.npy",
        after_data=True,
    ),
    C(
        "files",
        "no-queries",
        "dataset=vectors encoder=none dataset.db={db}",
        "queries",
        base="bare",
    ),
    C(
        "files",
        "missing-hdf5",
        "dataset=vectors encoder=none dataset.path={tmp}/no.hdf5",
        "no.hdf5",
        base="bare",
    ),
    C(
        "files",
        "not-hdf5",
        "dataset=vectors encoder=none dataset.path={text_h5}",
        "text.hdf5",
        base="bare",
    ),
    C("files", "unknown-vector-metric", "dataset.metric=hamming", "dataset.metric", "hamming"),
    # --- datasets and encoders: sizes, epochs, types, files (all before any training)
    C("text", "zero-limit", "dataset=names dataset.limit=0", "dataset.limit=0", base="bare"),
    C("text", "share-above-one", "dataset=names dataset.min_share=2", "min_share", base="bare"),
    C(
        "text",
        "test-fraction-above-one",
        "dataset=names dataset.test_fraction=1.5",
        "test_fraction",
        base="bare",
    ),
    C("text", "missing-surnames-csv", "dataset.path={tmp}/none.csv", "none.csv", base="text"),
    C("text", "zero-epochs", "encoder.epochs=0", "encoder.epochs=0", base="text"),
    C(
        "text",
        "negative-hidden-size",
        "encoder.hidden_size=-1",
        "encoder.hidden_size=-1",
        base="text",
    ),
    C(
        "text",
        "float-embedding-size",
        "encoder.embedding_size=1.5",
        "encoder.embedding_size=1.5",
        base="text",
    ),
    C("text", "negative-lr", "encoder.lr=-1", "encoder.lr", base="text"),
    C("text", "zero-batch-size", "encoder.batch_size=0", "encoder.batch_size=0", base="text"),
    C(
        "text",
        "unknown-pooling",
        "encoder.pooling=middle",
        "encoder.pooling",
        "middle",
        base="text",
    ),
    C("text", "unknown-device", "encoder.device=tpu", "encoder.device", "tpu", base="text"),
    C("text", "device-cuda-x", "encoder.device=cuda:x", "encoder.device='cuda:x'", base="text"),
    C("text", "device-cuda-99", "encoder.device=cuda:99", "encoder.device='cuda:99'", base="text"),
    C(
        "text",
        "missing-weights",
        "encoder.weights={tmp}/no.state encoder.vocab={tmp}/no.json",
        "{tmp}/no.",
        base="text",
    ),
    C(
        "text",
        "vocab-json-wrong-types",
        "encoder.weights={weights} encoder.vocab={vocab_bad}",
        "vocab_bad.json",
        base="text",
    ),
    C(
        "text",
        "vocab-not-json",
        "encoder.weights={weights} encoder.vocab={garbage}",
        "garbage.npy",
        base="text",
    ),
    C(
        "text",
        "text-dataset-no-encoder",
        "dataset=names dataset.limit=300 encoder=none",
        "encoder=none",
        base="bare",
        after_data=True,
    ),
    C(
        "text",
        "vectors-with-encoder",
        "dataset=vectors encoder=rnn02 dataset.db={db} dataset.queries={queries}",
        "encoder=none",
        base="bare",
        after_data=True,
    ),
    # --- the results table: checked before any compute, never rewritten
    C("table", "parent-is-a-file", "results.table={file}/runs.csv", "plain.txt"),
    C("table", "foreign-csv", "results.table={foreign}", "foreign.csv", untouched=("foreign",)),
    C(
        "table",
        "read-only-table",
        "results.table={readonly}",
        "readonly.csv",
        untouched=("readonly",),
    ),
    C("table", "not-utf8-table", "results.table={notutf8}", "notutf8.csv", untouched=("notutf8",)),
    C("table", "table-is-a-folder", "results.table={tmp}", "{tmp}"),
    C("table", "table-null", "results.table=null", "results.table"),
    C("table", "table-empty-string", "results.table=''", "results.table"),
    C("table", "cache-dir-is-a-file", "cache_dir={file}", "plain.txt"),
    # --- bench.lookup
    C("lookup", "empty-name", "''", "''", entry="lookup", base="bare"),
    C("lookup", "blank-name", "'   '", "'   '", entry="lookup", base="bare"),
    C(
        "lookup",
        "lookup-unknown-index",
        "Smith index=nope",
        "index=nope",
        entry="lookup",
        base="bare",
    ),
    C("lookup", "lookup-zero-k", "Smith k=0", "k=0", entry="lookup", base="bare"),
    C("lookup", "lookup-on-vectors", "Smith", "text", entry="lookup", after_data=True),
    # --- bench.embed
    C("embed", "embed-unknown-key", "foo=1", "foo", entry="embed", base="bare"),
    C("embed", "embed-into-a-file", "results.embeddings={file}", "plain.txt", entry="embed"),
    # --- bench.plot: tables it cannot read
    C("plot", "plot-empty-csv", "{empty_csv}", "empty.csv", entry="plot", base="bare"),
    C("plot", "plot-foreign-csv", "{foreign}", "foreign.csv", entry="plot", base="bare"),
    C("plot", "plot-missing-csv", "{tmp}/gone.csv", "gone.csv", entry="plot", base="bare"),
    C("plot", "plot-not-utf8", "{notutf8}", "notutf8.csv", entry="plot", base="bare"),
    C("plot", "plot-header-only", "{header_only}", "header_only.csv", entry="plot", base="bare"),
]

# These also run through the whole main(argv) in this process (hydra.main, its run folder).
FULL = {"zero-k", "unknown-knob-without-plus", "zero-epochs", "foreign-csv", "embed-into-a-file"}
# The ones that also run as real subprocesses (python -m ...): one per entry point and family.
SUBPROCESS = {
    "unknown-index",
    "float-for-int-k",
    "unknown-knob-without-plus",
    "foreign-csv",
    "empty-name",
    "plot-empty-csv",
}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Good vectors and labels, bad files of every kind, and tables of every kind."""
    d = tmp_path_factory.mktemp("bad_inputs")
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16)).astype(np.float32)
    lab_b, lab_q = rng.integers(0, 4, 300), rng.integers(0, 4, 30)
    arrays = {
        "db": centres[lab_b] + 0.3 * rng.normal(size=(300, 16)).astype(np.float32),
        "queries": centres[lab_q] + 0.3 * rng.normal(size=(30, 16)).astype(np.float32),
        "db_labels": lab_b.astype(str),
        "query_labels": lab_q.astype(str),
        "one_d": np.zeros(16, dtype=np.float32),
        "three_d": np.zeros((4, 4, 4), dtype=np.float32),
        "strings": np.array([["a", "b"], ["c", "d"]]),
        "empty": np.zeros((0, 16), dtype=np.float32),
        "dim8": np.zeros((30, 8), dtype=np.float32),
        "short_labels": np.array(["a", "b"]),
    }
    nan = arrays["db"].copy()
    nan[3, 2] = np.nan
    arrays["nan"] = nan
    paths = {}
    for name, arr in arrays.items():
        paths[name] = d / f"{name}.npy"
        np.save(paths[name], arr)
    paths["obj"] = d / "obj.npy"
    np.save(paths["obj"], np.array([[{}, 1]], dtype=object), allow_pickle=True)
    paths["garbage"] = d / "garbage.npy"
    paths["garbage"].write_bytes(b"this is not numpy \x00\x01\x02")
    paths["text_h5"] = d / "text.hdf5"
    paths["text_h5"].write_text("not hdf5\n")
    paths["file"] = d / "plain.txt"
    paths["file"].write_text("a plain file\n")
    paths["foreign"] = d / "foreign.csv"
    paths["foreign"].write_bytes(b"name,score\nalice,1\nbob,2\n")
    paths["notutf8"] = d / "notutf8.csv"
    paths["notutf8"].write_bytes(b"schema_version,config_id,qps\n1,\xff\xfe\xfa,3\n")
    paths["readonly"] = d / "readonly.csv"
    append_rows(paths["readonly"], [{SCHEMA_MARK: 1, "config_id": "x", "qps": 1}])
    os.chmod(paths["readonly"], 0o444)
    paths["empty_csv"] = d / "empty.csv"
    paths["empty_csv"].write_bytes(b"")
    paths["header_only"] = d / "header_only.csv"
    paths["header_only"].write_text("schema_version,config_id,dataset,encoder,index,qps\n")
    paths["weights"] = d / "model.state"
    paths["weights"].write_bytes(b"not a torch file")
    paths["vocab_bad"] = d / "vocab_bad.json"
    paths["vocab_bad"].write_text(
        json.dumps({"surname_vocab": [1, 2], "nationality_vocab": "x", "max_seq_length": "20"})
    )
    return paths


@pytest.fixture()
def table(tmp_path: Path) -> Path:
    """A results table that already holds two rows of an earlier job."""
    path = tmp_path / "runs.csv"
    append_rows(
        path,
        [
            {SCHEMA_MARK: SCHEMA_VERSION, "config_id": "earlier", "index": "hnswlib", "qps": 100},
            {SCHEMA_MARK: SCHEMA_VERSION, "config_id": "earlier", "index": "hnswlib", "qps": 200},
        ],
    )
    return path


def _argv(case: Case, files: dict[str, Path], table: Path, tmp: Path) -> list[str]:
    fmt = {name: str(p) for name, p in files.items()}
    fmt["tmp"] = str(tmp)
    args = [a.format(**fmt) for a in case.args]
    if case.entry == "plot":
        return [*args, "--out", str(tmp / "figs")]
    base: list[str] = []
    if case.base == "vectors":
        base = [
            "dataset=vectors",
            "encoder=none",
            f"dataset.db={files['db']}",
            f"dataset.queries={files['queries']}",
            f"dataset.db_labels={files['db_labels']}",
            f"dataset.query_labels={files['query_labels']}",
        ]
    elif case.base == "text":
        base = ["dataset=surnames", "encoder=rnn01", "encoder.epochs=1", "max_queries=50"]
    # a case's own value overrides come last, so they win over the base's
    keys = {a.split("=", 1)[0].lstrip("+~") for a in args if "=" in a}
    base = [b for b in base if b.split("=", 1)[0] not in keys]
    hydra = [
        f"results.table={table}",
        "warmup=0",
        "passes=1",
        f"hydra.run.dir={tmp / 'hydra'}",
        f"hydra.sweep.dir={tmp / 'multirun'}",
        "hydra.output_subdir=null",
    ]
    hydra = [h for h in hydra if h.split("=", 1)[0] not in keys]
    return [*base, *hydra, *args]


def _entry(name: str):
    if name == "bench":
        from bench.__main__ import main
    elif name == "lookup":
        from bench.lookup import main
    elif name == "embed":
        from bench.embed import main
    else:
        from bench.plot import main
    return main


@pytest.fixture(autouse=True)
def _restore_logging():
    """Hydra configures the root logger in-process; put it back after each case."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)


def _composed(case: Case, argv: list[str]) -> None:
    """Compose once and run the entry point's job under the same handler as run_app, with
    INFO logging to stderr as Hydra's console would (so a log line before the error shows)."""
    from bench.cli import compose_and_run

    if case.entry == "bench":
        from bench.__main__ import job

        table_key = "results.table"
    else:
        from bench.embed import _job as job

        table_key = None
    root, faiss = logging.getLogger(), logging.getLogger("faiss")
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.INFO)
    old_levels = root.level, faiss.level
    root.addHandler(console)
    root.setLevel(logging.INFO)
    faiss.setLevel(logging.WARNING)  # as conf/config.yaml's hydra.job_logging does
    try:
        compose_and_run(job, argv, table_key=table_key)
    finally:
        root.removeHandler(console)
        root.setLevel(old_levels[0])
        faiss.setLevel(old_levels[1])


def _in_process(case: Case, argv: list[str], capfd, *, full: bool = False) -> tuple[int, str, str]:
    """Exit code, stdout, stderr of the case: through main(argv) (full, and always for
    lookup, plot and sweeps) or through one composition and the same handler."""
    capfd.readouterr()
    composed = not full and case.entry in ("bench", "embed") and "-m" not in argv
    try:
        code = _composed(case, argv) if composed else _entry(case.entry)(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capfd.readouterr()
    return (0 if code is None else code), out, err


def _snapshot(case: Case, files: dict[str, Path], table: Path) -> dict[Path, bytes]:
    paths = [table, *(files[name] for name in case.untouched)]
    return {p: p.read_bytes() for p in paths}


def _check(case: Case, code, err: str, fmt: dict[str, str]) -> None:
    lines = err.strip().splitlines()
    assert code == 2, f"exit code {code}; stderr:\n{err[-2000:]}"
    assert "Traceback" not in err, err[-2000:]
    if case.after_data:  # the log of the work done before: fine; one error line, the last
        assert [ln for ln in lines if ln.startswith("error:")] == lines[-1:], err[-2000:]
    else:
        assert len(lines) == 1, f"{len(lines)} lines on stderr:\n{err[-2000:]}"
    line = lines[-1]
    assert line.startswith("error: "), line
    for want in case.expect:
        assert want.format(**fmt) in line, f"{want.format(**fmt)!r} not in {line!r}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_and_exit_2(case: Case, files, table, tmp_path, capfd) -> None:
    if case.needs:
        pytest.importorskip(case.needs)
    argv = _argv(case, files, table, tmp_path)
    before = _snapshot(case, files, table)
    code, _out, err = _in_process(case, argv, capfd)
    fmt = {**{k: str(v) for k, v in files.items()}, "tmp": str(tmp_path)}
    _check(case, code, err, fmt)
    for path, data in before.items():
        assert path.read_bytes() == data, f"{path} changed"


_MODULE = {"bench": "bench", "lookup": "bench.lookup", "embed": "bench.embed", "plot": "bench.plot"}


@pytest.mark.parametrize("case", [c for c in CASES if c.id in FULL], ids=lambda c: c.id)
def test_through_hydra_main(case: Case, files, table, tmp_path, capfd) -> None:
    argv = _argv(case, files, table, tmp_path)
    before = _snapshot(case, files, table)
    code, _out, err = _in_process(case, argv, capfd, full=True)
    fmt = {**{k: str(v) for k, v in files.items()}, "tmp": str(tmp_path)}
    _check(case, code, err, fmt)
    for path, data in before.items():
        assert path.read_bytes() == data, f"{path} changed"


@pytest.mark.parametrize("case", [c for c in CASES if c.id in SUBPROCESS], ids=lambda c: c.id)
def test_real_command_line(case: Case, files, table, tmp_path) -> None:
    argv = _argv(case, files, table, tmp_path)
    before = _snapshot(case, files, table)
    proc = subprocess.run(
        [sys.executable, "-m", _MODULE[case.entry], *argv],
        cwd=tmp_path,  # not the repo: the app finds its configs from anywhere
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    fmt = {**{k: str(v) for k, v in files.items()}, "tmp": str(tmp_path)}
    _check(case, proc.returncode, proc.stderr, fmt)
    assert "Traceback" not in proc.stderr
    for path, data in before.items():
        assert path.read_bytes() == data, f"{path} changed"


def test_at_least_sixty_bad_inputs_in_every_family() -> None:
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)
    families = {c.family for c in CASES}
    assert families >= {"silent", "index", "knob", "hydra", "files", "text", "table", "plot"}


def test_cache_and_table_still_serve_a_good_run(files, table, tmp_path, capfd) -> None:
    """After the bad inputs, the same cache and table take a good job's rows."""
    good = Case("good", ("index=exact",), ())
    argv = _argv(good, files, table, tmp_path)
    code, out, err = _in_process(good, argv, capfd, full=True)
    assert code == 0, err[-2000:]
    rows = read_rows(table)
    assert len(rows) == 3 and rows[-1]["config_id"] != "earlier"
