"""Every docstring example in pathbeacon runs, against the pathbeacon that is imported.

Not ``pytest --doctest-modules src``: that imports ``src/pathbeacon`` a second time beside
an installed copy and fails to collect when pathbeacon is installed normally (not
editable), as distribution packagers test an unpacked sdist. Here the examples come from
the modules Python actually imports, whichever copy that is.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import pathbeacon


def _modules() -> list[str]:
    names = ["pathbeacon"]
    for info in pkgutil.walk_packages(pathbeacon.__path__, "pathbeacon.", onerror=lambda _: None):
        if info.name.rsplit(".", 1)[-1] != "__main__":  # running it would run the CLI
            names.append(info.name)
    return sorted(names)


MODULES = _modules()


def test_the_beacon_modules_are_all_found() -> None:
    for name in ("encoding", "template", "report", "cli", "notice", "testing", "scarf"):
        assert f"pathbeacon.{name}" in MODULES


# Receiving-side modules that import fine without their extra, but whose examples need it.
NEEDS = {"pathbeacon.analysis.dashboard": ("matplotlib", "markdown_it"),
         "pathbeacon.analysis.store": ("duckdb",)}


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    for needed in NEEDS.get(name, ()):
        pytest.importorskip(needed)
    try:
        module = importlib.import_module(name)
    except ImportError as error:
        # A receiving-side module whose optional extra is not installed here (e.g. on PyPy).
        if (error.name or "pathbeacon").startswith("pathbeacon"):
            raise
        pytest.skip(f"{name} needs {error.name}, which is not installed")
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    for test in finder.find(module, name):
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)
