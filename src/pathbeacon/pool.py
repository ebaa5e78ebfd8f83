"""A long-lived keep-alive urllib3 pool whose every attempt is bounded in total.

:class:`pathbeacon.ScarfEventLogger` lives long and may be called from many threads, which
is what urllib3's thread-safe pool is for: one :class:`Pool` keeps its connections open
across events, as scarf-sdk's session does. urllib3's read timeout applies to each read,
so a trickling server could hold a call for ever; here answers are read by
:class:`pathbeacon.wire.BoundedResponse` under the attempt's deadline, and retries
(and the deadline) come from :func:`pathbeacon.transport.deliver`, as for the beacon.

    >>> Pool("http://[::1").send("http://[::1", method="POST", body=b"{}").reason
    "cannot send to 'http://[::1': Invalid IPv6 URL"
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from . import transport, wire

__all__ = ["MAX_BODY", "Pool"]

#: Body bytes read to keep a connection for the next event; a longer body closes it.
MAX_BODY = 16384
# urllib3 2.x names a failed look-up NameResolutionError (a NewConnectionError); 1.26
# raises NewConnectionError itself.
_NameResolutionError = getattr(urllib3.exceptions, "NameResolutionError", None)


def _new_conn_by(conn: HTTPConnection, connect: Callable[[], socket.socket]) -> socket.socket:
    """urllib3's ``_new_conn`` within the attempt's deadline, the name look-up included."""
    deadline = wire.current_deadline()
    if deadline is None:
        return connect()
    name = conn._dns_host
    try:
        addresses = transport.resolve(name, conn.port, deadline)
    except socket.gaierror as error:
        if _NameResolutionError is not None:
            raise _NameResolutionError(conn.host, conn, error) from error
        raise NewConnectionError(conn, f"Failed to resolve {conn.host!r} ({error})") from error
    except OSError as error:  # the look-up outlived the deadline
        raise ConnectTimeoutError(conn, f"name look-up for {conn.host} timed out") from error
    failure: Exception = NewConnectionError(conn, f"no address for {conn.host}")
    for address in addresses:
        conn._dns_host = address[4][0]  # connect to this address; host stays for TLS
        conn.timeout = max(deadline - time.monotonic(), 0.001)
        try:
            sock = connect()
        except NewConnectionError as error:  # refused: the next address may answer
            failure = error
            continue
        finally:
            conn._dns_host = name
        # Connected: what is left of the attempt bounds the TLS handshake too.
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        return sock
    raise failure


class _Plain(HTTPConnection):
    response_class = wire.BoundedResponse

    def _new_conn(self) -> socket.socket:
        return _new_conn_by(self, super()._new_conn)


class _Secure(HTTPSConnection):
    response_class = wire.BoundedResponse

    def _new_conn(self) -> socket.socket:
        return _new_conn_by(self, super()._new_conn)


class _PlainPool(HTTPConnectionPool):
    ConnectionCls = _Plain


class _SecurePool(HTTPSConnectionPool):
    ConnectionCls = _Secure


class Pool:
    """Keep-alive connections for one endpoint, through the environment's proxy if any.

    Thread-safe. A pool made in a parent process is not used by a forked child: the
    child opens its own connections.
    """

    def __init__(self, url: str, maxsize: int = 4) -> None:
        self._pid = os.getpid()
        self._maxsize = maxsize
        self._secrets: list[str] = []
        self._manager: urllib3.PoolManager | None = None
        self._problem = ""
        try:
            self._manager = self._make(url)
        except Exception as error:  # a malformed URL or proxy: every send fails, none raises
            self._problem = f"cannot send to {transport.redact(url)!r}: {error}"

    def _make(self, url: str) -> urllib3.PoolManager:
        scheme = url.partition("://")[0].lower() if "://" in url else ""
        if scheme not in ("http", "https"):
            raise ValueError("the URL must start with http:// or https://")
        proxy = transport.proxy_for(url)
        manager: urllib3.PoolManager
        if proxy is None:
            manager = urllib3.PoolManager(num_pools=2, maxsize=self._maxsize)
        else:
            parts = urllib3.util.parse_url(proxy if "://" in proxy else "http://" + proxy)
            if parts.auth:
                self._secrets += [s for s in parts.auth.split(":", 1) if s]
            auth = transport.proxy_header(proxy)
            manager = urllib3.ProxyManager(
                parts._replace(auth=None).url, num_pools=2, maxsize=self._maxsize,
                proxy_headers={"Proxy-Authorization": auth} if auth else None)
        manager.pool_classes_by_scheme = {"http": _PlainPool, "https": _SecurePool}
        return manager

    def send(self, url: str, *, method: str = "GET", body: bytes | None = None,
             headers: dict[str, str] | None = None, timeout: float = 3.0,
             retries: int = 0) -> transport.Outcome:
        """One request through the pool; never raises for network trouble."""
        manager = self._manager
        if manager is None:
            return transport.Outcome(False, None, 0, self._problem)
        if os.getpid() != self._pid:  # forked: the parent's sockets are not ours to share
            self._pid = os.getpid()
            try:
                manager = self._manager = self._make(url)
            except Exception as error:
                return transport.Outcome(False, None, 0, f"cannot send: {error}")

        def attempt(deadline: float) -> transport.Tried:
            left = max(deadline - time.monotonic(), 0.001)
            with wire.bounded(deadline):
                try:
                    response = manager.urlopen(
                        method, url, body=body, headers=headers,
                        timeout=urllib3.Timeout(connect=left, read=left), retries=False,
                        redirect=False, preload_content=False)
                except (NewConnectionError, ConnectTimeoutError) as error:  # nothing sent
                    return transport.Tried(None, transport.describe(error), True)
                except Exception as error:  # SocketBlockedError and friends included
                    return transport.Tried(None, transport.describe(error), False)
                try:
                    response.read(MAX_BODY)
                    reusable = response.closed  # the whole body was read
                except Exception:
                    reusable = False  # the status is what counts
                if reusable:
                    response.release_conn()
                else:
                    response.close()
                    response.release_conn()
                return transport.Tried.answer(response.status,
                                              response.headers.get("Retry-After"))

        outcome = transport.deliver(attempt, timeout=timeout, retries=retries)
        for secret in self._secrets:
            outcome = outcome._replace(reason=outcome.reason.replace(secret, "***"))
        return outcome

    def clear(self) -> None:
        """Close every pooled connection."""
        if self._manager is not None:
            self._manager.clear()
