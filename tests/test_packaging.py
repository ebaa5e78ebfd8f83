"""The wheel and the sdist carry the templates, and an installed wheel finds them by name."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from .conftest import ROOT, clean_env, run_python

pytest.importorskip("hatchling")


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "hatchling", "build", "-d", str(out)], cwd=ROOT,
                   check=True, capture_output=True, timeout=300)
    return out


def test_wheel_and_sdist_carry_templates_and_py_typed(dist: Path) -> None:
    wheel = next(dist.glob("*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in ("default", "sedona", "risingwave", "scarf-pixel"):
        assert f"pathbeacon/templates/{template}.toml" in names
    assert "pathbeacon/py.typed" in names
    sdist = next(dist.glob("*.tar.gz"))
    with tarfile.open(sdist) as archive:
        members = {m.split("/", 1)[1] for m in archive.getnames() if "/" in m}
    assert "templates/sedona.toml" in members and "src/pathbeacon/template.py" in members


def test_installed_wheel_finds_templates_by_name(dist: Path, tmp_path: Path) -> None:
    # The wheel unpacked is exactly what an install puts in site-packages.
    zipfile.ZipFile(next(dist.glob("*.whl"))).extractall(tmp_path)
    code = (
        "import pathbeacon, pathbeacon.catalogue as c;"
        "print(c._folder());"
        "print(pathbeacon.render('risingwave', base='https://g.example', version='1', os='x'))"
    )
    result = run_python(code, env=clean_env(PYTHONPATH=str(tmp_path)), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    folder, url = result.stdout.split()
    assert Path(folder) == tmp_path / "pathbeacon" / "templates"
    assert url == "https://g.example/telemetry/1/x"


def test_checkout_finds_templates_by_name() -> None:
    # An editable install or a plain checkout on sys.path reads <root>/templates.
    code = "import pathbeacon.catalogue as c; print(c._folder())"
    result = run_python(code, env=clean_env(PYTHONPATH=str(ROOT / "src")))
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == ROOT / "templates"
