"""``report_once()``: once per process, in the background, never in the way.

The caller's thread only reads the opt-out variables, claims the key and starts a daemon
thread; that worker idles briefly (so it does not compete with the host's import for the
GIL), imports what it needs, detects facts, renders, and sends. Nothing here is imported
beyond ``_thread``, ``os`` and ``sys`` until the worker runs: a host's import pays well
under 2 ms.

    >>> import pathbeacon
    >>> from pathbeacon.testing import capture
    >>> with capture() as reports:
    ...     r = pathbeacon.report_once("<base>/<package>/<os>",
    ...                                base="https://acme.example/t", package="acme")
    >>> reports[0].url.startswith("https://acme.example/t/acme/")
    True
"""

import _thread
import sys

from . import guard, optout

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds
if TYPE_CHECKING:
    from .template import Template

__all__ = ["DEFAULT_EXIT_GRACE", "Report", "report_once"]

PENDING = "pending"
SENT = "sent"
FAILED = "failed"
DISABLED = "disabled"
DRY_RUN = "dry_run"

#: Longest wait at interpreter exit for a report still in flight (seconds).
DEFAULT_EXIT_GRACE = 0.5
# How long a worker idles before importing anything, so that it does not slow the host's
# own import; waiting on a report or interpreter exit cuts it short.
START_DELAY = 0.2
# After that, how much longer it waits while imports are still under way in the process
# (the host's import is slower than the delay), checking every IMPORT_POLL seconds.
IMPORT_WAIT = 2.0
IMPORT_POLL = 0.05

_captures: "list[list[Report]]" = []
_exit_hook_registered = False


class Report:
    """The handle ``report_once()`` returns: where a report stands, and a way to wait for it.

    ``status`` is ``pending``, ``sent``, ``failed``, ``disabled`` or ``dry_run``; ``url`` is
    the rendered URL once known (``None`` until then, or when rendering failed); ``reason``
    says why it failed or was disabled.

        >>> import pathbeacon
        >>> r = pathbeacon.report_once("<base>/<os>")  # no base: fails, never raises
        >>> r.wait(), r.url
        ('failed', None)
    """

    __slots__ = ("_done", "_grace", "_wake", "key", "reason", "status", "url")

    def __init__(self, key: object = None) -> None:
        self.key = key
        self.url: str | None = None
        self.status = PENDING
        self.reason = ""
        self._grace = DEFAULT_EXIT_GRACE
        self._done = _thread.allocate_lock()  # held until the outcome is known
        self._wake = _thread.allocate_lock()  # held while the worker may idle
        self._done.acquire()
        self._wake.acquire()

    def wait(self, timeout: "float | None" = None) -> str:
        """Block until the outcome is known or ``timeout`` seconds pass; return the status."""
        if self.status == PENDING:
            self._start_now()
            if self._done.acquire(timeout=-1 if timeout is None else max(float(timeout), 0.0)):
                self._done.release()
        return self.status

    def _start_now(self) -> None:
        if self._wake.locked():
            try:
                self._wake.release()
            except RuntimeError:  # released by another thread meanwhile
                pass

    def _finish(self, status: str, reason: str = "") -> None:
        if self.status != PENDING:
            return
        self.reason = reason
        self.status = status
        _say(self)  # before waiters wake, so the line is out when wait() returns
        if self._done.locked():
            self._done.release()

    def _orphan(self) -> None:
        # In a forked child: the parent's worker delivers this report, so waiting here
        # would never end. wait() returns at once; the status stays pending.
        if self._done.locked():
            self.reason = "in flight in the parent process"
            self._done.release()

    def __repr__(self) -> str:
        extra = f", reason={self.reason!r}" if self.reason else ""
        return f"<Report {self.status} url={self.url!r}{extra}>"


def _say(report: Report) -> None:
    """One debug line on stderr when asked for; a DEBUG log record when logging is in use."""
    detail = f" ({report.reason})" if report.reason else ""
    line = f"pathbeacon: {report.status} {report.url or '-'}{detail}"
    logging = sys.modules.get("logging")
    if logging is not None:
        logging.getLogger("pathbeacon").debug("%s", line)
    if optout.debug():
        try:
            print(line, file=sys.stderr, flush=True)
        except Exception:  # a closed or missing stderr must not matter
            pass


def _finished(report: Report, status: str, reason: str = "") -> Report:
    report._finish(status, reason)
    return report


def report_once(
    template: "str | Template | None" = None,
    *,
    timeout: float = 3.0,
    retries: int = 2,
    key: object = None,
    exit_grace: "float | None" = None,
    skip_dev: bool = True,
    skip_ci: bool = False,
    **facts: object,
) -> Report:
    """Send one telemetry GET for ``template`` once per process, from a background thread.

    ``template`` is template text or a shipped template's name; other keyword arguments are
    facts (as in :func:`pathbeacon.render`). Never raises: problems end in a ``failed``
    :class:`Report`, explained on stderr only when ``PATHBEACON_DEBUG`` is set. Opted out
    (``DO_NOT_TRACK`` and friends) → ``disabled`` with no thread and no socket. Dev and local
    versions of ``package`` are not reported unless ``skip_dev=False``; ``skip_ci=True``
    stays silent on CI. At exit, waits at most ``exit_grace`` seconds for delivery.

        >>> import pathbeacon, os
        >>> os.environ["DO_NOT_TRACK"] = "1"
        >>> pathbeacon.report_once("default", base="https://acme.example/t", package="acme").status
        'disabled'
        >>> del os.environ["DO_NOT_TRACK"]
    """
    try:
        return _report_once(template, timeout, retries, key, exit_grace, skip_dev, skip_ci, facts)
    except Exception as error:  # never into the host
        return _finished(Report(key), FAILED, f"internal error: {error!r}")


def _report_once(
    template: object,
    timeout: float,
    retries: int,
    key: object,
    exit_grace: "float | None",
    skip_dev: bool,
    skip_ci: bool,
    facts: "dict[str, object]",
) -> Report:
    text = getattr(template, "text", template)
    package = facts.get("package")
    if key is None:
        key = (text if isinstance(text, str) else repr(text), str(package))
    check = getattr(_captures[-1], "opt_out", optout.reason) if _captures else optout.reason
    why = check(package)
    if why is not None:
        report = _finished(Report(key), DISABLED, why)
        if _captures:
            _captures[-1].append(report)
        return report
    report, new = guard.claim(key, lambda: Report(key))
    if not new:
        return report
    if _captures:
        _captures[-1].append(report)
    problem = _check_options(text, timeout, retries, exit_grace)
    if problem:
        return _finished(report, FAILED, problem)
    if _captures:  # pathbeacon.testing.capture(): render now, send nothing
        _work(report, template, facts, 0.0, 0, True, skip_dev, skip_ci, 0.0)
        return report
    report._grace = optout.exit_grace(DEFAULT_EXIT_GRACE) if exit_grace is None \
        else float(exit_grace)
    _register_exit_hook()
    guard.register_fork_hooks()
    guard.track(report)
    try:
        _thread.start_new_thread(
            _work,
            (report, template, facts, timeout, retries, optout.dry_run(), skip_dev, skip_ci,
             START_DELAY),
        )
    except Exception as error:  # e.g. no threads left, or the interpreter is shutting down
        guard.untrack(report)
        return _finished(report, FAILED, f"could not start a thread: {error}")
    return report


def _check_options(text: object, timeout: object, retries: object, grace: object) -> str:
    """Name the first bad argument, or return an empty string."""
    if text is None:
        return "no template given"
    if not isinstance(text, str):
        return f"template must be a string or a Template, not {type(text).__name__}"
    numbers = (int, float)
    if isinstance(timeout, bool) or not isinstance(timeout, numbers) or not 0 < timeout < 3600:
        return f"timeout must be a number of seconds above 0, not {timeout!r}"
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
        return f"retries must be an integer from 0 to 10, not {retries!r}"
    if grace is not None and (isinstance(grace, bool) or not isinstance(grace, numbers)
                              or not 0 <= grace <= 60):
        return f"exit_grace must be a number of seconds from 0 to 60, not {grace!r}"
    return ""


def _work(
    report: Report,
    template: object,
    facts: "dict[str, object]",
    timeout: float,
    retries: int,
    dry_run: bool,
    skip_dev: bool,
    skip_ci: bool,
    delay: float,
) -> None:
    """The worker: idle, import, render, send. Runs to the end whatever happens."""
    try:
        if delay and not report._wake.acquire(timeout=delay):
            _let_imports_finish(report)
        with guard.importing():
            import logging  # noqa: F401  (imported here so the next line orders fork hooks)

            guard.register_fork_hooks()
            import encodings.idna  # noqa: F401  (socket's lazy import for host names)

            if not dry_run:
                from . import transport  # urllib3 is imported here, in the worker
            why = _prepare(report, template, facts, skip_dev, skip_ci)
        if why is not None:
            _finished(report, *why)
            return
        if dry_run:
            _finished(report, DRY_RUN)
            return
        why_off = optout.reason(facts.get("package"))  # the user may have opted out since
        if why_off is not None:
            _finished(report, DISABLED, why_off)
            return
        outcome = transport.send(
            report.url or "",
            headers={"User-Agent": user_agent()},
            timeout=timeout,
            retries=retries,
        )
        _finished(report, SENT if outcome.delivered else FAILED, outcome.reason)
    except BaseException as error:  # a worker's exception must reach nobody
        try:
            _finished(report, FAILED, _explain(error))
        except BaseException:
            pass
    finally:
        guard.untrack(report)


def _let_imports_finish(report: Report) -> None:
    """Idle while any thread is importing (a host's slow import), at most IMPORT_WAIT."""
    import time

    # importlib keeps one lock per module being imported, and drops it when the import
    # ends; a private detail, so without it the worker simply goes on.
    busy = getattr(sys.modules.get("_frozen_importlib"), "_module_locks", None)
    if not isinstance(busy, dict):
        return
    end = time.monotonic() + IMPORT_WAIT
    while busy and time.monotonic() < end:
        if report._wake.acquire(timeout=IMPORT_POLL):
            return


def _prepare(
    report: Report,
    template: object,
    facts: "dict[str, object]",
    skip_dev: bool,
    skip_ci: bool,
) -> "tuple[str, str] | None":
    """Render ``report.url``; return ``(status, reason)`` when the report must not be sent."""
    from . import compose as c
    from . import probes as p
    from .catalogue import resolve

    resolved = resolve(template)  # type: ignore[arg-type]
    values = c.fill(resolved, facts)
    package = facts.get("package")
    if skip_dev and package:
        # fill() already looked the version up when the template carries it
        version = values.get("version", facts.get("version")) or p.package_version(str(package))
        if p.is_development(str(version)):
            return DISABLED, f"{package} {version} is a development version (skip_dev=False sends)"
    if skip_ci and p.get("ci") != "none":
        return DISABLED, f"running on CI ({p.get('ci')}) and skip_ci is set"
    report.url = resolved.render(values)
    return None


def _explain(error: BaseException) -> str:
    message = getattr(error, "message", None)  # a TemplateError's, without the caret lines
    if message is not None:
        where = getattr(error, "position", None)
        return f"{message} (at position {where})" if where is not None else str(message)
    return f"internal error: {error!r}"


def user_agent() -> str:
    """``pathbeacon/<version> (platform=<os>; arch=<arch>; python=<x.y.z>)``."""
    from . import __version__, probes

    return (
        f"pathbeacon/{__version__} (platform={probes.get('os')}; arch={probes.get('arch')}; "
        f"python={probes.get('python')})"
    )


def _at_exit() -> None:
    """Give reports in flight at most their grace to finish, then let the interpreter go."""
    import time

    reports = [r for r in guard.in_flight() if isinstance(r, Report) and r.status == PENDING]
    for report in reports:
        guard.untrack(report)  # waited for once, however many times this hook runs
    if not reports:
        return
    for report in reports:
        report._start_now()
    deadline = time.monotonic() + max(r._grace for r in reports)
    for report in reports:
        report.wait(max(deadline - time.monotonic(), 0.0))


def _register_exit_hook() -> None:
    global _exit_hook_registered
    if not _exit_hook_registered:
        _exit_hook_registered = True
        import atexit

        # Two threads racing here may both register; _at_exit then runs twice, and the
        # second run finds nothing in flight that the first did not already wait for.
        atexit.register(_at_exit)
