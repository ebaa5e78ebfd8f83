"""One HTTP request with bounded retries, on the standard library; knows nothing but a URL.

The one-shot beacon writes its request on a socket itself and reads the answer's head
itself, byte for byte as :mod:`http.client` would (``http.client`` brings ``email.parser``
and ``ssl`` with it: most of a short program's cost of a report, and urllib3 costs tens of
milliseconds more): TLS verified by ``ssl.create_default_context()`` (``ssl`` imported for
HTTPS only), proxies read from the environment with ``urllib.request``'s rules, a
``CONNECT`` tunnel for HTTPS through a proxy. Redirects are never followed: a gateway
answering 302 to a real artifact must not make us download it. 2xx and 3xx count as
delivered; 4xx fails at once except 408 and 429; 5xx, 408, 429 and failures to connect are
retried with exponential backoff (honouring ``Retry-After`` up to a cap) inside an overall
deadline. Once a request has been written, a timeout is never retried: the server may have
counted it.

Every attempt is bounded in total, not per read: the look-up, the connect, the tunnel, TLS,
the send, and every ``recv`` of the answer end by the attempt's deadline; the answer's head
(status lines, headers, interim ``1xx`` answers) is capped in bytes and in count, so
trickling and flooding servers end an attempt on time. Whatever is imported (``ssl``) is
imported before a socket is connected: a failed import must not open and drop a connection.
:func:`deliver` (the retry and deadline loop) is shared with :mod:`pathbeacon.pool`, the
urllib3 path of :class:`pathbeacon.ScarfEventLogger`, which reads through
:mod:`pathbeacon.wire`.

    >>> send("http://[::1", retries=0).reason
    "cannot send to 'http://[::1': Invalid IPv6 URL"
"""

from __future__ import annotations

import _thread
import os
import socket
import sys
import time
from binascii import b2a_base64
from collections import namedtuple

from .guard import importing

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds
if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable, Mapping
    from typing import Any, NamedTuple

__all__ = [
    "BACKOFF",
    "MAX_HEAD",
    "MAX_INTERIM",
    "MAX_PAUSE",
    "MAX_TIMEOUT",
    "BadAnswer",
    "Outcome",
    "RemoteDisconnected",
    "Tried",
    "deliver",
    "describe",
    "not_connected",
    "proxy_for",
    "proxy_header",
    "redact",
    "resolve",
    "retry_after",
    "send",
]

#: First pause between attempts (seconds); it doubles after each retry.
BACKOFF = 0.25
#: Longest pause between attempts, and the cap on a server's ``Retry-After`` (seconds).
MAX_PAUSE = 5.0
#: Longest accepted ``timeout`` (seconds); larger values, ``inf`` included, are clamped.
MAX_TIMEOUT = 3600.0
_RETRY_STATUSES = frozenset({408, 429})
_BODY_PEEK = 64
#: Interim (``1xx``) answers skipped before the final one; more fail the attempt.
MAX_INTERIM = 8
#: Bytes read of one answer's head (status lines and headers of the interim and final
#: answers) and the body peek together; more fail the attempt.
MAX_HEAD = 65536
_MAX_LINE = 65536  # http.client's _MAXLINE and _MAXHEADERS
_MAX_HEADERS = 100
_STOP_POLL = 0.05  # how often a backoff pause asks stop() whether the interpreter exits


if TYPE_CHECKING:

    class Outcome(NamedTuple):
        """What happened to one delivery."""

        delivered: bool
        status: int | None
        attempts: int
        reason: str

else:
    # collections.namedtuple, not typing.NamedTuple: the worker should not import typing.
    Outcome = namedtuple("Outcome", "delivered status attempts reason")
    Outcome.__doc__ = "What happened to one delivery."


class Tried:
    """What one attempt gave :func:`deliver`: a status or a failure, and whether to retry.

    ``pause`` is the server's ``Retry-After`` (already capped), or ``None``.

        >>> Tried.answer(503, "2").pause, Tried.answer(404).retryable
        (2.0, False)
    """

    __slots__ = ("pause", "reason", "retryable", "status")

    def __init__(self, status: int | None, reason: str, retryable: bool,
                 pause: float | None = None) -> None:
        self.status = status
        self.reason = reason
        self.retryable = retryable
        self.pause = pause

    @classmethod
    def answer(cls, status: int, retry_after_value: str | None = None) -> Tried:
        """An HTTP answer: 5xx, 408 and 429 are worth another attempt, nothing else."""
        retryable = 500 <= status < 600 or status in _RETRY_STATUSES
        pause = retry_after(retry_after_value) if retryable else None
        return cls(status, f"HTTP {status}", retryable, pause)


def retry_after(value: str | None) -> float | None:
    """Seconds to pause for a ``Retry-After`` value, capped at MAX_PAUSE; ``None`` if unusable.

        >>> retry_after("2"), retry_after("nan"), retry_after("inf"), retry_after("-3")
        (2.0, None, 5.0, 0.0)
        >>> retry_after("Wed, 21 Oct 2015 07:28:00 GMT")  # a date in the past
        0.0
    """
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        seconds = _http_date_from_now(value)
    except Exception:
        return None
    if seconds != seconds:  # nan
        return None
    return min(max(seconds, 0.0), MAX_PAUSE)


def _http_date_from_now(value: str) -> float:
    _load("email.utils")  # rare: a retryable answer with a date in Retry-After
    from email.utils import mktime_tz, parsedate_tz

    try:
        parsed = parsedate_tz(value)
        return float("nan") if parsed is None else mktime_tz(parsed) - time.time()
    except Exception:  # an absurd date: fall back to our own backoff
        return float("nan")


def redact(url: str) -> str:
    """``url`` with any user info (``user:password@``) replaced by ``***@``.

        >>> redact("http://user:secret@proxy.example:3128/x")
        'http://***@proxy.example:3128/x'
        >>> redact("proxy.example:3128")
        'proxy.example:3128'
    """
    start = url.find("//")
    start = 0 if start < 0 else start + 2
    end = len(url)
    for mark in "/?#":
        found = url.find(mark, start)
        if found >= 0:
            end = min(end, found)
    at = url.rfind("@", start, end)
    return url if at < 0 else f"{url[:start]}***{url[at:]}"


def _proxies(environ: Mapping[str, str]) -> dict[str, str]:
    """``urllib.request.getproxies_environment()``, on any mapping: lowercase names win."""
    proxies: dict[str, str] = {}
    for name, value in environ.items():
        name = name.lower()
        if value and name[-6:] == "_proxy":
            proxies[name[:-6]] = value
    if "REQUEST_METHOD" in environ:  # a CGI script: HTTP_PROXY may come from a request header
        proxies.pop("http", None)
    for name, value in environ.items():
        if name[-6:] == "_proxy":
            name = name.lower()
            if value:
                proxies[name[:-6]] = value
            else:
                proxies.pop(name[:-6], None)
    return proxies


def _split_port(host: str) -> str:
    # urllib's "(.*):([0-9]*)": an empty port is stripped too ("host:" -> "host")
    head, colon, port = host.rpartition(":")
    return head if colon and (not port or (port.isdigit() and port.isascii())) else host


def _bypass(host: str, no_proxy: str | None) -> bool:
    """``urllib.request.proxy_bypass_environment()``: domain suffixes, ``*``, ports, dots."""
    if no_proxy is None:
        return False
    if no_proxy == "*":
        return True
    host = host.lower()
    hostonly = _split_port(host)
    for name in no_proxy.split(","):
        name = name.strip()
        if not name:
            continue
        name = name.lstrip(".").lower()  # so "." alone matches an empty host or a final dot
        if name in (hostonly, host) or hostonly.endswith("." + name) or host.endswith("." + name):
            return True
    return False


class _Parts:
    """What ``urllib.parse.urlsplit`` gives for a plain URL (see :func:`_split`)."""

    __slots__ = ("hostname", "netloc", "path", "port", "query", "scheme")
    username = password = None

    def __init__(self, scheme: str, netloc: str, hostname: str, port: int | None, path: str,
                 query: str) -> None:
        self.scheme = scheme
        self.netloc = netloc
        self.hostname = hostname
        self.port = port
        self.path = path
        self.query = query


_HOST_CHARACTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-"


def _split(url: str) -> Any:
    """``urllib.parse.urlsplit(url)``, read here for the plain shape of every rendered URL
    (``http`` or ``https``, a host name or IPv4 address, a port or none, printable ASCII
    without spaces), which spares a short program ``urllib.parse`` and ``ipaddress``;
    anything else (user info, an IPv6 literal, a bad port, other schemes, other
    characters) goes to ``urlsplit`` itself, imported then.

        >>> p = _split("HTTPS://Acme.example:8443/t/a?x=1#top")
        >>> p.scheme, p.netloc, p.hostname, p.port, p.path, p.query
        ('https', 'Acme.example:8443', 'acme.example', 8443, '/t/a', 'x=1')
    """
    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower() in ("http", "https") and _is_clean(url):
        end = len(rest)
        for mark in "/?#":
            at = rest.find(mark)
            if 0 <= at < end:
                end = at
        netloc, tail = rest[:end], rest[end:]
        host, _colon, port = netloc.partition(":")
        if host and not host.strip(_HOST_CHARACTERS) and (
                not port or (port.isdigit() and int(port) <= 65535)):
            tail = tail.partition("#")[0]
            path, _mark, query = tail.partition("?")
            return _Parts(scheme.lower(), netloc, host.lower(), int(port) if port else None,
                          path, query)
    _load("urllib.parse")
    from urllib.parse import urlsplit

    return urlsplit(url)


def proxy_for(url: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The proxy the environment names for ``url``, read as ``urllib.request`` reads it.

    ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY`` in either case (lowercase wins); ``NO_PROXY``
    holds host names and domain suffixes (a leading dot is ignored), ``host:port`` entries,
    or ``*`` for every host.

        >>> env = {"HTTPS_PROXY": "http://proxy.example:3128", "no_proxy": ".internal"}
        >>> proxy_for("https://acme.gateway.scarf.sh/t", env)
        'http://proxy.example:3128'
        >>> proxy_for("https://pkg.internal/t", env) is None, proxy_for("http://a.example", env)
        (True, None)
    """
    proxies = _proxies(os.environ if environ is None else environ)
    parts = _split(url)  # a malformed URL raises ValueError, proxies or not
    proxy = proxies.get(parts.scheme.lower())
    if not proxy:
        return None
    host = parts.netloc.rpartition("@")[2]
    return None if _bypass(host, proxies.get("no")) else proxy


def proxy_header(proxy: str) -> str | None:
    """The ``Proxy-Authorization`` value for a proxy URL's credentials, or ``None``.

        >>> proxy_header("http://user:p%40ss@proxy.example:3128")
        'Basic dXNlcjpwQHNz'
    """
    parts = _split(proxy if "://" in proxy else "http://" + proxy)
    if parts.username is None:
        return None
    from urllib.parse import unquote  # imported by _split for a URL with user info

    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
    return "Basic " + b2a_base64(pair, newline=False).decode("ascii")


# ---- one attempt ---------------------------------------------------------------------


class _Lookup:
    """One name look-up under way in its own thread; ``done`` is released when it ends."""

    __slots__ = ("done", "result")

    def __init__(self) -> None:
        self.done = _thread.allocate_lock()
        self.done.acquire()
        self.result: list[Any] | BaseException = []


_lookups: dict[tuple[str, int], _Lookup] = {}
_lookups_lock = _thread.allocate_lock()


def _forget_lookups() -> None:
    # In a forked child the threads doing the parent's look-ups do not exist.
    global _lookups_lock
    _lookups.clear()
    _lookups_lock = _thread.allocate_lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_lookups)


def _look_up(key: tuple[str, int], lookup: _Lookup) -> None:
    try:
        lookup.result = socket.getaddrinfo(_name(key[0]), key[1], 0, socket.SOCK_STREAM)
    except BaseException as error:  # handed to whoever waits
        lookup.result = error
    finally:
        with _lookups_lock:
            if _lookups.get(key) is lookup:
                del _lookups[key]
        lookup.done.release()


def _is_address(host: str) -> bool:
    for family, text in ((socket.AF_INET, host), (socket.AF_INET6, host.partition("%")[0])):
        try:
            socket.inet_pton(family, text)
            return True
        except (OSError, ValueError):
            pass
    return False


def _name(host: str) -> str | bytes:
    """``host`` as ``getaddrinfo`` should take it: an ASCII name as bytes, which spares
    the ``idna`` codec's import (``unicodedata``, ``stringprep``, ``re``: a few ms of a
    short program) that a ``str`` costs; any other name as it is, the codec imported where
    forks wait for it."""
    if host.isascii():
        return host.encode("ascii")
    _load("encodings.idna")
    return host


def resolve(host: str, port: int, deadline: float) -> list[Any]:
    """``socket.getaddrinfo(host, port)`` for TCP, given up at ``deadline``.

    A resolver that never answers cannot be interrupted, so a name is looked up in a
    daemon thread that this call stops waiting for at the deadline (``socket.timeout``);
    callers asking for the same name meanwhile share that one look-up. An IP address
    needs no look-up and no thread.

        >>> resolve("127.0.0.1", 80, time.monotonic() + 1)[0][4]
        ('127.0.0.1', 80)
    """
    if _is_address(host):
        return socket.getaddrinfo(_name(host), port, 0, socket.SOCK_STREAM, 0,
                                  socket.AI_NUMERICHOST)
    key = (host, port)
    with _lookups_lock:
        lookup = _lookups.get(key)
        fresh = lookup is None
        if lookup is None:
            lookup = _lookups[key] = _Lookup()
    if fresh:
        try:
            _thread.start_new_thread(_look_up, (key, lookup))
        except Exception:  # no thread to be had (interpreter shutdown): look up here
            _look_up(key, lookup)
    if not lookup.done.acquire(timeout=_left(deadline)):
        raise socket.timeout(f"name look-up for {host!r} timed out")
    lookup.done.release()  # for anyone else waiting on the same look-up
    if isinstance(lookup.result, BaseException):
        raise lookup.result
    return lookup.result


def _connect(address: tuple[str, int], deadline: float) -> socket.socket:
    """``socket.create_connection`` within a deadline, look-up and all addresses included."""
    host, port = address
    error: Exception | None = None
    for family, kind, proto, _name, where in resolve(host, port, deadline):
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(_left(deadline))
            sock.connect(where)
            sock.settimeout(_left(deadline))  # what is left bounds the TLS handshake
            return sock
        except OSError as failure:
            sock.close()
            error = failure
            if isinstance(failure, socket.timeout):
                break
    raise error if error is not None else OSError(f"no address for {host!r}")


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise socket.timeout("timed out")
    return left


def describe(error: BaseException) -> str:
    """A short reason for a failure: the innermost cause's type and message.

        >>> describe(ConnectionRefusedError(111, "Connection refused"))
        'ConnectionRefusedError: [Errno 111] Connection refused'
    """
    inner = getattr(error, "reason", None)  # urllib3 wraps the cause
    if isinstance(inner, BaseException):
        error = inner
    text = str(error)
    # urllib3 prefixes messages with the connection object's repr; keep the end.
    if text.startswith("<") and ">: " in text:
        text = text.split(">: ", 1)[1]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def not_connected(error: BaseException) -> Tried:
    """A failure before any request was written: retried unless no retry can mend it."""
    reason = describe(error)
    ssl = sys.modules.get("ssl")  # not imported: this cannot be a TLS error
    if ssl is not None and isinstance(error, ssl.SSLCertVerificationError):
        return Tried(None, reason, False)
    text = str(error)
    if text.startswith("Tunnel connection failed: ") and text[26:29].isdigit():
        status = int(text[26:29])  # the proxy refused the CONNECT
        return Tried(status, f"proxy answered CONNECT with HTTP {status}",
                     status >= 500 or status in _RETRY_STATUSES)
    return Tried(None, reason, isinstance(error, OSError))


class BadAnswer(Exception):
    """An answer that is not HTTP/1.x, or is larger than the bounds allow."""


class RemoteDisconnected(ConnectionResetError):
    """The server closed the connection without answering (``http.client``'s name)."""


def _is_token(name: str) -> bool:
    return bool(name) and name.isascii() and all(
        " " < ch < "\x7f" and ch not in ':"(),/;<=>?@[\\]{}' for ch in name)


def _is_clean(text: str) -> bool:
    """Printable ASCII without spaces: what a request target and a host may hold."""
    return text.isascii() and all(" " < ch < "\x7f" for ch in text)


def _authority(host: str, port: int, default: int) -> str:
    """``host[:port]`` for a ``Host`` header or a ``CONNECT``, as ``http.client`` writes it.

        >>> _authority("::1", 8443, 443), _authority("acme.example", 443, 443)
        ('[::1]:8443', 'acme.example')
    """
    if ":" in host:  # an IPv6 literal: in brackets, without its zone
        host = f"[{host.partition('%')[0]}]"
    return host if port == default else f"{host}:{port}"


class _Answer:
    """One answer read from a socket: every ``recv`` ends by the deadline, and the whole
    head (status lines, headers, interim answers) and the body peek by MAX_HEAD bytes."""

    __slots__ = ("budget", "buffer", "deadline", "sock")

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.buffer = b""
        self.budget = MAX_HEAD

    def _more(self, wait: bool = True) -> bool:
        if self.budget <= 0:
            raise BadAnswer(f"answer head longer than {MAX_HEAD} bytes")
        self.sock.settimeout(_left(self.deadline) if wait else 0.0)
        data = self.sock.recv(min(self.budget, 16384))
        self.budget -= len(data)
        self.buffer += data
        return bool(data)

    def line(self) -> bytes:
        """One line, its end included; what is left at the end of the stream; or ``b""``."""
        while True:
            end = self.buffer.find(b"\n", 0, _MAX_LINE + 1)
            if end >= 0:
                line, self.buffer = self.buffer[: end + 1], self.buffer[end + 1 :]
                return line
            if len(self.buffer) > _MAX_LINE:
                raise BadAnswer(f"a line of the answer is longer than {_MAX_LINE} bytes")
            if not self._more():
                line, self.buffer = self.buffer, b""
                return line

    def status(self) -> tuple[int, str]:
        """The status line's code and reason, checked as ``http.client`` checks them."""
        line = self.line()
        if not line:
            raise RemoteDisconnected("Remote end closed connection without response")
        parts = line.decode("iso-8859-1").split(None, 2)
        code = parts[1] if len(parts) > 1 else ""
        if not parts or not parts[0].startswith("HTTP/") or not code.isdigit() \
                or not code.isascii() or not 100 <= int(code) <= 999:
            raise BadAnswer(f"not an HTTP status line: {line[:80]!r}")
        return int(code), parts[2].strip() if len(parts) > 2 else ""

    def headers(self, what: str) -> dict[str, str]:
        """The header fields up to the blank line (names in lower case), at most
        ``http.client``'s 100."""
        found: dict[str, str] = {}
        for _ in range(_MAX_HEADERS + 1):
            line = self.line()
            if line in (b"\r\n", b"\n", b""):
                return found
            name, colon, value = line.decode("iso-8859-1").partition(":")
            if colon:
                found[name.strip().lower()] = value.strip()
        raise BadAnswer(f"more than {_MAX_HEADERS} headers in {what}")

    def final(self) -> tuple[int, dict[str, str]]:
        """The final answer's status and headers, after at most MAX_INTERIM interim
        (``1xx``, but ``101``) answers."""
        for _ in range(MAX_INTERIM + 1):
            status, _reason = self.status()
            interim = 100 <= status < 200 and status != 101
            found = self.headers("an interim answer" if interim else "the answer")
            if not interim:
                return status, found
        raise BadAnswer(f"more than {MAX_INTERIM} interim (1xx) answers")

    def peek(self, status: int, found: dict[str, str], method: str) -> None:
        """Read at most _BODY_PEEK bytes of the body, by the deadline; never wait for a
        body of unknown length (a keep-alive server would hold it open)."""
        if method == "HEAD" or status in (204, 304) or status < 200:
            return
        length = found.get("content-length", "")
        if "transfer-encoding" not in found and length.isdigit() and length.isascii():
            want = min(int(length), _BODY_PEEK)
            while len(self.buffer) < want and self._more():
                pass
        elif not self.buffer:
            try:
                self._more(wait=False)  # only what has already arrived
            except OSError:  # nothing yet (BlockingIOError): not ours to wait for
                pass


class _Route:
    """Where one URL's request goes: straight, through a proxy, or tunnelled through one."""

    __slots__ = ("authority", "host", "port", "proxy", "proxy_auth", "secrets", "secure",
                 "target")

    def __init__(self, url: str, environ: Mapping[str, str] | None = None) -> None:
        parts = _split(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise ValueError(f"scheme {parts.scheme!r} is not http or https")
        host = parts.hostname
        if not host:
            raise ValueError("no host")
        netloc = parts.netloc.rpartition("@")[2]
        if not host.isascii():  # an international name, in IDNA as http.client sent it
            _load("encodings.idna")
            host = host.encode("idna").decode("ascii")
            netloc = host + (f":{parts.port}" if parts.port else "")
        self.secure = scheme == "https"
        self.host = host
        self.port = parts.port or (443 if self.secure else 80)
        self.secrets = [s for s in (parts.username, parts.password) if s]
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if not _is_clean(host) or not _is_clean(path):  # http.client refuses them too
            raise ValueError("control characters, spaces or non-ASCII characters in the URL")
        self.target = path
        self.authority = _authority(host, self.port, 443 if self.secure else 80)
        self.proxy: tuple[str, int] | None = None
        self.proxy_auth: str | None = None
        proxy = proxy_for(url, environ)
        if proxy is None:
            return
        proxy_parts = _split(proxy if "://" in proxy else "http://" + proxy)
        self.secrets += [s for s in (proxy_parts.username, proxy_parts.password) if s]
        if proxy_parts.scheme.lower() != "http":
            raise ValueError(f"proxy {redact(proxy)!r}: only http:// proxies are supported")
        if not proxy_parts.hostname or not _is_clean(proxy_parts.hostname):
            raise ValueError(f"proxy {redact(proxy)!r} has no host")
        self.proxy = (proxy_parts.hostname, proxy_parts.port or 80)
        self.proxy_auth = proxy_header(proxy)
        if not self.secure:  # absolute form: the proxy needs to know where the request goes
            self.target = f"http://{netloc}{path}"
            self.authority = netloc  # as http.client writes Host for an absolute target

    def head(self, method: str, headers: Mapping[str, str], body: bytes | None) -> bytes:
        """The request's head, byte for byte as ``http.client`` writes it: the request
        line, ``Host``, ``Accept-Encoding: identity``, a ``Content-Length`` where
        ``http.client`` adds one, then ``headers`` in order.

            >>> head = _Route("http://127.0.0.1:8080/t?x=1").head("GET", {"User-Agent": "u"}, None)
            >>> for line in head.decode().splitlines():
            ...     print(line)
            GET /t?x=1 HTTP/1.1
            Host: 127.0.0.1:8080
            Accept-Encoding: identity
            User-Agent: u
            <BLANKLINE>
        """
        if not _is_token(method):
            raise ValueError(f"method {method!r} is not a token")
        lines = [f"{method} {self.target} HTTP/1.1", f"Host: {self.authority}",
                 "Accept-Encoding: identity"]
        if body is not None or method.upper() in ("PATCH", "POST", "PUT"):
            lines.append(f"Content-Length: {len(body or b'')}")
        for name, value in headers.items():
            if not _is_token(name) or "\r" in value or "\n" in value:
                raise ValueError(f"header {name!r} cannot be sent")
            lines.append(f"{name}: {value}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def open(self, deadline: float, context: ssl.SSLContext | None) -> socket.socket:
        """Connect (through the proxy's ``CONNECT`` tunnel for HTTPS through a proxy) and
        do the TLS handshake, all by ``deadline``: a socket ready for the request."""
        host, port = self.proxy or (self.host, self.port)
        sock = _connect((host, port), deadline)
        try:
            if context is not None:
                if self.proxy is not None:
                    self._tunnel(sock, deadline)
                sock.settimeout(_left(deadline))
                # The name as bytes: ssl would otherwise import the idna codec to encode it.
                name = self.host.encode("ascii")
                sock = context.wrap_socket(sock, server_hostname=name)
            return sock
        except BaseException:
            sock.close()
            raise

    def _tunnel(self, sock: socket.socket, deadline: float) -> None:
        """The ``CONNECT`` (``[::1]:443`` for an IPv6 literal: CPython up to 3.12 writes
        ``::1:443``, which no proxy can split) and the proxy's answer."""
        target = _authority(self.host, self.port, -1)
        lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
        if self.proxy_auth:
            lines.append(f"Proxy-Authorization: {self.proxy_auth}")
        sock.settimeout(_left(deadline))
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        answer = _Answer(sock, deadline)
        status, reason = answer.status()
        answer.headers("the proxy's answer")
        if status != 200:
            # not_connected reads the status from this text, as CPython words it
            raise OSError(f"Tunnel connection failed: {status} {reason}")
        if answer.buffer:  # the server's bytes before the tunnel is ours: not TLS
            raise BadAnswer("the proxy sent more than its answer to CONNECT")


def _load(name: str) -> None:
    """Import ``name`` now that it is needed, holding forks off until it is complete."""
    if name not in sys.modules:
        with importing():  # a fork must not copy a half-imported ssl or email.utils
            import importlib

            importlib.import_module(name)


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def send(
    url: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 3.0,
    retries: int = 2,
    stop: Callable[[], bool] | None = None,
) -> Outcome:
    """Send one request to ``url``; retry as described above; never raise for network trouble.

    ``timeout`` bounds each whole attempt (name look-up, connect, TLS, send, status,
    headers, a 64-byte peek at the body); :func:`deliver` says how attempts are retried.
    ``stop()`` true (the interpreter is exiting) means no new attempt after a failed one.
    """
    try:
        route = _Route(url)
        sent_headers = dict(headers or {})
        if route.proxy_auth and not route.secure:
            sent_headers["Proxy-Authorization"] = route.proxy_auth
        request = route.head(method, sent_headers, body) + (body or b"")
        context = None
        if route.secure:  # imported before any connection is opened
            _load("ssl")
            import ssl

            context = ssl.create_default_context()
    except Exception as error:  # a malformed URL or proxy, an unreadable CA bundle
        message = str(error) or type(error).__name__
        return Outcome(False, None, 0, f"cannot send to {redact(url)!r}: {message}")

    def attempt(deadline: float) -> Tried:
        try:
            sock = route.open(deadline, context)
        except Exception as error:  # pytest-socket's SocketBlockedError included
            return not_connected(error)
        try:
            try:
                sock.settimeout(_left(deadline))
                sock.sendall(request)
                answer = _Answer(sock, deadline)
                status, found = answer.final()
            except Exception as error:  # the server may have the request: no retry
                return Tried(None, describe(error), False)
            try:
                answer.peek(status, found, method)
            except Exception:
                pass  # the status is what counts; the body is not ours to read
            return Tried.answer(status, found.get("retry-after"))
        finally:
            sock.close()

    outcome = deliver(attempt, timeout=timeout, retries=retries, stop=stop)
    if route.secrets:
        outcome = outcome._replace(reason=_scrub(outcome.reason, route.secrets))
    return outcome


# ---- the retry and deadline loop, shared with the urllib3 path -------------------------


def _clamp(timeout: object, retries: object) -> tuple[float, int]:
    try:
        seconds = float(timeout)  # type: ignore[arg-type]
    except Exception:
        seconds = 3.0
    seconds = 3.0 if seconds != seconds or seconds <= 0 else min(seconds, MAX_TIMEOUT)
    count = retries if isinstance(retries, int) and not isinstance(retries, bool) else 2
    return seconds, min(max(count, 0), 10)


def _stopping(stop: Callable[[], bool] | None) -> bool:
    if stop is None:
        return False
    try:
        return bool(stop())
    except Exception:  # asked during interpreter teardown: assume the worst
        return True


def _pause(seconds: float, stop: Callable[[], bool] | None) -> bool:
    """Sleep, waking early (and returning True) once ``stop()`` says the interpreter exits."""
    if stop is None:
        time.sleep(seconds)
        return False
    end = time.monotonic() + seconds
    while True:
        if _stopping(stop):
            return True
        left = end - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(left, _STOP_POLL))


def deliver(
    attempt: Callable[[float], Tried],
    *,
    timeout: float = 3.0,
    retries: int = 2,
    stop: Callable[[], bool] | None = None,
) -> Outcome:
    """Call ``attempt(deadline)`` until an answer is delivered or retrying must end.

    Each attempt gets a deadline ``timeout`` seconds away (less near the end); the whole
    exchange ends within ``(retries + 1) * timeout + retries * MAX_PAUSE`` seconds. 2xx and
    3xx are delivered. A retryable failure pauses ``BACKOFF`` seconds, doubling each time,
    or the server's ``Retry-After``, unless ``stop()`` is true or the pause would pass the
    deadline. ``attempt`` should not raise; if it does, that ends the delivery.

        >>> deliver(lambda deadline: Tried.answer(204))
        Outcome(delivered=True, status=204, attempts=1, reason='HTTP 204')
        >>> deliver(lambda deadline: Tried.answer(503), retries=2, stop=lambda: True)
        Outcome(delivered=False, status=503, attempts=1, reason='HTTP 503 (not retried: exiting)')
    """
    timeout, retries = _clamp(timeout, retries)
    attempts = retries + 1
    deadline = time.monotonic() + attempts * timeout + retries * MAX_PAUSE
    for number in range(1, attempts + 1):
        started = time.monotonic()
        try:
            tried = attempt(started + min(timeout, deadline - started))
        except Exception as error:
            tried = Tried(None, describe(error), False)
        status = tried.status
        if status is not None and 200 <= status < 400:
            return Outcome(True, status, number, tried.reason)
        if not tried.retryable or number == attempts:
            return Outcome(False, status, number, tried.reason)
        if _stopping(stop):
            return Outcome(False, status, number, tried.reason + " (not retried: exiting)")
        pause = tried.pause
        if pause is None:
            pause = min(BACKOFF * 2 ** (number - 1), MAX_PAUSE)
        if time.monotonic() + pause >= deadline:
            return Outcome(False, status, number, tried.reason + " (deadline reached)")
        if _pause(pause, stop):
            return Outcome(False, status, number, tried.reason + " (not retried: exiting)")
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns
