"""The house rules of the code base, checked on the source: layering, no import cycles, one
error catalogue per package, no HTML document in Python, the per-request store in its module."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("geo", "layers", "webmap")
ERROR_MODULES = {"geo/errors.py", "layers/errors.py", "webmap/errors.py"}


def _sources() -> dict[str, Path]:
    """Module name → file, for every module of the three packages."""
    mods = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            mods[name.removesuffix(".__init__")] = path
    return mods


def _import_graph() -> nx.DiGraph:
    """Every import between our modules, those inside functions included."""
    mods = _sources()
    graph = nx.DiGraph()
    for name, path in mods.items():
        graph.add_node(name)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                subs = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in mods]
                targets += subs
                if len(subs) < len(node.names):
                    targets.append(node.module)
            elif isinstance(node, ast.Import):
                targets += [a.name for a in node.names]
            graph.add_edges_from((name, t) for t in targets if t in mods and t != name)
    return graph


def test_no_import_cycle() -> None:
    graph = _import_graph()
    cycles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert cycles == []


def test_dependencies_point_one_way() -> None:
    """webmap → layers → geo: geo imports neither, layers never imports webmap."""
    wrong = [(a, b) for a, b in _import_graph().edges
             if (a.startswith("geo") and not b.startswith("geo"))
             or (a.startswith("layers") and b.startswith("webmap"))]
    assert wrong == []


def test_exceptions_live_in_the_error_catalogues() -> None:
    outside = []
    for path in _sources().values():
        rel = path.relative_to(REPO).as_posix()
        if rel in ERROR_MODULES:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                "Error" in ast.unparse(b) or "Exception" in ast.unparse(b) for b in node.bases
            ):
                outside.append(f"{rel}: {node.name}")
    assert outside == []


@pytest.mark.parametrize("marker", ["<!DOCTYPE", "<html"])
def test_no_html_document_in_python(marker: str) -> None:
    """Printable documents and pages come from template files, never from strings in code."""
    hits = [p.relative_to(REPO).as_posix() for p in _sources().values()
            if marker.lower() in p.read_text(encoding="utf-8").lower()]
    assert hits == []


def test_blueprints_take_the_store_from_its_module() -> None:
    graph = _import_graph()
    assert [a for a, b in graph.edges if b == "webmap.app" and a != "webmap.cli.utilisateurs"
            and a != "webmap.cli.photos"] == []


def test_optional_renderers_are_imported_in_one_place() -> None:
    """matplotlib and WeasyPrint are imported only by the documents' dependency gate."""
    users = set()
    for path in _sources().values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] in {"matplotlib", "weasyprint"} for n in names):
                users.add(path.relative_to(REPO).as_posix())
    assert users == {"webmap/documents/_deps.py"}
