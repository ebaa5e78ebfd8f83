"""The template and a log format compiled into one SQL query, for DuckDB or Spark SQL.

:func:`query` gives a ``SELECT`` over a relation ``logs(line)`` of raw lines (one text
line each, without its ``\\n``) that yields, for every non-empty line, the columns
``time`` (UTC ISO text or NULL), ``status`` (integer or NULL), one column per template
field (NULL unless the line fits), ``day`` (``YYYY-MM-DD`` or NULL), ``day_number`` (that
day as days since 1970-01-01: no text per line), ``client`` and ``agent`` (what tells
reporters apart; engines hash them with a per-run key and never return them), and
``category``: ``matched``, ``bad_status``, ``other_path`` or
``malformed``. It follows the rules of :mod:`~pathbeacon.analysis.formats` and
:mod:`~pathbeacon.analysis.matcher` exactly (same regular expressions: every pattern
there is written for RE2 and Java alike), so the duckdb and spark engines give the rows
and counts the python engine gives.

    >>> from pathbeacon.analysis.matcher import Matcher
    >>> text = query(Matcher.compile("<base>/<os>", base="/t"), "duckdb", "urls")
    >>> text.startswith("-- pathbeacon"), "regexp_extract" in text
    (True, True)

Dialect differences handled here: Spark string literals take backslash escapes, Java's
``$`` also matches before a final line terminator (``\\z`` is used instead), Spark's
``url_decode`` turns ``+`` into a space, Spark has no ``json_type`` (JSON types are told
from the extracted text), and integer division is ``//`` in DuckDB, ``div`` in Spark.
Times are computed with integer arithmetic, so the session time zone never matters.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Callable

from ..encoding import MAX_LENGTH
from ..template import value_re
from .formats import _CLF_TIME as CLF_TIME_RE
from .formats import (
    CLOUDFRONT_DEFAULT_FIELDS,
    FORMATS,
    ISO_TIME_RE,
    JSON_MAX_BRACKETS,
    JSON_MAX_DIGITS,
    JSON_MAX_KEY,
    JSON_MAX_STRING,
    JSON_READ_KEYS,
    REQUEST_RE,
    S3_RE,
    URLS_RE,
)
from .matcher import ATOM_RE, NOT_DOT_ATOM_RE, Matcher, forbidden_class
from .stats import StatsQuery

__all__ = ["DIALECTS", "META_COLUMNS", "counted", "query", "valid_utf8_hex"]

#: The SQL dialects :func:`query` writes.
DIALECTS = ("duckdb", "spark")
#: Columns of the query besides the template's fields.
META_COLUMNS = ("time", "status", "day", "day_number", "client", "agent", "category")
_EPOCH_DAY = date(1970, 1, 1)

def counted(query: StatsQuery, numbered: bool = False) -> str:
    """The SQL condition, in either dialect, for a line that ``stats`` counts: matched, and
    inside ``since``/``until`` (with a day, when periods or dates are asked for).
    ``numbered`` compares the column ``day_number`` (days since 1970-01-01) instead of
    the text ``day``: no text per line.

        >>> from datetime import date
        >>> counted(StatsQuery.make(("os",), by=["os"], since=date(2026, 8, 1)))
        "category = 'matched' AND day IS NOT NULL AND day >= '2026-08-01'"
        >>> counted(StatsQuery.make(("os",), by=["os"], since=date(2026, 8, 1)), True)
        "category = 'matched' AND day_number IS NOT NULL AND day_number >= 20666"
    """
    column = "day_number" if numbered else "day"

    def value(day: date) -> str:
        return str((day - _EPOCH_DAY).days) if numbered else f"'{day.isoformat()}'"
    keep = ["category = 'matched'"]
    if query.needs_time:
        keep.append(f"{column} IS NOT NULL")
    if query.since is not None:
        keep.append(f"{column} >= {value(query.since)}")
    if query.until is not None:
        keep.append(f"{column} < {value(query.until)}")
    return " AND ".join(keep)


# One UTF-8 character as hex digits of its bytes (``hex()`` of a string gives the bytes,
# upper case): the well-formed sequences of RFC 3629. Spark keeps a line's invalid bytes;
# DuckDB lines are valid already.
_C = "[89AB][0-9A-F]"
_UTF8_HEX = (
    f"[0-7][0-9A-F]|C[2-9A-F]{_C}|D[0-9A-F]{_C}|E0[AB][0-9A-F]{_C}|E[1-9A-CEF]{_C}{_C}"
    f"|ED[89][0-9A-F]{_C}|F0[9AB][0-9A-F]{_C}{_C}|F[1-3]{_C}{_C}{_C}|F4[8][0-9A-F]{_C}{_C}"
)


def valid_utf8_hex() -> str:
    """A regex matching the upper-case hex of well-formed UTF-8 text, whole.

        >>> import re
        >>> bool(re.match(valid_utf8_hex(), "C3A9")), bool(re.match(valid_utf8_hex(), "C3"))
        (True, False)
    """
    return f"^(?:{_UTF8_HEX})*$"


# Java's regex recurses once per iteration of a starred group: a quoted field of a long
# line would overflow its stack. Each piece is rewritten as an equivalent unrolled loop.
_UNROLL = {
    r'(?:[^"\\]|\\[^\n])*': r'[^"\\]*(?:\\[^\n][^"\\]*)*',
}


def _plain_quotes(pattern: str) -> str:
    """``pattern`` for a line without a backslash: quoted fields hold no escape, and a
    simpler pattern (far faster to extract groups with) matches exactly the same."""
    for slow, fast in _UNROLL.items():
        pattern = pattern.replace(slow, fast)
    return pattern.replace(r'(?:\\[^\n][^"\\]*)*', "")


# A value holding a "." or ".." between slashes (escaped %2F on the wire, so only in a value
# with an escape): pathbeacon never sends one (encoding.sanitise), as nginx would resolve it.
_DOT_PIECE_RE = "(^|/)[.][.]?(/|$)"
# One value of 1 to 64 unreserved characters that is not "." or "..".
_PLAIN_VALUE = value_re(lambda dot: "[A-Za-z0-9._~-]" if dot else "[A-Za-z0-9_~-]")


def _unreserved_only(pattern: str) -> str:
    """The matcher's ``pattern`` for a target without ``%``: each value is then a run of
    unreserved characters, which needs no decoding and holds nothing forbidden."""
    return (pattern.replace(f"(?:{ATOM_RE})", "[A-Za-z0-9._~-]")
            .replace(f"(?:{NOT_DOT_ATOM_RE})", "[A-Za-z0-9_~-]"))


def _portable(pattern: str, dialect: str) -> str:
    for slow, fast in _UNROLL.items():
        pattern = pattern.replace(slow, fast)
    if dialect == "spark":
        # Java's "$" also matches before a final "\r", "\u2028"...: "\z" is the very end.
        out = []
        escaped = False
        for ch in pattern:
            if ch == "$" and not escaped:
                out.append("\\z")
            else:
                out.append(ch)
            escaped = ch == "\\" and not escaped
        pattern = "".join(out)
    return pattern


class _Dialect:
    def __init__(self, name: str) -> None:
        if name not in DIALECTS:
            raise ValueError(f"unknown SQL dialect {name!r}: duckdb or spark")
        self.name = name
        self.spark = name == "spark"

    def lit(self, text: str) -> str:
        """A string literal."""
        if self.spark:
            return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return "'" + text.replace("'", "''") + "'"

    def rx(self, pattern: str) -> str:
        return self.lit(_portable(pattern, self.name))

    def ident(self, name: str) -> str:
        return f"`{name}`" if self.spark else f'"{name}"'

    def matches(self, expr: str, pattern: str) -> str:
        if self.spark:
            return f"({expr} RLIKE {self.rx(pattern)})"
        return f"regexp_matches({expr}, {self.rx(pattern)})"

    def extract(self, expr: str, pattern: str, group: int) -> str:
        return f"regexp_extract({expr}, {self.rx(pattern)}, {group})"

    def div(self, a: str, b: str) -> str:
        return f"(({a}) div ({b}))" if self.spark else f"(({a}) // ({b}))"

    def has(self, expr: str, text: str) -> str:
        """Whether ``expr`` contains the plain ``text``."""
        return f"(instr({expr}, {self.lit(text)}) > 0)" if self.spark else (
            f"(strpos({expr}, {self.lit(text)}) > 0)")

    def ends(self, expr: str, suffix: str) -> str:
        """Whether ``expr`` ends with ``suffix`` (a literal)."""
        return f"endswith({expr}, {self.lit(suffix)})" if self.spark else (
            f"ends_with({expr}, {self.lit(suffix)})")

    def starts(self, expr: str, prefix: str) -> str:
        """Whether ``expr`` starts with ``prefix`` (a literal)."""
        return f"startswith({expr}, {self.lit(prefix)})" if self.spark else (
            f"starts_with({expr}, {self.lit(prefix)})")

    def bytes(self, expr: str) -> str:
        """The length of ``expr`` in UTF-8 bytes."""
        return f"octet_length({expr})" if self.spark else f"strlen({expr})"

    def non_ascii(self, expr: str) -> str:
        """Whether ``expr`` holds any byte above 0x7F. DuckDB: bytes and characters differ.
        Spark counts an invalid byte as one character, but its regex sees it as U+FFFD."""
        if self.spark:
            return self.matches(expr, "[^\\x00-\\x7f]")
        return f"(strlen({expr}) <> length({expr}))"

    def int(self, expr: str) -> str:
        return f"TRY_CAST({expr} AS BIGINT)"

    @property
    def null_text(self) -> str:
        return "CAST(NULL AS STRING)" if self.spark else "CAST(NULL AS VARCHAR)"

    def fmt(self, pattern: str, *args: str) -> str:
        name = "format_string" if self.spark else "printf"
        return f"{name}({self.lit(pattern)}, {', '.join(args)})"

    def url_decode(self, expr: str) -> str:
        if self.spark:  # java.net.URLDecoder reads "+" as a space
            return f"url_decode(replace({expr}, '+', '%2B'))"
        return f"url_decode({expr})"

    # JSON in Spark: a variant of the line, ``jv`` (the line wrapped as {"x": line}, see
    # _json_gate), whose functions type every value, unlike get_json_object, which reads 5
    # and "5" alike. (DuckDB reads each line once: _JsonValues, and _json_gate's columns.)

    def _jpath(self, path: Sequence[str]) -> str:
        return self.lit('$["x"]' + "".join(f"[{p}]" if p.isdigit() else f'["{p}"]'
                                           for p in path))

    def _jvalue(self, path: Sequence[str]) -> str:
        return f"variant_get(jv, {self._jpath(path)})"

    def _jtype(self, path: Sequence[str]) -> str:
        return f"schema_of_variant({self._jvalue(path)})"

    def json_text(self, path: Sequence[str]) -> str:
        """The JSON value at ``path`` as text: a string unquoted, anything else as JSON."""
        return f"try_variant_get(jv, {self._jpath(path)}, 'string')"

    def json_is_string(self, path: Sequence[str]) -> str:
        """Whether the value at ``path`` is a JSON string."""
        return f"coalesce({self._jtype(path)} = 'STRING', false)"

    def json_is_object(self, path: Sequence[str]) -> str:
        return f"coalesce({self._jtype(path)} LIKE 'OBJECT%', false)"

    def json_exists(self, path: Sequence[str]) -> str:
        """Whether the key at ``path`` is there (its value may be null): SQL NULL when
        missing, a variant null for JSON null."""
        return f"({self._jvalue(path)} IS NOT NULL)"

    def json_present(self, path: Sequence[str]) -> str:
        """Whether the value at ``path`` is there and not null (is_variant_null is false
        for a missing key, SQL NULL)."""
        value = self._jvalue(path)
        return f"({value} IS NOT NULL AND NOT is_variant_null({value}))"

    def json_keys_once(self, path: Sequence[str], keys: Sequence[str]) -> str:
        """Whether none of ``keys`` is given twice in the object at ``path`` (which the
        line holds: the caller checks). The variant keeps one of two equal keys, so the
        text tells."""
        names = ", ".join(self.lit(k) for k in keys)
        where = "$" + "".join(f".{p}" for p in path)
        doc = "line" if not path else f"get_json_object(line, {self.lit(where)})"
        read = f"filter(json_object_keys({doc}), k -> k IN ({names}))"
        return f"coalesce(size({read}) = size(array_distinct({read})), false)"

    @staticmethod
    def _duck_path(path: Sequence[str]) -> str:
        return "$" + "".join(f"[{p}]" if p.isdigit() else f'."{p}"' for p in path)


def _epoch_steps(d: _Dialect) -> tuple[list[tuple[str, str]], str]:
    """Layers computing epoch seconds from ``t_y``... ``t_off`` (a local time and its offset
    in minutes), and the final expression: NULL when the date or time is not real (31 Feb,
    hour 24, second 60, year 0). Days from civil (proleptic Gregorian), all terms
    non-negative for year >= 1."""
    y, m, day, hh, mi, ss, off = (f"t_{p}" for p in _PARTS)
    leap = f"(({y} % 4 = 0 AND {y} % 100 <> 0) OR {y} % 400 = 0)"
    last = (f"(CASE WHEN {m} = 2 THEN (CASE WHEN {leap} THEN 29 ELSE 28 END)"
            f" WHEN {m} IN (4, 6, 9, 11) THEN 30 ELSE 31 END)")
    ok = (f"{y} >= 1 AND {m} BETWEEN 1 AND 12 AND {day} BETWEEN 1 AND {last}"
          f" AND {hh} <= 23 AND {mi} <= 59 AND {ss} <= 59")
    steps = [
        ("e_yy", f"({y} - (CASE WHEN {m} <= 2 THEN 1 ELSE 0 END))"),
        ("e_era", d.div("e_yy", "400")),
        ("e_yoe", "(e_yy - e_era * 400)"),
        ("e_doy", f"({d.div(f'153 * (({m} + 9) % 12) + 2', '5')} + {day} - 1)"),
        ("e_doe", f"(e_yoe * 365 + {d.div('e_yoe', '4')} - {d.div('e_yoe', '100')} + e_doy)"),
    ]
    seconds = (f"((e_era * 146097 + e_doe - 719468) * 86400 + {hh} * 3600 + {mi} * 60 + {ss}"
               f" - {off} * 60)")
    return steps, f"(CASE WHEN {ok} THEN {seconds} END)"


def _iso_steps(d: _Dialect) -> tuple[list[tuple[str, str]], str]:
    """Layers turning ``seconds`` (epoch, in range) into ``YYYY-MM-DDTHH:MM:SSZ``, and the
    final expression (civil from days)."""
    steps = [
        ("i_sod", "((seconds % 86400 + 86400) % 86400)"),
        ("i_z", f"({d.div('seconds - i_sod', '86400')} + 719468)"),
        ("i_era", d.div("i_z", "146097")),
        ("i_doe", "(i_z - i_era * 146097)"),
        ("i_yoe", d.div(f"i_doe - {d.div('i_doe', '1460')} + {d.div('i_doe', '36524')}"
                        f" - {d.div('i_doe', '146096')}", "365")),
        ("i_doy", f"(i_doe - (365 * i_yoe + {d.div('i_yoe', '4')} - {d.div('i_yoe', '100')}))"),
        ("i_mp", d.div("5 * i_doy + 2", "153")),
        ("i_month", "(CASE WHEN i_mp < 10 THEN i_mp + 3 ELSE i_mp - 9 END)"),
    ]
    day = f"(i_doy - {d.div('153 * i_mp + 2', '5')} + 1)"
    year = "(i_yoe + i_era * 400 + (CASE WHEN i_month <= 2 THEN 1 ELSE 0 END))"
    return steps, d.fmt("%04d-%02d-%02dT%02d:%02d:%02dZ", year, "i_month", day,
                        d.div("i_sod", "3600"), d.div("i_sod % 3600", "60"), "i_sod % 60")


# 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: Python's datetime range.
_MIN_EPOCH = -62135596800
_MAX_EPOCH = 253402300799


def _iso(d: _Dialect, seconds: str) -> str:
    """Epoch seconds (non-NULL, in range) as ``YYYY-MM-DDTHH:MM:SSZ``."""
    z = f"({d.div(f'{seconds} - ({seconds} % 86400 + 86400) % 86400', '86400')} + 719468)"
    era = d.div(z, "146097")
    doe = f"({z} - {era} * 146097)"
    yoe = d.div(f"{doe} - {d.div(doe, '1460')} + {d.div(doe, '36524')} - {d.div(doe, '146096')}",
                "365")
    doy = f"({doe} - (365 * {yoe} + {d.div(yoe, '4')} - {d.div(yoe, '100')}))"
    mp = d.div(f"5 * {doy} + 2", "153")
    day = f"({doy} - {d.div(f'153 * {mp} + 2', '5')} + 1)"
    month = f"(CASE WHEN {mp} < 10 THEN {mp} + 3 ELSE {mp} - 9 END)"
    year = f"({yoe} + {era} * 400 + (CASE WHEN {month} <= 2 THEN 1 ELSE 0 END))"
    sod = f"(({seconds} % 86400 + 86400) % 86400)"
    return d.fmt("%04d-%02d-%02dT%02d:%02d:%02dZ", year, month, day,
                 d.div(sod, "3600"), d.div(f"{sod} % 3600", "60"), f"{sod} % 60")


def _in_range(seconds: str) -> str:
    return f"(CASE WHEN {seconds} BETWEEN {_MIN_EPOCH} AND {_MAX_EPOCH} THEN {seconds} END)"


def _nonempty(expr: str) -> str:
    return f"nullif({expr}, '')"


_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_PARTS = ("y", "mo", "d", "h", "mi", "s", "off")


def _clf_parts(d: _Dialect, text: str) -> list[str]:
    """Year, month, day, hour, minute, second, offset minutes of a CLF time text
    (``21/Aug/2026:14:00:00 +0200``, already matched)."""
    # the month by one look-up in the names run together: a name starts at 1, 4, 7...
    at = f"{'instr' if d.spark else 'strpos'}('{''.join(_MONTHS)}', substr({text}, 4, 3))"
    sign = f"(CASE WHEN substr({text}, 22, 1) = '-' THEN -1 ELSE 1 END)"
    return [
        d.int(f"substr({text}, 8, 4)"),
        f"(CASE WHEN {at} % 3 = 1 THEN {d.div(f'{at} + 2', '3')} END)",
        d.int(f"substr({text}, 1, 2)"),
        d.int(f"substr({text}, 13, 2)"),
        d.int(f"substr({text}, 16, 2)"),
        d.int(f"substr({text}, 19, 2)"),
        f"{sign} * ({d.int(f'substr({text}, 23, 2)')} * 60 + {d.int(f'substr({text}, 25, 2)')})",
    ]


def _iso_parts(d: _Dialect, text: str) -> list[str]:
    """The parts of an ISO time text matched by ``ISO_TIME_RE`` (one regex run in DuckDB)."""
    iso = ISO_TIME_RE
    if d.spark:
        groups = [d.extract(text, iso, i) for i in range(1, 11)]
    else:
        names = ", ".join(f"'i{i}'" for i in range(1, 11))
        whole = f"regexp_extract({text}, {d.rx(iso)}, [{names}])"
        groups = [f"{whole}['i{i}']" for i in range(1, 11)]
    sign, hours, minutes = groups[7], groups[8], groups[9]
    offset = (f"(CASE {sign} WHEN '-' THEN -1 WHEN '+' THEN 1 ELSE 0 END)"
              f" * coalesce({d.int(hours)} * 60 + coalesce({d.int(minutes)}, 0), 0)")
    return [d.int(g) for g in groups[:6]] + [offset]


#: nginx's ``$time_iso8601``: one shape of ISO_TIME_RE (which also matches it).
_NGINX_TIME_RE = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{2}:[0-9]{2}$"


def _nginx_parts(d: _Dialect, text: str) -> list[str]:
    """The parts of a time matched by :data:`_NGINX_TIME_RE`, by position."""
    sign = f"(CASE WHEN substr({text}, 20, 1) = '-' THEN -1 ELSE 1 END)"
    return [d.int(f"substr({text}, {start}, {n})")
            for start, n in ((1, 4), (6, 2), (9, 2), (12, 2), (15, 2), (18, 2))] + [
        f"{sign} * ({d.int(f'substr({text}, 21, 2)')} * 60 + {d.int(f'substr({text}, 24, 2)')})"]


def _epoch_parts(d: _Dialect, text: str) -> str:
    """A digits-only time text (``formats._DIGITS``) as epoch seconds: unit by size."""
    # nanoseconds run past BIGINT (9.2e18) before year 9999 (2.5e20): DuckDB's HUGEINT
    # and Spark's DECIMAL(38, 0) hold every in-range epoch
    digits = d.extract(text, "^(-?[0-9]+)", 1)
    # floor division; a negative epoch with a fraction floors one lower (by its sign:
    # the whole part of "-0.5" is 0)
    below = (f"(CASE WHEN {d.matches(text, '^-[0-9]*[.][0-9]*[1-9]')} THEN 1 ELSE 0 END)")
    return _floor_epoch(d, f"TRY_CAST({digits} AS {_WIDE_INT[d.name]})", below)


_WIDE_INT = {"duckdb": "HUGEINT", "spark": "DECIMAL(38, 0)"}


def _floor_epoch(d: _Dialect, whole: str, below: str = "0") -> str:
    """Epoch seconds of a whole number (``below`` taken off first), its unit by its size."""
    size = f"abs({whole})"
    divisor = (f"(CASE WHEN {size} < 100000000000 THEN 1 WHEN {size} < 100000000000000"
               f" THEN 1000 WHEN {size} < 100000000000000000 THEN 1000000 ELSE 1000000000 END)")
    adjusted = f"({whole} - {below})"
    seconds = d.div(f"{adjusted} - ((({adjusted} % {divisor}) + {divisor}) % {divisor})",
                    divisor)
    return seconds if d.spark else d.int(seconds)  # NULL past BIGINT: out of range anyway


def _time_parts(d: _Dialect, kind: str) -> dict[str, str]:
    """Columns ``t_y`` ... ``t_off`` (and ``t_epoch``) from ``r_time`` of a ``kind``."""
    text = "r_time"
    if kind == "none":
        return {f"t_{p}": "CAST(NULL AS BIGINT)" for p in (*_PARTS, "epoch")}
    if kind == "clf" and not d.spark:
        # DuckDB's own parser refuses what Python's datetime refuses (31 Feb, hour 24,
        # second 60) but year 0, checked here, and takes a month's name in any case: the
        # name is looked up first (one strpos, as in _clf_parts)
        at = f"strpos('{''.join(_MONTHS)}', substr({text}, 4, 3))"
        parts = ["CAST(NULL AS BIGINT)"] * len(_PARTS)
        parsed = f"CAST(epoch(try_strptime({text}, '%d/%b/%Y:%H:%M:%S %z')) AS BIGINT)"
        # 'P': the fast cut's time (fast_line_re), whose regex checked the month's name
        # and the year already
        epoch = (f"CASE WHEN t_shape = 'P' THEN {parsed} WHEN {at} % 3 = 1"
                 f" AND substr({text}, 8, 4) <> '0000' THEN {parsed} END")
    elif kind == "clf":
        parts = _clf_parts(d, text)
        epoch = "CAST(NULL AS BIGINT)"
    elif kind == "cloudfront" and not d.spark:  # "2026-08-21 12:00:00", UTC, by the parser
        parts = ["CAST(NULL AS BIGINT)"] * len(_PARTS)
        epoch = (f"CASE WHEN NOT starts_with({text}, '0000') THEN CAST(epoch("
                 f"try_strptime({text}, '%Y-%m-%d %H:%M:%S')) AS BIGINT) END")
    elif kind == "cloudfront":
        parts = [d.int(f"substr({text}, {start}, {n})")
                 for start, n in ((1, 4), (6, 2), (9, 2), (12, 2), (15, 2), (18, 2))] + ["0"]
        epoch = "CAST(NULL AS BIGINT)"
    else:  # json: digits, CLF text or ISO text
        digits = d.matches(text, r"^-?[0-9]+(?:\.[0-9]+)?$")
        clf = d.matches(text, f"^{CLF_TIME_RE}$")
        iso = d.matches(text, ISO_TIME_RE)
        # Spark writes a JSON number with a fraction as 1.787313600123456E9
        floating = d.matches(text, r"^-?[0-9]+(?:\.[0-9]+)?[Ee][+-]?[0-9]+$")
        # nginx's $time_iso8601 (2026-08-21T14:00:00+02:00), told first by a regex without
        # groups and cut with substr: the general ISO regex extracts ten groups
        nginx = d.matches(text, _NGINX_TIME_RE)
        shape = (f"(CASE WHEN {nginx} THEN 'n' WHEN {digits} THEN 'e' WHEN {floating} THEN 'f'"
                 f" WHEN {clf} THEN 'c' WHEN {iso} THEN 'i' END)")
        parts = [f"CASE t_shape WHEN 'n' THEN {n} WHEN 'c' THEN {c} WHEN 'i' THEN {i} END"
                 for n, c, i in zip(_nginx_parts(d, text), _clf_parts(d, text),
                                    _iso_parts(d, text))]
        number = f"TRY_CAST({text} AS DOUBLE)"
        size = f"abs({number})"
        unit = (f"(CASE WHEN {size} < 1e11 THEN 1 WHEN {size} < 1e14 THEN 1000"
                f" WHEN {size} < 1e17 THEN 1000000 ELSE 1000000000 END)")
        # 'F': the fast cut's time (fast_line_re), nginx's shape with a year from 1 and an
        # offset under 24 hours, which DuckDB's parser reads as Python's does
        # 'C': Caddy's ts of the fast cut (caddy_line_re): ten digits, then the fraction
        fast = ("" if d.spark else f" WHEN t_shape = 'F' THEN CAST(epoch(try_strptime({text},"
                " '%Y-%m-%dT%H:%M:%S%z')) AS BIGINT)"
                f" WHEN t_shape = 'C' THEN CAST(substr({text}, 1, 10) AS BIGINT)")
        # Spark writes a double of 2**62 or more as 1.0E20: a whole number, whose decimal
        # is floored exactly (formats.epoch_to_iso: the shortest decimal of the double)
        large = ("" if not d.spark else f" WHEN t_shape = 'f' AND {size} >= {2 ** 62}"
                 f" THEN {_floor_epoch(d, f'TRY_CAST({text} AS DECIMAL(38, 0))')}")
        epoch = (f"CASE{fast} WHEN t_shape = 'e' THEN {_epoch_parts(d, text)}{large}"
                 f" WHEN t_shape = 'f' AND {size} < 1e19"
                 f" THEN CAST(floor({number} / {unit}) AS BIGINT) END")
        return {"t_shape": shape, **{f"t_{p}": e for p, e in zip(_PARTS, parts)},
                "t_epoch": epoch}
    return {"t_shape": "'p'", **{f"t_{p}": e for p, e in zip(_PARTS, parts)},
            "t_epoch": epoch}


def _request_target(d: _Dialect, request: str) -> str:
    """The target of a request line, NULL when it does not split: REQUEST_RE, one small
    regex (RE2 runs it in one pass: far cheaper than the same said with string functions,
    which repeat their sub-expressions). Its group is never empty when it matches."""
    return _nonempty(d.extract(request, REQUEST_RE, 1))


class _Format:
    """A format compiled: a gate (is the line of the format? safe on any text), the
    line-regex groups to extract (one run in DuckDB), the record's expressions (evaluated
    where the gate holds, over ``line`` and ``m1``... ``mN``), the time kind, and a final
    check over the record (``r_*`` columns)."""

    def __init__(self, gate: str, regex: str | None, groups: int, record: dict[str, str],
                 time_kind: str, check: str = "true", lean: str | None = None,
                 steps: Sequence[tuple[str, str]] = (),
                 pre: dict[str, str] | None = None) -> None:
        self.gate, self.regex, self.groups = gate, regex, groups
        self.pre = pre or {}  # columns the gate needs, over line and utf8_ok
        self.record, self.time_kind, self.check = record, time_kind, check
        # the line regex (same groups) for a line without a backslash, when not derived
        self.lean = lean
        self.steps = steps  # (column, expression) computed where the line fits, first


# The combined line cut by one anchored regex of four groups (client, time, request, and
# the rest from the status on), which RE2 runs in one pass: every token is a run of
# non-spaces, the month is any three letters (checked against the names per line with
# one strpos), and the rest is taken whole. It matches exactly the lines COMBINED_RE
# matches (but for the month, checked apart): COMBINED_RE ends with "(?: |$)", and the
# rest is "status bytes" then nothing or a space and anything. A line with a backslash
# uses the same groups over COMBINED_RE's escaped quoted fields.
_LOOSE_TIME = "[0-9]{2}/[A-Za-z]{3}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}"
#: A year from 1 (Python's datetime has no year 0).
_YEAR = "(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"
#: A month's name as Python's ``%b`` reads it here, as a trie (one pass in RE2).
_MONTH = "(?:J(?:an|u[nl])|Feb|Ma[ry]|A(?:pr|ug)|Sep|Oct|Nov|Dec)"
#: The fast cut's CLF time: a month's name, a year from 1 (the rest as the parser says).
_FAST_CLF_TIME = f"[0-9]{{2}}/{_MONTH}/{_YEAR}:[0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}} [+-][0-9]{{4}}"
_QUOTED = '"([^"\\\\]*(?:\\\\[^\\n][^"\\\\]*)*)"'
_QSKIP = '"[^"\\\\]*(?:\\\\[^\\n][^"\\\\]*)*"'
#: The four-group line regex of a combined line without a backslash.
COMBINED_LEAN_RE = (
    rf'^([^ ]+) [^ ]+ [^ ]+ \[({_LOOSE_TIME})\] "([^"\\]*)"'
    r" ([0-9]{3} (?:[0-9]+|-)(?: [^\n]*)?)$"
)
#: The same four groups for any combined line (escaped quotes in the quoted fields); the
#: last group ends after the agent when there is one.
COMBINED_ESCAPED_RE = (
    rf"^([^ ]+) [^ ]+ [^ ]+ \[({_LOOSE_TIME})\] {_QUOTED}"
    rf" ([0-9]{{3}} (?:[0-9]+|-)(?: {_QSKIP} {_QSKIP})?)(?: |$)"
)
#: The agent in the last group of either: COMBINED_RE's optional referer and agent,
#: followed by a space or the end.
COMBINED_AGENT_RE = rf"^[0-9]{{3}} (?:[0-9]+|-) {_QSKIP} {_QUOTED}(?: |$)"


def _format_combined(d: _Dialect) -> _Format:
    agent = d.extract("m4", COMBINED_AGENT_RE, 1)
    fast_agent = d.extract("m4", _plain_quotes(COMBINED_AGENT_RE), 1)
    # a missing agent (common format) reads as "": reporters take None as "" anyway
    return _Format(d.matches("line", COMBINED_ESCAPED_RE), COMBINED_ESCAPED_RE, 4, {
        "time": "m2",
        "target": _request_target(d, "m3"),
        "status": d.int("substr(m4, 1, 3)"),
        "agent": f"(CASE WHEN is_plain THEN {fast_agent} ELSE {agent} END)",
        "client": "m1",
    }, "clf", lean=COMBINED_LEAN_RE)  # a month that is no name gives no time: malformed


def _format_s3(d: _Dialect) -> _Format:
    # "-" for the request gives "", which no request line matches: no target, as in Python
    return _Format(d.matches("line", S3_RE), S3_RE, 5, {
        "time": "m1",
        "target": _request_target(d, "m3"),
        "status": f"(CASE WHEN m4 = '-' THEN NULL ELSE {d.int('m4')} END)",
        "agent": "m5",
        "client": "m2",
    }, "clf")


def _format_urls(d: _Dialect) -> _Format:
    return _Format(d.matches("line", URLS_RE), None, 0, {
        "time": d.null_text,
        "target": "line",
        "status": "200",
        "agent": d.null_text,
        "client": d.null_text,
    }, "none")


# A JSON string (RFC 8259; an unrolled loop, which Java runs without recursing).
_JSON_STRING_RE = r'"[^"\\]*(?:\\[^\n][^"\\]*)*"'
# What DuckDB's JSON reader accepts beyond RFC 8259 (trailing commas, NaN and Infinity):
# a cheap look for it anywhere, then the exact look outside strings. NaN and Infinity
# stand where a value starts (after ":", "," or "[", or first), so "info" in a string
# (Caddy's "level") does not make every line take the exact look.
_LENIENT_HINT_RE = (",[ \t\n\r]*[\\]}]"
                    "|(?:^|[:,\\[])[ \t\n\r]*[-+]?(?:[Nn][Aa][Nn]|[Ii][Nn][Ff])")
_LENIENT_RE = ",[ \t\n\r]*[\\]}]|[^\\]\\[{}:,\"0-9eE.+ \t\n\r-]"
_FLOAT_RE = r"^-?[0-9]+(?:\.[0-9]+)?[Ee][+-]?[0-9]+$"


def _brackets_ok(d: _Dialect) -> str:
    """Whether the line holds at most ``JSON_MAX_BRACKETS`` brackets (either dialect)."""
    # (a line of at most that many characters cannot hold more: no count needed)
    size = "length" if d.spark else "strlen"  # bytes (DuckDB): no count of characters
    return (f"({size}(line) <= {JSON_MAX_BRACKETS} OR"
            f" {size}(line) - {size}(replace(replace(line, '[', ''), '{{', ''))"
            f" <= {JSON_MAX_BRACKETS})")


def _too_many_digits(d: _Dialect, stripped: str) -> str:
    """Whether a valid JSON ``line``, its strings emptied and literals made ``0``
    (``stripped``), holds a number of more than ``JSON_MAX_DIGITS`` digits (DuckDB; Spark's
    parser refuses it itself)."""
    return (f"coalesce(list_bool_or(list_transform(regexp_extract_all({stripped},"
            f" {d.rx('[-+.eE0-9]+')}), lambda t: strlen(t) > {JSON_MAX_DIGITS} AND"
            " strlen(regexp_replace(t, '[^0-9]', '', 'g'))"
            # (an integer part "0" counts no digit, as in formats._number)
            f" - CASE WHEN {d.matches('t', '^-?0(?:[^0-9]|$)')} THEN 1 ELSE 0 END"
            f" > {JSON_MAX_DIGITS})), false)")


def _too_long_strings(d: _Dialect) -> str:
    """Whether a valid JSON ``line`` holds a key longer than ``JSON_MAX_KEY`` or a string
    longer than ``JSON_MAX_STRING``, in UTF-16 code units once unescaped, as Java counts
    (DuckDB; Spark's parser refuses it itself). Counted on the text as written: an escape
    is one unit (a character past U+FFFF is two escapes), a raw character past U+FFFF two."""
    # each string in turn from the line's start (outside strings a quote opens one), with
    # the colon that makes it a key
    tokens = "regexp_extract_all(line, " + d.rx(_JSON_STRING_RE + "(?:[ \\t\\n\\r]*:)?") + ")"

    astral_re = d.rx("[\\x{10000}-\\x{10FFFF}]")
    escape_re = d.rx("\\\\(?:u[0-9A-Fa-f]{4}|[^u])")

    def units(text: str) -> str:  # the quotes' two units taken off
        astral = f"regexp_replace({text}, {astral_re}, 'xx', 'g')"
        return f"(length(regexp_replace({astral}, {escape_re}, 'x', 'g')) - 2)"

    key = units("rtrim(t, ': ' || chr(9) || chr(10) || chr(13))")
    return (f"coalesce(list_bool_or(list_transform({tokens}, lambda t: CASE WHEN ends_with(t, ':')"
            f" THEN {key} > {JSON_MAX_KEY} ELSE {units('t')} > {JSON_MAX_STRING} END)),"
            " false)")


def _json_gate(d: _Dialect) -> tuple[str, dict[str, str]]:
    """The condition for a line that is one JSON object by ``formats.json_object``'s rule,
    and the columns it needs computed first (Spark's variant ``jv``)."""
    top, inner, headers = JSON_READ_KEYS
    brackets = _brackets_ok(d)
    if d.spark:
        keys_once = (f"{d.json_keys_once([], top)} AND (CASE WHEN"
                     f" {d.json_is_object(['request'])} THEN"
                     f" {d.json_keys_once(['request'], inner)} AND (CASE WHEN"
                     f" {d.json_is_object(['request', 'headers'])} THEN"
                     f" {d.json_keys_once(['request', 'headers'], headers)} ELSE true END)"
                     " ELSE true END)")
        # try_parse_json is strict but stops after the first value: wrapped in an object
        # it fails on text after the line's object unless that starts with "," (then the
        # line wrapped in an array has more than one element) or "}" (then it fails).
        pre = {"jv": f"CASE WHEN utf8_ok AND {brackets}"
                     " THEN try_parse_json(concat('{\"x\":', line, '}')) END"}
        opens = d.matches("line", "^[ \\t\\r\\n]*[{]")
        gate = (f"(CASE WHEN jv IS NULL THEN false"
                f" WHEN NOT {opens} THEN false"
                f" WHEN coalesce(json_array_length(concat('[', line, ']')), 0) <> 1 THEN false"
                f" ELSE {keys_once} END)")
        return gate, pre
    opens_object = d.matches("line", "^[ \\t\\r\\n]*[{]")
    # strings emptied and literals made a digit (removed, [1,true] would read as [1,])
    stripped = (f"regexp_replace(regexp_replace(line, {d.rx(_JSON_STRING_RE)}, '\"\"', 'g'),"
                " 'true|false|null', '0', 'g')")
    # DuckDB: each look at the line once, in columns computed one after another (a later
    # one only where an earlier one allows it: json_keys fails on text that is not JSON)
    strict = (f"(CASE WHEN NOT (utf8_ok AND {brackets}) THEN false"
              " WHEN NOT json_valid(line) THEN false"
              # valid JSON opening with "{" (after JSON's white space) is an object
              f" WHEN NOT {opens_object} THEN false"
              # past Spark's bounds (a line of fewer bytes cannot be: a digit is a byte, a
              # UTF-16 unit one byte at least)
              f" WHEN strlen(line) > {JSON_MAX_DIGITS} AND {_too_many_digits(d, stripped)}"
              " THEN false"
              f" WHEN strlen(line) > {JSON_MAX_KEY} AND {_too_long_strings(d)} THEN false"
              f" WHEN {d.matches('line', _LENIENT_HINT_RE)}"
              f" AND {d.matches(stripped, _LENIENT_RE)} THEN false ELSE true END)")

    def read_keys(path: Sequence[str], keys: Sequence[str]) -> str:
        names = ", ".join(d.lit(k) for k in keys)
        return (f"list_filter(json_keys(line, {d.lit(d._duck_path(path))}),"
                f" lambda k: k IN ({names}))")

    pre = {
        "j_strict": strict,
        "j_request": "CASE WHEN j_strict THEN json_type(line, '$.\"request\"') END",
        "j_headers": ("CASE WHEN j_request = 'OBJECT' THEN"
                      " json_type(line, '$.\"request\".\"headers\"') END"),
        "j_keys": (f"CASE WHEN j_strict THEN [{read_keys([], top)},"
                   f" CASE WHEN j_request = 'OBJECT' THEN {read_keys(['request'], inner)} END,"
                   " CASE WHEN j_headers = 'OBJECT' THEN"
                   f" {read_keys(['request', 'headers'], headers)} END] END"),
    }
    once = " AND ".join(f"(j_keys[{i}] IS NULL"
                        f" OR len(j_keys[{i}]) = len(list_distinct(j_keys[{i}])))"
                        for i in (1, 2, 3))
    return f"coalesce(j_strict AND {once}, false)", pre


class _JsonValues:
    """The values of a JSON line at paths, as the dialect's JSON functions say them.

    DuckDB parses the line once: ``json_extract`` with the list of every path used gives
    each value as JSON text (NULL when missing), whose first character tells its type;
    a string without a backslash is its text between the quotes. Spark's functions parse
    the line for each path."""

    def __init__(self, d: _Dialect, line: str = "line") -> None:
        self.d, self.line = d, line
        self.paths: list[str] = []

    def _value(self, path: Sequence[str]) -> str:
        text = self.d._duck_path(path)
        if text not in self.paths:
            self.paths.append(text)
        return f"j_values[{self.paths.index(text) + 1}]"

    def step(self) -> tuple[str, str]:
        """The column the values are read from (DuckDB): one parse of the line."""
        listed = ", ".join(self.d.lit(path) for path in self.paths)
        return ("j_values", f"CAST(json_extract({self.line}, [{listed}]) AS VARCHAR[])")

    def exists(self, path: Sequence[str]) -> str:
        if self.d.spark:
            return self.d.json_exists(path)
        return f"({self._value(path)} IS NOT NULL)"

    def present(self, path: Sequence[str]) -> str:
        if self.d.spark:
            return self.d.json_present(path)
        return f"coalesce({self._value(path)} <> 'null', false)"

    def is_object(self, path: Sequence[str]) -> str:
        if self.d.spark:
            return self.d.json_is_object(path)
        return f"coalesce(starts_with({self._value(path)}, '{{'), false)"

    def is_string(self, path: Sequence[str]) -> str:
        if self.d.spark:
            return self.d.json_is_string(path)
        return f"coalesce(starts_with({self._value(path)}, '\"'), false)"

    def whole_text(self, path: Sequence[str]) -> str:
        """:meth:`text`, where a number written with a fraction or an exponent keeps a
        ``.`` (Spark's variant holds ``204.0`` as the decimal 204: its type tells)."""
        if not self.d.spark:
            return self.text(path)
        kind = self.d._jtype(path)
        return (f"(CASE WHEN {kind} = 'DOUBLE' OR {kind} LIKE 'DECIMAL%'"
                f" THEN concat({self.text(path)}, '.') ELSE {self.text(path)} END)")

    def text(self, path: Sequence[str]) -> str:
        """A string unquoted, JSON null as NULL, anything else as JSON text."""
        if self.d.spark:
            return self.d.json_text(path)
        value = self._value(path)
        return (f"(CASE WHEN {value} = 'null' THEN NULL WHEN NOT starts_with({value}, '\"')"
                f" THEN {value} WHEN strpos({value}, '\\') > 0"
                f" THEN json_extract_string({value}, '$')"
                f" ELSE substr({value}, 2, length({value}) - 2) END)")


def _format_json(d: _Dialect) -> _Format:
    json = _JsonValues(d)
    cloudflare = json.exists(["ClientRequestURI"])
    caddy = json.is_object(["request"])

    def pick(cf: str, cd: str, ng: str) -> str:
        return f"(CASE WHEN {cloudflare} THEN {cf} WHEN {caddy} THEN {cd} ELSE {ng} END)"

    text = json.text

    def string(path: Sequence[str]) -> str:
        return f"(CASE WHEN {json.is_string(path)} THEN {text(path)} END)"

    def string_or_null(path: Sequence[str]) -> str:
        return f"(CASE WHEN {json.is_string(path)} THEN {_nonempty(text(path))} END)"

    def time(path: Sequence[str]) -> str:
        # a number is an epoch in any spelling; a string of digits too, but not "1.5E9"
        return (f"(CASE WHEN {json.is_string(path)} AND {d.matches(text(path), _FLOAT_RE)}"
                f" THEN concat('\"', {text(path)}) ELSE {text(path)} END)")

    request = text(["request"])
    from_request = (f"(CASE WHEN {request} LIKE '% %'"
                    f" THEN coalesce({_request_target(d, request)}, '') ELSE {request} END)")
    nginx_target = (f"(CASE WHEN {json.present(['uri'])} THEN {string(['uri'])}"
                    f" WHEN {json.is_string(['request'])} THEN {from_request} END)")
    gate, pre = _json_gate(d)
    record = {
        "time": pick(time(["EdgeStartTimestamp"]), time(["ts"]), time(["time"])),
        "target_text": pick(string(["ClientRequestURI"]), string(["request", "uri"]),
                            nginx_target),
        "status_text": pick(json.whole_text(["EdgeResponseStatus"]), json.whole_text(["status"]),
                            json.whole_text(["status"])),
        "agent": pick(string_or_null(["ClientRequestUserAgent"]),
                      string_or_null(["request", "headers", "User-Agent", "0"]),
                      string_or_null(["agent"])),
        "client": pick(string_or_null(["ClientIP"]), string_or_null(["request", "remote_ip"]),
                       string_or_null(["client"])),
    }
    return _Format(gate, None, 0, record, "json",
                   "r_target_text IS NOT NULL AND "
                   + d.matches("coalesce(r_status_text, '')", "^[0-9]{1,3}$"), pre=pre,
                   steps=[] if d.spark else [json.step()])


def _format_cloudfront(d: _Dialect, fields: Sequence[str]) -> _Format:
    where = {name: i for i, name in reversed(list(enumerate(fields)))}
    names = ("date", "time", "cs-uri-stem", "sc-status", "cs-uri-query", "cs(User-Agent)", "c-ip")
    positions = [where.get(name, -1) for name in names]
    if min(positions[:4]) < 0:  # a layout without a required field: nothing reads
        return _Format("false", None, 0, dict.fromkeys(
            ("time", "target", "status", "agent", "client"), "NULL"), "none", "false")
    width = max(positions) + 1
    # the line split once, before the gate (DuckDB; Spark splits where used)
    split = "split(line, '\\t', -1)" if d.spark else "cf_fields"
    size = f"size({split})" if d.spark else f"len({split})"

    def value(i: int) -> str:
        return f"element_at({split}, {i + 1})" if d.spark else f"{split}[{i + 1}]"

    date_i, time_i, stem_i, status_i, query_i, agent_i, client_i = positions
    date, clock, status = value(date_i), value(time_i), value(status_i)
    gate = (f"({size} >= {width} AND {d.matches(date, '^[0-9]{4}-[0-9]{2}-[0-9]{2}$')}"
            f" AND {d.matches(clock, '^[0-9]{2}:[0-9]{2}:[0-9]{2}$')}"
            f" AND {d.matches(status, '^[0-9]{3}$')})")
    query = value(query_i) if query_i >= 0 else "'-'"
    target = (f"(CASE WHEN {query} IN ('-', '') THEN {value(stem_i)}"
              f" ELSE concat({value(stem_i)}, '?', {query}) END)")
    return _Format(gate, None, 0, {
        "time": f"concat({date}, ' ', {clock})",
        "target": _nonempty(target),
        "status": d.int(status),
        "agent": value(agent_i) if agent_i >= 0 else d.null_text,
        "client": value(client_i) if client_i >= 0 else d.null_text,
    }, "cloudfront", pre={} if d.spark else {"cf_fields": "string_split(line, chr(9))"})


def _compile_format(d: _Dialect, format: str, cloudfront_fields: Sequence[str]) -> _Format:
    if format == "combined":
        return _format_combined(d)
    if format == "s3":
        return _format_s3(d)
    if format == "urls":
        return _format_urls(d)
    if format == "json":
        return _format_json(d)
    if format == "cloudfront":
        return _format_cloudfront(d, cloudfront_fields)
    raise ValueError(
        f"unknown log format {format!r}: choose one of {', '.join(FORMATS)}")


def _spark_groups(d: _Dialect, text: str, pattern: str, groups: Iterable[int]) -> str:
    """Spark: the ``groups`` (numbers) of ``pattern`` in ``text`` as an array, by one regex
    run. Spark has no extract of many groups: the match is replaced by the groups joined
    by U+0001, then split there. The text must not hold U+0001 (a caller's guard): where
    the pattern does not match, the array is then the text alone."""
    glue = ", chr(1), ".join(f"'${i}'" for i in groups)
    return f"split(regexp_replace({text}, {d.rx(pattern)}, concat({glue})), chr(1), -1)"


def _extract_all(d: _Dialect, text: str, pattern: str, count: int, prefix: str,
                 guard: str, fast: tuple[str, str] | None = None,
                 joined: bool = False) -> tuple[str, list[str]]:
    """Columns ``prefix1``... holding the groups of ``pattern`` in ``text`` where ``guard``
    holds: (a select list for one layer, the column names). DuckDB runs the regex once.
    ``fast`` is ``(condition, simpler pattern)``: used where the condition holds.
    ``joined`` (groups never hold U+0001, and ``guard`` implies a match) lets Spark run
    it once too."""
    names = [f"{prefix}{i + 1}" for i in range(count)]
    if not count:
        return "", names

    def choose(one: Callable[[str], str]) -> str:
        if fast is None:
            return one(pattern)
        return f"(CASE WHEN {fast[0]} THEN {one(fast[1])} ELSE {one(pattern)} END)"

    if d.spark and joined:
        whole = choose(lambda p: _spark_groups(d, text, p, range(1, count + 1)))
        return (f",\n    CASE WHEN {guard} THEN {whole} END AS {prefix}_all",
                [f"element_at({prefix}_all, {i + 1})" for i in range(count)])
    if d.spark:
        def group(index: int) -> Callable[[str], str]:
            return lambda p: d.extract(text, p, index)

        cols = "".join(
            f",\n    CASE WHEN {guard} THEN {choose(group(i + 1))} END AS {name}"
            for i, name in enumerate(names))
        return cols, names
    keys = ", ".join(f"'{name}'" for name in names)
    whole = choose(lambda p: f"regexp_extract({text}, {d.rx(p)}, [{keys}])")
    return (f",\n    CASE WHEN {guard} THEN {whole} END AS {prefix}_all",
            [f"{prefix}_all['{name}']" for name in names])


#: nginx's ``$time_iso8601`` from year 1 with an offset under 24 hours.
_FAST_TIME_RE = (f"{_YEAR}-[0-9]{{2}}-[0-9]{{2}}"
                 "T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-](?:[01][0-9]|2[0-3]):[0-5][0-9]")
#: A JSON string's text with nothing escaped: no quote, backslash or control character.
_JSON_PLAIN = '[^"\\\\\\x00-\\x1f]*'
#: A request's target as the fast cut takes it (whatever it holds: the query then tells
#: whether it fits the template's shape, as for every line), in a request line; as the
#: text of a JSON string without a space (nginx's request, whose space would split it).
_WORD = '[^ "\\\\]+'
_JSON_WORD = '[^ "\\\\\\x00-\\x1f]*'


def fast_line_re(format: str) -> str | None:
    """One anchored regex of at most four groups for the common line of ``format``, or
    ``None`` (another format).

    combined: (client, time, target, status) of a line without a backslash, a request of
    one method, a target and an optional protocol; s3: (time, client, target, status) of
    such a line in S3's layout. json: (time, target, status, client) of the line
    ``pathbeacon gateway nginx`` writes, nothing escaped. RE2 runs either in one pass (at
    most four groups, no ambiguous alternation); where one matches, the exact path gives
    the same values, so those lines skip it (whether the target fits the template's shape
    is asked of every line alike, on the target alone).

        >>> fast_line_re("json")[:9]
        '^\\\\{"time"'
    """
    if format == "combined":
        return (rf'^([^ ]+) [^ ]+ [^ ]+ \[({_FAST_CLF_TIME})\] "[^ "\\]+ ({_WORD})'
                r'(?: [^ "\\]+)?" ([0-9]{3}) (?:[0-9]+|-)(?: |$)')
    if format == "s3":
        word, quoted = "[^ ]+", r'(?:"[^"\\]*"|-)'
        return (rf'^{word} {word} \[({_FAST_CLF_TIME})\] ({word}) {word} {word} {word} {word}'
                rf' "[^ "\\]+ ({_WORD})(?: [^ "\\]+)?" ([0-9]{{3}})'
                rf'{f" {word}" * 5} {quoted} {quoted}(?: |$)')
    if format == "json":
        return (rf'^\{{"time":"({_FAST_TIME_RE})","request":"({_JSON_WORD})",'
                rf'"status":([1-9][0-9]{{2}}),"agent":"{_JSON_PLAIN}"'
                rf'(?:,"client":"({_JSON_PLAIN})")?\}}$')
    return None


def _not_six_nines(digits: int) -> str:
    """1 to ``digits`` digits not starting with six nines (as one-pass as RE2 needs)."""
    def rest(n: int, nines: int) -> str:
        if nines == 5:  # a sixth 9 is refused
            return f"(?:[0-8][0-9]{{0,{n - 1}}})?"
        return f"(?:[0-8][0-9]{{0,{n - 1}}}|9{rest(n - 1, nines + 1)})?"
    return f"(?:[0-8][0-9]{{0,{digits - 1}}}|9{rest(digits - 1, 1)})"


# Caddy's access log line as its JSON encoder writes it (keys in this order, nothing
# escaped, no white space): JSON's strings, numbers without an exponent and literals
_J_STR = f'"{_JSON_PLAIN}"'
# (at most 40 digits: a bound costs RE2 a state a digit; a longer number, which may be past
# JSON_MAX_DIGITS, takes the exact path)
_J_NUM = "-?(?:0|[1-9][0-9]{0,19})(?:[.][0-9]{1,20})?"
#: The longest line the fast cut reads as Caddy's (longer lines take the exact path).
CADDY_LONGEST = 4096
_J_SCALAR = f"(?:{_J_STR}|{_J_NUM}|true|false|null)"
_J_FLAT = rf"\{{(?:{_J_STR}:{_J_SCALAR}(?:,{_J_STR}:{_J_SCALAR})*)?\}}"
_J_VALUES = rf"\[(?:{_J_STR}(?:,{_J_STR})*)?\]"
_J_HEADERS = rf"\{{(?:{_J_STR}:{_J_VALUES}(?:,{_J_STR}:{_J_VALUES})*)?\}}"
#: How a Caddy line starts: the fast cut tells Caddy's lines from nginx's by it.
CADDY_START = '{"level":'
#: The float a JSON number ``ts`` reads as floors to the second its text says: ten digits
#: (a float is exact to 4.8e-7 below 2**32) and a fraction not within that of a second.
_CADDY_TS = f"[1-3][0-9]{{9}}(?:[.]{_not_six_nines(9)})?"


def caddy_line_re(agent: bool = False) -> str:
    """One anchored regex for the common line of Caddy's access log: groups (ts,
    remote_ip, uri, status), or with ``agent`` the first User-Agent alone. A line it
    matches is strict JSON whose
    read keys (``formats.JSON_READ_KEYS``) appear once each but ``User-Agent``, which the
    query counts apart (once in the line, or the exact path), as it counts brackets.

        >>> caddy_line_re()[:11]
        '^\\\\{"level":'
    """
    s, num = _J_STR, _J_NUM
    ts, remote_ip, uri = f"({_CADDY_TS})", f"({_JSON_PLAIN})", f"({_JSON_PLAIN})"
    if agent:  # the same prefix without groups, up to the first User-Agent's value
        ts, remote_ip, uri = _CADDY_TS, _JSON_PLAIN, _JSON_PLAIN
    head = (rf'^\{{"level":{s},"ts":{ts},"logger":{s},"msg":{s},"request":\{{'
            # optional keys after the quote they share: the next byte picks (one pass)
            rf'"remote_ip":"{remote_ip}","(?:remote_port":{s},"(?:client_ip":{s},")?'
            rf'|client_ip":{s},")?proto":{s},"method":{s},"host":{s},"uri":"{uri}",'
            rf'"headers":')
    if agent:
        return (rf'{head}\{{(?:{s}:{_J_VALUES},)*"User-Agent":\['
                rf'"({_JSON_PLAIN})"')
    return (rf'{head}{_J_HEADERS}(?:,"tls":{_J_FLAT})?\}},"(?:bytes_read":{num},")?'
            rf'(?:user_id":{s},")?duration":{num},"size":{num},"status":([1-9][0-9]{{2}}),'
            rf'"resp_headers":{_J_HEADERS}\}}$')


def _fast_record(d: _Dialect, format: str) -> tuple[dict[str, str], str]:
    """The record's expressions over the groups ``f_all`` of :func:`fast_line_re` (and
    of :func:`caddy_line_re` for JSON: the agent found again only where a query reads
    it), and the time's shape."""
    if format == "combined":
        agent = d.extract(d.extract("line", COMBINED_LEAN_RE, 4),
                          _plain_quotes(COMBINED_AGENT_RE), 1)
        return {"time": "f_all['f2']", "target": "f_all['f3']",
                "status": d.int("f_all['f4']"), "client": "f_all['f1']",
                "agent": agent}, "'P'"
    if format == "s3":
        return {"time": "f_all['f1']", "client": "f_all['f2']", "target": "f_all['f3']",
                "status": d.int("f_all['f4']"),
                "agent": d.extract("line", _plain_quotes(S3_RE), 5)}, "'P'"
    agent = d.extract("line", r'^\{"time":"[^"]*","request":"[^"]*","status":[0-9]+,'
                              r'"agent":"([^"]*)"', 1)
    caddy = d.starts("line", CADDY_START)
    caddy_agent = d.extract("line", caddy_line_re(agent=True), 1)
    # DuckDB's parser reads the shapes 'C' and 'F' (_time_parts); Spark reads Caddy's
    # digits as any epoch ('e') and nginx's time by position ('n'), as the exact path would
    shapes = ("'e'", "'n'") if d.spark else ("'C'", "'F'")
    return {"time": "f_all['f1']", "target_text": "f_all['f2']",
            "status_text": "f_all['f3']", "client": _nonempty("f_all['f4']"),
            "agent": _nonempty(f"(CASE WHEN {caddy} THEN {caddy_agent} ELSE {agent} END)")
            }, f"(CASE WHEN {caddy} THEN {shapes[0]} ELSE {shapes[1]} END)"


_FAST_NAMES = ("f1", "f2", "f3", "f4")


def _fast_cut(d: _Dialect, pattern: str, names: Sequence[str] = _FAST_NAMES) -> str:
    """The groups of the anchored ``pattern``, the i-th named ``names[i]``: in DuckDB a
    struct of the four (empty where it does not match); in Spark an array of them in
    the order of :data:`_FAST_NAMES`, of another size where it does not match (one
    ``regexp_replace`` of the whole line by the groups joined by U+0001, which the line
    must not hold)."""
    if not d.spark:
        return f"regexp_extract(line, {d.rx(pattern)}, {list(names)!r})"
    # the rest of the line too (the cut may end before)
    return _spark_groups(d, "line", pattern + "(?s:.*)",
                         [names.index(name) + 1 for name in _FAST_NAMES])


def _segment_positions(matcher: Matcher) -> list[int] | None:
    """Where each value sits, counted from the end, among the pieces of a target split at
    ``/?=&``, when every value fills whole segments or query values; else ``None``.

        >>> _segment_positions(Matcher.compile("<base>/<package>/<version>/<os>"))
        [-3, -2, -1]
    """
    template = matcher.template
    literals, slots = template.literals, template.slots
    first = 1 if template.has_base else 0
    separators = "/?=&"
    positions = []
    for i in range(first, len(slots)):
        before, after = literals[i], literals[i + 1]
        if not before or before[-1] not in separators or (after and after[0] not in "/?&"):
            return None
        later = "".join(literals[i + 1:])
        positions.append(-(sum(ch in separators for ch in later) + 1))
    return positions


def query(matcher: Matcher, dialect: str, format: str,
          cloudfront_fields: Sequence[str] = CLOUDFRONT_DEFAULT_FIELDS) -> str:
    """The SELECT an SQL engine runs over ``logs(line)`` for logs of ``format``.

    ``cloudfront_fields`` is the ``#Fields`` layout of CloudFront logs (the engines pass
    the one each file declares); a ``#`` line there is ``other_path``.

        >>> from pathbeacon.analysis.matcher import Matcher
        >>> print(query(Matcher.compile("<base>/<os>"), "spark", "json").splitlines()[1])
        -- fields: os; dialect: spark; format: json
    """
    d = _Dialect(dialect)
    for name in matcher.fields:
        if name in META_COLUMNS or name == "line":
            raise ValueError(
                f"a template field may not be named {name!r} in SQL (a column of its own)")
    fmt = _compile_format(d, format, cloudfront_fields)
    ident = d.ident
    # valid UTF-8 without U+10FFFF (DuckDB's line reader splits at it); in valid UTF-8
    # its bytes F4 8F BF BF cannot appear but as that character
    if d.spark:  # Spark keeps a line's bytes as read: is_valid_utf8 checks them in one pass
        # (a regex over hex(line) recurses per character in Java: a long line overflows)
        utf8 = "(is_valid_utf8(line) AND instr(line, '\\uDBFF\\uDFFF') = 0)"
    else:
        utf8 = (f"(CASE WHEN {d.non_ascii('line')} THEN"
                f" {d.matches('hex(line)', valid_utf8_hex())}"
                " AND hex(line) NOT LIKE '%F48FBFBF%' ELSE true END)")
    plain = f"NOT {d.has('line', chr(92))}"  # no backslash: no escape in a quoted field
    gate = fmt.gate
    line_fast = None
    extract_guard = "gate"
    if fmt.regex is not None:  # the line regex's first group is empty only when it fails
        line_fast = (plain, fmt.lean or _plain_quotes(fmt.regex))
        gate = "true"
    header = "line LIKE '#%'" if format == "cloudfront" else "false"
    # the common line by one lean regex first (fast_line_re); the rest as below
    fast_re = fast_line_re(format)
    fast_cols = ""
    fast_struct = ""
    if fast_re is not None:
        cut = _fast_cut(d, fast_re)
        guard = plain
        if format == "json":
            # Caddy's line by its own regex, its groups (ts, remote_ip, uri, status) named
            # as nginx's (time, target, status, client); a User-Agent key given twice in
            # the line, or a longer line, leave it to the exact path, as too many brackets
            # (strings included) leave every JSON line
            ua = '"User-Agent":'
            size = d.bytes("line")
            without = d.bytes(f"replace(line, {d.lit(ua)}, '')")
            once = f"{size} - {without} <= {len(ua)}"
            cut = (f"(CASE WHEN NOT {d.starts('line', CADDY_START)} THEN {cut}"
                   f" WHEN {size} <= {CADDY_LONGEST} AND {once} THEN"
                   f" {_fast_cut(d, caddy_line_re(), ('f1', 'f4', 'f2', 'f3'))} END)")
            # (a string past JSON_MAX_STRING needs a longer line: the exact path tells)
            guard = f"{plain} AND {_brackets_ok(d)} AND {size} <= {JSON_MAX_STRING}"
        if d.spark:  # the groups' glue: a line holding it takes the exact path
            guard += " AND instr(line, chr(1)) = 0"
            fast_cols = f", CASE WHEN utf8_ok AND {guard} THEN {cut} END AS f_parts"
            fields = ", ".join(f"'{name}', f_parts[{i}]" for i, name in enumerate(_FAST_NAMES))
            fast_struct = (f", CASE WHEN size(f_parts) = {len(_FAST_NAMES)}"
                           f" THEN named_struct({fields}) END AS f_all")
        else:
            fast_cols = f", CASE WHEN utf8_ok AND {guard} THEN {cut} END AS f_all"
        extract_guard = f"{extract_guard} AND NOT is_fast"
        gate = f"(CASE WHEN is_fast THEN true ELSE {gate} END)"  # OR would compute both

    # layer: the line regex's groups, once
    line_cols, line_groups = _extract_all(d, "line", fmt.regex or "", fmt.groups, "m",
                                          extract_guard, line_fast)
    record = dict(fmt.record)
    for key, expr in record.items():
        for i in range(fmt.groups, 0, -1):  # m10 before m1
            expr = expr.replace(f"m{i}", f"\0{i}\0")
        for i in range(fmt.groups, 0, -1):
            expr = expr.replace(f"\0{i}\0", line_groups[i - 1])
        record[key] = expr
    fits_line = f"coalesce(gate AND {line_groups[0]} <> '', false)" if fmt.regex else "gate"
    if fast_re is not None:
        fast_record, fast_shape = _fast_record(d, format)
        record = {key: f"(CASE WHEN is_fast THEN {fast_record[key]} ELSE {expr} END)"
                  for key, expr in record.items()}
        fits_line = f"(CASE WHEN is_fast THEN true ELSE {fits_line} END)"
    # A line regex's groups are empty where it did not match: the record's expressions
    # are safe there and their results unused (the line is malformed), so they need no
    # guard, which costs a selection per column and line.
    record_cols = "".join(f",\n    {expr} AS r_{key}" if fmt.regex is not None
                          else f",\n    CASE WHEN fit THEN {expr} END AS r_{key}"
                          for key, expr in record.items())
    if format == "json":
        target = "r_target_text"
        status = d.int("r_status_text")
    else:
        target, status = "r_target", "r_status"
    parts = _time_parts(d, fmt.time_kind)
    part_cols = "".join(f",\n    {expr} AS {name}" for name, expr in parts.items()
                        if name != "t_shape")
    has_time = "false" if fmt.time_kind == "none" else "r_time IS NOT NULL"
    epoch_steps, local = _epoch_steps(d)
    if fmt.time_kind in ("clf", "cloudfront") and not d.spark:
        epoch_steps, local = [], "CAST(NULL AS BIGINT)"
    seconds = _in_range(f"(CASE WHEN t_epoch IS NOT NULL THEN t_epoch ELSE {local} END)")
    if d.spark:
        iso_steps, iso = _iso_steps(d)
    else:  # a TIMESTAMP (no time zone) from microseconds: the session zone plays no part
        iso_steps = []
        iso = "strftime(make_timestamp(seconds * 1000000), '%Y-%m-%dT%H:%M:%SZ')"

    # layer: the target's groups, once, where it fits the pattern's shape
    pattern = matcher.pattern
    escaped = d.has(target, "%")

    def decode(raw: str) -> str:
        return f"(CASE WHEN {d.has(raw, '%')} THEN {d.url_decode(raw)} ELSE {raw} END)"
    unreserved = _unreserved_only(pattern)
    positions = _segment_positions(matcher)
    checked_plain = False
    if positions is None:
        fitting = (f"(CASE WHEN {escaped} THEN {d.matches(target, pattern)}"
                   f" ELSE {d.matches(target, unreserved)} END)")
        guard = f"line_ok AND {fitting}" if d.spark else "line_ok"
        value_cols, raws = _extract_all(d, target, pattern, len(matcher.groups), "g",
                                        guard, (f"NOT {escaped}", unreserved), joined=True)
        # every group takes one character at least: the first is empty only when none matched
        shaped = (f"coalesce(line_ok AND {raws[0]} <> '', false)" if raws and not d.spark
                  else f"coalesce(line_ok AND {fitting}, false)")
        values = [decode(raw) for raw in raws]
    else:
        # Each value fills whole segments: where the target fits, a value is the piece
        # between separators at a fixed place from the end; only escaped targets need
        # the groups of the full pattern.
        guard = f"line_ok AND {escaped} AND {d.matches(target, pattern)}"
        value_cols, full = _extract_all(d, target, pattern, len(matcher.groups), "g", guard,
                                        joined=True)
        if "?" not in matcher.template.text:  # only "/" separates
            pieces = (f"split({target}, '/', -1)" if d.spark
                      else f"string_split({target}, '/')")
        else:
            pieces = (f"split({target}, '[/?=&]', -1)" if d.spark
                      else f"regexp_split_to_array({target}, '[/?=&]')")
        value_cols += f",\n    CASE WHEN line_ok AND NOT {escaped} THEN {pieces} END AS pieces"
        # a target without "%" has pieces without one: they need no decoding
        values = [
            f"(CASE WHEN has_escape THEN {decode(raw)} ELSE "
            + (f"element_at(pieces, {at})" if d.spark else f"pieces[{at}]") + " END)"
            for raw, at in zip(full, positions)
        ]
        # Without "%", the split into segments is the only one: the regex can then also
        # say what the checks of step 4 say (1 to 64 characters, not "." or ".."), so a
        # plain target needs no check of its values.
        strict = pattern.replace(f"(?:{ATOM_RE})+", _PLAIN_VALUE)
        fitting = (f"(CASE WHEN {escaped} THEN {d.matches(target, pattern)}"
                   f" ELSE {d.matches(target, strict)} END)")
        shaped = f"coalesce(line_ok AND {fitting}, false)"
        checked_plain = True
    # DuckDB needs no guard: a value is kept only where the target is shaped (a piece out
    # of range is NULL there; Spark raises an error for it)
    decoded = "".join(f",\n    CASE WHEN shaped THEN {value} END AS v{i + 1}" if d.spark
                      else f",\n    {value} AS v{i + 1}" for i, value in enumerate(values))
    forbidden = forbidden_class("re2")
    checks = []
    repeats = []
    firsts: dict[str, int] = {}
    for i, name in enumerate(matcher.groups):
        value = f"v{i + 1}"
        checks.append(f"length({value}) BETWEEN 1 AND {MAX_LENGTH}"
                      f" AND {value} NOT IN ('.', '..')"
                      f" AND NOT (has_escape AND ({d.matches(value, forbidden)}"
                      f" OR {d.matches(value, _DOT_PIECE_RE)}))")
        if name in firsts:
            repeats.append(f"{value} = v{firsts[name] + 1}")
        else:
            firsts[name] = i
    fits = " AND ".join(f"({c})" for c in checks + repeats) or "true"
    if checked_plain:
        plain_fits = " AND ".join(f"({c})" for c in repeats) or "true"
        fits = f"(CASE WHEN has_escape THEN {fits} ELSE {plain_fits} END)"
    field_cols = "".join(
        f",\n  CASE WHEN category = 'matched' THEN v{firsts[name] + 1} END AS {ident(name)}"
        for name in matcher.fields
    )
    shape_col = parts.get("t_shape", "'p'")
    slow = ""  # what only the exact path needs is computed only there
    if fast_re is not None:
        shape_col = f"(CASE WHEN is_fast THEN {fast_shape} ELSE {shape_col} END)"
        slow = " AND NOT is_fast"
    # Each layer adds columns to the one below (SELECT *, ...): every expression is
    # written once and refers to columns, which keeps the query small and each regex run
    # once per line.
    sql = f"""SELECT line, {utf8} AS utf8_ok
FROM (
SELECT CASE WHEN {d.ends('line', chr(13))} THEN substr(line, 1, length(line) - 1)
            ELSE line END AS line
FROM logs
) AS stripped
WHERE line <> ''"""
    layers: list[tuple[str, str]] = [
        ("fast_cut", fast_cols),
        ("fast_struct", fast_struct),
        ("fast", ", coalesce(f_all['f1'] <> '', false) AS is_fast" if fast_cols else ""),
        *((f"read_{name}", f", CASE WHEN NOT is_fast THEN {expr} END AS {name}" if slow
           else f", {expr} AS {name}") for name, expr in fmt.pre.items()),
        # a header (CloudFront's "#" lines) is a line without a target: other_path
        ("texts", f", coalesce(utf8_ok AND {gate}, false) AS gate,"
                  f" coalesce(utf8_ok AND {header}, false) AS is_header"),
        ("gated", f", {plain} AS is_plain{line_cols}"),
        ("split_lines", f", {fits_line} AS fit"),
        *((name, f", CASE WHEN fit{slow} THEN {expr} END AS {name}")
          for name, expr in fmt.steps),
        ("records", f", fit AS line_fits{record_cols}"),
        ("shaped_times", f", {shape_col} AS t_shape"),
        ("time_parts", part_cols),
        *((name, f", CASE WHEN line_fits THEN {expr} END AS {name}")
          for name, expr in epoch_steps),
        ("timed", f", {seconds} AS seconds, {status} AS status"),
        ("checked", f", coalesce(line_fits AND ({fmt.check})"
                    f" AND NOT (({has_time}) AND seconds IS NULL), false) AS line_ok"),
        *((name, f", CASE WHEN line_ok AND seconds IS NOT NULL THEN {expr} END AS {name}")
          for name, expr in iso_steps),
        ("iso", f", CASE WHEN line_ok AND seconds IS NOT NULL THEN {iso} END AS time,"
                f" coalesce({escaped}, false) AS has_escape"),
        ("extracted", value_cols),
        ("shaped_lines", f", {shaped} AS shaped"),
        ("decoded", decoded),
        ("categorised", f""",
  CASE WHEN is_header THEN 'other_path'
       WHEN NOT line_ok THEN 'malformed'
       WHEN NOT shaped THEN 'other_path'
       WHEN NOT ({fits}) THEN 'other_path'
       WHEN status BETWEEN 200 AND 399 THEN 'matched'
       ELSE 'bad_status' END AS category"""),
    ]
    for name, columns in layers:
        if not columns:
            continue
        sql = f"SELECT *{columns}\nFROM (\n{sql}\n) AS below_{name}"
    needs = ("\n-- Spark 4 or later, with spark.sql.variant.allowDuplicateKeys=true"
             if d.spark and format == "json" else "")
    return f"""-- pathbeacon: {matcher.template.text} (base path: {matcher.base_path})
-- fields: {', '.join(matcher.fields)}; dialect: {dialect}; format: {format}{needs}
SELECT
  CASE WHEN category <> 'malformed' THEN time END AS {ident('time')},
  CASE WHEN category <> 'malformed' THEN status END AS {ident('status')}{field_cols},
  CASE WHEN category <> 'malformed' THEN substr(time, 1, 10) END AS {ident('day')},
  CASE WHEN category <> 'malformed' AND seconds IS NOT NULL THEN
    {d.div("seconds - ((seconds % 86400) + 86400) % 86400", "86400")} END AS {ident('day_number')},
  CASE WHEN category <> 'malformed' THEN r_client END AS {ident('client')},
  CASE WHEN category <> 'malformed' THEN r_agent END AS {ident('agent')},
  category
FROM (
{sql}
) AS lines
"""
