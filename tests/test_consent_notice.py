"""consent="notice" on a real pseudo-terminal: shown once, nothing sent in that run, sent in
the next; never shown and never sent without a terminal, on CI or under capture()."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import Collector
from .test_consent import env, telemetry

pty = pytest.importorskip("pty")

PROGRAM = """
import sys, pathbeacon
base, mode = sys.argv[1], sys.argv[2]
reports = [pathbeacon.report_once(t, base=base, package="acme", consent=mode, skip_dev=False)
           for t in ("<base>/<package>/<os>", "<base>/other/<package>")]
print(" ".join(r.wait(20) for r in reports))
print(reports[0].reason)
"""

CAPTURED = """
import sys, pathbeacon
from pathbeacon.testing import capture
with capture() as reports:
    r = pathbeacon.report_once("<base>/<package>", base=sys.argv[1], package="acme",
                               consent="notice")
print(r.status)
print(r.reason)
"""


class Run:
    def __init__(self, stdout: str, terminal: str, stderr: str) -> None:
        self.status, self.reason = [*stdout.split("\n"), ""][:2]
        self.terminal = terminal  # what reached the pseudo-terminal (stderr)
        self.stderr = stderr  # stderr when it was a pipe


def _drain(master: int, until: float) -> bytes:
    data = b""
    while time.monotonic() < until:
        ready, _, _ = select.select([master], [], [], 0.05)
        if not ready:
            continue
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: every slave end is closed
            break
        if not chunk:
            break
        data += chunk
    return data


def start(collector: Collector, *, tty: bool, mode: str = "notice", code: str = PROGRAM,
          **extra: str) -> tuple[subprocess.Popen[str], int | None]:
    master = None
    stderr: int = subprocess.PIPE
    if tty:
        master, slave = pty.openpty()
        stderr = slave
    proc = subprocess.Popen([sys.executable, "-c", code, collector.url + "/t", mode],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
                            text=True, env=env(**extra))
    if tty:
        os.close(slave)
    return proc, master


def finish(proc: subprocess.Popen[str], master: int | None) -> Run:
    terminal = b""
    if master is not None:
        terminal = _drain(master, time.monotonic() + 30)
        os.close(master)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, (stdout, stderr, terminal)
    return Run(stdout, terminal.decode("utf-8", "replace").replace("\r\n", "\n"), stderr or "")


def run(collector: Collector, *, tty: bool, **options: str) -> Run:
    return finish(*start(collector, tty=tty, **options))


def notices() -> list[str]:
    folder = Path(os.environ["PATHBEACON_CONFIG_DIR"]) / "notices"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_shown_once_nothing_sent_that_run_sent_in_the_next(collector: Collector) -> None:
    first = run(collector, tty=True)
    assert first.status == "disabled disabled"
    assert "shows its first-run notice in this run" in first.reason
    lines = first.terminal.strip("\n").split("\n")
    assert 1 <= len(lines) <= 6, first.terminal
    assert lines[0].startswith("acme sends anonymous usage reports")
    assert "127.0.0.1" in first.terminal and "package, os" in first.terminal
    assert "pathbeacon telemetry off acme" in first.terminal
    assert "ACME_NO_ANALYTICS=1" in first.terminal and "DO_NOT_TRACK=1" in first.terminal
    assert collector.settle(0.5) == []
    assert notices() == ["acme"]

    second = run(collector, tty=True)
    assert second.status == "sent sent" and second.terminal == ""
    assert len(collector.settle(0.5)) == 2
    third = run(collector, tty=False)  # once shown, a pipe is fine too
    assert third.status == "sent sent" and third.stderr == ""


def test_never_shown_and_never_sent_without_a_terminal(collector: Collector) -> None:
    for _ in range(2):
        result = run(collector, tty=False)
        assert result.status == "disabled disabled" and result.stderr == ""
        assert "not an interactive terminal" in result.reason
    assert collector.settle(0.3) == [] and notices() == []
    assert "notice" in run(collector, tty=True).terminal  # a terminal at last: shown
    assert collector.settle(0.3) == []


def test_not_shown_on_ci_even_on_a_terminal(collector: Collector) -> None:
    result = run(collector, tty=True, GITHUB_ACTIONS="true")
    assert result.status == "disabled disabled" and result.terminal == ""
    assert "running on CI (github-actions)" in result.reason
    assert collector.settle(0.3) == [] and notices() == []


def test_the_users_off_means_no_notice_and_nothing_sent(collector: Collector) -> None:
    assert telemetry("off", "acme").returncode == 0
    result = run(collector, tty=True)
    assert result.status == "disabled disabled" and result.terminal == ""
    assert "turned off for acme by your choice" in result.reason
    assert telemetry("on", "other").returncode == 0  # another package's on changes nothing
    assert run(collector, tty=True).status == "disabled disabled"
    assert collector.settle(0.3) == [] and notices() == []
    assert telemetry("on").returncode == 0  # on for every package: acme's own off goes
    assert run(collector, tty=True).status == "sent sent"


def test_an_environment_opt_out_means_no_notice(collector: Collector) -> None:
    result = run(collector, tty=True, DO_NOT_TRACK="1")
    assert result.status == "disabled disabled" and result.terminal == ""
    assert collector.settle(0.3) == [] and notices() == []


def test_never_printed_under_capture(collector: Collector) -> None:
    result = run(collector, tty=True, code=CAPTURED)
    assert result.status == "disabled" and result.terminal == ""
    assert "capture(notice_shown=False)" in result.reason
    assert notices() == []


def test_two_processes_at_once_show_it_once(collector: Collector) -> None:
    started = [start(collector, tty=True) for _ in range(2)]
    results = [finish(*pair) for pair in started]
    shown = [r for r in results if "anonymous usage reports" in r.terminal]
    assert len(shown) == 1, [r.terminal for r in results]
    assert shown[0].status == "disabled disabled"
    # The other one either lost the race for the mark (sends nothing, says so) or began
    # once the mark was there (the notice counts as shown: it sends both reports). Which
    # one depends on how the two were scheduled; never a half of each.
    (other,) = [r for r in results if r is not shown[0]]
    assert other.terminal == "", other.terminal
    if other.status == "disabled disabled":
        assert "another process is showing it" in other.reason, other.reason
        assert collector.settle(0.3) == []
    else:
        assert other.status == "sent sent", other.status
        assert len(collector.settle(0.5)) == 2
    assert notices() == ["acme"]


def test_the_notice_mark_is_claimed_by_one_caller_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pathbeacon import consent

    monkeypatch.setenv("PATHBEACON_CONFIG_DIR", str(tmp_path))
    assert consent.claim_notice("acme") is True
    assert consent.claim_notice("acme") is False  # the loser of a race shows nothing
    assert consent.notice_shown("acme")
    consent.unclaim_notice("acme")
    assert not consent.notice_shown("acme") and consent.claim_notice("acme") is True
