"""An adversary's review of the merged beacon side (issues 15 and 16): the seams between the
one worker, the interval claim, the user's choice, the notice and the record, in real
processes against a loopback collector (a pseudo-terminal where the notice matters)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import Collector
from .lifecycle_tools import INTERRUPT_AT
from .test_consent import env, host, telemetry
from .test_consent_notice import notices, run

INTERVAL_THEN_ANOTHER = """
import sys, pathbeacon
base, mode = sys.argv[1], sys.argv[2]
a = pathbeacon.report_once("<base>/<package>/<os>", base=base, package="acme", consent=mode,
                           skip_dev=False, interval="1d")
b = pathbeacon.report_once("<base>/other/<package>", base=base, package="acme",
                           consent="notice", skip_dev=False)
print(a.wait(20), b.wait(20))
print(a.reason + " | " + b.reason)
"""


def test_a_notice_is_shown_even_when_the_interval_was_delivered(
    collector: Collector, tmp_path: Path
) -> None:
    # An author moves from opt-out to consent="notice": the old version delivered within the
    # interval, the notice was never shown. The first run on a terminal shows it (nothing is
    # sent); no report may claim the notice is shown in this run when it is not.
    cache = str(tmp_path / "cache")
    first = run(collector, tty=False, mode="opt-out", code=INTERVAL_THEN_ANOTHER,
                PATHBEACON_CACHE_DIR=cache)
    assert first.status.startswith("sent"), first.reason
    sent = len(collector.settle(0.3))
    result = run(collector, tty=True, code=INTERVAL_THEN_ANOTHER, PATHBEACON_CACHE_DIR=cache)
    assert "anonymous usage reports" in result.terminal, (result.reason, result.terminal)
    assert notices() == ["acme"]
    assert result.status == "disabled disabled"
    assert result.reason.count("shows its first-run notice in this run") == 2, result.reason
    assert len(collector.settle(0.3)) == sent
    # The next run: the interval (not the notice) keeps the first quiet, the second sends.
    after = run(collector, tty=False, code=INTERVAL_THEN_ANOTHER, PATHBEACON_CACHE_DIR=cache)
    assert after.status == "skipped sent", after.reason


MIXED_MODES = """
import sys, pathbeacon
base = sys.argv[1]
a = pathbeacon.report_once("<base>/<package>/<os>", base=base, package="acme", skip_dev=False)
b = pathbeacon.report_once("<base>/cmd/<package>", base=base, package="Acme",
                           consent=sys.argv[2], skip_dev=False)
print(a.wait(20), b.wait(20))
print(a.reason + " | " + b.reason)
"""


def test_the_notice_says_nothing_was_sent_and_nothing_of_the_package_is(
    collector: Collector,
) -> None:
    # The notice says "Nothing was sent this time": a report of the same package queued
    # before it (an opt-out call elsewhere in the package) must not be sent in that run.
    first = run(collector, tty=True, code=MIXED_MODES)
    assert "Nothing was sent this time" in first.terminal, first.terminal
    assert first.status == "disabled disabled", first.reason
    assert collector.settle(0.3) == []
    assert first.reason.count("shows its first-run notice in this run") == 2, first.reason
    second = run(collector, tty=True, code=MIXED_MODES)
    assert second.status == "sent sent" and second.terminal == ""


@pytest.mark.parametrize("answers", [[404], [503, 503, 503], [500, 204]])
def test_the_record_holds_every_report_the_collector_received_whatever_it_answered(
    collector: Collector, answers: list[int]
) -> None:
    # A request answered 404 or 503 left the machine and sits in the gateway's log all the
    # same: the user's record must show it (what was sent equals what the user can see).
    collector.statuses = answers
    status, _ = host(collector, "acme")
    assert status == ("sent" if answers[-1] < 300 else "failed")
    requests = collector.settle(0.3)
    assert requests
    entries = json.loads(telemetry("log", "--json").stdout)
    assert {e["url"] for e in entries} == {collector.url + r.path for r in requests}
    assert len(entries) == 1, entries  # one line per report, however many attempts


@pytest.mark.parametrize("option", ["interval", "consent", "timeout", "key"])
def test_an_option_passed_in_facts_is_named_as_an_option_not_a_typo(option: str) -> None:
    # facts={"consent": "opt-in"} is the author's slip: the reason must say where the option
    # goes, not "did you mean 'consent'?" about the very name given.
    import pathbeacon
    from pathbeacon.testing import capture

    with capture(choice="on"):
        report = pathbeacon.report_once("<base>/<os>", base="https://acme.example/t",
                                        facts={option: "1d"}, key=("review", option))
    assert report.wait(10) == "failed"
    assert f"did you mean {option!r}" not in report.reason, report.reason
    assert f"{option}= is an option of report_once" in report.reason, report.reason


def test_a_choice_file_with_a_byte_order_mark_is_understood(collector: Collector) -> None:
    # Windows PowerShell 5.1's `Set-Content -Encoding utf8` starts the file with a BOM: the
    # user's `on` must not turn into "cannot be used: counted as off".
    folder = Path(os.environ["PATHBEACON_CONFIG_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "telemetry").write_bytes("\ufeffacme = on\r\n".encode())
    status, reason = host(collector, "acme", "opt-in")
    assert (status, reason) == ("sent", "HTTP 204")
    state = json.loads(telemetry("--json").stdout)
    assert state["problem"] is None and state["packages"] == {"acme": "on"}


FORK_DURING_A_LATE_IMPORT = """
import importlib.machinery, os, sys, time
MODULE = sys.argv[2]
started = []

class Slow:  # a host's import hook that makes one module's first import take a while
    def find_spec(self, name, path=None, target=None):
        if name != MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        real = spec.loader.exec_module
        def exec_module(module):
            started.append(time.monotonic())
            time.sleep(1.0)
            real(module)
        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, Slow())
import pathbeacon
r = pathbeacon.report_once("<base>/<package>", base=sys.argv[1], package="acme",
                           skip_dev=False, interval="1d")
r.wait(0)  # the worker starts at once
end = time.monotonic() + 20
while not started and time.monotonic() < end:
    time.sleep(0.002)
assert started, "the worker never imported " + MODULE
pid = os.fork()
if pid == 0:  # the child imports the module its parent's worker was importing at the fork
    __import__(MODULE)
    os._exit(0)
for _ in range(1000):
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    time.sleep(0.01)
else:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    print("child hung")
    sys.exit(0)
print("child", os.waitstatus_to_exitcode(status), r.wait(20))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")
@pytest.mark.parametrize("module", ["pathbeacon.consent"])
def test_a_fork_never_copies_a_module_the_worker_is_half_way_through_importing(
    collector: Collector, tmp_path: Path, module: str
) -> None:
    # The worker imported the record's module after the fork lock: a fork meanwhile copied
    # the half-made module and its held import lock, and the child's own import of it hung.
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", FORK_DURING_A_LATE_IMPORT,
         collector.url + "/t", module], capture_output=True, text=True, timeout=60,
        env=env(PATHBEACON_CACHE_DIR=str(tmp_path / "cache"), PATHBEACON_DEBUG="1"))
    assert result.stdout.strip() == "child 0 sent", result.stdout + result.stderr
    assert result.stderr.startswith("pathbeacon: sent "), result.stderr


INTERRUPTED_NOTICE = """
import os, pty, shutil, sys, threading, time
master, slave = pty.openpty()
threading.Thread(target=lambda: [os.read(master, 65536) for _ in iter(int, 1)],
                 daemon=True).start()
sys.stderr = open(slave, "w", closefd=False)  # an interactive stderr
import pathbeacon, pathbeacon.report
from pathbeacon import choice
OURS = os.path.dirname(pathbeacon.__file__)
MARKS = os.path.join(os.environ["PATHBEACON_CONFIG_DIR"], "notices")
pathbeacon.report_once("<base>/warm", base=sys.argv[1], key="warm").wait(10)

""" + INTERRUPT_AT + """
interrupted = lies = 0
for n in range(1, 300):
    choice._shown_here.clear()
    shutil.rmtree(MARKS, ignore_errors=True)
    sys.settrace(interrupt_at(n))
    try:
        r = pathbeacon.report_once("<base>/<package>", base=sys.argv[1], package="acme",
                                   consent="notice", key=n)
    except KeyboardInterrupt:
        interrupted += 1
    finally:
        sys.settrace(None)
    r = pathbeacon.report_once("<base>/<package>", base=sys.argv[1], package="acme",
                               consent="notice", key=n)
    r.wait(10)
    # "shows its first-run notice in this run" must be true: the notice was shown.
    if "acme" in choice._shown_here and not os.path.lexists(os.path.join(MARKS, "acme")):
        lies += 1
print(interrupted, lies)
"""


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_an_interrupt_at_any_line_of_a_notice_call_never_leaves_a_notice_claimed_unshown(
    collector: Collector,
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", INTERRUPTED_NOTICE, collector.url + "/t"], capture_output=True,
        text=True, timeout=120, env=env(PATHBEACON_DRY_RUN="1"))
    interrupted, lies = result.stdout.split()
    assert int(interrupted) > 30, result.stdout + result.stderr
    assert lies == "0", result.stdout + result.stderr


NOTICE_THEN_OPT_OUT = """
import sys, pathbeacon
base = sys.argv[1]
b = pathbeacon.report_once("<base>/cmd/<package>", base=base, package="acme",
                           consent=sys.argv[2], skip_dev=False)
a = pathbeacon.report_once("<base>/<package>/<os>", base=base, package="acme", skip_dev=False)
print(b.wait(20), a.wait(20))
print(b.reason + " | " + a.reason)
"""


def test_on_ci_with_a_terminal_no_report_claims_a_notice_is_shown(collector: Collector) -> None:
    # On CI (a terminal or not) the notice is never shown: the notice-mode call says so,
    # and the package's opt-out calls are not silenced by a notice that never appears.
    result = run(collector, tty=True, code=NOTICE_THEN_OPT_OUT, GITLAB_CI="true")
    assert result.terminal == "" and notices() == []
    assert "shows its first-run notice in this run" not in result.reason, result.reason
    assert result.status == "disabled sent", result.reason
    assert "running on CI (gitlab)" in result.reason


DEV_NOTICE_THEN_RELEASE = """
import sys, pathbeacon
base = sys.argv[1]
b = pathbeacon.report_once("<base>/cmd/<package>", base=base, package="acme",
                           version="1.0.dev1", consent=sys.argv[2])
b.wait(20)
a = pathbeacon.report_once("<base>/<package>/<os>", base=base, package="acme",
                           consent=sys.argv[2], skip_dev=False)
print(b.status, a.wait(20))
print(b.reason + " | " + a.reason)
"""


def test_a_notice_not_shown_after_all_is_not_claimed_by_the_next_report(
    collector: Collector,
) -> None:
    # The worker finds a development version: no notice. The package's next report must not
    # be told the notice shows in this run: it shows the notice itself.
    result = run(collector, tty=True, code=DEV_NOTICE_THEN_RELEASE)
    assert result.status == "disabled disabled", result.reason
    assert "development version" in result.reason.split(" | ")[0], result.reason
    assert "shows its first-run notice in this run" in result.reason.split(" | ")[1]
    assert "anonymous usage reports" in result.terminal, (result.reason, result.terminal)
    assert notices() == ["acme"]
    assert collector.settle(0.3) == []


def test_a_rotation_raced_by_another_process_never_drops_the_older_generation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Process B appends and sees the file past the limit; before B renames it, process A
    # rotates the same file and process C starts a fresh one. B's rename must not move C's
    # one-line file over A's full generation (the newest few hundred reports, lost).
    from pathbeacon import consent, files

    folder = Path(os.environ["PATHBEACON_CONFIG_DIR"])
    path = folder / "sent.log"
    line = "x" * 100
    while not path.exists() or path.stat().st_size < consent._RECORD_ROTATE - 250:
        assert consent.record("https://t.example/" + line, "acme")
    real_append = files.append

    def raced(target: str, data: bytes, mode: int = 0o600) -> int:
        size = real_append(target, data, mode)  # B's line: the file is now past the limit
        os.replace(target, target + ".1")  # A rotates it first
        real_append(target, b"2026-01-01T00:00:00Z\tc\thttps://t.example/c\n")  # C appends
        return size

    monkeypatch.setattr(files, "append", raced)
    b = "https://t.example/b/" + "y" * 300  # takes the file past the limit
    assert consent.record(b, "acme")
    older = (folder / "sent.log.1").read_text()
    assert older.count("\n") > 200, older[:200]
    assert [e["url"] for e in consent.log()][-2:] == [b, "https://t.example/c"]


WAIT_ON_THE_WORKER = """
import logging, sys, time, pathbeacon
base = sys.argv[1]
seen = []

class Forward(logging.Handler):  # a host's handler: it reports, and waits, on the worker
    def emit(self, record):
        if not seen:
            seen.append(pathbeacon.report_once("<base>/inner", base=base, key="inner"))
            seen.append(seen[0].wait())

log = logging.getLogger("pathbeacon")
log.addHandler(Forward())
log.setLevel(logging.DEBUG)
print(pathbeacon.report_once("<base>/outer", base=base).wait(10), flush=True)
end = time.monotonic() + 10
while len(seen) < 2 and time.monotonic() < end:
    time.sleep(0.01)
print(seen[1:], seen[0].wait(10), flush=True)
"""


def test_a_wait_on_the_worker_thread_itself_never_hangs_the_host(collector: Collector) -> None:
    # Code the worker runs for the host (a logging handler of pathbeacon's records) that
    # waits for a report: that report is the worker's to serve after it, so waiting there
    # hung the worker for ever, and logging's shutdown, waiting on the handler, the host.
    result = subprocess.run([sys.executable, "-c", WAIT_ON_THE_WORKER, collector.url],
                            capture_output=True, text=True, timeout=30, env=env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["sent", "['pending'] sent"], result.stdout
    assert sorted(r.path for r in collector.settle(0.3)) == ["/inner", "/outer"]
