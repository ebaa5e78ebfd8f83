"""The faster SQL keeps the python engine's answer on the lines that tell regexes apart.

The duckdb engine cuts a combined line with one four-group regex and looks the month up;
these lines are where a shortcut would part from ``COMBINED_RE`` (issue 17).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from pathbeacon.analysis import decode, stats

duckdb = pytest.importorskip("duckdb")

TEMPLATE = "<base>/<package>/<version>/<os>/<arch>/<python>/<ci>"
BASE = "/telemetry"
TARGET = "/telemetry/acme/1.0/Linux/x86_64/3.11/true"


def _both(tmp_path: Path, lines: list[str]) -> dict[str, tuple[list[dict], object]]:
    log = tmp_path / "access.log"
    log.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    out = {}
    for engine in ("python", "duckdb"):
        rows = decode(TEMPLATE, [str(log)], base=BASE, engine=engine, format="combined")
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


def _piece(draw: Any, usual: str, others: list[str], odds: int = 2) -> str:
    """The usual piece but one time in ``odds`` (so that the rest of the line mostly
    fits), then an edge."""
    return usual if draw(st.integers(1, odds)) > 1 else draw(st.sampled_from(others))


@st.composite
def _edge_line(draw: Any) -> str:
    values = [_piece(draw, "1.0", _VALUES, 6) for _ in range(6)]
    target = (_piece(draw, "", _HOSTS)
              + _piece(draw, "/telemetry/", ["/telemetry//", "/Telemetry/", "/telemetry/x/",
                                             "telemetry/"])
              + "/".join(values))
    method = _piece(draw, "GET", _METHODS)
    request = f"{method} {target}" if method else target
    return (f"{_piece(draw, '198.51.100.1', _CLIENTS)} - {_piece(draw, '-', ['u', 'a]'])}"
            f" [{_piece(draw, _TIMES[0], _TIMES)}] \"{request}"
            f"{_piece(draw, ' HTTP/1.1', _PROTOCOLS)}\"{_piece(draw, _TAILS[0], _TAILS)}")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(st.lists(_edge_line(), min_size=1, max_size=12))
def test_lines_at_the_edges_of_the_one_regex_cut_read_alike(lines: list[str]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        got = _both(Path(tmp), lines)
    assert got["duckdb"] == got["python"]
