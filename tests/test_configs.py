"""Every config option composes, opens with its one-line comment, and names real keywords."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import get_method
from omegaconf import OmegaConf

CONF = Path(__file__).resolve().parents[1] / "conf"
GROUPS = ("dataset", "encoder", "index", "experiment")


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def compose_with(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_composes(group: str, option: str) -> None:
    cfg = compose_with(f"{group}={option}")
    OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves


@pytest.mark.parametrize(
    "path", sorted(CONF.rglob("*.yaml")), ids=lambda p: str(p.relative_to(CONF))
)
def test_option_files_open_with_a_comment(path: Path) -> None:
    first = path.read_text().splitlines()[0]
    assert first.startswith("#"), f"{path} must open with a one-line comment saying what it is"


@pytest.mark.parametrize("group", ("dataset", "encoder", "index"))
def test_config_keys_are_constructor_keywords(group: str) -> None:
    for option in options(group):
        node = OmegaConf.load(CONF / group / f"{option}.yaml")
        if "_target_" not in node:
            continue
        params = inspect.signature(get_method(node._target_)).parameters
        keys = [k for k in node if k not in ("_target_", "search", "defaults")]
        unknown = [k for k in keys if k not in params]
        assert not unknown, f"{group}/{option}: keys {unknown} are not arguments of {node._target_}"


def test_index_search_knobs_are_valid() -> None:
    for option in options("index"):
        node = OmegaConf.load(CONF / "index" / f"{option}.yaml")
        cls = get_method(node._target_)
        for knob, values in (node.get("search") or {}).items():
            names = [k.name for k in cls.KNOBS]
            assert knob in names, f"index/{option}: unknown knob {knob}"
            assert OmegaConf.is_list(values), f"index/{option}: search.{knob} must be a list"


def test_defaults_and_job_name() -> None:
    cfg = compose_with()
    assert cfg.k > 0 and cfg.metric == "cosine"
    assert cfg.dataset._target_.endswith("load_names")  # registry-free: a loader function
    assert cfg.encoder.task == "predict" and cfg.encoder.pooling == "gather"
    raw = OmegaConf.load(CONF / "config.yaml")
    assert raw.defaults[0] == "_self_"
    assert raw.hydra.job.name == "bench"
