"""The caller's-thread half of :mod:`pathbeacon.consent`: may this package send, and if
not, why not, from the administrator's file, the user's choice file and the author's mode.

Kept tiny, with only ``os`` and ``sys`` imported (no ``__future__``, no ``typing``), and
:mod:`pathbeacon.files` only when a file is there to read: ``report_once`` imports it on
the host's importing thread. Everything that
writes (the choice, the notice's mark, the record) is in :mod:`pathbeacon.consent`.

    >>> normalise("Acme_Tools"), parse("* = off")
    ('acme-tools', {'*': 'off'})
"""

import os
import sys

CONFIG_DIR = "PATHBEACON_CONFIG_DIR"
SYSTEM_CONFIG = "PATHBEACON_SYSTEM_CONFIG"
MODES = ("opt-out", "opt-in", "notice")
EVERY = "*"
# Names that stand for every package, in the file and on the command line.
EVERY_NAMES = ("*", "all", "ALL", "All")
CHOICE_FILE = "telemetry"
NOTICE_FOLDER = "notices"
NOTICE_NEEDED = "the first-run notice has not been shown yet"
LIMIT = 64 * 1024  # a choice file is a few lines; anything bigger is not one
# Packages whose notice this process shows: nothing of theirs is sent in this run.
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
    from pathbeacon.optout import user_folder

    return user_folder("config", CONFIG_DIR)


def choice_path() -> "str | None":
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
    a message saying why it cannot be understood. ``all`` is ``*``, and a bare ``on`` or
    ``off`` line is the choice for every package; a text starting with ``{`` is read as
    the JSON that ``pathbeacon telemetry --json`` prints (``all`` and ``packages``).

        >>> parse("# mine\\n* = off\\nAcme = on\\n")
        {'*': 'off', 'acme': 'on'}
        >>> parse("off"), parse('{"all": "off", "packages": {"acme": "on"}}')
        ({'*': 'off'}, {'*': 'off', 'acme': 'on'})
        >>> parse("acme = maybe")
        "line 1: expected 'NAME = on' or 'NAME = off', not 'acme = maybe'"
    """
    if text.lstrip().startswith("{"):
        return _parse_json(text)
    choices: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep:  # a bare "off": every package
            name, sep, value = EVERY, "=", name
        name, value = name.strip(), value.strip().lower()
        key = EVERY if name in EVERY_NAMES else normalise(name)
        if key is None or value not in ("on", "off"):
            shown = line if len(line) <= 60 else line[:57] + "..."
            return f"line {number}: expected 'NAME = on' or 'NAME = off', not {shown!r}"
        choices[key] = value
    return choices


def _parse_json(text: str) -> "dict[str, str] | str":
    import json  # only for a file written in this form: never for the usual one

    problem = "expected the JSON that `pathbeacon telemetry --json` prints (all, packages)"
    try:
        found = json.loads(text)
    except ValueError:
        return problem
    if not isinstance(found, dict):
        return problem
    every, packages = found.get("all"), found.get("packages") or {}
    if every not in (None, "on", "off") or not isinstance(packages, dict):
        return problem
    choices = {} if every is None else {EVERY: every}
    for name, value in packages.items():
        key = normalise(name)
        if key is None or value not in ("on", "off"):
            return problem
        choices[key] = value
    return choices


def load(path: str) -> "dict[str, str] | str | None":
    """``path``'s choices; ``None`` when there is no file; a message when it exists but
    cannot be read or understood (which counts as ``off``)."""
    try:
        # The usual case, no file, costs one lstat (which opens nothing, so cannot block)
        # and no import of files; anything there is opened only through files.read.
        if not os.path.lexists(path):
            return None
        from pathbeacon import files

        raw = files.read(path, LIMIT)
        if raw is None:
            if os.path.lexists(path):  # a link that leads nowhere: not "no file"
                return "it is a link to nothing"
            return None
        if raw.startswith(b"\xef\xbb\xbf"):  # a BOM (PowerShell 5.1's utf8): no choice
            raw = raw[3:]  # (and no utf-8-sig codec to import on the caller's thread)
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
    found = load(system)
    if isinstance(found, str):
        return f"the administrator's file {system} cannot be used ({found}): counted as off"
    if found:
        if found.get(EVERY) == "off":
            return f"turned off for every package by the administrator ({system})"
        if name is not None and found.get(name) == "off":
            return f"turned off for {name} by the administrator ({system})"
    path = choice_path()
    if path is None:
        return None
    found = load(path)
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
    if mode in ("opt-out", "notice") and notice_key(name) in _shown_here:
        # The notice says nothing was sent this time: true of every report of the package.
        return (f"{who} shows its first-run notice in this run (consent='notice'): "
                "nothing is sent until the next run")
    if mode == "opt-out":
        return None
    if mode == "notice":
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


def notice_key(name: "str | None") -> str:
    if name is not None:
        return name
    return "~unnamed"


def notice_path(name: "str | None") -> "str | None":
    where = folder()
    if where is None:
        return None
    return os.path.join(where, NOTICE_FOLDER, notice_key(name))


def notice_shown(name: "str | None") -> bool:
    """Whether this account was shown ``name``'s first-run notice (anything at its mark
    counts: the mark is never opened, so nothing planted there can block)."""
    path = notice_path(name)
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
    _shown_here.add(notice_key(name))


def forget_notice(name: "str | None") -> None:
    """Undo :func:`notice_due`: the report that was to show the notice was taken back."""
    _shown_here.discard(notice_key(name))
