"""The duckdb engine: the compiled SQL run by DuckDB, which reads the logs itself.

DuckDB's CSV reader splits each file (plain or gzip) into lines: one ``VARCHAR`` column,
no quoting, and a delimiter no log holds (U+10FFFF, a noncharacter), so a line arrives
whole (a line holding that noncharacter is ``malformed`` on every engine). ``stats`` reads
in short buffers on every core, memory limited (:data:`MEMORY_LIMIT`), and starts again in
one buffer of 2 GiB on one core only when a line is longer than :data:`SHORT_LINE`, so
every line is counted whatever its length. A line that is not valid UTF-8 is set aside
by the reader and counted ``malformed``. Each line then goes through
:func:`~pathbeacon.analysis.sql.query` as a stream: no line is kept. ``stats`` is one
aggregation (line counts, and per UTC day and group the events and distinct addresses, a
keyed hash of the day and address with a random per-run key, never the client itself);
a group's reporter-days are the sum over its days and its machines the largest day (an
address on a day belongs to that day), the k rule itself is
:func:`~pathbeacon.analysis.stats.finish`, and only when small groups fold together does a
second pass count their addresses per day together. What does not fit in DuckDB's memory
limit (a large aggregation) spills to a private temporary folder.

A CloudFront log whose ``#Fields`` line changes the layout after its first lines is read
from copies of one layout each, as the python engine follows it line by line.

Known difference: DuckDB also ends a line at a lone ``\\r``, as Spark's reader does
(gateways escape it; see the hostile-lines page).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import duckdb

from ..formats import CLOUDFRONT_DEFAULT_FIELDS
from ..sql import counted
from ..sql import query as compile_query
from ..stats import Counts, Reach, StatsQuery, address_sql
from . import DayGroup, Decoded, Engine, Plan, finish_by_days
from .files import Spool, is_gzip

__all__ = ["MEMORY_LIMIT", "SHORT_LINE", "DuckDBEngine", "literal_path", "logs_relation",
           "over_logs", "set_aside"]

_T = TypeVar("_T")

#: What DuckDB may hold in memory before aggregations spill to a temporary folder, when
#: lines are read in short buffers (every core, memory flat in the log's size).
MEMORY_LIMIT: str | None = "400MB"
#: The longest line read in short buffers; a longer one makes the reading start again in
#: one buffer of 2 GiB (one core, no memory limit: the buffer alone is larger).
SHORT_LINE = 2097152

_CATEGORIES = ("matched", "bad_status", "other_path", "malformed")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_GLOB = re.compile(r"[*?\[]")


def literal_path(path: str) -> str:
    """``path`` as DuckDB's readers take it for that one file, not a pattern: its glob
    characters each in a class of its own, and relative to the working folder (a name
    starting with ``~`` would be taken for the home folder, one like ``s3://x`` for a URL).

        >>> literal_path("/logs/access[1].log")
        '/logs/access[[]1].log'
    """
    if not os.path.isabs(path):
        path = os.path.join(os.getcwd(), path)
    return _GLOB.sub(lambda found: f"[{found.group(0)}]", path)


def logs_relation(paths: Sequence[str], gzip: bool, rejects: str = "pb_rejects",
                  whole: bool = True) -> str:
    """SQL for the relation ``logs(line)`` of the lines of ``paths`` (all gzip or none).

    A line that is not valid UTF-8 is left out and recorded in the table ``rejects``
    (``<rejects>_scans`` beside it): the engine counts those lines ``malformed``. With
    ``whole`` a line of any length is read (up to 2 GiB, in one buffer, on one core);
    without, lines up to :data:`SHORT_LINE` bytes are read in short buffers on every core
    and a longer one is left out and recorded (``LINE SIZE OVER MAXIMUM``).

        >>> "read_csv" in logs_relation(["access.log"], False)
        True
    """
    files = "[" + ", ".join(_quote(literal_path(p)) for p in paths) + "]"
    # A line holding the delimiter is cut there: it reads as U+10FFFF alone, which makes
    # it malformed (see sql.query) without a copy of every line; "cut" is NULL only when
    # missing (no field holds the nullstr "\n"). Lines of any length are read (2 GiB is
    # DuckDB's most).
    return (
        "(SELECT CASE WHEN cut IS NULL THEN coalesce(line, '') ELSE chr(1114111) END"
        f" AS line FROM read_csv({files}, columns={{'line': 'VARCHAR', 'cut': 'VARCHAR'}},"
        " delim=chr(1114111), quote='', escape='', header=false, auto_detect=false,"
        " strict_mode=false, null_padding=true, nullstr=chr(10),"
        # lines end at "\n", "\r\n" or a lone "\r", every byte kept (left to guess,
        # the reader drops the byte after a lone "\r" in a file that has had a "\r\n")
        " new_line='\\n',"
        # any line up to 2 GiB: a longer max line needs a larger buffer (given, as
        # DuckDB's default is 16 times the line: 32 GiB), which is allocated as it fills
        + (" max_line_size=2147483647, buffer_size=2147483648," if whole
           else f" max_line_size={SHORT_LINE},") +
        " ignore_errors=true, store_rejects=true,"
        f" rejects_table={_quote(rejects)}, rejects_scan={_quote(rejects + '_scans')},"
        f" compression={_quote('gzip' if gzip else 'none')}))"
    )


def over_logs(compiled: str, paths: Sequence[str], gzip: bool, rejects: str,
              whole: bool = True) -> str:
    """The compiled query (:func:`~pathbeacon.analysis.sql.query`) over the lines of
    ``paths``, read by :func:`logs_relation` (its set-aside lines recorded in ``rejects``)."""
    relation = logs_relation(paths, gzip, rejects, whole=whole)
    return compiled.replace("\nFROM logs\n", f"\nFROM {relation} AS logs\n", 1)


def set_aside(con: duckdb.DuckDBPyConnection, rejects: str, long: bool = False) -> int:
    """Lines the reader set aside in the first run of a query over :func:`over_logs`
    (each run has its own ``scan_id``): too long for short buffers with ``long``, else not
    UTF-8 (counted ``malformed``)."""
    kind = "=" if long else "<>"
    return int(con.execute(
        f"SELECT count(*) FROM (SELECT DISTINCT file_id, line FROM {rejects}"
        f" WHERE scan_id = (SELECT min(scan_id) FROM {rejects})"
        f" AND error_type {kind} 'LINE SIZE OVER MAXIMUM')").fetchall()[0][0])


class DuckDBEngine(Engine):
    """Runs the compiled SQL in an in-process DuckDB using every core.

    ``threads`` caps DuckDB's threads (default: all cores); ``memory_limit`` is what it may
    hold before it spills (default :data:`MEMORY_LIMIT`). ``stats`` and ``write_parquet``
    read lines in short buffers and start again in one whole buffer only when a line is
    longer than :data:`SHORT_LINE`; ``decode``, which hands rows out as it reads, reads in
    one whole buffer.
    """

    name = "duckdb"

    def __init__(self, threads: int | None = None,
                 memory_limit: str | None = MEMORY_LIMIT) -> None:
        self._threads = threads
        self._memory = memory_limit
        self._con: duckdb.DuckDBPyConnection | None = None
        self._spool = Spool()  # copies of logs the reader cannot take as they are
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        self._rejects: list[str] = []
        self._whole = False  # lines read in one whole buffer (any length)

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="pathbeacon-duckdb-")
            config: dict[str, Any] = {"temp_directory": self._scratch.name}
            self._con = duckdb.connect(config=config)
            self._con.execute("SET enable_progress_bar = false")
            self._default_memory = self._con.execute(
                "SELECT current_setting('memory_limit')").fetchone()[0]  # type: ignore[index]
            if self._threads is not None:
                self._con.execute(f"SET threads = {int(self._threads)}")
        return self._con

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
        self._spool.close()
        if self._scratch is not None:
            self._scratch.cleanup()
        self._scratch = None

    def _groups(self, plan: Plan) -> dict[tuple[str, tuple[str, ...], bool], list[str]]:
        """The readable sources by (format, CloudFront layout, gzip), once per plan."""
        known = getattr(self, "_grouped", None)
        if known is not None and known[0] is plan:
            return known[1]  # type: ignore[no-any-return]
        groups: dict[tuple[str, tuple[str, ...], bool], list[str]] = {}
        for source in plan.sources:
            path = self._spool.readable(source)
            if os.path.getsize(path) == 0:
                continue  # no lines; DuckDB would complain of an empty file
            if source.format == "cloudfront":
                # a file per layout when the layout changes within it, as Python reads it
                for layout, piece in self._spool.layouts(path):
                    groups.setdefault((source.format, layout, is_gzip(piece)),
                                      []).append(piece)
                continue
            groups.setdefault((source.format, (), is_gzip(path)), []).append(path)
        self._grouped = (plan, groups)
        return groups

    def _lines_sql(self, plan: Plan) -> str:
        """One query over every source: each line with its decoded columns and category."""
        parts = []
        self._drop_rejects()
        for (fmt, layout, gzip), paths in self._groups(plan).items():
            rejects = f"pb_rejects_{len(self._rejects)}"
            self._rejects.append(rejects)
            compiled = compile_query(plan.matcher, "duckdb", fmt,
                                     layout or CLOUDFRONT_DEFAULT_FIELDS)
            parts.append(over_logs(compiled, paths, gzip, rejects, whole=self._whole))
        if not parts:
            columns = ", ".join(f"NULL AS \"{c}\"" for c in plan.columns)
            return (f"SELECT {columns}, NULL AS day, NULL::BIGINT AS day_number,"
                    " NULL AS client, NULL AS agent, NULL AS category WHERE false")
        return "\nUNION ALL\n".join(f"SELECT * FROM ({part}) AS part_{i}"
                                    for i, part in enumerate(parts))

    def _set_aside(self, long: bool) -> int:
        """Lines the reader set aside (:func:`set_aside`) in the last query built (the
        tables go when the next query is built)."""
        con = self._connection()
        return sum(set_aside(con, table, long) for table in self._rejects)

    def _not_utf8(self) -> int:
        return self._set_aside(long=False)

    def _mode(self, whole: bool) -> None:
        """Read lines in one whole buffer (no memory limit: the buffer alone is larger)
        or in short ones (memory limited: aggregations spill)."""
        self._whole = whole
        limit = self._memory if (self._memory is not None and not whole) else None
        con = self._connection()
        con.execute(f"SET memory_limit = {_quote(limit or self._default_memory)}")

    def _short_first(self, run: Callable[[], _T]) -> _T:
        """``run()`` over lines read in short buffers, again in one whole buffer when a
        line was too long for them."""
        self._mode(whole=False)
        try:
            result = run()
            if self._set_aside(long=True):
                self._mode(whole=True)
                result = run()
        finally:
            self._mode(whole=False)
        return result

    def _drop_rejects(self) -> None:
        if self._con is not None:
            for table in self._rejects:
                self._con.execute(f"DROP TABLE IF EXISTS {table}")
                self._con.execute(f"DROP TABLE IF EXISTS {table}_scans")
        self._rejects = []

    def _counts(self, plan: Plan) -> Counts:
        found = dict(self._connection().execute(
            f"SELECT category, count(*) FROM ({self._lines_sql(plan)}) AS lines"
            " GROUP BY category").fetchall())
        counts = [int(found.get(name, 0)) for name in _CATEGORIES]
        counts[3] += self._not_utf8()
        return Counts(*counts)

    def decode(self, plan: Plan) -> Decoded:
        names = ", ".join(f'"{c}"' for c in plan.columns)
        self._mode(whole=True)  # rows go out as they are read: no second start
        # one pass: the matched lines' columns, and every other line's category alone
        # (counted here), streamed in batches
        cursor = self._connection().execute(
            f"SELECT {names}, category = 'matched' AS hit, category"
            f" FROM ({self._lines_sql(plan)}) AS lines")
        columns = plan.columns
        width = len(columns)
        found = dict.fromkeys(_CATEGORIES, 0)
        counts: list[Counts] = []

        def rows() -> Iterator[dict[str, Any]]:
            while True:
                batch = cursor.fetchmany(10000)
                if not batch:
                    break
                for row in batch:
                    if row[width]:
                        yield dict(zip(columns, row))
                    found[row[width + 1]] += 1
            values = [found[name] for name in _CATEGORIES]
            values[3] += self._not_utf8()
            counts.append(Counts(*values))

        return Decoded(columns, rows(), lambda: counts[0])

    def write_parquet(self, plan: Plan, path: str) -> Counts:
        typed = ", ".join(
            'CAST("status" AS INTEGER) AS "status"' if c == "status" else f'"{c}"'
            for c in plan.columns
        )

        def run() -> Counts:
            self._connection().execute(
                f"COPY (SELECT {typed} FROM ({self._lines_sql(plan)}) AS lines"
                f" WHERE category = 'matched') TO {_quote(path)} (FORMAT parquet)")
            return self._counts(plan)
        return self._short_first(run)

    def stats(self, plan: Plan, query: StatsQuery) -> dict[str, Any]:
        return self._short_first(lambda: self._stats(plan, query))

    def _stats(self, plan: Plan, query: StatsQuery) -> dict[str, Any]:
        secret = os.urandom(32).hex()
        by = [f'"{name}"' for name in query.by]
        days = query.every is not None
        # two 64-bit hashes keyed by halves of the run's secret: 128 bits, cheaper than MD5
        values = f"day_number, {address_sql('client', 'duckdb')}"
        rkey = (f"CASE WHEN day_number IS NOT NULL AND client IS NOT NULL THEN"
                f" (hash('{secret[:32]}', {values})::UHUGEINT << 64)"
                f" + hash('{secret[32:]}', {values}) END")
        del secret
        keep = counted(query, numbered=True)
        picked = "".join(f", CASE WHEN counted THEN {b} END AS {b}" for b in by)
        # every counted line keeps its day: machines are the most addresses on one day
        lines = (f"SELECT category, counted,"
                 f" CASE WHEN counted THEN day_number END AS day_number{picked},"
                 f" CASE WHEN counted THEN rkey END AS rkey FROM ("
                 f"SELECT *, coalesce({keep}, false) AS counted, {rkey} AS rkey"
                 f" FROM ({self._lines_sql(plan)}) AS lines) AS keyed")
        keys = ["category", "counted", "day_number", *by]
        con = self._connection()
        # distinct addresses per day as two plain aggregations (a day-group's addresses,
        # then the day-groups): DuckDB would otherwise keep every line to count them
        # apart, while a plain aggregation spills what does not fit in memory
        found = con.execute(
            f"SELECT {', '.join(keys)}, sum(n), count(rkey), sum(n) FILTER (rkey IS NOT NULL)"
            f" FROM (SELECT {', '.join(keys)}, rkey, count(*) AS n FROM ({lines}) AS lines"
            " GROUP BY ALL) AS days GROUP BY ALL").fetchall()
        tally = dict.fromkeys(_CATEGORIES, 0)
        # (day number or None, values) -> (events, addresses that day, lines with one)
        by_day: dict[DayGroup, tuple[int, int, int]] = {}
        for row in found:
            tally[row[0]] += int(row[-3])
            if row[1]:
                by_day[(row[2], tuple(row[3:-3]))] = (
                    int(row[-3]), int(row[-2]), int(row[-1] or 0))
        counts = [tally[name] for name in _CATEGORIES]
        counts[3] += self._not_utf8()

        def unions(wanted: list[list[DayGroup]]) -> list[Reach]:
            """(reporter-days, machines) over each list of day-groups: one more pass."""
            if not wanted:
                return []
            # without periods a group's days all fold together: its values pick them
            cols = ["pb_set", *(["day_number"] if days else []), *by]
            rows: dict[str, None] = {}
            for number, members in enumerate(wanted):
                for day_number, group in members:
                    cells = [str(number)] + ([str(day_number)] if days else [])
                    cells += ["NULL" if v is None else _quote(v) for v in group]
                    rows["(" + ", ".join(cells) + ")"] = None
            join = " AND ".join(f"l.{c} IS NOT DISTINCT FROM f.{c}" for c in cols[1:])
            sql = (f"SELECT pb_set, sum(a), max(a) FROM ("
                   f"SELECT pb_set, day_number, count(*) AS a FROM ("
                   f"SELECT f.pb_set, l.day_number, l.rkey"
                   f" FROM ({lines}) AS l JOIN (VALUES {', '.join(rows)})"
                   f" AS f({', '.join(cols)}) ON l.counted AND l.rkey IS NOT NULL"
                   f" AND {join or 'true'} GROUP BY ALL) AS sets GROUP BY ALL) AS days"
                   " GROUP BY pb_set")
            result = {int(n): (int(total), int(most))
                      for n, total, most in con.execute(sql).fetchall()}
            return [result.get(n) for n in range(len(wanted))]

        return finish_by_days(Counts(*counts), by_day, query, unions)
