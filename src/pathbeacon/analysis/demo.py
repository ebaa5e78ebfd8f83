"""``pathbeacon demo``: the whole loop on loopback, from beacons sent to a dashboard.

1. A collector on 127.0.0.1 answers beacons as the generated nginx gateway does (204 for a
   GET or HEAD that fits the template, 404 otherwise) and writes the same JSON log.
2. A small fleet of real, short-lived Python processes, each with its own ``version``,
   ``os``, ``arch`` and ``python`` given as overrides, calls ``report_once()``.
3. The log is decoded into a ``stats`` table, kept in an ingest store (when DuckDB is
   installed), and drawn as a dashboard whose path is printed.

Nothing leaves the machine. ``python -m pathbeacon.analysis.demo`` runs it too.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, Any

__all__ = ["TEMPLATE", "add_arguments", "fleet", "main", "run"]

#: The template the demo's package reports with.
TEMPLATE = "<base>/<package>/<version>/<os>/<arch>/<python>"
PACKAGE = "acme"
# How many reporting processes run at once (the machine may have few cores).
_AT_ONCE = 6
_CHILD = (
    "import json, sys, pathbeacon\n"
    "facts = json.loads(sys.argv[3])\n"
    "r = pathbeacon.report_once(sys.argv[1], base=sys.argv[2], package=sys.argv[4],"
    " skip_dev=False, **facts)\n"
    "print(json.dumps([r.wait(20), r.reason, r.url]))\n"
)


def fleet(count: int, seed: int = 2026) -> list[dict[str, str]]:
    """``count`` sets of facts, as a package's users might have them (fixed by ``seed``).

        >>> fleet(2)[0]["os"] in ("linux", "macos", "windows")
        True
    """
    rng = random.Random(seed)
    choices = {
        "version": (["1.4.2", "1.5.0", "2.0.0", "2.0.1"], [5, 8, 10, 4]),
        "os": (["linux", "macos", "windows"], [14, 6, 4]),
        "arch": (["x86_64", "aarch64"], [3, 1]),
        "python": (["3.9.18", "3.11.7", "3.12.1", "3.13.0"], [2, 6, 5, 3]),
    }
    return [{name: rng.choices(values, weights)[0] for name, (values, weights) in choices.items()}
            for _ in range(count)]


class _Collector:
    """A loopback HTTP server that answers and logs like ``gateway nginx --no-client``."""

    def __init__(self, log_path: str) -> None:
        import re

        from .gateway import route

        self._log = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                fits = (self.command in ("GET", "HEAD")
                        and collector.pattern.fullmatch(self.path) is not None)
                status = 204 if fits else 404
                self.send_response(status)
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", "0")
                self.end_headers()
                collector.write(self.path, status, self.headers.get("User-Agent"))

            do_GET = do_HEAD = do_POST = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass  # the JSON log is the only log

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/demo"
        self.pattern = re.compile(route(TEMPLATE, self.base).pattern)
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def write(self, target: str, status: int, agent: str | None) -> None:
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")
        line = json.dumps({"time": now, "request": target, "status": status, "agent": agent})
        with self._lock:
            self._log.write(line + "\n")
            self._log.flush()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._log.close()


def _label(status: str, reason: str, url: str | None) -> str:
    """What happened to one report, in words: never "sent" for what was not."""
    if status == "dry_run":
        return f"would send {url} (PATHBEACON_DRY_RUN: nothing sent)"
    if status == "disabled":
        return f"disabled, not sent ({reason})"
    return status + (f" ({reason})" if reason else "")


def _report(base: str, members: list[dict[str, str]], out: IO[str]) -> Counter[str]:
    """Run one process per member, a few at a time; print each outcome; return how many
    reports ended in each status."""
    env = dict(os.environ)
    for name in ("NO_PROXY", "no_proxy"):  # loopback never goes through a proxy
        env[name] = ",".join(filter(None, [env.get(name), "127.0.0.1"]))
    outcomes: Counter[str] = Counter()
    width = len(str(len(members)))
    running: list[tuple[int, dict[str, str], subprocess.Popen[str]]] = []

    def finish(entry: tuple[int, dict[str, str], subprocess.Popen[str]]) -> None:
        number, facts, child = entry
        output, errors = child.communicate(timeout=60)
        try:
            status, reason, url = json.loads(output.strip().splitlines()[-1])
        except (ValueError, IndexError):
            status, reason, url = "failed", (errors.strip().splitlines() or ["no output"])[-1], None
        outcomes[status] += 1
        shown = " ".join(f"{name}={value}" for name, value in facts.items())
        print(f"  process {number:>{width}}/{len(members)} (pid {child.pid}): {shown:<58} "
              f"{_label(status, reason, url)}", file=out, flush=True)

    for number, facts in enumerate(members, 1):
        if len(running) >= _AT_ONCE:
            finish(running.pop(0))
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, TEMPLATE, base, json.dumps(facts), PACKAGE],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        running.append((number, facts, child))
    for entry in running:
        finish(entry)
    return outcomes


def run(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    """The ``demo`` command (see the module docstring); exit status 0, or 1 if a report
    failed or none was sent, dry-run or opted out."""
    from . import stats
    from .dashboard import collect, require, write
    from .output import write_table

    out = out or sys.stdout
    started = time.monotonic()
    count = args.processes
    if not 1 <= count <= 500:
        raise ValueError(f"--processes takes 1 to 500, not {count}")
    folder = args.out or tempfile.mkdtemp(prefix="pathbeacon-demo-")
    os.makedirs(folder, exist_ok=True)
    log = os.path.join(folder, "access.log")
    if os.path.exists(log):
        os.unlink(log)  # a demo run starts from an empty log

    def say(*text: str) -> None:
        print(*text, file=out, flush=True)

    say("pathbeacon demo: the whole loop on loopback (nothing leaves this machine)\n")
    collector = _Collector(log)
    try:
        say(f"1. A collector listens on {collector.base}. Like the server that")
        say(f"   `pathbeacon gateway nginx '{TEMPLATE}' base=... --no-client`")
        say("   configures, it answers 204 to a GET or HEAD that fits the template, 404 to")
        say(f"   anything else, and writes one JSON line per request to\n   {log}\n")
        say(f"2. {count} Python processes, each with its own facts, call")
        say(f"   pathbeacon.report_once('{TEMPLATE}', base=..., package='{PACKAGE}', ...)")
        outcomes = _report(collector.base, fleet(count), out)
        sent = outcomes["sent"]
        say(f"   {sent} of {count} reports sent.")
        if outcomes["dry_run"]:
            say(f"   {outcomes['dry_run']} rendered only: PATHBEACON_DRY_RUN is set.")
        if outcomes["disabled"]:
            say(f"   {outcomes['disabled']} opted out: nothing was sent for them.")
        say("")
    finally:
        collector.close()

    by = ["version", "os"]
    result = stats(TEMPLATE, [log], by, base=collector.base, engine=args.engine)
    say(f"3. The log, decoded: pathbeacon stats '{TEMPLATE}' {log} "
        f"base={collector.base} --by {','.join(by)}")
    write_table(result, out)
    lines = result["lines"]
    say("   lines: " + ", ".join(f"{name} {n}" for name, n in lines.items()))
    say("   (reporters '-': all these processes share this machine's address, so the\n"
        "   collector logs no client, as with --no-client; k then counts events)\n")

    step = 4
    try:
        import duckdb  # noqa: F401 - only to tell whether the store can be shown
    except ImportError:
        say(f"{step}. (The ingest store needs DuckDB: pip install 'pathbeacon[analysis]')\n")
    else:
        from .store import ingest
        from .store import stats as store_stats

        db = os.path.join(folder, "beacons.duckdb")
        if os.path.exists(db):
            os.unlink(db)
        (ingested,) = ingest(TEMPLATE, [log], db, base=collector.base)
        same = store_stats(db, by) == result
        say(f"{step}. Kept in an ingest store: pathbeacon ingest ... --db {db}")
        say(f"   {ingested.new_lines} lines stored; a second run adds "
            f"{ingest(TEMPLATE, [log], db, base=collector.base)[0].new_lines}; "
            f"stats --db gives {'the same' if same else 'a DIFFERENT'} table.\n")
    step += 1

    page = os.path.join(folder, "dashboard.html")

    def from_log(fields: Sequence[str], every: str | None, k: int) -> Any:
        return stats(TEMPLATE, [log], fields, every=every, k=k, base=collector.base,
                     engine=args.engine)

    try:
        require()
    except ValueError as missing:
        say(f"{step}. ({str(missing).replace('the dashboard', 'A dashboard')})\n")
    else:
        write(page, collect(TEMPLATE, from_log, title=f"{PACKAGE}: demo telemetry",
                            base=collector.base, package=PACKAGE))
        say(f"{step}. A dashboard for it (one self-contained HTML file, k=5):")
        say(f"   {page}\n")
    say(f"Done in {time.monotonic() - started:.1f} s.")
    quiet = outcomes["dry_run"] + outcomes["disabled"]
    return 0 if sent + quiet == count else 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's options, for whichever parser runs it."""
    parser.add_argument("--processes", type=int, default=30, metavar="N",
                        help="how many reporting processes to start (default 30)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="where to write the log, store and dashboard (default: a new"
                             " temporary folder)")
    parser.add_argument("--engine", default="auto", metavar="E",
                        help="the engine that decodes the log (default auto)")
    parser.set_defaults(run=run)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo as a program; exit status 0, 1 (no report arrived) or 2 (usage)."""
    parser = argparse.ArgumentParser(prog="pathbeacon demo", description=__doc__.split("\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except ValueError as error:
        print(f"pathbeacon: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
