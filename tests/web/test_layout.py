"""The web package's layout: every import at the top of its module, and no import cycles."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import reminders

PACKAGE = Path(reminders.__file__).resolve().parent
WEB = PACKAGE / "web"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
WEB_MODULES = sorted(name for name, path in MODULES.items() if WEB in path.parents)


def function_imports(tree: ast.AST) -> Iterator[tuple[str, int]]:
    """(function name, line) for each import inside a function body."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    yield node.name, inner.lineno


def _runs_at_import(statements: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Module-level statements, into `try` and `if` blocks but not `if TYPE_CHECKING:`."""
    for statement in statements:
        if isinstance(statement, ast.If):
            if "TYPE_CHECKING" not in ast.unparse(statement.test):
                yield from _runs_at_import(statement.body + statement.orelse)
        elif isinstance(statement, ast.Try):
            yield from _runs_at_import(statement.body + statement.orelse + statement.finalbody)
        else:
            yield statement


def imported(name: str) -> set[str]:
    """The modules of this package that `name` imports when it is loaded."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    found: set[str] = set()
    for statement in _runs_at_import(tree.body):
        if isinstance(statement, ast.Import):
            found.update(alias.name for alias in statement.names)
        elif isinstance(statement, ast.ImportFrom):
            base = _absolute(name, statement)
            for alias in statement.names:
                child = f"{base}.{alias.name}"
                found.add(child if child in MODULES else base)
    return found & MODULES.keys()


def _absolute(name: str, statement: ast.ImportFrom) -> str:
    if not statement.level:
        return statement.module or ""
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    for _ in range(statement.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{statement.module}" if statement.module else package


def cycle_through(start: str) -> list[str] | None:
    """A chain of imports from `start` back to itself, if there is one."""
    stack, seen = [(start, [start])], set()
    while stack:
        name, path = stack.pop()
        for target in sorted(imported(name)):
            if target == start:
                return [*path, target]
            if target not in seen:
                seen.add(target)
                stack.append((target, [*path, target]))
    return None


def test_the_scan_finds_the_web_modules() -> None:
    assert {"reminders.web.app", "reminders.web.deps", "reminders.web.pages"} <= set(WEB_MODULES)
    assert "reminders.web.pages.sessions" in imported("reminders.web.pages")


def test_it_finds_an_import_inside_a_function() -> None:
    tree = ast.parse("def page():\n    from reminders.web.deps import csrf_token\n")
    assert list(function_imports(tree)) == [("page", 2)]


@pytest.mark.parametrize("name", WEB_MODULES)
def test_no_web_module_imports_inside_a_function(name: str) -> None:
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    assert list(function_imports(tree)) == [], f"{name} imports inside a function"


@pytest.mark.parametrize("name", WEB_MODULES)
def test_no_web_module_is_part_of_an_import_cycle(name: str) -> None:
    assert cycle_through(name) is None, " -> ".join(cycle_through(name) or [])
