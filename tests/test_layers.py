"""ARCHITECTURE.md's layer rule, enforced: imports inside src/pathbeacon point down the layers only."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "pathbeacon"

# Lower layers first; a module may import only modules of strictly lower layers.
LAYERS = [
    {"errors", "optout", "guard", "wire"},
    {"files", "encoding", "transport", "probes"},
    {"stamps", "choice", "template", "pool"},
    {"catalogue", "consent"},
    {"compose"},
    {"notice"},
    {"report"},
    {"scarf", "testing"},
    {"analysis"},  # the receiving side: only the CLI reaches it
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


# pathbeacon.analysis: the beacon side never imports it (only the CLI's lazy hook does), and
# it uses only the pure core of the beacon side, never report, guard, transport or probes.
ANALYSIS = SRC / "analysis"
CORE_FOR_ANALYSIS = {"errors", "files", "encoding", "template", "catalogue", "compose", "notice"}
# Inside the subpackage, lower layers first; engines/* count as "engines".
ANALYSIS_LAYERS = [
    {"formats", "matcher", "stats", "output", "arguments", "progress"},
    {"sources", "sql", "gateway", "diagnose"},
    {"engines"},
    {"spark", "store"},  # the store's fast path runs the duckdb engine's SQL
    {"__init__"},
    {"dashboard"},
    {"demo", "publish"},
    {"cli"},
]
ANALYSIS_LAYER = {name: i for i, layer in enumerate(ANALYSIS_LAYERS) for name in layer}


def _absolute_imports(path: Path) -> set[str]:
    """Every pathbeacon module ``path`` imports, as dotted names (relative ones resolved)."""
    package = ".".join(path.relative_to(SRC.parent).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            if module.split(".")[0] != "pathbeacon":
                continue
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "pathbeacon")
    return found


def _unit(dotted: str) -> str | None:
    """The analysis layer unit of a dotted module name, or None outside the subpackage."""
    parts = dotted.split(".")
    if parts[:2] != ["pathbeacon", "analysis"]:
        return None
    if len(parts) == 2:
        return "__init__"
    return parts[2] if parts[2] in ANALYSIS_LAYER else None


def test_beacon_side_never_imports_analysis() -> None:
    offenders = [
        path.name
        for path in SRC.glob("*.py")
        if path.stem != "cli"
        and any(m.startswith("pathbeacon.analysis") for m in _absolute_imports(path))
    ]
    assert not offenders


def test_analysis_uses_only_the_pure_core_and_points_down() -> None:
    files = sorted(ANALYSIS.rglob("*.py"))
    assert files
    wrong = []
    for path in files:
        rel = path.relative_to(ANALYSIS).with_suffix("").parts
        unit = rel[0]
        assert unit in ANALYSIS_LAYER, f"analysis/{'/'.join(rel)} has no layer"
        for module in _absolute_imports(path):
            parts = module.split(".")
            if parts[:2] != ["pathbeacon", "analysis"]:
                if len(parts) > 1 and parts[1] not in CORE_FOR_ANALYSIS and parts[1] in LAYER:
                    wrong.append(f"{'/'.join(rel)} imports pathbeacon.{parts[1]}")
                continue
            target = _unit(module)
            if target is None or target == unit:
                continue  # a name, not a module; or within one unit (engines/*)
            if ANALYSIS_LAYER[target] >= ANALYSIS_LAYER[unit] and unit != "__init__":
                wrong.append(f"{'/'.join(rel)} imports analysis.{target}")
    assert not wrong
