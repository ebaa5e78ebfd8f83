"""The decode, stats and sql commands, run as a user runs them (a real subprocess)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import shlex
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from .conftest import clean_env, run_cli
from .logs import DEFAULT_TIME, Hit, write_log

T = "<base>/<package>/<version>/<os>"
# Client addresses no output may ever show, in any spelling the logs use.
CLIENTS = ["203.0.113.77", "2001:db8:ffff::77", "198.51.100.201"]


def _hits() -> list[Hit]:
    hits = []
    for i in range(12):
        hits.append(Hit(
            f"/t/acme/1.{i % 3}/{'linux' if i % 2 else 'Mac_OS_X'}",
            status=204 if i % 5 else 404,
            time=DEFAULT_TIME + timedelta(hours=7 * i),
            client=CLIENTS[i % 3],
        ))
    hits.append(Hit("/favicon.ico", status=200, client=CLIENTS[0]))
    return hits


@pytest.fixture
def logs(tmp_path: Path) -> dict[str, Path]:
    return {
        flavour: write_log(tmp_path / f"{flavour}.log", flavour, _hits(), gz=flavour == "caddy",
                           extra_lines=[f"{CLIENTS[0]} garbage"])
        for flavour in ["combined", "nginx-json", "caddy", "cloudflare", "cloudfront", "s3"]
    }


def _no_client(*texts: str | bytes) -> None:
    for text in texts:
        blob = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        for client in CLIENTS:
            assert client not in blob
            assert client.replace(":", "%3A") not in blob


def test_decode_prints_json_lines_and_counts(logs: dict[str, Path]) -> None:
    for flavour, log in logs.items():
        done = run_cli("decode", T, str(log), "base=https://g.example/t")
        assert done.returncode == 0, done.stderr
        rows = [json.loads(line) for line in done.stdout.splitlines()]
        assert len(rows) == 9, flavour
        assert rows[0] == {"time": "2026-08-21T19:00:00Z", "status": 204, "package": "acme",
                           "version": "1.1", "os": "linux"}
        other = 3 if flavour == "cloudfront" else 1  # CloudFront's two "#" headers too
        assert done.stderr == f"lines: matched 9, bad_status 3, other_path {other}, malformed 1\n"
        _no_client(done.stdout, done.stderr)


def test_outputs_never_hold_the_client(logs: dict[str, Path], tmp_path: Path) -> None:
    log = str(logs["combined"])
    outputs = []
    for name in ["rows.csv", "rows.jsonl", "rows.parquet"]:
        target = tmp_path / name
        done = run_cli("decode", T, log, "--output", str(target))
        if name.endswith(".parquet") and done.returncode == 2:
            assert "Parquet needs duckdb" in done.stderr  # the extra is not installed here
            continue
        assert done.returncode == 0, done.stderr
        assert done.stdout == ""
        outputs.append(target.read_bytes())
        _no_client(done.stderr, target.read_bytes())
    rows = list(csv.DictReader(io.StringIO(outputs[0].decode())))
    assert len(rows) == 9 and rows[0]["status"] == "204" and list(rows[0]) == [
        "time", "status", "package", "version", "os"]
    for style in [[], ["--json"], ["--csv"]]:
        for extra in [[], ["--every", "day"], ["--k", "2"]]:
            done = run_cli("stats", T, log, "--by", "version,os", *style, *extra)
            assert done.returncode == 0, done.stderr
            _no_client(done.stdout, done.stderr)


def test_parquet_rows_read_back(logs: dict[str, Path], tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    target = tmp_path / "rows.parquet"
    done = run_cli("decode", T, str(logs["cloudflare"]), "-o", str(target))
    assert done.returncode == 0, done.stderr
    rows = duckdb.sql(f"SELECT * FROM '{target}' ORDER BY time").fetchall()
    assert len(rows) == 9
    assert rows[0] == ("2026-08-21T19:00:00Z", 204, "acme", "1.1", "linux")


def test_stats_outputs(logs: dict[str, Path]) -> None:
    log = str(logs["nginx-json"])
    done = run_cli("stats", T, log, "--by", "version", "--json")
    result = json.loads(done.stdout)
    assert result["lines"] == {"matched": 9, "bad_status": 3, "other_path": 1, "malformed": 1}
    # each version is sent by one client, on three different UTC days
    assert result["rows"] == [
        {"version": "1.0", "events": 3, "reporters": 3},
        {"version": "1.1", "events": 3, "reporters": 3},
        {"version": "1.2", "events": 3, "reporters": 3},
    ]
    table = run_cli("stats", T, log, "--by", "version")
    assert table.stdout.splitlines() == [
        "version  events  reporters",
        "1.0           3          3",
        "1.1           3          3",
        "1.2           3          3",
    ]
    assert table.stderr == "lines: matched 9, bad_status 3, other_path 1, malformed 1\n"
    weekly = run_cli("stats", T, log, "--by", "os", "--csv", "--every", "week")
    assert weekly.stdout.splitlines() == [
        "period,os,events,reporters",
        "2026-08-17,Mac_OS_X,4,4",
        "2026-08-17,linux,3,3",
        "2026-08-24,linux,2,2",  # Monday 24 August starts the next ISO week
    ]


def test_options_and_settings_anywhere(logs: dict[str, Path]) -> None:
    log = str(logs["s3"])
    first = run_cli("stats", "--by", "os", "--json", T, log, "base=/t")
    last = run_cli("stats", T, log, "base=/t", "--json", "--by", "os")
    assert first.returncode == last.returncode == 0, first.stderr + last.stderr
    assert first.stdout == last.stdout
    assert json.loads(first.stdout)["lines"]["matched"] == 9
    elsewhere = run_cli("stats", T, log, "base=/elsewhere", "--json", "--by", "os")
    assert json.loads(elsewhere.stdout)["lines"]["other_path"] == 13


def test_base_after_an_option_as_the_issue_writes_it(logs: dict[str, Path]) -> None:
    log = str(logs["s3"])
    for command, options in [("decode", ["--format", "s3"]), ("stats", ["--by", "os"])]:
        before = run_cli(command, T, log, "base=/t", *options)
        after = run_cli(command, T, log, *options, "base=/t")
        assert before.returncode == after.returncode == 0, after.stderr
        assert before.stdout == after.stdout and before.stdout
    before = run_cli("sql", T, "base=https://g.example/t", "--dialect", "duckdb")
    after = run_cli("sql", T, "--dialect", "duckdb", "base=https://g.example/t")
    assert before.returncode == after.returncode == 0, after.stderr
    assert before.stdout == after.stdout and "/t" in after.stdout


def test_standard_input(logs: dict[str, Path]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pathbeacon", "stats", T, "-", "--by", "os", "--json"],
        input=logs["caddy"].read_bytes(), capture_output=True, timeout=60, env=clean_env(),
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["lines"]["matched"] == 9


@pytest.mark.parametrize("args, message", [
    (["stats", T, "{log}", "--by", "arch"], "--by arch: the template has no field 'arch'"),
    (["stats", T, "{log}", "--since", "2026-02-30"], "--since: '2026-02-30' is not a real date"),
    (["stats", T, "{log}", "--until", "yesterday"], "--until takes a date as YYYY-MM-DD"),
    (["stats", T, "{log}", "--format", "apache"], "unknown log format 'apache'"),
    (["decode", T, "{dir}/missing.log"], "cannot read"),
    (["decode", T, "{dir}/odd.txt"], "cannot tell the log format"),
    (["decode", T, "{log}", "--engine", "turbo"], "unknown engine 'turbo'"),
    (["decode", T, "{log}", "-o", "{dir}/rows.xlsx"], "must end in .jsonl, .csv or .parquet"),
    (["decode", "https://t.example/<os>", "{log}", "base=https://t.example"], "base= applies"),
    (["decode", T, "{log}", "bsae=https://t.example"], "unknown setting"),
    (["stats", T, "{log}", "--k", "many"], "--k"),
    (["stats", T, "{log}", "--every", "year"], "invalid choice"),
    (["decode", T], "the following arguments are required"),
    (["stats", T, "{log}", "--spark-conf", "spark.driver.memory=1g"],
     "--spark-conf applies only to --engine spark"),
    (["stats", T, "{log}", "--engine", "spark", "--spark-conf", "spark.driver.memory"],
     "--spark-conf takes KEY=VALUE"),
    (["stats", T, "{log}", "--engine", "spark", "--spark-conf", "spark.master=yarn"],
     "give the master with --master"),
])
def test_bad_input_is_one_line_and_status_2(tmp_path: Path, logs: dict[str, Path],
                                            args: list[str], message: str) -> None:
    (tmp_path / "odd.txt").write_text("hello\n")
    argv = [a.format(log=logs["combined"], dir=tmp_path) for a in args]
    done = run_cli(*argv)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_an_output_in_a_missing_folder_is_one_line_and_status_1(
        tmp_path: Path, logs: dict[str, Path]) -> None:
    done = run_cli("decode", T, str(logs["combined"]), "-o", str(tmp_path / "no/such/rows.csv"))
    assert done.returncode == 1, done.stderr
    assert done.stderr == f"pathbeacon: error: cannot write {tmp_path}/no/such/rows.csv: no such folder\n"
    assert not (tmp_path / "no").exists()


def test_sql_prints_a_query_or_says_it_cannot() -> None:
    done = run_cli("sql", T, "--dialect", "duckdb", "base=https://g.example/t")
    if done.returncode == 0:
        assert "SELECT" in done.stdout.upper()
    else:
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    bad = run_cli("sql", T, "--dialect", "oracle")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_help_names_the_example_and_exit_codes() -> None:
    for command in ["decode", "stats", "sql"]:
        done = run_cli(command, "--help")
        assert done.returncode == 0
        assert "pathbeacon " + command in done.stdout and "exit status" in done.stdout


def test_reporters_agree_whichever_keyed_hash_is_used(logs: dict[str, Path]) -> None:
    """A fixed PYTHONHASHSEED makes str hashes predictable: reporters then use BLAKE2b."""
    args = ("stats", T, str(logs["combined"]), "--by", "os", "--every", "day", "--json")
    keyed = run_cli(*args)
    fixed = run_cli(*args, env=clean_env(PYTHONHASHSEED="0"))
    assert keyed.returncode == fixed.returncode == 0
    assert json.loads(keyed.stdout) == json.loads(fixed.stdout)
    probe = "from pathbeacon.analysis.stats import _RANDOM_STRING_HASH as r; print(r)"
    flags = [subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            env=clean_env(**extra)).stdout.strip()
             for extra in ({}, {"PYTHONHASHSEED": "0"}, {"PYTHONHASHSEED": "123"})]
    cpython = str(sys.implementation.name == "cpython")
    assert flags == [cpython, "False", "False"]


def test_the_readme_examples_are_real(tmp_path: Path) -> None:
    """Every command of the documented decoding example prints what the page shows."""
    page = Path(__file__).resolve().parent.parent / "docs" / "maintainers" / "reading-logs.md"
    section = page.read_text().split("# Reading the beacons back", 1)[1]
    log = section.split("```text\n", 1)[1].split("```", 1)[0]
    (tmp_path / "access.log.gz").write_bytes(gzip.compress(log.encode()))
    console = section.split("```console\n", 1)[1].split("```", 1)[0]
    template = console.split("$ T='", 1)[1].split("'", 1)[0]
    commands = [chunk.split("\n", 1) for chunk in console.split("$ pathbeacon ")[1:]]
    assert len(commands) == 3
    for command, shown in commands:
        argv = shlex.split(command.replace('"$T"', shlex.quote(template)))
        done = subprocess.run([sys.executable, "-m", "pathbeacon", *argv], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60, env=clean_env())
        assert done.returncode == 0, done.stderr
        assert done.stdout + done.stderr == shown, command


# --- Outputs under hostile values and failing disks (issue 13, items 5 and 7) ---------------

HOSTILE = [  # values the fits rule admits, each percent-encoded in a request target
    '=HYPERLINK("http://evil.example")', "+1", "-2+3", "@SUM(A1)", "\U000f0000",
    "x\U000f0001y", "\U0001faf8", "\u0378", "plain",
]


def _hostile_log(path: Path) -> Path:
    from urllib.parse import quote

    path.write_text("".join(f"/t/acme/1.0/{quote(v, safe='')}\n" for v in HOSTILE))
    return path


@pytest.mark.parametrize("engine", ["python", "duckdb"])
def test_json_outputs_are_always_valid_json(tmp_path: Path, engine: str) -> None:
    """Private-use, unassigned and format characters: every JSON output reads back as JSON
    to the very values, and holds no character a terminal would act on."""
    if engine == "duckdb":
        pytest.importorskip("duckdb")
    log = str(_hostile_log(tmp_path / "hostile.log"))
    args = (T, log, "base=/t", "--format", "urls", "--engine", engine)
    decoded = run_cli("decode", *args)
    assert decoded.returncode == 0, decoded.stderr
    rows = [json.loads(line) for line in decoded.stdout.splitlines()]
    assert sorted(row["os"] for row in rows) == sorted(HOSTILE)
    assert decoded.stdout.replace("\n", "").isprintable()
    target = tmp_path / "rows.jsonl"
    assert run_cli("decode", *args, "-o", str(target)).returncode == 0
    assert target.read_text(encoding="utf-8") == decoded.stdout  # one JSON rule
    stats = run_cli("stats", *args, "--by", "os", "--json")
    assert stats.returncode == 0, stats.stderr
    result = json.loads(stats.stdout)
    assert sorted(row["os"] for row in result["rows"]) == sorted(HOSTILE)
    assert stats.stdout.replace("\n", "").isprintable()
    if engine == "duckdb":  # the store's stats print through the same rule
        db = str(tmp_path / "beacons.duckdb")
        ingested = run_cli("ingest", T, log, "base=/t", "--format", "urls", "--db", db)
        assert ingested.returncode == 0, ingested.stderr
        stored = run_cli("stats", T, "base=/t", "--db", db, "--by", "os", "--json")
        assert stored.returncode == 0, stored.stderr
        assert json.loads(stored.stdout)["rows"] == result["rows"]
        assert stored.stdout.replace("\n", "").isprintable()


@pytest.mark.parametrize("engine", ["python", "duckdb"])
def test_csv_cells_never_run_as_formulas(tmp_path: Path, engine: str) -> None:
    """decode -o rows.csv and stats --csv share one rule: a cell a spreadsheet would run
    starts with a quote; other cells are the values."""
    if engine == "duckdb":
        pytest.importorskip("duckdb")
    log = str(_hostile_log(tmp_path / "hostile.log"))
    args = (T, log, "base=/t", "--format", "urls", "--engine", engine)
    target = tmp_path / "rows.csv"
    done = run_cli("decode", *args, "-o", str(target))
    assert done.returncode == 0, done.stderr
    with open(target, encoding="utf-8", newline="") as file:
        written = [row["os"] for row in csv.DictReader(file)]
    stats = run_cli("stats", *args, "--by", "os", "--csv")
    assert stats.returncode == 0, stats.stderr
    shown = [row["os"] for row in csv.DictReader(io.StringIO(stats.stdout))]
    for cells in (written, shown):
        assert len(cells) == len(HOSTILE)
        assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")], cells
        assert "'=HYPERLINK(\"http://evil.example\")" in cells and "'-2+3" in cells
        assert "'+1" in cells and "'@SUM(A1)" in cells and "plain" in cells
    assert "\U000f0000" in written  # a file keeps the value; the terminal sees it escaped


def _limited(limit: int) -> object:
    """A pre-exec hook capping the size of any file the command writes (RLIMIT_FSIZE): a
    write beyond it fails as on a full disk (EFBIG instead of ENOSPC, the same path)."""
    import resource
    import signal

    def cap() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return cap


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform != "linux", reason="Linux only")
@pytest.mark.parametrize("name, engine", [
    ("rows.csv", "python"), ("rows.jsonl", "python"), ("rows.jsonl", "duckdb"),
    ("rows.parquet", "python"), ("rows.parquet", "duckdb"),
])
def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path: Path, name: str,
                                                    engine: str) -> None:
    if engine == "duckdb" or name.endswith(".parquet"):
        pytest.importorskip("duckdb")
    import secrets

    log = tmp_path / "logs" / "access.log"
    log.parent.mkdir()
    log.write_text("".join(f"/t/acme/1.0/{secrets.token_hex(24)}\n" for _ in range(20000)))
    out = tmp_path / "out"
    out.mkdir()
    (out / name).write_bytes(b"the good old file")
    done = subprocess.run(
        [sys.executable, "-m", "pathbeacon", "decode", T, str(log), "base=/t", "--format",
         "urls", "--engine", engine, "-o", str(out / name)],
        capture_output=True, text=True, timeout=120, preexec_fn=_limited(200_000),  # type: ignore[arg-type]
        env=clean_env(PYTHONDONTWRITEBYTECODE="1", TMPDIR=str(out)),
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(
        f"pathbeacon: error: cannot write {out / name}: "), done.stderr
    assert sorted(p.name for p in out.iterdir()) == [name]  # no temporary left behind
    assert (out / name).read_bytes() == b"the good old file"


def test_json_text_is_valid_printable_json_for_any_text() -> None:
    """The one JSON rule, over any text at all (lone surrogates included)."""
    from hypothesis import given
    from hypothesis import strategies as st

    from pathbeacon.analysis.output import json_text

    @given(st.dictionaries(st.text(), st.one_of(st.text(), st.integers(), st.none())),
           st.sampled_from([None, 2]))
    def check(value: dict[str, object], indent: int | None) -> None:
        text = json_text(value, indent=indent)
        assert json.loads(text) == value
        assert text.replace("\n", "").isprintable()
        text.encode("utf-8")  # no lone surrogate left raw: always writable as UTF-8

    check()


def test_csv_cells_read_back_as_the_value_or_the_quoted_value() -> None:
    from hypothesis import assume, given
    from hypothesis import strategies as st

    from pathbeacon.analysis.output import write_csv

    @given(st.lists(st.text(), min_size=1, max_size=5))
    def check(values: list[str]) -> None:
        # csv.reader before 3.11 refuses a NUL (the writer writes it as it is)
        assume(sys.version_info >= (3, 11) or "\x00" not in "".join(values))
        out = io.StringIO()
        write_csv([{"v": v} for v in values], ["v"], out)
        back = [row["v"] for row in csv.DictReader(io.StringIO(out.getvalue(), newline=""))]
        assert len(back) == len(values)
        for value, cell in zip(values, back):
            risky = value[:1] in ("=", "+", "-", "@", "\t", "\r")
            assert cell == ("'" + value if risky else value)

    check()


@pytest.mark.slow
def test_spark_conf_reaches_the_session_and_keeps_the_deep_stack(
        tmp_path: Path, logs: dict[str, Path]) -> None:
    """``--spark-conf`` settings reach the JVM Spark starts (its GC log is written where
    they say), and Java options given so keep the deep thread stack the long-line regexes
    need (Java's default 1 MB overflows on these lines): long lines are read alike."""
    from .test_analysis_engines import HAVE_SPARK, SPARK_REASON

    if not HAVE_SPARK:
        pytest.skip(SPARK_REASON)
    log = tmp_path / "long.log"
    start = b'203.0.113.9 - - [21/Aug/2026:14:00:00 +0000] "GET /t/acme/1.0/'
    log.write_bytes(logs["combined"].read_bytes()
                    + start + b"x" * 1_000_000 + b' HTTP/1.1" 204 0 "-" "ua"\n'
                    + start + b'linux HTTP/1.1" 204 0 "-" "' + b'\\"' * 50_000 + b'"\n')
    gc_log = tmp_path / "gc.log"
    args = ("stats", T, str(log), "base=https://g.example/t", "--by", "os", "--json")
    done = run_cli(*args, "--engine", "spark", "--spark-conf", "spark.driver.memory=700m",
                   "--spark-conf", f"spark.driver.extraJavaOptions=-Xlog:gc:file={gc_log}",
                   timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert gc_log.exists() and "Using" in gc_log.read_text(), "the setting never reached Java"
    python = run_cli(*args, "--engine", "python")
    assert json.loads(done.stdout) == json.loads(python.stdout)


@pytest.mark.slow
def test_a_setting_spark_refuses_is_one_line_and_status_2(logs: dict[str, Path]) -> None:
    from .test_analysis_engines import HAVE_SPARK, SPARK_REASON

    if not HAVE_SPARK:
        pytest.skip(SPARK_REASON)
    done = run_cli("stats", T, str(logs["combined"]), "--engine", "spark",
                   "--spark-conf", "spark.driver.memory=lots", timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("pathbeacon: error: Spark did not start (check --master and "
                           "--spark-conf): "), last


def _cut_short(log: Path) -> Path:
    """A gzip copy of ``log`` cut off in the middle of its stream (a log caught while it
    was being compressed)."""
    data = gzip.compress(log.read_bytes() * 50)
    cut = log.with_name("cut-short.log.gz")
    cut.write_bytes(data[:len(data) // 2])
    return cut


@pytest.mark.parametrize("command", ["decode", "stats"])
def test_an_engine_error_is_one_line_and_status_1(logs: dict[str, Path], command: str) -> None:
    """DuckDB stops with an error of its own on a gzip log cut short: one line naming the
    engine and the file, status 1, no traceback (the python engine says it cannot read
    the file, status 2)."""
    pytest.importorskip("duckdb")
    cut = _cut_short(logs["combined"])
    done = run_cli(command, T, str(cut), "base=https://g.example/t", "--engine", "duckdb")
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("pathbeacon: error: the duckdb engine failed: "), done.stderr
    assert str(cut) in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr
    python = run_cli(command, T, str(cut), "base=https://g.example/t", "--engine", "python")
    assert python.returncode == 2 and len(python.stderr.splitlines()) == 1, python.stderr


@pytest.mark.slow
def test_a_spark_error_is_one_line_and_status_1(logs: dict[str, Path]) -> None:
    """Spark's own error (here, from a task reading a gzip log cut short) is one line and
    status 1, not PySpark's traceback."""
    from .test_analysis_engines import HAVE_SPARK, SPARK_REASON

    if not HAVE_SPARK:
        pytest.skip(SPARK_REASON)
    done = run_cli("stats", T, str(_cut_short(logs["combined"])), "base=https://g.example/t",
                   "--engine", "spark", timeout=300)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("pathbeacon: error: the spark engine failed: "), last
