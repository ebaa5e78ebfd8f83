"""The python engine: the standard library only, one pass, bounded memory.

Decoding holds one line at a time; ``stats`` holds one entry per group and per distinct
reporter-day (a 64-bit keyed hash), moving the hashes to a temporary SQLite file (deleted
when the run ends) past :data:`SPILL_AFTER` of them, so memory stays bounded. Format and
fits rules: see :mod:`~pathbeacon.analysis.formats` and :mod:`~pathbeacon.analysis.matcher`.
"""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from operator import itemgetter
from typing import Any, Optional

from ..formats import Record, line_text, parser
from ..stats import (
    Counts,
    GroupKey,
    GroupValue,
    Reach,
    StatsQuery,
    address_key,
    finish,
    new_secret,
    period_start,
    reporter_key,
)
from . import Decoded, Engine, Plan

__all__ = ["SPILL_AFTER", "PythonEngine"]

#: Reporter-day hashes held in memory (about 60 bytes each in a set: some 120 MB) before
#: they move to a temporary SQLite file. Moving them costs about a fifth of the engine's
#: time, so logs of up to a few million lines never do; larger ones stay within bounds.
SPILL_AFTER = 2_000_000

# (time, status, agent, client, values) of one matched line
_Hit = tuple[Optional[str], int, Optional[str], Optional[str], dict[str, str]]


def _hits(plan: Plan, counts: list[int]) -> Iterator[_Hit]:
    """Every matched line; ``counts`` (matched, bad_status, other_path, malformed) grows.

    A damaged or cut-short compressed log is one clear error (``ValueError``).
    """
    for source in plan.sources:
        with source.open() as stream:
            try:
                yield from _source_hits(stream, parser(source.format).parse, plan, counts)
            except (OSError, EOFError, zlib.error) as error:
                raise ValueError(f"cannot read {source.name}: {error}") from None


def _source_hits(stream: Iterable[bytes], parse: Callable[[str], Record | None],
                 plan: Plan, counts: list[int]) -> Iterator[_Hit]:
    match = plan.matcher.match
    for raw in stream:
        if raw[-1:] == b"\n":
            raw = raw[:-1]
        if raw[-1:] == b"\r":
            raw = raw[:-1]
        if not raw:
            continue
        line = line_text(raw)
        if line is None:
            counts[3] += 1
            continue
        record = parse(line)
        if record is None:
            counts[3] += 1
            continue
        time, target, status, agent, client = record
        values = match(target) if target is not None else None
        if values is None:
            counts[2] += 1
        elif status is None or not 200 <= status <= 399:
            counts[1] += 1
        else:
            counts[0] += 1
            yield time, status, agent, client, values


class _ReporterDays:
    """Distinct reporter-day hashes per group and UTC day: in memory up to ``limit`` of
    them, then in a temporary SQLite file (private, deleted on close), so memory stays
    bounded."""

    def __init__(self) -> None:
        self._sets: dict[int, dict[str, set[int]]] = {}
        self._held = 0
        self._limit = SPILL_AFTER
        self._db: sqlite3.Connection | None = None

    def add(self, group: int, day: str, key: int) -> None:
        days = self._sets.get(group)
        if days is None:
            days = self._sets[group] = {}
        held = days.get(day)
        if held is None:
            held = days[day] = set()
        if key not in held:
            held.add(key)
            self._held += 1
            if self._held >= self._limit:
                self._spill()

    def _spill(self) -> None:
        if self._db is None:
            self._db = sqlite3.connect("")  # "": a temporary file, removed on close
            self._db.executescript(
                "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-8000;"
                "CREATE TABLE r (g INTEGER, h INTEGER, d TEXT, PRIMARY KEY (g, h))"
                " WITHOUT ROWID;"
            )
        with self._db:
            self._db.executemany(
                "INSERT OR IGNORE INTO r VALUES (?, ?, ?)",
                ((group, key, day) for group, days in self._sets.items()
                 for day, held in days.items() for key in held),
            )
        self._sets.clear()
        self._held = 0

    def counts(self) -> dict[int, tuple[int, int]]:
        """(reporter-days, machines) of each group that has any."""
        if self._db is None:
            return {group: (sum(map(len, days.values())), max(map(len, days.values())))
                    for group, days in self._sets.items()}
        self._spill()
        return {group: (int(total), int(most)) for group, total, most in self._db.execute(
            "SELECT g, sum(n), max(n) FROM (SELECT g, d, count(*) AS n FROM r GROUP BY g, d)"
            " GROUP BY g")}

    def union(self, groups: list[int]) -> tuple[int, int] | None:
        """(reporter-days, machines) over ``groups`` together; None when they have none."""
        if self._db is None:
            merged: dict[str, set[int]] = {}
            for group in groups:
                for day, held in self._sets.get(group, {}).items():
                    merged.setdefault(day, set()).update(held)
            if not merged:
                return None
            return sum(map(len, merged.values())), max(map(len, merged.values()))
        self._db.execute("CREATE TEMP TABLE IF NOT EXISTS f (g INTEGER PRIMARY KEY)")
        self._db.execute("DELETE FROM f")
        self._db.executemany("INSERT OR IGNORE INTO f VALUES (?)", ((g,) for g in groups))
        total, most = self._db.execute(
            "SELECT sum(n), max(n) FROM (SELECT d, count(DISTINCT h) AS n"
            " FROM r JOIN f USING (g) GROUP BY d)").fetchone()
        return None if total is None else (int(total), int(most))

    def close(self) -> None:
        self._sets.clear()
        if self._db is not None:
            self._db.close()
            self._db = None


class PythonEngine(Engine):
    """Streams the logs through Python's ``re``; no dependency, any size, one core."""

    name = "python"

    def decode(self, plan: Plan) -> Decoded:
        counts = [0, 0, 0, 0]

        def rows() -> Iterator[dict[str, Any]]:
            for time, status, _agent, _client, values in _hits(plan, counts):
                row: dict[str, Any] = {"time": time, "status": status}
                row.update(values)
                yield row

        return Decoded(plan.columns, rows(), lambda: Counts(*counts))

    def stats(self, plan: Plan, query: StatsQuery) -> dict[str, Any]:
        counts = [0, 0, 0, 0]
        secret = new_secret()
        by = query.by
        every = query.every
        needs_time = query.needs_time
        since = query.since.isoformat() if query.since else None
        until = query.until.isoformat() if query.until else None
        groups: dict[GroupKey, list[int]] = {}  # key -> [events, group number]
        periods: dict[str, str] = {}
        reporters = _ReporterDays()
        if len(by) > 1:
            pick: Callable[[dict[str, str]], tuple[str, ...]] = itemgetter(*by)
        elif by:
            name = by[0]

            def pick(values: dict[str, str]) -> tuple[str, ...]:
                return (values[name],)
        else:

            def pick(values: dict[str, str]) -> tuple[str, ...]:
                return ()
        add = reporters.add
        addresses: dict[str, str] = {}  # recent clients' addresses, computed once each
        try:
            for time, _status, _agent, client, values in _hits(plan, counts):
                day = time[:10] if time is not None else None
                if needs_time and (
                    day is None or (since and day < since) or (until and day >= until)
                ):
                    continue
                period = None
                if every is not None and day is not None:
                    period = periods.get(day)
                    if period is None:
                        period = periods[day] = period_start(day, every)
                key = (period, pick(values))
                group = groups.get(key)
                if group is None:
                    group = groups[key] = [0, len(groups)]
                group[0] += 1
                if client is not None and day is not None:
                    address = addresses.get(client)
                    if address is None:
                        address = addresses[client] = address_key(client)
                        if len(addresses) > 4096:
                            addresses.clear()
                    add(group[1], day, reporter_key(secret, day, address))
            del secret
            addresses.clear()
            reach = reporters.counts()
            final: dict[GroupKey, GroupValue] = {}
            for key, (events, number) in groups.items():
                found = reach.get(number)
                final[key] = (events, None, None) if found is None else (events, *found)

            def union(sets: Sequence[Sequence[GroupKey]]) -> list[Reach]:
                return [reporters.union([groups[key][1] for key in keys]) for keys in sets]

            return finish(Counts(*counts), final, query, union)
        finally:
            reporters.close()
