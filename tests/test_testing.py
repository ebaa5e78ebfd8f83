"""The README's fixture recipe, run as a package author would: pytest in a fresh process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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


OPT_OUT_TESTS = '''
import importlib
import acme
from pathbeacon.testing import capture

def test_acme_when_the_user_opted_out():
    with capture(opted_out=True) as reports:
        importlib.reload(acme)
    assert [r.status for r in reports] == ["disabled"]
'''

# Run only where the shell leaves ACME_NO_ANALYTICS alone (documented: a variable counts
# inside the block when its value differs from the one the block began with).
OWN_VARIABLE_TEST = '''
import importlib
import acme

def test_acme_honours_its_own_opt_out(beacons, monkeypatch):
    monkeypatch.setenv("ACME_NO_ANALYTICS", "1")  # set inside the block: it counts
    importlib.reload(acme)
    assert [r.status for r in beacons] == ["disabled"]
    assert "ACME_NO_ANALYTICS" in beacons[0].reason
'''

# A contributor's shell that opts out of everything, every way pathbeacon knows.
OPTED_OUT_SHELL = {"DO_NOT_TRACK": "1", "ACME_NO_ANALYTICS": "1", "SCARF_NO_ANALYTICS": "1",
                   "PATHBEACON_NO_ANALYTICS": "true", "SCARF_ANALYTICS": "false"}


def _authors_suite(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    make_package(tmp_path, "acme", ACME)
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_acme.py").write_text(TEST)
    (tmp_path / "test_opt_out.py").write_text(OPT_OUT_TESTS)
    if "ACME_NO_ANALYTICS" not in env:
        (tmp_path / "test_own_variable.py").write_text(OWN_VARIABLE_TEST)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env=clean_env(PYTHONPATH=str(tmp_path), **env),
    )


def test_readme_recipe_works_in_an_authors_suite(tmp_path: Path) -> None:
    result = _authors_suite(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


def test_readme_recipe_ignores_the_contributors_opt_out_shell(tmp_path: Path) -> None:
    result = _authors_suite(tmp_path, **OPTED_OUT_SHELL)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_ambient_opt_out_is_ignored_and_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    import pathbeacon
    from pathbeacon.testing import capture

    for name, value in OPTED_OUT_SHELL.items():
        monkeypatch.setenv(name, value)
    with capture() as reports:
        pathbeacon.report_once("<base>/<package>", base="https://g.example", package="acme")
        monkeypatch.setenv("DO_NOT_TRACK", "yes")  # changed inside the block: counts
        pathbeacon.report_once("<base>/<package>/2", base="https://g.example", package="acme")
    assert [r.status for r in reports] == ["dry_run", "disabled"]
    assert reports[1].reason == "DO_NOT_TRACK is set"
    # Outside the block the user's opt-out rules again.
    outside = pathbeacon.report_once("<base>/<package>/3", base="https://g.example",
                                     package="acme")
    assert outside.status == "disabled"


def test_scarf_analytics_set_inside_the_block_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    import pathbeacon
    from pathbeacon.testing import capture

    with capture() as reports:
        monkeypatch.setenv("SCARF_ANALYTICS", "false")
        pathbeacon.report_once("<base>/x", base="https://g.example")
    assert reports[0].status == "disabled" and "SCARF_ANALYTICS" in reports[0].reason


def test_opted_out_capture_disables_every_report() -> None:
    import pathbeacon
    from pathbeacon.testing import capture

    with capture(opted_out=True) as reports:
        a = pathbeacon.report_once("<base>/a", base="https://g.example", package="acme")
        b = pathbeacon.report_once("<base>/b", base="https://g.example")
    assert [r.status for r in reports] == ["disabled", "disabled"] and reports == [a, b]
    assert a.url is None and "opted_out=True" in a.reason


def test_nested_captures_record_into_the_innermost() -> None:
    import pathbeacon
    from pathbeacon.testing import capture

    with capture() as outer:
        with capture() as inner:
            pathbeacon.report_once("<base>/in", base="https://g.example")
        pathbeacon.report_once("<base>/out", base="https://g.example")
    assert [r.url for r in inner] == ["https://g.example/in"]
    assert [r.url for r in outer] == ["https://g.example/out"]
