"""The imports run one way: crawler/ above pipelines/, pipelines/ above common/, and no circle.

The rules are read off the source with ast, so an import inside a function or under
TYPE_CHECKING counts as much as one at the top of a module: each still ties one module to
another, and a circle among them is still a circle.
"""

from __future__ import annotations

import ast
import graphlib
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("common", "crawler", "pipelines", "web")

# (importer prefix, imported prefix): an import from the first into the second breaks the layering.
FORBIDDEN = [
    ("common", "crawler"),
    ("common", "pipelines"),
    ("pipelines", "crawler"),
    # The web view reads the store through pipelines/; the CLI (crawler/) starts it.
    ("web", "crawler"),
    ("common", "web"),
    ("pipelines", "web"),
    # The two rooms under pipelines/ stand side by side, below Scrapy's item pipelines.
    ("pipelines.extraction", "pipelines.storage"),
    ("pipelines.storage", "pipelines.extraction"),
]
# Below the item pipelines, each room imports only itself and common/: a module added at the
# top of pipelines/ and imported from a room would turn the layering upside down.
ROOMS = ("pipelines.extraction", "pipelines.storage")


def module_names(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    """Every module of the given packages, by dotted name (a package by its own name)."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """The project modules that `name` (at `path`) imports, wherever the import statement is."""
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            # `from package import module` imports the module; `from module import name`, the module.
            named = (f"{module}.{alias.name}" for alias in node.names)
            submodules = [full for full in named if full in known]
            candidates = submodules or [module]
        else:
            continue
        for candidate in candidates:
            if candidate in known:
                targets.add(candidate)
    targets.discard(name)
    return targets


def import_graph(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, set[str]]:
    modules = module_names(root, packages)
    known = set(modules)
    return {name: imports_of(path, name, known) for name, path in modules.items()}


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _breaks_layering(importer: str, imported: str) -> bool:
    if any(_within(importer, low) and _within(imported, high) for low, high in FORBIDDEN):
        return True
    return any(
        _within(importer, room) and _within(imported, "pipelines") and not _within(imported, room)
        for room in ROOMS
    )


def back_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{importer} -> {imported}"
        for importer, targets in graph.items()
        for imported in targets
        if _breaks_layering(importer, imported)
    )


def circle(graph: dict[str, set[str]]) -> list[str] | None:
    # A package's __init__ importing its own modules is no circle worth the name; none does today.
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return None


def test_the_tree_imports_only_downwards() -> None:
    assert back_imports(import_graph(ROOT)) == []


def test_the_tree_has_no_circle_of_imports() -> None:
    assert circle(import_graph(ROOT)) is None


def test_scheduler_and_tests_are_outside_the_rules_but_their_imports_resolve() -> None:
    # The check sees every module of the three packages: a rename that left an old path behind
    # would show as a missing module here before it shows as a failing import at run time.
    names = set(module_names(ROOT))
    assert {"common.urls", "pipelines.storage.database", "pipelines.extraction.worker",
            "crawler.spiders.news"} <= names


@pytest.fixture
def tiny_tree(tmp_path: Path) -> Path:
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "pipelines" / "storage").mkdir()
    (tmp_path / "pipelines" / "storage" / "__init__.py").write_text("")
    return tmp_path


def test_the_check_sees_a_back_import_inside_a_function(tiny_tree: Path) -> None:
    (tiny_tree / "crawler" / "urls.py").write_text("")
    (tiny_tree / "pipelines" / "dedup.py").write_text("def f():\n    from crawler import urls\n")
    assert back_imports(import_graph(tiny_tree)) == ["pipelines.dedup -> crawler.urls"]


def test_the_check_sees_a_circle_through_type_checking(tiny_tree: Path) -> None:
    storage = tiny_tree / "pipelines" / "storage"
    (storage / "database.py").write_text("from pipelines.storage import revisions\n")
    (storage / "revisions.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .database import Store\n"
    )
    found = circle(import_graph(tiny_tree))
    assert found is not None
    assert set(found) == {"pipelines.storage.database", "pipelines.storage.revisions"}


def test_the_check_keeps_a_room_from_importing_the_top_of_pipelines(tiny_tree: Path) -> None:
    (tiny_tree / "pipelines" / "judge.py").write_text("")
    (tiny_tree / "pipelines" / "storage" / "queries.py").write_text("from pipelines import judge\n")
    assert back_imports(import_graph(tiny_tree)) == ["pipelines.storage.queries -> pipelines.judge"]
