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

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

from . import consent, guard, optout, report

__all__ = ["Event", "capture"]

#: The reason a report gives inside ``capture(opted_out=True)``.
OPTED_OUT = "opted out by capture(opted_out=True)"


class Event(NamedTuple):
    """One :meth:`pathbeacon.ScarfEventLogger.log_event` call made inside ``capture()``.

    ``endpoint_url`` has any user info replaced by ``***``; ``properties`` are what would
    have been sent (decoded back from the JSON body); ``delivered`` is what ``log_event``
    returned (``False`` when opted out).
    """

    endpoint_url: str
    properties: object
    delivered: bool


class _Records(list):  # type: ignore[type-arg]
    """The list ``capture()`` yields; it also decides opt-out for the reports made inside,
    and keeps the ``ScarfEventLogger`` events it intercepted in ``events``."""

    def __init__(self, opted_out: bool, choice: str | None = None,
                 notice_shown: bool = False) -> None:
        super().__init__()
        self.opted_out = opted_out
        self.choice = choice
        self.notice_shown = notice_shown
        # The environment as the block found it: the contributor's shell, not the test.
        self.ambient = dict(os.environ)
        self.events: list[Event] = []

    def event(self, endpoint_url: str, properties: object, delivered: bool) -> None:
        """Record one intercepted event (called by ``ScarfEventLogger.log_event``)."""
        import json

        try:  # a copy as sent, so that later changes to the caller's dict do not show
            properties = json.loads(json.dumps(properties, allow_nan=False))
        except Exception:  # not sent anyway (opted out), or too deep to decode: as given
            pass
        self.events.append(Event(endpoint_url, properties, delivered))

    def opt_out(self, package: object) -> str | None:
        """Why a report made now is disabled, or ``None`` (called by ``report_once``)."""
        if self.opted_out:
            return OPTED_OUT
        return optout.reason_since(package, self.ambient)

    def consent(self, package: object, mode: str) -> str | None:
        """Why the simulated user's choice or the author's mode keeps a report from being
        sent, or ``None`` (called by ``report_once`` in place of the real files)."""
        name = consent.normalise(package)
        if self.choice == "off":
            return f"turned off for {name or 'every package'} by capture(choice='off')"
        if self.choice == "on" or mode == "opt-out":
            return None
        if mode == "notice":
            return None if self.notice_shown else consent.notice_reason(
                name, "capture(notice_shown=False)")
        return consent.mode_reason(name, mode)


@contextmanager
def capture(*, opted_out: bool = False, choice: str | None = None,
            notice_shown: bool = False) -> Iterator[_Records]:
    """Record reports instead of sending them, with a once-per-key guard of the block's own.

    Inside the block every ``report_once()`` renders before it returns (``status`` is
    ``dry_run``, or ``disabled``/``failed``) and each new :class:`Report` is appended to the
    list this yields, in order. After the block the guard is as it was before, and real
    sending resumes.

    Opt-out inside the block does not depend on the shell the tests run in:

    - ``capture()`` ignores the opt-out variables (``DO_NOT_TRACK``,
      ``<PACKAGE>_NO_ANALYTICS``, ``SCARF_*``, ...) as they were when the block began, so a
      contributor who set ``DO_NOT_TRACK=1`` sees the same reports as CI does. A variable
      whose value inside the block differs from the one it had when the block began (set
      there with ``monkeypatch.setenv``, say) counts as usual, which is how a test checks
      that its package honours its own variable.
    - ``capture(opted_out=True)`` makes every report ``disabled``, as if the user had
      opted out.

    :meth:`pathbeacon.ScarfEventLogger.log_event` is intercepted too: inside the block it
    sends nothing, returns ``True`` (``False`` when opted out, as above) and appends an
    :class:`Event` to ``reports.events``; properties JSON cannot carry still raise. This
    is the one-line change for tests that patched ``requests.Session`` to keep scarf-sdk
    offline.

        >>> import pathbeacon
        >>> with capture() as reports:
        ...     pathbeacon.ScarfEventLogger("https://acme.example/e").log_event({"run": 1})
        True
        >>> reports.events
        [Event(endpoint_url='https://acme.example/e', properties={'run': 1}, delivered=True)]

    The user's lasting choice (``pathbeacon telemetry ...``) is never read inside the block:
    it is what ``choice`` says, for every package: ``None`` (no choice: the author's
    ``consent=`` mode decides), ``"on"`` or ``"off"``. ``notice_shown`` says whether the
    first-run notice of ``consent="notice"`` was shown in an earlier run; no notice is ever
    printed inside the block.

        >>> import pathbeacon
        >>> with capture(choice=None) as reports:
        ...     r = pathbeacon.report_once("<base>/x", base="https://acme.example",
        ...                                package="acme", consent="opt-in")
        >>> reports[0].status
        'disabled'
        >>> with capture(choice="on") as reports:
        ...     r = pathbeacon.report_once("<base>/x", base="https://acme.example",
        ...                                package="acme", consent="opt-in")
        >>> reports[0].status
        'dry_run'

        >>> import os, pathbeacon
        >>> with capture(opted_out=True) as reports:
        ...     r = pathbeacon.report_once("<base>/x", base="https://acme.example")
        >>> reports[0].status, reports[0].reason
        ('disabled', 'opted out by capture(opted_out=True)')
        >>> with capture() as reports:
        ...     os.environ["DO_NOT_TRACK"] = "1"  # set inside the block: it counts
        ...     r = pathbeacon.report_once("<base>/x", base="https://acme.example")
        ...     del os.environ["DO_NOT_TRACK"]
        >>> reports[0].status
        'disabled'
    """
    if choice not in (None, "on", "off"):
        raise ValueError(f"choice must be None, 'on' or 'off', not {choice!r}")
    records = _Records(bool(opted_out), choice, bool(notice_shown))
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
