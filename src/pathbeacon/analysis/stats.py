"""Counting rules shared by every engine: line counts, periods, reporter-days, the k fold.

The rules (each engine reproduces them exactly):

- **Lines.** Every non-empty line is in exactly one of ``matched`` (fits the template and
  ``200 <= status <= 399``), ``bad_status`` (fits, any other status or none),
  ``other_path`` (a line of its format whose target does not fit, or has no target) and
  ``malformed`` (not valid UTF-8, or not a line of its format). ``since``/``until``/``every``
  never change these counts.
- **Rows.** ``stats`` groups the *matched* lines by the ``by`` fields (decoded values) and,
  with ``every``, by ``period``: the ISO date (``YYYY-MM-DD``) its UTC day, ISO week
  (Monday) or month starts on. ``since`` (inclusive) and ``until`` (exclusive) are UTC
  dates compared with the line's UTC day. When any of ``since``, ``until`` or ``every`` is
  given, lines without a time are left out of the rows (not of the line counts).
- **Reporters.** A line *counts towards reporters* when it has both a time and a client.
  A reporter-day is a distinct ``(UTC day, client, agent)`` (agent ``None`` taken as
  ``""``); a group's ``reporters`` is the number of distinct reporter-days among its lines
  that count, or ``None`` when none does (the format has no client). Engines compare a
  keyed hash of ``day + "\\0" + client + "\\0" + agent`` with a random per-run key
  (:func:`reporter_key`), never the client itself, and never output it; the python
  engine keeps them in memory, then in a temporary SQLite file deleted with the run.
- **k.** A group's *measure* is its ``reporters``, or its ``events`` when that is ``None``.
  Within each period (or overall without ``every``), groups whose measure is below ``k``,
  and any group whose ``by`` values are all literally ``other``, are folded into one group
  with every ``by`` value ``other``: ``events`` summed, ``reporters`` counted over the union
  of their reporter-days (distinct, not summed; ``None`` when no line counts). A folded
  group whose own measure is below ``k`` is dropped. With ``k = 1`` nothing is ever folded
  away (every group has a measure of at least 1).
- **Order.** Rows by ``events`` descending, then ``period``, then the ``by`` values in
  order, comparing text by code points.

    >>> query = StatsQuery.make(("os", "arch", "version"), by=["os"], k=2)
    >>> days = {"linux": {1, 2}, "aix": {3}, "hp-ux": {4}}  # reporter-days of each group
    >>> groups = {(None, ("linux",)): (5, 2), (None, ("aix",)): (1, 1), (None, ("hp-ux",)): (1, 1)}
    >>> def union(keys): return len(set().union(*(days[values[0]] for _, values in keys)))
    >>> finish(Counts(7, 0, 0, 0), groups, query, union)["rows"]
    [{'os': 'linux', 'events': 5, 'reporters': 2}, {'os': 'other', 'events': 2, 'reporters': 2}]
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, NamedTuple, Optional

__all__ = [
    "OTHER",
    "PERIODS",
    "Counts",
    "StatsQuery",
    "finish",
    "period_start",
    "reporter_key",
    "shape",
]

#: The value every ``by`` field takes in the folded group.
OTHER = "other"
#: Accepted values of ``every``.
PERIODS = ("day", "week", "month")

#: (period or None, by values) -> (events, reporters or None)
GroupKey = tuple[Optional[str], tuple[str, ...]]
GroupValue = tuple[int, Optional[int]]


class Counts(NamedTuple):
    """The four line counts; they sum to the number of non-empty lines.

        >>> str(Counts(3, 1, 2, 0))
        'lines: matched 3, bad_status 1, other_path 2, malformed 0'
    """

    matched: int
    bad_status: int
    other_path: int
    malformed: int

    def as_dict(self) -> dict[str, int]:
        """The ``"lines"`` object of ``stats --json``."""
        return dict(self._asdict())

    def __str__(self) -> str:
        return "lines: " + ", ".join(f"{name} {n}" for name, n in self._asdict().items())


_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def parse_date(text: object, option: str) -> date:
    """``YYYY-MM-DD`` as a date; ``ValueError`` naming ``option`` otherwise.

        >>> parse_date("2026-08-21", "--since")
        datetime.date(2026, 8, 21)
    """
    if isinstance(text, date):
        return text
    if not isinstance(text, str) or not _DATE.match(text):
        raise ValueError(f"{option} takes a date as YYYY-MM-DD, not {text!r}")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{option}: {text!r} is not a real date") from None


@dataclass(frozen=True)
class StatsQuery:
    """What ``stats`` is asked: checked against the template's fields by :meth:`make`."""

    by: tuple[str, ...] = ()
    every: str | None = None
    since: date | None = None
    until: date | None = None
    k: int = 1

    @classmethod
    def make(cls, fields: Sequence[str], *, by: Iterable[str] | str = (),
             every: str | None = None, since: object = None, until: object = None,
             k: object = 1) -> StatsQuery:
        """Validate a query for a template with ``fields``; ``ValueError`` names the problem.

        ``by`` may be a list or a comma-separated string; ``since``/``until`` dates or
        ``YYYY-MM-DD`` text.

            >>> StatsQuery.make(("base", "os"), by="os", every="week").by
            ('os',)
        """
        names = [n.strip() for n in by.split(",")] if isinstance(by, str) else list(by)
        names = [n for n in names if n]
        usable = [f for f in fields if f != "base"]
        for name in names:
            if name not in usable:
                raise ValueError(
                    f"--by {name}: the template has no field {name!r}"
                    f" (its fields: {', '.join(usable) or 'none'})"
                )
        own = ("events", "reporters", "period") if every is not None else ("events", "reporters")
        for name in names:
            if name in own:  # its value would overwrite that column of each row
                raise ValueError(f"--by {name}: a field cannot be named like the stats"
                                 f" column {name!r}; rename the field in the template")
        if len(set(names)) != len(names):
            raise ValueError(f"--by names a field twice: {','.join(names)}")
        if every is not None and every not in PERIODS:
            raise ValueError(f"--every takes day, week or month, not {every!r}")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"--k takes a whole number of at least 1, not {k!r}")
        first = None if since is None else parse_date(since, "--since")
        last = None if until is None else parse_date(until, "--until")
        return cls(tuple(names), every, first, last, k)

    @property
    def needs_time(self) -> bool:
        """Whether lines without a time are left out of the rows."""
        return self.every is not None or self.since is not None or self.until is not None


def period_start(day: str, every: str) -> str:
    """The ISO date the ``every`` period holding the UTC ``day`` starts on.

        >>> period_start("2026-08-21", "week"), period_start("2026-08-21", "month")
        ('2026-08-17', '2026-08-01')
    """
    if every == "day":
        return day
    if every == "month":
        return day[:8] + "01"
    moment = date(int(day[:4]), int(day[5:7]), int(day[8:10]))
    return (moment - timedelta(days=moment.weekday())).isoformat()


# Whether str hashes are keyed by a random per-process secret (see reporter_key).
_RANDOM_STRING_HASH = (
    sys.implementation.name == "cpython"
    and os.environ.get("PYTHONHASHSEED", "random") == "random"
    and sys.flags.hash_randomization == 1
    and sys.hash_info.width == 64
)


def new_secret() -> bytes:
    """A random key for one run's reporter hashes (never stored)."""
    return os.urandom(32)


def reporter_key(secret: bytes, day: str, client: str, agent: str | None) -> int:
    """The keyed hash that stands for one reporter on one UTC day: 64 bits, as a signed
    integer (what SQLite stores).

    It is BLAKE2b keyed with ``secret``; or, when CPython's own string hash is keyed at
    random for this process (``PYTHONHASHSEED`` unset or ``random``: SipHash with a
    per-process key), that hash, which is several times faster.

        >>> k = new_secret()
        >>> one = reporter_key(k, "2026-08-21", "192.0.2.1", "ua")
        >>> one == reporter_key(k, "2026-08-21", "192.0.2.1", "ua"), -2**63 <= one < 2**63
        (True, True)
    """
    text = f"{day}\0{client}\0{agent or ''}"
    if _RANDOM_STRING_HASH:
        return hash(text)
    digest = hashlib.blake2b(
        text.encode("utf-8", "surrogatepass"), key=secret, digest_size=8
    ).digest()
    return int.from_bytes(digest, "little", signed=True)


def _measure(events: int, reporters: int | None) -> int:
    return events if reporters is None else reporters


def finish(counts: Counts, groups: Mapping[GroupKey, GroupValue], query: StatsQuery,
           union: Callable[[Sequence[GroupKey]], int | None]) -> dict[str, Any]:
    """Fold, order and shape the groups into the ``stats --json`` structure.

    ``groups`` maps ``(period or None, by values)`` to ``(events, reporters or None)``;
    ``union(keys)`` gives the number of distinct reporter-days over those groups (``None``
    when none of them has any), for the folded groups only.
    """
    width = len(query.by)
    all_other = (OTHER,) * width
    kept: list[tuple[str | None, tuple[str, ...], int, int | None]] = []
    folded: dict[str | None, list[GroupKey]] = {}
    for key, (events, reporters) in groups.items():
        if _measure(events, reporters) < query.k or key[1] == all_other:
            folded.setdefault(key[0], []).append(key)
        else:
            kept.append((key[0], key[1], events, reporters))
    for period, keys in folded.items():
        events = sum(groups[key][0] for key in keys)
        reporters = union(keys) if len(keys) > 1 else groups[keys[0]][1]
        if _measure(events, reporters) >= query.k:
            kept.append((period, all_other, events, reporters))
    return shape(counts, kept, query)


def shape(counts: Counts, groups: list[tuple[str | None, tuple[str, ...], int, int | None]],
          query: StatsQuery) -> dict[str, Any]:
    """Order the final groups (events descending, then period and values) and shape the
    ``stats --json`` structure; every engine ends here.

        >>> shape(Counts(1, 0, 0, 0), [(None, ("linux",), 1, 1)],
        ...       StatsQuery.make(("os",), by=["os"]))["rows"]
        [{'os': 'linux', 'events': 1, 'reporters': 1}]
    """
    groups.sort(key=lambda g: (-g[2], g[0] or "", g[1]))
    rows: list[dict[str, Any]] = []
    for period, values, events, reporters in groups:
        row: dict[str, Any] = {"period": period} if query.every else {}
        row.update(zip(query.by, values))
        row["events"] = events
        row["reporters"] = reporters
        rows.append(row)
    return {"lines": counts.as_dict(), "rows": rows}
