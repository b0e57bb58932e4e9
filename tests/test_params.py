"""lookup.params: config values checked against the real signature, one-line messages."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

import numpy as np
import pytest

from lookup.params import check_call, check_range, check_value, unique_knob_values


class Backend:
    """A stand-in index: every annotation kind the configs use."""

    def __init__(
        self,
        metric: str = "cosine",
        M: int = 16,
        lr: float = 1e-3,
        limit: int | None = None,
        share: Optional[float] = None,  # noqa: UP045 - the old spelling is checked too
        pooling: Literal["last", "gather"] = "last",
        path: os.PathLike | str | None = None,
        ks: Sequence[int] = (1,),
        pair: tuple[int, str] = (1, "a"),
        sizes: list[int] | None = None,
        force: bool = False,
        anything=None,
    ) -> None:
        pass


def load(*, cache_dir: str, limit: int = 10, **extra) -> None:
    """A stand-in factory with harness-passed and free keyword arguments."""


@dataclass(frozen=True)
class Settings:
    k: int
    eps: float = 1e-3


def _check(**params):
    return check_call(Backend, params, prefix="index", runtime=("metric",))


def test_valid_values_pass_and_ints_become_floats() -> None:
    out = _check(M=32, lr=1, limit=None, share=1, pooling="gather", ks=[1, 2], sizes=[3])
    assert out == {
        "M": 32,
        "lr": 1.0,
        "limit": None,
        "share": 1.0,
        "pooling": "gather",
        "ks": [1, 2],
        "sizes": [3],
    }
    assert isinstance(out["lr"], float) and isinstance(out["share"], float)
    assert _check(path="a.csv")["path"] == "a.csv"
    assert _check(path=Path("a"))["path"] == Path("a")
    assert _check(pair=[2, "b"])["pair"] == (2, "b")
    assert _check(anything=object)["anything"] is object
    assert _check(_target_="x.Y")["_target_"] == "x.Y"  # Hydra's keys pass through


@pytest.mark.parametrize(
    ("key", "value", "valid"),
    [
        ("M", 2.5, "an integer"),
        ("M", 3.0, "an integer"),  # integral floats are rejected too: no silent truncation
        ("M", True, "an integer"),
        ("M", "16", "an integer"),
        ("M", None, "an integer"),
        ("lr", True, "a number"),
        ("lr", "fast", "a number"),
        ("force", "yes", "true or false"),
        ("force", 1, "true or false"),
        ("limit", 1.5, "an integer or null"),
        ("pooling", "first", "one of last, gather"),
        ("path", 3, "a path or null"),
        ("ks", "12", "a list of integers"),
        ("ks", [1, 2.5], "a list of integers"),
        ("pair", [1], "a list of 2 items (an integer, a string)"),
        ("sizes", [True], "a list of integers or null"),
    ],
)
def test_wrong_types_are_one_line_errors(key: str, value, valid: str) -> None:
    with pytest.raises(ValueError) as info:
        _check(**{key: value})
    msg = str(info.value)
    assert msg == f"index.{key}={value!r} is invalid; valid: {valid}"
    assert "\n" not in msg


def test_unknown_key_lists_the_valid_ones_without_runtime_names() -> None:
    with pytest.raises(ValueError) as info:
        _check(ef=10)
    msg = str(info.value)
    assert msg.startswith("index.ef is not a parameter of Backend; valid: M, lr, limit, ")
    assert "metric" not in msg


def test_runtime_parameter_may_not_be_set() -> None:
    with pytest.raises(ValueError, match=r"^index\.metric is set by the harness"):
        _check(metric="ip")


def test_functions_with_var_keywords_and_dataclasses() -> None:
    out = check_call(load, {"limit": 3, "free": "x"}, prefix="dataset", runtime=["cache_dir"])
    assert out == {"limit": 3, "free": "x"}
    with pytest.raises(ValueError, match=r"^dataset\.limit=0\.5 is invalid; valid: an integer$"):
        check_call(load, {"limit": 0.5}, prefix="dataset", runtime=["cache_dir"])
    assert check_call(Settings, {"k": 5, "eps": 0}, prefix="") == {"k": 5, "eps": 0.0}
    with pytest.raises(ValueError, match=r"^k is required by Settings"):
        check_call(Settings, {}, prefix="")
    with pytest.raises(ValueError, match=r"^k=False is invalid; valid: an integer$"):
        check_call(Settings, {"k": False}, prefix="")


def test_omegaconf_containers_are_sequences_and_shown_plainly() -> None:
    from omegaconf import OmegaConf

    node = OmegaConf.create({"ks": [1, 2], "bad": [1, "x"]})
    assert _check(ks=node.ks)["ks"] == [1, 2]
    with pytest.raises(ValueError, match=r"^index\.ks=\[1, 'x'\] is invalid"):
        _check(ks=node.bad)


def test_check_value_alone() -> None:
    assert check_value("encoder", "lr", 2, float) == 2.0
    with pytest.raises(ValueError, match=r"^encoder\.epochs='3' is invalid; valid: an integer$"):
        check_value("encoder", "epochs", "3", int)


@pytest.mark.parametrize(
    ("kwargs", "value", "valid"),
    [
        ({"minimum": 1}, 0, "an integer >= 1"),
        ({"minimum": 1}, -3, "an integer >= 1"),
        ({"minimum": 1}, 1.5, "an integer >= 1"),
        ({"minimum": 1}, True, "an integer >= 1"),
        ({"maximum": 1.0}, 1.5, "a number <= 1.0"),
        ({"minimum": 0.0, "maximum": 1.0}, float("nan"), "a number between 0.0 and 1.0"),
        ({"minimum": 0, "maximum": 10}, 11, "an integer between 0 and 10"),
        ({"choices": ["cosine", "ip"]}, "l2", "one of cosine, ip"),
    ],
)
def test_check_range_rejects(kwargs: dict, value, valid: str) -> None:
    with pytest.raises(ValueError) as info:
        check_range("index", "ef", value, **kwargs)
    assert str(info.value) == f"index.ef={value!r} is invalid; valid: {valid}"


def test_check_range_accepts_and_returns() -> None:
    assert check_range("index", "ef", 1, minimum=1) == 1
    assert check_range("", "eps", 0.5, minimum=0.0, maximum=1.0) == 0.5
    assert check_range("", "metric", "ip", choices=("cosine", "ip")) == "ip"
    assert check_range("", "x", "anything") == "anything"


# ---- unique_knob_values: a repeated knob value is one operating point (issue 25) ------------


@pytest.mark.parametrize(
    "values, kept, dropped",
    [
        ([10, 10, 20], [10, 20], [10]),
        ([20, 10, 20, 10, 10], [20, 10], [20, 10, 10]),
        ([10, 20, 40], [10, 20, 40], []),
        ([], [], []),
        ([10, np.int64(10)], [10], [np.int64(10)]),
        ([1, True], [1, True], []),  # a bool is not 1: the knob check rejects it on its own
        ([10, 10.0], [10, 10.0], []),  # nor is 10.0 10
        ([[1, 2], [1, 2], 3], [[1, 2], 3], [[1, 2]]),  # unhashable values are compared too
        (["a", "a"], ["a"], ["a"]),
    ],
)
def test_unique_knob_values(values, kept, dropped) -> None:
    got_kept, got_dropped = unique_knob_values(values)
    assert got_kept == kept and [type(v) for v in got_kept] == [type(v) for v in kept]
    assert got_dropped == dropped


def test_unique_knob_values_says_what_it_dropped(caplog) -> None:
    with caplog.at_level("WARNING", logger="lookup.params"):
        assert unique_knob_values([10, 10, 20, 20], name="ef") == ([10, 20], [10, 20])
    assert caplog.messages == [
        "index.search.ef: repeated values 10, 20 dropped (each operating point is measured once)"
    ]
    caplog.clear()
    with caplog.at_level("WARNING", logger="lookup.params"):
        unique_knob_values([10, 20], name="ef")
        unique_knob_values([10, 10])  # no name: the caller logs
    assert caplog.messages == []
