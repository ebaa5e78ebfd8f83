"""One HTTP request with bounded retries, on the standard library; knows nothing but a URL.

The one-shot beacon goes through :mod:`http.client` (urllib3 costs a short program tens of
milliseconds to import): TLS verified by ``ssl.create_default_context()``, proxies read from
the environment with ``urllib.request``'s rules, a ``CONNECT`` tunnel for HTTPS through a
proxy. Redirects are never followed: a gateway answering 302 to a real artifact must not make
us download it. 2xx and 3xx count as delivered; 4xx fails at once except 408 and 429; 5xx,
408, 429 and failures to connect are retried with exponential backoff (honouring
``Retry-After`` up to a cap) inside an overall deadline. Once a request has been written, a
timeout is never retried: the server may have counted it.

Every attempt is bounded in total, not per read: each ``recv`` gets what is left of the
attempt's deadline as its socket timeout, the head of an answer (status lines, headers,
interim ``1xx`` answers) is capped in bytes and the number of interim answers is capped, so a
server that trickles or floods ends the attempt on time. :func:`deliver` (the retry and
deadline loop) and :class:`BoundedResponse` are shared with :mod:`pathbeacon.pool`, the
urllib3 path of :class:`pathbeacon.ScarfEventLogger`.

    >>> send("http://[::1", retries=0).reason
    "cannot send to 'http://[::1': Invalid IPv6 URL"
"""

from __future__ import annotations

import _thread
import http.client
import io
import os
import socket
import ssl
import time
from collections import namedtuple
from urllib.parse import unquote, urlsplit  # already imported by http.client

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import NamedTuple

__all__ = [
    "BACKOFF",
    "MAX_HEAD",
    "MAX_INTERIM",
    "MAX_PAUSE",
    "BoundedResponse",
    "Outcome",
    "Tried",
    "bounded",
    "current_deadline",
    "deliver",
    "describe",
    "not_connected",
    "proxy_for",
    "proxy_header",
    "redact",
    "retry_after",
    "send",
]

#: First pause between attempts (seconds); it doubles after each retry.
BACKOFF = 0.25
#: Longest pause between attempts, and the cap on a server's ``Retry-After`` (seconds).
MAX_PAUSE = 5.0
#: Interim (``1xx``) answers skipped before the final one; more fail the attempt.
MAX_INTERIM = 8
#: Bytes read for one answer's head (status lines and headers of the interim and final
#: answers) and the body peek together; more fail the attempt (headers) or end the peek.
MAX_HEAD = 65536
#: Longest accepted ``timeout`` (seconds); larger values, ``inf`` included, are clamped.
MAX_TIMEOUT = 3600.0
_RETRY_STATUSES = frozenset({408, 429})
_BODY_PEEK = 64
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
    from email.utils import mktime_tz, parsedate_tz  # already imported by http.client

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
    head, colon, port = host.rpartition(":")
    return head if colon and port and port.isdigit() and port.isascii() else host


def _bypass(host: str, no_proxy: str | None) -> bool:
    """``urllib.request.proxy_bypass_environment()``: domain suffixes, ``*``, ports, dots."""
    if no_proxy is None:
        return False
    if no_proxy == "*":
        return True
    host = host.lower()
    hostonly = _split_port(host)
    for name in no_proxy.split(","):
        name = name.strip().lstrip(".").lower()
        if name and (name in (hostonly, host)
                     or hostonly.endswith("." + name) or host.endswith("." + name)):
            return True
    return False


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
    parts = urlsplit(url)
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
    parts = urlsplit(proxy if "://" in proxy else "http://" + proxy)
    if parts.username is None:
        return None
    from binascii import b2a_base64

    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
    return "Basic " + b2a_base64(pair, newline=False).decode("ascii")


# ---- one attempt, bounded in total -----------------------------------------------------

_limits = _thread._local()  # the deadline of the attempt this thread is making


class bounded:
    """Within the block, answers read on this thread end by ``deadline`` (``time.monotonic``).

        >>> with bounded(time.monotonic() + 1):
        ...     pass
    """

    __slots__ = ("_deadline", "_saved")

    def __init__(self, deadline: float) -> None:
        self._deadline = deadline

    def __enter__(self) -> None:
        self._saved = getattr(_limits, "deadline", None)
        _limits.deadline = self._deadline

    def __exit__(self, *exc: object) -> None:
        _limits.deadline = self._saved


def current_deadline() -> float | None:
    """The deadline of the :class:`bounded` block this thread is in, or ``None``.

        >>> with bounded(12.5):
        ...     current_deadline()
        12.5
    """
    return getattr(_limits, "deadline", None)


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise socket.timeout("timed out")
    return left


class _BoundedReader(io.RawIOBase):
    """A socket's reads, each limited to what is left of a deadline and of a byte budget."""

    def __init__(self, sock: socket.socket, deadline: float | None, budget: int) -> None:
        super().__init__()
        self._sock = sock
        self._raw = sock.makefile("rb", buffering=0)  # keeps the socket open while we read
        self._deadline = deadline
        self._budget = budget

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._budget <= 0:
            raise http.client.HTTPException(f"answer head longer than {MAX_HEAD} bytes")
        if self._deadline is not None:
            self._sock.settimeout(_left(self._deadline))
        got = self._raw.readinto(memoryview(buffer)[: self._budget])
        if got is None:  # a non-blocking socket with nothing yet: give up, do not spin
            raise socket.timeout("timed out")
        self._budget -= got
        return got

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class BoundedResponse(http.client.HTTPResponse):
    """An ``http.client`` answer read under the thread's :class:`bounded` deadline.

    Skips at most MAX_INTERIM interim (``1xx``) answers and reads at most MAX_HEAD bytes of
    head; without a deadline (used outside :class:`bounded`) it reads as ``http.client`` does,
    still within those caps.
    """

    def __init__(self, sock: socket.socket, *args: object, **kwargs: object) -> None:
        super().__init__(sock, *args, **kwargs)  # type: ignore[arg-type]
        self.fp.close()  # http.client's own reader: replaced by a bounded one
        self.fp = io.BufferedReader(
            _BoundedReader(sock, getattr(_limits, "deadline", None), MAX_HEAD))

    def _read_status(self) -> tuple[str, int, str]:
        for _ in range(MAX_INTERIM + 1):
            version, status, reason = super()._read_status()  # type: ignore[misc]
            if not 100 <= status < 200 or status == 101:
                return version, status, reason
            # An interim answer (100 Continue, 103 Early Hints): skip its headers.
            for _ in range(http.client._MAXHEADERS + 1):  # type: ignore[attr-defined]
                line = self.fp.readline(http.client._MAXLINE + 1)  # type: ignore[attr-defined]
                if line in (b"\r\n", b"\n", b""):
                    break
            else:
                raise http.client.HTTPException("too many headers in an interim answer")
        raise http.client.HTTPException(f"more than {MAX_INTERIM} interim (1xx) answers")


def _connect(address: tuple[str, int], deadline: float) -> socket.socket:
    """``socket.create_connection`` within a deadline for all addresses together."""
    host, port = address
    error: Exception | None = None
    # DNS is not bounded here (getaddrinfo cannot be interrupted); the report's thread is
    # a daemon and the exit grace does not wait for it.
    for family, kind, proto, _name, where in socket.getaddrinfo(host, port, 0,
                                                                  socket.SOCK_STREAM):
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


class _Plain(http.client.HTTPConnection):
    response_class = BoundedResponse

    def __init__(self, host: str, port: int, deadline: float) -> None:
        super().__init__(host, port)
        self._deadline = deadline
        self._create_connection = self._open

    def _open(self, address: tuple[str, int], *ignored: object) -> socket.socket:
        return _connect(address, self._deadline)

    def send(self, data: object) -> None:
        if self.sock is not None:
            self.sock.settimeout(_left(self._deadline))
        super().send(data)  # type: ignore[arg-type]


class _Secure(http.client.HTTPSConnection):
    response_class = BoundedResponse

    def __init__(self, host: str, port: int, deadline: float,
                 context: ssl.SSLContext) -> None:
        super().__init__(host, port, context=context)
        self._deadline = deadline
        self._create_connection = self._open

    def _open(self, address: tuple[str, int], *ignored: object) -> socket.socket:
        return _connect(address, self._deadline)

    def send(self, data: object) -> None:
        if self.sock is not None:
            self.sock.settimeout(_left(self._deadline))
        super().send(data)  # type: ignore[arg-type]


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
    if isinstance(error, (ssl.SSLCertVerificationError, ssl.CertificateError)):
        return Tried(None, reason, False)
    text = str(error)
    if text.startswith("Tunnel connection failed: ") and text[26:29].isdigit():
        status = int(text[26:29])  # the proxy refused the CONNECT
        return Tried(status, f"proxy answered CONNECT with HTTP {status}",
                     status >= 500 or status in _RETRY_STATUSES)
    return Tried(None, reason, isinstance(error, OSError))


class _Route:
    """Where one URL's request goes: straight, through a proxy, or tunnelled through one."""

    __slots__ = ("host", "port", "proxy", "proxy_auth", "secrets", "secure", "target")

    def __init__(self, url: str, environ: Mapping[str, str] | None = None) -> None:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise ValueError(f"scheme {parts.scheme!r} is not http or https")
        host = parts.hostname
        if not host:
            raise ValueError("no host")
        self.secure = scheme == "https"
        self.host = host
        self.port = parts.port or (443 if self.secure else 80)
        self.secrets = [s for s in (parts.username, parts.password) if s]
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.target = path
        self.proxy: tuple[str, int] | None = None
        self.proxy_auth: str | None = None
        proxy = proxy_for(url, environ)
        if proxy is None:
            return
        proxy_parts = urlsplit(proxy if "://" in proxy else "http://" + proxy)
        self.secrets += [s for s in (proxy_parts.username, proxy_parts.password) if s]
        if proxy_parts.scheme.lower() != "http":
            raise ValueError(f"proxy {redact(proxy)!r}: only http:// proxies are supported")
        if not proxy_parts.hostname:
            raise ValueError(f"proxy {redact(proxy)!r} has no host")
        self.proxy = (proxy_parts.hostname, proxy_parts.port or 80)
        self.proxy_auth = proxy_header(proxy)
        if not self.secure:  # absolute form: the proxy needs to know where the request goes
            netloc = parts.netloc.rpartition("@")[2]
            self.target = f"http://{netloc}{path}"

    def connection(self, deadline: float, context: ssl.SSLContext | None
                   ) -> http.client.HTTPConnection:
        host, port = self.proxy or (self.host, self.port)
        if context is None:
            return _Plain(host, port, deadline)
        conn = _Secure(host, port, deadline, context)
        if self.proxy is not None:
            auth = {"Proxy-Authorization": self.proxy_auth} if self.proxy_auth else None
            conn.set_tunnel(self.host, self.port, headers=auth)
        return conn


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

    ``timeout`` bounds each whole attempt (connect, TLS, send, status, headers, a 64-byte
    peek at the body); :func:`deliver` says how attempts are retried. DNS is not bounded.
    ``stop()`` true (the interpreter is exiting) means no new attempt after a failed one.
    """
    try:
        route = _Route(url)
        context = ssl.create_default_context() if route.secure else None
    except Exception as error:  # a malformed URL or proxy, an unreadable CA bundle
        message = str(error) or type(error).__name__
        return Outcome(False, None, 0, f"cannot send to {redact(url)!r}: {message}")
    sent_headers = dict(headers or {})
    if route.proxy_auth and not route.secure:
        sent_headers["Proxy-Authorization"] = route.proxy_auth

    def attempt(deadline: float) -> Tried:
        conn = route.connection(deadline, context)
        try:
            with bounded(deadline):
                try:
                    conn.connect()
                except Exception as error:  # pytest-socket's SocketBlockedError included
                    return not_connected(error)
                try:
                    conn.request(method, route.target, body=body, headers=sent_headers)
                    response = conn.getresponse()
                except Exception as error:  # the server may have the request: no retry
                    return Tried(None, describe(error), False)
                try:
                    response.read(_BODY_PEEK)
                except Exception:
                    pass  # the status is what counts; the body is not ours to read
                return Tried.answer(response.status, response.getheader("Retry-After"))
        finally:
            conn.close()

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
