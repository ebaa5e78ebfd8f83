"""The faster SQL keeps the python engine's answer on the lines that tell regexes apart.

The duckdb engine cuts a combined line with one four-group regex and looks the month up;
these lines are where a shortcut would part from ``COMBINED_RE`` (issue 17).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

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
