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
    >>> os.environ["PATHBEACON_CONFIG_DIR"] = tempfile.mkdtemp()
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
    >>> del os.environ["PATHBEACON_CONFIG_DIR"]

Only ``os``, ``sys`` and :mod:`pathbeacon.files` are imported: :func:`reason` runs on the
host's importing thread (no ``__future__``, no ``typing``).
"""

import os
import sys

from . import files, optout

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds
if TYPE_CHECKING:
    from typing import Any, TextIO

__all__ = [
    "CONFIG_DIR", "MODES", "SYSTEM_CONFIG", "command", "decide", "folder", "log", "normalise",
    "off", "on", "reason", "reset", "run", "state",
]

#: Overrides the folder holding the choice file and the record of what was sent.
CONFIG_DIR = "PATHBEACON_CONFIG_DIR"
#: Overrides the administrator's file (for tests; the default is ``/etc/pathbeacon/telemetry``).
SYSTEM_CONFIG = "PATHBEACON_SYSTEM_CONFIG"
#: The author's modes ``report_once(consent=...)`` takes.
MODES = ("opt-out", "opt-in", "notice")
#: The name that stands for every package in the choice file.
EVERY = "*"
CHOICE_FILE = "telemetry"
RECORD_FILE = "sent.log"
NOTICE_FOLDER = "notices"
#: What ``reason()`` returns when only an unshown first-run notice stands in the way.
NOTICE_NEEDED = "the first-run notice has not been shown yet"
_LIMIT = 64 * 1024  # a choice file is a few lines; anything bigger is not one
_RECORD_LIMIT = 1 << 20  # what `telemetry log` reads of each generation
_RECORD_ROTATE = 32 * 1024  # about 250 lines: rotated into sent.log.1, so 250-500 are kept
_HEADER = (
    "# pathbeacon: your telemetry choices, one `name = on|off` a line (`*` = every package).\n"
    "# Change them with `pathbeacon telemetry off|on|reset [PACKAGE ...]`.\n"
)
# Packages whose notice this process has shown: nothing of theirs is sent in this run.
_shown_here: "set[str]" = set()


# ---- names and places ----------------------------------------------------------------------


def normalise(name: object) -> "str | None":
    """A package name as PEP 503 compares them (lower case, runs of ``-_.`` as one ``-``),
    or ``None`` when ``name`` is no valid distribution name.

        >>> normalise("Acme_Tools"), normalise("a..b"), normalise("no spaces"), normalise(None)
        ('acme-tools', 'a-b', None, None)
    """
    if not isinstance(name, str):
        return None
    text = name.strip().lower()
    if not text or len(text) > 200 or not (text[0].isalnum() and text[-1].isalnum()):
        return None
    out: list[str] = []
    for ch in text:
        if ch in "-_.":
            if out[-1] != "-":
                out.append("-")
        elif ch.isascii() and ch.isalnum():
            out.append(ch)
        else:
            return None
    return "".join(out)


def folder() -> "str | None":
    """The folder of the choice file: ``PATHBEACON_CONFIG_DIR``, else the user's config
    folder's ``pathbeacon`` (``%APPDATA%``, ``~/Library/Application Support``,
    ``$XDG_CONFIG_HOME`` or ``~/.config``); ``None`` when none can be named."""
    environ = os.environ
    chosen = environ.get(CONFIG_DIR)
    if chosen:
        return chosen
    if sys.platform == "win32":
        root = environ.get("APPDATA")
    elif sys.platform == "darwin":
        root = os.path.join(os.path.expanduser("~"), "Library", "Application Support")
    else:
        root = environ.get("XDG_CONFIG_HOME")
        if not (root and os.path.isabs(root)):  # the XDG spec: relative paths are ignored
            root = os.path.join(os.path.expanduser("~"), ".config")
    if not root or not os.path.isabs(root):  # no home to speak of
        return None
    return os.path.join(root, "pathbeacon")


def _choice_path() -> "str | None":
    where = folder()
    return None if where is None else os.path.join(where, CHOICE_FILE)


def system_path() -> str:
    """The administrator's file: ``PATHBEACON_SYSTEM_CONFIG``, else
    ``/etc/pathbeacon/telemetry`` (``%PROGRAMDATA%\\pathbeacon\\telemetry`` on Windows)."""
    chosen = os.environ.get(SYSTEM_CONFIG)
    if chosen:
        return chosen
    if sys.platform == "win32":
        return os.path.join(os.environ.get("PROGRAMDATA") or "C:\\ProgramData", "pathbeacon",
                            CHOICE_FILE)
    return "/etc/pathbeacon/" + CHOICE_FILE


# ---- reading ---------------------------------------------------------------------------------


def parse(text: str) -> "dict[str, str] | str":
    """The choices in a file's text (``{name: "on"|"off"}``, ``*`` for every package), or
    a message saying why it cannot be understood.

        >>> parse("# mine\\n* = off\\nAcme = on\\n")
        {'*': 'off', 'acme': 'on'}
        >>> parse("acme = maybe")
        "line 1: expected 'NAME = on' or 'NAME = off', not 'acme = maybe'"
    """
    choices: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        name, value = name.strip(), value.strip().lower()
        key = EVERY if name == EVERY else normalise(name)
        if not sep or key is None or value not in ("on", "off"):
            shown = line if len(line) <= 60 else line[:57] + "..."
            return f"line {number}: expected 'NAME = on' or 'NAME = off', not {shown!r}"
        choices[key] = value
    return choices


def _load(path: str) -> "dict[str, str] | str | None":
    """``path``'s choices; ``None`` when there is no file; a message when it exists but
    cannot be read or understood (which counts as ``off``)."""
    try:
        raw = files.read(path, _LIMIT)
        if raw is None:
            if os.path.lexists(path):  # a link that leads nowhere: not "no file"
                return "it is a link to nothing"
            return None
        text = raw.decode("utf-8")
    except OSError as error:
        return error.strerror or str(error)
    except ValueError:  # UnicodeDecodeError
        return "it is not UTF-8 text"
    return parse(text)


def _choice_reason(name: "str | None") -> "str | None":
    """Why the administrator's or the user's file turns ``package`` off, ``""`` when the
    user turned it on, ``None`` when neither file decides."""
    system = system_path()
    found = _load(system)
    if isinstance(found, str):
        return f"the administrator's file {system} cannot be used ({found}): counted as off"
    if found:
        if found.get(EVERY) == "off":
            return f"turned off for every package by the administrator ({system})"
        if name is not None and found.get(name) == "off":
            return f"turned off for {name} by the administrator ({system})"
    path = _choice_path()
    if path is None:
        return None
    found = _load(path)
    if isinstance(found, str):
        return f"your choice file {path} cannot be used ({found}): counted as off"
    if not found:
        return None
    choice = found.get(name) if name is not None else None
    if choice == "off":
        return f"turned off for {name} by your choice (`pathbeacon telemetry on {name}` undoes it)"
    if choice == "on":
        return ""
    every = found.get(EVERY)
    if every == "off":
        return ("turned off for every package by your choice "
                "(`pathbeacon telemetry on` undoes it)")
    if every == "on":
        return ""
    return None


def mode_problem(mode: object) -> str:
    """Name what is wrong with a ``consent=`` value, or return an empty string.

        >>> mode_problem("notice"), mode_problem("yes")
        ('', "consent must be 'opt-out', 'opt-in' or 'notice', not 'yes'")
    """
    if isinstance(mode, str) and mode in MODES:
        return ""
    return f"consent must be 'opt-out', 'opt-in' or 'notice', not {mode!r}"


def reason(package: object = None, mode: str = "opt-out") -> "str | None":
    """Why ``package`` may not send now, or ``None`` when it may, by the rule above.

    ``NOTICE_NEEDED`` means only the first-run notice is missing (``mode="notice"``).
    Never raises; an unknown mode reads as ``opt-in`` (the cautious one).
    """
    why = optout.reason(package)
    return why if why is not None else decide(package, mode)


def decide(package: object = None, mode: str = "opt-out") -> "str | None":
    """:func:`reason` without the environment (``report_once`` reads that first, or
    ``capture()``'s rule in its place): the administrator, the user, the author's mode."""
    try:
        name = normalise(package)
        why = _choice_reason(name)
        if why is not None:
            return why or None  # "" is the user's `on`
        return mode_reason(name, mode)
    except Exception as error:  # never into the host; and never a send on a surprise
        return f"the choice could not be read ({error!r}): counted as off"


def mode_reason(name: "str | None", mode: str) -> "str | None":
    """What the author's ``mode`` says when the user has made no choice."""
    who = name or "this package"
    if mode == "opt-out":
        return None
    if mode == "notice":
        key = _notice_key(name)
        if key in _shown_here:
            return (f"{who} shows its first-run notice in this run (consent='notice'): "
                    "nothing is sent until the next run")
        return None if notice_shown(name) else NOTICE_NEEDED
    command = f"pathbeacon telemetry on {name}" if name else "pathbeacon telemetry on"
    return (f"{who} asks first (consent='opt-in'): nothing is sent until you run "
            f"`{command}`")


def notice_reason(name: "str | None", why: str) -> str:
    """The reason a report gives when the notice could not be shown (``why``)."""
    who = name or "this package"
    return (f"{who} shows a notice before its first report (consent='notice') and it has "
            f"not been shown: {why}; nothing is sent until it has been")


# ---- the first-run notice's mark ------------------------------------------------------------


def _notice_key(name: "str | None") -> str:
    if name is not None:
        return name
    return "~unnamed"


def _notice_path(name: "str | None") -> "str | None":
    where = folder()
    if where is None:
        return None
    return os.path.join(where, NOTICE_FOLDER, _notice_key(name))


def notice_shown(name: "str | None") -> bool:
    """Whether this account was shown ``name``'s first-run notice (anything at its mark
    counts: the mark is never opened, so nothing planted there can block)."""
    path = _notice_path(name)
    return path is not None and os.path.lexists(path)


def interactive() -> bool:
    """Whether stderr is an interactive terminal (the one place a notice may be shown)."""
    stream = sys.stderr
    try:
        return stream is not None and os.isatty(stream.fileno())
    except Exception:  # closed, or an in-memory stream
        return False


def notice_due(name: "str | None") -> None:
    """Note that this process is about to show ``name``'s notice: its other reports in this
    run are then not sent either (the worker shows it a moment later)."""
    _shown_here.add(_notice_key(name))


def claim_notice(name: "str | None") -> bool:
    """Record that ``name``'s notice is being shown by this process; ``False`` when another
    process got there first (or the mark cannot be written: then it is not shown)."""
    path = _notice_path(name)
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
    path = _notice_path(name)
    if path is not None:
        files.remove(path)


# ---- the record of what was sent -------------------------------------------------------------


def record(url: str, package: object, now: "float | None" = None) -> bool:
    """Append one line (UTC time, package, URL) to the record of what this account sent;
    ``False`` (never an exception) when it cannot. Called by the worker after a delivery.
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
        if size >= _RECORD_ROTATE:
            try:
                os.replace(path, path + ".1")  # whoever wins; a loser finds it gone
            except OSError:
                pass
        return True
    except Exception:
        return False


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
            if time.time() - os.lstat(lock).st_mtime > 10.0:
                files.remove(lock)
                continue
        except OSError:
            continue
        if time.monotonic() > end:
            return None
        time.sleep(0.01)


def _change(choice: "str | None", packages: "tuple[object, ...]") -> "dict[str, Any]":
    names = []
    for package in packages:
        name = normalise(package)
        if name is None:
            raise ValueError(f"{package!r} is not a package name")
        names.append(name)
    path = _choice_path()
    if path is None:
        raise ChoiceError(2, "no config folder: set PATHBEACON_CONFIG_DIR or HOME")
    lock = _lock(path)
    try:
        found = _load(path)
        if isinstance(found, str):
            if names or choice == "on":  # the rest of an unreadable file counts as off
                raise ChoiceError(
                    22, f"{path} cannot be used ({found}); `pathbeacon telemetry reset` "
                        "starts it over", path)
            found = {}
        choices = dict(found or {})
        for key in names:
            if choice is None:
                choices.pop(key, None)
            else:
                choices[key] = choice
        if not names:  # every package: one choice for all, none of their own left
            choices = {} if choice is None else {EVERY: choice}
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
    path = _choice_path()
    found = None if path is None else _load(path)
    problem = found if isinstance(found, str) else None
    choices = {} if isinstance(found, str) or found is None else found
    system = system_path()
    ruled = _load(system)
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
        if normalise(name) is None:
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
