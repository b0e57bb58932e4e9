"""`python -m bench.tune experiment=tune_hnswlib [overrides ...]`: auto-tune build parameters
with optuna; every trial is a normal job (`bench.run.run`) whose rows land in the table.

The preset's ``tune`` node says what to search:

- ``tune.space``: the parameters, nested like the config (``index.M``), each a leaf
  ``{type: int|float|categorical, low, high, log, step, choices}``; parameters under
  ``tune.space.vars`` are not config keys but variables of ``tune.template``;
- ``tune.template``: config keys built from those variables, e.g. ``index.factory:
  "IVF{nlist},PQ{pq_m}np"`` (faiss: nlist and PQ size through the factory string);
- a parameter under ``index.search`` is a search knob: the trial measures just that value;
- ``tune.objective``: ``qps_at_recall`` (TPE, maximise the QPS of the trial's operating point
  at ``tune.target_recall``, 0 when no point reaches it) or ``pareto`` (NSGA-II, maximise
  recall and QPS of the trial's point; put the search knob into the space);
- ``tune.trials``, ``tune.seed``, ``tune.storage`` (an optuna storage URL to keep/resume a
  study; null: in memory), ``tune.study_name``.

Why not the Hydra plugin hydra-optuna-sweeper: its latest release (1.3.0) pins
``optuna>=2.10,<3``, so pip either downgrades optuna to 2.10.1 (2021) or refuses to install it
next to a maintained optuna; this command needs only optuna (the ``tune`` extra).
A trial whose configuration was already measured (same config_id) reuses its stored rows.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf, open_dict

from bench.cli import log_like_the_app
from bench.errors import is_user_error, one_line, root_cause
from lookup import frontier
from lookup.errors import BadInput
from lookup.kernels import prepare_kernels

log = logging.getLogger("bench.tune")

CONF = Path(__file__).resolve().parents[1] / "conf"
OBJECTIVES = ("qps_at_recall", "pareto")
_DIST_KEYS = {"type", "low", "high", "log", "step", "choices"}


def flatten(node: Mapping, prefix: str = "", *, leaf=None) -> dict[str, Any]:
    """{'index': {'M': {...}}} -> {'index.M': {...}}; ``leaf(node)`` says where to stop."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and not (leaf and leaf(value)):
            out.update(flatten(value, f"{path}.", leaf=leaf))
        else:
            out[path] = value
    return out


def _is_dist(node: Mapping) -> bool:
    return "type" in node and set(node) <= _DIST_KEYS


def parse_space(space: Mapping) -> dict[str, dict]:
    """Flatten ``tune.space`` into {path: distribution};
    BadInput on a malformed leaf."""
    flat = flatten(space, leaf=_is_dist)
    for path, dist in flat.items():
        if not isinstance(dist, Mapping) or not _is_dist(dist):
            raise BadInput(
                f"tune.space.{path} is not a distribution; use "
                "{type: int|float|categorical, low, high, log} or {type: categorical, choices}"
            )
        kind = dist["type"]
        if kind == "categorical":
            if not dist.get("choices"):
                raise BadInput(f"tune.space.{path}: categorical needs choices")
        elif kind in ("int", "float"):
            if dist.get("low") is None or dist.get("high") is None:
                raise BadInput(f"tune.space.{path}: {kind} needs low and high")
            if not dist["low"] <= dist["high"]:
                raise BadInput(f"tune.space.{path}: low > high")
        else:
            raise BadInput(f"tune.space.{path}: type {kind!r}; valid: int, float, categorical")
    return flat


def suggest(trial, space: Mapping[str, Mapping]) -> dict[str, Any]:
    """One value per parameter of the flattened space, from an optuna trial."""
    values = {}
    for path, d in space.items():
        if d["type"] == "int":
            values[path] = trial.suggest_int(
                path, int(d["low"]), int(d["high"]), log=bool(d.get("log")), step=d.get("step") or 1
            )
        elif d["type"] == "float":
            values[path] = trial.suggest_float(
                path, float(d["low"]), float(d["high"]), log=bool(d.get("log")), step=d.get("step")
            )
        else:
            values[path] = trial.suggest_categorical(path, list(d["choices"]))
    return values


def _quote(value: Any) -> str:
    """A Hydra override value: strings quoted (factory strings hold commas)."""
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return str(value)


def trial_overrides(values: Mapping[str, Any], template: Mapping[str, str]) -> list[str]:
    """Hydra overrides for one trial: config keys directly (a search knob as a one-value list),
    ``vars.*`` only through the template strings."""
    variables = {k.removeprefix("vars."): v for k, v in values.items() if k.startswith("vars.")}
    out = []
    for path, value in values.items():
        if path.startswith("vars."):
            continue
        out.append(f"{path}=[{value}]" if path.startswith("index.search.") else f"{path}={value}")
    for path, pattern in template.items():
        try:
            out.append(f"{path}={_quote(str(pattern).format(**variables))}")
        except KeyError as exc:
            raise BadInput(
                f"tune.template.{path} uses {exc.args[0]!r}, which is not in tune.space.vars"
            ) from None
    return out


def _rows_of(rows: list[dict]) -> pd.DataFrame:
    """The trial's rows (just measured, or the stored ones when the configuration was already
    in the table: `bench.run.run` returns those), with numeric columns as numbers."""
    df = pd.DataFrame(rows)
    for c in ("recall_at_k", "recall_at_k_ci_low", "qps", "n_repeats", "latency_p99_ms"):
        if c in df:
            df[c] = pd.to_numeric(df[c], errors="coerce")
    return df


def _point(df: pd.DataFrame, target: float) -> tuple[pd.Series | None, float]:
    if df.empty:
        return None, math.nan
    return frontier.operating_point(df, target)


class Tuner:
    """Composes each trial's config, runs the job, and scores its rows."""

    def __init__(self, overrides: list[str], tune: DictConfig):
        self.overrides = overrides
        self.space = parse_space(OmegaConf.to_container(tune.space, resolve=True))
        template = tune.get("template")
        self.template = flatten(OmegaConf.to_container(template, resolve=True) if template else {})
        self.objective = tune.objective
        self.failures: list[str] = []  # one line per trial that failed on bad input
        self.target = float(tune.target_recall)
        if self.objective not in OBJECTIVES:
            raise BadInput(f"tune.objective={self.objective}; valid: {', '.join(OBJECTIVES)}")
        if not 0 < self.target <= 1:
            raise BadInput(f"tune.target_recall={self.target} is invalid; use a number in (0, 1]")

    def compose(self, extra: list[str]) -> DictConfig:
        """The trial's config (Hydra's compose API), registered as the running Hydra config so
        rows record choices and overrides; the ``tune`` node is dropped so the config_id is
        the one a plain ``python -m bench`` job with these values would have."""
        from hydra import compose
        from hydra.core.hydra_config import HydraConfig

        cfg = compose(
            config_name="config", overrides=[*self.overrides, *extra], return_hydra_config=True
        )
        HydraConfig.instance().set_config(cfg)
        with open_dict(cfg):
            cfg.pop("tune", None)
        return cfg

    def __call__(self, trial):
        from bench.run import run

        extra = trial_overrides(suggest(trial, self.space), self.template)
        trial.set_user_attr("overrides", " ".join(extra))
        try:
            cfg = self.compose(extra)
            df = _rows_of(run(cfg))
        except Exception as exc:  # noqa: BLE001 - bad input fails this trial only
            cause = root_cause(exc)
            if not is_user_error(cause):
                raise
            self.failures.append(f"trial {trial.number} ({' '.join(extra)}): {cause}")
            log.warning("trial %d failed: %s", trial.number, one_line(cause))
            return (math.nan, math.nan) if self.objective == "pareto" else math.nan  # FAIL
        if df.empty:
            raise RuntimeError(f"trial {trial.number} produced no rows")
        row, best = _point(df, self.target)
        trial.set_user_attr("best_recall", best)
        if self.objective == "pareto":
            # the trial's point: its operating point at the target, else its highest recall
            if row is None:
                row = df.loc[df["recall_at_k"].idxmax()]
            _remember(trial, row)
            return float(row["recall_at_k"]), float(row["qps"])
        if row is None:
            log.info(
                "trial %d: no point reaches recall %.4g (best %.6g)",
                trial.number,
                self.target,
                best,
            )
            return 0.0
        _remember(trial, row)
        return float(row["qps"])


def _remember(trial, row: pd.Series) -> None:
    """Keep the chosen point's identity on the trial (printed with the study's best)."""
    knobs = {k: row[k] for k in row.index if k.startswith("search_") and not _missing(row[k])}
    trial.set_user_attr("point", {k: frontier.format_value(v) for k, v in knobs.items()})
    trial.set_user_attr("recall_at_k", float(row["recall_at_k"]))
    trial.set_user_attr("qps", float(row["qps"]))
    trial.set_user_attr("config_id", str(row.get("config_id", "")))


def _missing(v) -> bool:
    return v is None or v == "" or (isinstance(v, float) and math.isnan(v))


def make_study(tune: DictConfig, objective: str):
    import optuna

    seed = tune.get("seed")
    if objective == "pareto":
        sampler = optuna.samplers.NSGAIISampler(seed=seed)
        directions = ["maximize", "maximize"]
    else:
        sampler = optuna.samplers.TPESampler(seed=seed)
        directions = ["maximize"]
    return optuna.create_study(
        study_name=tune.get("study_name"),
        storage=tune.get("storage"),
        load_if_exists=bool(tune.get("storage")),
        sampler=sampler,
        directions=directions,
    )


def describe_trial(t) -> str:
    attrs = t.user_attrs
    point = " ".join(f"{k.removeprefix('search_')}={v}" for k, v in attrs.get("point", {}).items())
    build = attrs.get("overrides", "")
    if "qps" not in attrs:
        return (
            f"trial {t.number}: {build}  no point reached (best recall {attrs.get('best_recall')})"
        )
    return (
        f"trial {t.number}: {build} {point}  recall={attrs['recall_at_k']:.6g} "
        f"qps={attrs['qps']:,.0f}  config_id={attrs.get('config_id', '')}"
    )


def tune(overrides: list[str]):
    """Run the study described by the composed config's ``tune`` node; returns the study and
    the ``tune`` settings."""
    import optuna
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
        if "tune" not in cfg:
            presets = sorted(p.stem for p in (CONF / "experiment").glob("tune_*.yaml"))
            choices = ", ".join(f"experiment={p}" for p in presets)
            raise BadInput(f"no tune settings; add one of: {choices}")
        settings = cfg.tune
        tuner = Tuner(overrides, settings)
        study = make_study(settings, tuner.objective)
        # a trial on bad input (e.g. a PQ size that does not divide the dimension) returns NaN:
        # optuna marks it failed and the study goes on
        study.optimize(tuner, n_trials=int(settings.trials))
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        first = tuner.failures[0] if tuner.failures else "see the log"
        raise BadInput(f"no trial completed ({len(study.trials)} tried); first failure: {first}")
    return study, settings


def report(study, objective: str, target: float) -> str:
    """The study's best, as printed at the end of a tuning run."""
    if objective == "pareto":
        lines = [f"Pareto front (recall, QPS) over {len(study.trials)} trials:"]
        best = sorted(study.best_trials, key=lambda t: t.values[0])
        lines += ["  " + describe_trial(t) for t in best]
        return "\n".join(lines)
    t = study.best_trial
    head = f"best QPS at recall >= {target:g} over {len(study.trials)} trials"
    if t.value <= 0:
        return f"{head}: no trial reached the target; best recall per trial is in the table"
    return f"{head}: {t.value:,.0f}\n  {describe_trial(t)}"


def main(argv: list[str] | None = None) -> int:
    """Entry point: Hydra overrides on the command line; bad input -> one line, exit 2."""
    from hydra.errors import HydraException

    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    log_like_the_app()
    prepare_kernels()  # before faiss loads
    try:
        study, settings = tune(list(argv))
    except Exception as exc:  # noqa: BLE001 - filtered just below
        cause = root_cause(exc)
        if not (isinstance(cause, HydraException) or is_user_error(cause)):
            raise
        print(one_line(cause), file=sys.stderr)
        return 2
    print(report(study, settings.objective, float(settings.target_recall)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
