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
  Its *address* is the client text as written, except that an IPv6 address (text of hex
  digits, colons and dots holding a colon) stands for its ``/64`` network, and an
  IPv4-mapped one (``::ffff:192.0.2.1``) for its IPv4 address (:func:`address_key`): one
  host holds a whole ``/64`` and may pick any address in it. The user agent plays no part
  (a client sending many agents is still one address). A *reporter-day* is a distinct
  ``(UTC day, address)``; a group's ``reporters`` is the number of distinct reporter-days
  among its lines that count, or ``None`` when none does (the format has no client), and
  its *machines* is the largest number of distinct addresses on any one UTC day among
  them. Engines compare a keyed hash of ``day + "\\0" + address`` with a random per-run
  key (:func:`reporter_key`), never the client itself, and never output it; the python
  engine keeps them in memory, then in a temporary file deleted with the run.
- **k.** A group's *measure* is its machines, or its ``events`` when its ``reporters`` is
  ``None``: a lower bound on the machines behind it, as long as a machine reports from one
  address (one IPv6 ``/64``) a day, whatever it writes in its requests. Within each period
  (or overall without ``every``), groups whose measure is below ``k``, and any group whose
  ``by`` values are all literally ``other``, are folded into one group with every ``by``
  value ``other``, its ``events``, reporters and machines counted over the union of their
  lines. If that fold is itself below ``k`` while some group of the period is shown, the
  shown group of the smallest measure (then fewest events, then values) joins the fold
  too, until the fold reaches ``k``; so the shown rows of a period always add up to all
  its events, and no reader can subtract the rows from a total to learn what a group too
  small to show holds. A fold below ``k`` with nothing left to join is dropped: the
  whole period then shows no row. With ``k = 1`` nothing is ever folded away (every group
  has a measure of at least 1).
- **Order.** Rows by ``events`` descending, then ``period``, then the ``by`` values in
  order, comparing text by code points.

    >>> query = StatsQuery.make(("os", "arch", "version"), by=["os"], k=2)
    >>> days = {"linux": {1, 2}, "aix": {3}, "hp-ux": {4}}  # each a one-day reporter
    >>> groups = {(None, ("linux",)): (5, 2, 2), (None, ("aix",)): (1, 1, 1),
    ...           (None, ("hp-ux",)): (1, 1, 1)}
    >>> def union(sets):
    ...     return [(n, n) for n in (len(set().union(*(days[v[0]] for _, v in keys)))
    ...                              for keys in sets)]
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
    "K_GUARANTEE",
    "OTHER",
    "PERIODS",
    "Counts",
    "StatsQuery",
    "address_key",
    "address_sql",
    "finish",
    "measure",
    "period_start",
    "reporter_key",
    "shape",
]

#: What ``k`` guarantees, in one sentence (``docs/privacy.md``; the dashboard's words).
K_GUARANTEE = (
    "Each row counts beacons from at least {k} different client addresses on one UTC day"
    " (an IPv6 address counting as its /64 network), so at least {k} machines unless one"
    " machine used several addresses that day, or at least {k} events when the log records"
    " no client; smaller groups are pooled into 'other', with the smallest shown group"
    " added when needed so that no pooled count can be worked out by subtracting rows"
    " from the totals."
)
#: The value every ``by`` field takes in the folded group.
OTHER = "other"
#: Accepted values of ``every``.
PERIODS = ("day", "week", "month")

#: A group: (period or None, by values).
GroupKey = tuple[Optional[str], tuple[str, ...]]
#: What an engine tells of a group: (events, reporters or None, machines or None).
GroupValue = tuple[int, Optional[int], Optional[int]]
#: (reporters, machines) over several groups' lines together; None when none counts.
Reach = Optional[tuple[int, int]]
#: The engine's count over unions of groups: one :data:`Reach` per list of groups given.
Union = Callable[[Sequence[Sequence[GroupKey]]], Sequence[Reach]]


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


def reporter_key(secret: bytes, day: str, address: str) -> int:
    """The keyed hash that stands for one address (:func:`address_key`) on one UTC day:
    64 bits, as a signed integer (what SQLite stores).

    It is BLAKE2b keyed with ``secret``; or, when CPython's own string hash is keyed at
    random for this process (``PYTHONHASHSEED`` unset or ``random``: SipHash with a
    per-process key), that hash, which is several times faster.

        >>> k = new_secret()
        >>> one = reporter_key(k, "2026-08-21", "192.0.2.1")
        >>> one == reporter_key(k, "2026-08-21", "192.0.2.1"), -2**63 <= one < 2**63
        (True, True)
    """
    text = f"{day}\0{address}"
    if _RANDOM_STRING_HASH:
        return hash(text)
    digest = hashlib.blake2b(
        text.encode("utf-8", "surrogatepass"), key=secret, digest_size=8
    ).digest()
    return int.from_bytes(digest, "little", signed=True)


_ADDRESS_TEXT = frozenset("0123456789abcdefABCDEF:.")


def address_key(client: str) -> str:
    """The address that stands for ``client`` when machines are counted: an IPv6 address
    as its ``/64`` network, an IPv4-mapped one as its IPv4 address, anything else as written.

    Only text of hex digits, colons and dots holding a colon is read as IPv6; it is
    expanded (``::`` filled with zero groups) and its first four groups kept without
    leading zeros, so the many addresses one host may use inside its ``/64`` are one.
    :func:`address_sql` is the same rule in SQL, for every input.

        >>> address_key("2001:DB8::1"), address_key("2001:db8:0:0:ffff::2")
        ('2001:db8:0:0::/64', '2001:db8:0:0::/64')
        >>> address_key("::ffff:192.0.2.1"), address_key("192.0.2.1"), address_key("x")
        ('192.0.2.1', '192.0.2.1', 'x')
    """
    if ":" not in client or not _ADDRESS_TEXT.issuperset(client):
        return client
    text = client.lower()
    if text.startswith("::ffff:") and "." in text[7:] and ":" not in text[7:]:
        return text[7:]
    head, double, tail = text.partition("::")
    first = head.split(":") if head else []
    last = tail.split(":") if tail else []
    zeros = max(0, 8 - len(first) - len(last) - ("." in text)) if double else 0
    groups = (first + ["0"] * zeros + last)[:4]
    return ":".join(group.lstrip("0") or "0" for group in groups) + "::/64"


def address_sql(client: str, dialect: str) -> str:
    """:func:`address_key` as an SQL expression over the text column ``client``, in the
    ``duckdb`` or ``spark`` dialect (``NULL`` stays ``NULL``).

        >>> address_sql("client", "duckdb").startswith("CASE WHEN client IS NULL")
        True
    """
    if dialect not in ("duckdb", "spark"):
        raise ValueError(f"unknown SQL dialect {dialect!r}: duckdb or spark")
    duck = dialect == "duckdb"
    text = f"lower({client})"
    at = f"instr({text}, '::')"
    head = f"CASE WHEN {at} > 0 THEN substr({text}, 1, {at} - 1) ELSE {text} END"
    tail = f"CASE WHEN {at} > 0 THEN substr({text}, {at} + 2) ELSE '' END"
    empty = "CAST([] AS VARCHAR[])" if duck else "CAST(array() AS ARRAY<STRING>)"

    def groups(part: str) -> str:
        split = f"string_split({part}, ':')" if duck else f"split({part}, ':')"
        return f"(CASE WHEN {part} = '' THEN {empty} ELSE {split} END)"

    first, last = groups(head), groups(tail)
    size = "len" if duck else "size"
    zeros = (f"CASE WHEN {at} > 0 THEN greatest(0, 8 - {size}({first}) - {size}({last})"
             f" - CASE WHEN instr({text}, '.') > 0 THEN 1 ELSE 0 END) ELSE 0 END")
    trim = "coalesce(nullif(regexp_replace(g, '^0+', ''), ''), '0')"
    if duck:
        filled = (f"list_concat(list_concat({first}, list_transform(range(CAST({zeros} AS"
                  f" BIGINT)), lambda i: '0')), {last})")
        prefix = (f"array_to_string(list_transform(list_slice({filled}, 1, 4),"
                  f" lambda g: {trim}), ':')")
    else:
        filled = f"concat({first}, array_repeat('0', {zeros}), {last})"
        prefix = f"array_join(transform(slice({filled}, 1, 4), g -> {trim}), ':')"
    rest = f"substr({text}, 8)"
    return (
        f"CASE WHEN {client} IS NULL THEN NULL"
        f" WHEN instr({client}, ':') = 0"
        f" OR translate({client}, '0123456789abcdefABCDEF:.', '') <> '' THEN {client}"
        f" WHEN {text} LIKE '::ffff:%' AND instr({rest}, '.') > 0 AND instr({rest}, ':') = 0"
        f" THEN {rest}"
        f" ELSE concat({prefix}, '::/64') END"
    )


def measure(value: GroupValue) -> int:
    """What ``k`` is compared with: the machines, or the events when no line has a client.

        >>> measure((9, 4, 2)), measure((9, None, None))
        (2, 9)
    """
    events, reporters, machines = value
    return events if reporters is None or machines is None else machines


def finish(counts: Counts, groups: Mapping[GroupKey, GroupValue], query: StatsQuery,
           union: Union) -> dict[str, Any]:
    """Fold, order and shape the groups into the ``stats --json`` structure: the k rule,
    for every engine and the store.

    ``groups`` maps ``(period or None, by values)`` to ``(events, reporters or None,
    machines or None)``; ``union(sets)`` gives, for each list of group keys in ``sets``,
    ``(reporters, machines)`` over their lines together (``None`` when none of them counts
    towards reporters). It is called only for folds, a few times at most, each time with
    every period's fold at once.
    """
    k = query.k
    all_other = (OTHER,) * len(query.by)
    shown: dict[str | None, list[GroupKey]] = {}
    folds: dict[str | None, list[GroupKey]] = {}
    for key, value in groups.items():
        if measure(value) < k or key[1] == all_other:
            folds.setdefault(key[0], []).append(key)
        else:
            shown.setdefault(key[0], []).append(key)
    for keys in shown.values():  # the order in which shown groups join a fold below k
        keys.sort(key=lambda g: (measure(groups[g]), groups[g][0], g[1]), reverse=True)
    folded: dict[str | None, GroupValue] = {}
    pending = dict(folds)
    while pending:
        periods = [p for p in pending if len(pending[p]) > 1]
        reach = dict(zip(periods, union([pending[p] for p in periods]) if periods else ()))
        for period, keys in pending.items():
            if len(keys) == 1:  # a fold of one group: what the engine said of it
                _, reporters, machines = groups[keys[0]]
                reach[period] = None if reporters is None or machines is None else (
                    reporters, machines)
        pending = {}
        for period, found in reach.items():
            events = sum(groups[key][0] for key in folds[period])
            value = (events, None, None) if found is None else (events, *found)
            folded[period] = value
            if measure(value) < k and shown.get(period):
                folds[period].append(shown[period].pop())
                pending[period] = folds[period]
    final = [(key[0], key[1], *groups[key][:2]) for keys in shown.values() for key in keys]
    final += [(period, all_other, value[0], value[1]) for period, value in folded.items()
              if measure(value) >= k]
    return shape(counts, final, query)


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
