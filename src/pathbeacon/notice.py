"""``explain()``: a privacy notice, in Markdown, for a maintainer's README.

    >>> text = explain("<base>/<package>/<os>", base="https://acme.gateway.scarf.sh/t",
    ...                package="acme")
    >>> "ACME_NO_ANALYTICS" in text and "acme.gateway.scarf.sh" in text
    True

Everything taken from the caller (package name, fact values, host) is shown inside a code
span with the characters that could end it removed, so no value can add a heading, a link
or a table cell to the notice.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from . import __version__, optout, probes
from .catalogue import resolve
from .choice import mode_problem, normalise
from .compose import fill
from .template import Template

__all__ = ["NEVER_SENT", "explain", "first_run_notice"]

#: What pathbeacon never reads or sends, whatever the template.
NEVER_SENT = (
    "host name, user name or any other account detail",
    "file paths, the current directory, command lines or environment variables",
    "IP or MAC addresses, machine or hardware IDs, or any other lasting identifier",
    "cookies (none are stored or sent) or anything from your code or data",
)

# A template is a browser pixel (Scarf's, or one like it) when it carries a pixel id.
_PIXEL_FIELD = "pixel_id"
_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week"}
_INTERVAL = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*")
# Characters that could end a code span or a line, or hide text: replaced or dropped.
_UNSAFE = {**dict.fromkeys(range(0x20), " "), 0x7F: None, ord("`"): "'"}


def user_agent() -> str:
    """The header a report sends (``report.user_agent()``, which this module sits below).

        >>> user_agent().startswith("pathbeacon/")
        True
    """
    return f"pathbeacon/{__version__}"


def _code(value: object, *, cell: bool = False) -> str:
    """``value`` as a Markdown code span that cannot end early or break its line (or,
    with ``cell``, its table cell). Inside a code span Markdown reads nothing else."""
    text = "".join(ch for ch in str(value).translate(_UNSAFE) if ch.isprintable()).strip()
    if cell:
        text = text.replace("|", "\\|")
    return f"`{text or ' '}`"


def _interval_text(interval: object) -> str:
    """``"1d"`` → ``"day"``, ``"12h"`` → ``"12 hours"``, ``3600`` → ``"3600 seconds"``."""
    if isinstance(interval, bool) or not isinstance(interval, (int, float, str)):
        raise ValueError(f"interval must be seconds or text such as '1d', not {interval!r}")
    match = _INTERVAL.fullmatch(str(interval))
    number = float(match.group(1)) if match else 0.0
    if match is None or not number > 0:
        raise ValueError(f"interval must be above 0, in seconds or as '12h', '1d': {interval!r}")
    unit = _UNITS[match.group(2) or "s"]
    if number == 1:
        return unit
    shown = match.group(1) if isinstance(interval, str) else f"{number:g}"
    return f"{shown} {unit}s"


def explain(template: str | Template, /, *, interval: object = None, consent: object = "opt-out",
            **facts: object) -> str:
    """A Markdown section naming the endpoint, each field with an example value (this
    machine's), what is never sent, and every way to opt out (the lasting choice, and the
    exact variables for ``package``).

    Pass the same ``consent`` as to ``report_once`` (``"opt-in"``, ``"notice"``) to
    describe when the package starts sending.

    Pass the same ``interval`` as to ``report_once`` to describe its at-most-once-per-
    interval state. A template with a ``<pixel_id>`` (such as ``scarf-pixel``) is described
    as an image a browser loads, not as a request from the package.

        >>> text = explain("scarf-pixel", pixel_id="abc")
        >>> "browser" in text and "per process" not in text
        True
    """
    problem = mode_problem(consent)
    if problem:
        raise ValueError(problem)
    resolved = resolve(template)
    values = fill(resolved, facts)
    url = resolved.render(values)
    sent = resolved.parse(url)
    package = facts.get("package")
    who = _code(package) if package else "This package"
    parts = urlsplit(url)
    host = _code(parts.hostname or "the collector")
    scheme = parts.scheme.upper()
    pixel = _PIXEL_FIELD in resolved.fields
    if pixel:
        opening = (
            f"This page shows a tracking pixel: a tiny image that your browser loads from "
            f"{host} with an {scheme} GET when it displays the page (not a request made by "
            "any installed package). Its address carries the fields below and nothing else:"
        )
    else:
        if interval is None:
            how_often = "per process (at most once, in the background"
        else:
            every = _interval_text(interval)
            once = f"a {every}" if every in _UNITS.values() else f"every {every}"
            how_often = f"at most once {once} per user account on a machine (in the background"
        opening = (
            f"{who} sends one anonymous {scheme} request {how_often}, "
            f"never delaying or breaking your program) to {host}. The request is a plain GET "
            "whose address carries the fields below and nothing else; its one header of "
            f"note is {_code('User-Agent: ' + user_agent())}:"
        )
    lines = [
        "## Telemetry",
        "",
        opening,
        "",
        # The values are the machine's that wrote the notice: a reader's own differ, so
        # they are labelled as examples.
        "| field | what it is | example value |",
        "|---|---|---|",
    ]
    setter = _code(package, cell=True) if package else "the package"
    for name in resolved.fields:
        if name == "base":
            continue
        if name == "package":
            what = "the name of the package reporting"
        elif name == _PIXEL_FIELD:
            what = "the pixel's id, which names the page it is on"
        else:
            what = probes.DESCRIPTIONS.get(name) or f"a value set by {setter}"
        value = _code(sent[name], cell=True)
        lines.append(f"| {name} | {what} | {value} |")
    if pixel:
        lines += [
            "",
            f"Like any web server, {host} sees the IP address the request comes from and the "
            "headers your browser sends with any image (such as its User-Agent, the page's "
            "address as the referrer policy allows, and any cookies it keeps for that host). "
            "Nothing is read from your machine or from any installed package.",
            "",
            "**Opting out:** environment variables cannot stop a pixel, because the browser "
            f"loads it: block images from {host}, or read the page with images turned off.",
        ]
        return "\n".join(lines) + "\n"
    lines += [
        "",
        f"Like any web server, {host} sees the IP address the request comes from.",
        "",
        "**Never sent:** " + "; ".join(NEVER_SENT) + ".",
    ]
    if package:
        lines.append("")
        lines.append("Development and local builds (such as `1.0.dev1` or `1.0+local`) "
                     "report nothing.")
    normal = normalise(package)
    mine = f" {normal}" if normal else ""
    if consent == "opt-in":
        lines += [
            "",
            f"**Asks first:** nothing is sent until you turn it on with `pathbeacon telemetry "
            f"on{mine}` (or `pathbeacon telemetry on` for every package that reports through "
            "pathbeacon).",
        ]
    elif consent == "notice":
        lines += [
            "",
            "**Tells you first:** the first time it runs with its error output on a terminal "
            "(not on CI), it prints a short notice there and sends nothing in that run; later "
            "runs send unless you turn it off. Where no terminal is attached, no notice is "
            "shown and nothing is sent until one has been.",
        ]
    names = ", ".join(f"`{name}=1`" for name in optout.variables(package))
    lines += [
        "",
        f"**Opting out:** run `pathbeacon telemetry off{mine}` (or `pathbeacon telemetry off` "
        "for every package that reports through pathbeacon): the choice is kept for your "
        "user account in a small file under your config folder (`XDG_CONFIG_HOME` or "
        "`~/.config`, `~/Library/Application Support`, `%APPDATA%`; `PATHBEACON_CONFIG_DIR` "
        "moves it), beside a record of every report sent from your account "
        "(`pathbeacon telemetry log`). "
        f"Or set any of {names} (any value but empty, `0`, `false`, `no` or "
        f"`off`), or `{optout.SCARF_ANALYTICS}=false`, in the environment, which beats any "
        "choice. Opting out is "
        "read every time, and then nothing is sent: no thread, no DNS look-up, no connection.",
    ]
    if interval is not None:
        lines += [
            "",
            f"**Stored on your machine:** to report at most once {once}, the time of the last "
            "report "
            "is kept in a small file under your user's cache folder (`XDG_CACHE_HOME` or "
            "`~/.cache`, `~/Library/Caches`, `%LOCALAPPDATA%`; `PATHBEACON_CACHE_DIR` moves "
            "it). It holds only that time stamp, is written only after a report was "
            "delivered, and may be deleted at any time.",
        ]
    lines += [
        "",
        f"To see what would be sent without sending it: `{optout.DRY_RUN}=1 "
        f"{optout.DEBUG}=1`.",
    ]
    return "\n".join(lines) + "\n"


# Shown on a terminal, not rendered as Markdown: control and format characters dropped.
_PLAIN = {**dict.fromkeys(range(0x20), " "), 0x7F: None}


def _plain(value: object) -> str:
    return "".join(ch for ch in str(value).translate(_PLAIN) if ch.isprintable()).strip()


def first_run_notice(template: str | Template, /, **facts: object) -> str:
    """The notice ``report_once(..., consent="notice")`` prints once, on a terminal, before
    a package's first report: at most 6 lines of plain text saying what is sent, to whom,
    and how to turn it off (the command and the environment variable).

        >>> text = first_run_notice("<base>/<package>/<os>", base="https://t.example/x",
        ...                         package="acme")
        >>> len(text.splitlines()) <= 6 and "pathbeacon telemetry off acme" in text
        True
        >>> "ACME_NO_ANALYTICS=1" in text and "t.example" in text
        True
    """
    resolved = resolve(template)
    values = fill(resolved, facts)
    url = resolved.render(values)
    sent = resolved.parse(url)
    package = facts.get("package")
    name = normalise(package)
    who = _plain(package) if package else "This program"
    host = _plain(urlsplit(url).hostname or "its collector")
    fields = [n for n in resolved.fields if n != "base"]
    shown = " ".join(_plain(sent[n]) or "-" for n in fields)
    mine = f" {name}" if name else ""
    variables = optout.variables(package)
    own = f"{variables[-1]}=1 or " if package else ""
    lines = [
        f"{who} sends anonymous usage reports (via pathbeacon): at most one request per run to "
        f"{host}, carrying only: {', '.join(fields) or 'nothing but the address'}.",
        f"On this machine: {shown or '-'}. Never sent: names, file paths, "
        "IP or MAC addresses, lasting IDs.",
        "Nothing was sent this time; later runs send unless you turn it off.",
        f"Turn it off: `pathbeacon telemetry off{mine}` (every package: `pathbeacon telemetry "
        f"off`), or set {own}DO_NOT_TRACK=1.",
        "See what was sent: `pathbeacon telemetry log`. This notice is shown once.",
    ]
    return "\n".join(lines) + "\n"
