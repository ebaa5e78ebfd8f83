"""ARCHITECTURE.md's rules, enforced: the beacon side never imports the receiving side, and
the document's layer table is the one tests/test_layers.py enforces."""

from __future__ import annotations

import ast
import re

from .conftest import ROOT
from .test_layers import LAYERS

SRC = ROOT / "src" / "pathbeacon"


def _imports_analysis(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # from . import analysis / from .analysis import x
                names = [module] if module else [alias.name for alias in node.names]
            else:
                names = [module.removeprefix("pathbeacon.")] if module.startswith(
                    "pathbeacon.") else []
        elif isinstance(node, ast.Import):
            names = [a.name.removeprefix("pathbeacon.") for a in node.names
                     if a.name.startswith("pathbeacon.")]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [node.value.removeprefix("pathbeacon.")] if node.value.startswith(
                "pathbeacon.analysis") else []
        if any(name.split(".")[0] == "analysis" for name in names):
            lines.append(getattr(node, "lineno", 0))
    return lines


def test_the_beacon_side_never_imports_the_receiving_side() -> None:
    offenders = []
    for path in SRC.glob("*.py"):
        if path.name == "cli.py":  # adds the receiving side's commands when present
            continue
        for line in _imports_analysis(ast.parse(path.read_text(encoding="utf-8"))):
            offenders.append(f"{path.name}:{line}")
    assert not offenders


def test_the_checker_sees_each_form_of_import() -> None:
    for code in ("from . import analysis", "from .analysis import x", "import pathbeacon.analysis",
                 "from pathbeacon.analysis.cli import register",
                 "import_module('pathbeacon.analysis.cli')"):
        assert _imports_analysis(ast.parse(code)), code
    assert not _imports_analysis(ast.parse("from . import report\nimport os"))


def test_the_documented_layers_are_the_enforced_ones() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    documented = []
    for row in re.findall(r"^\| (\d+) \| ([^|]+) \|", text, re.M):
        documented.append(set(re.findall(r"`(\w+)`", row[1])))
    assert documented == LAYERS
