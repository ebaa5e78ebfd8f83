"""Claims in fresh interpreters: interrupted calls free their key, one worker serves every
key, and ``interval`` holds across many processes started together."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import pathbeacon
from pathbeacon import stamps

from .conftest import Collector, clean_env, make_package, run_python
from .lifecycle_tools import INTERRUPT_AT


def test_an_interrupt_at_any_line_of_the_call_never_leaves_a_key_stuck(
    collector: Collector,
) -> None:
    # Ctrl-C lands between two lines of pathbeacon's code: for each n, a KeyboardInterrupt
    # is raised at the n-th line the call runs, so every point of the call is hit once.
    # Afterwards every key must end: a claimed report with no worker was pending for ever.
    code = f"""
import sys, time, pathbeacon, pathbeacon.report
from pathlib import Path
OURS = str(Path(pathbeacon.__file__).parent)
pathbeacon.report_once("<base>/warm", base={collector.url!r}, key="warm").wait(10)
{INTERRUPT_AT}
interrupted = 0
for n in range(1, 400):
    sys.settrace(interrupt_at(n))
    try:
        pathbeacon.report_once("<base>/k", base={collector.url!r}, key=n)
    except KeyboardInterrupt:
        interrupted += 1
    finally:
        sys.settrace(None)
end = time.monotonic() + 15
statuses = []
for n in range(1, 400):
    r = pathbeacon.report_once("<base>/k", base={collector.url!r}, key=n)
    statuses.append(r.wait(max(end - time.monotonic(), 0)))
print(interrupted, statuses.count("pending"), sorted(set(statuses)))
"""
    result = run_python(code, env=clean_env(PATHBEACON_DRY_RUN="1"), timeout=60)
    interrupted, stuck, kinds = result.stdout.split(maxsplit=2)
    assert int(interrupted) > 30, result.stdout  # the call's lines, each interrupted once
    assert stuck == "0", (result.stdout, result.stderr)
    assert kinds.strip() == "['dry_run']"  # interrupted calls freed their key: the next call ran


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs setitimer")
def test_real_interrupts_at_random_moments_never_leave_a_key_stuck(collector: Collector) -> None:
    code = f"""
import random, signal, time, pathbeacon
def interrupt(*_):
    raise KeyboardInterrupt
signal.signal(signal.SIGALRM, interrupt)
pathbeacon.report_once("<base>/warm", base={collector.url!r}, key="warm").wait(10)
random.seed(16)
for i in range(1000):
    try:
        signal.setitimer(signal.ITIMER_REAL, random.uniform(0.000001, 0.0001))
        pathbeacon.report_once("<base>/k", base={collector.url!r}, key=i)
        time.sleep(0.0002)  # an alarm not yet fired lands here
    except KeyboardInterrupt:
        pass
end = time.monotonic() + 15
statuses = [pathbeacon.report_once("<base>/k", base={collector.url!r}, key=i).wait(
    max(end - time.monotonic(), 0)) for i in range(1000)]
print(statuses.count("pending"), sorted(set(statuses)))
"""
    result = run_python(code, env=clean_env(PATHBEACON_DRY_RUN="1"), timeout=60)
    assert result.stdout.split(maxsplit=1) == ["0", "['dry_run']\n"], (result.stdout,
                                                                         result.stderr)


def test_after_the_first_call_no_import_lock_is_taken_outside_the_fork_guard(
    collector: Collector, tmp_path: Path,
) -> None:
    # importlib takes its locks in Python code: a Ctrl-C landing between an acquire and its
    # try leaves the lock held for good (the worker's next import then waits for ever), and
    # a fork while the worker holds one copies it held (the child's next import hangs). On
    # PyPy every relative import of a loaded module took them (CPython's C fast path does
    # not): 1000 real interrupts left every later report pending, and the fork test's child
    # hung. So, once the first call has imported what it needs, the caller's thread takes no
    # import lock, and the worker takes them only inside guard.importing(), which forks wait for.
    code = f"""
import _frozen_importlib as bootstrap, _thread, pathbeacon
from pathbeacon import guard
caller = _thread.get_ident()
def report(key):
    return pathbeacon.report_once("<base>/k/<package>", base={collector.url!r}, package="acme",
                                  skip_dev=False, interval="1d", key=key)
report("warm").wait(20)
seen = []
real = bootstrap._get_module_lock
def spy(name):
    seen.append((name, "caller" if _thread.get_ident() == caller else "worker",
                 guard._importing.locked()))
    return real(name)
bootstrap._get_module_lock = spy
statuses = [r.wait(20) for r in [report(i) for i in range(3)]]
bootstrap._get_module_lock = real
print(statuses, sorted({{s[:2] for s in seen if s[1] == "caller" or not s[2]}}))
"""
    result = run_python(code, env=clean_env(PATHBEACON_CACHE_DIR=str(tmp_path / "cache"),
                                            PATHBEACON_DEBUG="1"))
    assert result.stdout.strip() == "['sent', 'sent', 'sent'] []", (result.stdout,
                                                                   result.stderr)


def test_no_module_a_report_runs_imports_relatively_inside_a_function() -> None:
    # The runtime test above follows the usual paths; this holds every path to the rule.
    # cli runs in its own process; scarf's logger is not report_once() (it imports on the
    # host's thread by design).
    found = []
    for path in sorted((Path(pathbeacon.__file__).parent).glob("*.py")):
        if path.stem in ("cli", "__main__"):
            continue
        for function in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found += [f"{path.name}:{node.lineno}" for node in ast.walk(function)
                          if isinstance(node, ast.ImportFrom) and node.level]
    assert found == []


def test_five_thousand_keys_share_one_worker_thread(collector: Collector) -> None:
    code = f"""
import _thread, time, pathbeacon
started = time.thread_time()
most = 0
reports = []
for i in range(5000):
    reports.append(pathbeacon.report_once("<base>/k/<n>", base={collector.url!r}, n=i, key=i))
    most = max(most, _thread._count())
took = time.thread_time() - started
statuses = "|".join(sorted({{r.wait(60) for r in reports}}))
end = time.monotonic() + 10  # the worker ends soon after its queue empties: wait for it
while _thread._count() and time.monotonic() < end:
    time.sleep(0.01)
print(most, round(took, 2), statuses, _thread._count())
"""
    result = run_python(code, env=clean_env(PATHBEACON_DRY_RUN="1"), timeout=120)
    most, took, statuses, left = result.stdout.split()
    assert most == "1", result.stdout  # one worker (5,001 threads before)
    # the caller's own CPU time (not wall time, which a busy machine stretches): a
    # thread per key took 9.3 s of wall time
    assert float(took) < 3.0
    assert statuses == "dry_run", (result.stdout, result.stderr)
    assert left == "0"  # and the worker ends once the queue is empty


def test_one_worker_delivers_every_key_and_a_new_one_starts_later(collector: Collector) -> None:
    code = f"""
import _thread, time, pathbeacon
most = 0
first = [pathbeacon.report_once("<base>/a/<n>", base={collector.url!r}, n=i, key=i)
         for i in range(40)]
while any(r.status == "pending" for r in first):
    most = max(most, _thread._count())
    time.sleep(0.001)
end = time.monotonic() + 10
while _thread._count() and time.monotonic() < end:
    time.sleep(0.01)
idle = _thread._count()
later = pathbeacon.report_once("<base>/b", base={collector.url!r})
print(most, idle, sorted({{r.status for r in first}}), later.wait(20))
"""
    result = run_python(code, timeout=60)
    assert result.stdout.split() == ["1", "0", "['sent']", "sent"], (result.stdout,
                                                                       result.stderr)
    paths = sorted(r.path for r in collector.settle(0.3))
    assert paths == sorted([f"/a/{i}" for i in range(40)] + ["/b"])


# ---- interval: one send however many processes start together ------------------------------

HOST = """
import pathbeacon
REPORT = pathbeacon.report_once("<base>/<package>", base={base!r}, package="racepkg",
                                interval="1d", timeout=10)
"""
RACER = """
import os, sys
import pathbeacon, pathbeacon.report, pathbeacon.stamps, pathbeacon.files
print("ready", flush=True)
os.read(int(sys.argv[1]), 1)  # the barrier: all return at once when the test closes the pipe
import racepkg
print(racepkg.REPORT.wait(60), racepkg.REPORT.reason, flush=True)
"""


def _race(tmp_path: Path, base: str, count: int) -> list[str]:
    make_package(tmp_path, "racepkg", HOST.format(base=base))
    cache = tmp_path / "cache"
    env = clean_env(PYTHONPATH=os.pathsep.join([str(tmp_path), *sys.path]),
                    PATHBEACON_CACHE_DIR=str(cache))
    gate, opener = os.pipe()
    try:
        procs = [subprocess.Popen([sys.executable, "-c", RACER, str(gate)], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  pass_fds=(gate,))
                 for _ in range(count)]
    finally:
        os.close(gate)
    try:
        for proc in procs:  # every process is at the barrier
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        os.close(opener)  # every read() returns at once
        results = [proc.communicate(timeout=120) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert all(err == "" for _, err in results), [err for _, err in results if err][:1]
    assert not [name for name in os.listdir(cache) if name.endswith(stamps.CLAIM)]
    return [out.split()[0] for out, _ in results]


def test_eighty_processes_behind_a_barrier_send_once(collector: Collector,
                                                     tmp_path: Path) -> None:
    collector.delay = 0.3  # every process is under way while the first delivers
    statuses = _race(tmp_path, collector.url, 80)
    # One delivery. A process whose attempt failed (a loaded machine's time-out) freed the
    # claim for the next, as a failure must; every other process was skipped.
    assert statuses.count("sent") == 1, statuses
    assert statuses.count("skipped") >= 77 and set(statuses) <= {"sent", "skipped", "failed"}
    assert len(collector.settle(0.5)) == 1  # every process sent before the claim


def test_a_failed_delivery_frees_the_claim_for_the_next_run(refused: str, collector: Collector,
                                                            tmp_path: Path) -> None:
    statuses = _race(tmp_path, refused, 8)
    assert statuses.count("failed") >= 1 and "sent" not in statuses
    again = _race(tmp_path / "again", collector.url, 1)
    assert again == ["sent"]


CLAIMED = """
import pathbeacon
r = pathbeacon.report_once("<base>/<package>", base={base!r}, package="claimpkg", interval="1d")
print(r.wait(20), r.reason)
"""


def _claim_env(tmp_path: Path) -> tuple[dict[str, str], Path]:
    cache = tmp_path / "cache"
    cache.mkdir()
    state = cache / stamps.file_name(("<base>/<package>", "claimpkg"))
    return clean_env(PATHBEACON_CACHE_DIR=str(cache)), state


def test_a_live_claim_of_another_process_makes_the_call_skipped(collector: Collector,
                                                                tmp_path: Path) -> None:
    env, state = _claim_env(tmp_path)
    Path(str(state) + stamps.CLAIM).write_text(f"{time.time() + 20:.3f} abc\n")
    result = run_python(CLAIMED.format(base=collector.url), env=env)
    assert result.stdout.startswith("skipped another process is sending"), result.stderr
    assert collector.settle(0.3) == []


@pytest.mark.parametrize("content", ["0 abc", "garbage", "", "9999999999.0 far-future"])
def test_a_stale_or_corrupt_claim_is_taken_over(collector: Collector, tmp_path: Path,
                                                content: str) -> None:
    env, state = _claim_env(tmp_path)
    Path(str(state) + stamps.CLAIM).write_text(content)
    result = run_python(CLAIMED.format(base=collector.url), env=env)
    assert result.stdout.split()[0] == "sent", (result.stdout, result.stderr)
    assert float(state.read_text()) > time.time() - 60
    assert sorted(os.listdir(state.parent)) == [state.name]  # no claim, no leftovers


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("planted", ["fifo", "folder", "link"])
def test_a_claim_path_planted_with_anything_never_blocks_nor_writes_through(
    collector: Collector, tmp_path: Path, planted: str
) -> None:
    env, state = _claim_env(tmp_path)
    claim = Path(str(state) + stamps.CLAIM)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    if planted == "fifo":
        os.mkfifo(claim)
    elif planted == "folder":
        claim.mkdir()
    else:
        claim.symlink_to(victim)
    result = run_python(CLAIMED.format(base=collector.url), env=env, timeout=30)
    assert result.stdout.split()[0] == "sent", (result.stdout, result.stderr)
    assert victim.read_text() == "precious"
    assert len(collector.settle(0.3)) == 1
