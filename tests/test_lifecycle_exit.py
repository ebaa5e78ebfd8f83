"""The host's main thread and its exit, in fresh interpreters: whatever the collector does,
whatever the host imported, the host keeps its main thread and exits within the grace."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from .conftest import Collector, beacon_path, clean_env, run_python
from .lifecycle_tools import Trickler, exit_delay, host_env, private_dns_argv, trickler

__all__ = ["trickler"]  # the fixture, imported for pytest

PYENV = Path.home() / ".pyenv" / "versions"

MAIN_THREAD = """
import sys
import pathbeacon
report = pathbeacon.report_once("<base>/x", base={base!r})
print(report.wait(20))  # the worker has done all its imports by now
assert "threading" not in sys.modules  # pathbeacon never imports it: any thread may call
import asyncio, logging, threading
print(threading.current_thread().name, threading.current_thread() is threading.main_thread())
print(logging.LogRecord("n", logging.INFO, "p", 1, "m", None, None).threadName)
loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
print(asyncio.get_event_loop() is loop)
print(asyncio.run(asyncio.sleep(0, "ran")))
"""


#: The interpreter's own exit after the grace: tens of milliseconds, seconds on a loaded
#: machine; the bugs these tests catch hold the process for the report's 10 s timeouts.
SLACK = 1.5


def _interpreters() -> list[str]:
    """This interpreter, and the pyenv 3.12 that the bug was seen on, when present."""
    found = [sys.executable]
    for version in ("3.12.1",):
        python = PYENV / version / "bin" / "python"
        if python.exists() and sys.version_info[:2] == (3, 11):  # our deps are pure Python
            found.append(str(python))
    return found


@pytest.mark.parametrize("python", _interpreters(), ids=lambda p: Path(p).parent.parent.name)
def test_host_that_never_imported_threading_keeps_its_main_thread(
    collector: Collector, python: str
) -> None:

    # pathbeacon and its pure-Python dependencies, without this interpreter's stdlib
    env = clean_env(PYTHONPATH=beacon_path())
    code = "import sys; assert 'threading' not in sys.modules\n" + MAIN_THREAD.format(
        base=collector.url)
    result = run_python(code, env=env) if python == sys.executable else __import__(
        "subprocess").run([python, "-c", code], capture_output=True, text=True, env=env,
                          timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:5] == ["sent", "MainThread True", "MainThread", "True",
                                             "ran"], result.stdout + result.stderr


EXIT = """
{before}
import hostpkg
{after}
print("END", flush=True)
"""


def _exit_code(threading_first: bool, before: str = "", after: str = "") -> str:
    return EXIT.format(before=before + ("\nimport threading" if threading_first else ""),
                       after=after)


@pytest.mark.parametrize("threading_first", [False, True], ids=["bare-host", "threading-host"])
def test_exit_waits_at_most_the_grace_against_a_blackhole(
    blackhole: str, tmp_path: Path, threading_first: bool
) -> None:
    env = host_env(tmp_path, blackhole, ", timeout=10, exit_grace=0.5")
    delay, result = exit_delay(_exit_code(threading_first), env)
    assert result.returncode == 0 and result.stderr == "", result
    assert delay < 0.5 + SLACK, delay  # 10 s timeouts and retries would hold it 30 s


@pytest.mark.parametrize("threading_first", [False, True], ids=["bare-host", "threading-host"])
def test_exit_waits_at_most_the_grace_against_a_trickling_server(
    trickler: Trickler, tmp_path: Path, threading_first: bool
) -> None:
    env = host_env(tmp_path, trickler.url, ", timeout=2, exit_grace=0.5")
    # after the wait, the worker is reading the trickle
    delay, result = exit_delay(_exit_code(threading_first, after="hostpkg.REPORT.wait(1.5)"),
                               env)
    assert result.returncode == 0 and result.stderr == "", result
    assert trickler.connections >= 1  # the worker did reach the trickling server
    assert delay < 0.5 + 0.7, delay


HANG_DNS = """
import os, socket
_read, _ = os.pipe()
def getaddrinfo(*args, **kwargs):
    os.read(_read, 1)  # blocks in C, without the GIL, for ever: a resolver that never answers
socket.getaddrinfo = getaddrinfo
"""


@pytest.mark.parametrize("threading_first", [False, True], ids=["bare-host", "threading-host"])
def test_exit_waits_at_most_the_grace_while_a_name_look_up_hangs(
    tmp_path: Path, threading_first: bool
) -> None:
    env = host_env(tmp_path, "http://collector.pathbeacon.test:8080",
                   ", timeout=10, exit_grace=0.5")
    code = _exit_code(threading_first, before=HANG_DNS, after="hostpkg.REPORT.wait(1)")
    delay, result = exit_delay(code, env)
    assert result.returncode == 0 and result.stderr == "", result
    assert delay < 0.5 + SLACK, delay


@pytest.mark.parametrize("threading_first", [False, True], ids=["bare-host", "threading-host"])
def test_exit_waits_at_most_the_grace_against_a_dns_server_that_never_answers(
    tmp_path: Path, threading_first: bool
) -> None:
    # A real resolver on loopback that never answers, in private namespaces (user, network,
    # mount): /etc/resolv.conf is replaced for this process only.
    prefix = private_dns_argv(tmp_path)
    if prefix is None:
        pytest.skip("needs unshare and ip (Linux user namespaces) for a private resolver")
    env = host_env(tmp_path, "http://collector.pathbeacon.test:8080",
                   ", timeout=10, exit_grace=0.5")
    code = _exit_code(threading_first,
                      after="hostpkg.REPORT.wait(1)\nprint(hostpkg.REPORT.status)")
    delay, result = exit_delay(code, env, argv=[*prefix, sys.executable, "-c", code])
    assert result.returncode == 0, result
    assert result.stdout.split()[0] == "pending"  # still resolving: glibc waits 30 s a try
    assert delay < 0.5 + SLACK, delay


def test_user_grace_caps_the_authors(blackhole: str, tmp_path: Path) -> None:
    env = host_env(tmp_path, blackhole, ", timeout=10, exit_grace=20",
                   PATHBEACON_EXIT_GRACE="0.2")
    delay, result = exit_delay(_exit_code(False), env)
    assert result.returncode == 0, result
    assert delay < 0.2 + SLACK, delay  # the author asked for 20 s, the user for 0.2 s


def test_any_grace_is_capped_at_five_seconds(blackhole: str, tmp_path: Path) -> None:
    env = host_env(tmp_path, blackhole, ", timeout=30, retries=10, exit_grace=1e9")
    delay, result = exit_delay(_exit_code(False), env)
    assert result.returncode == 0, result
    assert 4.5 < delay < 5.0 + 0.7, delay


# ---- the PATHBEACON_DEBUG line -----------------------------------------------------------


def test_debug_line_never_lands_on_stdout_when_stderr_is_closed(
    collector: Collector, tmp_path: Path
) -> None:
    env = host_env(tmp_path, collector.url, PATHBEACON_DEBUG="1")
    code = "import sys, hostpkg; print(sys.stderr is None, hostpkg.REPORT.wait(10))"
    result = __import__("subprocess").run(
        ["sh", "-c", 'exec "$0" -c "$1" 2>&-', sys.executable, code],
        capture_output=True, text=True, env=env, timeout=60)
    assert result.stdout == "True sent\n", result  # the host's output, and nothing else


def test_a_full_stderr_pipe_neither_hangs_nor_breaks_the_exit(
    collector: Collector, tmp_path: Path
) -> None:
    env = host_env(tmp_path, collector.url, ", exit_grace=0.5", PATHBEACON_DEBUG="1")
    code = """
import os
os.set_blocking(2, False)
try:
    while True:
        os.write(2, b"x" * 4096)  # fill the pipe that nobody reads
except BlockingIOError:
    pass
os.set_blocking(2, True)
import hostpkg
print(hostpkg.REPORT.wait(10))
print("END", flush=True)
"""
    delay, result = exit_delay(code, env)
    assert result.returncode == 0, result.stderr[-300:]
    assert result.stdout.split() == ["sent", "END"]
    assert delay < 0.5 + SLACK, delay
    assert "Fatal" not in result.stderr


def test_a_report_abandoned_at_exit_says_so_in_one_debug_line(blackhole: str,
                                                              tmp_path: Path) -> None:
    env = host_env(tmp_path, blackhole, ", timeout=10, exit_grace=0.3", PATHBEACON_DEBUG="1")
    delay, result = exit_delay(_exit_code(False), env)
    assert result.returncode == 0, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr  # nothing at all was said before
    assert lines[0].startswith(f"pathbeacon: abandoned {blackhole}/hostpkg/")
    assert "0.3 s exit grace" in lines[0]
    assert delay < 0.3 + SLACK, delay


def test_ctrl_c_during_the_exit_grace_ends_the_process_without_a_traceback(
    blackhole: str, tmp_path: Path
) -> None:
    import signal
    import subprocess
    import time

    env = host_env(tmp_path, blackhole, ", timeout=10, exit_grace=5")
    proc = subprocess.Popen([sys.executable, "-c", _exit_code(False)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "END"
    time.sleep(0.5)  # inside the 5 s grace
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 3.0  # Ctrl-C ends the wait at once (not 4.5 s later)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err == ""
