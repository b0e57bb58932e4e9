"""Char-RNN training: the fused loop (``train(loop="fused")``) vs today's (``loop="steps"``).

One epoch of training on the default names data's database side (``dataset=names``: 30,078
names, batch 128, the conf/encoder defaults otherwise), at one thread, for rnn01 (classify) and
rnn02 (predict). Both loops see the same batches in the same order from the same seeded
initialisation; ``steps`` is the tutorial's step-by-step Elman loop with the output layer at
every padded position, ``fused`` the fused recurrent kernel with the output layer at the real
positions only (``lookup/encoders/char_rnn/train.py``). Timed: the whole ``train`` call
(vocabulary, tensors, the epoch; no held-out evaluation). Claim: fused is at least 4x faster.
Each round's final training loss is recorded for both, to show they train alike.
"""

from __future__ import annotations

import pytest

ENCODERS = (("rnn01", "classify"), ("rnn02", "predict"))
LOOPS = ("steps", "fused")  # fused last: it reads the reference's median
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


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize(("name", "task"), ENCODERS)
def test_train_one_epoch(benchmark, perf, names, name, task, loop) -> None:
    from lookup.encoders.char_rnn.train import TrainConfig, train

    cfg = TrainConfig(task=task, epochs=EPOCHS, seed=SEED)
    texts, labels = list(names.db), [str(x) for x in names.db_labels]
    losses: list[float] = []

    def run() -> None:
        _, _, metrics = train(cfg, texts, labels if task == "classify" else None, loop=loop)
        losses.append(metrics["final_train_loss"])

    benchmark.group = f"train {name} 1 epoch {len(texts)} names"
    benchmark.extra_info.update(
        encoder=name, task=task, loop=loop, n_train=len(texts), epochs=EPOCHS, batch_size=128
    )
    with perf.pinned(1) as got:  # train() pins torch to one thread itself; BLAS alike here
        benchmark.extra_info["loadavg_1m_before"] = perf.loadavg()
        benchmark.pedantic(run, rounds=ROUNDS, warmup_rounds=1)
    key = f"train/{name}/{loop}"
    median = perf.store(benchmark, key, threads=got["threads_torch"])
    benchmark.extra_info["final_train_loss"] = losses[-1]
    benchmark.extra_info["names_per_s"] = round(len(texts) * EPOCHS / median) if median else None
    if loop == "fused":
        perf.check_ratio(benchmark, "speedup", f"train/{name}/steps", key, minimum=MIN_SPEEDUP)
