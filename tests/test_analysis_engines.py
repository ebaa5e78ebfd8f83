"""The three engines agree row for row and count for count: python, DuckDB and Spark.

Logs are written as real gateways write them (tests/logs.py), hostile facts included,
with malformed, other-path and bad-status lines around; every engine decodes them and the
answers are compared with each other and with ``Template.parse``. Spark runs with
``local[2]`` and one session for the whole test run.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from pathbeacon.analysis import decode, stats
from pathbeacon.analysis.engines import get
from pathbeacon.catalogue import resolve

from .logs import FLAVOURS, FORMAT_OF, Hit, expected_row, write_log

# CI sets PATHBEACON_CI_ENGINES=1: there a missing engine fails the run instead of skipping.
REQUIRED = bool(os.environ.get("PATHBEACON_CI_ENGINES"))
duckdb = importlib.import_module("duckdb") if REQUIRED else pytest.importorskip("duckdb")
sql_module = importlib.import_module("pathbeacon.analysis.sql")

HAVE_SPARK = REQUIRED or (importlib.util.find_spec("pyspark") is not None
                          and shutil.which("java") is not None)
SPARK_REASON = "pyspark and Java are needed (CI installs both)"

TEMPLATES = [
    "default",
    "<base>/<package>/<version>/<os>/<arch>/<python>/<installer>",
    "<base>/dl/<package>-<version>-<os>_<arch>.tar.gz",  # several placeholders a segment
    "<base>/acme-<version>-<os>.tar.gz",
    "<base>/p?package=<package>&v=<version>",
    "https://t.example/v1/<os>/<arch>",
    "<base>/<os>/<os>",
]
BASE = "https://g.example/gw/t"
HOSTILE = ["/", "%", "%2F", "+", " ", "a b", ".", "..", "...", "?", "&", "=", "#",
           "é", "e\u0301", "日本語", "🐍", "\u200b", "\u2028", "x" * 64, "y" * 65, "", "-",
           "50%", "a/b/../c", "\\", '"', "'", "1.0+local", "Mac OS X", None, 3]
VALUES = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=70))
FIELDS = ["package", "version", "os", "arch", "python", "installer", "distro", "runtime",
          "ci", "container"]
# lines no format reads, and lines that are not lines
NOISE: list[str | bytes] = [
    b"", b"\xff\xfe not utf-8", b"\xc3", "garbage line", "{\"not\": \"closed\"",
    '203.0.113.5 - - [31/Feb/2026:10:00:00 +0000] "GET /x HTTP/1.1" 200 0 "-" "a"',
    '203.0.113.5 - - [21/Aug/2026:24:00:00 +0000] "GET /x HTTP/1.1" 200 0 "-" "a"',
    b"crlf ending\r",
]
OTHER_PATHS = ["/", "/favicon.ico", "/gw/t/acme", "/gw/t/acme/1.0/linux?x=1", "/%zz/%C3"]


def _target(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _key(row: dict[str, Any]) -> str:
    return json.dumps(row, sort_keys=True, ensure_ascii=False)


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    if not HAVE_SPARK:
        pytest.skip(SPARK_REASON)
    from pathbeacon.analysis.engines.spark import new_session

    # Hypothesis batches many hostile lines into each job: more heap than local mode's 1g
    session = new_session("local[2]", {"spark.driver.memory": "2g"})
    yield session
    session.stop()


def _engines(spark: Any) -> dict[str, Any]:
    engines: dict[str, Any] = {"python": get("python"), "duckdb": get("duckdb")}
    if spark is not None:
        engines["spark"] = get("spark", session=spark)
    return engines


def _decode_all(engines: dict[str, Any], template: Any, paths: list[str],
                base: str | None) -> dict[str, tuple[list[str], Any]]:
    out = {}
    for name, engine in engines.items():
        rows = decode(template, paths, base=base, engine=engine)
        out[name] = (sorted(_key(r) for r in rows), rows.counts)
    return out


def _hits(template: Any, reports: list[tuple[dict[str, Any], int, datetime, str | None]],
          base: str | None) -> tuple[list[Hit], list[str]]:
    hits, urls = [], []
    for i, (facts, status, moment, agent) in enumerate(reports):
        url = template.render({**facts, "base": base} if base else facts)
        urls.append(url)
        when = moment.replace(tzinfo=timezone.utc, microsecond=0) + timedelta(seconds=i)
        hits.append(Hit(_target(url), status, when, agent, client=f"198.51.100.{i % 7}"))
    return hits, urls


def _write_all(tmp: Path, hits: list[Hit]) -> list[str]:
    others = [Hit(p, 200, client="198.51.100.99") for p in OTHER_PATHS]
    paths = []
    for flavour in FLAVOURS:
        path = write_log(tmp / f"{flavour}.log", flavour, [*hits, *others],
                         gz=flavour in ("s3", "caddy"), extra_lines=NOISE)
        paths.append(str(path))
    return paths


def _expected(template: Any, hits: list[Hit], urls: list[str]) -> list[str]:
    rows = []
    for flavour in FLAVOURS:
        for hit, url in zip(hits, urls):
            if flavour == "urls" or 200 <= hit.status <= 399:
                values = {k: v for k, v in template.parse(url).items() if k != "base"}
                rows.append(_key(expected_row(flavour, hit, values)))
    return sorted(rows)


REPORTS = st.lists(
    st.tuples(
        st.dictionaries(st.sampled_from(FIELDS), VALUES),
        st.sampled_from([200, 204, 302, 304, 404, 500]),
        st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31)),
        st.one_of(st.none(), st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)),
    ),
    min_size=1,
    max_size=25,
)


def _check_parity(engines: dict[str, Any], template_text: str, reports: list[Any],
                  tmp: Path) -> None:
    template = resolve(template_text)
    base = BASE if template.has_base else None
    hits, urls = _hits(template, reports, base)
    paths = _write_all(tmp, hits)
    want = _expected(template, hits, urls)
    for given_base in ([base, None] if base else [None]):
        got = _decode_all(engines, template, paths, given_base)
        first_rows, first_counts = got["python"]
        assert first_rows == want
        for name, (rows, counts) in got.items():
            assert rows == first_rows, name
            assert counts == first_counts, name
        # every non-empty line lands in one count; CloudFront's "#" lines are not lines
        noise = sum(1 for line in NOISE if line != b"")
        assert sum(first_counts) == len(FLAVOURS) * (len(hits) + len(OTHER_PATHS) + noise)
        assert first_counts.malformed >= len(FLAVOURS) * (noise - 2)
    fields = [f for f in template.fields if f != "base"]
    for by, every, k in ((fields[:2], None, 2), (fields[:1], "week", 1)):
        results = {name: stats(template, paths, by, base=base, every=every, k=k,
                               engine=engine)
                   for name, engine in engines.items()}
        for name, result in results.items():
            assert result == results["python"], (name, by, every, k)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TEMPLATES), REPORTS)
def test_python_and_duckdb_agree_on_rendered_facts(template_text: str, reports: list) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        _check_parity(_engines(None), template_text, reports, Path(tmp))


@pytest.mark.skipif(not HAVE_SPARK, reason=SPARK_REASON)
def test_spark_agrees_on_rendered_facts(spark: Any) -> None:
    """Few examples, each a batch of facts in every log format at once: Spark is slow to
    start a job, not to read a line."""
    import tempfile

    # No shrinking: each step is a Spark job, and a failure is worth reporting as found
    # rather than after many minutes of jobs (python and DuckDB shrink in the test above).
    @settings(max_examples=4, deadline=None, database=None,
              phases=[Phase.explicit, Phase.reuse, Phase.generate],
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from(TEMPLATES), REPORTS)
    def check(template_text: str, reports: list) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            _check_parity(_engines(spark), template_text, reports, Path(tmp))

    check()


def _fixture_logs(tmp: Path) -> tuple[list[str], Any]:
    template = resolve("<base>/<package>/<version>/<os>")
    hits = []
    start = datetime(2026, 8, 1, 23, 30, tzinfo=timezone.utc)
    for i in range(120):
        facts = {"package": "acme", "version": ["1.0", "1.1", "2.0", "a b"][i % 4],
                 "os": ["linux", "Mac OS X", "Windows", "é/ü"][i % 3]}
        url = template.render({**facts, "base": BASE})
        hits.append(Hit(_target(url), [204, 200, 302, 404][i % 9 % 4],
                        start + timedelta(hours=7 * i), f"agent{i % 5}",
                        client=f"203.0.113.{i % 11}"))
    paths = _write_all(tmp, hits)
    return paths, template


@pytest.mark.parametrize("query", [
    {"by": ["version", "os"]},
    {"by": ["os"], "k": 3},
    {"by": ["version"], "k": 1000},  # every group folds, and the fold is too small too
    {"by": ["version", "os"], "k": 2},  # k counts addresses a day: 2 folds most groups
    {"by": ["version"], "every": "day", "since": "2026-08-05", "until": "2026-08-20"},
    {"by": ["os"], "every": "week", "k": 2},
    {"by": [], "every": "month"},
])
def test_stats_agree_on_gateway_logs(tmp_path: Path, query: dict[str, Any],
                                     request: pytest.FixtureRequest) -> None:
    paths, template = _fixture_logs(tmp_path)
    engines = _engines(request.getfixturevalue("spark") if HAVE_SPARK else None)
    results = {name: stats(template, paths, base=BASE, engine=engine, **query)
               for name, engine in engines.items()}
    rows = results["python"]["rows"]
    assert (rows == []) if query.get("k") == 1000 else rows
    if query.get("k") == 2 and len(query["by"]) == 2:
        assert any(r["version"] == "other" for r in rows), "small groups fold into one"
    for name, result in results.items():
        assert result == results["python"], name


def test_auto_is_duckdb_when_installed() -> None:
    assert get("auto").name == "duckdb"


def test_client_address_appears_in_no_output(tmp_path: Path,
                                             request: pytest.FixtureRequest) -> None:
    template = resolve("<base>/<package>/<version>/<os>")
    secret_client = "203.0.113.77"
    hits = [Hit(_target(template.render({"base": BASE, "package": "acme", "version": "1.0",
                                        "os": "linux"})), client=secret_client)] * 3
    paths = [str(write_log(tmp_path / f"{f}.log", f, hits)) for f in FLAVOURS if f != "urls"]
    engines = _engines(request.getfixturevalue("spark") if HAVE_SPARK else None)
    for name, engine in engines.items():
        rows = list(decode(template, paths, base=BASE, engine=engine))
        assert rows and secret_client not in json.dumps(rows), name
        result = stats(template, paths, ["os"], base=BASE, engine=engine)
        assert isinstance(result["rows"][0]["reporters"], int)
        assert secret_client not in json.dumps(result), name
        if name == "python":
            continue
        from pathbeacon.analysis import plan

        out = tmp_path / f"{name}.parquet"
        engine.write_parquet(plan(template, paths, base=BASE), str(out))
        assert secret_client.encode() not in out.read_bytes()
        back = duckdb.connect().execute(f"SELECT * FROM read_parquet('{out}')").fetchall()
        assert len(back) == len(rows) and secret_client not in repr(back)
        described = duckdb.connect().execute(
            f"DESCRIBE SELECT * FROM read_parquet('{out}')").fetchall()
        assert [(c[0], c[1]) for c in described] == [
            ("time", "VARCHAR"), ("status", "INTEGER"), ("package", "VARCHAR"),
            ("version", "VARCHAR"), ("os", "VARCHAR")]


@pytest.mark.parametrize("fmt", sorted(set(FORMAT_OF.values())))
def test_printed_duckdb_sql_runs_in_a_warehouse_of_ones_own(tmp_path: Path, fmt: str) -> None:
    """The query `pathbeacon sql` prints, run by hand over a table logs(line)."""
    flavour = next(f for f in FLAVOURS if FORMAT_OF[f] == fmt)
    paths, template = _fixture_logs(tmp_path)
    path = next(p for p in paths if Path(p).name == f"{flavour}.log")
    out = subprocess.run(
        [sys.executable, "-m", "pathbeacon", "sql", "<base>/<package>/<version>/<os>",
         f"base={BASE}", "--dialect", "duckdb", "--format", fmt],
        capture_output=True, text=True, check=True).stdout
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        import gzip
        raw = gzip.decompress(raw)
    lines = [line.decode("utf-8", "replace") for line in raw.split(b"\n")]
    con = duckdb.connect()
    con.execute("CREATE TABLE logs(line VARCHAR)")
    con.executemany("INSERT INTO logs VALUES (?)",
                    [[line] for line in lines if not line.startswith("\ufffd")
                     and "\ufffd" not in line])
    result = con.execute(f"SELECT * FROM ({out}) AS q WHERE category = 'matched'")
    names = [d[0] for d in result.description]
    got = sorted(_key({k: v for k, v in zip(names, row) if k in ("time", "status", "package",
                                                                  "version", "os")})
                 for row in result.fetchall())
    want = sorted(_key(r) for r in decode(template, [path], base=BASE, engine="python"))
    assert got == want


@pytest.mark.skipif(not HAVE_SPARK, reason=SPARK_REASON)
def test_spark_decode_gives_a_dataframe(tmp_path: Path, spark: Any) -> None:
    from pathbeacon.analysis.spark import decode as spark_decode

    paths, template = _fixture_logs(tmp_path)
    frame = spark_decode(spark, paths, "<base>/<package>/<version>/<os>", base=BASE)
    assert frame.columns == ["time", "status", "package", "version", "os"]
    got = sorted(_key(row.asDict()) for row in frame.collect())
    want = sorted(_key(r) for r in decode(template, paths, base=BASE, engine="python"))
    assert got == want
    with pytest.raises(ValueError, match="unknown log format"):
        spark_decode(spark, paths, template, format="apache")


def test_sql_refuses_a_field_named_like_a_column() -> None:
    from pathbeacon.analysis.matcher import Matcher

    with pytest.raises(ValueError, match="may not be named 'status'"):
        sql_module.query(Matcher.compile("<base>/<status>"), "duckdb", "combined")


@pytest.mark.parametrize("dialect", ["duckdb", "spark"])
def test_sql_is_ascii_and_names_its_columns(dialect: str) -> None:
    from pathbeacon.analysis.matcher import Matcher

    text = sql_module.query(Matcher(resolve("default")), dialect, "json")
    assert text.isascii()
    tail = text.split("FROM (", 1)[0]
    for column in ("time", "status", "package", "container", "day", "client", "agent",
                   "category"):
        assert column in tail


def test_duckdb_reads_standard_input_gzipped_or_not(tmp_path: Path) -> None:
    paths, _ = _fixture_logs(tmp_path)
    caddy = Path(next(p for p in paths if p.endswith("caddy.log")))  # gzip inside
    results = {}
    for engine in ("python", "duckdb"):
        out = subprocess.run(
            [sys.executable, "-m", "pathbeacon", "stats", "<base>/<package>/<version>/<os>",
             "-", f"base={BASE}", "--by", "os", "--engine", engine, "--json"],
            input=caddy.read_bytes(), capture_output=True, check=True).stdout
        results[engine] = json.loads(out)
    assert results["python"]["lines"]["matched"] > 0
    assert results["duckdb"] == results["python"]


def test_each_engine_needs_only_its_own_extra() -> None:
    """`pip install 'pathbeacon[spark]'` has no DuckDB: the spark engine must not need it,
    and the python engine needs neither."""
    import subprocess
    import sys

    from .conftest import clean_env

    for module, blocked in [("spark", "duckdb"), ("python", "duckdb', 'pyspark")]:
        code = (f"import sys\nfor name in ('{blocked}',): sys.modules[name] = None\n"
                f"import pathbeacon.analysis.engines.{module}\n")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=120, env=clean_env())
        assert done.returncode == 0, done.stderr
