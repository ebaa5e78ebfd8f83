"""DESIGN.md's rule, enforced: imports inside src/pathbeacon point down the layers only."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "pathbeacon"

# Lower layers first; a module may import only modules of strictly lower layers.
LAYERS = [
    {"errors", "probes", "optout", "guard", "stamps", "transport"},
    {"encoding"},
    {"template"},
    {"catalogue"},
    {"compose"},
    {"report"},
    {"scarf", "notice", "testing"},
    {"cli"},
    {"__main__", "__init__"},
]
LAYER = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _internal_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and (node.module or "").split(".")[0] != "pathbeacon":
                continue
            module = (node.module or "").removeprefix("pathbeacon").lstrip(".")
            if module:
                found.add(module.split(".")[0])
            else:  # from . import x, y
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "pathbeacon" and len(parts) > 1:
                    found.add(parts[1])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "import_module":
            pass  # the facade's lazy loader: it sits at the top layer anyway
    return found


def test_every_module_has_a_layer() -> None:
    modules = {p.stem for p in SRC.glob("*.py")}
    assert modules <= set(LAYER), modules - set(LAYER)


def test_imports_point_down_only() -> None:
    upward = []
    for path in SRC.glob("*.py"):
        for target in _internal_imports(path):
            if target in LAYER and LAYER[target] >= LAYER[path.stem] and path.stem != "__init__":
                upward.append(f"{path.stem} imports {target}")
    assert not upward
