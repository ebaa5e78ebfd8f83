"""The wire under one attempt: ``http.client`` with every read bounded by a deadline.

A socket timeout bounds one ``recv``, so a server that sends a byte now and then could hold
a read for ever. Here each ``recv`` of an answer gets what is left of the attempt's deadline
(set with :class:`bounded` on the thread making the attempt), the head of an answer (status
lines, headers, interim ``1xx`` answers) is capped in bytes, and the number of interim
answers is capped, so trickling and flooding servers end an attempt on time. Used by
:mod:`pathbeacon.pool` (urllib3 reads through :class:`BoundedResponse`); the one-shot
beacon's :func:`pathbeacon.transport.send` reads its answer on the same bounds without
``http.client``, whose import costs a short program more than the rest of a report.

    >>> with bounded(time.monotonic() + 1):
    ...     current_deadline() is not None
    True
"""

from __future__ import annotations

import _thread
import http.client
import io
import socket
import time

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds
if TYPE_CHECKING:
    import ssl

__all__ = ["MAX_HEAD", "MAX_INTERIM", "BoundedResponse", "bounded", "connection",
           "current_deadline", "left"]

#: Interim (``1xx``) answers skipped before the final one; more fail the attempt.
MAX_INTERIM = 8
#: Bytes read for one answer's head (status lines and headers of the interim and final
#: answers) and the body peek together; more fail the attempt (headers) or end the peek.
MAX_HEAD = 65536

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


def left(deadline: float) -> float:
    """Seconds left until ``deadline``; ``socket.timeout`` once it has passed."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise socket.timeout("timed out")
    return remaining


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
            self._sock.settimeout(left(self._deadline))
        got = self._raw.readinto(memoryview(buffer)[: self._budget])
        if got is None:  # a non-blocking socket with nothing yet: give up, do not spin
            raise socket.timeout("timed out")
        self._budget -= got
        return got

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


def _skip_headers(fp: io.BufferedIOBase, what: str) -> None:
    """Read a head's header lines and drop them, as many as ``http.client`` allows."""
    for _ in range(http.client._MAXHEADERS + 1):  # type: ignore[attr-defined]
        line = fp.readline(http.client._MAXLINE + 1)  # type: ignore[attr-defined]
        if line in (b"\r\n", b"\n", b""):
            return
    raise http.client.HTTPException(f"too many headers in {what}")


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
            _skip_headers(self.fp, "an interim answer")
        raise http.client.HTTPException(f"more than {MAX_INTERIM} interim (1xx) answers")


class _GivenSocket:
    """Connects by handing over a socket already connected; sends end by the deadline."""

    sock: socket.socket | None
    _deadline: float
    _given: socket.socket | None

    def _hand_over(self, *ignored: object) -> socket.socket:
        sock, self._given = self._given, None
        if sock is None:
            raise OSError("one connection per attempt")
        return sock

    def send(self, data: object) -> None:
        if self.sock is not None:
            self.sock.settimeout(left(self._deadline))
        super().send(data)  # type: ignore[misc]


class _Plain(_GivenSocket, http.client.HTTPConnection):
    response_class = BoundedResponse

    def __init__(self, host: str, port: int, deadline: float, sock: socket.socket) -> None:
        super().__init__(host, port)
        self._deadline = deadline
        self._given = sock
        self._create_connection = self._hand_over


def _authority(host: str, port: int) -> str:
    """``host:port`` as a request target and Host value: an IPv6 literal in brackets.

        >>> _authority("::1", 8443), _authority("acme.example", 443)
        ('[::1]:8443', 'acme.example:443')
    """
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Secure(_GivenSocket, http.client.HTTPSConnection):
    response_class = BoundedResponse

    def __init__(self, host: str, port: int, deadline: float, sock: socket.socket,
                 context: ssl.SSLContext) -> None:
        super().__init__(host, port, context=context)
        self._deadline = deadline
        self._given = sock
        self._create_connection = self._hand_over

    def _tunnel(self) -> None:
        """The ``CONNECT``, written here: CPython up to 3.12 sends ``CONNECT ::1:443``
        for an IPv6 literal (and 3.13 still ``Host: ::1:443``), which no proxy can split."""
        target = _authority(self._tunnel_host, self._tunnel_port)  # type: ignore[attr-defined]
        lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
        headers = self._tunnel_headers  # type: ignore[attr-defined]
        lines += [f"{name}: {value}" for name, value in headers.items()
                  if name.lower() != "host"]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        response = self.response_class(self.sock, method="CONNECT")  # type: ignore[arg-type]
        try:
            _version, status, message = response._read_status()
            _skip_headers(response.fp, "the proxy's answer")
            if status != 200:
                self.close()
                # transport.not_connected reads the status from this text, as CPython words it
                raise OSError(f"Tunnel connection failed: {status} {message.strip()}")
        finally:
            response.close()


def connection(host: str, port: int, deadline: float, sock: socket.socket,
               context: ssl.SSLContext | None = None,
               tunnel: tuple[str, int, dict[str, str] | None] | None = None
               ) -> http.client.HTTPConnection:
    """An ``http.client`` connection over ``sock`` (already connected to ``host:port``).

    With ``context`` it speaks TLS, through a ``CONNECT`` ``tunnel`` (host, port, proxy
    headers) when given. ``connect()`` then does the tunnel and the TLS handshake; every
    send and read ends by ``deadline``.
    """
    if context is None:
        return _Plain(host, port, deadline, sock)
    conn = _Secure(host, port, deadline, sock, context)
    if tunnel is not None:
        conn.set_tunnel(tunnel[0], tunnel[1], headers=tunnel[2])
    return conn
