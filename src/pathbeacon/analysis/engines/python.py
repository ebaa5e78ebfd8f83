"""The python engine: the standard library only, one pass, bounded memory.

Decoding holds a batch of lines at a time; ``stats`` holds one entry per group and per
distinct reporter-day (a 64-bit keyed hash), moving the hashes to a temporary file
(deleted when the run ends) past :data:`SPILL_AFTER` of them, 8 bytes each, and
counting each group's day from there at the end, so memory stays bounded. Format and
fits rules: see :mod:`~pathbeacon.analysis.formats` and :mod:`~pathbeacon.analysis.matcher`.
"""

from __future__ import annotations

import gc
import tempfile
import zlib
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from operator import itemgetter
from typing import IO, Any, Optional

from ..formats import NONCHARACTER, Record, line_text, parser
from ..stats import (
    _RANDOM_STRING_HASH,
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

#: Reporter-day hashes held in memory (about 85 bytes each in a dict: some 170 MB)
#: before they move to a temporary file (8 bytes each, read back one group's day at a
#: time when the run ends), so memory stays flat whatever the log's size.
SPILL_AFTER = 2_000_000

#: Bytes of lines read (and decoded) at a time.
BATCH_BYTES = 1 << 20

# (time, status, client, target, values) of one matched line
_Hit = tuple[Optional[str], int, Optional[str], str, dict[str, str]]


def _batches(stream: Iterable[bytes]) -> Iterator[str | list[str | None]]:
    """The lines of ``stream`` in batches: a text of lines joined by ``\\n`` (each without
    its trailing ``\\r``; for :meth:`~pathbeacon.analysis.formats.Parser.scan_text`), or,
    for a batch that is not all valid text, the list of its non-empty lines, ``None`` for
    one that is ``malformed`` whatever its format (:func:`~pathbeacon.analysis.formats.line_text`).
    A UTF-8 character never holds a ``\\n`` byte, so the lines are the same either way."""
    readlines = getattr(stream, "readlines", None)
    if readlines is None:  # any iterable of lines (not a file): one batch per line
        chunks: Iterable[list[bytes]] = ([raw] for raw in stream)
    else:
        chunks = iter(lambda: readlines(BATCH_BYTES), [])
    for chunk in chunks:
        try:  # (one line alone is not copied: it may be up to 2 GiB)
            text = (chunk[0] if len(chunk) == 1 else b"".join(chunk)).decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None and NONCHARACTER not in text:
            if "\r" in text:
                # one "\r" off each line's end: every line but a last one ends with "\n"
                text = text.replace("\r\n", "\n")
                if text[-1:] == "\r":
                    text = text[:-1]
            yield text
            continue
        lines: list[str | None] = []
        for raw in chunk:
            if raw[-1:] == b"\n":
                raw = raw[:-1]
            if raw[-1:] == b"\r":
                raw = raw[:-1]
            if raw:
                lines.append(line_text(raw))
        yield lines


def _records(plan: Plan) -> Iterator[list[Record | None]]:
    """The records of every line of the logs, in batches (``None``: ``malformed``).

    A damaged or cut-short compressed log is one clear error (``ValueError``).
    """
    for source in plan.sources:
        reader = parser(source.format)
        scan = reader.scan
        with source.open() as stream:
            try:
                for batch in _batches(stream):
                    if isinstance(batch, str):
                        yield reader.scan_text(batch)
                    else:
                        yield [scan(line) if line is not None else None
                                     for line in batch]
            except (OSError, EOFError, zlib.error) as error:
                raise ValueError(f"cannot read {source.name}: {error}") from None


def _hits(plan: Plan, counts: list[int]) -> Iterator[list[_Hit]]:
    """Every matched line, in batches; ``counts`` (matched, bad_status, other_path,
    malformed) grows. (``stats`` follows the same rules in its own loop.)"""
    match = plan.matcher.match
    targets: dict[str, dict[str, str] | None] = {}  # the matcher's answers, at hand
    for records in _records(plan):
        if len(targets) >= _TARGETS_KEPT:
            targets.clear()
        hits: list[_Hit] = []
        add = hits.append
        malformed = other = bad = 0
        for record in records:
            if record is None:
                malformed += 1
                continue
            time, target, status, _agent, client = record
            if target is None:
                other += 1
                continue
            values = targets.get(target, _NO_TARGET)
            if values is _NO_TARGET:
                values = targets[target] = match(target)
            if values is None:
                other += 1
            elif status is None or not 200 <= status <= 399:
                bad += 1
            else:
                add((time, status, client, target, values))
        counts[0] += len(hits)
        counts[1] += bad
        counts[2] += other
        counts[3] += malformed
        yield hits


_NO_TARGET: Any = object()
# Targets whose answers a run keeps at hand (as the matcher does: about 10 MB at most)
_TARGETS_KEPT = 20_000


class _ReporterDays:
    """Distinct reporter-day hashes per group: for each group a dict from hash to its UTC
    day's number (the hash stands for a day and an address, so the dict's size is the
    group's reporter-days and the days' counts in it its machines by day). Past
    :data:`SPILL_AFTER` hashes they move to a temporary file (private, deleted on close)
    as runs of 8-byte integers, one run per group and day, so memory stays bounded;
    counting then reads one group's day (or, for a union, one day) at a time."""

    def __init__(self) -> None:
        #: group -> {hash: day number} of the hashes added since the last spill
        self.groups: dict[int, dict[int, int]] = {}
        #: UTC day -> its number here
        self.days: dict[str, int] = {}
        self._runs: dict[tuple[int, int], list[tuple[int, int]]] = {}  # -> (offset, count)
        self._file: IO[bytes] | None = None
        self._size = 0
        self._held = 0  # the hashes held when last counted...
        self._added = 0  # ...and the most added since

    def of(self, group: int) -> dict[int, int]:
        """The dict of ``group``, for the caller to add ``hash: day number`` pairs to
        with ``setdefault`` (then :meth:`check`)."""
        held = self.groups.get(group)
        if held is None:
            held = self.groups[group] = {}
        return held

    def check(self, added: int) -> None:
        """Spill when :data:`SPILL_AFTER` hashes or more are held, ``added`` being the
        most the caller added since the last check."""
        self._added += added
        if self._held + self._added < SPILL_AFTER:
            return
        self._held = sum(map(len, self.groups.values()))
        self._added = 0
        if self._held >= SPILL_AFTER:
            self._spill()

    def _spill(self) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="pathbeacon-")  # noqa: SIM115
        write = self._file.write
        for group, held in self.groups.items():
            by_day: dict[int, list[int]] = {}
            for key, day in held.items():
                found = by_day.get(day)
                if found is None:
                    by_day[day] = [key]
                else:
                    found.append(key)
            for day, keys in by_day.items():
                run = array("q", keys)
                write(run.tobytes())
                self._runs.setdefault((group, day), []).append((self._size, len(run)))
                self._size += len(run) * run.itemsize
            held.clear()
        self._held = self._added = 0

    def _cell(self, group: int, day: int) -> list[array[int]]:
        assert self._file is not None
        runs = []
        for offset, count in self._runs.get((group, day), ()):
            self._file.seek(offset)
            run = array("q")
            run.frombytes(self._file.read(count * run.itemsize))
            runs.append(run)
        return runs

    def counts(self) -> dict[int, tuple[int, int]]:
        """(reporter-days, machines) of each group that has any."""
        if self._file is None:
            return {group: (len(held), max(Counter(held.values()).values()))
                    for group, held in self.groups.items() if held}
        self._spill()
        assert self._file is not None
        self._file.flush()
        sizes: dict[int, list[int]] = {}
        for group, day in self._runs:
            runs = self._cell(group, day)
            # each run is distinct in itself
            size = len(runs[0]) if len(runs) == 1 else len(set().union(*runs))
            sizes.setdefault(group, []).append(size)
        return {group: (sum(found), max(found)) for group, found in sizes.items()}

    def union(self, groups: list[int]) -> tuple[int, int] | None:
        """(reporter-days, machines) over ``groups`` together; None when they have none."""
        if self._file is None:
            merged: dict[int, int] = {}
            for group in groups:
                merged.update(self.groups.get(group, {}))
            if not merged:
                return None
            return len(merged), max(Counter(merged.values()).values())
        self._spill()
        wanted = set(groups)
        by_day: dict[int, list[int]] = {}
        for group, day in self._runs:
            if group in wanted:
                by_day.setdefault(day, []).append(group)
        if not by_day:
            return None
        sizes = [len(set().union(*(run for group in members for run in self._cell(group, day))))
                 for day, members in by_day.items()]  # one day's hashes at a time
        return sum(sizes), max(sizes)

    def close(self) -> None:
        self.groups.clear()
        self._runs.clear()
        if self._file is not None:
            self._file.close()
            self._file = None


class PythonEngine(Engine):
    """Streams the logs through Python's ``re``; no dependency, any size, one core."""

    name = "python"

    def decode(self, plan: Plan) -> Decoded:
        counts = [0, 0, 0, 0]

        def rows() -> Iterator[dict[str, Any]]:
            for hits in _hits(plan, counts):
                for time, status, _client, _target, values in hits:
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
        # key -> [events, group number, its reporters ({hash: day number}) or None]
        groups: dict[GroupKey, list[Any]] = {}
        # target -> (its by values, its groups by period: one dict for every target of
        # the same values), or None when it does not fit; bounded like the matcher's
        targets: dict[str, tuple[tuple[str, ...], dict[str | None, list[Any]]] | None] = {}
        by_values: dict[tuple[str, ...], dict[str | None, list[Any]]] = {}
        reporters = _ReporterDays()
        day_numbers = reporters.days
        # UTC day -> (its period, its number), or None when the query leaves it out
        days: dict[str | None, tuple[str | None, int] | None] = {}
        if len(by) > 1:
            pick: Callable[[dict[str, str]], tuple[str, ...]] = itemgetter(*by)
        elif by:
            name = by[0]

            def pick(values: dict[str, str]) -> tuple[str, ...]:
                return (values[name],)
        else:

            def pick(values: dict[str, str]) -> tuple[str, ...]:
                return ()

        def day_of(day: str | None) -> tuple[str | None, int] | None:
            if needs_time and (
                day is None or (since and day < since) or (until and day >= until)
            ):
                return None
            if day is None:
                return None, -1
            period = period_start(day, every) if every is not None else None
            return period, day_numbers.setdefault(day, len(day_numbers))

        match = plan.matcher.match
        missing = _NO_TARGET
        addresses: dict[str, str] = {}  # recent clients' addresses, computed once each
        fast_key = _RANDOM_STRING_HASH  # reporter_key is then hash(), inlined
        collecting = gc.isenabled()
        gc.disable()  # no cycles are made here: the collector would only slow the loop
        try:
            for records in _records(plan):
                if len(targets) >= _TARGETS_KEPT:
                    targets.clear()
                matched = malformed = other = bad = 0
                # the rules of _hits, then the group and the reporter-day of each line
                for record in records:
                    if record is None:
                        malformed += 1
                        continue
                    time, target, status, _agent, client = record
                    if target is None:
                        other += 1
                        continue
                    slot = targets.get(target, missing)
                    if slot is missing:
                        values = match(target)
                        if values is None:
                            slot = None
                        else:
                            picked = pick(values)
                            slot = (picked, by_values.setdefault(picked, {}))
                        targets[target] = slot
                    if slot is None:
                        other += 1
                        continue
                    if status is None or not 200 <= status <= 399:
                        bad += 1
                        continue
                    matched += 1
                    day = time[:10] if time is not None else None
                    known = days.get(day, missing)
                    if known is missing:
                        known = days[day] = day_of(day)
                    if known is None:
                        continue
                    period, number = known
                    group = slot[1].get(period)
                    if group is None:
                        key = (period, slot[0])
                        group = groups.get(key)
                        if group is None:
                            group = groups[key] = [0, len(groups), None]
                        slot[1][period] = group
                    group[0] += 1
                    if client is not None and day is not None:
                        address = addresses.get(client)
                        if address is None:
                            address = addresses[client] = address_key(client)
                            if len(addresses) > 4096:
                                addresses.clear()
                        held = group[2]
                        if held is None:
                            held = group[2] = reporters.of(group[1])
                        held.setdefault(hash(f"{day}\0{address}") if fast_key
                                        else reporter_key(secret, day, address), number)
                counts[0] += matched
                counts[1] += bad
                counts[2] += other
                counts[3] += malformed
                reporters.check(matched)
            del secret
            addresses.clear()
            targets.clear()
            by_values.clear()
            reach = reporters.counts()
            final: dict[GroupKey, GroupValue] = {}
            for key, (events, number, _held) in groups.items():
                reached = reach.get(number)
                final[key] = (events, None, None) if reached is None else (events, *reached)

            def union(sets: Sequence[Sequence[GroupKey]]) -> list[Reach]:
                return [reporters.union([groups[key][1] for key in keys]) for keys in sets]

            return finish(Counts(*counts), final, query, union)
        finally:
            if collecting:
                gc.enable()
            reporters.close()
