"""The engine interface: one :class:`Plan` in, decoded rows or stats out, the same from each.

An engine is a subclass of :class:`Engine` in ``engines/<name>.py``, listed in
:data:`ENGINES`. It receives a :class:`Plan` (the template compiled into a
:class:`~pathbeacon.analysis.matcher.Matcher`, and the sources with their formats settled)
and must follow the rules of :mod:`~pathbeacon.analysis.formats`,
:mod:`~pathbeacon.analysis.matcher` and :mod:`~pathbeacon.analysis.stats` exactly, so that
every engine gives the same rows (order aside) and the same stats.

    >>> get("python").name
    'python'
"""

from __future__ import annotations

import abc
import importlib
import importlib.util
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Callable, ClassVar, Optional

from ...template import Template
from ..matcher import Matcher
from ..sources import Source
from ..stats import Counts, GroupKey, GroupValue, Reach, StatsQuery, finish, period_start

__all__ = ["ENGINES", "DayGroup", "Decoded", "Engine", "Plan", "available", "day_text",
           "finish_by_days", "get"]

#: Engine name -> (module under this package, class name, pip extra that installs it,
#: the importable package it needs).
ENGINES: dict[str, tuple[str, str, str, str | None]] = {
    "python": ("python", "PythonEngine", "", None),
    "duckdb": ("duckdb", "DuckDBEngine", "analysis", "duckdb"),
    "spark": ("spark", "SparkEngine", "spark", "pyspark"),
}


@dataclass(frozen=True)
class Plan:
    """What an engine runs: the template compiled (with ``base``) and the logs to read."""

    matcher: Matcher
    sources: tuple[Source, ...]

    @property
    def template(self) -> Template:
        return self.matcher.template

    @property
    def columns(self) -> tuple[str, ...]:
        """Columns of a decoded row: ``time``, ``status``, then the fields (no ``base``).

        ``ValueError`` when a field is itself named ``time`` or ``status`` (its value would
        overwrite that column).
        """
        for name in self.matcher.fields:
            if name in ("time", "status"):
                raise ValueError(f"the template's field {name!r} has the name of a column"
                                 " decode gives every row (time, status): rename the field")
        return ("time", "status", *self.matcher.fields)


class Decoded:
    """Decoded rows of the matched lines, streamed once; :attr:`counts` once they are read.

    Each row is a dict ``{"time": str | None, "status": int, field: str, ...}`` in
    :attr:`columns` order.
    """

    def __init__(self, columns: Sequence[str], rows: Iterator[dict[str, Any]],
                 counts: Callable[[], Counts]) -> None:
        self.columns = tuple(columns)
        self._rows = rows
        self._counts = counts
        self._done = False
        self._closers: list[Callable[[], None]] = []

    def __enter__(self) -> Decoded:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def on_close(self, closer: Callable[[], None]) -> None:
        """Have :meth:`close` call ``closer`` (the engine that made these rows, say)."""
        self._closers.append(closer)

    def close(self) -> None:
        """Release what produced the rows; reading them after this is not possible."""
        closers, self._closers = self._closers, []
        for closer in closers:
            closer()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        yield from self._rows
        self._done = True

    @property
    def counts(self) -> Counts:
        """The four line counts over all lines read (after the rows are exhausted)."""
        if not self._done:
            for _ in self:
                pass
        return self._counts()


class Engine(abc.ABC):
    """One way of running a :class:`Plan`. Options (``master=``, ``session=``...) go to
    the constructor; unknown options raise ``ValueError``."""

    name: ClassVar[str]

    @abc.abstractmethod
    def decode(self, plan: Plan) -> Decoded:
        """The decoded rows of every matched line, and the line counts."""

    @abc.abstractmethod
    def stats(self, plan: Plan, query: StatsQuery) -> dict[str, Any]:
        """The ``stats --json`` structure (see :func:`pathbeacon.analysis.stats.finish`)."""

    def write_parquet(self, plan: Plan, path: str) -> Counts:
        """Write the decoded rows to a Parquet file; engines may do it natively."""
        from ..output import write_rows

        decoded = self.decode(plan)
        write_rows(decoded, decoded.columns, path, "parquet")
        return decoded.counts

    def close(self) -> None:  # noqa: B027 - most engines hold nothing
        """Release what the engine holds (a database connection, a Spark session)."""


_EPOCH_DAY = date(1970, 1, 1)

#: (a UTC day as days since 1970-01-01, or None for lines without a time; the ``by`` values)
DayGroup = tuple[Optional[int], tuple[str, ...]]


def day_text(number: int) -> str:
    """A day counted from 1970-01-01 as ``YYYY-MM-DD``.

        >>> day_text(0), day_text(20686)
        ('1970-01-01', '2026-08-21')
    """
    return (_EPOCH_DAY + timedelta(days=number)).isoformat()


def finish_by_days(counts: Counts, by_day: Mapping[DayGroup, tuple[int, int, int]],
                   query: StatsQuery,
                   unions: Callable[[list[list[DayGroup]]], Sequence[Reach]]
                   ) -> dict[str, Any]:
    """The ``stats --json`` structure from groups counted per UTC day (an SQL engine's one
    aggregation): ``by_day`` maps a day-group to (events, distinct addresses that day,
    lines with an address). A group's reporter-days are the sum over its days (an
    address on a day belongs to that day: the sum is exact) and its machines the largest
    day. ``unions`` answers, in one pass, (reporter-days, machines) over each list of
    day-groups that fold together (``None`` where no line has an address).

        >>> query = StatsQuery.make(("os",), by=["os"], every="month")
        >>> finish_by_days(Counts(3, 0, 0, 0), {(20686, ("linux",)): (2, 2, 2),
        ...                                     (20687, ("linux",)): (1, 1, 1)},
        ...                query, lambda sets: [])["rows"]
        [{'period': '2026-08-01', 'os': 'linux', 'events': 3, 'reporters': 3}]
    """
    sums: dict[GroupKey, list[int]] = {}
    members: dict[GroupKey, list[DayGroup]] = {}
    starts: dict[int, str] = {}
    for (number, values), (events, addresses, seen) in by_day.items():
        period = None
        if query.every is not None and number is not None:
            period = starts.get(number)
            if period is None:
                period = starts[number] = period_start(day_text(number), query.every)
        key = (period, values)
        total = sums.setdefault(key, [0, 0, 0, 0])
        total[0] += events
        total[1] += addresses
        total[2] = max(total[2], addresses)
        total[3] += seen
        members.setdefault(key, []).append((number, values))
    groups: dict[GroupKey, GroupValue] = {
        key: (events, reporters, machines) if seen else (events, None, None)
        for key, (events, reporters, machines, seen) in sums.items()}

    def union(sets: Sequence[Sequence[GroupKey]]) -> Sequence[Reach]:
        return unions([[day for key in keys for day in members[key]] for keys in sets])

    return finish(counts, groups, query, union)


def available(name: str) -> bool:
    """Whether the engine ``name`` can run here (its module and its package exist)."""
    module, _, _, needs = ENGINES[name]
    if needs is not None and importlib.util.find_spec(needs) is None:
        return False
    return importlib.util.find_spec(f"{__name__}.{module}") is not None


def get(name: str = "auto", **options: Any) -> Engine:
    """An engine by name; ``auto`` is duckdb when installed, else python.

    ``ValueError`` for an unknown name or an engine that is not installed.
    """
    if name == "auto":
        name = "duckdb" if available("duckdb") else "python"
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}: choose auto, {', '.join(ENGINES)}")
    module, cls_name, extra, _ = ENGINES[name]
    if not available(name):
        hint = f": pip install 'pathbeacon[{extra}]'" if extra else ""
        raise ValueError(f"the {name} engine is not installed{hint}")
    cls: type[Engine] = getattr(importlib.import_module(f"{__name__}.{module}"), cls_name)
    return cls(**options)
