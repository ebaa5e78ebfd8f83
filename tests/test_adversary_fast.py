"""Adversarial lines at the edges of the fast paths (issue 17's parity): the python and
duckdb engines, and ingest's store, must give the same rows and counts."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from pathbeacon.analysis import decode, stats

pytest.importorskip("duckdb")

TEMPLATE = "<base>/<package>/<version>/<os>/<arch>/<python>/<ci>"
BASE = "/telemetry"
TARGET = "/telemetry/acme/1.0/Linux/x86_64/3.11/true"
COMBINED = (f'198.51.100.1 - - [21/Aug/2026:14:00:00 +0000] "GET {TARGET} HTTP/1.1" 204 0'
            ' "-" "ua"')
NGINX_JSON = ('{"time":"2026-08-21T14:00:00+00:00","request":"GET ' + TARGET + ' HTTP/1.1",'
              '"status":204,"agent":"ua","client":"198.51.100.1"}')
BOM = "\ufeff".encode()


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize(("format", "line"), [("combined", COMBINED), ("json", NGINX_JSON)])
def test_a_byte_order_mark_at_the_start_of_a_log_is_part_of_its_first_line(
        tmp_path: Path, format: str, line: str, compress: bool) -> None:
    """DuckDB's reader drops a UTF-8 byte order mark at a file's start; the python engine
    and ingest read it as the first line's text (a JSON line starting with it is not JSON,
    a combined line's client holds it). Every engine reads the bytes as they are."""
    data = BOM + (line + "\n" + line + "\n").encode()
    log = tmp_path / ("access.log.gz" if compress else "access.log")
    log.write_bytes(gzip.compress(data) if compress else data)
    want = decode(TEMPLATE, [str(log)], base=BASE, engine="python", format=format)
    want_rows, want_counts = sorted(want, key=repr), want.counts
    assert want_counts.malformed == (format == "json")
    got = decode(TEMPLATE, [str(log)], base=BASE, engine="duckdb", format=format)
    assert (sorted(got, key=repr), got.counts) == (want_rows, want_counts)
    # the client "\ufeff198.51.100.1" is another address than "198.51.100.1"
    want_stats = stats(TEMPLATE, [str(log)], ["version"], base=BASE, k=1, engine="python",
                       format=format)
    assert stats(TEMPLATE, [str(log)], ["version"], base=BASE, k=1, engine="duckdb",
                 format=format) == want_stats
