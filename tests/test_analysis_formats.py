"""Log formats: each parser on lines as real servers write them, and format detection."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pathbeacon.analysis import decode
from pathbeacon.analysis.formats import HEADER, detect, json_time, parser
from pathbeacon.analysis.sources import open_sources

from .conftest import clean_env
from .logs import FLAVOURS, FORMAT_OF, Hit, lines, write_log

T = "<base>/<package>/<version>/<os>"


def parse(fmt: str, line: str):
    return parser(fmt).parse(line)


# --- combined / common --------------------------------------------------------------------

def test_combined_reads_fields_and_converts_the_offset_to_utc() -> None:
    line = ('198.51.100.4 - frank [21/Aug/2026:01:30:59 -0530] "HEAD /t/acme/1.0/linux HTTP/2.0"'
            ' 204 0 "https://example.org/" "pip/24.0 \\x22quoted\\x22 caf\\xC3\\xA9"')
    assert parse("combined", line) == (
        "2026-08-21T07:00:59Z", "/t/acme/1.0/linux", 204,
        "pip/24.0 \\x22quoted\\x22 caf\\xC3\\xA9", "198.51.100.4",
    )


def test_combined_crosses_midnight_and_year_when_converting() -> None:
    line = '::1 - - [01/Jan/2027:01:00:00 +0200] "GET /x HTTP/1.1" 200 5 "-" "-"'
    assert parse("combined", line)[0] == "2026-12-31T23:00:00Z"


def test_common_format_and_extra_trailing_fields_and_apache_escapes() -> None:
    assert parse("combined", '10.0.0.1 - - [21/Aug/2026:12:00:00 +0000] "GET /a HTTP/1.0" 200 -') \
        == ("2026-08-21T12:00:00Z", "/a", 200, None, "10.0.0.1")
    extra = ('10.0.0.1 - - [21/Aug/2026:12:00:00 +0000] "GET /a HTTP/1.1" 200 1 "-" '
             '"say \\"hi\\"" "203.0.113.5" rt=0.001')
    assert parse("combined", extra)[3] == 'say \\"hi\\"'
    # what follows the bytes is the referer and agent only when both are whole
    glued = '10.0.0.1 - - [21/Aug/2026:12:00:00 +0000] "GET /a HTTP/1.1" 200 1 "-" "-"x'
    assert parse("combined", glued)[3] is None


@pytest.mark.parametrize("line", [
    "garbage",
    '10.0.0.1 - - [31/Feb/2026:12:00:00 +0000] "GET /a HTTP/1.1" 200 1 "-" "-"',  # no such day
    '10.0.0.1 - - [21/Aug/2026:24:00:00 +0000] "GET /a HTTP/1.1" 200 1 "-" "-"',  # hour 24
    '10.0.0.1 - - [21/Aug/2026:12:00:60 +0000] "GET /a HTTP/1.1" 200 1 "-" "-"',  # second 60
    '10.0.0.1 - - [21/aug/2026:12:00:00 +0000] "GET /a HTTP/1.1" 200 1 "-" "-"',  # month case
    '10.0.0.1 - - [21/Aug/2026:12:00:00] "GET /a HTTP/1.1" 200 1 "-" "-"',  # no offset
    '10.0.0.1 - - [21/Aug/2026:12:00:00 +0000] "GET /a HTTP/1.1" 20 1 "-" "-"',  # status
    '10.0.0.1 - - [21/Aug/2026:12:00:00 +0000] "GET /a HTTP/1.1" 200 1x "-" "-"',  # glued
    '10.0.0.1 - - [21/Aug/2026:12:00:00 +0000] "GET /a HTTP/1.1 200 1',  # open quote
])
def test_combined_malformed_lines(line: str) -> None:
    assert parse("combined", line) is None


@pytest.mark.parametrize("request_line", ["-", "\\x16\\x03\\x01\\x02", "GET", "GET /a b HTTP/1.1",
                                          "GET  /a HTTP/1.1"])
def test_a_request_that_cannot_be_split_has_no_target(request_line: str) -> None:
    line = f'10.0.0.1 - - [21/Aug/2026:12:00:00 +0000] "{request_line}" 400 0 "-" "-"'
    record = parse("combined", line)
    assert record is not None and record[1] is None


# --- json ---------------------------------------------------------------------------------

def test_nginx_json_keys() -> None:
    line = json.dumps({"time": "2026-08-21T14:00:00+02:00", "request": "GET /t/a/1/l HTTP/1.1",
                       "status": "204", "agent": "pip/24", "client": "192.0.2.9"})
    assert parse("json", line) == ("2026-08-21T12:00:00Z", "/t/a/1/l", 204, "pip/24",
                                   "192.0.2.9")
    no_client = json.dumps({"time": "21/Aug/2026:14:00:00 +0200", "uri": "/x", "status": 302,
                            "agent": "", "client": ""})
    assert parse("json", no_client) == ("2026-08-21T12:00:00Z", "/x", 302, None, None)


def test_caddy_access_log_line() -> None:
    line = json.dumps({
        "level": "info", "ts": 1787313600.4567, "logger": "http.log.access", "msg": "handled request",
        "request": {"remote_ip": "2001:db8::7", "remote_port": "51234", "proto": "HTTP/2.0",
                    "method": "GET", "host": "g.example", "uri": "/t/acme/1.0/linux?",
                    "headers": {"User-Agent": ["pip/24.0", "other"], "Accept": ["*/*"]}},
        "status": 204, "size": 0, "duration": 0.0001,
    })
    assert parse("json", line) == ("2026-08-21T12:00:00Z", "/t/acme/1.0/linux?", 204,
                                   "pip/24.0", "2001:db8::7")


@pytest.mark.parametrize("stamp", ["2026-08-21T12:00:00Z", "2026-08-21T12:00:00.999Z",
                                   1787313600, 1787313600999, 1787313600999999,
                                   1787313600999999999, "1787313600", "2026-08-21 14:00:00+0200"])
def test_cloudflare_timestamp_forms(stamp: object) -> None:
    line = json.dumps({"EdgeStartTimestamp": stamp, "ClientRequestURI": "/t/a", "ClientIP": "192.0.2.1",
                       "EdgeResponseStatus": 200, "ClientRequestUserAgent": "curl/8"})
    assert parse("json", line) == ("2026-08-21T12:00:00Z", "/t/a", 200, "curl/8", "192.0.2.1")


@pytest.mark.parametrize("line", [
    "not json", "[1, 2]", '"text"', '{"status": 204}', '{"uri": 5, "status": 204}',
    '{"uri": "/a", "status": true}', '{"uri": "/a", "status": "2040"}', '{"uri": "/a"}',
    '{"uri": "/a", "status": 204, "time": "yesterday"}',
    '{"uri": "/a", "status": 204, "time": "2026-02-30T00:00:00Z"}',
    '{"uri": "/a", "status": 204, "agent": "\\ud800"}',
])
def test_json_malformed(line: str) -> None:
    assert parse("json", line) is None


def test_json_without_time_has_none() -> None:
    assert parse("json", '{"uri": "/a", "status": 204, "agent": "\\ud83d\\udc0d"}') == (
        None, "/a", 204, "\U0001f40d", None)


# --- cloudfront ---------------------------------------------------------------------------

def test_cloudfront_headers_count_other_path_and_fields_follow_the_header(
        tmp_path: Path) -> None:
    p = parser("cloudfront")
    assert p.parse("#Version: 1.0") is HEADER
    assert p.parse("#Fields: time date cs-uri-query sc-status cs-uri-stem c-ip") is HEADER
    assert p.parse("12:00:01\t2026-08-21\tv=1\t304\t/t/a\t192.0.2.3") == (
        "2026-08-21T12:00:01Z", "/t/a?v=1", 304, None, "192.0.2.3")
    assert p.parse("12:00:01\t2026-08-21\t-\t200") is None  # too few values
    assert p.parse("#Fields: date time c-ip") is HEADER
    assert p.parse("2026-08-21\t12:00:00\t192.0.2.3") is None  # no stem or status: malformed
    log = write_log(tmp_path / "cf.log", "cloudfront", [Hit("/t/acme/1.0/linux", status=200)])
    rows = decode(T, [str(log)], engine="python")
    assert [r["os"] for r in rows] == ["linux"]
    # every non-empty line is in one count: the two header lines carry no request
    assert rows.counts == (1, 0, 2, 0)


# --- s3 and urls --------------------------------------------------------------------------

def test_s3_line_with_dashes() -> None:
    hit = Hit("/bucket/t/acme/1.0/linux", status=200, agent="aws-cli/2.0 \"x\"")
    line = lines("s3", [hit])[0]
    assert parse("s3", line) == ("2026-08-21T12:00:00Z", "/bucket/t/acme/1.0/linux", 200,
                                 'aws-cli/2.0 \\x22x\\x22', "192.0.2.1")
    dashed = line.replace('"GET /bucket/t/acme/1.0/linux HTTP/1.1" 200', "- -")
    assert parse("s3", dashed)[1:3] == (None, None)


def test_urls_lines() -> None:
    assert parse("urls", "HTTPS://g.example:8443/t/a?x=1") == (
        None, "HTTPS://g.example:8443/t/a?x=1", 200, None, None)
    for bad in ["url", "g.example/t/a", "/a b", "ftp://x/y", "https://", " /a"]:
        assert parse("urls", bad) is None, bad


# --- times, detection, sources ------------------------------------------------------------

def test_json_time_rejects_nonsense() -> None:
    for bad in ["", "now", "2026-08-21", "2026-08-21T12:00", True, [1], {"a": 1}]:
        with pytest.raises(ValueError):
            json_time(bad)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_every_flavour_is_detected(flavour: str, tmp_path: Path) -> None:
    hits = [Hit(f"/t/acme/1.{i}/linux") for i in range(3)]
    path = write_log(tmp_path / "x.log", flavour, hits, gz=True)
    assert [s.format for s in open_sources([str(path)])] == [FORMAT_OF[flavour]]
    head = gzip.decompress(path.read_bytes()).splitlines()
    assert detect(head) == FORMAT_OF[flavour]


def test_detection_failures_are_one_clear_line(tmp_path: Path) -> None:
    odd = tmp_path / "odd.txt"
    odd.write_text("hello world\nsecond line\n")
    with pytest.raises(ValueError, match=r"cannot tell the log format of .*odd\.txt.*--format"):
        open_sources([str(odd)])
    with pytest.raises(ValueError, match=r"cannot read .*missing\.log"):
        open_sources([str(tmp_path / "missing.log")])
    with pytest.raises(ValueError, match="unknown log format 'apache'"):
        open_sources([str(odd)], "apache")
    with pytest.raises(ValueError, match="cannot read"):
        open_sources([str(tmp_path)])  # a directory
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"\n\n")
    assert decode(T, [str(empty)], engine="python").counts == (0, 0, 0, 0)


def test_crlf_and_gzip_without_gz_name(tmp_path: Path) -> None:
    text = "".join(f"{line}\r\n" for line in lines("combined", [Hit("/t/a/1/linux")] * 3))
    path = tmp_path / "access.log.1"
    path.write_bytes(gzip.compress(text.encode()))
    rows = decode(T, [str(path)], engine="python")
    assert [r["os"] for r in rows] == ["linux"] * 3


def test_standard_input_is_detected_and_read_once() -> None:
    log = "\n".join(lines("caddy", [Hit(f"/t/acme/{i}/linux") for i in range(30)])) + "\n"
    code = (
        "from pathbeacon.analysis import decode\n"
        "rows = decode('<base>/<package>/<version>/<os>', ['-'], engine='python')\n"
        "print(len(list(rows)), tuple(rows.counts))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], input=gzip.compress(log.encode()),
                          capture_output=True, timeout=60, env=clean_env())
    assert done.stdout.decode().split("\n")[0] == "30 (30, 0, 0, 0)", done.stderr


def test_a_damaged_gzip_log_is_one_clear_error(tmp_path: Path) -> None:
    data = gzip.compress("\n".join(lines("combined", [Hit("/t/a/1/linux")] * 2000)).encode())
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(data[: len(data) // 2])
    rows = decode(T, [str(cut)], engine="python")
    with pytest.raises(ValueError, match=r"cannot read .*cut\.log\.gz"):
        list(rows)
    bad = tmp_path / "bad.log.gz"
    bad.write_bytes(data[:20] + b"\x00" * 200 + data[220:])
    with pytest.raises(ValueError, match="cannot read"):
        list(decode(T, [str(bad)], engine="python", format="combined"))


def test_decoded_rows_release_the_engine_that_made_them(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import pathbeacon.analysis as analysis
    from pathbeacon.analysis.engines.python import PythonEngine

    closed: list[str] = []

    class Probe(PythonEngine):
        def close(self) -> None:
            closed.append("closed")

    monkeypatch.setattr(analysis, "get", lambda name, **options: Probe())
    log = write_log(tmp_path / "a.log", "combined", [Hit("/t/a/1/linux")])
    with decode(T, [str(log)]) as rows:
        assert [r["os"] for r in rows] == ["linux"]
        assert closed == []
    assert closed == ["closed"]
    given = Probe()
    with decode(T, [str(log)], engine=given) as rows:  # an engine passed in stays open
        list(rows)
    assert closed == ["closed"]
