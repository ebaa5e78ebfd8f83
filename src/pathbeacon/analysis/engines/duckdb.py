"""The duckdb engine: the compiled SQL run by DuckDB, which reads the logs itself.

DuckDB's CSV reader splits each file (plain or gzip) into lines on all cores: one
``VARCHAR`` column, no quoting, and a delimiter no log holds (U+10FFFF, a noncharacter),
so a line arrives whole, whatever its length (a line holding that noncharacter is
``malformed`` on every engine). A line that is not valid UTF-8 is set aside by the reader
and counted ``malformed``. Each line then goes through :func:`~pathbeacon.analysis.sql.query`,
and ``stats`` groups and counts reporter-days and machines in SQL (a keyed hash of the day
and address with a random per-run key, never the client itself); the k rule itself is
:func:`~pathbeacon.analysis.stats.finish`, which asks SQL only about the folds.

Known difference: DuckDB also ends a line at a lone ``\\r`` (gateways escape it).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

import duckdb

from ..formats import CLOUDFRONT_DEFAULT_FIELDS
from ..sql import counted
from ..sql import query as compile_query
from ..stats import Counts, GroupKey, GroupValue, Reach, StatsQuery, address_sql, finish
from . import Decoded, Engine, Plan

__all__ = ["DuckDBEngine", "logs_relation"]

_GZIP_MAGIC = b"\x1f\x8b"
_CATEGORIES = ("matched", "bad_status", "other_path", "malformed")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def logs_relation(paths: Sequence[str], gzip: bool, rejects: str = "pb_rejects") -> str:
    """SQL for the relation ``logs(line)`` of the lines of ``paths`` (all gzip or none).

    A line that is not valid UTF-8 is left out and recorded in the table ``rejects``
    (``<rejects>_scans`` beside it): the engine counts those lines ``malformed``.

        >>> "read_csv" in logs_relation(["access.log"], False)
        True
    """
    files = "[" + ", ".join(_quote(p) for p in paths) + "]"
    # A line holding the delimiter is cut there: it keeps one U+10FFFF, which makes it
    # malformed (see sql.query); "cut" is NULL only when missing (no field holds the
    # nullstr "\n"). Lines of any length are read (2 GiB is DuckDB's most).
    return (
        "(SELECT coalesce(line, '') || (CASE WHEN cut IS NULL THEN '' ELSE chr(1114111) END)"
        f" AS line FROM read_csv({files}, columns={{'line': 'VARCHAR', 'cut': 'VARCHAR'}},"
        " delim=chr(1114111), quote='', escape='', header=false, auto_detect=false,"
        " strict_mode=false, null_padding=true, nullstr=chr(10),"
        # any line up to 2 GiB: a longer max line needs a larger buffer (given, as
        # DuckDB's default is 16 times the line: 32 GiB), which is allocated as it fills
        " max_line_size=2147483647, buffer_size=2147483648,"
        " ignore_errors=true, store_rejects=true,"
        f" rejects_table={_quote(rejects)}, rejects_scan={_quote(rejects + '_scans')},"
        f" compression={_quote('gzip' if gzip else 'none')}))"
    )


def _cloudfront_fields(path: str) -> tuple[str, ...]:
    """The ``#Fields`` layout declared at the top of a CloudFront log (else the default)."""
    import gzip

    fields: tuple[str, ...] = CLOUDFRONT_DEFAULT_FIELDS
    with open(path, "rb") as raw:
        stream: Any = gzip.GzipFile(fileobj=raw) if raw.read(2) == _GZIP_MAGIC else raw
        raw.seek(0)
        for count, line in enumerate(stream):
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if not text:
                continue
            if not text.startswith("#") or count > 1000:
                break
            if text.startswith("#Fields:"):
                fields = tuple(text[len("#Fields:"):].split())
    return fields


class DuckDBEngine(Engine):
    """Runs the compiled SQL in an in-process DuckDB using every core.

    ``threads`` caps DuckDB's threads (default: all cores).
    """

    name = "duckdb"

    def __init__(self, threads: int | None = None) -> None:
        self._threads = threads
        self._con: duckdb.DuckDBPyConnection | None = None
        self._spool: tempfile.TemporaryDirectory[str] | None = None
        self._rejects: list[str] = []

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._con = duckdb.connect()
            self._con.execute("SET enable_progress_bar = false")
            if self._threads is not None:
                self._con.execute(f"SET threads = {int(self._threads)}")
        return self._con

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
        if self._spool is not None:
            self._spool.cleanup()
            self._spool = None

    def _path(self, source: Any) -> str:
        """A file DuckDB can read for ``source``: its path, or standard input spooled."""
        if not source.is_stdin:
            return str(source.name)
        if self._spool is None:
            self._spool = tempfile.TemporaryDirectory(prefix="pathbeacon-")
        path = os.path.join(self._spool.name, f"stdin-{len(os.listdir(self._spool.name))}")
        with source.open() as stream, open(path, "wb") as out:
            out.writelines(stream)  # standard input may be read by lines only
        return path

    def _lines_sql(self, plan: Plan) -> str:
        """One query over every source: each line with its decoded columns and category."""
        groups: dict[tuple[str, tuple[str, ...], bool], list[str]] = {}
        for source in plan.sources:
            path = self._path(source)
            if os.path.getsize(path) == 0:
                continue  # no lines; DuckDB would complain of an empty file
            with open(path, "rb") as probe:
                gzip = probe.read(2) == _GZIP_MAGIC
            layout = _cloudfront_fields(path) if source.format == "cloudfront" else ()
            groups.setdefault((source.format, layout, gzip), []).append(path)
        parts = []
        self._rejects = []
        for (fmt, layout, gzip), paths in groups.items():
            rejects = f"pb_rejects_{len(self._rejects)}"
            self._rejects.append(rejects)
            compiled = compile_query(plan.matcher, "duckdb", fmt,
                                     layout or CLOUDFRONT_DEFAULT_FIELDS)
            parts.append(compiled.replace("\nFROM logs\n",
                                          f"\nFROM {logs_relation(paths, gzip, rejects)}"
                                          " AS logs\n", 1))
        if not parts:
            columns = ", ".join(f"NULL AS \"{c}\"" for c in plan.columns)
            return (f"SELECT {columns}, NULL AS day, NULL AS client, NULL AS agent,"
                    " NULL AS category WHERE false")
        return "\nUNION ALL\n".join(f"SELECT * FROM ({part}) AS part_{i}"
                                    for i, part in enumerate(parts))

    def _materialise(self, plan: Plan, columns: str) -> Counts:
        con = self._connection()
        con.execute(f"CREATE OR REPLACE TEMP TABLE pb_lines AS SELECT {columns}"
                    f" FROM ({self._lines_sql(plan)}) AS lines")
        found = dict(con.execute(
            "SELECT category, count(*) FROM pb_lines GROUP BY category").fetchall())
        not_utf8 = 0
        for table in self._rejects:
            not_utf8 += int(con.execute(
                f"SELECT count(*) FROM (SELECT DISTINCT scan_id, file_id, line FROM {table})"
            ).fetchone()[0])  # type: ignore[index]
            con.execute(f"DROP TABLE IF EXISTS {table}")
            con.execute(f"DROP TABLE IF EXISTS {table}_scans")
        counts = [int(found.get(name, 0)) for name in _CATEGORIES]
        counts[3] += not_utf8
        return Counts(*counts)

    def decode(self, plan: Plan) -> Decoded:
        names = ", ".join(f'"{c}"' for c in plan.columns)
        counts = self._materialise(plan, f"{names}, category")
        cursor = self._connection().execute(
            f"SELECT {names} FROM pb_lines WHERE category = 'matched'")
        columns = plan.columns

        def rows() -> Iterator[dict[str, Any]]:
            while True:
                batch = cursor.fetchmany(10000)
                if not batch:
                    return
                for row in batch:
                    yield dict(zip(columns, row))

        return Decoded(columns, rows(), lambda: counts)

    def write_parquet(self, plan: Plan, path: str) -> Counts:
        names = ", ".join(f'"{c}"' for c in plan.columns)
        counts = self._materialise(plan, f"{names}, category")
        typed = ", ".join(
            'CAST("status" AS INTEGER) AS "status"' if c == "status" else f'"{c}"'
            for c in plan.columns
        )
        self._connection().execute(
            f"COPY (SELECT {typed} FROM pb_lines WHERE category = 'matched')"
            f" TO {_quote(path)} (FORMAT parquet)")
        return counts

    def stats(self, plan: Plan, query: StatsQuery) -> dict[str, Any]:
        secret = os.urandom(32).hex()
        by = [f'"{name}"' for name in query.by]
        if query.every == "day":
            period = "day"
        elif query.every == "week":
            period = "strftime(date_trunc('week', CAST(day AS DATE)), '%Y-%m-%d')"
        elif query.every == "month":
            period = "substr(day, 1, 8) || '01'"
        else:
            period = "CAST(NULL AS VARCHAR)"
        # two 64-bit hashes keyed by halves of the run's secret: 128 bits, cheaper than MD5
        values = f"day, {address_sql('client', 'duckdb')}"
        rkey = (f"CASE WHEN day IS NOT NULL AND client IS NOT NULL THEN"
                f" (hash('{secret[:32]}', {values})::UHUGEINT << 64)"
                f" + hash('{secret[32:]}', {values}) END")
        selected = "".join(f", {b}" for b in by)
        counts = self._materialise(
            plan,
            f"category, CASE WHEN {counted(query)} THEN true ELSE false END AS counted,"
            f" {period} AS period{selected}, day AS pb_day, {rkey} AS rkey",
        )
        del secret
        con = self._connection()
        group_cols = ", ".join(["period", *by])
        width = len(by)
        try:
            found = con.execute(f"""SELECT {group_cols}, sum(e), sum(r), max(r), sum(seen)
                FROM (SELECT {group_cols}, pb_day, count(*) AS e, count(DISTINCT rkey) AS r,
                             count(rkey) AS seen
                      FROM pb_lines WHERE counted GROUP BY {group_cols}, pb_day)
                GROUP BY {group_cols}""").fetchall()
            groups: dict[GroupKey, GroupValue] = {}
            for row in found:
                events, reporters, machines, seen = row[1 + width:]
                groups[(row[0], tuple(row[1:1 + width]))] = (
                    (int(events), None, None) if not seen
                    else (int(events), int(reporters), int(machines)))
            join = " AND ".join(f"l.{c} IS NOT DISTINCT FROM f.{c}" for c in ["period", *by])

            def union(sets: Sequence[Sequence[GroupKey]]) -> list[Reach]:
                names = ", ".join(f"{c} VARCHAR" for c in ["period", *by])
                con.execute(f"CREATE OR REPLACE TEMP TABLE pb_fold (pb_set INTEGER, {names})")
                con.executemany(
                    f"INSERT INTO pb_fold VALUES (?, ?{', ?' * width})",
                    [[number, key[0], *key[1]] for number, keys in enumerate(sets)
                     for key in keys])
                reach = {row[0]: row[1:] for row in con.execute(f"""
                    SELECT pb_set, sum(r), max(r), sum(seen)
                    FROM (SELECT f.pb_set, l.pb_day, count(DISTINCT l.rkey) AS r,
                                 count(l.rkey) AS seen
                          FROM pb_lines AS l JOIN pb_fold AS f ON {join}
                          WHERE l.counted GROUP BY f.pb_set, l.pb_day)
                    GROUP BY pb_set""").fetchall()}
                return [None if number not in reach or not reach[number][2]
                        else (int(reach[number][0]), int(reach[number][1]))
                        for number in range(len(sets))]

            return finish(counts, groups, query, union)
        finally:
            con.execute("DROP TABLE IF EXISTS pb_lines")
            con.execute("DROP TABLE IF EXISTS pb_fold")
