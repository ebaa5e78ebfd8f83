"""Helpers for package authors' own test suites.

    >>> import pathbeacon
    >>> from pathbeacon.testing import capture
    >>> with capture() as reports:
    ...     pathbeacon.report_once("<base>/<package>", base="https://acme.example", package="acme")
    ...     pathbeacon.report_once("<base>/<package>", base="https://acme.example", package="acme")
    ...
    <Report dry_run url='https://acme.example/acme'>
    <Report dry_run url='https://acme.example/acme'>
    >>> [r.url for r in reports]
    ['https://acme.example/acme']
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from . import guard, report

__all__ = ["capture"]


@contextmanager
def capture() -> Iterator[list[report.Report]]:
    """Record reports instead of sending them, with a once-per-key guard of the block's own.

    Inside the block every ``report_once()`` renders before it returns (``status`` is
    ``dry_run``, or ``disabled``/``failed`` as usual) and each new :class:`Report` is
    appended to the list this yields, in order. Opt-out variables are still honoured. After
    the block the guard is as it was before, and real sending resumes.
    """
    records: list[report.Report] = []
    saved = guard.push_scope()
    report._captures.append(records)
    try:
        yield records
    finally:
        for i, active in enumerate(report._captures):
            if active is records:  # by identity: two empty lists are equal
                del report._captures[i]
                break
        guard.pop_scope(saved)
