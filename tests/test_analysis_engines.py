"""The three engines agree row for row and count for count: python, DuckDB and Spark.

Logs are written as real gateways write them (tests/logs.py), hostile facts included,
with malformed, other-path and bad-status lines around; every engine decodes them and the
answers are compared with each other and with ``Template.parse``. Spark runs with
``local[2]`` and one session for the whole test run.
"""

from __future__ import annotations

import importlib
import json
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

from .conftest import STRICT, slow_run
from .logs import FLAVOURS, FORMAT_OF, Hit, expected_row, lines, write_log
from .test_analysis_nginx import nginx  # noqa: F401 - a fixture

# CI sets PATHBEACON_CI_STRICT=1: there a missing engine fails the run instead of skipping.
REQUIRED = STRICT
duckdb = importlib.import_module("duckdb") if REQUIRED else pytest.importorskip("duckdb")
sql_module = importlib.import_module("pathbeacon.analysis.sql")

# Spark is the slow end-to-end group of these tests: its own tests are marked slow, and the
# tests comparing every engine add it only when the slow groups run (--slow, CI).
HAVE_SPARK = slow_run() and (REQUIRED or (importlib.util.find_spec("pyspark") is not None
                          and shutil.which("java") is not None))
SPARK_REASON = ("needs pyspark and Java: pip install -e '.[spark]' and "
                "apt-get install openjdk-17-jre-headless")

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
        # every non-empty line lands in one count, CloudFront's two "#" lines included
        noise = sum(1 for line in NOISE if line != b"")
        assert sum(first_counts) == len(FLAVOURS) * (len(hits) + len(OTHER_PATHS) + noise) + 2
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


@pytest.mark.slow
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


@pytest.mark.slow
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


# ---- hostile lines: every engine reads them by the same rule (issue 13, items 1 and 2) ----

HOSTILE_T = "<base>/<package>/<version>"
GOOD_NGINX = {"time": 1787313600, "uri": "/t/acme/1.0", "status": 204, "agent": "ua",
              "client": "192.0.2.9"}
GOOD_CADDY = {"ts": 1787313600.5, "status": 204, "request": {
    "uri": "/t/acme/1.0", "remote_ip": "192.0.2.9", "headers": {"User-Agent": ["ua"]}}}
GOOD_CLOUDFLARE = {"ClientRequestURI": "/t/acme/1.0", "EdgeResponseStatus": 204,
                   "EdgeStartTimestamp": 1787313600, "ClientRequestUserAgent": "ua",
                   "ClientIP": "192.0.2.9"}
GOOD_COMBINED = ('192.0.2.9 - - [21/Aug/2026:12:00:00 +0000] "GET /t/acme/1.0 HTTP/1.1"'
                 ' 204 0 "-" "ua"')
# JSON values where a string, a number or an object belongs
JSON_VALUES: list[Any] = [5, -1, 1.5, 0, True, False, None, {}, [], {"a": "b"}, ["x"], "",
                          "{x", "[x", "204", "/t/acme/1.0", "5", "null", "true"]
# bytes a hostile client gets into a log line (nginx's escape=json writes them raw)
HOSTILE_BYTES = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80",
                 b"\x00", b"\x01", b"\t", b'"', b"\\", b" ", b"#", b"{", b"[",
                 "\U0010ffff".encode(), "\ufffe".encode(), "\u2028".encode(), "é".encode()]
# (line, category by the rule) for lines every engine must count alike
HOSTILE_CASES: list[tuple[bytes, str]] = [
    (json.dumps(GOOD_NGINX).encode(), "matched"),
    # a value with a "." or ".." between (escaped) slashes: never sent, as nginx resolves it
    (GOOD_COMBINED.replace("/acme/1.0", "/acme/%2F..%2Fx").encode(), "other_path"),
    (GOOD_COMBINED.replace("/acme/1.0", "/acme/a%2F.").encode(), "other_path"),
    (GOOD_COMBINED.replace("/acme/1.0", "/acme/a%2F..b").encode(), "matched"),
    # an agent with a byte that is not UTF-8: the line is not text
    (json.dumps(GOOD_NGINX).encode().replace(b'"ua"', b'"u\xffa"'), "malformed"),
    (json.dumps(GOOD_NGINX).encode().replace(b'"ua"', b'"u\xc3"'), "malformed"),
    (GOOD_COMBINED.encode().replace(b'"ua"', b'"u\xffa"'), "malformed"),
    # a JSON scalar where a string belongs is not a string
    (json.dumps({**GOOD_NGINX, "uri": 5}).encode(), "malformed"),
    (json.dumps({**GOOD_NGINX, "uri": True}).encode(), "malformed"),
    (json.dumps({"request": 5, "status": 204}).encode(), "malformed"),
    (json.dumps({**GOOD_NGINX, "uri": None, "request": "GET /t/acme/1.0 HTTP/1.1"}).encode(),
     "matched"),
    (json.dumps({**GOOD_NGINX, "ClientRequestURI": None}).encode(), "malformed"),
    (json.dumps({**GOOD_CLOUDFLARE, "ClientRequestURI": 1.5}).encode(), "malformed"),
    (json.dumps({**GOOD_CADDY, "request": {**GOOD_CADDY["request"], "uri": ["/t/acme/1.0"]}})
     .encode(), "malformed"),
    # a string that looks like an object is a string
    (json.dumps({**GOOD_NGINX, "request": "{x"}).encode(), "matched"),
    # not JSON as RFC 8259 writes it
    (json.dumps(GOOD_NGINX).replace('"', "'").encode(), "malformed"),
    (json.dumps(GOOD_NGINX).encode() + b" junk", "malformed"),
    (json.dumps(GOOD_NGINX).encode() + b' {"a": 1}', "malformed"),
    (json.dumps(GOOD_NGINX).encode()[:-1] + b', "x": [{}]],[{"a": 1}', "malformed"),
    (json.dumps(GOOD_NGINX).encode()[:-1] + b"}],[{}", "malformed"),
    (json.dumps(GOOD_NGINX).encode()[:-1] + b",}", "malformed"),
    (json.dumps(GOOD_NGINX).encode()[:-1] + b', "x": [1,]}', "malformed"),
    (json.dumps(GOOD_NGINX).encode()[:-1] + b', "x": NaN}', "malformed"),
    (json.dumps(GOOD_NGINX).encode()[:-1] + b', "x": -Infinity}', "malformed"),
    (json.dumps(GOOD_NGINX).encode()[:-1] + b', "x": "a\x00b"}', "malformed"),
    (json.dumps(GOOD_NGINX).encode()[:-1] + b', "x": "a\tb"}', "malformed"),
    (json.dumps(GOOD_NGINX).encode()[:-1] + b', "x": "\\ud800"}', "malformed"),
    (b" \t" + json.dumps(GOOD_NGINX).encode() + b" \t", "matched"),
    # a key given twice is ambiguous (engines keep the first or the last)
    (b'{"uri": "/x", ' + json.dumps(GOOD_NGINX).encode()[1:], "malformed"),
    (json.dumps(GOOD_CADDY).encode().replace(b'"uri"', b'"uri": "/x", "uri"'), "malformed"),
    # a key that is not read may repeat (Spark's variant would refuse it by default)
    (json.dumps(GOOD_CADDY).encode()[:-1] + b', "resp_headers": {"Server": ["a"],'
     b' "Server": ["b"]}, "level": "info", "level": 1}', "matched"),
    # nesting: at most 500 "[" and "{" in a JSON line (deeper than some parsers read)
    (json.dumps({**GOOD_NGINX, "x": "[" * 250}).encode()[:-1]
     + b', "y": ' + b"[" * 248 + b"]" * 248 + b"}", "matched"),
    (json.dumps({**GOOD_NGINX, "x": "[" * 250}).encode()[:-1]
     + b', "y": ' + b"[" * 250 + b"]" * 250 + b"}", "malformed"),
    (json.dumps(GOOD_NGINX).encode()[:-1] + b', "x": ' + b"[" * 2000 + b"]" * 2000 + b"}",
     "malformed"),
    # a line of any length (DuckDB's reader drops lines over 2 MB by default)
    (json.dumps({**GOOD_NGINX, "agent": "a" * 3_000_000}).encode(), "matched"),
    (GOOD_COMBINED.encode().replace(b'"ua"', b'"' + b"a" * 3_000_000 + b'"'), "matched"),
    (json.dumps({**GOOD_NGINX, "agent": "é" * 1_500_000}, ensure_ascii=False).encode(),
     "matched"),
    # U+10FFFF: DuckDB's reader splits lines at it; other noncharacters are text
    (json.dumps({**GOOD_NGINX, "agent": "a\U0010ffffb"}, ensure_ascii=False).encode(),
     "malformed"),
    (GOOD_COMBINED.encode().replace(b'"ua"', '"a\U0010ffffb"'.encode()), "malformed"),
    (json.dumps({**GOOD_NGINX, "agent": "\ufffe\U0010fffe"}, ensure_ascii=False).encode(),
     "matched"),
]


def _engine_counts(engines: dict[str, Any], paths: list[str],
                   fmt: str | None = None) -> dict[str, tuple[list[str], Any]]:
    out = {}
    for name, engine in engines.items():
        rows = decode(HOSTILE_T, paths, base="/t", engine=engine, format=fmt or "auto")
        out[name] = (sorted(_key(r) for r in rows), rows.counts)
    return out


def _check_hostile_cases(engines: dict[str, Any], tmp: Path) -> None:
    combined = [line for line, _ in HOSTILE_CASES if line.startswith(b"192.")]
    json_lines = [line for line, _ in HOSTILE_CASES if not line.startswith(b"192.")]
    (tmp / "hostile.json.log").write_bytes(b"\n".join(json_lines) + b"\n")
    (tmp / "hostile.combined.log").write_bytes(b"\n".join(combined) + b"\n")
    want = {"matched": 0, "bad_status": 0, "other_path": 0, "malformed": 0}
    for _line, category in HOSTILE_CASES:
        want[category] += 1
    for name, fmt in (("hostile.json.log", "json"), ("hostile.combined.log", "combined")):
        got = _engine_counts(engines, [str(tmp / name)], fmt)
        chosen = json_lines if fmt == "json" else combined
        expect = [category for line, category in HOSTILE_CASES if line in chosen]
        for engine, (_rows, counts) in got.items():
            assert counts._asdict() == {c: expect.count(c) for c in want}, engine
    # the rule line by line, in the python engine's own parser
    from pathbeacon.analysis.formats import line_text, parser

    for line, category in HOSTILE_CASES:
        fmt = "combined" if line.startswith(b"192.") else "json"
        text = line_text(line)
        record = None if text is None else parser(fmt).parse(text)
        assert (record is None) == (category == "malformed"), line[:80]


def test_python_and_duckdb_count_hostile_lines_alike(tmp_path: Path) -> None:
    _check_hostile_cases(_engines(None), tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_SPARK, reason=SPARK_REASON)
def test_spark_counts_hostile_lines_alike(tmp_path: Path, spark: Any) -> None:
    _check_hostile_cases(_engines(spark), tmp_path)


@st.composite
def _json_mutation(draw: Any) -> bytes:
    """A JSON log line of one dialect, damaged the way a hostile client or a lenient
    writer could."""
    good = draw(st.sampled_from([GOOD_NGINX, GOOD_CADDY, GOOD_CLOUDFLARE]))
    obj = json.loads(json.dumps(good))
    kind = draw(st.sampled_from(["value", "nested", "text", "bytes", "deep", "none"]))
    if kind == "value":
        obj[draw(st.sampled_from([*sorted(obj), "uri", "request", "ClientRequestURI"]))] = (
            draw(st.sampled_from(JSON_VALUES)))
    elif kind == "nested" and "request" in obj:
        inner = obj["request"]
        key = draw(st.sampled_from(["uri", "remote_ip", "headers"]))
        inner[key] = draw(st.sampled_from([*JSON_VALUES, {"User-Agent": 5},
                                           {"User-Agent": [5]}, {"User-Agent": []}]))
    text = json.dumps(obj, ensure_ascii=draw(st.booleans()))
    if kind == "text":
        edit = draw(st.sampled_from([" junk", ' {"a": 1}', "}],[{", ",}", "NaN", "dup",
                                     "quotes", "Infinity"]))
        if edit == "dup":
            text = '{"' + draw(st.sampled_from(sorted(obj))) + '": "/x", ' + text[1:]
        elif edit == "quotes":
            text = text.replace('"', "'")
        elif edit in ("NaN", "Infinity"):
            text = text[:-1] + f', "x": {edit}}}'
        elif edit == ",}":
            text = text[:-1] + ",}"
        else:
            text = text + edit
    raw = text.encode("utf-8", "surrogatepass")
    if kind == "bytes":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.sampled_from(HOSTILE_BYTES)) + raw[at:]
    elif kind == "deep":
        depth = draw(st.sampled_from([1, 249, 250, 251, 499, 500, 501, 1200]))
        raw = raw[:-1] + b', "d": ' + b"[" * depth + b"]" * depth + b"}"
    return raw


@st.composite
def _line_mutation(draw: Any, flavour: str) -> bytes:
    """A line of a text format with hostile bytes put in anywhere."""
    hit = Hit("/gw/t/acme/1.0/linux", agent=draw(st.sampled_from(["ua", "a b", "", None])))
    raw = lines(flavour, [hit])[-1].encode()
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.sampled_from(HOSTILE_BYTES)) + raw[at:]
    return raw


HOSTILE_LINES = st.fixed_dictionaries({
    "json": st.lists(_json_mutation(), min_size=1, max_size=12),
    **{flavour: st.lists(_line_mutation(flavour), max_size=4)
       for flavour in ("combined", "s3", "cloudfront", "urls")},
    "huge": st.sampled_from([0, 0, 0, 2_200_000]),
})


def _check_hostile_parity(engines: dict[str, Any], drawn: dict[str, Any], tmp: Path) -> None:
    template = resolve("<base>/<package>/<version>/<os>")
    good = Hit("/gw/t/acme/1.0/linux", agent="a" * drawn["huge"] or "ua")
    for flavour in ("json", "combined", "s3", "cloudfront", "urls"):
        written = "nginx-json" if flavour == "json" else flavour
        body = [line.encode() for line in lines(written, [good, good])] + drawn[flavour]
        path = tmp / f"{flavour}.log"
        path.write_bytes(b"\n".join(body) + b"\n")
        got = {}
        for name, engine in engines.items():
            rows = decode(template, [str(path)], base=BASE, engine=engine,
                          format="json" if flavour == "json" else flavour)
            got[name] = (sorted(_key(r) for r in rows), rows.counts)
        first_rows, first_counts = got["python"]
        for name, (rows, counts) in got.items():
            assert counts == first_counts, (name, flavour)
            assert rows == first_rows, (name, flavour)
        # every non-empty line is in exactly one count, headers and huge lines included
        assert sum(first_counts) == sum(1 for line in body if line), flavour
        assert first_counts.matched >= 2 - (flavour == "urls" and drawn["huge"] > 0), flavour


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(HOSTILE_LINES)
def test_python_and_duckdb_agree_on_hostile_lines(drawn: dict[str, Any]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        _check_hostile_parity(_engines(None), drawn, Path(tmp))


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_SPARK, reason=SPARK_REASON)
def test_spark_agrees_on_hostile_lines(spark: Any) -> None:
    import tempfile

    @settings(max_examples=6, deadline=None, database=None,
              phases=[Phase.explicit, Phase.reuse, Phase.generate],
              suppress_health_check=[HealthCheck.too_slow])
    @given(HOSTILE_LINES)
    def check(drawn: dict[str, Any]) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            _check_hostile_parity(_engines(spark), drawn, Path(tmp))

    check()


def test_a_shared_segment_nginx_answers_decodes_as_parse_gives(
        request: pytest.FixtureRequest) -> None:
    """Issue 13, item 11: a value rendered into a shared segment may hold the separator, so
    that the shortest first value leaves the last one over 64 characters. nginx answers
    204; parse() and every engine split the segment where both values fit (1-64)."""
    from pathbeacon import Template

    from .test_analysis_nginx import _get
    from .webservers import wait_for_lines

    port, tmp = request.getfixturevalue("nginx")  # a real nginx (test_analysis_nginx)
    template = Template("<base>/acme-<version>-<os>.tar.gz")
    base = "http://127.0.0.1/t"
    facts = [{"version": "1-" + "x" * 62, "os": "linux"},
             {"version": "2.0-rc1", "os": "mac"},
             {"version": "1-" + "é" * 62, "os": "w" * 64}]
    want = []
    for fact in facts:
        url = template.render({**fact, "base": base})
        assert _get(port, url[len("http://127.0.0.1"):], b"pathbeacon/1.0") == 204
        want.append({k: v for k, v in template.parse(url).items() if k != "base"})
    assert want[0] == facts[0] and want[2] == facts[2]  # the only split where both fit
    for name in ("access.log", "access.json"):
        wait_for_lines(tmp / name, len(facts))
    engines = _engines(request.getfixturevalue("spark") if HAVE_SPARK else None)
    for name, engine in engines.items():
        for log in ("access.log", "access.json"):
            rows = decode(template, [str(tmp / log)], base=base, engine=engine)
            got = [{k: v for k, v in r.items() if k not in ("time", "status")} for r in rows]
            assert sorted(got, key=_key) == sorted(want, key=_key), (name, log)
            assert rows.counts.matched == len(facts), (name, log)
