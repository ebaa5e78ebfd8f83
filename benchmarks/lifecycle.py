"""What a host's own thread pays for ``report_once()``, in fresh interpreters.

    python benchmarks/lifecycle.py [--runs 60] [--src PATH]
    python benchmarks/lifecycle.py --windows [--runs 5] [--python PATH]
    python benchmarks/lifecycle.py --placements [--runs 30]

``--windows`` measures instead how long a report keeps a thread alive beside the host's
(on 3.12+ a fork meanwhile warns "This process is multi-threaded, use of fork() may lead to
deadlocks"): a host imports a package that calls ``report_once()`` at import, then forks
every 100 ms while it watches ``/proc/self/task``; the window is the time from the import
to the last moment it saw a thread besides its own, against a fast collector, a blackhole
(accepts, never answers), a refused port and, where Linux namespaces allow, a DNS server
that never answers. It prints the medians and how many forks warned.

``--placements`` measures where a package that guards its import cost (click's
``test_light_imports``) can put the call: what ``import pkg`` costs and loads, and what the
program's first real work then pays, for the call in ``__init__``, in the CLI's entry
point, and deferred to the first real work by a two-line hook.

Measures, as medians over interleaved fresh interpreters (compiled bytecode), the in-process
time of ``import pkg`` for packages whose ``__init__`` is:

- empty (``bare``);
- ``report_once(...)`` in a host that has not imported ``threading`` (most CLIs): pathbeacon
  never imports it (its worker is a ``_thread`` thread);
- the same in a host that imported ``re`` (hence ``functools`` and ``collections``, which
  ``threading`` needs) but not ``threading``, as CLIs using ``argparse`` or ``re`` do;
- the same in a host that imported ``threading`` already (``threading`` is imported before
  the timer starts, in the bare package's run too);
- ``report_once(..., interval="1d")`` with a recent state file: the whole call is a check of
  one small file, and returns ``skipped``.

The worker thread is kept from doing anything during the measure (the opt-out variables are
clear, the collector address is a closed port; the worker idles 0.2 s first and the process
ends before that). ``--src`` measures another checkout's ``src`` (to compare before/after).
Uses the running interpreter; pathbeacon must be importable from it (or from ``--src``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CALL = """
import pathbeacon
pathbeacon.report_once("<base>/<package>/<version>/<os>/<arch>/<runtime>",
                       base="http://127.0.0.1:9/telemetry", package="beaconpkg"{extra})
"""
PACKAGES = {
    "barepkg": "",
    "beaconpkg": CALL.format(extra=""),
    "intervalpkg": CALL.format(extra=', interval="1d"'),
}
CASES = {  # label: (package, imported before the timer starts)
    "bare": ("barepkg", ""),
    "bare, threading imported": ("barepkg", "import threading; "),
    "report_once, host without threading": ("beaconpkg", ""),
    "bare, re imported": ("barepkg", "import re; "),
    "report_once, host with re (functools), without threading": ("beaconpkg", "import re; "),
    "report_once, host with threading": ("beaconpkg", "import threading; "),
    "report_once(interval='1d'), recent state file": ("intervalpkg", ""),
}
TIMED = "{pre}import time; t = time.perf_counter(); import {name}; " \
        "print((time.perf_counter() - t) * 1000)"


def measure(runs: int, src: Path | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        for name, body in PACKAGES.items():
            (Path(tmp) / name).mkdir()
            (Path(tmp) / name / "__init__.py").write_text(textwrap.dedent(body))
        cache = Path(tmp) / "cache"
        path = [tmp, *([str(src)] if src else [])]  # as an installed package would be
        env = {k: v for k, v in os.environ.items()
               if not (k.endswith("_NO_ANALYTICS") or k.startswith(("PATHBEACON_", "SCARF_"))
                       or k in ("DO_NOT_TRACK", "PYTHONDONTWRITEBYTECODE"))}
        env.update(PYTHONPATH=os.pathsep.join(path), PATHBEACON_CACHE_DIR=str(cache))
        subprocess.run([sys.executable, "-m", "compileall", "-q", tmp], check=True, env=env)
        if src:
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(src)], check=True,
                           env=env)
        # A recent stamp for the interval package's key (the default key: template, package).
        sys.path.insert(0, str(src or ROOT / "src"))
        try:
            from pathbeacon import stamps
        except ImportError:  # a checkout from before interval existed
            pass
        else:
            key = (textwrap.dedent(CALL).split('"')[1], "beaconpkg")
            stamps.record(str(cache / stamps.file_name(key)), time.time())
        for name in PACKAGES:  # warm the file system cache and bytecode
            subprocess.run([sys.executable, "-c", f"import {name}"], env=env, check=True)
        samples: dict[str, list[float]] = {label: [] for label in CASES}
        for _ in range(runs):
            for label, (name, pre) in CASES.items():  # interleaved: drift hits all alike
                out = subprocess.run([sys.executable, "-c", TIMED.format(pre=pre, name=name)],
                                     env=env, capture_output=True, text=True)
                if out.returncode != 0:  # a host that does not exit cleanly is a bug
                    raise SystemExit(f"{label}: exit status {out.returncode}\n{out.stderr}")
                samples[label].append(float(out.stdout))
        check = subprocess.run(
            [sys.executable, "-c", "import intervalpkg, pathbeacon; print(pathbeacon."
             "report_once('<base>/<package>/<version>/<os>/<arch>/<runtime>', "
             "package='beaconpkg', interval='1d').status)"],
            env=env, capture_output=True, text=True)
        print(f"(interval case status: {check.stdout.strip() or check.stderr.strip()[-200:]})")
    global FASTEST
    FASTEST = {label: min(values) for label, values in samples.items()}
    return {label: statistics.median(values) for label, values in samples.items()}


# The fastest run of each case: on a loaded machine a thread's start costs the caller a
# scheduling delay now and then (the GIL handed to the new thread and back), which the
# median may catch; the fastest run is the cost without it.
FASTEST: dict[str, float] = {}


# ---- --windows: how long a thread lives beside the host's -------------------------------

WINDOW = """
import os, sys, time, warnings
started = time.monotonic()
import windowpkg
last, forked, warned, next_fork = started, 0, 0, started
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    while time.monotonic() - started < 30:
        now = time.monotonic()
        if len(os.listdir("/proc/self/task")) > 1:
            last = now
        elif windowpkg.REPORT.status != "pending" and now - last > 0.5:
            break
        if hasattr(os, "fork") and now >= next_fork:
            next_fork = now + 0.1
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)
            forked += 1
        time.sleep(0.002)
    warned = sum("multi-threaded" in str(w.message) for w in caught)
print(round(last - started, 3), windowpkg.REPORT.status, forked, warned)
"""
WINDOW_PKG = """
import os, pathbeacon
REPORT = pathbeacon.report_once("<base>/<package>/<os>", base=os.environ["BENCH_URL"],
                                package="windowpkg")
"""


def windows(runs: int, python: str) -> None:
    import socket
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    sys.path.insert(0, str(ROOT))
    from tests.lifecycle_tools import private_dns_argv

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(64)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    refused = closed.getsockname()[1]
    closed.close()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "windowpkg").mkdir()
        (Path(tmp) / "windowpkg" / "__init__.py").write_text(WINDOW_PKG)
        src = str(ROOT / "src")
        import urllib3

        site = str(Path(urllib3.__file__).parent.parent)
        env = {k: v for k, v in os.environ.items()
               if not (k.endswith("_NO_ANALYTICS") or k.lower().endswith("_proxy")
                       or k.startswith(("PATHBEACON_", "SCARF_")) or k == "DO_NOT_TRACK")}
        env["PYTHONPATH"] = os.pathsep.join([tmp, src, site])
        cases = {
            "collector answers 204": ([python], f"http://127.0.0.1:{server.server_address[1]}"),
            "blackhole (accepts, never answers)": ([python],
                                                   f"http://127.0.0.1:{hole.getsockname()[1]}"),
            "port refused": ([python], f"http://127.0.0.1:{refused}"),
        }
        prefix = private_dns_argv(Path(tmp))
        # glibc's defaults (5 s a try, 2 tries), not the tests' 30 s: a common resolv.conf
        (Path(tmp) / "resolv.conf").write_text("nameserver 127.0.0.1\n")
        if prefix is not None:
            cases["DNS server never answers"] = ([*prefix[:-1], python, python],
                                                 "http://collector.pathbeacon.test:8080")
        version = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"],
                                 capture_output=True, text=True).stdout.strip()
        print(f"Python {version}, {runs} runs per case, medians; default timeout=3, retries=2")
        print("| case | thread beside the host's for | status | forks that warned |")
        print("|---|---|---|---|")
        for label, (argv, url) in cases.items():
            spans, statuses, warned, forked = [], set(), 0, 0
            for _ in range(runs):
                out = subprocess.run([*argv, "-c", WINDOW], env={**env, "BENCH_URL": url},
                                     capture_output=True, text=True, timeout=120)
                if out.returncode != 0:
                    raise SystemExit(f"{label}: {out.stderr[-500:]}")
                span, status, forks, warns = out.stdout.split()
                spans.append(float(span))
                statuses.add(status)
                forked += int(forks)
                warned += int(warns)
            print(f"| {label} | {statistics.median(spans):.2f} s | {', '.join(sorted(statuses))}"
                  f" | {warned} of {forked} |")
    server.shutdown()
    hole.close()


# ---- --placements: where a package that guards its import cost puts the call -------------

PLACEMENTS = {
    "bare (no report)": ("", "def main():\n    return 0\n"),
    "report_once in __init__": (CALL.format(extra=""), "def main():\n    return 0\n"),
    "report_once in the CLI entry point": ("", "def main():\n" + textwrap.indent(
        CALL.format(extra=""), "    ") + "    return 0\n"),
}
PLACED = """
import sys, time
before = set(sys.modules)
t = time.perf_counter()
import {name}
imported = (time.perf_counter() - t) * 1000
loaded = len(set(sys.modules) - before)
ours = sorted(m for m in set(sys.modules) - before if m.split(".")[0] == "pathbeacon")
t = time.perf_counter()
{name}.cli.main()
first = (time.perf_counter() - t) * 1000
print(imported, first, loaded, ",".join(ours) or "-")
"""


def placements(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        names = {}
        for i, (label, (init, cli)) in enumerate(PLACEMENTS.items()):
            name = f"placed{i}"
            names[label] = name
            (Path(tmp) / name).mkdir()
            (Path(tmp) / name / "__init__.py").write_text(
                textwrap.dedent(init) + "\nfrom . import cli\n")
            (Path(tmp) / name / "cli.py").write_text(cli)
        env = {k: v for k, v in os.environ.items()
               if not (k.endswith("_NO_ANALYTICS") or k.startswith(("PATHBEACON_", "SCARF_"))
                       or k in ("DO_NOT_TRACK", "PYTHONDONTWRITEBYTECODE"))}
        env["PYTHONPATH"] = os.pathsep.join([tmp, str(ROOT / "src")])
        subprocess.run([sys.executable, "-m", "compileall", "-q", tmp], check=True, env=env)
        samples: dict[str, list[tuple[float, float, int, str]]] = {k: [] for k in names}
        for _ in range(runs):
            for label, name in names.items():
                out = subprocess.run([sys.executable, "-c", PLACED.format(name=name)],
                                     env=env, capture_output=True, text=True, check=True)
                imported, first, loaded, ours = out.stdout.split()
                samples[label].append((float(imported), float(first), int(loaded), ours))
        load = "/".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") \
            else "?"
        print(f"Python {sys.version.split()[0]}, {runs} fresh interpreters each, medians "
              f"(fastest run), load average {load}")
        print("| placement | `import pkg` | modules `import pkg` loads | of which pathbeacon's "
              "| first call of `main()` |")
        print("|---|---|---|---|---|")
        for label, rows in samples.items():
            print(f"| {label} | {statistics.median(r[0] for r in rows):.2f} ms "
                  f"({min(r[0] for r in rows):.2f}) | "
                  f"{statistics.median(r[2] for r in rows):.0f} | "
                  f"{len(rows[0][3].split(',')) if rows[0][3] != '-' else 0} | "
                  f"{statistics.median(r[1] for r in rows):.2f} ms "
                  f"({min(r[1] for r in rows):.2f}) |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--src", type=Path, default=None,
                        help="a checkout's src folder to measure instead of the installed one")
    parser.add_argument("--windows", action="store_true",
                        help="measure how long a report's thread lives beside the host's")
    parser.add_argument("--placements", action="store_true",
                        help="measure where a package that guards its import cost can call")
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter for --windows (3.12+ warns on forks)")
    args = parser.parse_args()
    if args.windows:
        windows(args.runs, args.python)
        return 0
    if args.placements:
        placements(args.runs)
        return 0
    result = measure(args.runs, args.src)
    bare, bare_threading = result["bare"], result["bare, threading imported"]
    load = "/".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print(f"Python {sys.version.split()[0]}, {args.runs} fresh interpreters per case, medians "
          f"(and fastest runs), load average {load}")
    print("| case | import time | over its bare package | fastest run, over its bare |")
    print("|---|---|---|---|")
    for label, value in result.items():
        if "with threading" in label or "threading imported" in label:
            base = bare_threading
        elif "re imported" in label or "with re" in label:
            base = result["bare, re imported"]
        else:
            base = bare
        fast_base = FASTEST[next(k for k, v in result.items() if v == base)]
        print(f"| {label} | {value:.2f} ms | {value - base:+.2f} ms | "
              f"{FASTEST[label] - fast_base:+.2f} ms |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
