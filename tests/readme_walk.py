"""Walk the README as a new user would: every command in its order, on one results table and
one cache, each made small (tiny data), in a copy of the repository.

A command fails the walk on a non-zero exit, a traceback on stderr, a ``nan`` printed on
stdout, or a change to a tracked file (or a new file git does not ignore) that its step does
not declare (``regenerates``: the README says the command regenerates those results). Each
step's exit code and wall seconds are recorded; ``python tests/readme_walk.py [--repo DIR]``
prints them as a Markdown table (the closing-note list), ``tests/test_readme_walk.py`` (slow)
runs it on a copy of this checkout.

The rules live in :data:`WALK` (longest command prefix wins, like ``tests/test_readme.py``):
extra arguments that make a command small, or a reason to skip it (an install, the tests
themselves, a Slurm or Ray cluster). A README command without a rule fails the walk.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


@dataclass(frozen=True)
class Step:
    prefix: str
    extra: tuple[str, ...] = ()  # appended (Hydra: later overrides win)
    skip: str = ""  # why the walk does not run it
    regenerates: tuple[str, ...] = ()  # tracked paths the README says it rewrites
    configs: tuple[str, ...] = ()  # first_impression: overrides added to each configuration
    tmpfs: bool = False  # TMPDIR=/dev/shm (the databases' folders, as the README advises)


NAMES = ("dataset.limit=600", "encoder.epochs=1", "max_queries=40", "passes=1", "warmup=2")
SURNAMES = ("encoder.epochs=1", "encoder.max_train=600", "max_queries=40", "passes=1", "warmup=2")
CAPTIONS = ("dataset.n_query_images=20", "max_queries=20", "passes=1", "warmup=2")
WALK: list[Step] = [
    Step("pip install", skip="the install itself (.ci/run runs it in a fresh venv)"),
    Step("python -m pytest", skip="the test suite itself"),
    Step("python benchmarks/render.py", skip="renders a benchmark run's JSON"),
    Step("ray start", skip="starts a Ray cluster node ([cluster] extra)"),
    Step("python -m bench -m hydra/launcher=ray", skip="a Ray cluster ([cluster] extra)"),
    Step("python -m bench -m hydra/launcher=ray_latency", skip="a running Ray cluster"),
    Step("python -m bench -m hydra/launcher=submitit_slurm_latency", skip="a Slurm cluster"),
    Step("python -m bench", NAMES),
    Step("python -m bench -m", NAMES),
    Step(
        "python -m bench -m experiment=backends",
        (*NAMES, "max_queries=20"),
        tmpfs=True,
    ),
    Step(
        "python -m bench -m experiment=backends dataset=synthetic",
        ("dataset.n=1500", "dataset.n_queries=20", "passes=1", "warmup=2"),
        tmpfs=True,
    ),
    Step("python -m bench.report"),  # commands that read tables run as they are
    Step("python -m bench.plot"),
    Step("python -m bench.plot_scaling"),
    Step("python -m bench.plot_probe"),
    Step("python -m bench.rescore"),
    Step("python -m bench.migrate"),
    Step("python -m bench -m dataset=surnames", SURNAMES),
    Step("python -m bench -m index=annoy,hnswlib,usearch dataset=surnames", SURNAMES),
    Step("python -m bench -m experiment=surnames_sweep", SURNAMES),
    Step(
        "python -m bench -m experiment=scaling",
        (*NAMES[1:], "dataset.limit=1500,3000", "dataset.n_queries=100"),
    ),
    Step("python -m bench dataset.max_rank=null", (*NAMES, "dataset.n_queries=40")),
    Step("python -m bench filter=sweep", (*NAMES, "filter.selectivity=[0.01,1.0]")),
    Step("python -m bench filter=labels", SURNAMES),
    Step("python -m bench -m filter=sweep", (*SURNAMES, "filter.selectivity=[0.05,1.0]")),
    Step("python -m bench workload=runbook", (*NAMES, "runbook.generations=2")),
    Step("python -m bench workload=refresh", NAMES),
    Step(
        "python -m bench dataset=texts",
        ("dataset.limit=300", "max_queries=20", "passes=1", "warmup=2", "encoder.batch_size=64"),
    ),
    Step("python -m bench.tune", (*NAMES, "tune.trials=2")),
    Step("python -m bench.query", ("dataset.limit=600", "encoder.epochs=1", "k=3")),
    Step("python -m bench.embed", ("encoder.epochs=1", "encoder.max_train=600", "max_queries=40")),
    Step("python -m bench.probe", (*CAPTIONS, "encoder.epochs=1", "encoder.max_train_pairs=200")),
    Step(
        "python -m bench.probe experiment=probe_length encoder=shared dataset=flickr8k",
        ("max_queries=20", "passes=1", "encoder.base.epochs=1", "encoder.base.max_train_pairs=200"),
    ),
    Step(
        "python -m bench.first_impression",
        configs=("dataset.limit=600", "encoder.epochs=1"),
    ),
]


@dataclass
class Result:
    command: str
    code: int | None
    seconds: float
    problem: str = ""
    skipped: str = ""
    changed: list[str] = field(default_factory=list)


def readme_commands(text: str) -> list[str]:
    """Every command of the README's ```bash blocks, in order (continuations joined)."""
    commands = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.M | re.S):
        for line in re.sub(r"\\\n", " ", block).splitlines():
            tokens = shlex.split(line, comments=True)
            if tokens:
                commands.append(shlex.join(tokens))
    return commands


def step_for(command: str) -> Step | None:
    tokens = shlex.split(command)
    best = None
    for step in WALK:
        prefix = step.prefix.split()
        if tokens[: len(prefix)] == prefix and (best is None or len(prefix) > len(best[0])):
            best = (prefix, step)
    return None if best is None else best[1]


def argv_of(command: str, step: Step, env: dict[str, str]) -> list[str]:
    """The command's arguments, ``$VARS`` expanded, made small by the step's extras."""
    var = re.compile(r"\$\{?(\w+)\}?")
    tokens = [var.sub(lambda m: env.get(m.group(1), m.group(0)), t) for t in shlex.split(command)]
    if step.configs:  # first_impression: each "LABEL: overrides" argument gets the extras
        tokens = [
            f"{t} {' '.join(step.configs)}" if ":" in t and not t.startswith("-") else t
            for t in tokens
        ]
    return [sys.executable if tokens[0] == "python" else tokens[0], *tokens[1:], *step.extra]


def _tracked_changes(repo: Path) -> list[str]:
    out = subprocess.run(
        ["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout
    return [line[3:] for line in out.splitlines() if line.strip()]


def run_step(repo: Path, command: str, env: dict[str, str]) -> Result:
    step = step_for(command)
    if step is None:
        return Result(command, None, 0.0, problem="no rule in tests/readme_walk.py WALK")
    if step.skip:
        return Result(command, None, 0.0, skipped=step.skip)
    argv = argv_of(command, step, env)
    run_env = dict(env)
    if step.tmpfs and Path("/dev/shm").is_dir():
        run_env["TMPDIR"] = "/dev/shm"
    before = set(_tracked_changes(repo))
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=repo, env=run_env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    changed = sorted(
        p
        for p in set(_tracked_changes(repo)) - before
        if not any(p.startswith(r) for r in step.regenerates)
    )
    problem = ""
    if proc.returncode != 0:
        problem = f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:] or ''}"
    elif "Traceback (most recent call last)" in proc.stderr:
        problem = "a traceback on stderr"
    elif re.search(r"\bnan\b", proc.stdout, flags=re.I):
        problem = "nan printed: " + next(
            ln for ln in proc.stdout.splitlines() if re.search(r"\bnan\b", ln, flags=re.I)
        )
    elif changed:
        problem = f"changed tracked files it does not regenerate: {', '.join(changed)}"
    return Result(command, proc.returncode, seconds, problem, changed=changed)


def walk(repo: Path, workdir: Path) -> list[Result]:
    """Run every README command of ``repo`` in order, one table and one cache under workdir."""
    env = dict(os.environ)
    env.update(
        LOOKUP_RESULTS_TABLE=str(workdir / "runs.csv"),
        LOOKUP_CACHE_DIR=str(workdir / "cache"),
        HF_HUB_OFFLINE="1",
        PYTHONPATH=str(repo),
    )
    env.setdefault("LOOKUP_DATA_DIR", str(repo.parent / "shared" / "data"))
    commands = readme_commands((repo / "README.md").read_text())
    return [run_step(repo, c, env) for c in commands]


def copy_checkout(src: Path, dst: Path) -> Path:
    """The files git knows (tracked and untracked-not-ignored) of ``src``, as a new git repo
    whose one commit is that state, so `git status` shows what the walk changed."""
    files = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"],
            cwd=src,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        if (src / name).is_file():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / name, dst / name)
    git = ["git", "-c", "user.name=walk", "-c", "user.email=walk@example.invalid"]
    subprocess.run([*git, "init", "-q"], cwd=dst, check=True)
    subprocess.run([*git, "add", "-A"], cwd=dst, check=True)
    subprocess.run([*git, "commit", "-qm", "the checkout walked"], cwd=dst, check=True)
    return dst


def table(results: list[Result]) -> str:
    lines = ["| # | command | exit | seconds | note |", "|---|---|---|---|---|"]
    for i, r in enumerate(results, 1):
        cmd = r.command if len(r.command) < 110 else r.command[:107] + "..."
        code = "-" if r.code is None else str(r.code)
        note = r.problem or (f"skipped: {r.skipped}" if r.skipped else "")
        lines.append(f"| {i} | `{cmd}` | {code} | {r.seconds:.1f} | {note} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repo", default=str(REPO), help="a checkout to walk (walked in place)")
    ap.add_argument("--work", default=None, help="folder for the table and cache (default: tmp)")
    args = ap.parse_args(argv)
    import tempfile

    work = Path(args.work or tempfile.mkdtemp(prefix="readme-walk-"))
    t0 = time.perf_counter()
    results = walk(Path(args.repo).resolve(), work)
    print(table(results))
    print(f"\n{len(results)} commands, {time.perf_counter() - t0:.0f} s in all")
    print("git status --porcelain:", _tracked_changes(Path(args.repo).resolve()) or "empty")
    return 1 if any(r.problem for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
