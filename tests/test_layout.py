"""The package's layout: it reads as the flow, imports sit at the top, and nothing is circular.

Each stage may use the ground floor and the stages before it; a stage that reaches a later
one does so through the one function meant for it (listed below, with why).
"""

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


def imported(name: str, *, inside_functions: bool = False) -> set[str]:
    """The modules of this package that `name` imports when it is loaded (or ever, with
    `inside_functions`: a cycle hidden in a function body is still a cycle)."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    found: set[str] = set()
    statements = list(ast.walk(tree)) if inside_functions else list(_runs_at_import(tree.body))
    for statement in statements:
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
        for target in sorted(imported(name, inside_functions=True)):
            if target == start:
                return [*path, target]
            if target not in seen:
                seen.add(target)
                stack.append((target, [*path, target]))
    return None


def test_the_scan_finds_the_modules() -> None:
    assert {"reminders.web.app", "reminders.web.deps", "reminders.web.pages"} <= set(WEB_MODULES)
    assert "reminders.web.pages.sessions" in imported("reminders.web.pages")


def test_it_finds_an_import_inside_a_function() -> None:
    tree = ast.parse("def page():\n    from reminders.web.deps import csrf_token\n")
    assert list(function_imports(tree)) == [("page", 2)]


# The CLI loads each command's modules when the command runs: `reminders --help` stays fast.
LAZY = {"reminders.cli"}


@pytest.mark.parametrize("name", sorted(set(MODULES) - LAZY))
def test_no_module_imports_inside_a_function(name: str) -> None:
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    assert list(function_imports(tree)) == [], f"{name} imports inside a function"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_part_of_an_import_cycle(name: str) -> None:
    assert cycle_through(name) is None, " -> ".join(cycle_through(name) or [])


# The flow, in order; a module may import its own stage and those before it.
STAGES = (
    ("config", "models", "store", "journal", "kinds", "migrations"),
    ("channels",),
    ("planning",),
    ("wording",),
    ("intake",),
    ("sending",),
    ("feedback",),
    ("staff",),
    ("worker", "web", "ops", "cli"),
)
# The functions meant for reaching a later stage: none today. (Intake re-plans through
# `planning.planner.replan_patients`, which comes earlier in this order.)
FORWARD: set[tuple[str, str]] = set()


def stage_of(name: str) -> int:
    part = name.split(".")[1] if name.count(".") else ""
    return next(rank for rank, names in enumerate(STAGES) if part in names)


def test_every_module_belongs_to_a_stage() -> None:
    for name in MODULES:
        if name != "reminders":
            stage_of(name)


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n != "reminders"))
def test_no_module_imports_a_later_stage(name: str) -> None:
    later = {
        target
        for target in imported(name, inside_functions=True)
        if target != "reminders" and stage_of(target) > stage_of(name)
    }
    assert later - {t for n, t in FORWARD if n == name} == set(), f"{name} imports {later}"


def test_the_sender_never_imports_the_importer() -> None:
    sending = [n for n in MODULES if n.startswith("reminders.sending")]
    assert all("reminders.intake.importer" not in imported(n) for n in sending)
