"""Imports run one way: no module of the two packages imports, even from inside a function,
a module that imports it back (directly or through others). A package's own face (its
__init__) counts as a module when its names are imported; `from . import sub` of a
submodule does not, and imports only for type checkers do not run."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tcl_magic", "launcher")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of `known` that `name` imports anywhere in its source."""
    tree = ast.parse(path.read_text())
    for_type_checkers = {id(node) for block in ast.walk(tree)
                         if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
                         for node in ast.walk(block)}
    targets = set()
    for node in ast.walk(tree):
        if id(node) in for_type_checkers:
            continue
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            subs = {f"{base}.{alias.name}" for alias in node.names}
            targets |= subs
            if subs - set(known):  # a name of the package or module itself
                targets.add(base)
    return {t for t in targets if t in known and t != name}


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph, as a path, or None."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_module_imports_one_that_imports_it_back():
    known = modules()
    graph = {name: imported(name, path, known) for name, path in known.items()}
    assert cycle(graph) is None, " -> ".join(cycle(graph))


def test_the_check_sees_a_cycle_made_inside_a_function_but_not_one_for_type_checkers(tmp_path):
    (tmp_path / "a.py").write_text("def late():\n    from . import b\n")
    (tmp_path / "b.py").write_text("from .a import late\n")
    (tmp_path / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import late\n")
    known = {f"pkg.{m}": tmp_path / f"{m}.py" for m in "abc"}
    graph = {name: imported(name, path, known) for name, path in known.items()}
    assert graph == {"pkg.a": {"pkg.b"}, "pkg.b": {"pkg.a"}, "pkg.c": set()}
    assert cycle(graph) == ["pkg.a", "pkg.b", "pkg.a"]
