"""The user's lasting telemetry choice: may this package send, and if not, why not.

One rule decides, in this order (the first that speaks wins):

1. an opt-out environment variable (``DO_NOT_TRACK`` and the rest, see :mod:`optout`);
2. the administrator's file (``/etc/pathbeacon/telemetry``; only ``off`` counts there);
3. the user's choice for this package, then the user's choice for every package
   (``pathbeacon telemetry off|on|reset [PACKAGE ...]``, kept in a small text file);
4. the author's mode: ``report_once(..., consent="opt-out")`` (the default: send),
   ``"opt-in"`` (send only after ``on``) or ``"notice"`` (send once a first-run notice
   has been shown on a terminal).

The file is plain ``name = on|off`` lines (``*`` is every package), read on the caller's
thread with one small :func:`pathbeacon.files.read`; a file that exists but cannot be read or
understood (a FIFO, a directory, a huge or garbled file, a link to nowhere) counts as
``off``, since the user may have said no; a missing one is no choice. Writes go through
:func:`pathbeacon.files.replace` under a short lock, so two ``telemetry off`` at once leave
a valid file holding both.

    >>> import os, tempfile
    >>> saved = dict(os.environ)
    >>> os.environ["PATHBEACON_CONFIG_DIR"] = tempfile.mkdtemp()
    >>> os.environ["PATHBEACON_SYSTEM_CONFIG"] = os.devnull + ".none"
    >>> print(reason("acme"))
    None
    >>> state = off("acme")
    >>> state["packages"], state["all"]
    ({'acme': 'off'}, None)
    >>> reason("acme")
    'turned off for acme by your choice (`pathbeacon telemetry on acme` undoes it)'
    >>> print(reason("other", "opt-in"))  # doctest: +ELLIPSIS
    other asks first (consent='opt-in'): nothing is sent until you run ...
    >>> _ = reset()
    >>> os.environ.clear(); os.environ.update(saved)

What ``report_once`` needs on the caller's thread (reading, deciding) is in the lean
:mod:`pathbeacon.choice`, re-exported here; this module writes (the choice, the notice's
mark, the record) and is the face every command line shares.
"""

import os
import sys

from . import choice, files, optout
from .choice import (
    CHOICE_FILE,
    CONFIG_DIR,
    EVERY,
    MODES,
    NOTICE_FOLDER,
    NOTICE_NEEDED,
    SYSTEM_CONFIG,
    decide,
    folder,
    interactive,
    mode_problem,
    mode_reason,
    normalise,
    notice_reason,
    notice_shown,
    parse,
    system_path,
)

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds
if TYPE_CHECKING:
    from typing import Any, TextIO

__all__ = [
    "ACTIONS", "CHOICE_FILE", "CONFIG_DIR", "EVERY", "MODES", "NOTICE_NEEDED", "SYSTEM_CONFIG",
    "ChoiceError", "command", "decide", "folder", "interactive", "log", "mode_problem",
    "mode_reason", "normalise", "notice_reason", "notice_shown", "off", "on", "parse",
    "reason", "record", "reset", "run", "state", "status", "system_path",
]

RECORD_FILE = "sent.log"
_RECORD_LIMIT = 1 << 20  # what `telemetry log` reads of each generation
_RECORD_ROTATE = 32 * 1024  # about 250 lines: rotated into sent.log.1, so 250-500 are kept
_HEADER = (
    "# pathbeacon: your telemetry choices, one `name = on|off` a line (`*` = every package).\n"
    "# Change them with `pathbeacon telemetry off|on|reset [PACKAGE ...]`.\n"
)


def reason(package: object = None, mode: str = "opt-out") -> "str | None":
    """Why ``package`` may not send now, or ``None`` when it may, by the rule above.

    ``NOTICE_NEEDED`` means only the first-run notice is missing (``mode="notice"``).
    Never raises; an unknown mode reads as ``opt-in`` (the cautious one).
    """
    why = optout.reason(package)
    return why if why is not None else decide(package, mode)


def claim_notice(name: "str | None") -> bool:
    """Record that ``name``'s notice is being shown by this process; ``False`` when another
    process got there first (or the mark cannot be written: then it is not shown)."""
    path = choice.notice_path(name)
    if path is None:
        return False
    import time

    try:
        won = files.create(path, time.strftime("%Y-%m-%dT%H:%M:%SZ\n", time.gmtime()).encode())
    except OSError:
        return False
    return won


def unclaim_notice(name: "str | None") -> None:
    """Take the mark back (the notice could not be written after all)."""
    path = choice.notice_path(name)
    if path is not None:
        files.remove(path)


# ---- the record of what was sent -------------------------------------------------------------


def record(url: str, package: object, now: "float | None" = None) -> bool:
    """Append one line (UTC time, package, URL) to the record of what this account sent;
    ``False`` (never an exception) when it cannot. Called by the worker once the collector
    answered the report's request, whatever the answer.
    Past ~32 KiB the file becomes ``sent.log.1`` (replacing the older one), so the newest
    few hundred lines are kept, and no line is lost to a process appending meanwhile."""
    try:
        import time

        where = folder()
        if where is None:
            return False
        path = os.path.join(where, RECORD_FILE)
        name = normalise(package) or ("-" if package is None else "~other")
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        clean = "".join(ch for ch in url if ch.isprintable() and not ch.isspace())
        size = files.append(path, f"{stamp}\t{name}\t{clean}\n".encode())
        # Past the limit: rotate, if the file there still is (another process may have
        # rotated it and a third begun a new one since our append: that one stays).
        if size >= _RECORD_ROTATE and _size(path) >= _RECORD_ROTATE:
            try:
                os.replace(path, path + ".1")  # whoever wins; a loser finds it gone
            except OSError:
                pass
        return True
    except Exception:
        return False


def _size(path: str) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0


def log(package: object = None) -> "list[dict[str, str]]":
    """What this account sent, oldest first: ``{"time", "package", "url"}`` each, only
    ``package``'s when given. ``OSError`` when the record cannot be read."""
    where = folder()
    if where is None:
        return []
    path = os.path.join(where, RECORD_FILE)
    wanted = None if package is None else (normalise(package) or str(package))
    entries = []
    for part in (path + ".1", path):
        raw = files.read(part, _RECORD_LIMIT)
        if raw is None:
            continue
        for line in raw.decode("utf-8", "replace").splitlines():
            fields = line.split("\t")
            if len(fields) != 3:
                continue  # a line cut short by a full disk: not a report
            if wanted is None or fields[1] == wanted:
                entries.append({"time": fields[0], "package": fields[1], "url": fields[2]})
    return entries


# ---- writing the choice ----------------------------------------------------------------------


class ChoiceError(OSError):
    """The choice could not be written (the CLI's exit status 1)."""


def _lock(path: str) -> "str | None":
    """A short exclusive lock beside ``path`` (so that concurrent changes all land); a lock
    older than 10 s is stale. Never waits more than about 2 s: then goes on without."""
    import time

    lock = path + ".lock"
    end = time.monotonic() + 2.0
    while True:
        try:
            if files.create(lock, str(os.getpid()).encode()):
                return lock
        except OSError:
            return None
        try:
            stale = time.time() - os.lstat(lock).st_mtime > 10.0
        except OSError:  # gone meanwhile: try again
            stale = False
        if stale and files.remove(lock):  # a directory planted there is not removed
            continue
        if time.monotonic() > end:
            return None
        time.sleep(0.01)


def _change(value: "str | None", packages: "tuple[object, ...]") -> "dict[str, Any]":
    names = []
    for package in packages:
        if package in choice.EVERY_NAMES:  # `telemetry off all`: every package
            return _change(value, ())
        name = normalise(package)
        if name is None:
            raise ValueError(f"{package!r} is not a package name")
        names.append(name)
    path = choice.choice_path()
    if path is None:
        raise ChoiceError(2, "no config folder: set PATHBEACON_CONFIG_DIR or HOME")
    lock = _lock(path)
    try:
        found = choice.load(path)
        if isinstance(found, str):
            if names or value == "on":  # the rest of an unreadable file counts as off
                raise ChoiceError(
                    22, f"{path} cannot be used ({found}); `pathbeacon telemetry reset` "
                        "starts it over", path)
            found = {}
        choices = dict(found or {})
        for key in names:
            if value is None:
                choices.pop(key, None)
            else:
                choices[key] = value
        if not names:  # every package: one choice for all, none of their own left
            choices = {} if value is None else {EVERY: value}
        body = "".join(f"{key} = {value}\n" for key, value in
                       sorted(choices.items(), key=lambda item: item[0] != EVERY))
        try:
            files.replace(path, (_HEADER + body).encode("utf-8"), 0o644)
        except OSError as error:
            raise ChoiceError(error.errno or 5, f"cannot write {path}: "
                              f"{error.strerror or error}", path) from None
    finally:
        if lock is not None:
            files.remove(lock)
    return state()


def off(*packages: object) -> "dict[str, Any]":
    """Turn telemetry off for ``packages`` for this user account; with none, for every
    package (forgetting each package's own choice); return the new :func:`state`.
    ``ValueError`` for a bad name, :class:`ChoiceError` when the file cannot be written."""
    return _change("off", packages)


def on(*packages: object) -> "dict[str, Any]":
    """Turn telemetry on for ``packages`` (none: every package, forgetting each package's
    own choice). An environment opt-out and the administrator's ``off`` still win."""
    return _change("on", packages)


def reset(*packages: object) -> "dict[str, Any]":
    """Forget the choice for ``packages`` (none: every choice, starting the file over)."""
    return _change(None, packages)


def state() -> "dict[str, Any]":
    """Where things stand: ``{"config": PATH, "all": "on"|"off"|None, "packages": {NAME:
    "on"|"off"}}``, plus ``problem`` (why the file counts as off), ``environment`` (an
    opt-out variable in force), ``system`` (the administrator's file and what it turns
    off), ``notices`` (packages whose first-run notice was shown) and ``record``."""
    path = choice.choice_path()
    found = None if path is None else choice.load(path)
    problem = found if isinstance(found, str) else None
    choices = {} if isinstance(found, str) or found is None else found
    system = system_path()
    ruled = choice.load(system)
    offs = ([] if ruled is None or isinstance(ruled, str)
            else sorted(k for k, v in ruled.items() if v == "off"))
    shown: list[str] = []
    where = folder()
    if where is not None:
        try:
            shown = sorted(n for n in os.listdir(os.path.join(where, NOTICE_FOLDER))
                           if not n.startswith("."))
        except OSError:
            pass
    return {
        "config": path,
        "all": "off" if problem else choices.get(EVERY),
        "packages": {k: v for k, v in sorted(choices.items()) if k != EVERY},
        "problem": problem,
        "environment": optout.reason(None),
        "system": {"path": system, "off": offs,
                   "problem": ruled if isinstance(ruled, str) else None},
        "notices": shown,
        "record": None if where is None else os.path.join(where, RECORD_FILE),
    }


def status() -> "dict[str, Any]":
    """The same as :func:`state` (what ``pathbeacon telemetry status`` prints)."""
    return state()


# ---- a face for any command line -------------------------------------------------------------


ACTIONS = ("status", "on", "off", "reset", "log")


def _escape(text: object) -> str:
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                   for ch in str(text))


def _describe(found: "dict[str, Any]", packages: "tuple[str, ...]") -> "list[str]":
    every = {"on": "on", "off": "off", None: "no choice (each package's author decides)"}
    lines = [f"choices: {_escape(found['config'])}"]
    if found["problem"]:
        lines.append(f"  this file cannot be used ({_escape(found['problem'])}): "
                     "every package counts as off")
    lines.append(f"every package: {every[found['all']]}")
    chosen = found["packages"]
    packages = tuple(p for p in packages if p not in choice.EVERY_NAMES)
    names = [normalise(p) or p for p in packages] if packages else sorted(chosen)
    for name in names:
        lines.append(f"  {_escape(name)}: {chosen.get(name, 'no choice of its own')}")
    if found["environment"]:
        lines.append(f"environment: {found['environment']}: nothing is sent, whatever the "
                     "choices say")
    system = found["system"]
    if system["problem"]:
        lines.append(f"administrator: {_escape(system['path'])} cannot be used "
                     f"({system['problem']}): everything counts as off")
    elif system["off"]:
        what = ("every package" if EVERY in system["off"]
                else ", ".join(system["off"]))
        lines.append(f"administrator: {_escape(system['path'])} turns off {what}")
    if found["record"]:
        lines.append(f"what was sent: {_escape(found['record'])} "
                     "(`pathbeacon telemetry log`)")
    return lines


def run(action: str, packages: "tuple[str, ...] | list[str]" = (), *, as_json: bool = False,
        out: "TextIO | None" = None) -> None:
    """Carry out one ``telemetry`` action and print the result; raises ``ValueError`` for a
    bad action or name, ``OSError`` when a file cannot be written or read. The
    ``pathbeacon telemetry`` command is this; :func:`command` wraps it for other CLIs."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}: use one of {', '.join(ACTIONS)}")
    stream = out if out is not None else sys.stdout
    names = tuple(packages)
    if action == "log":
        if len(names) > 1:
            raise ValueError("`telemetry log` takes at most one package")
        entries = log(names[0] if names else None)
        if as_json:
            import json

            stream.write(json.dumps(entries, indent=2) + "\n")
        else:
            for entry in entries:
                stream.write(f"{entry['time']}  {_escape(entry['package'])}  "
                             f"{_escape(entry['url'])}\n")
        return
    for name in names:
        if normalise(name) is None and name not in choice.EVERY_NAMES:
            raise ValueError(f"{name!r} is not a package name")
    if action == "status":
        found = state()
    else:
        found = {"on": on, "off": off, "reset": reset}[action](*names)
    if as_json:
        import json

        stream.write(json.dumps(found, indent=2) + "\n")
    else:
        stream.write("\n".join(_describe(found, names)) + "\n")


def command(action: "str | None" = None, package: "str | None" = None, *,
            as_json: bool = False, prog: "str | None" = None) -> int:
    """``acme telemetry [status|on|off|reset|log]`` in a package's own CLI: carries it out
    for ``package`` (``None``: every package), prints the result, and returns the exit
    status (0 done, 1 the file could not be written or read, 2 a bad action), with problems
    as one line on stderr. Two lines with argparse or click (see docs/consent.md)::

        telemetry.add_argument("action", nargs="?", default="status", choices=consent.ACTIONS)
        sys.exit(consent.command(args.action, package="acme"))
    """
    who = prog or (package or "pathbeacon")
    try:
        run(action or "status", (package,) if package else (), as_json=as_json)
    except ValueError as error:
        sys.stderr.write(f"{who}: error: {_escape(error)}\n")
        return 2
    except OSError as error:
        sys.stderr.write(f"{who}: error: {_escape(error.strerror or error)}\n")
        return 1
    return 0
