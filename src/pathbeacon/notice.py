"""``explain()``: a privacy notice, in Markdown, for a maintainer's README.

    >>> text = explain("<base>/<package>/<os>", base="https://acme.gateway.scarf.sh/t",
    ...                package="acme")
    >>> "ACME_NO_ANALYTICS" in text and "acme.gateway.scarf.sh" in text
    True
"""

from __future__ import annotations

from urllib.parse import urlsplit

from . import optout, probes
from .catalogue import resolve
from .compose import fill
from .template import Template

__all__ = ["NEVER_SENT", "explain"]

#: What pathbeacon never reads or sends, whatever the template.
NEVER_SENT = (
    "host name, user name or any other account detail",
    "file paths, the current directory, command lines or environment variables",
    "IP or MAC addresses, machine or hardware IDs, or any other lasting identifier",
    "cookies (none are stored or sent) or anything from your code or data",
)


def _cell(value: str) -> str:
    # A table cell: no pipes or newlines can break the row, no backticks the code span.
    return "`" + value.replace("`", "'").replace("|", "\\|").replace("\n", " ") + "`"


def explain(template: str | Template, /, **facts: object) -> str:
    """A Markdown section naming the endpoint, each field with this machine's value, what
    is never sent, and every way to opt out (the exact variables for ``package``)."""
    resolved = resolve(template)
    values = fill(resolved, facts)
    url = resolved.render(values)
    sent = resolved.parse(url)
    package = facts.get("package")
    who = f"`{package}`" if package else "This package"
    parts = urlsplit(url)
    host, scheme = parts.hostname or "the collector", parts.scheme.upper()
    lines = [
        "## Telemetry",
        "",
        f"{who} sends one anonymous {scheme} request per process (at most once, in the "
        f"background, never delaying or breaking your program) to `{host}`. The request is "
        "a plain GET whose address carries the fields below and nothing else:",
        "",
        "| field | what it is | value on this machine |",
        "|---|---|---|",
    ]
    for name in resolved.fields:
        if name == "base":
            continue
        if name == "package":
            what = "the name of the package reporting"
        else:
            what = probes.DESCRIPTIONS.get(name) or f"a value set by {who}"
        lines.append(f"| {name} | {what} | {_cell(sent[name])} |")
    lines += [
        "",
        f"Like any web server, `{host}` sees the IP address the request comes from.",
        "",
        "**Never sent:** " + "; ".join(NEVER_SENT) + ".",
    ]
    if package:
        lines.append("")
        lines.append("Development and local builds (such as `1.0.dev1` or `1.0+local`) "
                     "report nothing.")
    names = ", ".join(f"`{name}=1`" for name in optout.variables(package))
    lines += [
        "",
        f"**Opting out:** set any of {names} (any value but empty, `0`, `false`, `no` or "
        f"`off`), or `{optout.SCARF_ANALYTICS}=false`, in the environment. Opting out is "
        "read every time, and then nothing is sent: no thread, no DNS look-up, no connection.",
        "",
        f"To see what would be sent without sending it: `{optout.DRY_RUN}=1 "
        f"{optout.DEBUG}=1`.",
    ]
    return "\n".join(lines) + "\n"
