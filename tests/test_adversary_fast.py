"""Adversarial lines at the edges of the fast paths (issue 17's parity): the python,
duckdb and spark engines (spark when the slow groups run), and ingest's store, must give
the same rows and counts."""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from pathbeacon.analysis import decode, stats
from pathbeacon.analysis.engines import get
from pathbeacon.analysis.stats import Counts

pytest.importorskip("duckdb")

from .test_analysis_engines import HAVE_SPARK, spark  # noqa: F401 - a fixture

TEMPLATE = "<base>/<package>/<version>/<os>/<arch>/<python>/<ci>"
BASE = "/telemetry"
TARGET = "/telemetry/acme/1.0/Linux/x86_64/3.11/true"
COMBINED = (f'198.51.100.1 - - [21/Aug/2026:14:00:00 +0000] "GET {TARGET} HTTP/1.1" 204 0'
            ' "-" "ua"')
NGINX_JSON = ('{"time":"2026-08-21T14:00:00+00:00","request":"GET ' + TARGET + ' HTTP/1.1",'
              '"status":204,"agent":"ua","client":"198.51.100.1"}')
BOM = "\ufeff".encode()


@pytest.fixture
def session(request: pytest.FixtureRequest) -> Any:
    """The test session's Spark session when the slow groups run, else ``None``."""
    return request.getfixturevalue("spark") if HAVE_SPARK else None


def _engines(session: Any) -> list[Any]:
    """The engines held to the python engine's answers: duckdb, and spark on ``session``."""
    return ["duckdb", *([get("spark", session=session)] if session is not None else [])]


def _read(log: Path, format: str,
          session: Any = None) -> dict[str, tuple[list[dict[str, Any]], Counts]]:
    """Each engine's decoded rows of ``log`` (sorted) and its line counts: python and
    duckdb, and spark on ``session`` when one is given."""
    got = {}
    for engine in ["python", *_engines(session)]:
        rows = decode(TEMPLATE, [str(log)], base=BASE, engine=engine, format=format)
        name = engine if isinstance(engine, str) else engine.name
        got[name] = (sorted(rows, key=repr), rows.counts)  # counts once the rows are read
    return got


def _alike(got: dict[str, Any]) -> None:
    """Every engine's answer is the python engine's."""
    for name, answer in got.items():
        assert answer == got["python"], name


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize(("format", "line"), [("combined", COMBINED), ("json", NGINX_JSON)])
def test_a_byte_order_mark_at_the_start_of_a_log_is_part_of_its_first_line(
        tmp_path: Path, session: Any, format: str, line: str, compress: bool) -> None:
    """DuckDB's reader drops a UTF-8 byte order mark at a file's start; the python engine
    and ingest read it as the first line's text (a JSON line starting with it is not JSON,
    a combined line's client holds it). Every engine reads the bytes as they are."""
    data = BOM + (line + "\n" + line + "\n").encode()
    log = tmp_path / ("access.log.gz" if compress else "access.log")
    log.write_bytes(gzip.compress(data) if compress else data)
    got = _read(log, format, session)
    assert got["python"][1].malformed == (format == "json")
    _alike(got)
    # the client "\ufeff198.51.100.1" is another address than "198.51.100.1"
    for engine in _engines(session):
        assert stats(TEMPLATE, [str(log)], ["version"], base=BASE, k=1, engine=engine,
                     format=format) == stats(TEMPLATE, [str(log)], ["version"], base=BASE,
                                             k=1, engine="python", format=format)


def _json_line(time: str, caddy: bool) -> str:
    if caddy:
        return '{"ts":' + time + ',"request":{"uri":"' + TARGET + '"},"status":204}'
    return ('{"time":' + time + ',"request":"GET ' + TARGET + ' HTTP/1.1","status":204,'
            '"agent":"ua"}')


# (the time as JSON, the UTC time the documented rule gives: epoch_to_iso's unit by size
# and floor, of the number the text says; None: out of range, malformed)
_EPOCHS = [
    # nanoseconds past BIGINT (9.2e18) up to year 9999, as numbers and strings of digits
    ("9300000000000000000", "2264-09-14T21:20:00Z"),
    ('"9300000000000000000"', "2264-09-14T21:20:00Z"),
    ("200000000000000000000", "8307-10-01T19:33:20Z"),
    ('"200000000000000000000"', "8307-10-01T19:33:20Z"),
    ("1e20", "5138-11-16T09:46:40Z"),
    ("2.5e20", "9892-03-08T12:26:40Z"),
    ("-62135596800000000000", "0001-01-01T00:00:00Z"),
    ('"-62135596800000000001"', None),
    ('"253402300799999999999"', "9999-12-31T23:59:59Z"),
    ('"253402300800000000000"', None),
    ("2.6e20", None),
    # floor below zero, the whole part "-0" included
    ("-0.5", "1969-12-31T23:59:59Z"),
    ('"-0.5"', "1969-12-31T23:59:59Z"),
    ("-1e-5", "1969-12-31T23:59:59Z"),
    ('"-0.0000000000000000001"', "1969-12-31T23:59:59Z"),
    ('"-0.000"', "1970-01-01T00:00:00Z"),
    # a string's digits exactly: not rounded to a float first
    ('"1787313600.9999999999"', "2026-08-21T12:00:00Z"),
    ('"1787313600999999999.5"', "2026-08-21T12:00:00Z"),
    ('"99999999999.9999999"', "5138-11-16T09:46:39Z"),
    # a number past 2**62 as the shortest decimal of its double (parsers write it so),
    # an integer past 64 bits exactly (DuckDB keeps it whole)
    ("62135596798000000000.0", "3938-12-31T23:59:58Z"),
    ("6.2135596798e19", "3938-12-31T23:59:58Z"),
    ("253402300799999999999", "9999-12-31T23:59:59Z"),
]


# epoch strings of digits read by their value, however many zeros lead (past Python's
# 4,300 digits of an int() too): named, their texts are long
_LEADING_ZEROS = [
    pytest.param('"' + "0" * 4291 + '1787313600"', "2026-08-21T12:00:00Z", id="zeros-4301"),
    pytest.param('"' + "0" * 4291 + '1787313600.5"', "2026-08-21T12:00:00Z",
                 id="zeros-fraction"),
    pytest.param('"-' + "0" * 5000 + '1"', "1969-12-31T23:59:59Z", id="negative-zeros-5001"),
    pytest.param('"' + "1" * 41 + '"', None, id="digits-41"),
]


@pytest.mark.parametrize("caddy", [False, True], ids=["nginx", "caddy"])
@pytest.mark.parametrize(("time", "want"), [*_EPOCHS, *_LEADING_ZEROS])
def test_epoch_times_of_any_size_read_alike(tmp_path: Path, session: Any, time: str,
                                            want: str | None, caddy: bool) -> None:
    log = tmp_path / "access.json"
    log.write_text(_json_line(time, caddy) + "\n", encoding="utf-8")
    got = {engine: ([row["time"] for row in rows], counts.malformed)
           for engine, (rows, counts) in _read(log, "json", session).items()}
    assert got["python"] == ([want] if want else [], int(want is None))
    _alike(got)


@pytest.mark.parametrize(("status", "want"), [
    ("-0", (0, 1, 0, 0)),  # the integer 0 (JSON's grammar: no fraction, no exponent)
    ('"-0"', (0, 0, 0, 1)),  # a string that is not 1-3 digits
    ("0", (0, 1, 0, 0)), ("-204", (0, 0, 0, 1)), ("204.0", (0, 0, 0, 1)),
    ("2e2", (0, 0, 0, 1)), ('"0204"', (0, 0, 0, 1)), ('"204"', (1, 0, 0, 0)),
])
@pytest.mark.parametrize("dialect", ["nginx", "caddy", "cloudflare"])
def test_json_statuses_read_alike(tmp_path: Path, session: Any, status: str,
                                  want: tuple[int, ...], dialect: str) -> None:
    line = {
        "nginx": '{"request":"GET ' + TARGET + '","status":' + status + "}",
        "caddy": '{"request":{"uri":"' + TARGET + '"},"status":' + status + "}",
        "cloudflare": '{"ClientRequestURI":"' + TARGET + '","EdgeResponseStatus":' + status + "}",
    }[dialect]
    log = tmp_path / "access.json"
    log.write_text(line + "\n", encoding="utf-8")
    got = _read(log, "json", session)
    assert got["python"][1] == want
    _alike(got)


@pytest.mark.parametrize("extra", [
    '[1,true]', '[",]",false]', '{"k":null}', '[[null],[true ] ]', '["nan",null]',
    '[Infinity]', '[1,]', '{"k":1,}', '[-nan]', '[1, NaN]', '[true,]',
])
def test_literals_after_a_comma_are_not_taken_for_a_trailing_comma(
        tmp_path: Path, session: Any, extra: str) -> None:
    """The strict-JSON gate looks for NaN, Infinity and trailing commas outside strings
    only when the line shows a hint of one (here ",]" in a string); it must not take
    ``[1,true]`` for ``[1,]`` once it has set the literals aside."""
    line = ('{"request":"GET ' + TARGET + '","status":204,"agent":"a,]","x":' + extra + "}")
    log = tmp_path / "access.json"
    log.write_text(line + "\n", encoding="utf-8")
    got = _read(log, "json", session)
    strict = extra in ('[1,true]', '[",]",false]', '{"k":null}', '[[null],[true ] ]',
                       '["nan",null]')
    assert got["python"][1] == ((1, 0, 0, 0) if strict else (0, 0, 0, 1))
    _alike(got)


@st.composite
def _epoch_text(draw: Any) -> str:
    """An epoch as JSON: a number (integer, fraction, exponent) or a string of digits, at
    the edges of the units (1e11, 1e14, 1e17), of BIGINT and of years 1 and 9999."""
    edge = draw(st.sampled_from([0, 10**11, 10**14, 10**17, 2**63, 253402300799 * 10**9,
                                 62135596800 * 10**9, 1787313600]))
    whole = edge + draw(st.integers(-3, 3)) * draw(st.sampled_from([1, 10**3, 10**9]))
    whole *= draw(st.sampled_from([1, 1, -1]))
    fraction = draw(st.sampled_from(["", "", ".5", ".0", ".9999999999", ".0000000001"]))
    text = f"{whole}{fraction}"
    if text.startswith("-") and draw(st.booleans()):
        text = "-0" + fraction if whole == 0 else text
    shape = draw(st.sampled_from(["number", "string", "exponent"]))
    if shape == "string":
        return f'"{text}"'
    if shape == "exponent":
        return f"{float(text):e}"
    return text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(st.lists(st.tuples(_epoch_text(), st.booleans()), min_size=1, max_size=20))
def test_epoch_times_read_alike_on_both_engines(times: list[tuple[str, bool]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "access.json"
        log.write_text("".join(_json_line(time, caddy) + "\n" for time, caddy in times),
                       encoding="utf-8")
        got = {engine: (sorted(row["time"] or "" for row in rows), counts)
               for engine, (rows, counts) in _read(log, "json").items()}
    assert got["duckdb"] == got["python"]


def test_ingest_stores_the_hostile_json_the_same_by_either_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ingest's fast path (the duckdb engine's SQL) and its Python path agree on the
    lines above: epochs at every edge, literals after commas, a byte order mark."""
    from .test_store import _contents, _ingest_both

    target = "/t/acme/1.0/linux"
    times = [time for time, _ in _EPOCHS] + ["1787313600", '"2026-08-22T09:00:00Z"']
    lines = [('{"time":' + time + ',"request":"GET ' + target + ' HTTP/1.1","status":204,'
              '"agent":"a,]","client":"198.51.100.' + str(i) + '","x":[1,true]}')
             for i, time in enumerate(times)]
    log = tmp_path / "access.json"
    log.write_bytes(BOM + "".join(line + "\n" for line in lines).encode())
    from pathbeacon.analysis import store

    seeded = store.DayKeys(str(tmp_path / "python.duckdb.keys"))  # one key per day, both
    for day in [*(f"2026-08-{day}" for day in range(15, 26)),
                *(want[:10] for _, want in _EPOCHS if want)]:
        seeded(day)
    slow, fast, pieces = _ingest_both(monkeypatch, tmp_path, log, "json")
    assert pieces and fast == slow
    assert fast[0].counts.matched >= len(times) - 6
    assert _contents(tmp_path / "fast.duckdb") == _contents(tmp_path / "python.duckdb")


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_a_cloudfront_fields_line_within_a_log_changes_the_layout_on_every_engine(
        tmp_path: Path, session: Any, compress: bool) -> None:
    """A ``#Fields`` line holds for the lines after it in the same file (formats'
    CloudFrontParser): the duckdb engine read every line by the layout at the top."""
    def line(*values: str) -> str:
        return "\t".join(values) + "\n"

    first = ("#Version: 1.0\n#Fields: date time c-ip cs(User-Agent) sc-status cs-uri-stem\n"
             + line("2026-08-21", "10:00:00", "198.51.100.4", "ua", "200", TARGET))
    second = ("#Fields: date time sc-status cs-uri-stem c-ip cs(User-Agent)\n"
              + line("2026-08-21", "11:00:00", "204", TARGET, "198.51.100.5", "ua")
              + line("2026-08-22", "11:00:00", "404", TARGET, "198.51.100.5", "ua"))
    third = ("#Fields: date time c-ip cs(User-Agent) sc-status cs-uri-stem\n"
             + line("2026-08-23", "10:00:00", "198.51.100.6", "ua", "200", TARGET))
    data = (first + second + third).encode()
    log = tmp_path / ("cf.log.gz" if compress else "cf.log")
    log.write_bytes(gzip.compress(data) if compress else data)
    got = _read(log, "cloudfront", session)
    assert tuple(got["python"][1]) == (3, 1, 4, 0)
    _alike(got)
    want_stats = stats(TEMPLATE, [str(log)], ["version"], base=BASE, k=1, every="day",
                       engine="python", format="cloudfront")
    for engine in _engines(session):
        assert stats(TEMPLATE, [str(log)], ["version"], base=BASE, k=1, every="day",
                     engine=engine, format="cloudfront") == want_stats


@pytest.mark.parametrize("header", [
    b"#Fields: date time c-ip cs(User-Agent) sc-status cs-uri-stem \xff",  # not UTF-8
    "#Fields: date time c-ip cs(User-Agent) sc-status cs-uri-stem \U0010ffff".encode(),
    b"#Fields: date time c-ip cs(User-Agent) sc-status cs-uri-stem",
])
def test_a_cloudfront_fields_line_that_is_not_text_is_malformed_and_sets_no_layout(
        tmp_path: Path, session: Any, header: bytes) -> None:
    data = (header + b"\n" + "\t".join(["2026-08-21", "10:00:00", "198.51.100.4", "ua", "200",
                                          TARGET]).encode() + b"\n")
    log = tmp_path / "cf.log"
    log.write_bytes(data)
    got = _read(log, "cloudfront", session)
    assert got["python"][1] == ((1, 0, 1, 0) if header.isascii() else (0, 0, 0, 2))
    _alike(got)


# JSON text at the edges of the strict-JSON gate: what DuckDB's reader accepts beyond
# RFC 8259 (NaN, Infinity, trailing commas) as values and inside strings, next to literals
_JSON_ATOMS = st.sampled_from([
    "true", "false", "null", "0", "-0", "2e2", "204.0", "1e999", '"a,]"', '",}"', '"NaN"',
    '"-Infinity"', '"\\u0000"', '"\\/"', '"nan,]"', "NaN", "-Infinity", "Infinity", "nan",
    "-inf",
])
_SPACE = st.sampled_from(["", "", " ", "\t", "  "])


@st.composite
def _json_text(draw: Any, depth: int = 0) -> str:
    kind = draw(st.sampled_from(["atom", "atom", "array", "object"] if depth < 3 else ["atom"]))
    if kind == "atom":
        return str(draw(_JSON_ATOMS))
    items = draw(st.lists(_json_text(depth + 1), max_size=3))
    if kind == "object":
        items = [f'"k{i % 2}"{draw(_SPACE)}:{draw(_SPACE)}{item}' for i, item in enumerate(items)]
    comma = "," if items and draw(st.integers(0, 9)) == 0 else ""  # a trailing comma
    body = ("," + draw(_SPACE)).join(items) + comma + draw(_SPACE)
    return ("[" + body + "]") if kind == "array" else ("{" + body + "}")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(st.lists(_json_text(), min_size=1, max_size=15))
def test_json_beside_the_read_keys_is_judged_alike(extras: list[str]) -> None:
    """Strict JSON or not, the line is judged alike (its beacon read, or malformed)."""
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "access.json"
        log.write_text("".join('{"request":"GET ' + TARGET + '","status":204,"agent":"a,]",'
                               '"x":' + extra + "}\n" for extra in extras), encoding="utf-8")
        got = {engine: (len(rows), counts)
               for engine, (rows, counts) in _read(log, "json").items()}
    assert got["duckdb"] == got["python"]


def _nginx(extra: str = "", agent: str = "ua") -> str:
    """The common nginx JSON line, with ``extra`` (``,"key":value``) after its client."""
    return (NGINX_JSON[:-1].replace('"agent":"ua"', f'"agent":"{agent}"') + extra + "}")


def _caddy_line(size: str) -> str:
    """Caddy's common line (its fast cut's shape), its answer's size written ``size``."""
    return ('{"level":"info","ts":1787313600.5,"logger":"l","msg":"m","request":{"remote_ip":'
            '"198.51.100.1","proto":"HTTP/1.1","method":"GET","host":"h","uri":"' + TARGET
            + '","headers":{"User-Agent":["ua"]}},"bytes_read":0,"duration":0.1,"size":'
            + size + ',"status":204,"resp_headers":{}}')


_EMOJI = "\U0001f600"  # one character, two UTF-16 code units


_BOUNDS = {
    # numbers: up to 1,000 digits (integer, fraction and exponent together), any sign
    "int-1000": (_nginx(',"x":1' + "0" * 999), True),
    "int-1001": (_nginx(',"x":1' + "0" * 1000), False),
    "negative-1000": (_nginx(',"x":-1' + "0" * 999), True),
    "negative-1001": (_nginx(',"x":-1' + "0" * 1000), False),
    "fraction-1000": (_nginx(',"x":1' + "0" * 998 + ".5"), True),
    "fraction-1001": (_nginx(',"x":1' + "0" * 999 + ".5"), False),
    "exponent-1000": (_nginx(',"x":1' + "0" * 997 + "e10"), True),
    "exponent-1001": (_nginx(',"x":1' + "0" * 999 + "e1"), False),
    "in-a-list-1000": (_nginx(',"x":[1.' + "0" * 998 + "1]"), True),
    "in-a-list-1001": (_nginx(',"x":[1.' + "0" * 999 + "1]"), False),
    # (a whole part written 0 counts no digit)
    "zero-fraction-1000": (_nginx(',"x":-0.' + "0" * 999 + "1"), True),
    "zero-fraction-1001": (_nginx(',"x":0.' + "0" * 1000 + "1"), False),
    "zero-exponent-1000": (_nginx(',"x":0e' + "1" * 1000), True),
    "zero-fraction-exponent-1001": (_nginx(',"x":0.' + "0" * 999 + "1e5"), False),
    "int-5000": (_nginx(',"x":' + "9" * 5000), False),  # past Python's own int limit
    # Caddy's common line: a number longer than its fast cut takes
    "caddy-41": (_caddy_line("1" * 41), True),
    "caddy-1001": (_caddy_line("1" * 1001), False),
    # keys: up to 50,000 UTF-16 code units once unescaped, at any depth
    "key-50000": (_nginx(',"' + "k" * 50_000 + '":1'), True),
    "key-50001": (_nginx(',"' + "k" * 50_001 + '":1'), False),
    "key-50001-space": (_nginx(',"' + "k" * 50_001 + '" :1'), False),
    "key-euro-25001": (_nginx(',"' + "\u20ac" * 25_001 + '":1'), True),  # 75,003 bytes
    "key-emoji-25000": (_nginx(',"' + _EMOJI * 25_000 + '":1'), True),
    "key-emoji-25001": (_nginx(',"' + _EMOJI * 25_001 + '":1'), False),
    "key-escapes-10001": (_nginx(',"' + "\\u006b" * 10_001 + '":1'), True),
    "key-escapes-50001": (_nginx(',"' + "\\u006b" * 50_001 + '":1'), False),
    "key-nested-50001": (_nginx(',"x":{"' + "k" * 50_001 + '":1}'), False),
}


@pytest.mark.parametrize(("line", "read"), list(_BOUNDS.values()), ids=list(_BOUNDS))
def test_json_past_sparks_parser_bounds_is_malformed_on_every_engine(
        tmp_path: Path, session: Any, line: str, read: bool) -> None:
    """Spark's JSON parser refuses a number of more than 1,000 digits and a key of more
    than 50,000 UTF-16 code units (Jackson's bounds); Python's stops at 4,300 digits and
    DuckDB's at neither. A line holding one is malformed on every engine."""
    log = tmp_path / "access.json"
    log.write_text(line + "\n", encoding="utf-8")
    got = _read(log, "json", session)
    assert got["python"][1] == ((1, 0, 0, 0) if read else (0, 0, 0, 1))
    _alike(got)


@pytest.mark.parametrize(("line", "read"), [
    (_nginx(',"x":"' + "s" * 20_000_000 + '"'), True),
    (_nginx(',"x":"' + "s" * 20_000_001 + '"'), False),
    (_nginx(',"x":["' + _EMOJI * 10_000_001 + '"]'), False),
    (_nginx(agent="a" * 20_000_001), False),  # the fast cut's shape
    (_nginx().replace("14:00:00+00:00", "14:00:00." + "0" * 20_000_000 + "+00:00"), False),
], ids=["20M", "20M+1", "emoji-in-a-list", "agent", "time"])
@pytest.mark.parametrize("by_line", [False, True], ids=["batch", "line-by-line"])
def test_json_strings_past_sparks_bound_are_malformed(tmp_path: Path, line: str,
                                                      read: bool, by_line: bool) -> None:
    """A string of more than 20,000,000 UTF-16 code units is malformed (python and
    duckdb here: a Spark session of the tests' size runs out of heap on such lines),
    also where the python engine reads lines one by one (a batch holding a line that
    is not UTF-8)."""
    log = tmp_path / "access.json"
    log.write_bytes((b"\xff\n" if by_line else b"") + line.encode() + b"\n")
    got = _read(log, "json")
    assert got["python"][1] == ((1, 0, 0, int(by_line)) if read else (0, 0, 0, 1 + by_line))
    _alike(got)


@st.composite
def _long_number(draw: Any) -> tuple[str, int]:
    """A JSON number near 1,000 digits, and its digits as Jackson counts them."""
    whole = draw(st.sampled_from(["0", "1", "9" * draw(st.integers(1, 1010))]))
    fraction = draw(st.sampled_from(["", "0" * draw(st.integers(0, 1010)) + "5"]))
    exponent = draw(st.sampled_from(["", "1" * draw(st.integers(1, 1010))]))
    text = (draw(st.sampled_from(["", "-"])) + whole + (f".{fraction}" if fraction else "")
            + (draw(st.sampled_from(["e", "E+", "e-"])) + exponent if exponent else ""))
    return text, (len(whole) if whole != "0" else 0) + len(fraction) + len(exponent)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(st.lists(_long_number(), min_size=1, max_size=8))
def test_numbers_near_the_digit_bound_are_judged_alike(numbers: list[tuple[str, int]]) -> None:
    """A line is read exactly when each number in it has at most 1,000 digits."""
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "access.json"
        log.write_text("".join(_nginx(f',"x":[{text}]') + "\n" for text, _ in numbers),
                       encoding="utf-8")
        got = _read(log, "json")
    fit = sum(digits <= 1000 for _, digits in numbers)
    assert got["python"][1] == (fit, 0, 0, len(numbers) - fit)
    _alike(got)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(st.lists(st.sampled_from([b"a", b"\xc3\xa9", b"\r", b"\n", b"\r\n"]), max_size=30),
       st.booleans(), st.booleans())
def test_duckdbs_reader_ends_lines_at_a_lone_cr_and_keeps_every_byte(
        pieces: list[bytes], compress: bool, whole: bool) -> None:
    """The duckdb engine's reader ends a line at "\\n", "\\r\\n" or a lone "\\r" (as
    Spark's does) and drops no byte: left to guess, it dropped the byte after a lone
    "\\r" once the file had had a "\\r\\n", and could empty a line."""
    import re

    import duckdb

    from pathbeacon.analysis.engines.duckdb import logs_relation

    data = b"".join(pieces)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / ("access.log.gz" if compress else "access.log")
        log.write_bytes(gzip.compress(data) if compress else data)
        relation = logs_relation([str(log)], compress, whole=whole)
        with duckdb.connect() as con:
            got = [line for (line,) in con.execute(f"SELECT line FROM {relation}").fetchall()
                   if line]
    assert got == [part.decode() for part in re.split(rb"\r\n|\r|\n", data) if part]


@pytest.mark.parametrize("data", [b"A\r\nB\rCD\r\nE\rF\n", b"/x\r\n\rZ\n", b"A\r\n\r\xc3\xa9B\n"])
def test_duckdbs_reader_keeps_the_byte_after_a_lone_cr(tmp_path: Path, data: bytes) -> None:
    """The cases an adversarial review found (the explicit examples of the property)."""
    import duckdb

    from pathbeacon.analysis.engines.duckdb import logs_relation

    log = tmp_path / "access.log"
    log.write_bytes(data)
    with duckdb.connect() as con:
        got = "".join(line for (line,) in con.execute(
            f"SELECT line FROM {logs_relation([str(log)], False)}").fetchall())
    assert got == data.replace(b"\r", b"").replace(b"\n", b"").decode()


@pytest.mark.parametrize(("name", "decoy"), [
    ("x[1].log", "x1.log"), ("y?.log", "yz.log"), ("a*b.log", "aXb.log"),
    ("c{1,2}.log", "c1.log"), ("~t.log", None), ("d:e.log", None), ("f\\g.log", None),
])
def test_a_log_named_like_a_pattern_is_read_as_that_one_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, session: Any, name: str,
        decoy: str | None) -> None:
    """The SQL engines' readers take a path for a glob (DuckDB's and Hadoop's), "~" for
    the home folder, ":" for a URL's: a log is read as the one file its name says, beside
    files its name would match as a pattern."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_text(COMBINED + "\n", encoding="utf-8")
    if decoy:
        (tmp_path / decoy).write_text((COMBINED + "\n") * 3, encoding="utf-8")
    got = _read(Path(name), "combined", session)
    assert got["python"][1] == (1, 0, 0, 0)
    _alike(got)


def _gzip_member(data: bytes, flags: int) -> bytes:
    """``data`` as one gzip member whose header holds ``flags`` (a comment "c", a header
    checksum), as gzip writers may."""
    import struct
    import zlib

    head = b"\x1f\x8b\x08" + bytes([flags]) + b"\x00\x00\x00\x00\x00\xff"
    if flags & 0x10:
        head += b"c\x00"
    if flags & 0x02:
        head += struct.pack("<H", zlib.crc32(head) & 0xFFFF)
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = squeeze.compress(data) + squeeze.flush()
    return head + body + struct.pack("<II", zlib.crc32(data), len(data))


@pytest.mark.parametrize("flags", [0x01, 0x02, 0x10, 0x12, 0x20],
                         ids=["text", "header-crc", "comment", "both", "reserved"])
def test_a_gzip_log_whose_header_has_flags_is_read_on_every_engine(
        tmp_path: Path, session: Any, flags: int) -> None:
    """DuckDB's gzip reader refused a valid header with a comment or a header checksum
    ("Unsupported GZIP archive"), which Python's reads: such a log is read from a copy."""
    log = tmp_path / "access.log.gz"
    log.write_bytes(_gzip_member(((COMBINED + "\n") * 3).encode(), flags))
    got = _read(log, "combined", session)
    assert got["python"][1] == (3, 0, 0, 0)
    _alike(got)
