"""The python engine: the standard library only, one pass, bounded memory.

Decoding holds one line at a time; ``stats`` holds one entry per group and per distinct
reporter-day (a 16-byte keyed hash). Format and fits rules: see
:mod:`~pathbeacon.analysis.formats` and :mod:`~pathbeacon.analysis.matcher`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Optional

from ..formats import HEADER, parser
from ..stats import (
    Counts,
    GroupKey,
    GroupValue,
    StatsQuery,
    finish,
    new_secret,
    period_start,
    reporter_key,
)
from . import Decoded, Engine, Plan

__all__ = ["PythonEngine"]

# (time, status, agent, client, values) of one matched line
_Hit = tuple[Optional[str], int, Optional[str], Optional[str], dict[str, str]]


def _hits(plan: Plan, counts: list[int]) -> Iterator[_Hit]:
    """Every matched line; ``counts`` (matched, bad_status, other_path, malformed) grows."""
    match = plan.matcher.match
    for source in plan.sources:
        parse = parser(source.format).parse
        with source.open() as stream:
            for raw in stream:
                if raw[-1:] == b"\n":
                    raw = raw[:-1]
                if raw[-1:] == b"\r":
                    raw = raw[:-1]
                if not raw:
                    continue
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    counts[3] += 1
                    continue
                record = parse(line)
                if record is None:
                    counts[3] += 1
                    continue
                if record is HEADER:
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
        groups: dict[GroupKey, list[Any]] = {}
        periods: dict[str, str] = {}
        for time, _status, agent, client, values in _hits(plan, counts):
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
            key = (period, tuple([values[name] for name in by]))
            group = groups.get(key)
            if group is None:
                group = groups[key] = [0, None]
            group[0] += 1
            if client is not None and day is not None:
                if group[1] is None:
                    group[1] = set()
                group[1].add(reporter_key(secret, day, client, agent))
        del secret
        final: dict[GroupKey, GroupValue] = {k: (v[0], v[1]) for k, v in groups.items()}
        return finish(Counts(*counts), final, query)
