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


def test_license_is_mit_and_ships_in_sdist_and_wheel(dist: Path) -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "pathbeacon developers" in text
    wheel = zipfile.ZipFile(next(dist.glob("*.whl")))
    licenses = [n for n in wheel.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
    assert len(licenses) == 1 and wheel.read(licenses[0]).decode() == text
    metadata = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    assert "License-Expression: MIT" in wheel.read(metadata).decode().splitlines()
    with tarfile.open(next(dist.glob("*.tar.gz"))) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith("/LICENSE"))
        stream = archive.extractfile(member)
        assert stream is not None and stream.read().decode() == text
        names = {m.split("/", 1)[1] for m in archive.getnames() if "/" in m}
    assert {"ARCHITECTURE.md", "README.md", "tests/conftest.py"} <= names


def test_classifiers_name_the_pythons_ci_tests_on(dist: Path) -> None:
    wheel = zipfile.ZipFile(next(dist.glob("*.whl")))
    metadata = wheel.read(next(n for n in wheel.namelist() if n.endswith("METADATA"))).decode()
    classifiers = {line.split(": ", 1)[1] for line in metadata.splitlines()
                   if line.startswith("Classifier: ")}
    # .ci/run runs the suite on CPython 3.11 and on Debian's pypy3 (Python 3.9).
    for version in ("3.9", "3.11"):
        assert f"Programming Language :: Python :: {version}" in classifiers
    assert "Programming Language :: Python :: Implementation :: PyPy" in classifiers
    assert "Requires-Python: >=3.9" in metadata.splitlines()
    ci = ROOT / ".ci" / "run"
    if ci.exists():  # a checkout (the sdist carries no CI scripts)
        assert "pypy3" in ci.read_text(encoding="utf-8")


@pytest.mark.slow
def test_pytest_passes_from_an_unpacked_sdist_with_a_normal_install(
        dist: Path, tmp_path: Path) -> None:
    """As a distribution packager runs it: unpack the sdist, install it (not editable) into
    a fresh virtual environment, and run pytest there. Offline: the test tools come from
    this environment's site-packages through a .pth file, which never processes the .pth
    files there (so this checkout's editable install stays out of sight)."""
    import sysconfig
    import venv

    with tarfile.open(next(dist.glob("*.tar.gz"))) as archive:
        archive.extractall(tmp_path)
    (source,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    inner_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip()
    outer_site = sysconfig.get_paths()["purelib"]
    Path(inner_site, "outer-test-tools.pth").write_text(outer_site + "\n", encoding="utf-8")
    env = clean_env()
    env.pop("PYTHONPATH", None)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--no-index", "."],
                   cwd=source, env=env, check=True, capture_output=True, timeout=600)
    where = subprocess.run([str(python), "-c", "import pathbeacon; print(pathbeacon.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()).is_relative_to(Path(inner_site))  # not the checkout
    result = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow"],
        cwd=source, env=env, capture_output=True, text=True, timeout=1800,
    )
    tail = result.stdout[-3000:] + result.stderr[-2000:]
    assert result.returncode == 0, tail
    assert " passed" in result.stdout and "error" not in result.stdout.splitlines()[-1], tail

