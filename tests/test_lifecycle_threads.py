"""Which threads ``threading`` knows, in fresh interpreters of every Python we can find: a
first call from a ``_thread`` thread, a host that logs at DEBUG level."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import Collector, beacon_path, clean_env

PYENV = Path.home() / ".pyenv" / "versions"


def _pythons() -> list[str]:
    """This interpreter and every pyenv CPython from 3.9 to 3.13 (our dependencies are pure
    Python, so the venv's site-packages serves them all)."""
    found = [sys.executable]
    for version in ("3.9.18", "3.10.13", "3.12.1", "3.13.0"):
        python = PYENV / version / "bin" / "python"
        if python.exists():
            found.append(str(python))
    return found


def _run(python: str, code: str) -> subprocess.CompletedProcess[str]:

    env = clean_env(PYTHONPATH=beacon_path())
    return subprocess.run([python, "-c", code], capture_output=True, text=True, env=env,
                          timeout=60)


FROM_A_THREAD = """
import _thread, sys, time
assert "threading" not in sys.modules, "this host never imported threading"
import pathbeacon
out = []
def call():
    out.append(pathbeacon.report_once({template!r}, base={base!r}, package="thrpkg"))
_thread.start_new_thread(call, ())
while not out:
    time.sleep(0.01)
print(out[0].wait(20), out[0].url.rsplit("/", 1)[1] != "unknown")
import asyncio, logging, threading
print(threading.current_thread().name, threading.current_thread() is threading.main_thread())
print(logging.LogRecord("n", logging.INFO, "p", 1, "m", None, None).threadName)
loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
print(asyncio.get_event_loop() is loop)
"""


@pytest.mark.parametrize("python", _pythons(), ids=lambda p: Path(p).parent.parent.name)
@pytest.mark.parametrize("template", ["<base>/<os>/<distro>/<libc>", "<base>/<version>/<os>"])
def test_a_first_call_from_a_thread_thread_leaves_the_main_thread_main(
    collector: Collector, python: str, template: str
) -> None:
    # Before 3.13 threading takes whichever thread first imports it for the main thread;
    # pathbeacon imported it on the calling thread, which here is not the main one.
    result = _run(python, FROM_A_THREAD.format(template=template, base=collector.url))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:4] == ["sent True", "MainThread True", "MainThread",
                                             "True"], result.stdout + result.stderr
    assert result.stderr == ""


DEBUG_LOGGING = """
import logging, sys, threading, time
logging.basicConfig(level=logging.DEBUG, stream=sys.stdout, format="%(threadName)s %(message)s")
before = threading.active_count(), [t.name for t in threading.enumerate()]
import pathbeacon
report = pathbeacon.report_once("<base>/<os>", base={base!r})
print("STATUS", report.wait(20))
time.sleep(0.3)  # the worker has ended
print("AFTER", before == (threading.active_count(), [t.name for t in threading.enumerate()]))
"""


@pytest.mark.parametrize("python", _pythons(), ids=lambda p: Path(p).parent.parent.name)
def test_a_debug_record_from_the_worker_leaves_no_dummy_thread(collector: Collector,
                                                               python: str) -> None:
    result = _run(python, DEBUG_LOGGING.format(base=collector.url))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "STATUS sent" in lines and "AFTER True" in lines, result.stdout
    record = [line for line in lines if "pathbeacon: sent" in line]
    assert record and record[0].startswith("pathbeacon "), record  # not "Dummy-1"
