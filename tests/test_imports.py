"""The package's modules import each other without a circle, counting the imports inside
functions too (those only hide a circle until the function runs); imports for type
annotations alone (`if TYPE_CHECKING:`) are not imports at run time."""

from __future__ import annotations

import ast

from workflow_helpers import ROOT

PACKAGE = ROOT / "workflow_scripts" / "bibleft"


class _Imports(ast.NodeVisitor):
    def __init__(self):
        self.found: set[str] = set()

    def visit_If(self, node):
        if "TYPE_CHECKING" not in ast.unparse(node.test):
            self.generic_visit(node)

    def visit_ImportFrom(self, node):
        if node.level == 1:  # from .x import y, from . import x
            self.found.update([node.module.split(".")[0]] if node.module else
                              [alias.name for alias in node.names])


def imports() -> dict[str, set[str]]:
    modules = {path.stem for path in PACKAGE.glob("*.py")}
    graph = {}
    for path in PACKAGE.glob("*.py"):
        visitor = _Imports()
        visitor.visit(ast.parse(path.read_text()))
        graph[path.stem] = visitor.found & modules
    return graph


def circles(graph: dict[str, set[str]]) -> set[tuple[str, ...]]:
    found = set()

    def walk(path: list[str]) -> None:
        for module in graph[path[-1]]:
            if module in path:
                circle = path[path.index(module):]
                start = circle.index(min(circle))
                found.add(tuple(circle[start:] + circle[:start]))
            else:
                walk([*path, module])

    for module in graph:
        walk([module])
    return found


def test_the_package_has_no_import_circle():
    graph = imports()
    assert len(graph) > 40 and graph["config"] >= {"corpora", "questions", "grid"}
    assert circles(graph) == set()


def test_the_check_sees_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == {("a", "b", "c")}
