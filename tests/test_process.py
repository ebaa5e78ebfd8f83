"""Import, exit and fork behaviour, in real fresh interpreters."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from .conftest import Collector, clean_env, make_package, run_python

HOST = """
import pathbeacon
REPORT = pathbeacon.report_once(
    "<base>/<package>/<os>/<arch>", base={base!r}, package="hostpkg"{extra}
)
"""


def host(tmp_path: Path, base: str, extra: str = "") -> dict[str, str]:
    """A package 'hostpkg' whose __init__ reports; returns the env that can import it."""
    make_package(tmp_path, "hostpkg", HOST.format(base=base, extra=extra))
    return clean_env(PYTHONPATH=os.pathsep.join([str(tmp_path), *sys.path]))


def test_short_lived_process_delivers(collector: Collector, tmp_path: Path) -> None:
    # a grace long enough for a loaded machine: the process still ends once it is delivered
    env = host(tmp_path, collector.url, extra=", exit_grace=5")
    result = run_python("import hostpkg", env=env)
    assert result.returncode == 0 and result.stderr == ""
    (request,) = collector.wait_for(1, timeout=5)
    assert request.path.startswith("/hostpkg/")


def test_heavy_modules_are_not_imported_on_the_importing_thread(
    collector: Collector, tmp_path: Path
) -> None:
    env = host(tmp_path, collector.url)
    code = """
import _thread, sys
main = _thread.get_ident()
seen = []
class Spy:
    def find_spec(self, name, path=None, target=None):
        if _thread.get_ident() == main:
            seen.append(name)
        return None
sys.meta_path.insert(0, Spy())
import hostpkg
on_main = sorted(set(seen))
print(hostpkg.REPORT.wait(10))
print(" ".join(on_main))
"""
    result = run_python(code, env=env)
    assert result.returncode == 0, result.stderr
    status, imported = result.stdout.splitlines()
    assert status == "sent"
    # threading is imported here on purpose (before 3.13 it must be, to know the main
    # thread), and with it whatever this interpreter's threading imports (PyPy's: re)
    with_threading = run_python("import sys; before = set(sys.modules); import threading; "
                                "print(' '.join(set(sys.modules) - before))")
    allowed = {name.split(".")[0] for name in with_threading.stdout.split()}
    heavy = {"urllib3", "distro", "packaging", "re", "typing", "logging", "json", "http",
             "urllib", "socket", "ssl", "importlib", "__future__", "platform", "tomllib",
             "select", "pathlib", "email"} - allowed
    assert not {name.split(".")[0] for name in imported.split()} & heavy, imported


def test_blackholed_network_slows_neither_import_nor_exit(blackhole: str, tmp_path: Path) -> None:
    env = host(tmp_path, blackhole, extra=", timeout=10, exit_grace=0.5")
    code = """
import time
t = time.perf_counter()
import hostpkg
print(time.perf_counter() - t)
"""
    started = time.monotonic()
    result = run_python(code, env=env)
    elapsed = time.monotonic() - started
    assert result.returncode == 0 and result.stderr == ""
    assert float(result.stdout) < 1.0  # the import did not wait for the network
    # 10 s timeouts and retries would take half a minute; exit waited only the grace.
    assert elapsed < 5.0


def test_exit_grace_from_the_environment(blackhole: str, tmp_path: Path) -> None:
    env = host(tmp_path, blackhole, extra=", timeout=10")
    env["PATHBEACON_EXIT_GRACE"] = "0"
    started = time.monotonic()
    assert run_python("import hostpkg", env=env).returncode == 0
    assert time.monotonic() - started < 5.0


def test_refused_port_fails_quietly(refused: str, tmp_path: Path) -> None:
    env = host(tmp_path, refused)
    result = run_python("import hostpkg; print(hostpkg.REPORT.wait(10))", env=env)
    assert result.returncode == 0
    assert result.stdout.strip() == "failed"
    assert result.stderr == ""


def test_debug_explains_a_failure_on_stderr(refused: str, tmp_path: Path) -> None:
    env = host(tmp_path, refused, extra=", retries=0")
    env["PATHBEACON_DEBUG"] = "1"
    result = run_python("import hostpkg; hostpkg.REPORT.wait(10)", env=env)
    line = result.stderr.strip()
    assert line.startswith(f"pathbeacon: failed {refused}/hostpkg/")
    assert "refused" in line.lower() or "connect" in line.lower()


def test_opted_out_process_sends_nothing_and_starts_no_thread(collector: Collector,
                                                              tmp_path: Path) -> None:
    env = host(tmp_path, collector.url)
    env["HOSTPKG_NO_ANALYTICS"] = "1"
    code = "import hostpkg, sys; print(hostpkg.REPORT.status, 'threading' in sys.modules)"
    result = run_python(code, env=env)
    assert result.stdout.split() == ["disabled", "False"]
    assert collector.settle(0.5) == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_does_not_resend(collector: Collector, tmp_path: Path) -> None:
    env = host(tmp_path, collector.url)
    code = f"""
import os, hostpkg, pathbeacon
hostpkg.REPORT.wait(10)
pid = os.fork()
if pid == 0:
    again = pathbeacon.report_once("<base>/<package>/<os>/<arch>", base={collector.url!r}, package="hostpkg")
    os._exit(0 if again.status == "sent" else 3)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
"""
    result = run_python(code, env=env)
    assert result.stdout.strip() == "0", result.stderr
    assert len(collector.settle(0.5)) == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize("pause", [0.0, 0.002, 0.01, 0.03, 0.1])
def test_fork_right_after_report_once_leaves_a_working_child(
    collector: Collector, tmp_path: Path, pause: float
) -> None:
    # The worker starts importing at once (no idle delay), so the fork lands mid-import.
    code = f"""
import os, time, pathbeacon, pathbeacon.report
pathbeacon.report.START_DELAY = 0
parent = pathbeacon.report_once("<base>/parent/<os>", base={collector.url!r})
time.sleep({pause!r})
pid = os.fork()
if pid == 0:
    child = pathbeacon.report_once("<base>/child/<os>", base={collector.url!r})
    os._exit(0 if child.wait(20) == "sent" else 3)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status), parent.wait(20))
"""
    result = run_python(code, timeout=60)
    assert result.stdout.split() == ["0", "sent"], result.stderr
    paths = sorted(r.path.split("/")[1] for r in collector.settle(0.5))
    assert paths == ["child", "parent"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_while_host_uses_logging(collector: Collector) -> None:
    # A host that set up logging (handlers with locks, logging's fork hook registered
    # before pathbeacon's) forks while the worker imports: both sides must carry on.
    code = f"""
import logging, os, time, pathbeacon, pathbeacon.report
logging.basicConfig(level=logging.WARNING)
pathbeacon.report.START_DELAY = 0
parent = pathbeacon.report_once("<base>/parent", base={collector.url!r})
pid = os.fork()
if pid == 0:
    os._exit(0 if pathbeacon.report_once("<base>/child", base={collector.url!r}).wait(20) == "sent" else 3)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status), parent.wait(20))
"""
    started = time.monotonic()
    result = run_python(code, timeout=60)
    assert result.stdout.split() == ["0", "sent"], result.stderr
    assert time.monotonic() - started < 30


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_child_does_not_wait_for_its_parents_report(blackhole: str) -> None:
    code = f"""
import os, time, pathbeacon
report = pathbeacon.report_once("<base>/<os>", base={blackhole!r}, timeout=10)
pid = os.fork()
if pid == 0:
    started = time.monotonic()
    status = report.wait()  # no timeout: must not hang on the parent's worker
    os._exit(0 if status == "pending" and time.monotonic() - started < 1 else 3)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
"""
    result = run_python(code, timeout=60, env=clean_env(PATHBEACON_EXIT_GRACE="0"))
    assert result.stdout.strip() == "0", result.stderr


def test_worker_waits_for_a_slow_host_import_to_finish(collector: Collector,
                                                       tmp_path: Path) -> None:
    # The host keeps importing for 0.8 s after report_once(): longer than the idle delay.
    body = (HOST.format(base=collector.url, extra="")
            + "import time\ntime.sleep(0.8)\nDONE = time.time()  # still inside the import\n")
    make_package(tmp_path, "slowpkg", body)
    env = clean_env(PYTHONPATH=os.pathsep.join([str(tmp_path), *sys.path]))
    code = """
import time, threading
import slowpkg
print(slowpkg.DONE)
slowpkg.REPORT.wait(10)
print(slowpkg.REPORT.status)
"""
    result = run_python(code, env=env)
    imported_at, status = result.stdout.split()
    assert status == "sent", result.stderr
    arrived = collector.wait_for(1)[0]
    assert arrived.at >= float(imported_at)


def test_a_whole_report_spawns_no_process(collector: Collector, tmp_path: Path) -> None:
    # The default template needs every probe (distro included), and then a real send.
    make_package(tmp_path, "fullpkg", f"""
import pathbeacon
REPORT = pathbeacon.report_once("default", base={collector.url!r}, package="fullpkg")
""")
    env = clean_env(PYTHONPATH=os.pathsep.join([str(tmp_path), *sys.path]))
    code = """
import os, subprocess
def boom(*a, **k):
    raise AssertionError("a process was spawned")
subprocess.Popen.__init__ = boom
os.system = os.popen = os.posix_spawn = os.posix_spawnp = boom
import fullpkg
print(fullpkg.REPORT.wait(20), fullpkg.REPORT.reason)
"""
    result = run_python(code, env=env)
    assert result.stdout.split()[0] == "sent", result.stdout + result.stderr
    assert len(collector.wait_for(1)) == 1
