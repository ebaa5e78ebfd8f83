"""The ingest store: how fast logs go in, how fast a run that finds nothing new is, and how
fast ``stats --db`` answers compared with ``stats`` over the logs.

    python benchmarks/store.py [--lines N]      # needs the analysis extra

It writes an nginx JSON log as ``pathbeacon gateway nginx`` configures it (fixed seed;
N lines, default 1,000,000, over the last 30 days, 90% beacons of a 5-field template), then
times: a first ``ingest``, a second one (nothing new), one more after 1% more lines of
today, and
``stats --by version,os --every day`` from the store and from the log (python engine).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone

from pathbeacon.analysis import stats, store

TEMPLATE = "<base>/<package>/<version>/<os>/<arch>/<python>"
BASE = "https://telemetry.acme.example/t"


def write_lines(path: str, count: int, rng: random.Random, days: list[str]) -> None:
    versions = ["1.4.2", "1.5.0", "2.0.0", "2.0.1", "2.1.0rc1"]
    systems = ["linux", "macos", "windows", "Debian_GNU%2FLinux"]
    with open(path, "a", encoding="utf-8") as out:
        for _ in range(count):
            day = rng.choice(days)
            target = (f"/t/acme/{rng.choice(versions)}/{rng.choice(systems)}/"
                      f"{rng.choice(['x86_64', 'aarch64'])}/3.{rng.randrange(9, 14)}.1")
            if rng.random() < 0.1:
                target = "/t/elsewhere" + target
            record = {"time": f"{day}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00+00:00",
                      "request": target, "status": 204,
                      "agent": "pathbeacon/0.1.0 (platform=linux; arch=x86_64; python=3.11.7)",
                      "client": f"10.{rng.randrange(4)}.{rng.randrange(256)}.{rng.randrange(256)}"}
            out.write(json.dumps(record) + "\n")


def timed(label: str, count: int, action: object) -> object:
    start = time.perf_counter()
    result = action()  # type: ignore[operator]
    seconds = time.perf_counter() - start
    rate = f"{count / seconds:,.0f} lines/s" if count else ""
    print(f"| {label} | {seconds:.2f} s | {rate} |")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    rng = random.Random(10)
    with tempfile.TemporaryDirectory(prefix="pathbeacon-bench-") as folder:
        log = os.path.join(folder, "access.log")
        db = os.path.join(folder, "beacons.duckdb")
        today = datetime.now(timezone.utc).date()
        month = [(today - timedelta(days=n)).isoformat() for n in range(30)]
        write_lines(log, args.lines, rng, month)
        size = os.path.getsize(log) / 1e6
        print(f"{args.lines:,} lines, {size:.0f} MB; Python {sys.version.split()[0]}\n")
        print("| step | time | rate |\n|---|---|---|")
        timed("first ingest", args.lines, lambda: store.ingest(TEMPLATE, [log], db, base=BASE))
        timed("ingest again (nothing new)", 0,
              lambda: store.ingest(TEMPLATE, [log], db, base=BASE))
        more = args.lines // 100
        write_lines(log, more, rng, month[:1])  # what the server wrote since: today's
        timed(f"ingest after {more:,} more lines", more,
              lambda: store.ingest(TEMPLATE, [log], db, base=BASE))
        by = ["version", "os"]
        from_db = timed("stats --db --by version,os --every day", 0,
                        lambda: store.stats(db, by, every="day"))
        from_log = timed("stats over the log, python engine", args.lines + more,
                         lambda: stats(TEMPLATE, [log], by, every="day", base=BASE,
                                       engine="python"))
        print(f"\nsame answer: {from_db == from_log}")
        return 0 if from_db == from_log else 1


if __name__ == "__main__":
    sys.exit(main())
