"""The documentation site: every test the guarantees page names exists, and the site builds."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from .conftest import ROOT

GUARANTEES = ROOT / "docs" / "reference" / "guarantees.md"


def test_every_test_the_guarantees_page_names_exists() -> None:
    text = GUARANTEES.read_text(encoding="utf-8")
    named = re.findall(r"`(test_\w+\.py)(?:::(test_\w+))?`", text)
    assert len(named) >= 20
    missing = []
    for file, test in named:
        path = ROOT / "tests" / file
        if not path.exists():
            missing.append(file)
        elif test and not re.search(rf"^def {test}\(", path.read_text(encoding="utf-8"), re.M):
            missing.append(f"{file}::{test}")
    assert not missing


@pytest.mark.slow
def test_the_site_builds_with_every_warning_an_error(tmp_path: object) -> None:
    pytest.importorskip("sphinx", reason="the docs extra: pip install -e '.[docs]'")
    pytest.importorskip("myst_parser", reason="the docs extra: pip install -e '.[docs]'")
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html",
                           str(ROOT / "docs"), str(tmp_path)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
