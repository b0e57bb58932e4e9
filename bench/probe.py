"""`python -m bench.probe [overrides]`: the short-query probe, one row per query kind.

For one-word queries (the corpus's frequent nouns, or ``probe.words``) and for the dataset's
sentence queries, the share of the exact top-k captions that contain a query word or its
plural (lookup.probe), with the chance level and, for sentences, hit@k by image label.
Example: ``python -m bench.probe experiment=probe encoder=glove_mean``.
"""

from __future__ import annotations

import logging

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf

from bench import records
from bench.errors import user_errors_exit
from bench.run import load_dataset, load_encoder, vectors_of
from lookup import metrics, probe
from lookup.index.exact import exact_knn
from lookup.timing import pin_threads

log = logging.getLogger("bench.probe")

DEFAULTS = {"words": None, "n_words": 50}


def run_probe(cfg: DictConfig) -> list[dict]:
    """Encode, search exactly, score both query kinds, append the rows; returns them."""
    opts = {**DEFAULTS, **OmegaConf.to_container(cfg.get("probe") or OmegaConf.create({}))}
    unknown = sorted(set(opts) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"probe.{unknown[0]} is not a probe option; valid: {sorted(DEFAULTS)}")
    threads = pin_threads(cfg.threads)
    k = int(cfg.k)
    ds = load_dataset(cfg)
    if not ds.is_text or ds.db_labels is None:
        raise ValueError(f"dataset {ds.name} has no labelled texts; the probe needs captions")
    encoder = load_encoder(cfg, ds)
    vec = vectors_of(cfg, ds, encoder)
    db_tokens = probe.token_sets(ds.db)
    words = list(opts["words"] or probe.frequent_nouns(ds.db, int(opts["n_words"])))
    if not words:
        raise ValueError("probe.words is empty and the corpus has no frequent nouns; give words")
    log.info("probe words: %s", " ".join(words))
    xw = encoder.encode(words)
    _, I_word = exact_knn(vec.xb, xw, k, cfg.metric)
    _, I_sent = exact_knn(vec.xb, vec.xq, k, cfg.metric, progress=True)

    per_word = probe.word_share_at_k(I_word, db_tokens, [[w] for w in words], k)
    worst = np.argsort(per_word, kind="stable")[:5]
    log.info("lowest word shares: %s", ", ".join(f"{words[i]}={per_word[i]:.1f}" for i in worst))

    base = records.base_row(cfg)
    base.update(threads)
    base.update(
        dataset=ds.name,
        encoder=base["choice_encoder"] or cfg.encoder._target_.rsplit(".", 2)[-2],
        encoder_fingerprint=vec.encoder_fingerprint,
        metric=cfg.metric,
        n_db=len(vec.xb),
        dim=int(vec.xb.shape[1]),
    )
    word_row = dict(
        base, probe_query_kind="word", n_queries=len(words), probe_words=" ".join(words)
    )
    word_row.update(probe.summarize(I_word, db_tokens, words, k))
    sent_row = dict(base, probe_query_kind="sentence", n_queries=len(vec.xq), probe_words="")
    sent_row.update(probe.summarize(I_sent, db_tokens, list(ds.queries), k))
    sent_row["hit_at_k"] = metrics.hit_at_k(I_sent, ds.db_labels, ds.query_labels, k)
    rows = [word_row, sent_row]
    records.append_rows(cfg.results.table, rows)
    return rows


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
@user_errors_exit
def main(cfg: DictConfig) -> None:
    rows = run_probe(cfg)
    k = int(cfg.k)
    for r in rows:
        print(
            f"{r['encoder']:>12} {r['probe_query_kind']:>8} n={r['n_queries']:<5} "
            f"word_share@{k}={r[f'probe_word_share_at_{k}']:.3f} "
            f"chance={r['probe_chance_share']:.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
