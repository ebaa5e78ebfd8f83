"""The faster SQL keeps the python engine's answer on the lines that tell regexes apart.

The duckdb and spark engines cut the common line with one four-group regex; these lines are
where a shortcut would part from the exact path (``COMBINED_RE``, the strict JSON rule...)
(issue 17).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from pathbeacon.analysis import decode, stats

from .test_analysis_engines import HAVE_SPARK, SPARK_REASON, spark  # noqa: F401 - a fixture

duckdb = pytest.importorskip("duckdb")

TEMPLATE = "<base>/<package>/<version>/<os>/<arch>/<python>/<ci>"
BASE = "/telemetry"
TARGET = "/telemetry/acme/1.0/Linux/x86_64/3.11/true"


def _both(tmp_path: Path, lines: list[str],
          format: str = "combined") -> dict[str, tuple[list[dict], object]]:
    log = tmp_path / "access.log"
    log.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    out = {}
    for engine in ("python", "duckdb"):
        rows = decode(TEMPLATE, [str(log)], base=BASE, engine=engine, format=format)
        out[engine] = (sorted(rows, key=repr), rows.counts)
    return out


def test_time_is_found_after_the_third_token_not_at_the_first_bracket(tmp_path: Path) -> None:
    # the user field holds '"b' and the ident 'a]': the time starts at the third space
    line = (f'203.0.113.9 a] "b [21/Aug/2026:14:00:00 +0000] "GET {TARGET} HTTP/1.1"'
            ' 204 0 "-" "ua"')
    got = _both(tmp_path, [line])
    assert got["python"][1].matched == 1
    assert got["duckdb"] == got["python"]
    assert got["duckdb"][0][0]["time"] == "2026-08-21T14:00:00Z"


@pytest.mark.parametrize("line", [
    # a month that is three letters but no name, or a name in another case: malformed
    f'198.51.100.1 - - [21/Aux/2026:14:00:00 +0000] "GET {TARGET} HTTP/1.1" 204 0 "-" "ua"',
    f'198.51.100.1 - - [21/aug/2026:14:00:00 +0000] "GET {TARGET} HTTP/1.1" 204 0 "-" "ua"',
    f'198.51.100.1 - - [21/ugS/2026:14:00:00 +0000] "GET {TARGET} HTTP/1.1" 204 0 "-" "ua"',
    # the agent only when referer and agent are followed by a space or the end
    f'198.51.100.1 - - [21/Aug/2026:14:00:00 +0000] "GET {TARGET} HTTP/1.1" 204 0 "r" "ua"x',
    f'198.51.100.1 - - [21/Aug/2026:14:00:00 +0000] "GET {TARGET} HTTP/1.1" 204 - "r" "ua" 7',
    f'198.51.100.1 - - [21/Aug/2026:14:00:00 +0000] "GET {TARGET} HTTP/1.1" 204 0',
    f'198.51.100.1 - - [21/Aug/2026:14:00:00 +0000] "GET {TARGET} HTTP/1.1" 204 0x',
    # escaped quotes take the other regex, with the same four groups
    f'198.51.100.1 - - [21/Aug/2026:14:00:00 +0000] "GET {TARGET} HTTP/1.1" 204 0 "\\"" "u\\"a"',
    f'198.51.100.1 - - [29/Feb/2026:14:00:00 +0000] "GET {TARGET} HTTP/1.1" 204 0 "-" "ua"',
    f'198.51.100.1 - - [29/Feb/2028:23:59:59 -0130] "GET {TARGET} HTTP/1.1" 204 0 "-" "ua"',
    # values of 64 and 65 characters, dots, and a request that does not split
    f'198.51.100.1 - - [21/Aug/2026:14:00:00 +0000] "GET /telemetry/acme/{"x" * 64}/Linux/'
    'x86_64/3.11/true HTTP/1.1" 204 0 "-" "ua"',
    f'198.51.100.1 - - [21/Aug/2026:14:00:00 +0000] "GET /telemetry/acme/{"x" * 65}/Linux/'
    'x86_64/3.11/true HTTP/1.1" 204 0 "-" "ua"',
    '198.51.100.1 - - [21/Aug/2026:14:00:00 +0000] "GET /telemetry/acme/../Linux/x86_64/3.11/'
    'true HTTP/1.1" 204 0 "-" "ua"',
    '198.51.100.1 - - [21/Aug/2026:14:00:00 +0000] "GET /telemetry/acme/.../Linux/x86_64/3.11/'
    'true HTTP/1.1" 204 0 "-" "ua"',
    '198.51.100.1 - - [21/Aug/2026:14:00:00 +0000] "-" 400 0 "-" "ua"',
])
def test_line_reads_alike(tmp_path: Path, line: str) -> None:
    got = _both(tmp_path, [line])
    assert got["duckdb"] == got["python"]


def test_stats_with_folds_read_each_line_once(tmp_path: Path) -> None:
    """Small groups fold in a second pass over the log: line counts (a line that is not
    UTF-8 included) and reporter-days are those of one reading."""
    lines = [f'198.51.100.{i % 5} - - [2{i % 3}/Aug/2026:14:00:00 +0000] "GET /telemetry/'
             f'acme/1.{i % 4}/Linux/x86_64/3.11/true HTTP/1.1" 204 0 "-" "ua{i % 2}"'
             for i in range(40)]
    log = tmp_path / "access.log"
    log.write_bytes(("\n".join(lines) + "\n").encode() + b"\xff not utf-8\n")
    for every in (None, "day", "week"):
        want = stats(TEMPLATE, [str(log)], ["version"], base=BASE, every=every, k=3,
                     engine="python")
        engine = importlib.import_module("pathbeacon.analysis.engines").get("duckdb")
        try:
            for _ in range(2):  # the same engine again: nothing left over from the last run
                assert stats(TEMPLATE, [str(log)], ["version"], base=BASE, every=every, k=3,
                             engine=engine) == want
        finally:
            engine.close()
        assert want["lines"]["malformed"] == 1


# Pieces of a combined line at the edges of the one-regex cut (sql.fast_combined_re):
# each is kept by the cut, or must send the line down the exact path, never read apart.
_CLIENTS = ["198.51.100.1", '"b', "a]", "[x", "2001:db8::1", "-"]
_METHODS = ["GET", "G\"T", "", "GET GET", "get", "G\\ET"]
_VALUES = ["1.0", ".", "..", "...", ".x", "..x", "x" * 64, "x" * 65, "%41", "a%2Fb", "~_-",
           "é", "a b", "a\"b", "a?b", ""]
_HOSTS = ["", "http://h", "HTTPS://g.example", "http://a b", 'http://a"b', "http://x\\y",
          "ftp://h"]
_PROTOCOLS = ["", " HTTP/1.1", " HTTP/1.1 x", " \\", "  HTTP/1.1"]
_TAILS = [' 204 0 "-" "ua"', " 204 -", " 204 0", " 2040 0", " 20 0", " 204 0x",
          ' 404 0 "r" "u a"', ' 302 12 "\\"" "u\\"a"', " 204 0 ", ' 204 0 "-"']
_TIMES = ["21/Aug/2026:14:00:00 +0000", "31/Feb/2026:14:00:00 +0000",
          "21/Aug/2026:24:00:00 +0000", "21/aug/2026:14:00:00 -0130", "01/Jan/0000:00:00:00 +0000"]


def _piece(draw: Any, usual: str, others: list[str], odds: int = 8) -> str:
    """The usual piece but one time in ``odds`` (so that the rest of the line mostly
    fits), then an edge."""
    # listed first: Hypothesis shrinks towards it
    return str(draw(st.sampled_from([usual] * (len(others) * (odds - 1)) + others)))


@st.composite
def _edge_line(draw: Any, layout: str = "combined") -> str:
    values = [_piece(draw, "1.0", _VALUES, 24) for _ in range(6)]
    target = (_piece(draw, "", _HOSTS)
              + _piece(draw, "/telemetry/", ["/telemetry//", "/Telemetry/", "/telemetry/x/",
                                             "telemetry/"])
              + "/".join(values))
    method = _piece(draw, "GET", _METHODS)
    request = f"{method} {target}" if method else target
    client = _piece(draw, "198.51.100.1", _CLIENTS)
    when = f"[{_piece(draw, _TIMES[0], _TIMES)}]"
    quoted = f"\"{request}{_piece(draw, ' HTTP/1.1', _PROTOCOLS)}\""
    if layout == "s3":  # S3's server access log: owner bucket [time] client ... "request"
        status = _piece(draw, "204", ["-", "2040", "20", "404"])
        fields = _piece(draw, " - 0 0 7 -", [" - 0 0 7", " - 0 0 7 - -", " -  0 0 7 -"])
        rest = _piece(draw, ' "-" "ua" - x SigV4', ['"-" "ua"', ' - -', ' "r" "u\\"a"',
                                                     ' "-" "ua"x', ' "-" -', ' "-" "u a"'])
        return (f"{_piece(draw, 'owner', ['', 'o w'])} bucket {when} {client} arn req op key"
                f" {quoted} {status}{fields}{rest}")
    return (f"{client} - {_piece(draw, '-', ['u', 'a]'])} {when} {quoted}"
            f"{_piece(draw, _TAILS[0], _TAILS)}")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(st.lists(_edge_line(), min_size=1, max_size=12),
       st.lists(_edge_line("s3"), min_size=1, max_size=12))
def test_lines_at_the_edges_of_the_one_regex_cut_read_alike(lines: list[str],
                                                            s3: list[str]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for format, written in (("combined", lines), ("s3", s3)):
            got = _both(Path(tmp), written, format)
            assert got["duckdb"] == got["python"], format


_JSON_TIMES = ["2026-08-21T14:00:00+00:00", "2026-08-21T14:00:00+23:59", "2026-08-21T14:00:00+24:00",
               "2026-08-21T14:00:00-12:60", "0000-08-21T14:00:00+00:00",
               "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00",
               "2026-02-30T14:00:00+00:00", "2026-08-21T24:00:00+00:00", "2026-08-21T14:00:60+00:00",
               "2026-08-21 14:00:00+00:00", "1787313600", "21/Aug/2026:14:00:00 +0000"]
_JSON_STATUS = ["204", "404", "2040", "0204", "99", '"204"', "204.0", "null", "302"]
_JSON_TEXTS = ["ua", "", "a\\\"b", "a\\u0041", "\x01", "é", "\\ud800", "a\\\\b"]


@st.composite
def _edge_json_line(draw: Any) -> str:
    values = [_piece(draw, "1.0", [*_VALUES, "a\\/b", "\\u0031"], 24) for _ in range(6)]
    request = (_piece(draw, "", [h for h in _HOSTS if '"' not in h and "\\" not in h]
                      + ["http://x\\\\y", "http://\x01"])
               + _piece(draw, "/telemetry/", ["/telemetry//", "telemetry/"]) + "/".join(values))
    request = request.replace('"', '\\"')
    pairs = [f'"time":"{_piece(draw, _JSON_TIMES[0], _JSON_TIMES)}"',
             f'"request":"{request}"',
             f'"status":{_piece(draw, "204", _JSON_STATUS)}',
             f'"agent":"{_piece(draw, "ua", _JSON_TEXTS)}"']
    client = _piece(draw, '"198.51.100.1"', ['""', "null", "absent", '"\\u0031"', '"2001:db8::1"'])
    if client != "absent":
        pairs.append(f'"client":{client}')
    edit = _piece(draw, "", ["space", "swap", "twice", "tail", "uri"], 3)
    if edit == "swap":
        pairs[0], pairs[1] = pairs[1], pairs[0]
    elif edit == "twice":
        pairs.append(pairs[1])
    elif edit == "uri":
        pairs.append('"uri":"/x"')
    line = "{" + (", " if edit == "space" else ",").join(pairs) + "}"
    return line + (" x" if edit == "tail" else "")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(st.lists(_edge_json_line(), min_size=1, max_size=12))
def test_json_lines_at_the_edges_of_the_one_regex_cut_read_alike(lines: list[str]) -> None:
    _json_read_alike(lines)


def _json_read_alike(lines: list[str]) -> None:
    """Both engines read the JSON lines alike (Hypothesis tests: no tmp_path fixture)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        got = _both(Path(tmp), lines, "json")
    assert got["duckdb"] == got["python"]


_CADDY_TS = ["1787313600.123456", "1787313600", "1787313600.9999999", "1787313600.999999",
             "1787313600.9999989", "1787313600.99999999999", "1787313600.5e0", "-1787313600.5",
             '"1787313600"', "4000000000.1", "999999999.5", "01787313600", "1787313600."]
_CADDY_HEADERS = ['"User-Agent":["ua"]', '"Accept":["*/*"]', '"User-Agent":[]',
                  '"User-Agent":[""]', '"User-Agent":["a\\"b"]', '"User-Agent":["ua","x"]',
                  '"User-Agent":"ua"', '"user-agent":["lower"]', r'"X":["\"User-Agent\":[\"y\"]"]',
                  '"User-Agent":[5]', '"X":[]']
_CADDY_NUMBERS = ["0", "0.000211", "12", "-0", "1e3", "NaN", "01", "1.", "9" * 20, "0.5E-3"]


@st.composite
def _edge_caddy_line(draw: Any) -> str:
    """A line of Caddy's access log at the edges of its fast cut (caddy_line_re)."""
    values = [_piece(draw, "1.0", [*_VALUES, "a\\/b", "\\u0031"], 24) for _ in range(6)]
    uri = (_piece(draw, "", ["http://h.example", "http://x\\\\y"])
           + _piece(draw, "/telemetry/", ["/telemetry//", "telemetry/"]) + "/".join(values))
    uri = uri.replace('"', '\\"')
    headers = draw(st.lists(st.sampled_from(_CADDY_HEADERS), max_size=4))
    if _piece(draw, "ua", ["none"], 3) == "ua" and not any("User" in h for h in headers):
        headers.insert(draw(st.integers(0, len(headers))), '"User-Agent":["ua"]')
    remote_ip = _piece(draw, '"198.51.100.1"', ['""', '"2001:db8::1"', "null", r'"\u0031"'])
    request = [f'"remote_ip":{remote_ip}',
               '"remote_port":"41234"', '"client_ip":"198.51.100.1"', '"proto":"HTTP/1.1"',
               '"method":"GET"', '"host":"gw.example"', f'"uri":"{uri}"',
               '"headers":{' + ",".join(headers) + "}"]
    for key in ('"remote_port"', '"client_ip"'):
        if _piece(draw, "keep", ["drop"], 3) == "drop":
            request = [pair for pair in request if not pair.startswith(key)]
    tls = _piece(draw, "", ['{"resumed":false,"version":772,"proto":"h2","server_name":"x"}',
                            "{}", '{"a":{"b":1}}', '{"a":[1]}'], 3)
    if tls:
        request.append(f'"tls":{tls}')
    top = ['"level":"info"', f'"ts":{_piece(draw, _CADDY_TS[0], _CADDY_TS)}',
           '"logger":"http.log.access"', '"msg":"handled request"',
           '"request":{' + ",".join(request) + "}",
           f'"bytes_read":{_piece(draw, "0", _CADDY_NUMBERS)}', '"user_id":""',
           f'"duration":{_piece(draw, "0.000211", _CADDY_NUMBERS)}', '"size":0',
           f'"status":{_piece(draw, "204", _JSON_STATUS)}',
           '"resp_headers":{' + _piece(draw, '"Server":["Caddy"]', ['"User-Agent":["r"]', ""])
           + "}"]
    for key in ('"user_id"', '"bytes_read"'):  # (Caddy 2.6 writes no bytes_read)
        if _piece(draw, "keep", ["drop"], 3) == "drop":
            top = [pair for pair in top if not pair.startswith(key)]
    edit = _piece(draw, "", ["space", "twice", "tail", "comma", "uri", "brackets", "long"], 3)
    if edit == "twice":
        top.append(draw(st.sampled_from(top)))
    elif edit == "uri":
        top.insert(1, '"uri":"/x"')
    elif edit in ("brackets", "long"):  # past JSON_MAX_BRACKETS; past CADDY_LONGEST
        top.append('"x":[' + ",".join(["[]"] * (250 if edit == "brackets" else 10))
                   + "]" + (" " * 4096 if edit == "long" else ""))
    line = "{" + (", " if edit == "space" else ",").join(top) + ("," if edit == "comma" else "")
    return line + "}" + (" x" if edit == "tail" else "")


_NGINX = ('{"time":"2026-08-21T14:00:00+00:00","request":"' + TARGET + '","status":204,'
          '"agent":"ua","client":"198.51.100.1"}')


@pytest.mark.parametrize("line", [
    _NGINX,
    # more than JSON_MAX_BRACKETS brackets, in strings: not read, whatever the cut says
    _NGINX.replace('"ua"', '"' + "[" * 500 + '"'),
    _NGINX.replace('"198.51.100.1"', '"' + "{" * 501 + '"'),
    _NGINX.replace(TARGET, TARGET + "?" + "[" * 501),
])
def test_nginx_json_line_reads_alike(tmp_path: Path, line: str) -> None:
    got = _both(tmp_path, [line], "json")
    assert got["duckdb"] == got["python"]
    assert _query_rows([line], "json") == _exact_rows([line], "json")


def _caddy(ts: str = "1787313600.5", headers: str = '"User-Agent":["ua"]',
           tail: str = '"Server":["Caddy"]') -> str:
    return ('{"level":"info","ts":' + ts + ',"logger":"l","msg":"m","request":{"remote_ip":'
            '"198.51.100.1","proto":"HTTP/1.1","method":"GET","host":"h","uri":"' + TARGET
            + '","headers":{' + headers + '}},"bytes_read":0,"duration":0.1,"size":0,'
            '"status":204,"resp_headers":{' + tail + "}}")


@pytest.mark.parametrize("line", [
    _caddy(),  # the common line, then its edges: a float that rounds up to the next second
    _caddy("1787313600.99999999999"), _caddy("1787313600.9999999"), _caddy("1787313600.999999"),
    # User-Agent twice in the request's headers (malformed), once there and once in the
    # answer's (fine), none, an empty list, not a list
    _caddy(headers='"User-Agent":["a"],"X":[],"User-Agent":["b"]'),
    _caddy(tail='"User-Agent":["r"]'), _caddy(headers=""), _caddy(headers='"User-Agent":[]'),
    _caddy(headers='"User-Agent":"ua"'),
    # more than JSON_MAX_BRACKETS brackets in a short line
    _caddy(headers='"User-Agent":["ua"],' + ",".join(['"h":[]'] * 501)),
])
def test_caddy_line_reads_alike(tmp_path: Path, line: str) -> None:
    got = _both(tmp_path, [line], "json")
    assert got["duckdb"] == got["python"]
    assert _query_rows([line], "json") == _exact_rows([line], "json")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(st.lists(_edge_caddy_line(), min_size=1, max_size=12))
def test_caddy_lines_at_the_edges_of_its_regex_cut_read_alike(lines: list[str]) -> None:
    _json_read_alike(lines)


def _query_rows(lines: list[str], format: str) -> list[tuple[Any, ...]]:
    from pathbeacon.analysis.matcher import Matcher

    sql = importlib.import_module("pathbeacon.analysis.sql")

    text = sql.query(Matcher.compile(TEMPLATE, base=BASE), "duckdb", format)
    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE logs (line VARCHAR)")
        con.executemany("INSERT INTO logs VALUES (?)", [(line,) for line in lines])
        return sorted(con.execute(text).fetchall(), key=repr)
    finally:
        con.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(st.lists(_edge_line(), min_size=1, max_size=12),
       st.lists(_edge_json_line(), min_size=1, max_size=12),
       st.lists(_edge_line("s3"), min_size=1, max_size=12),
       st.lists(_edge_caddy_line(), min_size=1, max_size=12))
def test_the_one_regex_cut_gives_every_column_the_exact_path_gives(
        combined: list[str], json_lines: list[str], s3: list[str], caddy: list[str]) -> None:
    """Agent and client too (decode's rows leave them out): the SQL with the cut and
    without it give the same rows."""
    for format, lines in (("combined", combined), ("json", json_lines + caddy), ("s3", s3)):
        assert _query_rows(lines, format) == _exact_rows(lines, format), format


def _exact_rows(lines: list[str], format: str) -> list[tuple[Any, ...]]:
    """:func:`_query_rows` of the SQL without the fast cut."""
    sql = importlib.import_module("pathbeacon.analysis.sql")
    cut = sql.fast_line_re
    sql.fast_line_re = lambda format: None
    try:
        return _query_rows(lines, format)
    finally:
        sql.fast_line_re = cut


def test_stats_read_a_line_too_long_for_short_buffers_by_starting_again(tmp_path: Path) -> None:
    """Lines are read in short buffers on every core; one longer than SHORT_LINE (here a
    beacon with a 3 MB agent, and a 3 MB line that is not UTF-8) makes the reading start
    again in one whole buffer: the same answer as the python engine, each line once."""
    from pathbeacon.analysis.engines.duckdb import SHORT_LINE

    good = [f'198.51.100.{i} - - [21/Aug/2026:14:00:00 +0000] "GET /telemetry/acme/1.{i % 2}/'
            f'Linux/x86_64/3.11/true HTTP/1.1" 204 0 "-" "ua"' for i in range(6)]
    huge = good[0].replace('"ua"', '"' + "a" * (SHORT_LINE + 1000) + '"')
    log = tmp_path / "access.log"
    log.write_bytes(("\n".join([*good, huge]) + "\n").encode()
                    + b"\xff" * (SHORT_LINE + 10) + b"\n")
    want = stats(TEMPLATE, [str(log)], ["version"], base=BASE, k=1, engine="python")
    assert want["lines"] == {"matched": 7, "bad_status": 0, "other_path": 0, "malformed": 1}
    assert stats(TEMPLATE, [str(log)], ["version"], base=BASE, k=1, engine="duckdb") == want
    short = log.read_bytes().split(b"\n")[:6]
    log.write_bytes(b"\n".join(short) + b"\n")
    assert stats(TEMPLATE, [str(log)], ["version"], base=BASE, k=1,
                 engine="duckdb")["lines"]["matched"] == 6


@pytest.mark.parametrize("when", [
    ("2026-08-21", "14:00:00", 1), ("2026-02-29", "14:00:00", 0), ("2028-02-29", "23:59:59", 1),
    ("2026-02-30", "14:00:00", 0), ("2026-13-01", "14:00:00", 0), ("0000-01-01", "00:00:00", 0),
    ("0001-01-01", "00:00:00", 1), ("9999-12-31", "23:59:59", 1), ("2026-08-21", "24:00:00", 0),
    ("2026-08-21", "23:60:00", 0), ("2026-08-21", "23:59:60", 0), ("2026-00-10", "10:00:00", 0),
])
def test_cloudfront_times_read_alike(tmp_path: Path, when: tuple[str, str, int]) -> None:
    """DuckDB's parser reads CloudFront's date and time as Python does."""
    from pathbeacon.analysis.formats import CLOUDFRONT_DEFAULT_FIELDS

    values = {"date": when[0], "time": when[1], "c-ip": "198.51.100.1", "sc-status": "204",
              "cs-uri-stem": "/telemetry/acme/1.0/Linux/x86_64/3.11/true", "cs-method": "GET",
              "cs(User-Agent)": "ua", "cs-uri-query": "-"}
    line = "\t".join(values.get(name, "-") for name in CLOUDFRONT_DEFAULT_FIELDS)
    got = _both(tmp_path, [line], "cloudfront")
    assert got["duckdb"] == got["python"]
    assert got["python"][1].matched == when[2]


def _spark_rows(session: Any, lines: list[str], format: str,
                cut: bool = True) -> list[tuple[Any, ...]]:
    """The compiled Spark SQL's rows over ``lines`` (every column), with the fast cut or
    without it."""
    from pathbeacon.analysis.engines.spark import view_name
    from pathbeacon.analysis.matcher import Matcher

    sql = importlib.import_module("pathbeacon.analysis.sql")
    fast = sql.fast_line_re
    if not cut:
        sql.fast_line_re = lambda format: None
    try:
        text = sql.query(Matcher.compile(TEMPLATE, base=BASE), "spark", format)
    finally:
        sql.fast_line_re = fast
    view = view_name("parity_lines")
    session.createDataFrame([(line,) for line in lines], "line string").createOrReplaceTempView(
        view)
    rows = session.sql(text.replace("\nFROM logs\n", f"\nFROM {view}\n", 1)).collect()
    return sorted((tuple(row) for row in rows), key=repr)


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_SPARK, reason=SPARK_REASON)
def test_spark_takes_the_one_regex_cut_as_duckdb_does(spark: Any) -> None:  # noqa: F811
    """Spark cuts the common lines with the same regexes (one ``regexp_replace`` each):
    at the edges of each cut its rows are those of its exact path, every column, and its
    decoded rows and counts those of the python engine. Few examples, each a batch of
    every format: a Spark job is slow to start, not to read a line."""
    import tempfile

    from pathbeacon.analysis.engines import get

    session = spark
    plain = ('198.51.100.1 - - [21/Aug/2026:14:00:00 +0000] "GET ' + TARGET + ' HTTP/1.1"'
             ' 204 0 "-" "ua"')

    @settings(max_examples=5, deadline=None, database=None,
              phases=[Phase.explicit, Phase.reuse, Phase.generate],
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(_edge_line(), min_size=1, max_size=30),
           st.lists(_edge_json_line(), min_size=1, max_size=30),
           st.lists(_edge_line("s3"), min_size=1, max_size=30),
           st.lists(_edge_caddy_line(), min_size=1, max_size=30))
    def check(combined: list[str], json_lines: list[str], s3: list[str],
              caddy: list[str]) -> None:
        # the common lines too, one holding the cut's glue (U+0001), and one of nothing
        # but the four values so glued, which no cut matches
        glued = "\x01".join
        when, nginx_when = "21/Aug/2026:14:00:00 +0000", "2026-08-21T14:00:00+00:00"
        combined = [plain, plain.replace('"ua"', '"u\x01a"'),
                    glued(["198.51.100.1", when, TARGET, "204"]),
                    # the line: the time after the third token, not at the first "] "
                    plain.replace('198.51.100.1 - -', '203.0.113.9 a] "b'), *combined]
        json_lines = [_NGINX, _caddy(), _NGINX.replace('"ua"', '"u\x01a"'),
                      glued([nginx_when, TARGET, "204", "198.51.100.1"]), *json_lines, *caddy]
        s3 = [glued([when, "198.51.100.1", TARGET, "204"]), *s3]
        with tempfile.TemporaryDirectory() as tmp:
            for format, lines in (("combined", combined), ("json", json_lines), ("s3", s3)):
                fast = _spark_rows(session, lines, format)
                assert fast == _spark_rows(session, lines, format, cut=False), format
                log = Path(tmp) / f"{format}.log"
                log.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
                got = {}
                for engine in ("python", get("spark", session=session)):
                    rows = decode(TEMPLATE, [str(log)], base=BASE, engine=engine, format=format)
                    got[getattr(engine, "name", engine)] = (sorted(rows, key=repr), rows.counts)
                assert got["spark"] == got["python"], format

    check()
