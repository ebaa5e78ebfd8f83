"""Read the beacons back: decode gateway access logs into facts and counts.

The receiving side of pathbeacon; the beacon side never imports it. The same template that
builds a beacon URL takes it apart again, line by line, in any of the log formats of
:mod:`~pathbeacon.analysis.formats`, with the fits rule of :mod:`~pathbeacon.analysis.matcher`
and the counting rules of :mod:`~pathbeacon.analysis.stats`.

    >>> import os, tempfile
    >>> log = os.path.join(tempfile.mkdtemp(), "access.log")
    >>> with open(log, "w") as f:
    ...     _ = f.write('192.0.2.7 - - [21/Aug/2026:12:00:00 +0000] '
    ...                 '"GET /t/acme/1.0/linux HTTP/1.1" 204 0 "-" "pathbeacon/1.0"\\n')
    >>> rows = decode("<base>/<package>/<version>/<os>", [log], engine="python")
    >>> list(rows)  # doctest: +NORMALIZE_WHITESPACE
    [{'time': '2026-08-21T12:00:00Z', 'status': 204,
      'package': 'acme', 'version': '1.0', 'os': 'linux'}]
    >>> rows.counts
    Counts(matched=1, bad_status=0, other_path=0, malformed=0)
    >>> stats("<base>/<package>/<version>/<os>", [log], ["os"], engine="python")["rows"]
    [{'os': 'linux', 'events': 1, 'reporters': 1}]
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from datetime import date
from types import ModuleType
from typing import Any, Union

from ..catalogue import resolve
from ..template import Template
from .engines import Decoded, Engine, Plan, get
from .formats import FORMATS
from .matcher import Matcher
from .sources import open_sources
from .stats import Counts, StatsQuery

__all__ = ["Counts", "Decoded", "Matcher", "Plan", "StatsQuery", "decode", "plan", "sql", "stats"]

TemplateLike = Union[Template, str]
Sources = Union[str, Sequence[str]]


def _template(template: TemplateLike) -> Template:
    """A Template from a template, its text, or a shipped template's name."""
    return resolve(template)


def plan(template: TemplateLike, sources: Sources, *, base: str | None = None,
         format: str = "auto") -> Plan:
    """Compile ``template`` (with ``base``) and settle each source's format.

    ``ValueError`` (one clear line) for an unknown format, an unreadable or undetectable
    log, or a ``base`` the template cannot take.
    """
    matcher = Matcher(_template(template), base)
    names = [sources] if isinstance(sources, str) else list(sources)
    return Plan(matcher, tuple(open_sources(names, format)))


def _engine(engine: str | Engine, options: dict[str, Any]) -> tuple[Engine, bool]:
    if isinstance(engine, Engine):
        return engine, False
    return get(engine, **options), True


def decode(template: TemplateLike, sources: Sources, *, base: str | None = None,
           format: str = "auto", engine: str | Engine = "auto",
           **options: Any) -> Decoded:
    """Decoded rows of every matched line; iterate once, then read ``.counts``; ``close()``
    it (or use it in a ``with`` block) to release the engine at once.

    Each row is ``{"time": "2026-08-21T12:00:00Z" or None, "status": 204, field: value...}``
    (no ``base``). ``engine`` is ``auto`` (duckdb when installed, else python), a name, or
    an :class:`~pathbeacon.analysis.engines.Engine`; ``options`` go to the engine.
    """
    the_plan = plan(template, sources, base=base, format=format)
    runner, owned = _engine(engine, options)
    decoded = runner.decode(the_plan)
    if owned:
        decoded.on_close(runner.close)
    return decoded


def stats(template: TemplateLike, sources: Sources, by: Iterable[str] | str = (), *,
          base: str | None = None, format: str = "auto", every: str | None = None,
          since: str | date | None = None, until: str | date | None = None, k: int = 1,
          engine: str | Engine = "auto", **options: Any) -> dict[str, Any]:
    """Counts of the matched lines grouped by ``by`` fields: the ``stats --json`` structure.

    ``{"lines": {"matched": n, "bad_status": n, "other_path": n, "malformed": n},
    "rows": [{("period": "YYYY-MM-DD",) field: value, ..., "events": n, "reporters": n or
    None}, ...]}``; see :mod:`pathbeacon.analysis.stats` for the rules.
    """
    the_plan = plan(template, sources, base=base, format=format)
    query = StatsQuery.make(
        the_plan.template.fields, by=by, every=every, since=since, until=until, k=k
    )
    runner, owned = _engine(engine, options)
    try:
        return runner.stats(the_plan, query)
    finally:
        if owned:
            runner.close()


# The SQL engines' module is imported before sql() below is defined: importing a submodule
# sets the package attribute of its name, which would otherwise replace the function.
_sql_module: ModuleType | None
try:
    _sql_module = importlib.import_module(f"{__name__}.sql")
except ImportError as error:  # not in this build, or its own imports are missing
    _sql_module = None
    _sql_missing = str(error)
else:
    _sql_missing = ""


def sql(template: TemplateLike, dialect: str, *, base: str | None = None,
        format: str = "combined") -> str:
    """The query an SQL engine runs, over a relation ``logs(line)`` of raw lines.

    ``dialect`` is ``duckdb`` or ``spark``; ``format`` one log format (not ``auto``). The
    text comes from the SQL engines' module, ``pathbeacon.analysis.sql``, whose
    ``query(matcher, dialect, format) -> str`` renders a :class:`Matcher` and a format's
    rules in that dialect.
    """
    if dialect not in ("duckdb", "spark"):
        raise ValueError(f"unknown SQL dialect {dialect!r}: duckdb or spark")
    if format not in FORMATS:
        raise ValueError(f"unknown log format {format!r}: choose one of {', '.join(FORMATS)}")
    matcher = Matcher(_template(template), base)
    compile_query = getattr(_sql_module, "query", None)
    if compile_query is None:
        raise ValueError(f"pathbeacon sql is not available here ({_sql_missing})")
    result: str = compile_query(matcher, dialect, format)
    return result
