"""The user decides (issue 15): the lasting choice, its precedence, the author's modes and the
record of what was sent, in real processes against a loopback collector."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pathbeacon import consent

from .conftest import Collector, clean_env, run_cli

CI_VARIABLES = [name for name, _ in __import__("pathbeacon.probes").probes.CI_VARIABLES]

HOST = """
import sys, pathbeacon
r = pathbeacon.report_once("<base>/<package>/<os>", base=sys.argv[1], package=sys.argv[2],
                           consent=sys.argv[3], skip_dev=False)
print(r.wait(20))
print(r.reason)
"""


def env(**extra: str) -> dict[str, str]:
    """The test's environment (its own config folder, no admin file), off CI."""
    base = {k: v for k, v in clean_env().items() if k not in CI_VARIABLES}
    base.update(extra)
    return base


def host(collector: Collector, package: str = "acme", mode: str = "opt-out",
         **extra: str) -> tuple[str, str]:
    """Run a program that reports once, in a fresh interpreter: (status, reason)."""
    result = subprocess.run([sys.executable, "-c", HOST, collector.url + "/t", package, mode],
                            capture_output=True, text=True, timeout=60, env=env(**extra))
    assert result.returncode == 0, result.stderr
    status, reason = [*result.stdout.split("\n"), ""][:2]
    return status, reason


def telemetry(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli("telemetry", *args, env=env(**extra))


def config() -> Path:
    return Path(os.environ["PATHBEACON_CONFIG_DIR"])


def admin(text: str) -> None:
    Path(os.environ["PATHBEACON_SYSTEM_CONFIG"]).write_text(text)


# ---- the rule, row by row, in real processes ------------------------------------------------

# (commands run first, admin file, environment, mode) -> sent?, words in the reason
PRECEDENCE = {
    "env beats the user's on": ([("on", "acme")], None, {"DO_NOT_TRACK": "1"}, "opt-out",
                                False, "DO_NOT_TRACK is set"),
    "package variable beats on for all": ([("on",)], None, {"ACME_NO_ANALYTICS": "yes"},
                                          "opt-in", False, "ACME_NO_ANALYTICS is set"),
    "admin off beats the user's on": ([("on", "acme")], "* = off\n", {}, "opt-out", False,
                                      "by the administrator"),
    "admin off for the package": ([("on",)], "acme = off\n", {}, "opt-out", False,
                                  "turned off for acme by the administrator"),
    "admin on is not honoured": ([], "* = on\nacme = on\n", {}, "opt-in", False,
                                 "asks first"),
    "admin off for another package": ([], "other = off\n", {}, "opt-out", True, ""),
    "package off beats all on": ([("on",), ("off", "acme")], None, {}, "opt-out", False,
                                 "turned off for acme by your choice"),
    "package on beats all off": ([("off",), ("on", "Acme")], None, {}, "opt-out", True, ""),
    "all off beats the author's opt-out": ([("off",)], None, {}, "opt-out", False,
                                           "every package by your choice"),
    "all on satisfies opt-in": ([("on",)], None, {}, "opt-in", True, ""),
    "package on satisfies notice without one": ([("on", "acme")], None, {}, "notice", True,
                                                ""),
    "off for another package": ([("off", "other")], None, {}, "opt-out", True, ""),
    "reset brings the author's mode back": ([("off", "acme"), ("reset", "acme")], None, {},
                                            "opt-out", True, ""),
    "no choice, opt-out sends": ([], None, {}, "opt-out", True, ""),
    "no choice, opt-in does not": ([], None, {}, "opt-in", False,
                                   "pathbeacon telemetry on acme"),
    "no choice, notice without a terminal": ([], None, {}, "notice", False,
                                             "not an interactive terminal"),
}


@pytest.mark.parametrize("row", list(PRECEDENCE), ids=list(PRECEDENCE))
def test_precedence(collector: Collector, row: str) -> None:
    commands, system, environment, mode, sent, words = PRECEDENCE[row]
    for command in commands:
        result = telemetry(*command)
        assert result.returncode == 0, result.stderr
    if system is not None:
        admin(system)
    status, reason = host(collector, "acme", mode, **environment)
    assert status == ("sent" if sent else "disabled"), reason
    assert words in reason
    assert len(collector.settle(0.3)) == (1 if sent else 0)


def test_a_bad_mode_is_a_failed_report_naming_it(collector: Collector) -> None:
    status, reason = host(collector, "acme", "maybe")
    assert status == "failed"
    assert reason == "consent must be 'opt-out', 'opt-in' or 'notice', not 'maybe'"
    assert collector.settle(0.3) == []


# ---- the command ---------------------------------------------------------------------------


def test_json_state_after_each_action() -> None:
    result = telemetry("--json")
    state = json.loads(result.stdout)
    assert state["config"] == str(config() / "telemetry")
    assert (state["all"], state["packages"]) == (None, {})
    state = json.loads(telemetry("off", "acme", "Foo_Bar", "--json").stdout)
    assert (state["all"], state["packages"]) == (None, {"acme": "off", "foo-bar": "off"})
    state = json.loads(telemetry("on", "--json").stdout)  # every package: own choices go
    assert (state["all"], state["packages"]) == ("on", {})
    state = json.loads(telemetry("off", "acme", "--json").stdout)
    assert (state["all"], state["packages"]) == ("on", {"acme": "off"})
    state = json.loads(telemetry("reset", "--json").stdout)
    assert (state["all"], state["packages"]) == (None, {})
    # the file stays human-readable
    assert consent.parse((config() / "telemetry").read_text()) == {}


def test_status_names_an_environment_opt_out_and_the_admin() -> None:
    admin("* = off\n")
    result = telemetry(DO_NOT_TRACK="1")
    assert result.returncode == 0
    assert "DO_NOT_TRACK is set" in result.stdout and "turns off every package" in result.stdout
    state = json.loads(telemetry("--json", DO_NOT_TRACK="1").stdout)
    assert state["environment"] == "DO_NOT_TRACK is set" and state["system"]["off"] == ["*"]


@pytest.mark.parametrize("args", [("frob",), ("off", "not a name"), ("log", "a", "b")])
def test_bad_command_lines_are_one_line_and_status_2(args: tuple[str, ...]) -> None:
    result = telemetry(*args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("pathbeacon: error:")


def test_a_choice_that_cannot_be_written_is_one_line_and_status_1(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = telemetry("off", PATHBEACON_CONFIG_DIR=str(blocker / "pathbeacon"))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "cannot write" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_a_garbled_file_is_not_edited_package_by_package_but_can_be_started_over() -> None:
    config().mkdir(parents=True)
    (config() / "telemetry").write_text("acme = perhaps\n")
    result = telemetry("on", "other")
    assert result.returncode == 1 and "telemetry reset" in result.stderr
    assert (config() / "telemetry").read_text() == "acme = perhaps\n"
    assert json.loads(telemetry("--json").stdout)["all"] == "off"  # it counts as off
    assert telemetry("off").returncode == 0
    assert consent.parse((config() / "telemetry").read_text()) == {"*": "off"}


def test_two_processes_changing_the_choice_at_once_both_land() -> None:
    names = [f"pkg{i}" for i in range(8)]
    procs = [subprocess.Popen([sys.executable, "-m", "pathbeacon", "telemetry", "off", name],
                              env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for name in names]
    for proc in procs:
        assert proc.wait(60) == 0
    found = consent.parse((config() / "telemetry").read_text())
    assert found == dict.fromkeys(names, "off")
    assert not (config() / "telemetry.lock").exists()
    assert [p.name for p in config().iterdir() if p.name.endswith(".tmp")] == []


# ---- the record equals what the collector saw -----------------------------------------------


def test_the_record_equals_the_collectors_log(collector: Collector) -> None:
    for package in ("acme", "other", "acme"):
        assert host(collector, package)[0] == "sent"
    assert host(collector, "quiet", "opt-in")[0] == "disabled"  # not sent: not recorded
    requests = collector.settle(0.3)
    entries = json.loads(telemetry("log", "--json").stdout)
    assert [e["url"] for e in entries] == [collector.url + r.path for r in requests]
    assert [e["package"] for e in entries] == ["acme", "other", "acme"]
    now = time.time()
    for entry in entries:
        stamp = time.mktime(time.strptime(entry["time"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
        assert abs(stamp - now) < 120
    acme = json.loads(telemetry("log", "acme", "--json").stdout)
    assert [e["url"] for e in acme] == [e["url"] for e in entries if e["package"] == "acme"]
    text = telemetry("log").stdout.splitlines()
    assert len(text) == 3 and text[0].endswith(entries[0]["url"])


def test_the_record_is_bounded_and_keeps_the_newest(monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(1200):
        assert consent.record(f"https://t.example/acme/{i}/" + "x" * 60, "acme")
    entries = consent.log()
    assert 200 <= len(entries) <= 600
    assert entries[-1]["url"].startswith("https://t.example/acme/1199/")
    numbers = [int(e["url"].split("/")[4]) for e in entries]
    assert numbers == sorted(numbers) and numbers == list(range(numbers[0], 1200))
    size = sum(p.stat().st_size for p in config().glob("sent.log*"))
    assert size < 80 * 1024


# ---- hostile files return at once ----------------------------------------------------------


def _plant(kind: str, path: Path, tmp_path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "link to a fifo":
        os.mkfifo(tmp_path / "elsewhere")
        path.symlink_to(tmp_path / "elsewhere")
    elif kind == "link to nothing":
        path.symlink_to(tmp_path / "nothing-here")
    elif kind == "directory":
        path.mkdir()
    elif kind == "huge":
        with open(path, "wb") as out:
            out.write(b"* = on\n" * 200_000)
    elif kind == "not utf-8":
        path.write_bytes(b"acme = on\n\xff\xfe\n")
    elif kind == "garbage":
        path.write_text("turn everything on please\n")
    elif kind == "device":
        path.symlink_to("/dev/zero")


HOSTILE = ["fifo", "link to a fifo", "link to nothing", "directory", "huge", "not utf-8",
           "garbage", "device"]


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_hostile_choice_file_counts_as_off_at_once(collector: Collector, tmp_path: Path,
                                                     kind: str) -> None:
    _plant(kind, config() / "telemetry", tmp_path)
    code = ("import time, sys, pathbeacon; t = time.perf_counter(); "
            "r = pathbeacon.report_once('<base>/<package>', base=sys.argv[1], package='acme');"
            " print(r.status, time.perf_counter() - t); print(r.reason)")
    result = subprocess.run([sys.executable, "-c", code, collector.url], capture_output=True,
                            text=True, timeout=20, env=env())
    assert result.returncode == 0, result.stderr
    first, reason = result.stdout.splitlines()
    status, took = first.split()
    assert status == "disabled" and float(took) < 0.5
    assert "cannot be used" in reason and "counted as off" in reason
    assert collector.settle(0.3) == []
    state = telemetry("--json")
    assert state.returncode == 0 and json.loads(state.stdout)["all"] == "off"


@pytest.mark.parametrize("kind", ["fifo", "directory", "huge", "garbage"])
def test_a_hostile_admin_file_counts_as_off_at_once(collector: Collector, tmp_path: Path,
                                                    kind: str) -> None:
    _plant(kind, Path(os.environ["PATHBEACON_SYSTEM_CONFIG"]), tmp_path)
    assert telemetry("on").returncode == 0
    started = time.monotonic()
    status, reason = host(collector)
    assert status == "disabled" and "administrator's file" in reason
    assert time.monotonic() - started < 15  # a fresh interpreter, not a hang
    assert collector.settle(0.3) == []


def test_a_planted_record_never_blocks_and_the_report_is_still_sent(collector: Collector,
                                                                     tmp_path: Path) -> None:
    config().mkdir(parents=True)
    os.mkfifo(config() / "sent.log")
    assert host(collector)[0] == "sent"
    result = telemetry("log")  # the record cannot be read: one line, status 1
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "not a regular file" in result.stderr
    target = tmp_path / "victim"
    target.write_text("mine\n")
    (config() / "sent.log").unlink()
    (config() / "sent.log").symlink_to(target)
    assert host(collector)[0] == "sent"
    assert target.read_text() == "mine\n"  # never written through the link


def test_a_planted_notice_mark_counts_as_shown_without_opening_it(collector: Collector) -> None:
    (config() / "notices").mkdir(parents=True)
    os.mkfifo(config() / "notices" / "acme")
    assert host(collector, "acme", "notice")[0] == "sent"


# ---- the caller's thread -------------------------------------------------------------------


def test_consent_imports_nothing_heavy_on_the_callers_thread(collector: Collector) -> None:
    config().mkdir(parents=True)
    (config() / "telemetry").write_text("# mine\nacme = on\n")
    code = """
import sys, threading
before = set(sys.modules)  # a host that has threading (PyPy's imports re)
import pathbeacon
r = pathbeacon.report_once("<base>/x", base=sys.argv[1], package="acme", consent="opt-in")
print(r.status, r.reason)
print(" ".join(sorted(set(sys.modules) - before)))
"""
    result = subprocess.run([sys.executable, "-c", code, collector.url], capture_output=True,
                            text=True, timeout=20, env=env())
    status, imported = result.stdout.splitlines()
    assert status.startswith("pending")
    loaded = {name.split(".")[0] for name in imported.split()}
    assert not loaded & {"json", "tomllib", "tomli", "configparser", "re", "typing",
                         "__future__"}, imported
    assert "pathbeacon.choice" in imported.split() and "pathbeacon.consent" not in imported


@pytest.mark.parametrize("kind", ["stale directory", "fresh file"])
def test_a_planted_or_held_lock_delays_a_change_at_most_briefly(kind: str) -> None:
    config().mkdir(parents=True)
    lock = config() / "telemetry.lock"
    if kind == "stale directory":
        lock.mkdir()
        os.utime(lock, (time.time() - 3600, time.time() - 3600))
    else:
        lock.write_text("12345")
    started = time.monotonic()
    result = telemetry("off", "acme")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 15  # a fresh interpreter plus at most 2 s of waiting
    assert consent.parse((config() / "telemetry").read_text()) == {"acme": "off"}


@pytest.mark.parametrize("text", ["off\n", '{"all": "off", "packages": {}}',
                                  "# the whole machine\n* = off\n"])
def test_the_admin_file_takes_each_documented_form(collector: Collector, text: str) -> None:
    admin(text)
    status, reason = host(collector)
    assert status == "disabled" and "turned off for every package by the administrator" in reason
    assert collector.settle(0.3) == []


def test_all_is_every_package_in_the_file_and_on_the_command_line(collector: Collector
                                                                   ) -> None:
    state = json.loads(telemetry("off", "all", "--json").stdout)
    assert (state["all"], state["packages"]) == ("off", {})
    assert host(collector)[0] == "disabled"
    (config() / "telemetry").write_text("all = on\n")
    assert host(collector, mode="opt-in")[0] == "sent"
