"""``report_once(..., interval=...)``: at most one report per key, interval and machine."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pathbeacon import report_once, stamps
from pathbeacon.testing import capture

from .conftest import Collector, clean_env, make_package, run_python

HOST = """
import pathbeacon
REPORT = pathbeacon.report_once("<base>/<package>/<os>", base={base!r}, package="ivpkg",
                                interval={interval!r})
"""
KEY = ("<base>/<package>/<os>", "ivpkg")  # report_once's default key for HOST

RUN = """
import _thread, sys, hostpkg_iv as h
status = h.REPORT.wait(10)
print(status, "threading" in sys.modules, "urllib3" in sys.modules, _thread._count())
"""


def _env(tmp_path: Path, base: str, cache: Path | str, interval: object = "1d") -> dict[str, str]:
    make_package(tmp_path, "hostpkg_iv", HOST.format(base=base, interval=interval))
    return clean_env(PYTHONPATH=os.pathsep.join([str(tmp_path), *sys.path]),
                     PATHBEACON_CACHE_DIR=str(cache))


def _state(cache: Path) -> Path:
    return cache / stamps.file_name(KEY)


def test_two_processes_report_once_per_interval(collector: Collector, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = _env(tmp_path, collector.url, cache)
    first = run_python(RUN, env=env)
    assert first.stdout.split()[0] == "sent", first.stderr
    assert len(collector.settle(0.3)) == 1
    stamp = float(_state(cache).read_text())
    assert abs(stamp - time.time()) < 60
    assert os.listdir(cache) == [_state(cache).name]  # one file, holding only a time stamp
    second = run_python(RUN, env=env)
    # skipped at once: no thread started, threading and the transport never imported
    assert second.stdout.split() == ["skipped", "False", "False", "0"], second.stderr
    assert len(collector.settle(0.3)) == 1


def test_an_old_stamp_reports_again_and_is_renewed(collector: Collector, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = _env(tmp_path, collector.url, cache, interval="1h")
    cache.mkdir()
    _state(cache).write_text(f"{time.time() - 3601:.3f}\n")
    assert run_python(RUN, env=env).stdout.split()[0] == "sent"
    assert time.time() - float(_state(cache).read_text()) < 60
    assert len(collector.settle(0.3)) == 1


def test_a_failed_delivery_writes_nothing_and_tries_again(refused: str, collector: Collector,
                                                          tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    failed = run_python(RUN, env=_env(tmp_path, refused, cache))
    assert failed.stdout.split()[0] == "failed"
    assert not _state(cache).exists()
    again = run_python(RUN, env=_env(tmp_path, collector.url, cache))
    assert again.stdout.split()[0] == "sent"


@pytest.mark.parametrize("content", [b"", b"garbage\n", b"\xff\xfe\x00", b"nan", b"inf",
                                     b"1e400", b"9" * 5000])
def test_a_corrupt_state_file_reads_as_no_report(collector: Collector, tmp_path: Path,
                                                 content: bytes) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    _state(cache).write_bytes(content)
    result = run_python(RUN, env=_env(tmp_path, collector.url, cache))
    assert result.stdout.split()[0] == "sent" and result.stderr == ""
    assert time.time() - float(_state(cache).read_text()) < 60  # replaced by a good stamp


def test_a_stamp_from_the_future_is_not_trusted(collector: Collector, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    _state(cache).write_text(f"{time.time() + 86400 * 365:.3f}\n")  # a clock set back since
    assert run_python(RUN, env=_env(tmp_path, collector.url, cache)).stdout.split()[0] == "sent"


def test_an_unusable_folder_behaves_as_if_there_were_no_interval(collector: Collector,
                                                                tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = _env(tmp_path, collector.url, blocker / "cache")  # cannot be created, even by root
    for _ in range(2):
        result = run_python(RUN, env=env)
        assert result.stdout.split()[0] == "sent" and result.stderr == ""
    assert len(collector.settle(0.3)) == 2


def test_an_unreadable_state_file_behaves_as_if_there_were_no_interval(
    collector: Collector, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    _state(cache).mkdir()  # a folder where the file should be: neither read nor replaced
    for _ in range(2):
        assert run_python(RUN, env=_env(tmp_path, collector.url, cache)).stdout.split()[0] \
            == "sent"
    assert len(collector.settle(0.3)) == 2


@pytest.mark.usefixtures("fresh_guard")
def test_capture_neither_reads_nor_writes_state(collector: Collector, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("PATHBEACON_CACHE_DIR", str(cache))
    with capture() as reports:
        first = report_once("<base>/<package>", base=collector.url, package="cap",
                            interval="1d")
    assert reports == [first] and first.status == "dry_run"
    assert not cache.exists()
    cache.mkdir()
    recent = cache / stamps.file_name(("<base>/<package>", "cap"))
    recent.write_text(f"{time.time():.3f}\n")
    with capture() as reports:
        again = report_once("<base>/<package>", base=collector.url, package="cap",
                            interval="1d")
    assert again.status == "dry_run"  # the recent stamp was not read
    assert collector.settle(0.3) == []


@pytest.mark.usefixtures("fresh_guard")
def test_in_process_skip_is_once_per_process_too(collector: Collector, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATHBEACON_CACHE_DIR", str(tmp_path))
    first = report_once("<base>/a", base=collector.url, interval=3600)
    assert first.wait(10) == "sent"
    assert report_once("<base>/a", base=collector.url, interval=3600) is first
    other = report_once("<base>/a", base=collector.url, interval=3600, key="other-key")
    assert other.wait(10) == "sent"  # another key, another state file
    # the same key in a new scope (as a new process would be) is skipped, at once
    from pathbeacon import guard

    saved = guard.push_scope()
    try:
        later = report_once("<base>/a", base=collector.url, interval="1h")
        assert later.status == "skipped" and later.wait(0) == "skipped"
        assert "interval" in later.reason
    finally:
        guard.pop_scope(saved)
    assert len(collector.settle(0.3)) == 2


@pytest.mark.usefixtures("fresh_guard")
@pytest.mark.parametrize("interval", [0, -5, "0s", "1y", "soon", "", "nan", float("inf"),
                                      True, [1], b"1d", "1D", "1e3", "1_000", ".5h", "1.h",
                                      "-1d", "\u0661d"])
def test_bad_intervals_are_failed_reports_naming_the_problem(interval: object) -> None:
    report = report_once("<base>/<os>", base="https://g.example", interval=interval)  # type: ignore[arg-type]
    assert report.wait(1) == "failed"
    assert report.reason.startswith("interval must be") and repr(interval) in report.reason


@pytest.mark.parametrize(("text", "seconds"), [("45s", 45), ("30m", 1800), ("12h", 43200),
                                                ("1d", 86400), (" 2 d ", 172800), ("1.5h", 5400), ("1w", 604800),
                                                ("90", 90), (0.5, 0.5), (7, 7)])
def test_interval_spellings(text: object, seconds: float) -> None:
    assert stamps.seconds(text) == seconds


def test_the_default_folder_follows_the_platform_conventions(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PATHBEACON_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    if sys.platform.startswith("linux"):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert stamps.folder() == str(tmp_path / "xdg" / "pathbeacon")
        monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
        assert stamps.folder() == str(tmp_path / ".cache" / "pathbeacon")
    monkeypatch.setenv("PATHBEACON_CACHE_DIR", str(tmp_path / "mine"))
    assert stamps.folder() == str(tmp_path / "mine")


def test_racing_writers_never_leave_a_torn_file(tmp_path: Path) -> None:
    path = tmp_path / "state" / stamps.file_name("race")
    writer = f"""
import time
from pathbeacon import stamps
for _ in range(300):
    assert stamps.record({str(path)!r}, time.time())
"""
    procs = [subprocess.Popen([sys.executable, "-c", writer], env=clean_env())
             for _ in range(4)]
    torn = 0
    reads = 0
    while any(p.poll() is None for p in procs):
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            continue
        reads += 1
        try:
            float(raw)
        except ValueError:
            torn += 1
    assert [p.wait() for p in procs] == [0, 0, 0, 0]
    assert reads > 0 and torn == 0
    assert os.listdir(path.parent) == [path.name]  # no temporary file left behind


# ---- anything planted at the state path: never blocks the host, never written through ------

TIMED = """
import time
started = time.perf_counter()
import hostpkg_iv as h
took = time.perf_counter() - started
print(round(took, 3), h.REPORT.wait(20))
"""


def _plant(state: Path, kind: str, victim: Path) -> None:
    if kind == "fifo":
        os.mkfifo(state)
    elif kind == "link-to-fifo":
        fifo = state.parent / "elsewhere.fifo"
        os.mkfifo(fifo)
        state.symlink_to(fifo)
    elif kind == "folder":
        state.mkdir()
    elif kind == "huge":
        with state.open("wb") as stream:  # sparse: 1 GiB that costs no disk
            stream.write(f"{time.time():.3f}\n".encode())
            stream.truncate(1 << 30)
    elif kind == "link-to-file":
        state.symlink_to(victim)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("kind", ["fifo", "link-to-fifo", "folder", "huge", "link-to-file"])
def test_anything_planted_at_the_state_path_returns_at_once(collector: Collector,
                                                            tmp_path: Path, kind: str) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious, and no time stamp\n")
    state = _state(cache)
    _plant(state, kind, victim)
    result = run_python(TIMED, env=_env(tmp_path, collector.url, cache), timeout=30)
    took, status = result.stdout.split()
    assert float(took) < 0.5, took  # a FIFO hung the host's import for ever
    assert status == "sent" and result.stderr == ""  # nothing usable: as if never sent
    assert victim.read_text() == "precious, and no time stamp\n"  # no write followed a link
    if kind in ("fifo", "link-to-fifo", "link-to-file", "huge"):
        # the planted thing was replaced by a plain file holding a fresh stamp
        assert not state.is_symlink() and abs(float(state.read_text()) - time.time()) < 60
