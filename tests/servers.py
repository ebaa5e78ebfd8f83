"""Hostile loopback servers for transport tests: trickle, flood, blackhole, TLS, a proxy.

Each is a context manager giving a running server on 127.0.0.1 (port 0); each accepted
connection is served by a daemon thread. Nothing here leaves the machine.
"""

from __future__ import annotations

import base64
import select
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .conftest import Collector, QuietServer, _handler

Serve = Callable[["RawServer", socket.socket, bytes], None]


@dataclass
class RawServer:
    """Accepts connections, reads each request's head, and hands it to ``serve``.

    ``heads`` counts the request heads that arrived; ``sent`` the bytes ``serve`` pushed.
    """

    serve: Serve
    tls: ssl.SSLContext | None = None
    heads: list[bytes] = field(default_factory=list)
    sent: int = 0
    closed: threading.Event = field(default_factory=threading.Event)
    listener: socket.socket = field(default_factory=socket.socket)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.listener.getsockname()[1])

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            head = read_head(conn)
            if head is None:
                return
            with self.lock:
                self.heads.append(head)
            self.serve(self, conn, head)
        except OSError:
            pass  # the client gave up, as it should
        finally:
            conn.close()

    def push(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        with self.lock:
            self.sent += len(data)

    def close(self) -> None:
        self.closed.set()
        self.listener.close()


def read_head(conn: socket.socket) -> bytes | None:
    """A whole request (head, blank line, Content-Length body), or None if the client left."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            while len(rest) < int(value):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                rest += chunk
    return head + b"\r\n\r\n" + rest


@contextmanager
def running(serve: Serve, tls: ssl.SSLContext | None = None) -> Iterator[RawServer]:
    server = RawServer(serve, tls)
    try:
        yield server
    finally:
        server.close()


# ---- what hostile servers do once a request has arrived ---------------------------------


def trickle(first: bytes, then: bytes, every: float = 0.05) -> Serve:
    """Send ``first`` at once, then ``then`` over and over, one byte every ``every`` seconds."""
    def serve(server: RawServer, conn: socket.socket, head: bytes) -> None:
        server.push(conn, first)
        while True:
            for byte in then:
                if server.closed.wait(every):
                    return
                server.push(conn, bytes([byte]))
    return serve


TRICKLE_STATUS = trickle(b"HTTP/1.1 200 O", b"K")
TRICKLE_HEADERS = trickle(b"HTTP/1.1 200 OK\r\n", b"X-Slow: 1\r\n")
TRICKLE_BODY = trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", b"x")


def flood(first: bytes, then: bytes) -> Serve:
    """Push ``first``, then ``then`` again and again as fast as the client reads."""
    def serve(server: RawServer, conn: socket.socket, head: bytes) -> None:
        server.push(conn, first)
        block = then * max(1, 65536 // len(then))
        while not server.closed.is_set():
            server.push(conn, block)
    return serve


CONTINUE_FLOOD = flood(b"", b"HTTP/1.1 100 Continue\r\n\r\n")
HEADER_FLOOD = flood(b"HTTP/1.1 200 OK\r\n", b"X-Flood: " + b"a" * 50 + b"\r\n")


def interim_then(count: int, status: int = 204) -> Serve:
    """``count`` interim answers (100 and 103 with a header), then ``status``."""
    def serve(server: RawServer, conn: socket.socket, head: bytes) -> None:
        for i in range(count):
            server.push(conn, b"HTTP/1.1 100 Continue\r\n\r\n" if i % 2 else
                        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n")
        server.push(conn, f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode())
    return serve


def blackhole(server: RawServer, conn: socket.socket, head: bytes) -> None:
    """Read the request, answer nothing, hold the connection open."""
    server.closed.wait()


# ---- TLS with a throwaway CA -------------------------------------------------------------


@dataclass
class Authority:
    """A CA made for this test run, a server context it signed, and its PEM on disk."""

    server_context: ssl.SSLContext
    pem: Path


def make_ca(folder: Path) -> Authority:
    """A throwaway CA and a certificate for 127.0.0.1 (and ::1) it signed, made with ``openssl``."""
    import pytest

    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test CA")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-days", "2", "-subj", "/CN=pathbeacon test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
            "server.csr", "-subj", "/CN=127.0.0.1")
    (folder / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(folder / "server.pem"), str(folder / "server.key"))
    return Authority(context, folder / "ca.pem")


def trusted_bundle(ca: Authority, folder: Path) -> Path:
    """A copy of the system CA bundle with the test CA appended, for SSL_CERT_FILE."""
    system = ssl.get_default_verify_paths().cafile
    text = Path(system).read_text() if system and Path(system).exists() else ""
    bundle = folder / "bundle.pem"
    bundle.write_text(text + "\n" + ca.pem.read_text())
    return bundle


@dataclass
class Counted(Collector):
    """conftest's Collector that also counts the TCP connections it accepted."""

    connections: int = 0
    secure: bool = False

    @property
    def url(self) -> str:
        return f"{'https' if self.secure else 'http'}://127.0.0.1:{self.port}"


@contextmanager
def collector_server(ca: Authority | None = None) -> Iterator[Counted]:
    """A keep-alive HTTP collector (HTTPS with a certificate from ``ca`` when given)."""
    collector = Counted()

    class Server(QuietServer):
        def process_request(self, request: object, client_address: object) -> None:
            collector.connections += 1
            super().process_request(request, client_address)  # type: ignore[arg-type]

    server = Server(("127.0.0.1", 0), _handler(collector))
    if ca is not None:
        collector.secure = True
        server.socket = ca.server_context.wrap_socket(server.socket, server_side=True)
    collector.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield collector
    finally:
        server.shutdown()
        server.server_close()


def tls_collector(ca: Authority) -> AbstractContextManager[Counted]:
    """conftest's Collector, speaking HTTPS with a certificate from ``ca``."""
    return collector_server(ca)


# ---- a proxy that wants credentials --------------------------------------------------------


@dataclass
class ProxyLog:
    """What the proxy saw: (method, target, credentials accepted) per request."""

    seen: list[tuple[str, str, bool]] = field(default_factory=list)


def _relay(a: socket.socket, b: socket.socket, stop: threading.Event) -> None:
    while not stop.is_set():
        readable, _, _ = select.select([a, b], [], [], 0.2)
        for sock in readable:
            data = sock.recv(65536)
            if not data:
                return
            (b if sock is a else a).sendall(data)


def proxy(log: ProxyLog, user: str, password: str) -> Serve:
    """An HTTP proxy: absolute-form requests forwarded, CONNECT tunnels, Basic auth or 407."""
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def serve(server: RawServer, conn: socket.socket, head: bytes) -> None:
        top, _, body = head.partition(b"\r\n\r\n")
        lines = top.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip()
                   for k, _, v in (line.partition(":") for line in lines[1:])}
        ok = headers.get("proxy-authorization") == expected
        log.seen.append((method, target, ok))
        if not ok:
            server.push(conn, b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                              b"Proxy-Authenticate: Basic realm=\"test\"\r\n"
                              b"Content-Length: 0\r\nConnection: close\r\n\r\n")
            return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = socket.create_connection((host, int(port)), timeout=5)
            server.push(conn, b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            rest = target.split("://", 1)[1]
            hostport, _, path = rest.partition("/")
            host, _, port = hostport.rpartition(":")
            upstream = socket.create_connection((host, int(port)), timeout=5)
            kept = [line for line in lines[1:] if not line.lower().startswith(
                ("proxy-authorization:", "connection:"))]
            forwarded = "\r\n".join([f"{method} /{path} HTTP/1.1", *kept,
                                     "Connection: close", "", ""])
            upstream.sendall(forwarded.encode("latin-1") + body)
        with upstream:
            _relay(conn, upstream, server.closed)

    return serve


def elapsed(start: float) -> float:
    return time.monotonic() - start
