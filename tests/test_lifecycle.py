"""Reading runbook and refresh rows on hand-made tables: when a rebuild pays for itself (the
recall rule and the cost crossing), recall at the first, middle and last checkpoint, the
latest run of a configuration measured twice, and the refresh table's order."""

from __future__ import annotations

import pandas as pd
import pytest

from lookup import lifecycle

GENS = [0, 10, 20, 30]


def _curve(maintenance: str, recall: list[float], run: str = "r1", **cols) -> pd.DataFrame:
    n = len(recall)
    base = {
        "row_kind": "runbook",
        "dataset": "names",
        "encoder": "rnn02",
        "index": "hnswlib",
        "runbook": "churn",
        "maintenance": maintenance,
        "search_ef": 40,
        "generation": GENS[:n],
        "step": [3 * g + 1 for g in GENS[:n]],
        "recall_at_k": recall,
        "recall_at_k_ci_low": [r - 0.01 for r in recall],
        "recall_at_k_ci_high": [min(1.0, r + 0.01) for r in recall],
        "qps": [1000.0] * n,
        "run_id": run,
        "timestamp_utc": f"2026-01-01T00:00:0{run[-1]}",
        "index_bytes": [1e6] * n,
    }
    if maintenance == "in_place":
        base.update(
            insert_s_total=[0.0, 0.5, 1.0, 1.5],
            delete_s_total=[0.0, 0.5, 1.0, 1.5],
            n_inserted_total=[0, 100, 200, 300],
            n_deleted_total=[0, 100, 200, 300],
            build_s=[1.5] * n,
        )
    else:
        base.update(
            insert_s_total=[0.0] * n,
            delete_s_total=[0.0] * n,
            n_inserted_total=[0, 100, 200, 300],
            n_deleted_total=[0, 100, 200, 300],
            build_s=[1.5] * n,
        )
    base.update(cols)
    return pd.DataFrame(base)


@pytest.fixture()
def pair() -> pd.DataFrame:
    return pd.concat(
        [_curve("in_place", [0.99, 0.97, 0.94, 0.92]), _curve("rebuild", [0.99, 0.99, 0.98, 0.99])],
        ignore_index=True,
    )


def test_a_rebuild_pays_where_in_place_misses_and_rebuilt_meets(pair) -> None:
    out = lifecycle.rebuild_pays(pair, 0.95).iloc[0]
    assert out["status"] == "pays" and out["pays_at_generation"] == 20
    assert out["recall_in_place"] == 0.94 and out["recall_rebuilt"] == 0.98
    assert out["upkeep_in_place_s"] == 2.0 and out["rebuild_s"] == 1.5
    assert out["cost_generation"] == 20  # 2.0 s of inserts + deletes > one 1.5 s rebuild
    assert lifecycle.rebuild_pays(pair, 0.985).iloc[0]["pays_at_generation"] == 10


def test_a_rebuild_never_pays_when_in_place_keeps_the_target_or_rebuilt_misses_too(pair) -> None:
    assert lifecycle.rebuild_pays(pair, 0.9).iloc[0]["status"] == (
        "never: in place meets the target throughout"
    )
    too_high = lifecycle.rebuild_pays(pair, 0.995).iloc[0]
    assert too_high["status"] == "never: the rebuilt index misses it too (generation 0)"
    assert pd.isna(too_high["pays_at_generation"])


def test_runs_without_a_partner_are_not_paired(pair) -> None:
    other = _curve("rebuild", [0.9] * 4, search_ef=80)
    table = pd.concat([pair, other], ignore_index=True)
    assert len(lifecycle.rebuild_pays(table, 0.95)) == 1
    assert len(lifecycle.rebuild_pays(_curve("in_place", [0.9] * 4), 0.95)) == 0


def test_milestones_read_first_middle_last_and_throughput(pair) -> None:
    rows = lifecycle.milestones(pair).set_index("maintenance")
    inplace = rows.loc["in_place"]
    assert (inplace["gen_first"], inplace["gen_mid"], inplace["gen_last"]) == (0, 20, 30)
    assert (inplace["recall_first"], inplace["recall_last"]) == (0.99, 0.92)
    assert inplace["recall_last_ci"] == "[0.9100, 0.9300]"
    assert inplace["recall_change"] == pytest.approx(-0.07)
    assert inplace["insert_per_s"] == 200.0 and inplace["delete_per_s"] == 200.0
    assert pd.isna(rows.loc["rebuild"]["insert_per_s"])  # no in-place inserts


def test_the_latest_run_of_a_configuration_is_read(pair) -> None:
    again = _curve("in_place", [0.5, 0.5, 0.5, 0.5], run="r2")
    curves = lifecycle.runbook_curves(pd.concat([pair, again], ignore_index=True))
    inplace = [rows for key, rows in curves if key["maintenance"] == "in_place"][0]
    assert list(inplace["recall_at_k"]) == [0.5] * 4


def test_refresh_table_orders_setups_and_keeps_the_latest() -> None:
    rows = pd.DataFrame(
        {
            "row_kind": "refresh",
            "dataset": "names",
            "encoder": "rnn02",
            "refresh_encoder": "rnn02 seed=1",
            "index": "hnswlib",
            "search_ef": 40,
            "refresh_setup": ["rebuilt", "stale", "kept", "stale"],
            "recall_at_k": [0.99, 0.01, 0.6, 0.02],
            "qps": 1000.0,
            "timestamp_utc": ["1", "1", "1", "2"],
        }
    )
    table = lifecycle.refresh_table(rows)
    assert list(table["refresh_setup"]) == ["stale", "kept", "rebuilt"]
    assert list(table["recall_at_k"]) == [0.02, 0.6, 0.99] and table["knobs"][0] == "ef=40"


def test_a_rebuild_that_resolves_its_build_anew_is_still_one_curve_and_paired(pair) -> None:
    """faiss IVF rebuilt at each checkpoint picks nlist for the live count: one curve."""
    inplace = pair[pair["maintenance"] == "in_place"].assign(config_id="a", build_nlist=64)
    rebuilt = pair[pair["maintenance"] == "rebuild"].assign(
        config_id="b", build_nlist=[64, 128, 128, 256]
    )
    table = pd.concat([inplace, rebuilt], ignore_index=True)
    assert len(lifecycle.runbook_curves(table)) == 2
    assert lifecycle.rebuild_pays(table, 0.95).iloc[0]["pays_at_generation"] == 20
