"""Render benchmark JSON into Markdown tables, in ``outputs/`` unless ``--out`` says otherwise.

    python benchmarks/render.py outputs/benchmarks.json [more.json ...] [--out results]

reads ``--benchmark-json`` files written by ``python -m pytest benchmarks --benchmark-only`` (one
per session: e.g. the exact-search suite under each ``LOOKUP_BENCH_OPENBLAS`` setting) and writes
``perf_codes.md``, ``perf_encoders.md``, ``perf_exact.md``, ``perf_overhead.md`` and
``perf_training.md`` from all of them together (so give it every session's file: a table whose
rows are in none of them is written empty). ``--out results`` updates the tables the README
cites. Every number comes from the JSON (the ratios were computed and checked by the benchmark
session itself); nothing is measured here.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path

EXACT_COMMAND = (
    "for s in installed generic fixed; do LOOKUP_BENCH_OPENBLAS=$s python -m pytest "
    "benchmarks/test_perf_exact.py --benchmark-only --benchmark-json=outputs/exact_$s.json; done"
)
COMMAND = (  # every table at once: render writes all of them from the files it is given
    "python -m pytest benchmarks --benchmark-only --ignore=benchmarks/test_perf_exact.py "
    f"--benchmark-json=outputs/benchmarks.json && {EXACT_COMMAND} && python benchmarks/render.py "
    "outputs/benchmarks.json outputs/exact_installed.json outputs/exact_generic.json "
    "outputs/exact_fixed.json --out results"
)
DEFAULT_OUT = Path("outputs")


def _rows(bench: dict, module: str, test: str) -> list[dict]:
    return [
        b
        for b in bench["benchmarks"]
        if b["fullname"].split("::")[0].endswith(module)
        and (b["name"] == test or b["name"].startswith(test + "["))
    ]


def _fmt(x, spec: str = ".3f", none: str = "–") -> str:
    return none if x is None else format(x, spec)


def _ratio(info: dict, name: str, spec: str = ".2f", unit: str = "x") -> str:
    """``1.23x (>= 1.0)``, with a FAILS mark when the session's check did not hold."""
    value, limit = info.get(name), info.get(f"{name}_limit")
    if value is None:
        return "–"
    text = f"{value:{spec}}{unit}"
    if limit and limit != "<= None":
        op, bound = limit.split()
        ok = value >= float(bound) if op == ">=" else value <= float(bound)
        text += f" ({limit})" + ("" if ok else " **FAILS**")
    return text


def _load(info: dict) -> str:
    return (
        f"{_fmt(info.get('loadavg_1m_before'), '.2f')}/{_fmt(info.get('loadavg_1m_after'), '.2f')}"
    )


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> list[str]:
    header = list(header)
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


def _session_line(bench: dict) -> str:
    machine, commit = bench.get("machine_info", {}), bench.get("commit_info", {})
    cpu = machine.get("cpu", {})
    sha = str(commit.get("id", "?"))[:10] + (" (dirty tree)" if commit.get("dirty") else "")
    return (
        f"Measured {bench.get('datetime', '?')} on {cpu.get('brand_raw', '?')} "
        f"({cpu.get('count', '?')} logical CPUs), Python {machine.get('python_version', '?')}, "
        f"pytest-benchmark {bench.get('version', '?')}, git `{sha}`."
    )


def _provenance(bench: dict, command: str = COMMAND) -> list[str]:
    sessions = [_session_line(s) for s in bench.get("sessions", [bench])]
    return [
        "",
        *(sessions if len(sessions) == 1 else [f"- {x}" for x in sessions]),
        "",
        "'load' is the 1-minute load average before/after each measurement (other work on the "
        "machine).",
        "",
        f"Regenerate: `{command}`",
        "",
    ]


def merge(benches: list[dict]) -> dict:
    """Several sessions' JSON as one: their benchmarks in order, each session's provenance."""
    if len(benches) == 1:
        return benches[0]
    return {
        "benchmarks": [b for bench in benches for b in bench.get("benchmarks", [])],
        "sessions": benches,
    }


def _median(b: dict) -> float | None:
    return (b.get("stats") or {}).get("median")


def render_encoders(bench: dict) -> str:
    whole = _rows(bench, "test_perf_encoders.py", "test_encode_all_surnames")
    one = _rows(bench, "test_perf_encoders.py", "test_encode_one_name")
    pairs: dict[tuple, dict[str, dict]] = {}
    for b in whole:
        i = b["extra_info"]
        pairs.setdefault((i["encoder"], i["pooling"], i.get("threads")), {})[i["path"]] = b
    lines = [
        "# Char-RNN encoding speed: fast path vs the tutorial's loop",
        "",
        "All tutorial surnames (train + test) encoded with the same weights, torch threads pinned "
        "to the same count for both paths. Fast: `CharRNNEncoder.encode` (tokenisation "
        "included). Reference: `reference_encode`, the tutorial's step-by-step Elman loop over "
        "padded batches of 128 with the Python `column_gather`. Medians over the rounds of one "
        "pytest-benchmark session; speedup = reference median / fast median, checked in that "
        "session.",
        "",
    ]
    rows = []
    for (enc, pooling, threads), p in pairs.items():
        f, r = p.get("fast"), p.get("reference")
        fi = f["extra_info"] if f else {}
        rows.append(
            [
                enc,
                pooling,
                threads,
                _fmt(_median(f), ".4f") if f else "–",
                _fmt(_median(r), ".4f") if r else "–",
                _ratio(fi, "speedup"),
                _fmt(fi.get("names_per_s"), "d"),
                _fmt(fi.get("max_abs_diff_vs_reference"), ".1e"),
                f["stats"]["rounds"] if f else "–",
                _load(fi),
            ]
        )
    lines += _table(
        [
            "encoder",
            "pooling",
            "threads",
            "fast s",
            "reference s",
            "speedup",
            "names/s (fast)",
            "max abs diff",
            "rounds",
            "load",
        ],
        rows,
    )
    singles: dict[tuple, dict[str, dict]] = {}
    for b in one:
        i = b["extra_info"]
        singles.setdefault((i["encoder"], i["pooling"], i.get("threads")), {})[i["path"]] = b
    lines += [
        "",
        "Single-name latency: `encode([name])`, a different random surname per call, one call "
        "per round.",
        "",
    ]
    rows = []
    for (enc, pooling, threads), p in singles.items():
        fi = p["fast"]["extra_info"] if "fast" in p else {}
        ri = p["reference"]["extra_info"] if "reference" in p else {}
        n = p["fast"]["stats"]["rounds"] if "fast" in p else "–"
        rows.append(
            [
                enc,
                pooling,
                threads,
                _fmt(fi.get("p50_ms"), ".3f"),
                _fmt(fi.get("p99_ms"), ".3f"),
                _fmt(ri.get("p50_ms"), ".3f"),
                _fmt(ri.get("p99_ms"), ".3f"),
                n,
                _load(fi),
            ]
        )
    lines += _table(
        [
            "encoder",
            "pooling",
            "threads",
            "fast p50 ms",
            "fast p99 ms",
            "reference p50 ms",
            "reference p99 ms",
            "calls",
            "load",
        ],
        rows,
    )
    return "\n".join(lines + _provenance(bench))


def render_overhead(bench: dict) -> str:
    bare = _rows(bench, "test_perf_overhead.py", "test_overhead_bare")
    harness = _rows(bench, "test_perf_overhead.py", "test_overhead_harness")
    lines = ["# Harness overhead (single-query timing)", ""]
    if not bare or not harness:
        lines += ["(hnswlib at 100k: not measured in this session)"] + _overhead_backends(bench)
        return "\n".join(lines + _provenance(bench))
    bi, hi = bare[0]["extra_info"], harness[0]["extra_info"]
    lines += [
        f"hnswlib, {bi['n']} x {bi['dim']} uniform random vectors (M=16, ef_construction=200, "
        f"built on one thread in {bi['build_s']} s), ef={bi['ef']}, k={bi['k']}, "
        f"{bi['queries']} queries, one thread, {bare[0]['stats']['rounds']} rounds each. "
        "'bare': a tight loop of `hnswlib.Index.knn_query(q, k)`; 'harness reported': the "
        "per-query time `lookup.timing.run_queries(mode='single')` measures and writes into "
        "the latency/QPS columns; 'harness wall': the whole `run_queries` call (query plan, "
        "untimed bookkeeping, result conversion), for information. Medians of one session.",
        "",
    ]
    lines += _table(
        ["measurement", "us / query", "ratio to bare", "load"],
        [
            ["bare `knn_query` loop", _fmt(bi.get("us_per_query"), ".2f"), "1", _load(bi)],
            [
                "harness reported (`run_queries` single)",
                _fmt(hi.get("reported_us_per_query"), ".2f"),
                _ratio(hi, "reported_over_bare", ".3f", ""),
                _load(hi),
            ],
            [
                "harness wall (whole `run_queries` call)",
                _fmt(hi.get("wall_us_per_query"), ".2f"),
                _ratio(hi, "wall_over_bare", ".3f", ""),
                _load(hi),
            ],
        ],
    )
    lines += ["", f"Identical neighbours from both: {hi.get('same_neighbours')}."]
    lines += _overhead_backends(bench)
    return "\n".join(lines + _provenance(bench))


def _overhead_backends(bench: dict) -> list[str]:
    """The per-backend table of ``test_overhead_backend`` (empty when it was not run)."""
    rows = _rows(bench, "test_perf_overhead.py", "test_overhead_backend")
    if not rows:
        return []
    i0 = rows[0]["extra_info"]
    lines = [
        "",
        "## Every backend",
        "",
        f"{i0['n']} x {i0['dim']} seeded vectors of intrinsic dimension 16, euclidean, "
        f"k={i0['k']}, one thread, {rows[0]['stats']['rounds']} rounds; in every round a bare "
        "loop of the library's own call (written against the library's API, on the index the "
        "harness built) and a `run_queries(mode='single')` pass, alternating which goes first. "
        "Embedded databases answer a fifth of the queries. Medians over the rounds.",
        "",
    ]
    table = []
    for r in rows:
        e = r["extra_info"]
        table.append(
            [
                e["backend"],
                e["knobs"],
                e["queries"],
                _fmt(e.get("bare_us_per_query"), ".2f"),
                _fmt(e.get("harness_reported_us_per_query"), ".2f"),
                _ratio(e, "reported_over_bare", ".3f", ""),
                _ratio(e, "wall_over_bare", ".3f", ""),
                e.get("same_neighbours"),
                _load(e),
            ]
        )
    return lines + _table(
        [
            "backend",
            "knobs",
            "queries",
            "bare us/query",
            "harness reported us/query",
            "reported / bare",
            "harness wall / bare",
            "same neighbours",
            "load",
        ],
        table,
    )


def render_exact(bench: dict) -> str:
    rows_in = _rows(bench, "test_perf_exact.py", "test_exact_search")
    lines = ["# Exact k-NN at the GEMM limit: ours vs faiss IndexFlat, numpy and torch GEMM", ""]
    if not rows_in:
        return "\n".join(lines + ["(not measured in this session)"] + _provenance(bench))
    i0 = rows_in[0]["extra_info"]
    lines += [
        f"{i0['n']} x {i0['dim']} standard-normal database, {i0['queries']} queries, "
        f"k={i0['k']}, {i0['metric']}; torch, BLAS and faiss pinned to the thread count. "
        "'openblas' is the session's setting for faiss's bundled OpenBLAS "
        "(`LOOKUP_BENCH_OPENBLAS`): installed = as this machine picks it; generic = forced to "
        "its Prescott kernels before faiss loads, numpy's left alone (the machine of issue 24, "
        "fix off); fixed = the `OPENBLAS_CORETYPE` `lookup.kernels.prepare_kernels` sets there "
        "(fix on). 'cores' is what each OpenBLAS ran (threadpoolctl). "
        "ours: `ExactSearcher.search` as the harness runs it (every knob auto: torch's GEMM "
        "over tiles of 512 items x 512 queries, on a CPU with bfloat16 hardware (AMX, "
        "AVX512-BF16) reading bfloat16-rounded inputs with float32 accumulation, each tile cut "
        "to k + 24 candidates per query (k + 8 in float32) by the numba kernel of "
        "`lookup.index.topc` while in cache, float64 re-rank, rows whose margin cannot be "
        "certified proposed again in float32, then redone); ours_float32: the same in float32 "
        "(`precision=float32`, auto without bfloat16 hardware); ours_heaps: the float32 GEMM "
        "over 512 x 2048 tiles feeding faiss's C++ heaps (`selector=heaps`); "
        "ours_faiss: faiss proposing through its BLAS; faiss: `IndexFlatL2.search`; numpy: "
        "float32 GEMM per block of 256 queries + `argpartition` + sort of the k; "
        "torch_gemm_rows / torch_gemm_tiles: the GEMM alone (`torch.mm` into a reused output, "
        "64 query rows x all items, or ours's 512 x 512 tiles). "
        "'of GEMM limit' = torch_gemm_rows median / median (the same-shape product written to "
        "memory, the issue's limit, in float32; checked >= 0.9 for ours in the same session at "
        "2 threads, and at 1 where its products ran in bfloat16), 'products' = the proposal "
        "products' input precision, 'rechecked / reproposed / fallback rows' = rows that needed "
        "the second re-rank, a float32 proposal, the whole-database fallback, 'speed vs "
        "faiss' = faiss median / median (checked >= 0.9 for ours); "
        "'of tiled GEMM' = torch_gemm_tiles median / median (cache-resident "
        "tiles whose scores are never read: a stricter bound, shown, not claimed). 'identical "
        f"rows': share of the first {i0.get('compared_queries', '?')} queries whose ids, in "
        "order, equal a float64 brute force sorted stably by (distance, id).",
        "",
    ]
    rows = []
    for b in rows_in:
        i = b["extra_info"]
        cores = " ".join(f"{k}:{v}" for k, v in (i.get("kernels") or {}).items())
        rows.append(
            [
                i.get("openblas", "installed"),
                cores or "–",
                i.get("threads_pinned", {}).get("threads_faiss", "?"),
                i["variant"],
                _fmt(_median(b), ".3f"),
                _fmt((b.get("stats") or {}).get("min"), ".3f"),
                b["stats"]["rounds"],
                _ratio(i, "of_gemm_limit"),
                _ratio(i, "of_tiled_gemm"),
                _ratio(i, "speed_vs_faiss"),
                _ratio(i, "speed_vs_numpy"),
                _fmt(i.get("rows_identical_to_float64"), ".4f"),
                _fmt(i.get("max_abs_distance_diff"), ".1e"),
                i.get("computed_in") or "–",
                " / ".join(
                    _fmt(i.get(f"{what}_rows"), "d")
                    for what in ("rechecked", "reproposed", "fallback")
                )
                if "computed_in" in i
                else _fmt(i.get("fallback_rows"), "d"),
                _load(i),
            ]
        )
    lines += _table(
        [
            "openblas",
            "cores",
            "threads",
            "method",
            "median s",
            "min s",
            "rounds",
            "of GEMM limit",
            "of tiled GEMM",
            "speed vs faiss",
            "speed vs numpy",
            "identical rows",
            "max abs D diff",
            "products",
            "rechecked / reproposed / fallback rows",
            "load",
        ],
        rows,
    )
    return "\n".join(lines + _provenance(bench))


def render_training(bench: dict) -> str:
    rows_in = _rows(bench, "test_perf_training.py", "test_train_one_epoch")
    lines = ["# Char-RNN training: fused loop vs today's loop, one thread", ""]
    if not rows_in:
        return "\n".join(lines + ["(not measured in this session)"] + _provenance(bench))
    i0 = rows_in[0]["extra_info"]
    lines += [
        f"One epoch on the default names data's database side ({i0['n_train']} names), torch "
        "on one thread, the whole `train` call timed (vocabulary, tensors, the epoch). steps: "
        "today's loop (the tutorial's step-by-step Elman RNN, the output layer at every padded "
        "position) at the tutorial's batch 128 and lr 1e-3; fused@128: the fused loop (a "
        "prefix tree for the first steps, then packed rows; the output layer once per distinct "
        "prefix, in chunks) on the same batches, order and initialisation; fused: the fused "
        "loop at the defaults, batch 512 and lr 4e-3. 'final loss' is the epoch's mean "
        "training loss. Speedup = steps median / this median, measured in the same session; "
        "the claim (>= 4) is fused's.",
        "",
    ]
    rows = []
    for b in rows_in:
        i = b["extra_info"]
        rows.append(
            [
                i["encoder"],
                i["loop"],
                i.get("batch_size"),
                i.get("lr"),
                _fmt(_median(b), ".2f"),
                _fmt((b.get("stats") or {}).get("min"), ".2f"),
                b["stats"]["rounds"],
                _fmt(i.get("names_per_s"), "d"),
                _fmt(i.get("final_train_loss"), ".4f"),
                _ratio(i, "speedup"),
                _load(i),
            ]
        )
    lines += _table(
        [
            "encoder",
            "loop",
            "batch",
            "lr",
            "median s",
            "min s",
            "rounds",
            "names/s",
            "final loss",
            "speedup",
            "load",
        ],
        rows,
    )
    return "\n".join(lines + _provenance(bench))


def render_codes(bench: dict) -> str:
    """Binary codes beside float32 exact search (benchmarks/test_perf_codes.py)."""
    rows_in = _rows(bench, "test_perf_codes.py", "test_binary_vs_float32_exact")
    lines = ["# Exact search over binary codes beside float32, same n, one thread", ""]
    if not rows_in:
        return "\n".join(lines + ["(not measured in this session)"] + _provenance(bench))
    i0 = rows_in[0]["extra_info"]
    lines += [
        f"{i0['n']:,} x {i0['dim']} unit vectors, {i0['queries']:,} queries, k=10, one call for "
        "all queries: faiss IndexFlatIP over float32 rows, faiss IndexBinaryFlat over their sign "
        "bits (popcount of XOR), and the binary index re-ranked with the float32 vectors "
        "(10k candidates). recall vs float32: the share of float32 exact search's neighbours "
        "each returns. Speedup = float32 median / variant median, in the same session.",
        "",
    ]
    rows = []
    for b in rows_in:
        i = b["extra_info"]
        rows.append(
            [
                b["name"].split("[")[-1].rstrip("]"),
                _fmt(i.get("bytes_per_vector"), "d"),
                _fmt(_median(b), ".3f"),
                _fmt(i["queries"] / _median(b) if _median(b) else None, ",.0f"),
                _fmt(i.get("recall_vs_float32"), ".4f"),
                _ratio(i, "speedup_vs_float32"),
                _load(i),
            ]
        )
    lines += _table(
        ["variant", "bytes/vector", "median s", "QPS", "recall vs float32", "speedup", "load"],
        rows,
    )
    return "\n".join(lines + _provenance(bench))


RENDERERS = {
    "perf_codes.md": render_codes,
    "perf_encoders.md": render_encoders,
    "perf_exact.md": render_exact,
    "perf_overhead.md": render_overhead,
    "perf_training.md": render_training,
}


def main(argv: list[str] | None = None) -> int:
    """Write the tables into ``--out`` (default ``outputs/``); return 0."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("json", type=Path, nargs="+", help="--benchmark-json files (one per session)")
    p.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="folder (default: outputs; results: the tables the README cites)",
    )
    args = p.parse_args(argv)
    bench = merge([json.loads(path.read_text(encoding="utf-8")) for path in args.json])
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    for name, render in RENDERERS.items():
        (out / name).write_text(render(bench), encoding="utf-8")
        print(out / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
