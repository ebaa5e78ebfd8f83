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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

from ...template import Template
from ..matcher import Matcher
from ..sources import Source
from ..stats import Counts, StatsQuery

__all__ = ["ENGINES", "Decoded", "Engine", "Plan", "available", "get"]

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
        """Columns of a decoded row: ``time``, ``status``, then the fields (no ``base``)."""
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
