"""Re-entrant calls (signal handlers, ``__del__``) and subinterpreters, in fresh interpreters."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import Collector, beacon_path, clean_env, run_python

# Arbitrary host code runs inside the claim when the key's __hash__ runs: the same window a
# signal or a garbage collection can land in. Each case provokes the re-entrant call there.
REENTRY = """
import gc, signal, sys
import pathbeacon
BASE = {base!r}
inner = []

def call_again(*_):
    inner.append(pathbeacon.report_once("<base>/inner", base=BASE))

class Finalised:
    def __del__(self):
        call_again()

holder = [Finalised()]
signal.signal(signal.SIGUSR1, call_again)

class Key:
    def __hash__(self):
        if {how!r} == "signal":
            signal.raise_signal(signal.SIGUSR1)  # the handler runs before this returns
        else:
            del holder[:]  # the last reference: __del__ runs right here
        return 7
    def __eq__(self, other):
        return self is other

outer = pathbeacon.report_once("<base>/outer", base=BASE, key=Key())
# one re-entrant call per hash of the key; each returned at once, all with the same report
print(len({{id(r) for r in inner}}), outer.wait(20), inner[0].wait(20))
"""


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="needs SIGUSR1")
@pytest.mark.parametrize("how", ["signal", "__del__"])
def test_a_reentrant_call_inside_the_claim_returns_at_once(collector: Collector,
                                                           how: str) -> None:
    if how == "__del__" and sys.implementation.name != "cpython":
        pytest.skip("only CPython's reference counting runs __del__ at a chosen moment")
    result = run_python(REENTRY.format(base=collector.url, how=how), timeout=30)
    assert result.stdout.split() == ["1", "sent", "sent"], result.stderr
    assert sorted(r.path for r in collector.settle(0.3)) == ["/inner", "/outer"]


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs setitimer")
def test_signals_storming_report_once_never_deadlock(collector: Collector) -> None:
    # Real asynchronous signals every 0.2 ms, landing wherever they land, for 2000 calls.
    code = f"""
import signal, pathbeacon
reports = []
def handler(*_):
    reports.append(pathbeacon.report_once("<base>/sig", base={collector.url!r}, key="sig"))
signal.signal(signal.SIGALRM, handler)
pathbeacon.report_once("<base>/first", base={collector.url!r})  # imports done before the storm
signal.setitimer(signal.ITIMER_REAL, 0.0002, 0.0002)
for i in range(2000):
    pathbeacon.report_once("<base>/loop", base={collector.url!r}, key=("loop", i % 50))
signal.setitimer(signal.ITIMER_REAL, 0)
print(len(reports) > 0, len({{id(r) for r in reports}}))
"""
    result = run_python(code, env=clean_env(PATHBEACON_DRY_RUN="1"), timeout=60)
    assert result.stdout.split() == ["True", "1"], result.stderr


# ---- subinterpreters ---------------------------------------------------------------------

SUBINTERPRETER = """
import os, sys
code = '''
import os, pathbeacon
r = pathbeacon.report_once("<base>/sub", base={base!r})
os.write(1, ("%s|%s\\\\n" % (r.status, r.reason)).encode())
'''
try:
    import _interpreters as interpreters  # 3.13
except ImportError:
    import _xxsubinterpreters as interpreters  # 3.8 to 3.12
interp = interpreters.create()
interpreters.run_string(interp, code)
interpreters.destroy(interp)  # with a report in flight, this used to crash the process
import pathbeacon
print("main|" + pathbeacon.report_once("<base>/main", base={base!r}).wait(20))
"""


def _subinterpreter_pythons() -> list[str]:
    pythons = [sys.executable]
    for version in ("3.12.1", "3.13.0"):
        python = Path.home() / ".pyenv" / "versions" / version / "bin" / "python"
        if python.exists():
            pythons.append(str(python))
    return pythons


@pytest.mark.parametrize("python", _subinterpreter_pythons(),
                         ids=lambda p: Path(p).parent.parent.name)
def test_reports_from_a_subinterpreter_are_disabled(collector: Collector, python: str) -> None:
    probe = subprocess.run(
        [python, "-c", "import importlib.util as u; print(bool(u.find_spec('_interpreters') "
         "or u.find_spec('_xxsubinterpreters')))"], capture_output=True, text=True)
    if probe.stdout.strip() != "True":
        pytest.skip(f"{python} exposes no subinterpreters")

    env = clean_env(PYTHONPATH=beacon_path())
    result = subprocess.run([python, "-c", SUBINTERPRETER.format(base=collector.url)],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    sub, main = result.stdout.splitlines()
    status, reason = sub.split("|")
    assert status == "disabled" and "subinterpreter" in reason
    assert main == "main|sent"
    assert [r.path for r in collector.settle(0.3)] == ["/main"]


# ---- calls made while pathbeacon.report is half imported, or after the interpreter ended ----

HALF_IMPORTED = """
import sys
import pathbeacon
OURS = pathbeacon.__file__.replace("__init__.py", "report.py")
outcomes = []

def handler():  # as a signal handler would, on this thread, between two lines of the import
    try:
        r = pathbeacon.report_once("<base>/h", base="http://127.0.0.1:9", key="h")
        outcomes.append(r.wait(0) if r.status != "pending" else "pending")
    except BaseException as error:
        outcomes.append("raised " + type(error).__name__)

def at_line(n):
    seen = [0]
    def trace(frame, event, arg):
        if frame.f_code.co_filename != OURS or frame.f_code.co_name != "<module>":
            return None
        if event == "line":
            seen[0] += 1
            if seen[0] == n:
                handler()
        return trace
    return trace

n = 0
while True:
    n += 1
    for name in ("report_once", "Report", "report"):
        pathbeacon.__dict__.pop(name, None)
    sys.modules.pop("pathbeacon.report", None)
    before = len(outcomes)
    sys.settrace(at_line(n))
    try:
        pathbeacon.report_once  # the first import, as the host's first call makes it
    finally:
        sys.settrace(None)
    if len(outcomes) == before:  # past the module's last line
        break
print(n, sorted(set(outcomes)))
"""


def test_a_handler_calling_during_the_first_import_gets_a_report_not_an_error() -> None:
    result = run_python(HALF_IMPORTED, env=clean_env(PATHBEACON_DRY_RUN="1"))
    assert result.returncode == 0, result.stderr
    lines, outcomes = result.stdout.split(maxsplit=1)
    assert int(lines) > 20  # every line of the module's body was tried
    assert "raised" not in outcomes, outcomes  # AttributeError before
    assert result.stderr == ""


AT_SHUTDOWN = """
import os, pathbeacon
{first}
class Late:
    def __del__(self, write=os.write):
        r = pathbeacon.report_once("<base>/late", base={base!r})
        write(1, ("%s|%s\\n" % (r.status, r.reason)).encode())
holder = Late()  # a module global: finalised as the interpreter shuts down
"""


@pytest.mark.parametrize("first", ["", "pathbeacon.report_once('<base>/a', base='http://127.0.0.1:9')"],
                         ids=["never-called", "called-before"])
def test_a_del_at_shutdown_gets_a_failed_report_and_no_noise(collector: Collector,
                                                             first: str) -> None:
    if sys.implementation.name != "cpython":
        pytest.skip("only CPython's reference counting runs __del__ at a chosen moment")
    result = run_python(AT_SHUTDOWN.format(first=first, base=collector.url))
    assert result.returncode == 0
    assert result.stderr == "", result.stderr  # "Exception ignored ... ImportError" before
    status, reason = result.stdout.strip().split("|")
    assert status == "failed" and reason, result.stdout
