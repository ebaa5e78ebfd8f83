"""``report_once()``: once per process (or per interval), in the background, never in the way.

The caller's thread only reads the opt-out variables, claims the key, imports ``threading``
if the host has not (so that ``threading`` knows the real main thread) and starts a daemon
thread; that worker idles briefly (so it does not compete with the host's import for the
GIL), imports what it needs, detects facts, renders, and sends. Nothing else is imported
until the worker runs.

    >>> import pathbeacon
    >>> from pathbeacon.testing import capture
    >>> with capture() as reports:
    ...     r = pathbeacon.report_once("<base>/<package>/<os>",
    ...                                base="https://acme.example/t", package="acme")
    >>> reports[0].url.startswith("https://acme.example/t/acme/")
    True
"""

import _thread
import os
import sys

from . import choice, guard, optout

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds
if TYPE_CHECKING:
    from typing import Callable

    from .template import Template
    from .transport import Outcome

__all__ = ["DEFAULT_EXIT_GRACE", "MAX_EXIT_GRACE", "Report", "redact", "report_once"]

PENDING = "pending"
SENT = "sent"
FAILED = "failed"
DISABLED = "disabled"
DRY_RUN = "dry_run"
SKIPPED = "skipped"

#: Longest wait at interpreter exit for a report still in flight (seconds).
DEFAULT_EXIT_GRACE = 0.5
#: No grace, the author's or the user's, is longer than this (seconds).
MAX_EXIT_GRACE = 5.0
# How long a worker idles before importing anything, so that it does not slow the host's
# own import; waiting on a report or interpreter exit cuts it short.
START_DELAY = 0.2
# After that, how much longer it waits while imports are still under way in the process
# (the host's import is slower than the delay), checking every IMPORT_POLL seconds.
IMPORT_WAIT = 2.0
IMPORT_POLL = 0.05
# Python before 3.13 takes whichever thread first imports threading for the main thread.
_MAIN_THREAD_BY_IMPORT = sys.version_info < (3, 13)
# The debug line is written in one write() of at most this many bytes (POSIX's PIPE_BUF):
# atomic on a pipe, so it never interleaves with the host's own output.
_LINE_MAX = 4096

_captures: "list[list[Report]]" = []
_exit_hook_registered = False
# Set by the exit hook: from then on a failed attempt is not retried and no backoff sleeps.
_exiting = False
_subinterpreter: "bool | None" = None


class Report:
    """The handle ``report_once()`` returns: where a report stands, and a way to wait for it.

    ``status`` is ``pending``, ``sent``, ``failed``, ``disabled``, ``dry_run`` or
    ``skipped``; ``url`` is the rendered URL once known (``None`` until then, or when
    rendering failed); ``reason`` says why it failed, was disabled or skipped.

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

    def wait(self, timeout: object = None) -> str:
        """Block until the outcome is known or ``timeout`` seconds pass; return the status.

        ``None``, ``inf`` or any number too large to wait for (above
        ``_thread.TIMEOUT_MAX``, 1e300) waits until the outcome is known; NaN, zero, a
        negative number or anything that is not a number does not wait at all. Never raises.

            >>> Report().wait(float("nan")), Report().wait(-1), Report().wait("3")
            ('pending', 'pending', 'pending')
        """
        if self.status == PENDING:
            seconds = _wait_seconds(timeout)
            self._start_now()
            if seconds and self._done.acquire(timeout=seconds):
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
        self.reason = redact(reason)
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


def _wait_seconds(timeout: object) -> float:
    """``timeout`` for ``lock.acquire``: -1 waits for ever, 0 not at all."""
    if timeout is None:
        return -1.0
    if isinstance(timeout, (str, bytes, bytearray)):
        return 0.0
    try:
        seconds = float(timeout)  # type: ignore[arg-type]
    except OverflowError:  # an integer beyond any float: for ever, or not at all
        try:
            return -1.0 if timeout > 0 else 0.0  # type: ignore[operator]
        except Exception:
            return 0.0
    except Exception:  # not a number
        return 0.0
    if not seconds > 0:  # zero, negative, NaN
        return 0.0
    return -1.0 if seconds >= _thread.TIMEOUT_MAX else seconds


# Characters that end the user-info part of a URL (or of a bare "user:pass@host").
_BOUNDARY = frozenset(" \t\r\n'\"<>()[]{},;=/\\")


def redact(text: str) -> str:
    """``text`` with the user info of every URL in it (``user:password@``) replaced by ``***``.

        >>> redact("ProxyError('http://bob:s3cret@proxy:3128', 'refused')")
        "ProxyError('http://***@proxy:3128', 'refused')"
    """
    if "@" not in text:
        return text
    parts: list[str] = []
    done = 0
    at = text.find("@")
    while at >= 0:
        start = at
        while start > done and text[start - 1] not in _BOUNDARY:
            start -= 1
        if start < at:
            parts.append(text[done:start])
            parts.append("***")
            done = at
        at = text.find("@", at + 1)
    parts.append(text[done:])
    return "".join(parts)


def _say(report: Report) -> None:
    """One debug line on stderr when asked for; a DEBUG log record when logging is in use."""
    detail = f" ({report.reason})" if report.reason else ""
    line = f"pathbeacon: {report.status} {redact(report.url or '-')}{detail}"
    logging = sys.modules.get("logging")  # never imported for this: the host's, if any
    if logging is not None:
        try:
            logging.getLogger("pathbeacon").debug("%s", line)
        except Exception:
            pass
    if optout.debug():
        _to_stderr(line + "\n")


def _to_stderr(line: str) -> bool:
    """Write ``line`` to a usable stderr without ever blocking; else drop it.

    ``sys.stderr`` is ``None`` when the process started with it closed (``print`` would
    then write to stdout: never that). A real file descriptor gets one ``os.write`` of the
    whole line, only when ``select`` says it will not block (a full pipe drops the line),
    and never through the stream's buffer, whose lock a blocked daemon thread would hold
    through the interpreter's exit.
    """
    stream = sys.stderr
    try:
        if stream is None or getattr(stream, "closed", False):
            return False
        try:
            fd = stream.fileno()
        except Exception:  # an in-memory stream (StringIO, a test's capture): cannot block
            stream.write(line)
            return True
        encoding = getattr(stream, "encoding", None) or "utf-8"
        data = line.encode(encoding, "backslashreplace")[:_LINE_MAX]
        if os.name != "nt":  # select() takes only sockets on Windows
            import select

            if not select.select([], [fd], [], 0)[1]:
                return False
        return os.write(fd, data) == len(data)
    except Exception:  # a closed, broken or odd stderr must not matter
        return False


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
    interval: "float | str | None" = None,
    consent: str = "opt-out",
    **facts: object,
) -> Report:
    """Send one telemetry GET for ``template`` once per process, from a background thread.

    ``template`` is template text or a shipped template's name; other keyword arguments are
    facts (as in :func:`pathbeacon.render`). Never raises: problems end in a ``failed``
    :class:`Report`, explained on stderr only when ``PATHBEACON_DEBUG`` is set. Opted out
    (``DO_NOT_TRACK`` and friends) → ``disabled`` with no thread and no socket. Dev and local
    versions of ``package`` are not reported unless ``skip_dev=False``; ``skip_ci=True``
    stays silent on CI. At exit, waits at most ``exit_grace`` seconds for delivery (capped
    by the user's ``PATHBEACON_EXIT_GRACE`` and by 5 s). With ``interval`` (seconds, or
    ``"1d"``, ``"12h"``, ``"30m"``, ``"45s"``), reports at most once per interval from this
    user account on this machine: a recent delivery makes the call ``skipped`` at once.

    The user decides too (:mod:`pathbeacon.consent`): ``pathbeacon telemetry off`` (for this
    package or every package) makes the call ``disabled``, naming that choice. ``consent``
    is the author's mode when the user has made no choice: ``"opt-out"`` sends,
    ``"opt-in"`` sends nothing until the user said ``on``, ``"notice"`` prints a short
    notice once on an interactive stderr and sends from the next run on.

        >>> import pathbeacon, os
        >>> os.environ["DO_NOT_TRACK"] = "1"
        >>> pathbeacon.report_once("default", base="https://acme.example/t", package="acme").status
        'disabled'
        >>> del os.environ["DO_NOT_TRACK"]
    """
    try:
        return _report_once(template, timeout, retries, key, exit_grace, skip_dev, skip_ci,
                            interval, facts, consent)
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
    interval: object,
    facts: "dict[str, object]",
    mode: object = "opt-out",
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
    problem = _check_options(text, timeout, retries, exit_grace) or choice.mode_problem(mode)
    every: float | str | None = None
    if interval is not None:
        from . import stamps

        every = stamps.seconds(interval)
        problem = problem or (every if isinstance(every, str) else "")
    if problem:
        return _finished(report, FAILED, problem)
    # The user's choice and the author's mode (after the claim: a notice shown in this run
    # keeps this key quiet for the rest of it).
    decide = getattr(_captures[-1], "consent", choice.decide) if _captures else choice.decide
    why = decide(package, str(mode))
    notice = why == choice.NOTICE_NEEDED and not _captures
    if notice and not choice.interactive():
        why = choice.notice_reason(choice.normalise(package),
                                     "standard error is not an interactive terminal")
    elif notice:
        why = None
        choice.notice_due(choice.normalise(package))
    if why is not None:
        return _finished(report, DISABLED, why)
    if _captures:  # pathbeacon.testing.capture(): render now, send nothing, no state
        _work(report, template, facts, 0.0, 0, True, skip_dev, skip_ci, 0.0, None)
        return report
    stamp = None
    if isinstance(every, float):
        stamp = _interval_stamp(key, every)
        if stamp is None:
            return _finished(report, SKIPPED,
                             f"delivered from this machine within the interval ({interval!r})")
    if _in_subinterpreter():
        return _finished(
            report, DISABLED,
            "a subinterpreter: its worker thread could outlive it and crash the process")
    report._grace = _exit_grace(exit_grace)
    if _MAIN_THREAD_BY_IMPORT and "threading" not in sys.modules:
        import threading  # noqa: F401  (here, so that it knows the real main thread)
    _register_exit_hook()
    guard.register_fork_hooks()
    guard.track(report)
    try:
        _thread.start_new_thread(
            _work,
            (report, template, facts, timeout, retries, optout.dry_run(), skip_dev, skip_ci,
             START_DELAY, stamp or None, notice, mode),
        )
    except Exception as error:  # e.g. no threads left, or the interpreter is shutting down
        guard.untrack(report)
        return _finished(report, FAILED, f"could not start a thread: {error}")
    return report


def _interval_stamp(key: object, every: float) -> "str | None":
    """The state file to write after a delivery (``""`` when there is none to use), or
    ``None`` when this machine delivered within ``every`` seconds."""
    import time

    from . import stamps

    where = stamps.folder()
    if where is None:
        return ""
    path = os.path.join(where, stamps.file_name(key))
    return None if stamps.is_recent(path, every, time.time()) else path


def _in_subinterpreter() -> bool:
    """Whether this code runs in a subinterpreter (cached: each has its own module state)."""
    global _subinterpreter
    if _subinterpreter is None:
        is_main = getattr(_thread, "_is_main_interpreter", None)  # 3.12+
        if is_main is not None:
            _subinterpreter = not is_main()
        else:
            try:
                interpreters = __import__("_xxsubinterpreters")  # CPython 3.8 to 3.11
                _subinterpreter = interpreters.get_current() != interpreters.get_main()
            except Exception:  # PyPy and others: no subinterpreters
                _subinterpreter = False
    return _subinterpreter


def _exit_grace(author: "float | None") -> float:
    """The author's grace (default 0.5 s), capped by the user's ``PATHBEACON_EXIT_GRACE``
    (the user has the last word) and by MAX_EXIT_GRACE."""
    grace = DEFAULT_EXIT_GRACE if author is None else float(author)
    user = optout.exit_grace(None)
    if user is not None:
        grace = user if author is None else min(grace, user)
    return min(max(grace, 0.0), MAX_EXIT_GRACE)


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
                              or not grace >= 0):
        return f"exit_grace must be a number of seconds from 0 up, not {grace!r}"
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
    stamp: "str | None",
    notice: bool = False,
    mode: object = "opt-out",
) -> None:
    """The worker: idle, import, render, send. Runs to the end whatever happens."""
    try:
        if delay and not report._wake.acquire(timeout=delay):
            _let_imports_finish(report)
        with guard.importing():
            if not dry_run:  # a dry run imports no transport at all
                import encodings.idna  # noqa: F401  (socket's lazy import for host names)

                from . import transport
            why = _prepare(report, template, facts, skip_dev, skip_ci)
        if why is not None:
            _finished(report, *why)
            return
        if notice:  # consent="notice", never shown to this account: show it, send nothing
            _finished(report, DISABLED, _show_notice(template, facts))
            return
        if dry_run:
            _finished(report, DRY_RUN)
            return
        package = facts.get("package")  # the user may have opted out since
        why_off = optout.reason(package) or choice.decide(package, str(mode))
        if why_off is not None:
            _finished(report, DISABLED, why_off)
            return
        outcome = _send(transport.send, report.url or "", timeout, retries)
        if outcome.delivered and stamp:
            import time

            from . import stamps

            stamps.record(stamp, time.time())
        if outcome.delivered:  # the user's record of what was sent (issue 15)
            from . import consent

            consent.record(report.url or "", package)
        _finished(report, SENT if outcome.delivered else FAILED, outcome.reason)
    except BaseException as error:  # a worker's exception must reach nobody
        try:
            _finished(report, FAILED, _explain(error))
        except BaseException:
            pass
    finally:
        guard.untrack(report)


def _show_notice(template: object, facts: "dict[str, object]") -> str:
    """Show the first-run notice on stderr in one write, once per account; return why
    nothing is sent in this run."""
    from . import consent, probes
    from .notice import first_run_notice

    name = choice.normalise(facts.get("package"))
    ci = probes.get("ci")
    if ci != "none":
        return choice.notice_reason(name, f"running on CI ({ci})")
    text = first_run_notice(template, **facts)  # type: ignore[arg-type]
    if not consent.claim_notice(name):
        return choice.notice_reason(name, "another process is showing it, or its mark "
                                      "cannot be written")
    if not _to_stderr(text):
        consent.unclaim_notice(name)
        return choice.notice_reason(name, "standard error could not take it")
    return choice.mode_reason(name, "notice") or ""


def _stopping() -> bool:
    return _exiting


def _send(send: "Callable[..., Outcome]", url: str, timeout: float, retries: int) -> "Outcome":
    """``transport.send`` with the beacon's one header, failing fast once the interpreter
    exits (``stop=``, passed when the transport takes it)."""
    options: dict[str, object] = {
        "headers": {"User-Agent": user_agent()},
        "timeout": timeout,
        "retries": retries,
    }
    code = getattr(send, "__code__", None)
    if code is not None and "stop" in code.co_varnames[
            : code.co_argcount + code.co_kwonlyargcount]:
        options["stop"] = _stopping
    return send(url, **options)


def user_agent() -> str:
    """The one header of ours a report sends: ``pathbeacon/<version>``, nothing more.

        >>> import pathbeacon
        >>> user_agent() == "pathbeacon/" + pathbeacon.__version__
        True
    """
    from . import __version__

    return f"pathbeacon/{__version__}"


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
    report.url = redact(resolved.render(values))
    return None


def _explain(error: BaseException) -> str:
    message = getattr(error, "message", None)  # a TemplateError's, without the caret lines
    if message is not None:
        where = getattr(error, "position", None)
        return f"{message} (at position {where})" if where is not None else str(message)
    return f"internal error: {error!r}"


def _at_exit() -> None:
    """Give reports in flight at most their grace to finish, then let the interpreter go."""
    global _exiting
    _exiting = True  # from now on: no retry after a failed attempt, no backoff sleep
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
