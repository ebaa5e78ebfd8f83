"""Forks wait at most their documented 2 s in all; no probe reads more than 64 KiB of a file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pathbeacon import guard, probes

from .conftest import Collector, clean_env, run_python

HUGE = 200 * 1024 * 1024


def _sparse(path: Path, head: bytes, size: int = HUGE) -> None:
    """A ``size``-byte file that starts with ``head`` and costs no disk (a sparse file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as stream:
        stream.write(head)
        stream.truncate(size)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="distro facts read files on Linux")
def test_huge_release_files_cost_neither_memory_nor_time(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _sparse(root / "etc" / "os-release", b'ID=alpine\nVERSION_ID="3.19.1"\nNAME="Alpine"\n')
    _sparse(root / "etc" / "alpine-release", b"3.19.1")  # one 200 MB "first line"
    _sparse(root / "etc" / "debian_version", b"12.5")
    code = f"""
import resource, time
import distro
from pathbeacon import probes
probes.DISTRO_ROOT = {str(root)!r}
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.monotonic()
facts = probes.get("distro"), probes.get("distro_version")
took = time.monotonic() - started
grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
print(*facts, took, grown)
"""
    result = run_python(code, timeout=120)
    assert result.returncode == 0, result.stderr
    name, version, took, grown_mb = result.stdout.split()
    assert (name, version) == ("alpine", "3.19.1")
    assert float(took) < 1.0 and float(grown_mb) < 20  # reading it all took 20 s and 400 MB


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="distro facts read files on Linux")
def test_bounded_distro_facts_match_distro_itself() -> None:
    import distro

    assert probes.get("distro") == (distro.id() or "unknown")
    assert probes.get("distro_version") == (distro.version() or "unknown")


def test_head_reads_at_most_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "big"
    _sparse(path, b"start\n", 10 * 1024 * 1024)
    text = probes.head(str(path))
    assert text is not None and text.startswith("start\n")
    assert len(text) == probes.READ_LIMIT == 64 * 1024
    assert probes.head(str(tmp_path / "missing")) is None
    assert probes.head(str(tmp_path)) is None  # a folder


def test_musl_scan_finds_a_version_across_read_boundaries(tmp_path: Path) -> None:
    loader = tmp_path / "ld-musl-x86_64.so.1"
    at = probes.READ_LIMIT * 3 - 3  # the string straddles two reads
    loader.write_bytes(b"\x7fELF" + b"\x01" * (at - 4) + b"\x001.2.4\x00" + b"\x01" * 100)
    assert probes._musl_version(str(loader)) == "1.2.4"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_waits_at_most_two_seconds_in_all_while_an_import_is_slow(
    collector: Collector,
) -> None:
    # The worker's import of pathbeacon.compose takes 6 s (a slow file system, say), while
    # it holds the lock forks wait for; the host imported logging first, so the fork hooks
    # are registered twice. Each hook used to wait 2 s: 4 s for one fork.
    code = f"""
import importlib.util, logging, os, sys, time, _thread
MAIN = _thread.get_ident()
class Slow:
    # The module's code runs 6 s (as importlib runs it: holding the module's lock only;
    # a finder would hold CPython's global import lock, which forks wait for anyway).
    def find_spec(self, name, path=None, target=None):
        if name != "pathbeacon.compose" or _thread.get_ident() == MAIN:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module
        def exec_module(module):
            time.sleep(6)
            run(module)
        spec.loader.exec_module = exec_module
        return spec
sys.meta_path.insert(0, Slow())
import pathbeacon, pathbeacon.report
pathbeacon.report.START_DELAY = 0
report = pathbeacon.report_once("<base>/<os>", base={collector.url!r})
time.sleep(1.0)  # the worker is inside the slow import now
started = time.monotonic()
pid = os.fork()
if pid == 0:
    os._exit(0)
took = time.monotonic() - started
os.waitpid(pid, 0)
print(round(took, 2), pathbeacon.guard._hooks_registered, report.wait(20))
"""
    result = run_python(code, env=clean_env(), timeout=60)
    took, hooks, status = result.stdout.split()
    assert hooks == "2" and status == "sent", result.stderr
    assert 1.5 < float(took) < guard.FORK_WAIT + 0.5, took


def test_a_huge_metadata_file_costs_neither_memory_nor_time(tmp_path: Path) -> None:
    info = tmp_path / "hugepkg-1.2.3.dist-info"
    _sparse(info / "METADATA",
            b"Metadata-Version: 2.1\nName: hugepkg\nVersion: 1.2.3\n\nA long description")
    code = f"""
import resource, sys, time
sys.path.insert(0, {str(tmp_path)!r})
import importlib.metadata, email.parser
from pathbeacon import probes
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.monotonic()
version = probes.package_version("hugepkg")
took = time.monotonic() - started
print(version, took, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""
    result = run_python(code, timeout=120)
    assert result.returncode == 0, result.stderr
    version, took, grown_mb = result.stdout.split()
    assert version == "1.2.3"
    assert float(took) < 1.0 and float(grown_mb) < 20


def test_metadata_version_header_parsing(tmp_path: Path) -> None:
    from importlib import metadata

    from .conftest import make_package

    make_package(tmp_path, "plainpkg", "", version="01.2")  # normalised by packaging
    sys.path.insert(0, str(tmp_path))
    try:
        assert probes.package_version("plainpkg") == "1.2"
        assert probes._metadata_version(metadata.distribution("plainpkg")) == "01.2"
    finally:
        sys.path.remove(str(tmp_path))


@pytest.mark.skipif(not hasattr(os, "register_at_fork"), reason="needs os.register_at_fork")
def test_fork_hooks_are_registered_again_once_the_worker_loads_logging(
    collector: Collector,
) -> None:
    # Our hooks must run before logging's (hooks run newest first): registered again right
    # after the worker's imports load logging, and only then.
    code = f"""
import sys, pathbeacon
from pathbeacon import guard
import pathbeacon.report
first = pathbeacon.report_once("<base>/one", base={collector.url!r})
print(first.wait(20), guard._hooks_registered, "logging" in sys.modules, sys.meta_path[0].__class__.__name__)
"""
    sent = run_python(code)
    status, hooks, logging_loaded, first_finder = sent.stdout.split()
    assert status == "sent", sent.stderr
    assert first_finder != "_AfterLogging"  # the watch is gone once the imports are done
    assert hooks == ("2" if logging_loaded == "True" else "1")
    dry = run_python(code, env=clean_env(PATHBEACON_DRY_RUN="1"))
    assert dry.stdout.split()[:3] == ["dry_run", "1", "False"], dry.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_fork_never_waits_for_a_stuck_probe(collector: Collector) -> None:
    # The worker's read of a fact hangs (a hung network home, a stuck /etc/os-release):
    # forks wait only for imports, never for a probe (they waited 2.0 s each).
    code = f"""
import os, time
import pathbeacon, pathbeacon.report
from pathbeacon import probes
stuck = []
def stuck_probe():
    stuck.append(1)
    time.sleep(4)
    return "slowlinux"
probes._PROBES["distro"] = stuck_probe
pathbeacon.report.START_DELAY = 0
report = pathbeacon.report_once("<base>/<distro>", base={collector.url!r})
while not stuck:
    time.sleep(0.01)
took = []
for _ in range(3):
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    took.append(time.monotonic() - started)
    os.waitpid(pid, 0)
print(round(max(took), 2), report.wait(20), report.url.rsplit("/", 1)[1])
"""
    result = run_python(code, env=clean_env(), timeout=60)
    took, status, fact = result.stdout.split()
    assert (status, fact) == ("sent", "slowlinux"), result.stderr
    assert float(took) < 0.5, took


OS_RELEASES = [
    'ID=alpine\nVERSION_ID=3.19.1\nNAME="Alpine Linux"\n',
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n',
    "ID='ol'\nVERSION_ID='8.9'\n",
    'ID="opensuse-leap"\nVERSION_ID="15.5"\n# a comment\n\n',
    'ID=Ubuntu\nVERSION_ID="22.04"\nID_LIKE=debian\n',
    'ID=debian\nPRETTY_NAME="Debian GNU/Linux trixie/sid"\n',  # no VERSION_ID: distro decides
    'ID="fedora"\nVERSION_ID=39\nVARIANT="Cloud Edition"\n',
    'ID=weird\\ name\nVERSION_ID=1\n',  # an escape: distro's shell rules
    'ID="a"b\nVERSION_ID=1\n',
    'ID="deb ian"\nVERSION_ID="1 2"\n',
    'ID="it\'s"\nVERSION_ID=1\n',
    'ID=plain\nVERSION_ID=1\nNAME=two words\n',
    'NAME=NoId\nVERSION_ID=1\n',
    "",
]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="distro facts read files on Linux")
@pytest.mark.parametrize("text", OS_RELEASES)
def test_distro_facts_read_without_distro_match_distro(tmp_path: Path, text: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import distro

    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "os-release").write_text(text)
    (root / "etc" / "debian_version").write_text("trixie/sid\n")
    monkeypatch.setattr(probes, "DISTRO_ROOT", str(root))
    monkeypatch.setattr(probes, "_cache", {})
    expected = distro.LinuxDistribution(include_lsb=False, include_uname=False,
                                        include_oslevel=False, root_dir=str(root))
    assert probes.get("distro") == (expected.id() or "unknown")
    assert probes.get("distro_version") == (expected.version() or "unknown")


def test_a_plain_os_release_imports_no_distro() -> None:
    if not sys.platform.startswith("linux") or probes._os_release("/") is None:
        pytest.skip("this machine's os-release is not in the plain form")
    result = run_python("import sys\nfrom pathbeacon import probes\n"
                        "print(probes.get('distro'), 'distro' in sys.modules, "
                        "'logging' in sys.modules)")
    assert result.stdout.split()[1:] == ["False", "False"], result.stdout + result.stderr


# ---- the window in which a fork warns (Python 3.12+) ------------------------------------------

PYENV = Path.home() / ".pyenv" / "versions"


def _forking_pythons() -> list[str]:
    """Interpreters whose ``os.fork()`` warns in a multi-threaded process (3.12+): this one
    if it is, and pyenv's 3.12 and 3.13 when present."""
    found = [sys.executable] if sys.version_info >= (3, 12) else []
    for version in ("3.12.1", "3.13.0"):
        python = PYENV / version / "bin" / "python"
        if python.exists() and str(python) not in found:
            found.append(str(python))
    return found


# Forks while the worker lives warn; the worker (and any look-up thread) ends with the
# report, or with the resolver's own time-out; forks after that do not warn.
WINDOW = """
import os, sys, time, warnings
warnings.simplefilter("always")
sys.path.insert(0, {src!r})
import pathbeacon

def fork_warns():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
    return sum("multi-threaded" in str(w.message) for w in caught)

def threads():
    return len(os.listdir("/proc/self/task"))

started = time.monotonic()
report = pathbeacon.report_once("<base>/<os>", base={base!r}, timeout={timeout}, retries=0)
during = fork_warns()  # the worker lives (it idles 0.05 s first)
status = report.wait(30)
ended = time.monotonic() - started
while threads() > 1 and time.monotonic() - started < 60:
    time.sleep(0.005)
alone = time.monotonic() - started
print(status, during, round(ended, 2), round(alone, 2), fork_warns())
"""


def _window(python: str, base: str, timeout: float,
            prefix: list[str] | None = None) -> tuple[str, int, float, float, int]:
    code = WINDOW.format(src=str(Path(__file__).resolve().parent.parent / "src"), base=base,
                         timeout=timeout)
    argv = [*prefix[:-1], python, python] if prefix else [python]
    result = subprocess.run([*argv, "-c", code], capture_output=True, text=True, timeout=90,
                            env=clean_env())
    fields = result.stdout.split()
    assert len(fields) == 5, result.stdout + result.stderr
    status, during, ended, alone, after = fields
    return status, int(during), float(ended), float(alone), int(after)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts /proc/self/task")
@pytest.mark.parametrize("python", _forking_pythons() or [None],
                         ids=lambda p: Path(p).parent.parent.name if p else "none")
def test_forks_warn_only_while_the_worker_lives(python: str | None, collector: Collector) -> None:
    if python is None:
        pytest.skip("needs Python 3.12+ (pyenv's 3.12.1 or 3.13.0): older forks never warn")
    collector.delay = 1.0  # the worker surely lives at the fork, however slow the machine
    status, during, ended, alone, after = _window(python, collector.url, 3.0)
    assert status == "sent" and during == 1, (status, during)
    # the worker ends with its report: no thread stays behind to make later forks warn
    assert alone - ended < 0.5 and after == 0, (ended, alone, after)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts /proc/self/task")
@pytest.mark.parametrize("python", _forking_pythons() or [None],
                         ids=lambda p: Path(p).parent.parent.name if p else "none")
def test_behind_a_dns_server_that_never_answers_the_window_is_the_resolvers(
        python: str | None, tmp_path: Path) -> None:
    """The report ends at its deadline; the look-up thread, which no Python code can
    interrupt inside ``getaddrinfo``, ends when the resolver gives up (here 1 s: one try
    of 1 s, A and AAAA at once), and not a moment later: forks then stop warning."""
    if python is None:
        pytest.skip("needs Python 3.12+ (pyenv's 3.12.1 or 3.13.0): older forks never warn")
    from .lifecycle_tools import private_dns_argv

    prefix = private_dns_argv(tmp_path)
    if prefix is None:
        pytest.skip("needs unshare and ip (Linux user namespaces) for a private resolver")
    (tmp_path / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    status, during, ended, alone, after = _window(
        python, "http://collector.pathbeacon.test:8080", 0.4, prefix)
    assert status == "failed" and during == 1, (status, during)
    assert ended < 0.4 + 0.6, ended  # the report's own deadline (and the 0.05 s idle)
    assert 0.9 <= alone < 1.0 + 1.0 and after == 0, (ended, alone, after)
