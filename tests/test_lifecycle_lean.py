"""A lean worker: a report imports only what it needs; templates are compiled in (and work
from a zipapp); at exit, a failed attempt is the last one."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipapp
from pathlib import Path

import pytest

from pathbeacon import catalogue, transport

from .conftest import ROOT, Collector, clean_env, run_python

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python < 3.11
    import tomli as tomllib

LOADED = """
import sys
import pathbeacon
report = pathbeacon.report_once({template!r}, base={base!r}{extra})
print(report.wait(20))
wanted = {modules!r}
print(" ".join(m for m in wanted if m in sys.modules) or "-")
"""
HEAVY = ["urllib3", "http.client", "logging", "distro", "importlib.metadata", "packaging",
         "tomllib", "tomli", "pathlib", "ssl", "email", "zipfile", "json", "typing",
         "encodings.idna"]


def _loaded(template: str, base: str, extra: str = "", **env: str) -> tuple[str, set[str]]:
    code = LOADED.format(template=template, base=base, extra=extra, modules=HEAVY)
    result = run_python(code, env=clean_env(**env))
    assert result.returncode == 0, result.stderr
    status, modules = result.stdout.split("\n")[:2]
    return status, set(modules.split()) - {"-"}


def test_a_dry_run_imports_no_transport_and_nothing_it_does_not_need() -> None:
    status, loaded = _loaded("<base>/<os>/<arch>/<runtime>", "https://g.example",
                             PATHBEACON_DRY_RUN="1")
    assert status == "dry_run"
    assert loaded == set(), loaded


def test_a_shipped_template_reads_no_file_and_imports_no_toml_parser() -> None:
    status, loaded = _loaded("sedona", "https://g.example", ", engine='spark'",
                             PATHBEACON_DRY_RUN="1")
    assert status == "dry_run"
    assert loaded == set(), loaded


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="distro facts read files on Linux")
@pytest.mark.parametrize(("os_release", "plain"), [
    ('ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n', True),
    ("ID=debian\nVERSION_ID=12\nNAME=Debian GNU/Linux\n", False),  # shell rules: distro's
])
@pytest.mark.parametrize("threading_first", [True, False], ids=["threading-host", "bare-host"])
def test_distro_is_imported_only_for_an_os_release_that_is_not_plain(
    tmp_path: Path, os_release: str, plain: bool, threading_first: bool
) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "os-release").write_text(os_release)
    code = ("import threading\n" if threading_first else "") + (
        f"import pathbeacon.probes as p; p.DISTRO_ROOT = {str(tmp_path)!r}\n"
        + LOADED.format(template="<base>/<distro>/<distro_version>", base="https://g.example",
                        extra="", modules=HEAVY)
        + "print(report.url)")
    result = run_python(code, env=clean_env(PATHBEACON_DRY_RUN="1"))
    status, modules, url = result.stdout.split("\n")[:3]
    assert status == "dry_run", result.stderr
    # distro loads logging, hence threading: the worker never imports threading in a host
    # that has not (before 3.13), so there the fact is unknown rather than the host harmed
    refused = not plain and not threading_first and sys.version_info < (3, 13)
    assert url == ("https://g.example/unknown/unknown" if refused
                   else "https://g.example/debian/12")
    assert ("distro" in modules.split()) is (not plain and not refused)
    assert ("logging" in modules.split()) is (not plain and not refused)


def test_package_metadata_is_read_only_when_needed_and_packaging_spared() -> None:
    # skip_dev needs the installed version: read from its .dist-info folder on sys.path,
    # without importlib.metadata, and a plain version needs no parsing, so packaging stays
    # out too.
    status, loaded = _loaded("<base>/<os>", "https://g.example", ", package='pytest'",
                             PATHBEACON_DRY_RUN="1")
    assert status == "dry_run"
    assert "importlib.metadata" not in loaded and "packaging" not in loaded, loaded


def test_the_version_is_the_one_importlib_metadata_finds(tmp_path: Path) -> None:
    """Two copies on the path: the first wins, as with importlib.metadata; names compare
    normalised (`-` and `_` alike, as on every Python); a package only importlib.metadata
    can find (an egg-info file) still is."""
    from .conftest import make_package

    make_package(tmp_path / "first", "my_pkg", "", version="2.0")
    make_package(tmp_path / "second", "my_pkg", "", version="1.0")
    (tmp_path / "second" / "oddpkg-3.1.egg-info").write_text(
        "Metadata-Version: 1.1\nName: oddpkg\nVersion: 3.1\n", encoding="utf-8")
    code = ("import sys, importlib.metadata as m\n"
            f"sys.path[:0] = [{str(tmp_path / 'first')!r}, {str(tmp_path / 'second')!r}]\n"
            "from pathbeacon import probes\n"
            "for name in ('my_pkg', 'my-pkg', 'oddpkg', 'not-there-xyz'):\n"
            "    theirs = m.version(name) if name != 'not-there-xyz' else 'unknown'\n"
            "    print(probes.package_version(name), theirs)\n")
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    pairs = [line.split() for line in result.stdout.splitlines()]
    assert pairs == [["2.0", "2.0"], ["2.0", "2.0"], ["3.1", "3.1"], ["unknown", "unknown"]]


def test_a_send_does_not_import_logging_for_itself(collector: Collector) -> None:
    status, loaded = _loaded("<base>/<os>", collector.url)
    assert status == "sent"
    if "urllib3" in loaded:
        pytest.skip("this branch's transport is urllib3, which imports logging itself")
    assert "logging" not in loaded, loaded


def test_a_send_over_http_imports_none_of_the_heavy_modules(collector: Collector,
                                                            tmp_path: Path) -> None:
    # The worker writes its GET itself: no http.client (hence no email, and no ssl over
    # HTTP), no typing (the templates' named tuples), no distro (os-release is read here),
    # no importlib.metadata or zipfile (the version comes from the .dist-info folder), no
    # logging, and no idna codec (an ASCII name is looked up as bytes).
    if not sys.platform.startswith("linux"):
        pytest.skip("the os-release fast path is Linux's")
    from .conftest import make_package

    make_package(tmp_path, "leanhost", "", version="1.4.2")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "os-release").write_text('ID=debian\nVERSION_ID="12"\n')
    code = (f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n"
            f"import pathbeacon.probes as p; p.DISTRO_ROOT = {str(tmp_path)!r}\n"
            + LOADED.format(template="<base>/<package>/<version>/<os>/<distro>/<arch>/<runtime>",
                            base=collector.url, extra=", package='leanhost'", modules=HEAVY))
    result = run_python(code)
    status, modules = result.stdout.split("\n")[:2]
    assert status == "sent", result.stderr
    assert modules == "-", modules
    assert collector.wait_for(1)[0].path.startswith("/leanhost/1.4.2/linux/debian/")


def test_logging_is_used_only_when_the_host_imported_it(collector: Collector) -> None:
    code = f"""
import logging, sys, io
stream = io.StringIO()
logging.basicConfig(level=logging.DEBUG, stream=stream)
import pathbeacon
print(pathbeacon.report_once("<base>/logged", base={collector.url!r}).wait(20))
print(any("pathbeacon: sent" in line for line in stream.getvalue().splitlines()))
"""
    result = run_python(code)
    assert result.stdout.split() == ["sent", "True"], result.stderr


# ---- shipped templates: compiled in, in step with templates/*.toml ------------------------


def test_compiled_in_templates_match_the_toml_files() -> None:
    files = {}
    # templates/ in a checkout, pathbeacon/templates when installed: the same files
    for path in sorted(catalogue._folder().glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        assert path.stem == data["name"]
        files[data["name"]] = catalogue.Entry(data["name"], data["template"],
                                              data["description"], tuple(data["facts"]))
    assert files == catalogue.SHIPPED


def test_shipped_templates_work_from_a_zipapp(tmp_path: Path) -> None:
    app = tmp_path / "app"
    shutil.copytree(ROOT / "src" / "pathbeacon", app / "pathbeacon",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (app / "__main__.py").write_text(
        "import pathbeacon, sys\n"
        "assert '.pyz' in pathbeacon.__file__, pathbeacon.__file__\n"
        "print(pathbeacon.render('sedona', base='https://g.example', engine='spark'))\n"
        "from pathbeacon.catalogue import entries\n"
        "print(' '.join(e.name for e in entries()))\n"
    )
    target = tmp_path / "app.pyz"
    zipapp.create_archive(app, target)
    result = subprocess.run([sys.executable, str(target)], capture_output=True, text=True,
                            env=clean_env(), timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    url, names = result.stdout.splitlines()
    assert url.startswith("https://g.example/python/spark/")
    assert names.split() == sorted(catalogue.SHIPPED)


# ---- fail fast at exit -------------------------------------------------------------------

_TAKES_STOP = "stop" in transport.send.__code__.co_varnames


@pytest.mark.skipif(not _TAKES_STOP,
                    reason="needs transport.send(stop=...) from branch i7b (passes once merged)")
def test_at_exit_a_failed_attempt_is_the_last(collector: Collector, tmp_path: Path) -> None:
    # 503 is retried with backoff (3 attempts while the process lives); once the host is
    # exiting, the first failure ends the report, however long the grace.
    collector.statuses = [503]
    code = f"""
import pathbeacon
pathbeacon.report_once("<base>/<os>", base={collector.url!r}, retries=2, exit_grace=5)
"""
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert len(collector.settle(0.5)) == 1
