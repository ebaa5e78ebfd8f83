"""The ingest store: how fast logs go in (against another revision, in the same run), how
fast a run that finds nothing new is, and how fast ``stats --db`` answers compared with
``stats`` over the logs.

    python benchmarks/store.py [--lines N] [--formats json,combined]   # the analysis extra
    python benchmarks/store.py --baseline main          # today's ingest against main's

For each format it writes a log once under ``.bench/`` (fixed seed, N lines, default
1,000,000): the requests of ``benchmarks/analysis.py`` (85% beacons of a six-field
template, other paths, bad statuses, a few malformed lines), as nginx's combined format or
the JSON lines ``pathbeacon gateway nginx`` configures, dated today and yesterday (UTC), so
that their days' keys are live and every beacon's reporter is hashed, as in a daily run.
Then, each ``pathbeacon ingest`` in a child process (wall time, CPU time: user + system over
all cores, lines per CPU-second, peak RSS): a first ingest (with ``--baseline REV`` also
that revision's, and the store it made compared with this one's row by row, under the
same day keys), a second one (nothing new), one more after 1% more lines, and
``stats --by version,os --every day`` from the store and from the log (python engine).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from analysis import (  # the benchmark beside this one
    BASE,
    BENCH,
    MONTHS,
    SEED,
    TEMPLATE,
    _parts,
    baseline_src,
    run_child,
)


def _line(rng: random.Random, fmt: str, days: list[str]) -> str:
    """One request of analysis.py's mix, on one of ``days`` (``YYYY-MM-DD``)."""
    roll, client, (day, _month, hour, minute, second), agent, path, status = _parts(rng)
    year, month, mday = days[day % len(days)].split("-")
    clock = f"{hour:02d}:{minute:02d}:{second:02d}"
    if fmt == "json":
        stamp = f"{year}-{month}-{mday}T{clock}+00:00"
        if roll < 0.005:
            return f'{{"time":"{stamp}","request":"{path}" this is not JSON'
        return (f'{{"time":"{stamp}","request":"{path}","status":{status},'
                f'"agent":"{agent}","client":"{client}"}}')
    stamp = f"{mday}/{MONTHS[int(month) - 1]}/{year}:{clock} +0000"
    if roll < 0.005:
        return f"{client} this is not a log line [{stamp}]"
    return f'{client} - - [{stamp}] "GET {path} HTTP/1.1" {status} 0 "-" "{agent}"'


def write_lines(path: Path, count: int, rng: random.Random, fmt: str, days: list[str]) -> None:
    with path.open("a", encoding="utf-8", newline="\n") as out:
        for _ in range(count // 10000 + 1):
            todo = min(10000, count)
            count -= todo
            if todo:
                out.write("".join(_line(rng, fmt, days) + "\n" for _ in range(todo)))


def generate(lines: int, fmt: str, days: list[str]) -> Path:
    """The log of ``lines`` lines of ``fmt`` over ``days``, written once under .bench/."""
    BENCH.mkdir(exist_ok=True)
    path = BENCH / f"store-{fmt}-{lines}-{days[0]}.log"
    if not path.exists():
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        write_lines(partial, lines, random.Random(SEED), fmt, days)
        partial.replace(path)
    return path


def ingest_argv(log: Path, db: Path, fmt: str) -> list[str]:
    return [sys.executable, "-m", "pathbeacon", "ingest", TEMPLATE, str(log), "--db", str(db),
            f"base={BASE}", "--format", fmt, "--quiet"]


def stats_argv(log: Path | None, db: Path, fmt: str) -> list[str]:
    where = ["--db", str(db)] if log is None else [str(log), f"base={BASE}", "--format", fmt,
                                                    "--engine", "python"]
    return [sys.executable, "-m", "pathbeacon", "stats", TEMPLATE, *where,
            "--by", "version,os", "--every", "day", "--json"]


def contents(db: Path) -> tuple[list[Any], list[Any]]:
    """The store's beacons (sorted: a multiset) and its sources' line counts."""
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        beacons = con.execute("SELECT * EXCLUDE (source) FROM beacons ORDER BY ALL").fetchall()
        sources = con.execute("SELECT path, read_to, format, matched, bad_status, other_path,"
                              " malformed FROM sources ORDER BY id").fetchall()
    return beacons, sources


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--formats", default="json,combined",
                        help="comma-separated log formats: json, combined")
    parser.add_argument("--baseline", metavar="REV", default=None,
                        help="also time this git revision's first ingest, in the same run")
    parser.add_argument("--compare", nargs=2, metavar="DB", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compare:  # in a child process: the stores are read there
        print("same" if contents(Path(args.compare[0])) == contents(Path(args.compare[1]))
              else "different")
        return 0
    load = os.getloadavg()
    print(f"load average at the start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f};"
          f" {os.cpu_count()} cores; Python {sys.version.split()[0]}")
    old_src = baseline_src(args.baseline) if args.baseline else None
    today = datetime.now(timezone.utc).date()
    days = [today.isoformat(), (today - timedelta(days=1)).isoformat()]
    failed = False
    for fmt in args.formats.split(","):
        log_made = generate(args.lines, fmt, days)
        size = log_made.stat().st_size / 1e6
        print(f"\n### {fmt}: {args.lines:,} lines, {size:.0f} MB\n")
        print("| step | wall time | CPU time | lines per CPU-second | peak memory"
              " | x baseline |\n|---|---|---|---|---|---|")
        with tempfile.TemporaryDirectory(prefix="pathbeacon-bench-") as folder:
            log = Path(folder) / "access.log"
            shutil.copy(log_made, log)
            db = Path(folder) / "beacons.duckdb"
            base_cpu: list[float] = []

            def row(label: str, count: int, argv: list[str], env: dict[str, str] | None = None,
                    base: list[float] = base_cpu) -> tuple[float, str]:
                wall, cpu, rss, out = run_child(argv, env=env)
                rate = f"{count / cpu:,.0f}" if count else "-"
                versus = (f"{base[0] / cpu:.2f}" if base and count == args.lines
                          and env is None else "-")
                print(f"| {label} | {wall:.2f} s | {cpu:.2f} s | {rate} | {rss:.0f} MB"
                      f" | {versus} |")
                return cpu, out

            if old_src is not None:
                old_db = Path(folder) / "baseline.duckdb"
                env = dict(os.environ, PYTHONPATH=str(old_src))
                cpu, _ = row(f"first ingest, baseline {args.baseline}", args.lines,
                             ingest_argv(log, old_db, fmt), env)
                base_cpu.append(cpu)
                # the same day keys: the same reporter hashes
                shutil.copy(Path(str(old_db) + ".keys"), Path(str(db) + ".keys"))
            row("first ingest", args.lines, ingest_argv(log, db, fmt))
            if old_src is not None:
                same = run_child([sys.executable, __file__, "--compare", str(old_db),
                                  str(db)])[3].split() == ["same"]
                print(f"\nstore contents {'identical to' if same else 'DIFFER FROM'} the"
                      f" baseline's (rows and line counts, same day keys)\n")
                failed = failed or not same
            row("ingest again (nothing new)", 0, ingest_argv(log, db, fmt))
            more = args.lines // 100
            write_lines(log, more, random.Random(SEED + 1), fmt, days[:1])
            row(f"ingest after {more:,} more lines", more, ingest_argv(log, db, fmt))
            _, from_db = row("stats --db --by version,os --every day", 0,
                             stats_argv(None, db, fmt))
            _, from_log = row("stats over the log, python engine", args.lines + more,
                              stats_argv(log, db, fmt))
            same = from_db == from_log
            print(f"\nstats --db {'equals' if same else 'DIFFERS FROM'} stats over the log")
            failed = failed or not same
    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
