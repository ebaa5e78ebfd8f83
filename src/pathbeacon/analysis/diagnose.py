"""Why (almost) nothing matched: a hint computed from the log itself, never a silent zero.

When under 1 % of a log's lines match the template, the commands that read logs say so on
stderr with the likely cause, found in a sample of the lines: a format that would read
them, the most common path prefix (the ``base`` they seem to use), and how many segments
their targets have against the template's.

    >>> import os, tempfile
    >>> log = os.path.join(tempfile.mkdtemp(), "access.log")
    >>> with open(log, "w") as f:
    ...     _ = f.write('{"time": 1787313600, "request": "/beacons/acme/1.0", "status": 204}\\n')
    >>> from pathbeacon.analysis import plan
    >>> the_plan = plan("<base>/<package>/<version>", [log], base="/t")
    >>> print(explain_zero(the_plan, Counts(0, 0, 1, 0)).replace("; ", ";\\n"))
    only 0 of 1 lines matched the template;
    the targets' most common path prefix is /beacons (try base=/beacons or --base /beacons)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from urllib.parse import urlsplit

from .formats import FORMATS, HEADER, parser
from .stats import Counts

__all__ = ["SAMPLE", "THRESHOLD", "explain_zero", "too_few"]

#: Under this share of matched lines, a command says why and exits with its own status.
THRESHOLD = 0.01
#: How many unmatched lines of the logs the hint looks at...
SAMPLE = 2000
#: ...among at most this many lines.
LOOK_AT = 200_000


def too_few(counts: Counts) -> bool:
    """Whether ``counts`` hold lines and under :data:`THRESHOLD` of them matched.

        >>> too_few(Counts(1, 0, 150, 0)), too_few(Counts(2, 0, 150, 0))
        (True, False)
        >>> too_few(Counts(0, 0, 0, 0))  # no line at all: nothing to say
        False
    """
    total = sum(counts)
    return total > 0 and counts.matched < THRESHOLD * total


def _counted(matcher: object, fmt: str, text: str) -> bool:
    """Whether the line ``text`` of format ``fmt`` is a matched beacon."""
    record = parser(fmt).parse(text)
    if record is None or record is HEADER or record[1] is None or record[2] is None:
        return False
    return 200 <= record[2] <= 399 and matcher.match(record[1]) is not None  # type: ignore[attr-defined]


def _sample(sources: Sequence[object], matcher: object) -> Iterator[tuple[str, str]]:
    """(format, line) pairs of lines that are not matched beacons, from the logs that can be
    read again (files, not pipes): up to :data:`SAMPLE` of them, among at most
    :data:`LOOK_AT` lines."""
    taken = read = 0
    for source in sources:
        if getattr(source, "is_stdin", True):
            continue
        try:
            for raw in source.lines():  # type: ignore[attr-defined]
                if not raw:
                    continue
                read += 1
                if read > LOOK_AT:
                    return
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    continue
                fmt: str = source.format  # type: ignore[attr-defined]
                if _counted(matcher, fmt, text):
                    continue  # the hint is about the others
                yield fmt, text
                taken += 1
                if taken >= SAMPLE:
                    return
        except (OSError, ValueError, EOFError):
            continue


def _path(target: str) -> str:
    if "://" in target:
        target = urlsplit(target).path or "/"
    return target.split("?", 1)[0].split("#", 1)[0]


def _most(counter: Counter[str]) -> tuple[str, int] | None:
    if not counter:
        return None
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))[0]


def explain_zero(the_plan: object, counts: Counts) -> str:
    """One line: how few lines matched and the likely cause, read from a sample of the logs
    of ``the_plan`` (an :class:`~pathbeacon.analysis.engines.Plan`)."""
    total = sum(counts)
    head = f"only {counts.matched} of {total} lines matched the template"
    matcher = the_plan.matcher  # type: ignore[attr-defined]
    template = matcher.template
    literals = template.literals
    # "/" between the base and the query: one per segment after the base
    segments = "".join(literals[1:]).split("?", 1)[0].count("/") + (not template.has_base)
    base_path = (matcher.base_path or "").rstrip("/")
    lines = list(_sample(the_plan.sources, matcher))  # type: ignore[attr-defined]
    hints: list[str] = []
    if counts.malformed * 2 >= total and lines:
        read_by: Counter[str] = Counter()
        for name in FORMATS:
            reader = parser(name)
            for _, text in lines:
                record = reader.parse(text)
                if record is not None and record is not HEADER:
                    read_by[name] += 1
        used = {fmt for fmt, _ in lines}
        best = _most(Counter({n: c for n, c in read_by.items() if n not in used}))
        if best is not None and best[1] > read_by.get(next(iter(used)), 0):
            hints.append(f"the lines look like --format {best[0]} (it reads {best[1]} of "
                         f"{len(lines)} sampled lines)")
        else:
            hints.append(f"most lines are not lines of the {'/'.join(sorted(used))} format"
                         " (see --format)")
    if counts.bad_status * 2 >= total and lines:
        statuses: Counter[str] = Counter()
        for fmt, text in lines:
            record = parser(fmt).parse(text)
            if record is not None and record is not HEADER and record[1] is not None \
                    and matcher.match(record[1]) is not None:
                statuses[str(record[2])] += 1
        common = _most(statuses)
        if common:
            hints.append(f"the beacons fit but were answered with status {common[0]} "
                         "(only 200-399 is counted): check the gateway's answer")
    if counts.other_path * 2 >= total and lines:
        prefixes: Counter[str] = Counter()
        lengths: Counter[int] = Counter()
        readers = {fmt: parser(fmt) for fmt, _ in lines}
        for fmt, text in lines:
            record = readers[fmt].parse(text)
            if record is None or record is HEADER or record[1] is None:
                continue
            path = _path(record[1])
            parts = path.split("/")
            if template.has_base and len(parts) > segments:
                prefixes["/".join(parts[:len(parts) - segments]) or "/"] += 1
            if base_path and (path + "/").startswith(base_path + "/"):
                lengths[path[len(base_path):].count("/")] += 1
        common_prefix = _most(prefixes)
        if template.has_base and common_prefix and common_prefix[0] != (base_path or None):
            prefix = common_prefix[0]
            hints.append(f"the targets' most common path prefix is {prefix}"
                         f" (try base={prefix} or --base {prefix})")
        common_length = _most(Counter({str(n): c for n, c in lengths.items()}))
        if common_length and int(common_length[0]) != segments:
            hints.append(f"the targets under {base_path} have {common_length[0]} segments,"
                         f" the template {segments}")
        if not hints:
            hints.append("their targets do not fit the template (compare one with"
                         " pathbeacon render)")
    if not lines:
        hints.append("(the lines could not be read again for a hint)")
    return head + "; " + "; ".join(hints)
