"""The billing core stays pure: no Flask, SQLAlchemy, clock or floats (ARCHITECTURE convention 4 and 5)."""

import ast
import re
from pathlib import Path

import pytest

BILLING = Path(__file__).resolve().parents[2] / "pieced_admin" / "billing"
PURE_MODULES = ["engine.py", "days.py", "money.py"]
FORBIDDEN = {"flask", "flask_sqlalchemy", "flask_login", "flask_wtf", "sqlalchemy", "alembic", "requests", "pieced_admin.models"}
STDLIB_ALLOWED = {
    "__future__",
    "calendar",
    "collections",
    "dataclasses",
    "datetime",
    "decimal",
    "itertools",
    "typing",
    "zoneinfo",
}
EXTRA_ALLOWED = {
    "engine.py": {"pieced_admin.billing.days", "pieced_admin.billing.money"},
    "days.py": set(),
    "money.py": {"babel.numbers"},  # display formatting only
}


def imported_modules(path: Path) -> set[str]:
    """Every module named by an import statement anywhere in the file (relative imports resolved)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                names.add("pieced_admin.billing" + (f".{node.module}" if node.module else ""))
            else:
                names.add(node.module)
    return names


def top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("module", PURE_MODULES)
def test_imports_no_framework(module):
    names = imported_modules(BILLING / module)
    bad = {n for n in names if n in FORBIDDEN or top(n) in FORBIDDEN or n.startswith("pieced_admin.models")}
    assert not bad, f"{module} imports {sorted(bad)}"


@pytest.mark.parametrize("module", PURE_MODULES)
def test_imports_only_what_is_allowed(module):
    names = imported_modules(BILLING / module)
    unexpected = {n for n in names if top(n) not in STDLIB_ALLOWED and n not in EXTRA_ALLOWED[module]}
    assert not unexpected, f"{module} imports {sorted(unexpected)}"


def test_engine_dependencies_are_pure_too():
    # Whatever engine.py pulls in from the package must itself be one of the pure modules.
    for name in imported_modules(BILLING / "engine.py"):
        if name.startswith("pieced_admin"):
            assert name.rsplit(".", 1)[-1] + ".py" in PURE_MODULES, name


@pytest.mark.parametrize("module", PURE_MODULES)
def test_no_clock(module):
    tree = ast.parse((BILLING / module).read_text(encoding="utf-8"))
    calls = {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert not calls & {"now", "today", "utcnow", "time", "monotonic", "getenv"}


def test_no_float_in_billing_code():
    hits = [
        f"{path.name}:{n}"
        for path in sorted(BILLING.glob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if re.search(r"\bfloat\(", line)
    ]
    assert not hits, f"float() in billing code: {hits}"
