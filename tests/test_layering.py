"""Arrows point one way: `cluster` -> `deployments` -> `model_ext`, `grok_client` alone.

Read from the source (every import statement, at any depth, including ones inside functions),
so an import cycle fails here before it fails at run time."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# Package -> our packages it must never import (those above it, or beside it).
FORBIDDEN = {
    "model_ext": {"deployments", "cluster", "grok_client"},
    "deployments": {"cluster", "grok_client"},
    "grok_client": {"deployments", "cluster", "model_ext"},
}


def imported_packages(path: Path) -> set[str]:
    """Top-level names of every module `path` imports (absolute imports only; we use no
    relative ones)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_imported_packages_sees_nested_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os\n\ndef f():\n    from cluster.cli import main\n")
    assert imported_packages(module) == {"os", "cluster"}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_nothing_above_it(package: str) -> None:
    offenders = {
        str(path.relative_to(REPO)): sorted(imported_packages(path) & FORBIDDEN[package])
        for path in sorted((REPO / package).rglob("*.py"))
    }
    assert {k: v for k, v in offenders.items() if v} == {}
