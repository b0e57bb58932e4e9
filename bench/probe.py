"""`python -m bench.probe [overrides]`: the short-query probe and the query-length curve.

Rows (one per query set, exact search, ``lookup.probe`` measures):

* ``probe_query_kind=word``: one-word queries, the corpus's frequent nouns (or ``probe.words``);
* ``probe_query_kind=length``: one row per ``probe.lengths`` entry, ``probe_query_words`` = n
  (the n most informative words of each held-out caption, ``lookup.probe.informative_words``)
  or ``full`` (the captions themselves).

Each row has the word share at k (``probe_word_share_at_<k>``) and its chance level
(``probe_chance_share``), same-image ``hit_at_k`` and its chance level (``probe_hit_chance``),
and, for an encoder that routes queries (``encoder=shared``), the share of the queries the word
map encoded (``probe_share_mapped``). A configuration already in the table is skipped unless
``force=true`` (the rule of ``python -m bench``).
Example: ``python -m bench.probe experiment=probe_length encoder=shared``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from bench import table
from bench.cli import run_app
from bench.jobs import job_of, storing_of
from lookup import metrics, probe, registry
from lookup.cache import cached_arrays, key_of
from lookup.data.base import fingerprint_texts
from lookup.errors import BadInput
from lookup.experiment import encode_queries, job_columns, prepare
from lookup.index.exact import exact_knn
from lookup.job import Job, check, config_id

log = logging.getLogger("bench.probe")

DEFAULTS: dict[str, Any] = {"words": None, "n_words": 50, "lengths": [*probe.QUERY_LENGTHS, "full"]}


def probe_options(cfg: DictConfig) -> dict[str, Any]:
    """The ``probe`` group merged over :data:`DEFAULTS`, checked (one-line ValueError)."""
    node = cfg.get("probe")
    given = OmegaConf.to_container(node, resolve=True) if node is not None else {}
    opts = {**DEFAULTS, **given}
    unknown = sorted(set(opts) - set(DEFAULTS))
    if unknown:
        raise BadInput(f"probe.{unknown[0]} is not a probe option; valid: {sorted(DEFAULTS)}")
    lengths = opts["lengths"]
    ok = (
        isinstance(lengths, list)
        and lengths
        and all(
            n == probe.FULL or (isinstance(n, int) and not isinstance(n, bool) and n >= 1)
            for n in lengths
        )
    )
    if not ok:
        raise BadInput(
            f"probe.lengths={lengths!r} is invalid; valid: a list of integers >= 1 and 'full'"
        )
    n_words = opts["n_words"]
    if not isinstance(n_words, int) or isinstance(n_words, bool) or n_words < 1:
        raise BadInput(f"probe.n_words={n_words!r} is invalid; valid: an integer >= 1")
    return opts


def encoder_name(cfg: DictConfig, row: dict) -> str:
    """The encoder column: the Hydra choice, with the base for an encoder that has one
    (``shared:minilm``: the base's Hydra choice, else its registry name, since a preset such
    as minilm shares its class with sentence_transformers)."""
    name = row.get("choice_encoder") or registry.short_name(cfg.encoder._target_, "encoder")
    base = cfg.encoder.get("base")
    if base is not None and base.get("_target_"):
        name = f"{name}:{_base_choice() or registry.short_name(base._target_, 'encoder')}"
    return name


def _base_choice() -> str:
    """The ``encoder@encoder.base`` choice of the running Hydra job ('' outside one)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return str(HydraConfig.get().runtime.choices.get("encoder@encoder.base") or "")
    except (ImportError, ValueError):
        return ""


def run_probe(cfg: DictConfig) -> list[dict]:
    """Encode, search exactly, score every query set, append the rows; returns them (the
    stored rows, each marked ``_stored``, when the configuration is already in the table)."""
    opts = probe_options(cfg)
    job = job_of(cfg, kind="probe", options={"probe": opts})
    storing = storing_of(cfg)
    job = replace(job, index=None, grid=({},))  # exact search only
    checked = check(job)  # validates the options before any work
    path = cfg.results.table
    table.check_table(path)  # before hashing the inputs: a bad table is reported first
    cid = config_id(job)
    return table.measure_once(
        path, cid, lambda: _measure(job, cfg, opts, checked, cid), force=storing.force
    )


def _measure(job: Job, cfg: DictConfig, opts: dict, checked, cid: str) -> list[dict]:
    prep = prepare(job, checked)
    ds, vec, encoder, metric, k = (
        prep.dataset,
        prep.vectors,
        prep.encoder,
        prep.metric,
        job.settings.k,
    )
    if not ds.is_text or ds.db_labels is None or ds.query_labels is None:
        raise BadInput(f"dataset {ds.name} has no labelled texts; the probe needs captions")
    db_tokens = probe.token_sets(ds.db)
    idf = probe.idf_table(db_tokens)
    words = list(opts["words"] or probe.frequent_nouns(ds.db, int(opts["n_words"])))
    if not words:
        raise BadInput("probe.words is empty and the corpus has no frequent nouns; give words")
    log.info("probe words: %s", " ".join(words))
    sets: list[tuple[str, Any, list[str]]] = [("word", "", words)]
    for n in opts["lengths"]:
        queries = list(ds.queries) if n == probe.FULL else probe.short_queries(ds.queries, idf, n)
        sets.append(("length", n, queries))

    texts = [q for _, n, qs in sets if n != probe.FULL for q in qs]

    def encode() -> tuple[dict[str, np.ndarray], dict]:
        t0 = time.perf_counter()
        return {"x": encode_queries(encoder, texts)}, {"encode_s": time.perf_counter() - t0}

    key = key_of(encoder=encoder.fingerprint, texts=fingerprint_texts(texts), kind="probe")
    arrays, _, _ = cached_arrays(job.cache_dir, "probe_vectors", key, encode)
    x_short = np.ascontiguousarray(arrays["x"], dtype=np.float32)

    base = job_columns(job, prep, cid)
    base.update(encoder=encoder_name(cfg, base), index="exact")
    hit_chance = float(probe.hit_chance(ds.db_labels, ds.query_labels, k).mean())
    routes = getattr(encoder, "routes", None)
    rows, start = [], 0
    for kind, n, queries in sets:
        if n == probe.FULL:
            xq = vec.xq
        else:
            xq, start = x_short[start : start + len(queries)], start + len(queries)
        _, I = exact_knn(vec.xb, xq, k, metric)  # noqa: E741
        row = dict(base, probe_query_kind=kind, probe_query_words=n, n_queries=len(queries))
        row["probe_words"] = " ".join(words) if kind == "word" else ""
        row.update(probe.summarize(I, db_tokens, queries, k))
        if kind == "length":
            row["hit_at_k"] = metrics.hit_at_k(I, ds.db_labels, ds.query_labels, k)
            row["probe_hit_chance"] = hit_chance
        if kind == "word":
            per_word = probe.word_share_at_k(I, db_tokens, [[w] for w in words], k)
            worst = np.argsort(per_word, kind="stable")[:5]
            log.info(
                "lowest word shares: %s", ", ".join(f"{words[i]}={per_word[i]:.1f}" for i in worst)
            )
        if routes is not None:
            row["probe_share_mapped"] = float(np.mean(routes(queries)))
        rows.append(row)
    return rows


def summary(rows: list[dict], k: int) -> str:
    """One line per row: encoder, query set, word share and hit@k with their chance levels."""
    lines = []
    for r in rows:
        what = r["probe_query_kind"] if r["probe_query_kind"] == "word" else r["probe_query_words"]
        hit = r.get("hit_at_k")
        hit_s = (
            ""
            if hit in (None, "")
            else (f" hit@{k}={float(hit):.3f} (chance {float(r['probe_hit_chance']):.3f})")
        )
        lines.append(
            f"{r['encoder']:>16} {what!s:>5} n={r['n_queries']!s:<5} "
            f"word_share@{k}={float(r[f'probe_word_share_at_{k}']):.3f} "
            f"(chance {float(r['probe_chance_share']):.3f}){hit_s}"
        )
    return "\n".join(lines)


def _job(cfg: DictConfig) -> None:
    rows = run_probe(cfg)
    if rows and rows[0].get("_stored"):
        print(f"already measured (config_id {rows[0]['config_id']}); stored rows:", flush=True)
    print(summary(rows, int(cfg.k)), flush=True)


def main(argv: list[str] | None = None) -> None:
    """`python -m bench.probe [overrides]` with the app's one-line errors."""
    run_app(_job, argv)


if __name__ == "__main__":
    main()
