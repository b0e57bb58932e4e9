"""Char-RNN training: the fused loop at today's defaults vs today's loop at the tutorial's.

One epoch of training on the default names data's database side (``dataset=names``: 30,078
names), at one thread, for rnn01 (classify) and rnn02 (predict), three variants:

- ``steps``: today's loop (``train(loop="steps")``: the tutorial's step-by-step Elman loop, the
  output layer at every padded position) at the tutorial's settings, batch 128 and lr 1e-3
  (the defaults before issue 24);
- ``fused@128``: the fused loop (``lookup/encoders/char_rnn/train.py``: a prefix tree for the
  first steps, then packed rows; the output layer once per distinct prefix, in chunks) on the
  very same batches, order and initialisation: the implementation alone;
- ``fused``: the fused loop at the defaults, batch 512 and lr 4e-3 (a quarter of the optimizer
  steps, the learning rate scaled alike; held-out metric and kNN accuracy stay within their
  intervals, README "First run").

Timed: the whole ``train`` call (vocabulary, tensors, the epoch; no held-out evaluation).
Claim: ``fused`` is at least 4x faster than ``steps`` (asserted); ``fused@128``'s ratio is
recorded. Each round's final training loss is recorded, to show they train alike.
"""

from __future__ import annotations

import pytest

ENCODERS = (("rnn01", "classify"), ("rnn02", "predict"))
TUTORIAL = {"batch_size": 128, "lr": 1e-3}  # today's loop runs at the tutorial's settings
VARIANTS = (("steps", "steps", TUTORIAL), ("fused@128", "fused", TUTORIAL), ("fused", "fused", {}))
EPOCHS = 1
SEED = 1337  # conf/encoder: seed ${seed} = 0 at the top level; any fixed seed will do here
ROUNDS = 3
MIN_SPEEDUP = 4.0


@pytest.fixture(scope="module")
def names(perf):
    from lookup.data.names import load_names

    return load_names(
        labels="country", min_share=0.5, max_rank=1000, limit=40000, cache_dir=perf.cache_dir
    )


@pytest.mark.parametrize(("variant", "loop", "settings"), VARIANTS, ids=[v[0] for v in VARIANTS])
@pytest.mark.parametrize(("name", "task"), ENCODERS)
def test_train_one_epoch(benchmark, perf, names, name, task, variant, loop, settings) -> None:
    from lookup.encoders.char_rnn.train import TrainConfig, train

    cfg = TrainConfig(task=task, epochs=EPOCHS, seed=SEED, **settings)
    texts, labels = list(names.db), [str(x) for x in names.db_labels]
    losses: list[float] = []

    def run() -> None:
        _, _, metrics = train(cfg, texts, labels if task == "classify" else None, loop=loop)
        losses.append(metrics["final_train_loss"])

    benchmark.group = f"train {name} 1 epoch {len(texts)} names"
    benchmark.extra_info.update(
        encoder=name,
        task=task,
        loop=variant,
        n_train=len(texts),
        epochs=EPOCHS,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
    )
    with perf.pinned(1) as got:  # train() pins torch to one thread itself; BLAS alike here
        benchmark.extra_info["loadavg_1m_before"] = perf.loadavg()
        benchmark.pedantic(run, rounds=ROUNDS, warmup_rounds=1)
    key = f"train/{name}/{variant}"
    median = perf.store(benchmark, key, threads=got["threads_torch"])
    benchmark.extra_info["final_train_loss"] = losses[-1]
    benchmark.extra_info["names_per_s"] = round(len(texts) * EPOCHS / median) if median else None
    steps = f"train/{name}/steps"
    if variant == "fused@128":
        perf.check_ratio(benchmark, "speedup", steps, key, minimum=1.0)
    elif variant == "fused":
        perf.check_ratio(benchmark, "speedup", steps, key, minimum=MIN_SPEEDUP)
