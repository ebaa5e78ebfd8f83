"""``report_once()``: once per process (or per interval), in the background, never in the way.

The caller's thread only reads the opt-out variables, claims the key and hands the report
to the process's one worker thread, starting it if none runs (with ``_thread``: before 3.13,
``threading`` takes whichever thread first imports it for the main thread, so neither the
caller, which may not be the main thread, nor the worker ever imports it). The worker idles
briefly (so it does not compete with the host's import for the GIL), then serves every
pending report in turn: imports what it needs, detects facts, renders, claims the interval
(with ``interval=``) and sends. Nothing else is imported until the worker runs.

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

# Imports inside functions name the package (``from pathbeacon import x``), never ``from .``:
# on PyPy a relative import of a loaded module runs importlib's Python code, which takes the
# import locks (a Ctrl-C on the caller's thread could leave one held, and a fork could copy
# one held into the child); an absolute one takes the fast path there, as on CPython.

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds
if TYPE_CHECKING:
    from collections.abc import Mapping
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
START_DELAY = 0.05
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

    __slots__ = ("_claim", "_done", "_grace", "key", "reason", "status", "url")

    def __init__(self, key: object = None) -> None:
        self.key = key
        self.url: str | None = None
        self.status = PENDING
        self.reason = ""
        self._grace = DEFAULT_EXIT_GRACE
        self._claim: tuple[str, str] | None = None  # (state file, token) of an interval claim
        self._done = _thread.allocate_lock()  # held until the outcome is known
        self._done.acquire()

    def wait(self, timeout: object = None) -> str:
        """Block until the outcome is known or ``timeout`` seconds pass; return the status.

        ``None``, ``inf`` or any number too large to wait for (above
        ``_thread.TIMEOUT_MAX``, 1e300) waits until the outcome is known; NaN, zero, a
        negative number or anything that is not a number does not wait at all, and neither
        does a call on the worker's own thread (a host's handler of our log records), whose
        report it could only serve after returning. Never raises.

            >>> Report().wait(float("nan")), Report().wait(-1), Report().wait("3")
            ('pending', 'pending', 'pending')
        """
        if self.status == PENDING:
            # On the worker's own thread (a host's logging handler of our records, say)
            # the outcome comes only after it returns: waiting would hang the worker.
            seconds = 0.0 if _thread.get_ident() in _serving else _wait_seconds(timeout)
            self._start_now()
            if seconds and self._done.acquire(timeout=seconds):
                self._done.release()
        return self.status

    @staticmethod
    def _start_now() -> None:
        # Someone waits for a report: the worker stops idling (one lock for the one worker).
        if _wake.locked():
            try:
                _wake.release()
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
    _tell(f"pathbeacon: {report.status} {redact(report.url or '-')}{detail}")


def _tell(line: str) -> None:
    _log(line)
    if optout.debug():
        _to_stderr(line + "\n")


def _log(line: str) -> None:
    """``line`` as a DEBUG record of the ``pathbeacon`` logger, if the host uses logging.

    A record asks ``threading.current_thread()``, which, on a thread ``threading`` does not
    know (the worker is a ``_thread`` thread), makes a ``_DummyThread`` that stays in
    ``threading.enumerate()`` for good before 3.13: a leak the host's thread checks would
    see. So such a thread is lent a name for the record and forgotten right after.
    """
    logging = sys.modules.get("logging")  # never imported for this: the host's, if any
    if logging is None:
        return
    try:
        logger = logging.getLogger("pathbeacon")
        if not logger.isEnabledFor(logging.DEBUG):
            return
        threading = sys.modules.get("threading")
        active = getattr(threading, "_active", None)
        me = _thread.get_ident()
        stranger = isinstance(active, dict) and me not in active
        try:
            if stranger:
                threading.current_thread().name = "pathbeacon"  # type: ignore[union-attr]
            logger.debug("%s", line)
        finally:
            if stranger:
                active.pop(me, None)  # type: ignore[union-attr]
    except Exception:
        pass


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
    facts: "Mapping[str, object] | None" = None,
    **more: object,
) -> Report:
    """Send one telemetry GET for ``template`` once per process, from a background thread.

    ``template`` is template text or a shipped template's name; other keyword arguments are
    facts (as in :func:`pathbeacon.render`), each of which must be a field of the template
    (or ``package``/``version``, which also name the opt-out variable and the version
    checked by ``skip_dev``): any other keyword, a typo'd or a newer option, makes a
    ``failed`` report naming it. A field named like an option (``<key>``, ``<timeout>``)
    takes its value from ``facts={"key": ...}``, a mapping of facts. Never raises: problems
    end in a ``failed`` :class:`Report`, explained on stderr only when ``PATHBEACON_DEBUG``
    is set. Opted out (``DO_NOT_TRACK`` and friends) → ``disabled`` with no thread and no
    socket. Dev and local versions of ``package`` are not reported unless
    ``skip_dev=False``; ``skip_ci=True`` stays silent on CI. At exit, waits at most
    ``exit_grace`` seconds for delivery (capped by the user's ``PATHBEACON_EXIT_GRACE`` and
    by 5 s). With ``interval`` (seconds, or ``"1d"``, ``"12h"``, ``"30m"``, ``"45s"``),
    reports at most once per interval from this user account on this machine: a recent
    delivery makes the call ``skipped`` at once.

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
        given, problem = _given(facts, more)
        return _report_once(template, timeout, retries, key, exit_grace, skip_dev, skip_ci,
                            interval, given, problem, consent)
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
    given_problem: str = "",
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
    made: list[Report] = []
    handed: list[tuple[object, ...]] = []
    try:
        report, new = guard.claim(key, lambda: _make(made, key))
        if not new:
            return report
        _start(report, key, template, text, timeout, retries, exit_grace, skip_dev, skip_ci,
               interval, facts, handed, given_problem, mode)
    except BaseException as error:
        # Ctrl-C (or anything) between the claim and the hand-over: a claim with no worker
        # would stay pending for ever, so the report ends and the key is free again.
        mine = made[-1] if made else Report(key)
        host = not isinstance(error, Exception)  # KeyboardInterrupt, SystemExit: the host's
        why = f"interrupted before it started: {error!r}" if host else \
            f"internal error: {error!r}"
        job = handed[0] if handed else _queued(mine)
        if (job is None or _withdraw(job)) and guard.release(key, mine):
            if job is not None:
                _unhand(job)
            _finished(mine, FAILED, why)
        if host:
            raise  # not ours to swallow
        return _finished(mine, FAILED, why)
    return report


def _make(made: "list[Report]", key: object) -> Report:
    made.append(Report(key))
    return made[-1]


def _start(
    report: Report,
    key: object,
    template: object,
    text: object,
    timeout: float,
    retries: int,
    exit_grace: "float | None",
    skip_dev: bool,
    skip_ci: bool,
    interval: object,
    facts: "dict[str, object]",
    handed: "list[tuple[object, ...]]",
    given_problem: str = "",
    mode: object = "opt-out",
) -> None:
    """Check the options and hand ``report`` to the worker (the job lands in ``handed``
    once it is queued)."""
    if _captures:
        _captures[-1].append(report)
    problem = (_check_options(text, timeout, retries, exit_grace) or given_problem
               or choice.mode_problem(mode))
    every: float | str | None = None
    if interval is not None:
        from pathbeacon import stamps

        every = stamps.seconds(interval)
        problem = problem or (every if isinstance(every, str) else "")
    if problem:
        _finished(report, FAILED, problem)
        return
    if _exiting or sys.is_finalizing():  # a __del__ or a late atexit hook: no worker would
        # run, and no file may be read (imports fail while the interpreter shuts down)
        _finished(report, FAILED, "the interpreter is exiting: no time left to send")
        return
    # The user's choice and the author's mode (after the claim: a notice shown in this run
    # keeps this key quiet for the rest of it).
    package = facts.get("package")
    decide = getattr(_captures[-1], "consent", choice.decide) if _captures else choice.decide
    why = decide(package, str(mode))
    notice = why == choice.NOTICE_NEEDED and not _captures
    ci = optout.ci_provider(os.environ) if notice else "none"
    if notice and not choice.interactive():
        why = choice.notice_reason(choice.normalise(package),
                                   "standard error is not an interactive terminal")
    elif notice and ci != "none":  # decided here: no report may wait for a notice never shown
        why = choice.notice_reason(choice.normalise(package), f"running on CI ({ci})")
    elif notice:
        why = None
    if why is not None:
        _finished(report, DISABLED, why)
        return
    if _captures:  # pathbeacon.testing.capture(): render now, send nothing, no state
        _work(report, template, facts, 0.0, 0, True, skip_dev, skip_ci, None)
        return
    state = None
    if isinstance(every, float) and not notice:  # a notice sends nothing: no interval to claim
        state = _interval_state(key, every)
        if state is None:
            _finished(report, SKIPPED,
                      f"delivered from this machine within the interval ({interval!r})")
            return
    if _in_subinterpreter():
        _finished(report, DISABLED,
                  "a subinterpreter: its worker thread could outlive it and crash the process")
        return
    report._grace = _exit_grace(exit_grace)
    _register_exit_hook()
    guard.register_fork_hooks()
    guard.track(report)
    job = (report, template, facts, timeout, retries, optout.dry_run(), skip_dev, skip_ci,
           state or None, notice, mode)
    _jobs.append(job)
    if notice:  # only once queued, to be shown: the package's other reports keep quiet
        choice.notice_due(choice.normalise(package))
    handed.append(job)  # after the queue: a job queued but not handed is found by its report
    try:
        _ensure_worker()
    except Exception as error:  # e.g. no threads left, or the interpreter is shutting down
        if _withdraw(job):
            _unhand(job)
            _finished(report, FAILED, f"could not start a thread: {error}")


def _queued(report: Report) -> "tuple[object, ...] | None":
    """``report``'s job if it is in the queue (queued, then interrupted before handed)."""
    for job in list(_jobs):
        if job[0] is report:
            return job
    return None


def _unhand(job: "tuple[object, ...]") -> None:
    """Undo what handing ``job`` over did, once it is taken back from the queue: its report
    is no longer waited for at exit, and a notice it was to show is not shown in this run."""
    guard.untrack(job[0])
    facts = job[2]
    if job[9] and isinstance(facts, dict):  # the notice
        choice.forget_notice(choice.normalise(facts.get("package")))


# ---- the one worker ------------------------------------------------------------------------

# Reports waiting for the worker, oldest first: list.append and list.pop(0) are atomic, so
# no lock is taken on the caller's thread (a signal handler's call can never deadlock).
_jobs: "list[tuple[object, ...]]" = []
# Holds one token while a worker runs; dict.setdefault elects exactly one starter.
_worker: "dict[str, object]" = {}
# The threads serving the queue now (one, and briefly two while one hands over).
_serving: "set[int]" = set()
# Locked while the worker may idle; released (by wait() or the exit) to cut the idle short.
_wake = _thread.allocate_lock()
_wake.acquire()
_fork_hook = False


def _ensure_worker() -> None:
    """Start the worker unless one runs; it serves every job queued before it stops."""
    global _fork_hook
    token = object()
    try:
        if _worker.setdefault("running", token) is not token:
            return
        if not _fork_hook and hasattr(os, "register_at_fork"):
            _fork_hook = True
            os.register_at_fork(after_in_child=_forget_worker)
        _thread.start_new_thread(_serve, (token,))
    except BaseException:
        if _worker.get("running") is token:
            del _worker["running"]
        raise


def _forget_worker() -> None:
    # A forked child has no worker: the parent's queued reports stay the parent's (guard
    # orphans them here), and the next call in the child starts a worker of its own.
    del _jobs[:]
    _worker.clear()
    _serving.clear()


def _withdraw(job: "tuple[object, ...]") -> bool:
    """Take ``job`` back from the queue; ``False`` if the worker already has it."""
    try:
        _jobs.remove(job)
        return True
    except ValueError:
        return False


def _next_job(token: object) -> "tuple[object, ...] | None":
    """The oldest job, or ``None`` once the worker may stop: it first gives up its token,
    then looks once more, so a job queued meanwhile is served by it or by a new worker."""
    while True:
        try:
            return _jobs.pop(0)
        except IndexError:
            pass
        if _worker.get("running") is token:
            del _worker["running"]
        if not _jobs:
            return None
        if _worker.setdefault("running", token) is not token:
            return None  # a new worker took over


def _serve(token: object) -> None:
    """The worker: idle briefly, then serve the queue until it is empty."""
    fence = None
    me = _thread.get_ident()
    _serving.add(me)
    try:
        if _MAIN_THREAD_BY_IMPORT and "threading" not in sys.modules:
            # Nobody imported threading: importing it here would make this thread
            # threading's main thread.
            fence = _NoThreading(_thread.get_ident())
            sys.meta_path.insert(0, fence)
        if START_DELAY and not _wake.acquire(timeout=START_DELAY):
            _let_imports_finish()
        job = _next_job(token)
        while job is not None:
            _work(*job)  # type: ignore[arg-type]
            job = _next_job(token)
    except BaseException:  # the interpreter is tearing down: nothing to tell anyone
        if _worker.get("running") is token:
            del _worker["running"]
    finally:
        try:
            _serving.discard(me)
            if fence is not None:
                sys.meta_path.remove(fence)
        except BaseException:  # the interpreter is tearing down
            pass


class _NoThreading:
    """A finder that refuses ``threading`` to the worker thread alone, while nobody has
    imported it: a fact that needs it (``distro``, which loads ``logging``, when
    /etc/os-release is not plain; ``importlib.metadata``, which loads ``zipfile``, for an
    egg) is then ``unknown``; the host's own imports are untouched."""

    def __init__(self, thread: int) -> None:
        self.thread = thread

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "threading" and _thread.get_ident() == self.thread \
                and "threading" not in sys.modules:
            raise ImportError("threading is not imported by pathbeacon's worker thread: it "
                              "would take itself for the main thread")


def _interval_state(key: object, every: float) -> "tuple[str, float] | str | None":
    """``(state file, interval)`` to claim before sending (``""`` when there is no folder
    to use), or ``None`` when this machine delivered within ``every`` seconds."""
    import time

    from pathbeacon import stamps

    where = stamps.folder()
    if where is None:
        return ""
    path = os.path.join(where, stamps.file_name(key))
    return None if stamps.is_recent(path, every, time.time()) else (path, every)


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


#: report_once()'s own keywords: a template field named so comes from ``facts={...}``.
OPTIONS = ("template", "timeout", "retries", "key", "exit_grace", "skip_dev", "skip_ci",
           "interval", "facts", "consent")
#: Facts that mean something beyond the template: accepted even when it has no such field.
BEYOND_TEMPLATE = ("package", "version")


def _given(facts: object, more: "dict[str, object]") -> "tuple[dict[str, object], str]":
    """The facts given as keywords and in ``facts=``, and the first problem with them."""
    if facts is None:
        return more, ""
    try:
        mapping = dict(facts.items())  # type: ignore[attr-defined]
    except Exception:
        return more, f"facts must be a mapping of names to values, not {type(facts).__name__}"
    for name in mapping:
        if type(name) is not str:
            return more, f"facts names must be strings, not {type(name).__name__}"
        if name in more:
            return more, f"fact {name!r} given twice: as a keyword and in facts="
    mapping.update(more)
    return mapping, ""


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
    state: "tuple[str, float] | None",
    notice: bool = False,
    mode: object = "opt-out",
) -> None:
    """One report: import, render, claim the interval, send. Runs to the end whatever happens."""
    try:
        if report.status != PENDING:  # ended meanwhile (abandoned at exit)
            return
        with guard.importing():  # only the imports: a fork waits for nothing else
            # Every module this job will need, here: one imported later, outside the lock,
            # could be copied half-made into a forked child, whose own import of it then
            # waits for ever on the import lock of a thread the child does not have.
            import time

            if not dry_run:  # a dry run imports no transport at all
                from pathbeacon import consent, stamps, transport
            from pathbeacon import catalogue, compose, probes  # noqa: F401  (for _prepare)
            if notice:  # for _show_notice
                from pathbeacon import consent
                from pathbeacon import notice as _notice  # noqa: F401
            if os.name != "nt" and (notice or optout.debug()):
                import select  # noqa: F401  (for _to_stderr)
        why = _prepare(report, template, facts, skip_dev, skip_ci)
        if why is not None:
            if notice:  # not shown after all (a development version, skip_ci, a bad fact)
                choice.forget_notice(choice.normalise(facts.get("package")))
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
        if state and not _claim_interval(report, state, timeout, retries):
            return
        outcome = _send(transport.send, report.url or "", timeout, retries)
        claim = report._claim
        if claim is not None:
            if outcome.delivered:
                stamps.record(claim[0], time.time())
            stamps.release(*claim)  # after the stamp: a failure frees it for the next run
            report._claim = None
        if outcome.status is not None:  # the user's record of what was sent: whatever the
            # collector answered (a 404, a 503), the request reached it and sits in its log
            consent.record(report.url or "", package)
        _finished(report, SENT if outcome.delivered else FAILED, outcome.reason)
    except BaseException as error:  # a worker's exception must reach nobody
        try:
            _release_claim(report)
            _finished(report, FAILED, _explain(error))
        except BaseException:
            pass
    finally:
        guard.untrack(report)


def _claim_interval(report: Report, state: "tuple[str, float]", timeout: float,
                    retries: int) -> bool:
    """Claim the interval for this machine before sending; ``False`` (the report ended
    ``skipped``) when another process delivered or is delivering it."""
    import time

    from pathbeacon import stamps
    from pathbeacon.transport import MAX_PAUSE  # imported by the worker already

    path, every = state
    # The claim outlives the longest delivery the options allow, then goes stale.
    hold = (retries + 1) * timeout + retries * MAX_PAUSE + 5.0
    token, why = stamps.claim(path, every, time.time(), hold)
    if token is None:
        _finished(report, SKIPPED, why)
        return False
    if token:
        report._claim = (path, token)
    return True


def _release_claim(report: Report) -> None:
    claim, report._claim = report._claim, None
    if claim is not None:
        from pathbeacon import stamps

        stamps.release(*claim)


def _show_notice(template: object, facts: "dict[str, object]") -> str:
    """Show the first-run notice on stderr in one write, once per account; return why
    nothing is sent in this run. Not shown after all: the package's later reports are no
    longer told it is (they are decided afresh)."""
    name = choice.normalise(facts.get("package"))
    shown: list[bool] = []
    try:
        return _try_notice(name, template, facts, shown)
    finally:
        if not shown:
            choice.forget_notice(name)


def _try_notice(name: "str | None", template: object, facts: "dict[str, object]",
                shown: "list[bool]") -> str:
    from pathbeacon import consent, probes
    from pathbeacon.notice import first_run_notice

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
    shown.append(True)
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
    from pathbeacon import __version__

    return f"pathbeacon/{__version__}"


def _let_imports_finish() -> None:
    """Idle while any thread is importing (a host's slow import), at most IMPORT_WAIT."""
    import time

    # importlib keeps one lock per module being imported, and drops it when the import
    # ends; a private detail, so without it the worker simply goes on.
    busy = getattr(sys.modules.get("_frozen_importlib"), "_module_locks", None)
    if not isinstance(busy, dict):
        return
    end = time.monotonic() + IMPORT_WAIT
    while busy and time.monotonic() < end:
        if _wake.acquire(timeout=IMPORT_POLL):
            return


def _prepare(
    report: Report,
    template: object,
    facts: "dict[str, object]",
    skip_dev: bool,
    skip_ci: bool,
) -> "tuple[str, str] | None":
    """Render ``report.url``; return ``(status, reason)`` when the report must not be sent."""
    from pathbeacon import compose as c
    from pathbeacon import probes as p
    from pathbeacon.catalogue import resolve

    resolved = resolve(template)  # type: ignore[arg-type]
    c.check_names(resolved, facts, OPTIONS, BEYOND_TEMPLATE)  # a typo'd option must not send
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
    try:
        _wait_at_exit()
    except BaseException:  # Ctrl-C during the grace: the user wants out, without a traceback
        pass


def _wait_at_exit() -> None:
    import time

    reports = [r for r in guard.in_flight() if isinstance(r, Report) and r.status == PENDING]
    for report in reports:
        guard.untrack(report)  # waited for once, however many times this hook runs
    if not reports:
        return
    Report._start_now()
    grace = max(r._grace for r in reports)
    deadline = time.monotonic() + grace
    for report in reports:
        report.wait(max(deadline - time.monotonic(), 0.0))
    for report in reports:
        if report.status == PENDING:  # abandoned: the interpreter ends its worker
            _release_claim(report)  # as a failed delivery would: the next run tries again
            _tell(f"pathbeacon: abandoned {redact(report.url or '-')} (still in flight after "
                  f"the {grace:g} s exit grace; the process exits without it)")


def _register_exit_hook() -> None:
    global _exit_hook_registered
    if not _exit_hook_registered:
        _exit_hook_registered = True
        import atexit

        # Two threads racing here may both register; _at_exit then runs twice, and the
        # second run finds nothing in flight that the first did not already wait for.
        atexit.register(_at_exit)
