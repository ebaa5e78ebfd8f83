"""Access-log formats: what a line of each holds, written as rules every engine can follow.

Each format turns one line into a :data:`Record`: ``(time, target, status, agent, client)``
where ``time`` is a UTC ISO string (``2026-08-21T12:00:00Z``) or ``None``, ``target`` the
request target (path and query, or an absolute URL) or ``None`` when the request cannot be
split, ``status`` an ``int`` or ``None``, and ``agent``/``client`` raw text or ``None``.
A line that is not a line of its format gives ``None`` (counted ``malformed``).

    >>> line = ('203.0.113.9 - - [21/Aug/2026:14:00:00 +0200] "GET /t/acme/1.0 HTTP/1.1" '
    ...         '204 0 "-" "pathbeacon/1.0"')
    >>> parser("combined").parse(line)
    ('2026-08-21T12:00:00Z', '/t/acme/1.0', 204, 'pathbeacon/1.0', '203.0.113.9')

Rules shared by every format (the SQL engines reproduce them exactly):

- A file is read as bytes and split on ``\\n``; one trailing ``\\r`` is removed from each
  line. Empty lines are not lines (not counted). A gzip file is recognised by its magic
  bytes ``1f 8b``, whatever its name. A line that is not valid UTF-8, or holds the
  noncharacter U+10FFFF (:data:`NONCHARACTER`, no text's: DuckDB's reader splits lines
  at it), is ``malformed``.
  Every other non-empty line, whatever its length (up to 2 GiB, the most a Java or DuckDB
  string holds), is in exactly one count: ``matched``, ``bad_status``, ``other_path`` (a
  line of its format whose target does not fit, or that has none, such as a header)
  or ``malformed`` (not a line of its format).
- Every pattern below is written for Python ``re``, RE2 and Java regex alike: explicit
  ASCII classes only (never ``\\s``, ``\\d``, ``\\w`` or ``.``, whose meaning differs), matched
  from the start of the line (``re.match``; ``^`` in SQL), and they say themselves where the
  line may continue.
- Times are converted to UTC and truncated to whole seconds. A time that is not a real
  calendar date and time (``31/Feb``, hour 24, second 60) makes the line ``malformed``.
- The method is not used: a ``HEAD`` counts like a ``GET`` (gateways answer both).
- ``agent`` and ``client`` are taken as written in the log (a JSON string is decoded, as
  JSON; nginx's ``\\xHH`` or CloudFront's ``%XX`` are not): they only serve to tell
  reporters apart, and an escape is a one-to-one spelling. The target is not unescaped
  either (a ``\\xHH`` in it never fits a template). The client never leaves the engine
  (see :mod:`pathbeacon.analysis.stats`).
- Status: ``matched`` needs ``200 <= status <= 399``; a ``None`` status is never matched.

Per-format rules are in each ``*_RE`` constant's comment and each parser's docstring.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Callable, Optional

__all__ = [
    "CLOUDFRONT_DEFAULT_FIELDS",
    "COMBINED_RE",
    "FORMATS",
    "HEADER",
    "JSON_MAX_BRACKETS",
    "JSON_MAX_DIGITS",
    "JSON_MAX_KEY",
    "JSON_MAX_STRING",
    "JSON_READ_KEYS",
    "NONCHARACTER",
    "REQUEST_RE",
    "S3_RE",
    "URLS_RE",
    "Record",
    "detect",
    "epoch_to_iso",
    "json_object",
    "line_text",
    "parser",
]

#: ``(time, target, status, agent, client)``; see the module docstring.
Record = tuple[Optional[str], Optional[str], Optional[int], Optional[str], Optional[str]]

#: Formats by name, in the order :func:`detect` prefers them on a tie.
FORMATS = ("cloudfront", "json", "combined", "s3", "urls")

_MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
_MONTH_NUMBER = {name: i + 1 for i, name in enumerate(_MONTHS.split("|"))}
# [21/Aug/2026:14:00:00 +0200], as nginx ($time_local), Apache (%t) and S3 write it.
_CLF_TIME = f"[0-9]{{2}}/(?:{_MONTHS})/[0-9]{{4}}:[0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}} [+-][0-9]{{4}}"
# A double-quoted field: nginx escapes '"' and '\' as \x22 and \x5C, Apache as \" and \\.
# (Written as an unrolled loop, which backtracking engines run fastest.)
_QUOTED = r'"([^"\\]*(?:\\[^\n][^"\\]*)*)"'
_QUOTED_SKIP = r'"[^"\\]*(?:\\[^\n][^"\\]*)*"'

#: combined / common: ``client ident user [time] "request" status bytes`` then, for
#: combined, `` "referer" "agent"``; anything after must start with a space (nginx formats
#: that append fields still read). Groups: 1 client, 2 time, 3 request, 4 status,
#: 5 agent (``None`` for common).
COMBINED_RE = (
    rf"^([^ ]+) [^ ]+ [^ ]+ \[({_CLF_TIME})\] {_QUOTED} ([0-9]{{3}}) (?:[0-9]+|-)"
    rf"(?: {_QUOTED_SKIP} {_QUOTED})?(?: |$)"
)

#: The request line of combined, S3 and nginx's JSON ``request``: ``METHOD SP target``
#: optionally followed by ``SP protocol``. Group 1: the target. A request that does not
#: match (``"-"``, garbage from a TLS client on a plain port) has no target: the line is a
#: line of its format, counted ``other_path``.
REQUEST_RE = r"^[^ ]+ ([^ ]+)(?: [^ ]+)?$"

#: S3 server access log: ``owner bucket [time] remote_ip requester request_id operation key
#: "request_uri" status error_code bytes_sent object_size total_time turn_around "referer"
#: "agent"`` and then anything after a space (S3 keeps adding fields). ``-`` may stand for
#: the quoted request, referer or agent and for the status. Groups: 1 time, 2 client,
#: 3 request (``None`` for ``-``: no target), 4 status (``-``: ``None``), 5 agent.
S3_RE = (
    rf"^[^ ]+ [^ ]+ \[({_CLF_TIME})\] ([^ ]+) [^ ]+ [^ ]+ [^ ]+ [^ ]+ (?:{_QUOTED}|-)"
    rf" ([0-9]{{3}}|-) [^ ]+ [^ ]+ [^ ]+ [^ ]+ [^ ]+ (?:{_QUOTED_SKIP}|-) (?:{_QUOTED}|-)(?: |$)"
)

#: urls: an absolute http(s) URL or a path (starting with ``/``), with no space or control
#: character; the whole line is the target (the matcher ignores scheme and host). Status
#: 200, no time, agent or client. A CSV header such as ``url`` is ``malformed``.
URLS_RE = (
    r"^(?:[Hh][Tt][Tt][Pp][Ss]?://[^/?#\x00-\x20\x7f]+(?:[/?#][^\x00-\x20\x7f]*)?"
    r"|/[^\x00-\x20\x7f]*)$"
)

#: CloudFront standard log fields, in the order CloudFront writes them; used until a
#: ``#Fields:`` line says otherwise.
CLOUDFRONT_DEFAULT_FIELDS = (
    "date", "time", "x-edge-location", "sc-bytes", "c-ip", "cs-method", "cs(Host)",
    "cs-uri-stem", "sc-status", "cs(Referer)", "cs(User-Agent)", "cs-uri-query", "cs(Cookie)",
    "x-edge-result-type", "x-edge-request-id", "x-host-header", "cs-protocol", "cs-bytes",
    "time-taken", "x-forwarded-for", "ssl-protocol", "ssl-cipher",
    "x-edge-response-result-type", "cs-protocol-version", "fle-status",
    "fle-encrypted-fields", "c-port", "time-to-first-byte", "x-edge-detailed-result-type",
    "sc-content-type", "sc-content-len", "sc-range-start", "sc-range-end",
)

#: What a parser returns for a header line (CloudFront's ``#`` lines), compare with ``is``:
#: a line of its format that carries no request, counted ``other_path`` like any line
#: without a target (every non-empty line is in exactly one count).
HEADER: Record = (None, None, None, None, None)

#: A line holding this noncharacter is ``malformed`` (see the module docstring).
NONCHARACTER = "\U0010ffff"

def line_text(raw: bytes) -> str | None:
    """A line's text (its ``\\n`` and trailing ``\\r`` already removed), or ``None`` when it
    is ``malformed`` whatever its format: not UTF-8, or holding :data:`NONCHARACTER`.

        >>> line_text(b"caf\\xc3\\xa9"), line_text(b"\\xff"), line_text(b"\\xf4\\x8f\\xbf\\xbf")
        ('café', None, None)
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if NONCHARACTER in text else text


#: A JSON line holding more ``[`` and ``{`` than this (strings included) is ``malformed``:
#: it bounds the nesting every engine's JSON parser must follow (Python's stops near 1,000
#: levels, Spark's at 1,000, DuckDB's never), counted the same way by each.
JSON_MAX_BRACKETS = 500
#: Spark's JSON parser (Jackson's default bounds, which Spark does not let a user set)
#: refuses a number of more digits than this (its integer, fraction and exponent
#: together; an integer part ``0`` counts none), a key longer than ``JSON_MAX_KEY`` and a
#: string longer than ``JSON_MAX_STRING`` (both in UTF-16 code units, once unescaped).
#: Python's integers stop at 4,300 digits, DuckDB reads any: a line holding one is
#: ``malformed`` on every engine.
JSON_MAX_DIGITS = 1000
JSON_MAX_KEY = 50_000
JSON_MAX_STRING = 20_000_000
#: The keys a JSON dialect reads, in the top-level object, in Caddy's ``request`` object
#: and in its ``headers``: a line that repeats one of them in that object is ``malformed``
#: (parsers disagree on which of the two counts).
JSON_READ_KEYS = (
    ("ClientRequestURI", "EdgeResponseStatus", "EdgeStartTimestamp", "ClientRequestUserAgent",
     "ClientIP", "request", "status", "ts", "uri", "time", "agent", "client"),
    ("uri", "headers", "remote_ip"),
    ("User-Agent",),
)

_COMBINED = re.compile(COMBINED_RE)
# COMBINED_RE without its optional referer and agent: a line matches one exactly when it
# matches the other (the optional part begins with the space the lean one ends at), with
# the same first four groups; for readers that need no agent (Parser.scan).
_COMBINED_LEAN = re.compile(
    rf"^([^ ]+) [^ ]+ [^ ]+ \[({_CLF_TIME})\] {_QUOTED} ([0-9]{{3}}) (?:[0-9]+|-)(?: |$)"
)
_REQUEST = re.compile(REQUEST_RE)
_S3 = re.compile(S3_RE)
_URLS = re.compile(URLS_RE)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_CACHE_LIMIT = 20_000


def _clf_minute(key: str) -> str:
    """``21/Aug/2026:14:00 +0200`` as ``2026-08-21T12:00:`` (UTC; seconds to append)."""
    moment = datetime(
        int(key[7:11]), _MONTH_NUMBER[key[3:6]], int(key[0:2]), int(key[12:14]), int(key[15:17])
    )
    offset = (int(key[19:21]) * 60 + int(key[21:23])) * (-1 if key[18] == "-" else 1)
    try:
        utc = moment - timedelta(minutes=offset)
    except OverflowError:  # the offset moves it out of years 1..9999
        raise ValueError(f"{key} is out of range in UTC") from None
    return utc.isoformat()[:17]  # isoformat, unlike strftime, pads the year to 4 digits


def _clf_time(text: str) -> str:
    """``21/Aug/2026:14:00:00 +0200`` (already matched by the pattern) as UTC ISO.

    Offsets are whole minutes, so the seconds pass through unchanged.

        >>> _clf_time("21/Aug/2026:14:00:09 +0200")
        '2026-08-21T12:00:09Z'
    """
    if text[18] > "5":
        raise ValueError(f"no second {text[18:20]}")
    return _clf_minute(text[:17] + text[20:]) + text[18:20] + "Z"


class _TimeCache:
    """Log times repeat line after line: convert each distinct text once (bounded)."""

    __slots__ = ("_convert", "_known")

    def __init__(self, convert: Callable[[str], str]) -> None:
        self._convert = convert
        self._known: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        known = self._known.get(text)
        if known is None:
            known = self._convert(text)  # ValueError for an impossible date
            if len(self._known) >= _CACHE_LIMIT:
                self._known.clear()
            self._known[text] = known
        return known


def epoch_to_iso(value: float) -> str:
    """An epoch number as UTC ISO; its unit is told by its size (JSON logs use all four).

    Below 1e11 it counts seconds, below 1e14 milliseconds, below 1e17 microseconds, else
    nanoseconds; the result is truncated to whole seconds (floor).

        >>> epoch_to_iso(1787313600), epoch_to_iso(1787313600123), epoch_to_iso(1.7873136e18)
        ('2026-08-21T12:00:00Z', '2026-08-21T12:00:00Z', '2026-08-21T12:00:00Z')
    """
    if isinstance(value, float) and not -(2**62) < value < 2**62:
        # a double is read as the shortest decimal that reads back to it (what parsers
        # write it as); below 2**62 every multiple of a unit is a double, so flooring the
        # double itself gives the same second
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{value} is not a time")
        return _epoch_text_to_iso(format(Decimal(repr(value)), "f"))
    seconds = int(value // _epoch_unit(abs(value)))  # exact for integers, floor for floats
    return (_EPOCH + timedelta(seconds=seconds)).replace(tzinfo=None).isoformat() + "Z"


def _epoch_unit(size: float) -> int:
    return 1 if size < 1e11 else 10**3 if size < 1e14 else 10**6 if size < 1e17 else 10**9


def _epoch_text_to_iso(text: str) -> str:
    """:func:`epoch_to_iso` of a string of digits (``_DIGITS``), by its exact value: its
    whole part tells the unit and a fraction only moves a negative value one lower (a
    float would round ``"1787313600.9999999999"`` up a second)."""
    whole, _, fraction = text.partition(".")
    negative = whole.startswith("-")
    digits = whole.lstrip("-").lstrip("0")
    if len(digits) > 40:  # past any time (and Python's int() of over 4,300 digits)
        raise ValueError("an epoch out of range")
    size = int(digits or "0")
    unit = _epoch_unit(size)  # |value| < 10**k exactly when its whole part is
    # floor: a negative value with a fraction is one lower than its whole part
    seconds = (-(size + (fraction.strip("0") != "")) if negative else size) // unit
    return (_EPOCH + timedelta(seconds=seconds)).replace(tzinfo=None).isoformat() + "Z"


#: An ISO 8601 / RFC 3339 time in a JSON log: date, ``T`` or space, time, optional
#: fraction, optional ``Z`` or offset ``+HH:MM``/``+HHMM``/``+HH`` (none: UTC).
ISO_TIME_RE = (
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:[.,][0-9]+)?"
    r"(?:([Zz])|([+-])([0-9]{2})(?::?([0-9]{2}))?)?$"
)
_ISO_TIME = re.compile(ISO_TIME_RE)
_CLF_ONLY = re.compile(f"^{_CLF_TIME}$")
_DIGITS = re.compile(r"^-?[0-9]+(?:\.[0-9]+)?$")
_STATUS_TEXT = re.compile("^[0-9]{1,3}$")
_SURROGATE_ESCAPE = re.compile(r"\\u[Dd][89A-Fa-f]")
_READ_KEY = re.compile('"(' + "|".join(sorted({k for keys in JSON_READ_KEYS for k in keys}))
                       + ')"')


class _Repeats(dict):  # type: ignore[type-arg]
    """A JSON object that gave some key twice: ``repeated`` names them."""

    repeated: frozenset[str] = frozenset()


def _object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    marked = _Repeats(obj)
    seen: set[str] = set()
    marked.repeated = frozenset(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
    return marked


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: Python's extension


def _units(text: str) -> int:
    """The length of ``text`` in UTF-16 code units (what Java counts)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


_ZERO_WHOLE = re.compile("-?0(?![0-9])")


def _number(text: str) -> str:
    # a whole part written "0" counts no digit (Jackson's count: "0." and 1,000 digits is read)
    if sum(map(text.count, "0123456789")) - bool(_ZERO_WHOLE.match(text)) > JSON_MAX_DIGITS:
        raise ValueError("a number of more digits than JSON_MAX_DIGITS")
    return text


def _int(text: str) -> int:
    return int(_number(text)) if len(text) > JSON_MAX_DIGITS else int(text)


def _float(text: str) -> float:
    return float(_number(text)) if len(text) > JSON_MAX_DIGITS else float(text)


def _strings_fit(value: object) -> bool:
    """Whether the strings in a list (and its lists) are at most ``JSON_MAX_STRING`` long;
    an object's were checked as it was built."""
    if isinstance(value, str):
        return len(value) <= JSON_MAX_STRING // 2 or _units(value) <= JSON_MAX_STRING
    if isinstance(value, list):
        return all(_strings_fit(item) for item in value)
    return True


def _bounded_object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """:func:`_object` for a long line: a key or string past Spark's bounds fails."""
    for key, value in pairs:
        if len(key) > JSON_MAX_KEY // 2 and _units(key) > JSON_MAX_KEY:
            raise ValueError("a key longer than JSON_MAX_KEY")
        if not _strings_fit(value):
            raise ValueError("a string longer than JSON_MAX_STRING")
    return _object(pairs)


# Strict RFC 8259: no NaN or Infinity. _CHECKED also marks objects that repeat a key.
# A line of more than JSON_MAX_DIGITS characters may hold a number past it (_LONG), one of
# more than half JSON_MAX_KEY a key past that, and so a string (_LONGEST: UTF-16 counts
# up to two units per character).
_STRICT = json.JSONDecoder(parse_constant=_no_constant)
_CHECKED = json.JSONDecoder(parse_constant=_no_constant, object_pairs_hook=_object)
_LONG = json.JSONDecoder(parse_constant=_no_constant, parse_int=_int, parse_float=_float)
_CHECKED_LONG = json.JSONDecoder(parse_constant=_no_constant, parse_int=_int,
                                 parse_float=_float, object_pairs_hook=_object)
_LONGEST = json.JSONDecoder(parse_constant=_no_constant, parse_int=_int, parse_float=_float,
                            object_pairs_hook=_bounded_object)


def _repeats_a_read_key(obj: dict[str, object]) -> bool:
    top, inner, headers = JSON_READ_KEYS
    if isinstance(obj, _Repeats) and not obj.repeated.isdisjoint(top):
        return True
    request = obj.get("request")
    if isinstance(request, dict):
        if isinstance(request, _Repeats) and not request.repeated.isdisjoint(inner):
            return True
        fields = request.get("headers")
        if isinstance(fields, _Repeats) and not fields.repeated.isdisjoint(headers):
            return True
    return False


def json_object(line: str) -> dict[str, object] | None:
    """The JSON object a JSON log line holds, or ``None`` when the line is not one by the
    rule every engine follows: strict RFC 8259 JSON (no ``NaN``/``Infinity``, trailing
    comma, single quote, raw control character or trailing text), an object, at most
    :data:`JSON_MAX_BRACKETS` brackets, no lone surrogate escape (``"\\ud800"``: not Unicode
    text), no key of :data:`JSON_READ_KEYS` given twice in its object, no number, key or
    string past Spark's bounds (:data:`JSON_MAX_DIGITS`).

        >>> json_object('{"uri": "/t/x", "status": 204}')
        {'uri': '/t/x', 'status': 204}
        >>> json_object('{"uri": "/t/x", "uri": 5}'), json_object('{"x": NaN}')
        (None, None)
    """
    if line.count("[") + line.count("{") > JSON_MAX_BRACKETS:
        return None
    keys = _READ_KEY.findall(line)
    # a read key can repeat only where its text does (or is spelled with an escape)
    checked = len(keys) != len(set(keys)) or "\\u" in line
    if len(line) > JSON_MAX_KEY // 2:
        decoder, checked = _LONGEST, True
    elif len(line) > JSON_MAX_DIGITS:
        decoder = _CHECKED_LONG if checked else _LONG
    else:
        decoder = _CHECKED if checked else _STRICT
    try:
        obj = decoder.decode(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    if checked and _repeats_a_read_key(obj):
        return None
    if _SURROGATE_ESCAPE.search(line):
        try:  # exact check, rarely needed: "\\ud800" is a backslash and text
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return None
    return obj


def _iso_time(text: str) -> str:
    match = _ISO_TIME.match(text)
    if match is None:
        raise ValueError(text)
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    moment = datetime(year, month, day, hour, minute, second)
    if match.group(8):
        offset = int(match.group(9)) * 60 + int(match.group(10) or 0)
        moment -= timedelta(minutes=-offset if match.group(8) == "-" else offset)
    return moment.isoformat() + "Z"


def json_time(value: object) -> str | None:
    """A JSON log's time field as UTC ISO; ``None`` when absent; ``ValueError`` when unreadable.

    Accepted: a JSON number or a string of digits (epoch, unit by size: :func:`epoch_to_iso`),
    an ISO 8601 string (:data:`ISO_TIME_RE`), or nginx's ``$time_local`` text.

        >>> json_time("2026-08-21T14:00:00+02:00"), json_time(1787313600.5)
        ('2026-08-21T12:00:00Z', '2026-08-21T12:00:00Z')
        >>> json_time("21/Aug/2026:14:00:00 +0200")
        '2026-08-21T12:00:00Z'
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("a boolean is not a time")
    if isinstance(value, (int, float)):
        return epoch_to_iso(value)
    if not isinstance(value, str):
        raise ValueError("not a time")
    if _DIGITS.match(value):
        return _epoch_text_to_iso(value)
    if _CLF_ONLY.match(value):
        return _clf_time(value)
    return _iso_time(value)


class Parser:
    """Reads lines of one format; one per file (CloudFront's ``#Fields`` is per file)."""

    name = ""

    def parse(self, line: str) -> Record | None:
        """The record of ``line``; ``None`` when malformed; :data:`HEADER` when not a line."""
        raise NotImplementedError

    def scan(self, line: str) -> Record | None:
        """:meth:`parse` for a reader that does not use the agent: the same record, except
        that its agent may be ``None`` where skipping it is faster."""
        return self.parse(line)

    def scan_text(self, text: str) -> list[Record | None]:
        """:meth:`scan` of each non-empty line of ``text``, in order: lines joined by
        ``\\n``, each without its trailing ``\\r`` and none holding
        :data:`NONCHARACTER` (a batch of lines read at once)."""
        scan = self.scan
        return [scan(line) for line in text.split("\n") if line]


# A status of three digits as an int
_STATUS_INT = {f"{i:03d}": i for i in range(1000)}


def _lines_re(pattern: str) -> re.Pattern[str]:
    """``pattern`` (one line's, with no class that matches a ``\\n``) for a batch of lines
    at once (``findall``): one tuple per line, its groups when the line matches, else
    an extra last group holding the line (empty for an empty line)."""
    return re.compile(f"^(?:{pattern}|" r"([^\n]*))$", re.MULTILINE)


# "HH:MM" to minutes of the day, and back as "HH:MM:" (an hour or minute out of range is
# not a key: such a time is not real)
_MINUTE_OF_DAY = {f"{h:02d}:{m:02d}": h * 60 + m for h in range(24) for m in range(60)}
_CLOCK = [f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60)]


class _DayTimes:
    """Local times to UTC ISO by each distinct date and offset, converted once: offsets are
    whole minutes, so the clock moves by table look-ups and the seconds pass through."""

    __slots__ = ("_days",)

    def __init__(self) -> None:
        # a date and its offset -> (offset minutes, the local date, ISO date by day shift,
        # the ISO date of shift 0)
        self._days: dict[str, tuple[int, datetime, dict[int, str], str]] = {}

    def _entry(self, key: str, day: datetime, offset: int
               ) -> tuple[int, datetime, dict[int, str], str]:
        if len(self._days) >= _CACHE_LIMIT:
            self._days.clear()
        # isoformat, unlike strftime, pads the year to 4 digits
        entry = self._days[key] = (offset, day, {}, day.date().isoformat() + "T")
        return entry

    @staticmethod
    def _shifted(entry: tuple[int, datetime, dict[int, str], str], minute: int,
                 second: str, what: str) -> str:
        """The UTC ISO time of a UTC ``minute`` off the local date's day (``what`` names
        the time in the error when the shift leaves years 1..9999, as the plain
        conversions say)."""
        shift, minute = divmod(minute, 1440)
        dates = entry[2]
        iso = dates.get(shift)
        if iso is None:
            try:
                moved = entry[1] + timedelta(days=shift)
            except OverflowError:
                raise ValueError(f"{what} is out of range in UTC") from None
            iso = dates[shift] = moved.date().isoformat() + "T"
        return f"{iso}{_CLOCK[minute]}{second}Z"


class _ClfTime(_DayTimes):
    """``$time_local`` texts to UTC ISO (the same result and errors as :func:`_clf_time`),
    each distinct date and offset ("21/Aug/2026 +0200") converted once."""

    __slots__ = ()

    def _day(self, key: str) -> tuple[int, datetime, dict[int, str], str]:
        day = datetime(int(key[7:11]), _MONTH_NUMBER[key[3:6]], int(key[0:2]))
        offset = (int(key[13:15]) * 60 + int(key[15:17])) * (-1 if key[12] == "-" else 1)
        return self._entry(key, day, offset)

    def __call__(self, text: str) -> str:
        entry = self._days.get(text[:11] + text[20:])
        if entry is None:
            entry = self._day(text[:11] + text[20:])  # ValueError for an impossible date
        minute = _MINUTE_OF_DAY.get(text[12:17])
        if minute is None or text[18] > "5":
            raise ValueError(f"no time {text[12:20]}")
        minute -= entry[0]
        if 0 <= minute < 1440:  # the same day in UTC
            return f"{entry[3]}{_CLOCK[minute]}{text[18:20]}Z"
        return self._shifted(entry, minute, text[18:20], text)


# nginx's $time_iso8601 and its kin: ISO_TIME_RE without a fraction (those take the
# general path); groups: 1 the date, 2 "HH:MM", 3 the seconds, 4 the zone ("", Z, +HH...)
_ISO_PLAIN = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]([0-9]{2}:[0-9]{2}):([0-9]{2})"
    r"((?:[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?)"
)


class _JsonTime(_DayTimes):
    """A JSON log's time texts to UTC ISO, as :func:`json_time` gives them (or
    ``ValueError``): the common ISO shape without a fraction by each distinct date and
    zone ("2026-08-21+02:00"), like :class:`_ClfTime`; any other text converted once per
    distinct text."""

    __slots__ = ("_other",)

    def __init__(self) -> None:
        super().__init__()
        self._other = _TimeCache(lambda text: json_time(text) or "")

    def _day(self, key: str, date: str, zone: str
             ) -> tuple[int, datetime, dict[int, str], str]:
        day = datetime(int(date[0:4]), int(date[5:7]), int(date[8:10]))
        offset = 0
        if zone not in ("", "Z", "z"):
            offset = int(zone[1:3]) * 60 + int(zone[-2:] if len(zone) > 3 else 0)
            if zone[0] == "-":
                offset = -offset
        return self._entry(key, day, offset)

    def __call__(self, text: str) -> str:
        match = _ISO_PLAIN.fullmatch(text)
        if match is None:
            return self._other(text)
        return self.iso(*match.groups())

    def iso(self, date: str, clock: str, second: str, zone: str) -> str:
        """The UTC ISO time of the groups of :data:`_ISO_PLAIN`."""
        entry = self._days.get(date + zone)
        if entry is None:
            entry = self._day(date + zone, date, zone)  # ValueError for an impossible date
        minute = _MINUTE_OF_DAY.get(clock)
        if minute is None or second > "59":
            raise ValueError(f"no time {clock}:{second}")
        minute -= entry[0]
        if 0 <= minute < 1440:  # the same day in UTC
            return f"{entry[3]}{_CLOCK[minute]}{second}Z"
        return self._shifted(entry, minute, second, f"{date} {clock} {zone}")


def _target(request: str) -> str | None:
    """The target of a request line, as :data:`REQUEST_RE` finds it."""
    parts = request.split(" ")
    count = len(parts)
    if count == 3:
        return parts[1] if parts[0] and parts[1] and parts[2] else None
    if count == 2:
        return parts[1] if parts[0] and parts[1] else None
    return None


class CombinedParser(Parser):
    """nginx/Apache combined and common: :data:`COMBINED_RE`, then :data:`REQUEST_RE` on
    the request. Every field listed is required; the time carries its offset."""

    name = "combined"

    def __init__(self) -> None:
        self._time = _ClfTime()
        self._requests: dict[str, str] = {}  # request -> its target, or ""

    def parse(self, line: str) -> Record | None:
        match = _COMBINED.match(line)
        if match is None:
            return None
        client, when, request, status, agent = match.groups()
        try:
            time = self._time(when)
        except ValueError:
            return None
        return (time, _target(request), int(status), agent, client)

    def scan(self, line: str) -> Record | None:
        match = _COMBINED_LEAN.match(line)
        if match is None:
            return None
        client, when, request, status = match.groups()
        try:
            time = self._time(when)
        except ValueError:
            return None
        return (time, _target(request), int(status), None, client)

    def scan_text(self, text: str) -> list[Record | None]:
        time_of = self._time.__call__  # a bound method: called faster than the object
        requests = self._requests
        if len(requests) >= _CACHE_LIMIT:
            requests.clear()
        match = _COMBINED_LEAN.match
        records: list[Record | None] = []
        add = records.append
        for line in text.split("\n"):
            found = match(line)
            if found is None:
                if line:
                    add(None)
                continue
            client, when, request, status = found.groups()
            try:
                time = time_of(when)
            except ValueError:
                add(None)
                continue
            target = requests.get(request)
            if target is None:
                target = requests[request] = _target(request) or ""
            add((time, target or None, _STATUS_INT[status], None, client))
        return records


class S3Parser(Parser):
    """S3 server access logs: :data:`S3_RE`, then :data:`REQUEST_RE` on the request-URI."""

    name = "s3"

    def __init__(self) -> None:
        self._time = _ClfTime()

    def parse(self, line: str) -> Record | None:
        match = _S3.match(line)
        if match is None:
            return None
        when, client, request, status, agent = match.groups()
        try:
            time = self._time(when)
        except ValueError:
            return None
        target = _target(request) if request is not None else None
        return (time, target, None if status == "-" else int(status), agent, client)


class UrlsParser(Parser):
    """One URL or path per line (:data:`URLS_RE`): status 200, no time, agent or client."""

    name = "urls"

    def parse(self, line: str) -> Record | None:
        if _URLS.match(line) is None:
            return None
        return (None, line, 200, None, None)


# A string with nothing escaped, no control character (strict JSON has none raw) and no
# bracket (so the line's brackets stay under JSON_MAX_BRACKETS)
_JSON_PLAIN = r'[^"\\\x00-\x1f\[{]*'
# The line `pathbeacon gateway nginx` writes, as it writes it (the client is optional):
# where it matches, json_object and the nginx dialect read exactly these texts (no key
# repeats, nothing to unescape), so JsonParser takes them directly.
_NGINX_JSON = re.compile(
    rf'\{{"time":"({_JSON_PLAIN})","request":"({_JSON_PLAIN})",'
    rf'"status":(0|[1-9][0-9]{{0,2}}),"agent":"({_JSON_PLAIN})"'
    rf'(?:,"client":"({_JSON_PLAIN})")?\}}'
)
# _NGINX_JSON with its time in _ISO_PLAIN's shape (its four groups first), for a batch
# of lines; any other line is read by parse_object
_NGINX_JSON_LINES = _lines_re(
    _NGINX_JSON.pattern.replace(f'"time":"({_JSON_PLAIN})"', f'"time":"{_ISO_PLAIN.pattern}"')
)


class JsonParser(Parser):
    """One JSON object per line, in one of three dialects chosen per line by its keys:

    - Cloudflare Logpush, when the object has ``ClientRequestURI``: target
      ``ClientRequestURI``, status ``EdgeResponseStatus``, time ``EdgeStartTimestamp``,
      agent ``ClientRequestUserAgent``, client ``ClientIP``.
    - Caddy, when ``request`` is an object: target ``request.uri``, status ``status``, time
      ``ts``, agent the first element of ``request.headers.User-Agent`` (a list), client
      ``request.remote_ip``.
    - nginx (``pathbeacon gateway nginx``) otherwise: target ``uri``, or else ``request``
      (a request line split by :data:`REQUEST_RE` when it holds a space, else the target
      itself), status ``status``, time ``time``, agent ``agent``, client ``client``.

    Required: a JSON object by :func:`json_object`'s rule (else ``malformed``), a target
    that is a string, and a status that is an integer 0..999 or a string of 1-3 digits.
    An empty target (``""``, or a request line :data:`REQUEST_RE` cannot split) is no
    target: the line is ``other_path``.
    Optional: the time (missing or ``null``: no time; present but unreadable:
    ``malformed``; :func:`json_time`), the agent and the client (missing, ``null``, not a
    string, or ``""``: ``None``).
    """

    name = "json"

    def __init__(self) -> None:
        self._time = _JsonTime()

    def _when(self, value: object) -> str | None:
        if isinstance(value, str):
            return self._time(value)
        return json_time(value)

    def parse(self, line: str) -> Record | None:
        plain = _NGINX_JSON.fullmatch(line)
        if plain is not None:
            when, request, status, agent, client = plain.groups()
            if len(line) > JSON_MAX_STRING // 2 and not _strings_fit(
                    [when, request, agent, client]):
                return None  # (a line of fewer characters cannot hold one too long)
            try:
                time = self._time(when)
            except (ValueError, OverflowError):
                return None
            target = (_target(request) or "") if " " in request else request
            return (time, target or None, int(status), agent or None, client or None)
        return self.parse_object(line)

    def scan_text(self, text: str) -> list[Record | None]:
        iso = self._time.iso
        parse_object = self.parse_object
        records: list[Record | None] = []
        add = records.append
        for date, clock, second, zone, request, status, agent, client, other in \
                _NGINX_JSON_LINES.findall(text):
            if not status:
                if other:
                    add(parse_object(other))
                continue
            if len(text) > JSON_MAX_STRING // 2 and not _strings_fit([request, agent, client]):
                add(None)
                continue
            try:
                time = iso(date, clock, second, zone)
            except ValueError:
                add(None)
                continue
            target = (_target(request) or "") if " " in request else request
            add((time, target or None, int(status), agent or None, client or None))
        return records

    def parse_object(self, line: str) -> Record | None:
        """:meth:`parse` by :func:`json_object` and the dialects, for every line (what
        :meth:`parse` does for the lines that are not nginx's plain shape)."""
        obj = json_object(line)
        if obj is None:
            return None
        request = obj.get("request")
        if "ClientRequestURI" in obj:
            target, status = obj["ClientRequestURI"], obj.get("EdgeResponseStatus")
            when = obj.get("EdgeStartTimestamp")
            agent, client = obj.get("ClientRequestUserAgent"), obj.get("ClientIP")
        elif isinstance(request, dict):
            target, status, when = request.get("uri"), obj.get("status"), obj.get("ts")
            headers = request.get("headers")
            agents = headers.get("User-Agent") if isinstance(headers, dict) else None
            agent = agents[0] if isinstance(agents, list) and agents else None
            client = request.get("remote_ip")
        else:
            target = obj.get("uri")
            if target is None and isinstance(request, str):
                target = (_target(request) or "") if " " in request else request
            status, when = obj.get("status"), obj.get("time")
            agent, client = obj.get("agent"), obj.get("client")
        if not isinstance(target, str):
            return None
        if isinstance(status, str) and _STATUS_TEXT.match(status):
            status = int(status)
        if type(status) is not int or not 0 <= status <= 999:
            return None
        try:
            time = self._when(when)
        except (ValueError, OverflowError):
            return None
        return (
            time,
            target or None,
            status,
            agent if isinstance(agent, str) and agent else None,
            client if isinstance(client, str) and client else None,
        )


_CF_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_CF_TIME = re.compile(r"^[0-9]{2}:[0-9]{2}:[0-9]{2}$")
_CF_STATUS = re.compile(r"^[0-9]{3}$")


class CloudFrontParser(Parser):
    """CloudFront standard logs: tab-separated values.

    A line starting with ``#`` is a header (:data:`HEADER`: no target, ``other_path``);
    ``#Fields: a b c`` (names split on
    spaces) gives the positions of the fields for the lines after it in the same file;
    before any, :data:`CLOUDFRONT_DEFAULT_FIELDS` hold. A line is a line of the format
    when it has at least as many tab-separated values as the position of every field read
    needs, ``date`` matches ``[0-9]{4}-[0-9]{2}-[0-9]{2}``, ``time`` ``[0-9]{2}:[0-9]{2}:[0-9]{2}``
    (together a real UTC date-time) and ``sc-status`` ``[0-9]{3}``; ``date``, ``time``,
    ``cs-uri-stem`` and ``sc-status`` are required (a header without one of them makes
    every line ``malformed``). Target: ``cs-uri-stem``, plus ``?`` and ``cs-uri-query`` unless
    that is ``-`` or empty or absent. Agent ``cs(User-Agent)`` and client ``c-ip`` as
    written (``None`` when the header lacks them).
    """

    name = "cloudfront"

    def __init__(self) -> None:
        self._time = _TimeCache(lambda text: text.replace(" ", "T") + "Z")
        self._use(CLOUDFRONT_DEFAULT_FIELDS)

    def _use(self, names: tuple[str, ...] | list[str]) -> None:
        where = {name: i for i, name in reversed(list(enumerate(names)))}
        self._positions = tuple(
            where.get(name, -1)
            for name in ("date", "time", "cs-uri-stem", "sc-status", "cs-uri-query",
                         "cs(User-Agent)", "c-ip")
        )
        self._required = min(self._positions[:4]) >= 0
        self._width = max(self._positions) + 1

    def parse(self, line: str) -> Record | None:
        if line.startswith("#"):
            if line.startswith("#Fields:"):
                self._use(line[len("#Fields:"):].split())
            return HEADER
        if not self._required:
            return None
        values = line.split("\t")
        if len(values) < self._width:
            return None
        date_i, time_i, stem_i, status_i, query_i, agent_i, client_i = self._positions
        date, clock, status = values[date_i], values[time_i], values[status_i]
        if not (_CF_DATE.match(date) and _CF_TIME.match(clock) and _CF_STATUS.match(status)):
            return None
        try:
            datetime.strptime(f"{date} {clock}", "%Y-%m-%d %H:%M:%S")
        except ValueError:
            return None
        target = values[stem_i]
        query = values[query_i] if query_i >= 0 else "-"
        if query not in ("-", ""):
            target = f"{target}?{query}"
        return (
            self._time(f"{date} {clock}"),
            target or None,
            int(status),
            values[agent_i] if agent_i >= 0 else None,
            values[client_i] if client_i >= 0 else None,
        )


_PARSERS: dict[str, type[Parser]] = {
    "combined": CombinedParser,
    "json": JsonParser,
    "cloudfront": CloudFrontParser,
    "s3": S3Parser,
    "urls": UrlsParser,
}


def parser(name: str) -> Parser:
    """A fresh parser for the format ``name`` (one per file).

        >>> parser("urls").parse("https://g.example/t/acme/1.0")
        (None, 'https://g.example/t/acme/1.0', 200, None, None)
    """
    try:
        return _PARSERS[name]()
    except KeyError:
        raise ValueError(
            f"unknown log format {name!r}: choose one of {', '.join(FORMATS)} or auto"
        ) from None


#: How many lines :func:`detect` looks at.
DETECT_LINES = 20


def detect(lines: list[bytes]) -> str | None:
    """The format of a file from its first lines (up to :data:`DETECT_LINES` non-empty).

    A file whose first non-empty line starts with ``#Version`` or ``#Fields`` is
    CloudFront; otherwise the format that reads the most of those lines wins, ties going
    to the earlier of :data:`FORMATS`. ``None`` when no format reads any line.

        >>> detect([b'{"time": 1787313600, "uri": "/t/x", "status": 204}'])
        'json'
    """
    texts: list[str] = []
    for raw in lines:
        raw = raw[:-1] if raw.endswith(b"\r") else raw
        if not raw:
            continue
        try:
            texts.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            continue
        if len(texts) >= DETECT_LINES:
            break
    if not texts:
        return None
    if texts[0].startswith(("#Version", "#Fields")):
        return "cloudfront"
    best, best_score = None, 0
    for name in FORMATS:
        reader = parser(name)
        score = 0
        for text in texts:
            if name != "cloudfront" and text.startswith("#"):
                continue
            result = reader.parse(text)
            if result is not None and result is not HEADER:
                score += 1
        if score > best_score:
            best, best_score = name, score
    return best
