"""Web server configs generated from a template: nginx and Caddy answer the beacons.

The path match comes from the template itself: each field is one or more unreserved
characters or ``%XX`` escapes (what ``render`` can produce), every literal is matched
exactly, so a request outside the template's shape is never answered ``204`` nor counted
as a beacon. The generated server writes the JSON access log that ``pathbeacon stats``
decodes.

    >>> r = route("<base>/<package>/<version>", base="https://gw.example/t")
    >>> r.prefix, r.base_path
    ('/t/', '/t')
    >>> import re
    >>> bool(re.match(r.pattern, "/t/acme/1.2%2B3")), bool(re.match(r.pattern, "/t/acme/1/x"))
    (True, False)
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from ..catalogue import resolve
from ..template import Template, check_base, check_path

__all__ = ["CADDY_LOG", "NGINX_LOG", "Route", "caddy", "nginx", "route"]

# One field: what encode() can produce (RFC 3986 unreserved characters and %XX escapes).
# Written without "{n}" so that neither nginx nor Caddy reads a brace in it.
FIELD = "(?:[A-Za-z0-9._~-]|%[0-9A-Fa-f][0-9A-Fa-f])+"
#: The named group holding what follows the base path (nginx sets ``$pathbeacon_rest``).
REST = "pathbeacon_rest"
NGINX_LOG = "/var/log/nginx/pathbeacon.log"
CADDY_LOG = "/var/log/caddy/pathbeacon.log"
# Characters a path or name may not carry into a config file, whatever the quoting:
# nginx reads "$" as a variable and Caddy "{}" as a placeholder.
_UNSAFE = frozenset('"\\$;{}\'`#') | frozenset(chr(c) for c in range(0x21))
_PLAIN = frozenset("/-_~=&:@,")
_LISTEN = re.compile(r"[A-Za-z0-9.:\[\]_*-]+")


def _escape(text: str) -> str:
    """A regex matching ``text`` exactly, in the syntax PCRE (nginx) and RE2 (Caddy) share.

    Letters, digits and a few characters no regex syntax uses stay as they are, ``.`` is
    ``[.]``, and anything else is ``\\xHH``, which neither config language treats
    specially inside a quoted string.

        >>> print(_escape("/acme-1.0+x"))
        /acme-1[.]0\\x2Bx
    """
    out = []
    for ch in text:
        if (ch.isascii() and ch.isalnum()) or ch in _PLAIN:
            out.append(ch)
        else:
            out.append("[.]" if ch == "." else f"\\x{ord(ch):02X}")
    return "".join(out)


@dataclass(frozen=True)
class Route:
    """Where a template's beacons arrive on a server, and the regex that fits them.

    ``base_path`` is the path the template's own path continues (``""`` for the root or
    a template without ``<base>``); ``prefix`` the static start of every fitting path, cut
    after its last ``/`` (the location a server hands to the gateway); ``pattern`` a regex
    anchored at both ends, over a request target (path and query, as sent), whose group
    ``pathbeacon_rest`` holds what follows ``base_path``.
    """

    template: Template
    base_path: str
    prefix: str
    pattern: str

    @property
    def name(self) -> str:
        """A short name unique to the template and base path (for log formats, matchers)."""
        digest = hashlib.sha256(f"{self.template.text}\n{self.base_path}".encode()).hexdigest()
        return f"pathbeacon_{digest[:8]}"


def _base_path(base: str) -> str:
    """The path of ``base`` (a URL or just its path), without a trailing ``/``."""
    if base.startswith("/"):
        path = base
        if "?" in path or "#" in path:
            raise ValueError(f"base path may not carry a query or fragment: {base!r}")
        check_path(path)  # no segment URL parsers resolve away, no broken escape
    else:
        path = urlsplit(check_base(base)).path
    path = path.rstrip("/")
    bad = [ch for ch in path if ch in _UNSAFE or not ch.isascii()]
    if bad:
        raise ValueError(f"base path may not contain {bad[0]!r} in a server config: {base!r}")
    return path


def route(template: str | Template, base: str | None = None) -> Route:
    """The :class:`Route` of ``template`` (text or a shipped name) under ``base``.

    ``base`` (a URL or just its path) is needed when the template opens with ``<base>``
    and refused otherwise, since the template then names its own path.

        >>> route("https://static.example/a.png?id=<pixel_id>").prefix
        '/a.png'
    """
    resolved = resolve(template)
    literals = list(resolved.literals)
    slots = list(resolved.slots)
    if resolved.has_base:
        if base is None:
            raise ValueError("the template opens with <base>: pass base=URL (or base=/path)")
        base_path = _base_path(base)
        literals, slots = literals[1:], slots[1:]
    else:
        if base is not None:
            raise ValueError("the template has no <base>: its own URL gives the path")
        base_path = ""
        head = literals[0]
        start = head.index("//") + 2
        cut = min((i for i in (head.find("/", start), head.find("?", start)) if i >= 0),
                  default=len(head))
        literals[0] = head[cut:]
    pieces = [_escape(literals[0])]
    for i, _slot in enumerate(slots):
        pieces.append(FIELD)
        pieces.append(_escape(literals[i + 1]))
    rest = "".join(pieces)
    pattern = f"^{_escape(base_path)}(?P<{REST}>{rest})$"
    # The static start of the path: up to the first field or the query, whichever is first.
    static = base_path + literals[0]
    path_only = static.split("?", 1)[0]
    in_path = slots and "?" not in static  # the first field stands in the path
    prefix = path_only[: path_only.rfind("/") + 1] if in_path else path_only
    # A server compares its location prefix with the decoded path.
    try:
        decoded = unquote(prefix, errors="strict")
    except UnicodeDecodeError:
        raise ValueError(f"the path {prefix!r} has escapes that are not UTF-8") from None
    location = _check_value("the base path", decoded or "/")
    return Route(resolved, base_path, location, pattern)


def _check_value(what: str, value: str) -> str:
    bad = [ch for ch in value if ch in _UNSAFE]
    if not value or bad:
        shown = repr(bad[0]) if bad else "an empty value"
        raise ValueError(f"{what} may not contain {shown} in a server config: {value!r}")
    return value


def _check_normal(prefix: str) -> None:
    """Refuse a (decoded) location prefix nginx would never see: nginx compares locations
    with the request path after merging ``//`` and resolving ``.`` and ``..`` segments, so
    such a prefix would answer every beacon 404."""
    segments = prefix.split("/")[1:]
    complete = segments[:-1] + ([segments[-1]] if segments[-1] in (".", "..") else [])
    odd = next((s for s in complete if s in ("", ".", "..")), None)
    if odd is not None:
        shown = "an empty segment (//)" if odd == "" else f"a {odd!r} segment"
        raise ValueError(f"the path {prefix!r} has {shown}, which nginx rewrites before"
                         " matching: no beacon would reach the gateway")


def _origin(base: str | None) -> str:
    """The scheme, host and port of ``base`` (lower case), or ``""`` for a bare path."""
    if not base or base.startswith("/"):
        return ""
    parts = urlsplit(base)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _download_url(url: str | None) -> str | None:
    if url is None:
        return None
    checked = check_base(url)
    return _check_value("--download-to", checked)


def _config_name(r: Route, *parts: object) -> str:
    """A name for a generated config's ``log_format`` and variable: unique to the template,
    its base URL (host and port too: prod and staging in one nginx) and the options."""
    text = "\n".join([r.template.text, r.base_path, *(str(p) for p in parts)])
    return f"pathbeacon_{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def nginx(
    template: str | Template,
    base: str | None = None,
    *,
    download_to: str | None = None,
    client: bool = True,
    log: str = NGINX_LOG,
    server: str | None = None,
    listen: str = "80",
) -> str:
    """An nginx config snippet that answers and logs ``template``'s beacons.

    Beacons are told by the raw request target (``$request_uri``, as sent), never by the
    path nginx has decoded and normalised: nginx turns ``%2F`` into ``/`` and resolves
    ``.``/``..`` segments before it chooses a location, which a value may well contain. So
    the http-level part is a ``log_format`` and a ``map`` of the method and raw target; the
    server-level part sends a fitting request to an internal location that answers and
    logs it, and a ``location`` answering 404 to (and logging) the rest under the base
    path. Without ``server`` the two parts are printed one after the other; with it, the
    server-level part is a whole ``server`` block named ``server`` listening on ``listen``,
    which answers 404 to every other path. Fitting GET and HEAD requests get ``204`` (or,
    with ``download_to``, a ``302`` to the same path under that URL).

        >>> text = nginx("<base>/<os>", base="https://gw.example/t")
        >>> 'map "$request_method $request_uri"' in text and "return 204;" in text
        True
    """
    r = route(template, base)
    _check_normal(r.prefix)
    target = _download_url(download_to)
    log = _check_value("--log", log)
    origin = _origin(base) if r.template.has_base else ""
    name = _config_name(r, origin, server or "", listen if server else "", log, client)
    keys = ['"time":"$time_iso8601"', '"request":"$request_uri"', '"status":$status',
            '"agent":"$http_user_agent"']
    if client:
        keys.append('"client":"$remote_addr"')
    inside = f"/.pathbeacon/{name}"  # the internal location's URI (never a beacon's)
    answer = f'return 302 "{target}${name}";' if target else "return 204;"
    where = [
        f'if (${name} ~ "^.") {{',  # matched ("0" is a value too)
        f"    rewrite ^ {inside}? last;",
        "}",
        f"location = {inside} {{",
        "    internal;",
        f"    access_log {log} {name};",
        '    add_header Cache-Control "no-store" always;',
        f"    {answer}",
        "}",
        f'location ^~ "{r.prefix}" {{',
        f"    access_log {log} {name};",
        '    add_header Cache-Control "no-store" always;',
        "    return 404;",
        "}",
    ]
    lines = [
        f"# pathbeacon gateway (nginx) for {r.template.text}",
        f"# beacons: GET/HEAD {r.prefix}... -> {'302' if target else '204'};"
        f" the rest under {r.prefix} -> 404; log: {log}",
        "# These lines belong in the http block (Debian: a file in /etc/nginx/conf.d/).",
        "# Beacons are told by the request target as sent ($request_uri): nginx decodes %2F",
        "# and resolves dot segments before choosing a location, and values may hold both.",
        f"log_format {name} escape=json '{{{','.join(keys)}}}';",
        f'map "$request_method $request_uri" ${name} {{',
        '    default "";',
        f'    "~^(?:GET|HEAD) {r.pattern[1:]}" "${REST}";',
        "}",
        "",
    ]
    if server is None:
        lines.append("# These lines belong in the server block that serves the base URL:")
        lines += where
    else:
        _check_value("--server", server)
        if not _LISTEN.fullmatch(listen):
            raise ValueError(f"--listen takes an address and/or port, not {listen!r}")
        lines += [
            "server {",
            f"    listen {listen};",
            f"    server_name {server};",
            f"    access_log {log} {name};",
            '    add_header Cache-Control "no-store" always;',
            "",
            *("    " + line if line else "" for line in where),
        ]
        if r.prefix != "/":  # at the root, the gateway's location already takes every path
            lines += ["", "    location / {", "        return 404;", "    }"]
        lines.append("}")
    return "\n".join(lines) + "\n"


def caddy(
    template: str | Template,
    base: str | None = None,
    *,
    download_to: str | None = None,
    client: bool = True,
    log: str = CADDY_LOG,
    server: str | None = None,
) -> str:
    """A Caddyfile snippet that answers and logs ``template``'s beacons (Caddy's JSON log).

    Without ``server`` it is the directives to put in the site block that serves the base
    URL (Caddy's counterpart of an nginx ``location``); as Caddy 2.6 keeps one access log
    per site, that site's log then holds only the requests under the base path. With
    ``server`` (a site
    address, such as ``telemetry.example.com`` or ``http://:8080``) it is a whole site
    block answering 404 to every other path. ``client=False`` drops the client address
    (and port) from the log.

        >>> text = caddy("<base>/<os>", base="https://gw.example/t")
        >>> "respond @pathbeacon_fit 204" in text
        True
    """
    r = route(template, base)
    target = _download_url(download_to)
    log = _check_value("--log", log)
    if client:
        fmt = ["format json"]
    else:
        fmt = [
            "format filter {",
            "\twrap json",
            "\tfields {",
            *(f"\t\t{field} delete" for field in (
                "request>remote_ip", "request>remote_port", "request>client_ip",
                "request>headers>X-Forwarded-For", "request>headers>X-Real-Ip",
                "request>headers>Forwarded")),
            "\t}",
            "}",
        ]
    answer = (f'redir @pathbeacon_fit "{target}{{re.pathbeacon.{REST}}}" 302' if target
              else "respond @pathbeacon_fit 204")
    match = [
        "@pathbeacon_fit {",
        "\tmethod GET HEAD",
        f'\tvars_regexp pathbeacon {{http.request.orig_uri}} "{r.pattern}"',
        "}",
    ]
    logger = ["log {", f"\toutput file {log}", *("\t" + line for line in fmt), "}"]
    under = f"{r.prefix}*"
    lines = [
        f"# pathbeacon gateway (Caddy) for {r.template.text}",
        f"# beacons: GET/HEAD {r.prefix}... -> {'302' if target else '204'};"
        f" the rest -> 404; log: {log}",
    ]
    route_lines = ["\theader Cache-Control no-store", f"\t{answer}", "\trespond 404", "}"]
    if server is None:
        lines.append("# These directives belong in the site block that serves the base URL:")
        lines += [
            *logger,
            f"@pathbeacon_outside not path {under}",
            "skip_log @pathbeacon_outside",
            *match,
            f"route {under} {{",
            *route_lines,
        ]
    else:
        _check_value("--server", server)
        keys, host = _site_keys(server)
        if host:  # beacons for this host only (the port is not compared)
            match.insert(2, f"\thost {host}")
        lines.append(f"{keys} {{")
        lines += ["\t" + line for line in [*logger, *match, "route {", *route_lines]]
        lines.append("}")
    return "\n".join(lines) + "\n"


def _site_keys(server: str) -> tuple[str, str]:
    """The site addresses of a ``--server`` block, and its host (``""`` for none).

    Caddy 2.6 logs a request only when its Host header is a key of the site's log, which
    for a non-default port is ``host:port``: a client (or proxy) sending the host alone
    would be answered and never logged. With such a port the block also takes the port's
    catch-all address, whose log is the port's default; its ``host`` matcher keeps other
    hosts' requests from counting as beacons (they get 404, logged).

        >>> _site_keys("http://gw.example:8080")
        ('http://gw.example:8080, http://:8080', 'gw.example')
        >>> _site_keys("telemetry.example.com")
        ('telemetry.example.com', 'telemetry.example.com')
    """
    scheme, sep, rest = server.partition("://")
    if not sep:  # Caddy serves a host named without a scheme over HTTPS
        scheme, rest = "https", server
    authority = rest.split("/", 1)[0]
    if authority.startswith("["):  # an IPv6 address
        close = authority.find("]") + 1
        host, port = authority[:close], authority[close + 1:]
    else:
        host, _, port = authority.partition(":")
    if host and port and port not in ("80", "443"):
        return f"{server}, {scheme}://:{port}", host
    return server, host
