"""Time ``pathbeacon stats`` on large access logs, engine by engine, against GoAccess and
against another revision of pathbeacon in the same run.

    python benchmarks/analysis.py               # 2,000,000 lines, combined and nginx JSON
    python benchmarks/analysis.py --lines 200000 --engines python,duckdb   # a quick look
    python benchmarks/analysis.py --baseline 3769033 --formats combined,json

Each log is generated once per size and format under ``.bench/`` with a fixed seed: 85%
beacons of a six-field template (status 204), the rest other paths, beacons answered with
bad statuses, and a few malformed lines; ``combined`` is nginx's combined format, ``json``
the JSON lines ``pathbeacon gateway nginx`` configures (``$time_iso8601``, the request
URI, status, agent and client). Each engine runs ``stats --by version,os --json`` in a
child process; its wall time, CPU time (user + system over all cores: the honest figure
on a machine shared with other work; with the processes under the child it never waits
for, such as Spark's JVM, read from ``/proc``), lines per CPU-second and peak memory (the
child's maximum resident set size, or its process tree's) are printed as a Markdown table,
the fastest of ``--repeat``
runs, and the engines' answers are compared with each other. ``--baseline REV`` runs the
same engines from that git revision (exported under ``.bench/``) in the same run, so the
speed-up is a ratio of figures taken side by side. GoAccess (``goaccess FILE
--log-format=COMBINED``, or its JSON log format for the JSON log), the tool a maintainer
would otherwise reach for, runs on the same file when it is installed (Debian package
``goaccess``). Engines run from this checkout's interpreter (``sys.executable``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / ".bench"
TEMPLATE = "<base>/<package>/<version>/<os>/<arch>/<python>/<ci>"
BASE = "https://acme.gateway.example/telemetry"
SEED = 20260821

VERSIONS = [f"{major}.{minor}.{patch}" for major in (1, 2) for minor in range(6)
            for patch in range(4)]
OSES = ["Linux", "Darwin", "Windows", "FreeBSD"]
ARCHES = ["x86_64", "aarch64", "arm64", "AMD64", "i686"]
PYTHONS = ["3.9", "3.10", "3.11", "3.12", "3.13"]
CIS = ["true", "false", "unknown"]
AGENTS = ["pathbeacon/0.4 (+https://pypi.org/project/pathbeacon/)",
          "pathbeacon/0.5 (+https://pypi.org/project/pathbeacon/)",
          "curl/8.5.0"]
OTHER_PATHS = ["/", "/favicon.ico", "/robots.txt", "/wp-login.php", "/telemetry",
               "/telemetry/acme", "/static/app.js?v=3", "/.env"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _parts(rng: random.Random) -> tuple[float, str, tuple[int, int, int, int, int],
                                         str, str, int]:
    """(roll, client, (day, month, hour, minute, second), agent, path, status) of one
    request: mostly beacons, some other paths, bad statuses (the same draws per format)."""
    roll = rng.random()
    client = f"198.51.{rng.randrange(64)}.{rng.randrange(1, 255)}"
    when = (rng.randrange(1, 29), rng.randrange(12), rng.randrange(24), rng.randrange(60),
            rng.randrange(60))
    agent = AGENTS[rng.randrange(len(AGENTS))]
    status = 204
    if roll < 0.85 + 0.005 or roll >= 0.95:
        path = (f"/telemetry/acme/{VERSIONS[rng.randrange(len(VERSIONS))]}/"
                f"{OSES[rng.randrange(len(OSES))]}/{ARCHES[rng.randrange(len(ARCHES))]}/"
                f"{PYTHONS[rng.randrange(len(PYTHONS))]}/{CIS[rng.randrange(len(CIS))]}")
        if roll >= 0.95:
            status = (404, 429, 500, 502)[rng.randrange(4)]
    else:
        path = OTHER_PATHS[rng.randrange(len(OTHER_PATHS))]
        status = (200, 301, 404)[rng.randrange(3)]
    return roll, client, when, agent, path, status


def _clf_stamp(when: tuple[int, int, int, int, int]) -> str:
    """``$time_local`` of a request's (day, month, hour, minute, second), in UTC."""
    day, month, hour, minute, second = when
    return f"{day:02d}/{MONTHS[month]}/2026:{hour:02d}:{minute:02d}:{second:02d} +0000"


def _line(rng: random.Random) -> str:
    """One combined log line: mostly beacons, some other paths, bad statuses, malformed."""
    roll, client, when, agent, path, status = _parts(rng)
    stamp = _clf_stamp(when)
    if roll < 0.005:
        return f"{client} this is not a log line [{stamp}]"
    return f'{client} - - [{stamp}] "GET {path} HTTP/1.1" {status} 0 "-" "{agent}"'


def _json_line(rng: random.Random) -> str:
    """The same requests as nginx writes them with ``pathbeacon gateway nginx``'s format."""
    roll, client, (day, month, hour, minute, second), agent, path, status = _parts(rng)
    stamp = f"2026-{month + 1:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}+00:00"
    if roll < 0.005:
        return f'{{"time":"{stamp}","request":"{path}" this is not JSON'
    return (f'{{"time":"{stamp}","request":"{path}","status":{status},'
            f'"agent":"{agent}","client":"{client}"}}')


#: The first twelve fields of CloudFront's layout, which the log declares in its ``#Fields``
CLOUDFRONT_FIELDS = ["date", "time", "x-edge-location", "sc-bytes", "c-ip", "cs-method",
                     "cs(Host)", "cs-uri-stem", "sc-status", "cs(Referer)", "cs(User-Agent)",
                     "cs-uri-query"]


def _s3_line(rng: random.Random) -> str:
    """The same requests in S3's server access log."""
    roll, client, when, agent, path, status = _parts(rng)
    stamp = _clf_stamp(when)
    if roll < 0.005:
        return f"owner bucket [{stamp}] this is not a log line"
    return (f"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be bucket [{stamp}]"
            f" {client} arn:aws:iam::123456789012:user/alice 3E57427F3EXAMPLE REST.GET.OBJECT"
            f' {path.lstrip("/") or "-"} "GET {path} HTTP/1.1" {status} - 0 0 7 - "-"'
            f' "{agent}" - s9lzHYrFp76ZVxRcpX9= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader'
            " bucket.s3.us-west-1.amazonaws.com TLSV1.2 - -")


def _cloudfront_line(rng: random.Random) -> str:
    """The same requests in a CloudFront standard log (tab-separated, agent URL-encoded)."""
    roll, client, (day, month, hour, minute, second), agent, path, status = _parts(rng)
    if roll < 0.005:
        return f"2026-{month + 1:02d}-{day:02d}\tnot a log line"
    stem, _, query = path.partition("?")
    return "\t".join([f"2026-{month + 1:02d}-{day:02d}", f"{hour:02d}:{minute:02d}:{second:02d}",
                      "FRA56-P1", "431", client, "GET", "d111111abcdef8.cloudfront.net", stem,
                      str(status), "-", agent.replace(" ", "%20"), query or "-"])


def _caddy_line(rng: random.Random) -> str:
    """The same requests in Caddy's JSON access log."""
    roll, client, (day, month, hour, minute, second), agent, path, status = _parts(rng)
    seconds = ((date(2026, month + 1, day) - date(1970, 1, 1)).days * 86400
               + hour * 3600 + minute * 60 + second)
    ts = f"{seconds}.123456"
    if roll < 0.005:
        return f'{{"level":"info","ts":{ts},"request": not JSON'
    return ('{"level":"info","ts":' + ts + ',"logger":"http.log.access.log0",'
            '"msg":"handled request","request":{"remote_ip":"' + client + '",'
            '"remote_port":"41234","proto":"HTTP/1.1","method":"GET",'
            '"host":"gateway.example","uri":"' + path + '","headers":{"User-Agent":["'
            + agent + '"],"Accept":["*/*"]}},"bytes_read":0,"duration":0.000211,"size":0,'
            '"status":' + str(status) + ',"resp_headers":{"Server":["Caddy"]}}')


#: The log formats the benchmark writes: (line maker, ``--format`` for stats)
FORMATS = {"combined": (_line, "combined"), "json": (_json_line, "json"),
           "s3": (_s3_line, "s3"), "cloudfront": (_cloudfront_line, "cloudfront"),
           "caddy": (_caddy_line, "json")}


def generate(lines: int, fmt: str = "combined") -> Path:
    """The benchmark log for ``lines`` lines of ``fmt``, written once under .bench/."""
    BENCH.mkdir(exist_ok=True)
    path = BENCH / (f"analysis-{lines}.log" if fmt == "combined"
                    else f"analysis-{fmt}-{lines}.log")
    if path.exists():
        return path
    make = FORMATS[fmt][0]
    rng = random.Random(SEED)
    partial = path.with_suffix(".partial")
    with partial.open("w", encoding="ascii", newline="\n") as out:
        chunk: list[str] = []
        if fmt == "cloudfront":
            chunk += ["#Version: 1.0", "#Fields: " + " ".join(CLOUDFRONT_FIELDS)]
        for _ in range(lines):
            chunk.append(make(rng))
            if len(chunk) == 10000:
                out.write("\n".join(chunk) + "\n")
                chunk = []
        if chunk:
            out.write("\n".join(chunk) + "\n")
    partial.replace(path)
    return path


def baseline_src(revision: str) -> Path:
    """The ``src`` folder of ``revision`` of this repository, exported once under .bench/."""
    sha = subprocess.run(["git", "rev-parse", "--verify", f"{revision}^{{commit}}"], cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout.strip()
    folder = BENCH / f"rev-{sha[:12]}"
    if not (folder / "src").is_dir():
        BENCH.mkdir(exist_ok=True)
        archive = subprocess.run(["git", "archive", sha, "src"], cwd=ROOT, check=True,
                                 capture_output=True).stdout
        partial = folder.with_suffix(".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        subprocess.run(["tar", "-x", "-C", str(partial)], input=archive, check=True)
        partial.replace(folder)
    return folder / "src"


def _tree(root: int) -> dict[int, tuple[float, int]]:
    """(CPU seconds, resident bytes) of each process under ``root`` (not itself), from
    ``/proc``: Spark's JVM is one the driver starts and never waits for."""
    parents: dict[int, int] = {}
    usage: dict[int, tuple[float, int]] = {}
    tick = os.sysconf("SC_CLK_TCK")
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        # after the name: state, ppid (fields[1]), ... utime, stime (11, 12), rss (21)
        parents[int(entry)] = int(fields[1])
        usage[int(entry)] = ((int(fields[11]) + int(fields[12])) / tick, int(fields[21]) * page)
    under: dict[int, tuple[float, int]] = {}
    for pid in usage:
        parent = parents.get(pid, 0)
        while parent and parent != root:
            parent = parents.get(parent, 0)
        if parent == root:
            under[pid] = usage[pid]
    return under


def run_child(argv: list[str], cwd: Path | None = None,
              env: dict[str, str] | None = None) -> tuple[float, float, float, str]:
    """Run ``argv``; return its wall seconds, CPU seconds (user + system: its own, and
    every process under it by its last reading from ``/proc``, taken every 0.05 s: Spark's
    JVM, which the driver never waits for), peak RSS in MB (the child's, or the largest
    sum over its process tree), and standard output."""
    import threading

    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE, cwd=cwd, env=env)
        seen: dict[int, float] = {}  # the last CPU reading of each process under it
        peak = [0]
        done = threading.Event()

        def watch() -> None:
            while not done.wait(0.05):
                under = _tree(proc.pid)
                for pid, (cpu_s, _) in under.items():
                    seen[pid] = cpu_s
                try:
                    with open(f"/proc/{proc.pid}/statm", "rb") as statm:
                        own = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
                except OSError:
                    own = 0
                peak[0] = max(peak[0], own + sum(rss for _, rss in under.values()))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        err_data = proc.stderr.read() if proc.stderr else b""
        _, status, usage = os.wait4(proc.pid, 0)
        done.set()
        watcher.join()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = err_data.decode(errors="replace")
        if proc.stderr:
            proc.stderr.close()
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {err.strip()}")
        out.seek(0)
        # the child's usage holds the processes it waited for (none of the engines starts
        # one); the others' own CPU as last read (Spark's JVM, up to 0.05 s short)
        cpu = usage.ru_utime + usage.ru_stime + sum(seen.values())
        # ru_maxrss is in kilobytes on Linux
        rss = max(usage.ru_maxrss / 1024, peak[0] / (1 << 20))
        return wall, cpu, rss, out.read().decode()


#: ``--engines spark-small``: the spark engine in a JVM kept small (at the cost of CPU): a
#: 512 MiB heap (Spark refuses under 450 MiB), little of it for Spark's own buffers, a young
#: generation that stays small, the heap given back after each collection, one quick compiler.
#: Not for --baseline-engines: a revision before --spark-conf refuses it.
SPARK_SMALL = {
    "spark.driver.memory": "512m",
    "spark.memory.fraction": "0.1",
    "spark.driver.extraJavaOptions": "-XX:+UseSerialGC -Xms32m -Xmn24m -XX:MinHeapFreeRatio=1"
    " -XX:MaxHeapFreeRatio=10 -XX:ReservedCodeCacheSize=24m -XX:TieredStopAtLevel=1"
    " -XX:CICompilerCount=1",
}


def stats_argv(engine: str, log: Path, fmt: str) -> list[str]:
    settings: list[str] = []
    if engine == "spark-small":
        engine = "spark"
        for key, value in SPARK_SMALL.items():
            settings += ["--spark-conf", f"{key}={value}"]
    return [sys.executable, "-m", "pathbeacon", "stats", TEMPLATE, str(log), f"base={BASE}",
            "--by", "version,os", "--engine", engine, "--format", fmt, "--json", *settings]


# GoAccess's own JSON log format for the nginx JSON lines (GoAccess >= 1.6)
GOACCESS_JSON = ['--log-format={"time":"%x","request":"%U","status":"%s","agent":"%u",'
                 '"client":"%h"}', "--datetime-format=%Y-%m-%dT%H:%M:%S%z"]

Row = tuple[str, float, float, float]


def _table(rows: list[Row], lines: int, reference: dict[str, float]) -> None:
    """Print ``rows`` as Markdown; ``reference`` maps an engine to its baseline's CPU time."""
    goaccess = next((cpu for label, _, cpu, _ in rows if label.startswith("goaccess")), None)
    print("| tool | wall time | CPU time | lines per CPU-second | peak memory"
          " | x baseline | x GoAccess |")
    print("|---|---|---|---|---|---|---|")
    for label, wall, cpu, rss in rows:
        used = f"{cpu:.1f} s | {lines / cpu:,.0f}"
        engine = label.rsplit(" ", 1)[-1]
        base = reference.get(engine)
        versus = (f"{base / cpu:.2f}" if base and not label.startswith("baseline") else "-")
        against = (f"{goaccess / cpu:.1f}" if goaccess and not label.startswith("goaccess")
                   else "-")
        print(f"| {label} | {wall:.1f} s | {used} | {rss:.0f} MB | {versus} | {against} |")


def _events(answer: dict[str, Any]) -> dict[str, Any]:
    """An answer without its reporters (which a revision before issue 13 counted otherwise)."""
    return {"lines": answer["lines"],
            "rows": [{k: v for k, v in row.items() if k != "reporters"}
                     for row in answer["rows"]]}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--formats", default="combined,json",
                        help="comma-separated log formats: " + ", ".join(FORMATS))
    parser.add_argument("--engines", default="python,duckdb,spark",
                        help="comma-separated engines to time (spark-small: the spark "
                             "engine with the SPARK_SMALL settings)")
    parser.add_argument("--baseline", metavar="REV", default=None,
                        help="also time the engines of this git revision, in the same run")
    parser.add_argument("--baseline-engines", default=None, metavar="LIST",
                        help="engines to time at --baseline (default: --engines)")
    parser.add_argument("--no-goaccess", action="store_true", help="skip GoAccess")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run each tool this many times; the fastest run is shown")
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"load average at the start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f};"
          f" {os.cpu_count()} cores")
    old_src = baseline_src(args.baseline) if args.baseline else None
    goaccess = None if args.no_goaccess else shutil.which("goaccess")
    failed = False

    def best(argv: list[str], cwd: Path | None = None,
             env: dict[str, str] | None = None) -> tuple[float, float, float, str]:
        # the fastest of --repeat runs: on a shared machine the others measure the neighbours
        runs = [run_child(argv, cwd, env) for _ in range(max(1, args.repeat))]
        wall = min(run[0] for run in runs)
        cpu = min(run[1] for run in runs)
        return wall, cpu, max(run[2] for run in runs), runs[-1][3]

    for fmt in args.formats.split(","):
        start = time.perf_counter()
        log = generate(args.lines, fmt)
        size = log.stat().st_size / 1e6
        print(f"\n### {fmt}: {log.name} ({args.lines:,} lines, {size:.0f} MB, "
              f"ready in {time.perf_counter() - start:.1f} s)\n")
        rows: list[Row] = []
        answers: dict[str, Any] = {}
        reference: dict[str, float] = {}
        if old_src is not None:
            env = dict(os.environ, PYTHONPATH=str(old_src))
            for engine in (args.baseline_engines or args.engines).split(","):
                wall, cpu, rss, out = best(stats_argv(engine, log, FORMATS[fmt][1]), env=env)
                answers[f"{args.baseline} {engine}"] = json.loads(out)
                reference[engine] = cpu
                rows.append((f"baseline {args.baseline} --engine {engine}", wall, cpu, rss))
        for engine in args.engines.split(","):
            wall, cpu, rss, out = best(stats_argv(engine, log, FORMATS[fmt][1]))
            answers[engine] = json.loads(out)
            rows.append((f"pathbeacon stats --engine {engine}", wall, cpu, rss))
        if goaccess and fmt in ("combined", "json"):
            with tempfile.TemporaryDirectory() as tmp:
                how = ["--log-format=COMBINED"] if fmt == "combined" else GOACCESS_JSON
                wall, cpu, rss, _ = best([goaccess, str(log), *how, "-o",
                                          str(Path(tmp) / "out.json")], cwd=Path(tmp))
            rows.append((f"goaccess ({fmt}) -o out.json", wall, cpu, rss))
        # CPU time counts every core used: on a busy machine wall time grows, CPU much less
        _table(rows, args.lines, reference)
        now = [name for name in answers if name in args.engines.split(",")]
        first = answers[now[0]] if now else next(iter(answers.values()), None)
        if first is not None:
            print(f"\nlines: {first['lines']}; {len(first['rows'])} groups")
            # a baseline before issue 13's k rule counted reporters by (day, client,
            # agent): its lines, rows and events are compared, its reporters are not
            old = {name for name in answers if name not in now}
            differ = [engine for engine, answer in answers.items()
                      if (_events(answer) != _events(first) if engine in old
                          else answer != first)]
            if differ:
                print(f"ENGINES DISAGREE: {', '.join(differ)} differ from"
                      f" {now[0] if now else 'the first'}")
                failed = True
            else:
                print(f"identical answers: {', '.join(a for a in answers if a not in old)}"
                      + (f"; the same lines, rows and events: {', '.join(sorted(old))}"
                         " (reporters not compared: counted by the old rule)" if old else ""))
    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
