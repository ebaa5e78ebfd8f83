"""The python engine's fast paths give exactly what the plain rules give (issue 17).

The engine reads lines in batches (:func:`_batches`), parses a batch at once
(``Parser.scan_text``), reads nginx's own JSON line by one regex, converts times per
distinct date, and keeps reporter-days as hashes that move to a temporary file past
``SPILL_AFTER``: each is compared here with the line-by-line rule it stands for.
"""

from __future__ import annotations

import io
import string
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pathbeacon.analysis import stats
from pathbeacon.analysis.engines import python as engine
from pathbeacon.analysis.formats import (
    NONCHARACTER,
    JsonParser,
    json_time,
    line_text,
    parser,
)

from .logs import Hit, write_log

# ---- batches of lines ---------------------------------------------------------------


def _reference_lines(data: bytes) -> list[str | None]:
    """The rule of formats' docstring: split on \\n, one \\r off, empty lines skipped,
    None for a line that is not text."""
    lines: list[str | None] = []
    for raw in data.split(b"\n"):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if raw:
            lines.append(line_text(raw))
    return lines


def _batched_lines(data: bytes) -> list[str | None]:
    lines: list[str | None] = []
    for batch in engine._batches(io.BufferedReader(io.BytesIO(data))):  # type: ignore[arg-type]
        if isinstance(batch, str):
            lines += [line for line in batch.split("\n") if line]
        else:
            lines += batch
    return lines


_PIECES = [b"a", b"b c", b"\r", b"\n", b"\r\n", b"\n\n", b"\xff", b"\xc3\xa9",
           NONCHARACTER.encode(), b" ", b"\r\r\n"]


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(st.sampled_from(_PIECES), max_size=30), size=st.integers(1, 40))
@example(pieces=[b"a", b"\r"], size=8)  # a last line without \n keeps losing its \r
@example(pieces=[b"a", b"\r\r\n", b"b"], size=8)  # only one \r comes off
def test_batches_give_the_lines_of_the_rule(pieces: list[bytes], size: int) -> None:
    data = b"".join(pieces)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine, "BATCH_BYTES", size)
        assert _batched_lines(data) == _reference_lines(data)


# ---- parsers: a batch at once, and nginx's own JSON line -------------------------------

_TEXT = st.text(alphabet=string.ascii_letters + string.digits + ' /.-:"\\[]{}\t\x01é',
                max_size=12)
# mostly real times (so that every zone is tried on them), and each way to be unreal
_ISO = st.builds(
    "{}-{}-{}{}{}:{}:{}{}{}".format,
    st.sampled_from(["2026", "2026", "0001", "9999", "0000"]),
    st.sampled_from(["08", "08", "02", "13", "00"]),
    st.sampled_from(["21", "21", "29", "31", "01"]),
    st.sampled_from(["T", "T", "t", " ", "x"]),
    st.sampled_from(["14", "14", "00", "23", "24"]),
    st.sampled_from(["00", "00", "59", "60"]),
    st.sampled_from(["09", "09", "59", "60", "5"]),
    st.sampled_from(["", "", "", ".5", ",123"]),
    st.sampled_from(["", "Z", "z", "+00:00", "-05:30", "+0200", "+14", "+99:99", "-23:59",
                     "+1", "\n"]),
)


def _json_line(when: str, request: str, status: str, agent: str, client: str | None,
               extra: str) -> str:
    line = f'{{"time":"{when}","request":"{request}","status":{status},"agent":"{agent}"'
    if client is not None:
        line += f',"client":"{client}"'
    return line + "}" + extra


_JSON_LINES = st.builds(
    _json_line,
    st.one_of(_ISO, _TEXT),
    st.one_of(st.sampled_from(["/t/acme/1.0/linux", "GET /t/x HTTP/1.1", "GET  /t", "",
                               "/t/a\\u0041", "/t/[x]"]), _TEXT),
    st.sampled_from(["204", "0", "999", "1000", "0204", "-1", "204.0", '"204"', "2e2"]),
    _TEXT,
    st.one_of(st.none(), _TEXT),
    st.sampled_from(["", " ", "x", "}", "\r"]),
)


@settings(max_examples=500, deadline=None)
@given(line=_JSON_LINES)
@example(line='{"time":"2026-08-21T14:00:00+02:00","request":"/t/x","status":204,'
              '"agent":"a","client":"192.0.2.1"}')
@example(line='{"time":"0001-01-01T00:00:00+00:01","request":"/t","status":0,"agent":""}')
@example(line='{"time":"2026-08-21T14:00:00Z","request":"/t/' + "[" * 500 + '","status":204,'
              '"agent":"a"}')  # over JSON_MAX_BRACKETS
def test_nginx_json_line_reads_as_the_json_rule(line: str) -> None:
    assert JsonParser().parse(line) == JsonParser().parse_object(line)


@settings(max_examples=300, deadline=None)
@given(text=_ISO)
@example(text="2026-08-21T23:30:09-05:30")
@example(text="2026-08-21T00:30:09+14")
@example(text="9999-12-31T23:59:59-23:59")  # past year 9999 in UTC: unreadable
def test_json_times_convert_as_json_time(text: str) -> None:
    try:
        expected: object = json_time(text)
    except (ValueError, OverflowError):
        expected = ValueError
    try:
        got: object = JsonParser()._time(text)
    except ValueError:
        got = ValueError
    assert got == expected


def _combined_line(client: str, when: str, request: str, status: str, rest: str) -> str:
    return f'{client} - - [{when}] "{request}" {status} 0{rest}'


_COMBINED_LINES = st.builds(
    _combined_line,
    st.sampled_from(["192.0.2.1", "2001:db8::1", "a[b", ""]),
    st.sampled_from(["21/Aug/2026:14:00:09 +0200", "31/Feb/2026:00:00:00 +0000",
                     "01/Jan/0001:00:30:00 +0100", "31/Dec/9999:23:59:59 -0100",
                     "21/Aug/2026:24:00:00 +0000", "21/Aug/2026:14:60:00 +0000",
                     "21/Aug/2026:14:00:60 +0000", "21/Agu/2026:14:00:00 +0000",
                     "21/Aug/2026:14:00:00 +0030", "21/Aug/2026:23:59:59 -1400",
                     "21/Aug/2026:00:00:00 -2400", "21/Aug/2026:23:59:59 +9999"]),
    st.one_of(st.sampled_from(["GET /t/acme/1.0/linux HTTP/1.1", "-", "GET /t/\\x22 x",
                               'GET /t\\"x HTTP/1.1', "GET  /t/x", "HEAD /t/x"]), _TEXT),
    st.sampled_from(["204", "404", "20", "2040"]),
    st.sampled_from(["", ' "-" "agent/1.0"', " x", "x", ' "-" "a\\"b"', "\r"]),
)


@settings(max_examples=500, deadline=None)
@given(lines=st.lists(st.one_of(_COMBINED_LINES, _JSON_LINES, _TEXT), max_size=8))
@example(lines=['203.0.113.9 a] "b [21/Aug/2026:14:00:00 +0000] "GET /telemetry/acme/1.0/'
                'Linux/x86_64/3.11/true HTTP/1.1" 204 0 "-" "ua"'])
def test_a_batch_reads_as_its_lines(lines: list[str]) -> None:
    lines = [line.replace("\n", " ") for line in lines]
    text = "\n".join(line.rstrip("\r") for line in lines)
    for name in ("combined", "json", "s3", "urls", "cloudfront"):
        expected = []
        for line in text.split("\n"):
            if line:
                record = parser(name).parse(line)
                if record is not None and name == "combined":
                    record = (*record[:3], None, record[4])  # scan leaves out the agent
                expected.append(record)
        if name != "cloudfront":  # its #Fields lines change the lines after them
            assert [parser(name).scan(line) for line in text.split("\n") if line] == expected
        assert parser(name).scan_text(text) == expected, name


# ---- reporter-days: spilled to a file, counted the same ----------------------------------

T = "<base>/<package>/<version>/<os>"
DAY = datetime(2026, 8, 21, 10, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("string_hash", [True, False], ids=["hash", "blake2b"])
def test_reporter_days_spilled_many_times_count_the_same(tmp_path: Path, string_hash: bool,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    monkeypatch.setattr(engine, "_RANDOM_STRING_HASH", string_hash)  # reporter_key's ways
    # 1.x from many addresses over 9 days, 2.x from few (they fold), IPv6 in one /64
    hits = [Hit(f"/t/acme/{'1.0' if i % 3 else f'2.{i % 4}'}/{('linux', 'mac')[i % 2]}",
                client=(f"192.0.2.{i % 50}" if i % 3 else
                        f"2001:db8::{i % 7:x}" if i % 2 else f"198.51.100.{i % 6}"),
                time=DAY + timedelta(hours=5 * i))
            for i in range(400)]
    log = write_log(tmp_path / "a.log", "combined", hits + hits[::3])  # and repeats
    queries = [dict(k=1), dict(k=2), dict(k=3, every="day"), dict(k=12, by=["os"]),
               dict(k=2, every="week", since=(DAY + timedelta(days=2)).date())]

    def answers() -> list[dict]:
        return [stats(T, [str(log)], q.pop("by", ["version"]), engine="python", **q)
                for q in (dict(q) for q in queries)]

    before = answers()
    spilled: list[int] = []
    spill = engine._ReporterDays._spill

    def counted(self: engine._ReporterDays) -> None:
        spilled.append(len(self.groups))
        spill(self)

    monkeypatch.setattr(engine._ReporterDays, "_spill", counted)
    monkeypatch.setattr(engine, "SPILL_AFTER", 7)
    monkeypatch.setattr(engine, "BATCH_BYTES", 500)  # a few lines a batch: many spills
    assert answers() == before
    assert len(spilled) > 5 * len(queries)
    folded = [r for r in before[1]["rows"] if r["version"] == "other"]
    assert folded and folded[0]["reporters"] < folded[0]["events"]

