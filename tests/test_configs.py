"""Every config option composes, opens with its one-line comment, and names real keywords."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import get_method
from omegaconf import OmegaConf

from bench.jobs import CODE_KEYS

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


def composed(group: str, option: str):
    """The option as Hydra composes it (a preset merged over its base)."""
    return compose_with(f"{group}={option}")[group]


@pytest.mark.parametrize("group", ("dataset", "encoder", "index"))
def test_config_keys_are_constructor_keywords(group: str) -> None:
    for option in options(group):
        node = composed(group, option)
        if not node or "_target_" not in node:
            continue
        params = inspect.signature(get_method(node._target_)).parameters
        harness = CODE_KEYS if group == "encoder" else ()  # keys every encoder accepts
        keys = [k for k in node if k not in ("_target_", "search", "defaults", *harness)]
        unknown = [k for k in keys if k not in params]
        assert not unknown, f"{group}/{option}: keys {unknown} are not arguments of {node._target_}"


def _base_of(raw) -> str | None:
    """The option of the same group a preset extends (its defaults list names it)."""
    for entry in raw.get("defaults") or []:
        if isinstance(entry, str) and entry != "_self_" and "/" not in entry:
            return entry
    return None


def _same(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return type(a) is type(b) and a == b or (isinstance(a, float) and a == b)


@pytest.mark.parametrize(
    "group,option", [(g, o) for g in ("dataset", "encoder", "index") for o in options(g)]
)
def test_every_value_is_declared_once(group: str, option: str) -> None:
    """A base option states its class's own defaults (so the Python and the YAML cannot
    drift); a preset names its base in its defaults list and sets only what differs."""
    raw = OmegaConf.to_container(OmegaConf.load(CONF / group / f"{option}.yaml"), resolve=False)
    node = composed(group, option)
    if not node or "_target_" not in node:
        return
    params = inspect.signature(get_method(node._target_)).parameters
    base = _base_of(raw)
    if base is not None:
        base_raw = OmegaConf.to_container(OmegaConf.load(CONF / group / f"{base}.yaml"))
    for key, value in raw.items():
        if key in ("_target_", "search", "defaults") or (isinstance(value, str) and "${" in value):
            continue
        if base is not None:  # what the base sets, the preset may only change
            if key in base_raw:
                assert not _same(value, base_raw[key]), f"{group}/{option}: {key} repeats {base}"
            continue
        default = params[key].default
        assert _same(value, default), (
            f"{group}/{option}: {key}={value!r} but {node._target_} declares {default!r}; "
            "declare it once (the class default) or make this option a preset of another"
        )


def test_index_search_knobs_are_valid() -> None:
    for option in options("index"):
        node = composed("index", option)
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
