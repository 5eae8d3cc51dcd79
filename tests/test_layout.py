"""The README's layout rule, enforced: each subpackage imports only the robattr packages listed for it.

Data flows one way (data -> models -> attribution -> attacks -> metrics -> training / evaluation -> cli); a metric
never imports a model, an attack never imports a job. ``checks`` and ``progress`` are leaf modules everybody uses.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "robattr"
LEAVES = {"checks", "progress"}
ALLOWED: dict[str, set[str]] = {
    "checks": set(),
    "progress": set(),
    "data": set(),
    "models": set(),
    "attribution": {"models"},
    "attacks": {"attribution", "models", "metrics"},
    "metrics": set(),
    "training": {"models", "attribution", "attacks", "metrics"},
    "evaluation": {"data", "models", "attribution", "attacks", "metrics"},
    "neurons": {"data", "models", "attacks"},
    "cli": {"data", "models", "attribution", "attacks", "metrics", "training", "evaluation", "neurons"},
}


def imported_subpackages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
        names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
        found |= {n.split(".")[1] for n in names if n.startswith("robattr.") and n.count(".") >= 1}
    return found


def test_every_subpackage_has_a_rule():
    present = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir() if not p.name.startswith("_")}
    present = {name for name in present if name != "py.typed"}
    assert present <= set(ALLOWED), sorted(present - set(ALLOWED))


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_follow_the_layout(package):
    root = PACKAGE / package
    files = list(root.rglob("*.py")) if root.is_dir() else [PACKAGE / f"{package}.py"]
    allowed = ALLOWED[package] | LEAVES | {package}
    bad = {f"{f.relative_to(PACKAGE)} imports robattr.{m}" for f in files for m in imported_subpackages(f) - allowed}
    assert not bad, sorted(bad)
