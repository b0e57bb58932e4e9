"""From a composed Hydra config to the engine's typed job (:class:`lookup.job.Job`).

The only place where the config becomes plain Python: each option group becomes an
:class:`lookup.job.Option` (its resolved keys, ``_target_`` included, and the name it was
chosen by), the top-level keys become :class:`lookup.job.Settings`, the index's ``search``
node becomes the knob grid, and Hydra's choices, overrides and launcher become the row's
describing columns. After this, nothing downstream sees OmegaConf.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from lookup.codes import Codes
from lookup.errors import BadInput
from lookup.experiment import search_grid
from lookup.job import GROUPS, Job, Option, Settings
from lookup.params import check_call, check_range
from lookup.registry import short_name

_KINDS = {"dataset": "dataset", "encoder": "encoder", "index": "index"}


def plain(node: Any) -> Any:
    """A config node as plain Python (resolved); other values as they are."""
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def hydra_info() -> dict[str, str]:
    """Choices, overrides and launcher of the running Hydra job ('' outside one)."""
    empty = {f"choice_{g}": "" for g in (*GROUPS, "experiment")}
    empty.update(overrides="", launcher="")
    try:
        from hydra.core.hydra_config import HydraConfig

        hc = HydraConfig.get()
    except (ImportError, ValueError):
        return empty
    choices = hc.runtime.choices
    out = {f"choice_{g}": str(choices.get(g) or "") for g in (*GROUPS, "experiment")}
    out.update(
        overrides=" ".join(hc.overrides.task),
        launcher=str(choices.get("hydra/launcher") or "basic"),
    )
    return out


def option_name(cfg: DictConfig, group: str) -> str:
    """The ``<group>=`` choice of the running Hydra job, else the registry name of the
    option's ``_target_`` ("none" when it has none)."""
    choice = hydra_info().get(f"choice_{group}")
    if choice:
        return choice
    node = cfg.get(group)
    if not node or node.get("_target_") is None:
        return "none"
    return short_name(str(node._target_), _KINDS[group])


# Keys every encoder option accepts (conf/config.yaml): the code of its output, not the model's.
CODE_KEYS = ("output", "truncate_dim")


def option_of(cfg: DictConfig, group: str) -> Option | None:
    """The option ``group`` of the config (None when it has no ``_target_``: encoder=none);
    the encoder's code keys are left out (they go to :func:`codes_of`)."""
    node = plain(cfg.get(group))
    if not isinstance(node, Mapping) or node.get("_target_") is None:
        return None
    if group == "encoder":
        node = {k: v for k, v in node.items() if k not in CODE_KEYS}
    return Option(option_name(cfg, group), dict(node))


def codes_of(cfg: DictConfig) -> Codes:
    """``encoder.output`` and ``encoder.truncate_dim``, checked (one-line BadInput)."""
    node = plain(cfg.get("encoder")) or {}
    given = {k: node[k] for k in CODE_KEYS if isinstance(node, Mapping) and k in node}
    return Codes(**check_call(Codes, given, prefix="encoder"))


def settings_of(cfg: DictConfig) -> Settings:
    """The measurement settings (top-level keys), checked: one-line BadInput otherwise."""
    given = {k: plain(cfg[k]) for k in Settings.keys() if k in cfg}
    return Settings(**check_call(Settings, given, prefix=""))


@dataclass(frozen=True)
class Storing:
    """The top-level keys that decide how rows are stored and summarised, not measured."""

    force: bool = False
    target_recall: float = 0.95

    def __post_init__(self) -> None:
        check_range("", "target_recall", self.target_recall, minimum=0.0, maximum=1.0)


def storing_of(cfg: DictConfig) -> Storing:
    """``force`` and ``target_recall`` of the config, checked (one-line BadInput)."""
    given = {k: plain(cfg[k]) for k in ("force", "target_recall") if k in cfg}
    return Storing(**check_call(Storing, given, prefix=""))


def job_of(cfg: DictConfig, *, kind: str = "job", options: Mapping[str, Any] | None = None) -> Job:
    """The typed job of a composed config. ``kind`` and ``options`` are for commands that
    measure other row kinds (the probe)."""
    dataset = option_of(cfg, "dataset")
    if dataset is None:
        raise BadInput("dataset has no _target_; valid: dataset=<one of the dataset options>")
    index = option_of(cfg, "index")
    grid = search_grid(plain(index.params.get("search")) if index is not None else None)
    labels = {k: v for k, v in hydra_info().items() if v != ""}
    cache = cfg.get("cache_dir")
    return Job(
        dataset=dataset,
        encoder=option_of(cfg, "encoder"),
        index=index,
        settings=settings_of(cfg),
        cache_dir=cache if isinstance(cache, str) else repr(cache),
        grid=grid,
        kind=kind,
        options=dict(options or {}),
        labels=labels,
        codes=codes_of(cfg),
    )
