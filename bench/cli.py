"""The entry points' front door: Hydra with one-line errors, exit codes a script can test.

``run_app(task)`` is what every ``main()`` of the bench app calls instead of decorating with
``@hydra.main`` itself:

1. ``index.search.<knob>=...`` written without ``+``/``++``/``~`` becomes
   ``++index.search.<knob>=...``, so an unknown knob reaches the backend's own
   ``valid: ef`` message instead of Hydra's struct error;
2. the overrides are parsed and the config composed once per distinct value of every sweep
   override, so bad override syntax, an unknown group option, an unknown key or a ``+`` too
   many is ONE line ``error: ...`` on stderr with exit code 2 (Hydra prints many lines and
   exits 1);
3. the task runs under ``hydra.main``; a bad-input exception (``bench.errors.USER_ERRORS``,
   unwrapping Hydra's InstantiationException) is one line and exit 2;
4. Ctrl-C anywhere is one line, ``interrupted; finished configurations are in TABLE``, and
   exit code 130, without a traceback.

Hydra's flags (``--help``, ``--cfg job``, ``-m``/``--multirun``, ``hydra/launcher=...``)
work as before; a closed stdout (``... | head``) ends quietly with exit code 141. Hydra gets
the config folder as an absolute path (``<repo>/conf``): from a module, ``"../conf"`` would
resolve to ``pkg://conf``, which only imports when the current directory is the repo root.

``compose_and_run(task, argv)`` does steps 1-4 with one composition and no Hydra launcher,
for tests that run many jobs in one process.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from bench import errors
from bench.errors import (
    EXIT_BAD_INPUT,
    EXIT_INTERRUPTED,
    interrupted_line,
    is_user_error,
    one_line,
    root_cause,
)
from lookup.kernels import prepare_kernels

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
CONFIG_NAME = "config"
TABLE_KEY = "results.table"
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a closed pipe

# Hydra flags that point it at another config (or a stored one); each takes a value.
_OTHER_CONFIG_FLAGS = {
    "--config-path",
    "-cp",
    "--config-name",
    "-cn",
    "--config-dir",
    "-cd",
    "--experimental-rerun",
}
# Hydra flags that take the next argument as their value ("--info" takes one optionally).
_VALUE_FLAGS = {"--cfg", "-c", "--package", "-p"} | _OTHER_CONFIG_FLAGS
_INFO_FLAGS = {"--info", "-i"}
_INFO_VALUES = {"all", "config", "defaults", "defaults-tree", "plugins", "searchpath"}
# Flags after which Hydra does not run the task on this config (or reads another config).
_NO_PRECHECK = {
    "--help",
    "-h",
    "--hydra-help",
    "--version",
    "--shell-completion",
    "-sc",
    *_INFO_FLAGS,
    *_OTHER_CONFIG_FLAGS,
}
_MULTIRUN_FLAGS = {"--multirun", "-m"}
_SEARCH_KNOB = re.compile(r"^index\.search\.[^=]+=")


class BadInput(errors.BadInput):
    """A command-line problem found before Hydra starts; its message is the one line."""


def _is_flag(argv: list[str]) -> list[bool]:
    """For each argument of a Hydra command line: a flag or a flag's value (else an override)."""
    marks = [False] * len(argv)
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("-"):
            marks[i] = True
            name = arg.split("=", 1)[0]
            takes = "=" not in arg and name in _VALUE_FLAGS
            takes = takes or (
                name in _INFO_FLAGS and i + 1 < len(argv) and argv[i + 1] in _INFO_VALUES
            )
            if takes and i + 1 < len(argv):
                marks[i + 1] = True
                i += 1
        i += 1
    return marks


def split_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """(flags with their values, overrides) of a Hydra command line, each in order."""
    marks = _is_flag(argv)
    return (
        [a for a, flag in zip(argv, marks, strict=True) if flag],
        [a for a, flag in zip(argv, marks, strict=True) if not flag],
    )


def rewrite_search_knobs(argv: list[str]) -> list[str]:
    """``index.search.<knob>=v`` -> ``++index.search.<knob>=v`` (any knob name is accepted
    by the config; the backend says which are valid). Flags and other overrides unchanged."""
    marks = _is_flag(argv)
    return [
        "++" + a if not flag and _SEARCH_KNOB.match(a) else a
        for a, flag in zip(argv, marks, strict=True)
    ]


def _options(group: str) -> list[str]:
    """The option names of a config group of this app (conf/<group>/*.yaml)."""
    folder = CONF_DIR / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def _parse(overrides: list[str]) -> list[Any]:
    """Parsed overrides; bad syntax is a BadInput naming the override."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    parsed = []
    for text in overrides:
        try:
            parsed.append(parser.parse_override(text))
        except HydraException as exc:
            lines = [
                line.strip()
                for line in str(exc).splitlines()
                if line.strip()
                and not line.startswith("See https://")
                and not line.startswith("Error parsing override")
            ]
            reason = lines[0] if lines else "cannot be parsed"
            raise BadInput(
                f"{text} is not a valid override ({reason}); "
                "the form is key=value, +key=value, ~key (see "
                "https://hydra.cc/docs/advanced/override_grammar/basic)"
            ) from None
    return parsed


def _values(override: Any) -> list[str]:
    """The distinct values a (sweep) override takes, as override value strings."""
    from hydra.core.override_parser.types import ValueType

    if not override.is_sweep_override():
        return [override.get_value_element_as_str()]
    if override.value_type == ValueType.GLOB_CHOICE_SWEEP:
        names = override.value().filter(_options(override.key_or_group))
        return names or [override.value().include[0]]
    if override.value_type == ValueType.INTERVAL_SWEEP:
        raise BadInput(
            f"{override.input_line} is invalid; interval() sweeps need a sweeper plugin "
            "(e.g. Optuna), the basic sweeper takes a,b,c or range()"
        )
    return list(dict.fromkeys(override.sweep_string_iterator()))


def _compositions(parsed: list[Any]) -> Iterator[list[str]]:
    """Override lists to compose: all at their first value, then each sweep value in turn."""
    first = [
        f"{o.get_key_element()}={_values(o)[0]}" if o.is_sweep_override() else o.input_line
        for o in parsed
    ]
    yield first
    for i, o in enumerate(parsed):
        if o.is_sweep_override():
            for value in _values(o)[1:]:
                yield [*first[:i], f"{o.get_key_element()}={value}", *first[i + 1 :]]


def _compose(overrides: list[str]) -> DictConfig:
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name=CONFIG_NAME, overrides=overrides, return_hydra_config=True)


def _keys_under(overrides: list[str], dotted: str) -> tuple[str, list[str]]:
    """(deepest existing parent of ``dotted``, its keys) in the config these group choices
    compose to; for the 'valid:' part of an unknown-key message."""
    groups = [
        o
        for o in overrides
        if "=" in o
        and not o.startswith(("+", "~"))
        and ("/" in o.split("=", 1)[0] or _options(o.split("=", 1)[0]))
    ]
    try:
        cfg = _compose(groups)
    except Exception:  # noqa: BLE001 - only for a hint; the error is reported anyway
        return "", []
    parts = dotted.split(".")[:-1]
    node: Any = cfg
    walked: list[str] = []
    for part in parts:
        if not isinstance(node, DictConfig) or part not in node:
            break
        node = node[part]
        walked.append(part)
    if not isinstance(node, DictConfig):
        return ".".join(walked), []
    keys = [str(k) for k in node.keys() if not (not walked and k == "hydra")]
    keys = [k for k in keys if not (k.startswith("_") and k.endswith("_"))]
    return ".".join(walked), keys


def _options_with(group: str, key: str, value: str = "") -> list[str]:
    """The options of config group ``group`` whose composed node has the key ``key``, the one
    whose own value looks most like ``value`` first (``IVF1024,Flat`` -> faiss_ivf)."""
    found = []
    for option in _options(group):
        try:
            node = _compose([f"{group}={option}"]).get(group)
        except Exception:  # noqa: BLE001 - only for a hint
            continue
        if isinstance(node, DictConfig) and key in node:
            own = str(OmegaConf.to_container(node, resolve=False).get(key)).lower()
            alike = len(os.path.commonprefix([own, value.strip("'\"").lower()]))
            found.append((-alike, option))
    return [o for _, o in sorted(found)]


def _explain(exc: Exception, overrides: list[str], parsed: list[Any]) -> str:
    """One line for a composition error of these overrides."""
    from hydra.errors import MissingConfigException

    by_key = {o.key_or_group: o for o in parsed}
    text = str(exc)
    if isinstance(exc, MissingConfigException) and exc.missing_cfg_file:
        group, _, name = exc.missing_cfg_file.rpartition("/")
        if group:
            options = list(exc.options or []) or _options(group)
            valid = ", ".join(options) if options else "none found"
            return f"{group}={name} is invalid; valid: {valid}"
    m = re.match(r"Could not override '([^']+)'", text)
    if m:
        key = m.group(1)
        o = by_key.get(key)
        shown = o.input_line if o is not None else key
        value = o.get_value_element_as_str() if o is not None else "VALUE"
        parent, keys = _keys_under(overrides, key)
        where = f" under {parent}" if parent else ""
        valid = f"valid{where}: {', '.join(keys)}; " if keys else ""
        group, _, leaf = key.partition(".")
        owners = _options_with(group, leaf, value) if leaf and "." not in leaf else []
        if owners:  # another option of the group has this key: choose it, do not add a key
            chosen = next((o for o in overrides if o.startswith(f"{group}=")), None)
            which = f"{group}={chosen.split('=', 1)[1]}" if chosen else f"the default {group}"
            return (
                f"{shown} is invalid; {key} is not a setting of {which} ({valid.rstrip('; ')}); "
                f"the {group} options that have it: {', '.join(owners)} "
                f"(e.g. {group}={owners[0]} {shown})"
            )
        return (
            f"{shown} is invalid; {key} is not a setting of this config ({valid}"
            f"write +{key}={value} to add a new key)"
        )
    m = re.match(r"Could not append to config. An item is already at '([^']+)'", text)
    if m:
        key = m.group(1)
        o = by_key.get(key)
        shown = o.input_line if o is not None else f"+{key}"
        return f"{shown} is invalid; {key} already exists: drop the + to change it"
    m = re.match(r"Could not delete from config. '([^']+)' does not exist", text)
    if m:
        return f"~{m.group(1)} is invalid; {m.group(1)} does not exist in this config"
    m = re.match(r"Ambiguous value for argument '([^']+)'", text)
    if m:
        return (
            f"{m.group(1)} is invalid without -m: add -m (--multirun) to sweep it, write "
            "[a,b] for a list or quote it ('a,b') for a string"
        )
    text = text.split("Config search path:")[0]
    return " ".join(text.split()) or type(exc).__name__


def precheck(argv: list[str]) -> DictConfig | None:
    """Parse and compose the command line's overrides as Hydra will; BadInput for any problem.

    Returns the first composed config (None when Hydra will not compose this app's config,
    e.g. ``--help`` or another config dir).
    """
    flags, overrides = split_args(argv)
    if any(f.split("=", 1)[0] in _NO_PRECHECK for f in flags):
        return None
    multirun = any(f in _MULTIRUN_FLAGS for f in flags)
    parsed = _parse(overrides)
    if not multirun:
        sweeps = [o for o in parsed if o.is_sweep_override()]
        if sweeps:
            raise BadInput(
                f"{sweeps[0].input_line} is invalid without -m: add -m (--multirun) to sweep "
                "it, write [a,b] for a list or quote it ('a,b') for a string"
            )
    first: DictConfig | None = None
    for combo in _compositions(parsed):
        try:
            cfg = _compose(combo)
        except Exception as exc:  # noqa: BLE001 - Hydra's and OmegaConf's many error types
            raise BadInput(_explain(exc, combo, parsed)) from None
        if first is None:
            first = cfg
    return first


def _table_of(cfg: DictConfig | None, table_key: str | None) -> str | None:
    if cfg is None or table_key is None:
        return None
    try:
        value = OmegaConf.select(cfg, table_key, default=None)
    except Exception:  # noqa: BLE001 - an unresolvable value: no table to name
        return None
    return None if value is None else str(value)


def _fail(line: str, code: int) -> None:
    sys.stdout.flush()
    print(line, file=sys.stderr, flush=True)
    sys.exit(code)


# Library loggers that speak at INFO about their own loading (faiss lists every SIMD module it
# tries; torch logs cache statistics at exit): quiet, as conf/config.yaml's job_logging says.
NOISY_LOGGERS = ("faiss", "torch")


def log_like_the_app() -> None:
    """Logging for the commands that do not run under Hydra's job logging (bench.tune,
    bench.first_impression): INFO to stderr in the app's format, noisy libraries at WARNING."""
    logging.basicConfig(
        level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"
    )
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def _stdout_closed() -> None:
    """The reader of stdout went away (``... | head``): exit quietly, as a shell tool does,
    without a traceback; further writes (and the final flush) go to /dev/null."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(EXIT_BROKEN_PIPE)


def _quiet_at_exit() -> None:
    """No log lines after the job's last word: torch logs FakeTensor cache statistics at INFO
    from an atexit hook, which Hydra's INFO root logger would print after an error line."""
    logging.getLogger("torch").setLevel(logging.WARNING)


def _guarded(task: Callable[[DictConfig], None], cfg: DictConfig) -> None:
    """``task(cfg)`` with bad input turned into one line and exit code 2."""
    try:
        task(cfg)
    except KeyboardInterrupt:
        raise
    except BrokenPipeError:
        _stdout_closed()
    except Exception as exc:  # noqa: BLE001 - filtered just below
        cause = root_cause(exc)
        if not is_user_error(cause):
            raise
        _fail(one_line(cause), EXIT_BAD_INPUT)


def compose_and_run(
    task: Callable[[DictConfig], None],
    argv: list[str],
    *,
    table_key: str | None = TABLE_KEY,
) -> None:
    """``run_app``'s checks and handlers without Hydra's launcher, for tests: one config
    composed (the precheck's) with ``HydraConfig`` set, then ``task(cfg)``. Single runs only
    (no ``-m``); no run folder, no logging set-up. Exits 2 on bad input, 130 on Ctrl-C."""
    from hydra.core.hydra_config import HydraConfig

    prepare_kernels()
    args = rewrite_search_knobs(list(argv))
    table = None
    try:
        try:
            cfg = precheck(args)
        except BadInput as exc:
            _fail(one_line(exc), EXIT_BAD_INPUT)
        if cfg is None:
            raise ValueError(f"compose_and_run cannot honour these flags: {' '.join(args)}")
        table = _table_of(cfg, table_key)
        HydraConfig.instance().set_config(cfg)
        _guarded(task, cfg)
    except KeyboardInterrupt:
        _fail(interrupted_line(table), EXIT_INTERRUPTED)


def run_app(
    task: Callable[[DictConfig], None],
    argv: list[str] | None = None,
    *,
    table_key: str | None = TABLE_KEY,
) -> None:
    """Run ``task(cfg)`` as a Hydra app of ``conf/config.yaml`` with one-line errors.

    ``argv`` defaults to ``sys.argv[1:]``. Exit codes: 2 for bad input (one ``error:`` line
    on stderr), 130 for Ctrl-C (one ``interrupted`` line naming the ``table_key`` value, the
    table where finished configurations are; ``table_key=None`` for apps without one).
    """
    prepare_kernels()  # before anything loads faiss's OpenBLAS (lookup.kernels)
    import hydra

    args = rewrite_search_knobs(list(sys.argv[1:] if argv is None else argv))
    state: dict[str, str | None] = {"table": None}
    try:
        try:
            state["table"] = _table_of(precheck(args), table_key)
        except BadInput as exc:
            _fail(one_line(exc), EXIT_BAD_INPUT)

        # An absolute config path: Hydra resolves "../conf" from a module as pkg://conf,
        # which only imports when the current directory is the repository root.
        @hydra.main(config_path=str(CONF_DIR), config_name=CONFIG_NAME, version_base="1.3")
        def _job(cfg: DictConfig) -> None:
            state["table"] = _table_of(cfg, table_key) or state["table"]
            _guarded(task, cfg)

        saved = sys.argv
        sys.argv = [saved[0] if saved else "bench", *args]
        try:
            _job()
        finally:
            sys.argv = saved
            _quiet_at_exit()
    except KeyboardInterrupt:
        _fail(interrupted_line(state["table"]), EXIT_INTERRUPTED)
    except BrokenPipeError:
        _stdout_closed()
