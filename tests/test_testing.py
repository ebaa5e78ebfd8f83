"""The README's fixture recipe, run as a package author would: pytest in a fresh process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import clean_env, make_package

ACME = """
import pathbeacon
pathbeacon.report_once("<base>/<package>/<os>", base="https://acme.gateway.scarf.sh/telemetry",
                       package="acme")
"""

CONFTEST = '''
import os
import pytest
from pathbeacon.testing import capture

os.environ.setdefault("PATHBEACON_DRY_RUN", "1")

@pytest.fixture
def beacons():
    with capture() as reports:
        yield reports
'''

TEST = '''
import importlib
import acme

def test_acme_reports_once(beacons):
    importlib.reload(acme)
    importlib.reload(acme)
    assert len(beacons) == 1
    assert beacons[0].url.startswith("https://acme.gateway.scarf.sh/telemetry/acme/")
    assert beacons[0].status == "dry_run"

def test_nothing_is_captured_outside_the_fixture():
    import pathbeacon.report
    assert pathbeacon.report._captures == []
'''


def test_readme_recipe_works_in_an_authors_suite(tmp_path: Path) -> None:
    make_package(tmp_path, "acme", ACME)
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_acme.py").write_text(TEST)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env=clean_env(PYTHONPATH=str(tmp_path)),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_nested_captures_record_into_the_innermost() -> None:
    import pathbeacon
    from pathbeacon.testing import capture

    with capture() as outer:
        with capture() as inner:
            pathbeacon.report_once("<base>/in", base="https://g.example")
        pathbeacon.report_once("<base>/out", base="https://g.example")
    assert [r.url for r in inner] == ["https://g.example/in"]
    assert [r.url for r in outer] == ["https://g.example/out"]
