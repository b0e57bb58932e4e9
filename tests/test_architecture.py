"""The shape of the code: imports in one direction, one registry, lookup never imports Hydra."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from lookup import registry
from lookup.protocols import Encoder, EncoderSpec, Index

REPO = Path(__file__).resolve().parents[1]
LOOKUP = REPO / "lookup"


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports (top-level and lazy imports)."""
    modules = {_module_name(p): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            deps |= {t for t in targets if t in modules and t != name}
        # a package's __init__ re-exporting its own submodules is not a dependency edge back
        graph[name] = {d for d in deps if not (path.name == "__init__.py" and d.startswith(name))}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return stack[stack.index(dep) :] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycles_in_lookup() -> None:
    assert find_cycle(import_graph(LOOKUP)) is None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_lookup_never_imports_hydra_or_the_app() -> None:
    for path in LOOKUP.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for n in names:
                assert not n.startswith(("hydra", "omegaconf", "bench")), f"{path}: imports {n}"


def test_no_private_names_cross_modules() -> None:
    for path in LOOKUP.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            if module and module.startswith("lookup"):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path}: imports private {private} from {module}"


@pytest.mark.parametrize("name", sorted(registry.INDEXES))
def test_every_registered_index_satisfies_the_protocol(name: str) -> None:
    cls = registry.resolve(name)
    assert isinstance(cls(metric=getattr(cls, "METRICS", ("cosine",))[0]), Index)
    assert registry.name_of(cls) == name


@pytest.mark.parametrize("name", sorted(registry.ENCODERS))
def test_every_registered_encoder_spec_satisfies_the_protocol(name: str) -> None:
    cls = registry.resolve(name, "encoder")
    assert hasattr(cls, "load") and registry.name_of(cls, "encoder") == name
    assert issubclass(cls, EncoderSpec) or callable(cls.load)
    assert Encoder is not None


@pytest.mark.parametrize("group", ["index", "encoder"])
def test_every_config_option_is_registered(group: str) -> None:
    table = registry.INDEXES if group == "index" else registry.ENCODERS
    for path in sorted((REPO / "conf" / group).glob("*.yaml")):
        target = OmegaConf.load(path).get("_target_")
        if target:
            assert target in table.values(), f"{path.name}: {target} is not in lookup.registry"


MAX_FUNCTION_LINES = 80


def function_lengths() -> list[tuple[int, str]]:
    """(lines, "path:line name") of every function in lookup/ and bench/, longest first."""
    found = []
    for root in (LOOKUP, REPO / "bench"):
        for path in root.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    n = node.end_lineno - node.lineno + 1
                    found.append((n, f"{path.relative_to(REPO)}:{node.lineno} {node.name}"))
    return sorted(found, reverse=True)


def test_no_function_is_longer_than_80_lines() -> None:
    """Long functions hide the room for a change; split them (helpers with names that say
    what each part does). `python tests/test_architecture.py` prints the longest."""
    long = [f"{where} ({n})" for n, where in function_lengths() if n > MAX_FUNCTION_LINES]
    assert not long, "functions longer than 80 lines: " + ", ".join(long)


if __name__ == "__main__":  # the three longest functions of lookup/ and bench/
    for package in ("lookup/", "bench/"):
        for n, where in [f for f in function_lengths() if f[1].startswith(package)][:3]:
            print(f"{n:4d} {where}")
