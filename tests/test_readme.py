"""Keep the README true: every command in its ```bash blocks is run, composed or skipped here.

The rule: each command is matched against ``RULES`` (the longest token prefix wins; a rule
with ``whole=True`` matches only the entire command). A command no rule matches FAILS, so a
new README command forces a decision:

- ``run``: the command's own ``main(argv)`` runs in this process with its arguments plus the
  rule's quick overrides, the dataset's (``DATASET_QUICK``: ``dataset.limit=600`` for names)
  and ``ISOLATE`` (results table, embeddings, Hydra folders under tmp); it must exit 0 and
  print something. Later overrides win, so the README's own values stay, only made small.
- ``compose``: too long to run here; every configuration it would run is composed (all sweep
  values, as ``bench.cli.precheck`` does before a real run), and ``MODULE --help`` must work
  (checked once per module).
- ``help``: no Hydra config (argparse apps); ``MODULE --help`` must work.
- ``skip``: not a command of this package (install, the test suite itself); the reason says
  where it is covered.
"""

from __future__ import annotations

import importlib
import logging
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.cli import precheck

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"


@dataclass(frozen=True)
class Rule:
    prefix: str  # the command's first tokens, space-separated
    action: str  # run | compose | help | skip
    quick: tuple[str, ...] = ()  # extra overrides for "run"
    whole: bool = False  # match only the entire command
    why: str = ""


QUICK_TRAIN = ("encoder.epochs=1", "max_queries=40", "passes=1", "warmup=2")
RULES = [
    Rule("pip install", "skip", why=".ci/run installs the package in a fresh venv"),
    Rule("python -m pytest", "skip", why="the test suite itself"),
    Rule("python -m bench", "run", QUICK_TRAIN, whole=True),
    Rule("python -m bench encoder=rnn02 index=annoy index.trees=50", "run", QUICK_TRAIN),
    Rule("python -m bench -m", "compose", why="a sweep: many jobs"),
    Rule(
        "python -m bench filter=sweep",
        "run",
        (
            *QUICK_TRAIN,
            "filter.selectivity=[0.01,1.0]",
            "filter.oversample=[4]",
            "index.search.ef=[20]",
        ),
    ),
    Rule("python -m bench filter=labels", "compose", why="trains rnn02; tests/test_filters.py"),
    Rule("python -m bench dataset=coco_captions", "compose", why="COCO captions: minutes"),
    Rule("python -m bench.probe", "compose", why="COCO captions: minutes"),
    Rule("python -m bench.plot", "help", why="reads tables only"),
    Rule("python -m bench.lookup", "run", ("encoder.epochs=1", "k=5")),
    Rule("python -m bench.query", "run", ("encoder.epochs=1", "k=5")),
    Rule("python -m bench.embed", "run", ("encoder.epochs=1", "max_queries=40")),
    Rule("python -m bench.report", "help", why="reads tables only; tests/test_report.py"),
    Rule("python -m bench.plot_probe", "help", why="reads tables only; tests/test_probe.py"),
    Rule("python -m bench.plot_scaling", "help", why="reads tables only"),
    Rule("python -m bench.tune", "compose", why="20 optuna trials; tests/test_tune.py runs 2"),
    Rule("python -m bench -m experiment=scaling", "compose", why="up to 724k names"),
    Rule("python -m bench dataset.max_rank=null", "compose", why="all 724k names: minutes"),
    Rule(
        "python -m bench dataset=texts",
        "compose",
        why="encodes 20k surnames with MiniLM: a minute; tests/test_hf_encoders.py runs both "
        "encoders end to end on a CSV with tiny models",
    ),
    Rule(
        "python -m bench.first_impression",
        "help",
        why="trains three encoders; tests/test_first_impression.py runs two tiny ones",
    ),
    Rule("python -m bench -m hydra/launcher=ray", "skip", why="[cluster] extra; test_cluster"),
    Rule("python -m bench -m hydra/launcher=ray_latency", "skip", why="a running Ray cluster"),
    Rule("python -m bench -m hydra/launcher=submitit_slurm_latency", "skip", why="Slurm"),
    Rule("ray start", "skip", why="starts a Ray cluster node ([cluster] extra)"),
    Rule("python benchmarks/render.py", "skip", why="renders the benchmark JSON"),
    Rule("python -m bench workload=runbook", "compose", why="minutes; test_runbook: tiny ones"),
    Rule("python -m bench encoder.output=int8", "run", QUICK_TRAIN),
    Rule("python -m bench encoder.output=binary", "run", QUICK_TRAIN),
    Rule("python -m bench encoder.output=float16", "run", QUICK_TRAIN),
    Rule("python -m bench.rescore", "help", why="reads tables; tests/test_engine.py rescoring"),
    Rule("python -m bench.migrate", "help", why="reads tables; tests/test_migrate.py"),
    Rule("python -m bench workload=refresh", "compose", why="trains twice; test_refresh: a toy"),
]
DATASET_QUICK = {"names": ("dataset.limit=600",), "surnames": ()}  # for "run" commands
NEEDS_DATA = {"surnames"}  # datasets read from $LOOKUP_DATA_DIR


def isolate(tmp: Path) -> list[str]:
    """Everything a run writes goes under ``tmp``."""
    return [
        f"results.table={tmp / 'runs.csv'}",
        f"results.embeddings={tmp / 'embeddings'}",
        f"hydra.run.dir={tmp / 'run'}",
        f"hydra.sweep.dir={tmp / 'multirun'}",
        "hydra.output_subdir=null",
    ]


def readme_commands(text: str) -> list[str]:
    """Every command of the ```bash blocks, comments dropped, continuations joined."""
    commands = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.M | re.S):
        joined = re.sub(r"\\\n", " ", block)
        for line in joined.splitlines():
            tokens = shlex.split(line, comments=True)
            if tokens:
                commands.append(shlex.join(tokens))
    return commands


def rule_for(command: str) -> Rule:
    tokens = shlex.split(command)
    matches = []
    for rule in RULES:
        prefix = rule.prefix.split()
        if tokens[: len(prefix)] == prefix and (not rule.whole or len(tokens) == len(prefix)):
            matches.append((len(prefix), rule))
    if not matches:
        pytest.fail(
            f"README command {command!r} has no rule in tests/test_readme.py RULES: decide "
            "whether it runs here (with which quick overrides), is only composed, or is skipped"
        )
    return max(matches, key=lambda m: m[0])[1]


def _module_and_args(command: str) -> tuple[str, list[str]]:
    tokens = shlex.split(command)
    assert tokens[:2] == ["python", "-m"], command
    return tokens[2], tokens[3:]


def _main(module: str):
    mod = importlib.import_module(module)
    if not hasattr(mod, "main"):  # a package run as python -m: its __main__
        mod = importlib.import_module(f"{module}.__main__")
    return mod.main


def _call(main, argv: list[str]) -> int:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    return 0 if code is None else int(code)


def _dataset(args: list[str]) -> str:
    chosen = [a.split("=", 1)[1] for a in args if a.startswith("dataset=")]
    return chosen[-1] if chosen else "names"


def _overrides(module: str, args: list[str]) -> list[str]:
    """The Hydra part of a command line (bench.query/bench.lookup also take names)."""
    if module in ("bench.query", "bench.lookup"):
        from bench.query import split_names

        return split_names(args)[1]
    return args


@pytest.fixture(autouse=True)
def _restore_logging():
    """Hydra configures the root logger in-process; put it back after each command."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)


COMMANDS = readme_commands(README.read_text(encoding="utf-8"))


def test_the_readme_has_commands() -> None:
    assert len(COMMANDS) >= 5
    assert all(not c.startswith("$") for c in COMMANDS)


def test_extraction_rules() -> None:
    text = "x\n```bash\npython -m a k=1   # what\n  # only a comment\npython -m b \\\n  c=2\n```\n"
    assert readme_commands(text) == ["python -m a k=1", "python -m b c=2"]
    assert rule_for("python -m bench").action == "run"
    with pytest.raises(pytest.fail.Exception, match="has no rule"):
        rule_for("python -m bench.something_new x=1")
    with pytest.raises(pytest.fail.Exception, match="has no rule"):
        rule_for("python -m bench k=3")  # "python -m bench" matches only the whole command


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command(command: str, tmp_path: Path, capfd, data_dir_or_none) -> None:
    rule = rule_for(command)
    if rule.action == "skip":
        pytest.skip(f"{command}: {rule.why}")
    module, args = _module_and_args(command)
    main = _main(module)
    if rule.action == "compose":
        assert precheck(_overrides(module, args)) is not None
        return
    if rule.action == "help":
        return  # test_help below
    assert rule.action == "run", rule
    dataset = _dataset(_overrides(module, args))
    if dataset not in DATASET_QUICK:
        pytest.fail(f"{command!r} runs dataset={dataset}: add its quick overrides to DATASET_QUICK")
    if dataset in NEEDS_DATA and data_dir_or_none is None:
        pytest.skip(f"dataset={dataset} needs $LOOKUP_DATA_DIR")
    argv = [*args, *DATASET_QUICK[dataset], *rule.quick, *isolate(tmp_path)]
    capfd.readouterr()
    code = _call(main, argv)
    out, err = capfd.readouterr()
    assert code == 0, f"{shlex.join([module, *argv])}: exit {code}\n{err[-3000:]}"
    assert out.strip(), f"{command}: printed nothing"
    assert "Traceback" not in err, err[-3000:]


def _helped_modules() -> list[str]:
    """Modules of the README commands that are composed or help-checked, once each."""
    found = [
        _module_and_args(c)[0]
        for c in COMMANDS
        if c.startswith("python -m ") and _rule_or_none(c) in ("compose", "help")
    ]
    return list(dict.fromkeys(found))


def _rule_or_none(command: str) -> str | None:
    try:
        return rule_for(command).action
    except pytest.fail.Exception:
        return None  # reported by test_readme_command


@pytest.mark.parametrize("module", _helped_modules())
def test_help(module: str, capfd) -> None:
    capfd.readouterr()
    code = _call(_main(module), ["--help"])
    out, err = capfd.readouterr()
    assert code == 0 and len(out) > 100, f"{module} --help: exit {code}\n{err[-2000:]}"


@pytest.fixture
def data_dir_or_none(request) -> Path | None:
    """The reference data folder, or None when it is absent (instead of skipping every case)."""
    try:
        return request.getfixturevalue("data_dir")
    except pytest.skip.Exception:
        return None
