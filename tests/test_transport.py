"""transport.send against real loopback servers: hostile ones, TLS with a test CA, a proxy."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pathbeacon import transport, wire
from pathbeacon.transport import send

from . import servers
from .conftest import ROOT, Collector, clean_env, run_cli, run_python

MARGIN = 0.6  # scheduling slack on a busy 2-core machine


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> servers.Authority:
    return servers.make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def trusted(ca: servers.Authority, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """SSL_CERT_FILE names a copy of the system bundle with the test CA appended."""
    bundle = servers.trusted_bundle(ca, tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    return bundle


@pytest.fixture
def tls(ca: servers.Authority) -> Iterator[Collector]:
    with servers.tls_collector(ca) as collector:
        yield collector


# ---- every attempt bounded in total ------------------------------------------------------


@pytest.mark.parametrize("serve", [servers.TRICKLE_STATUS, servers.TRICKLE_HEADERS,
                                   servers.blackhole],
                         ids=["trickled-status", "trickled-headers", "blackhole"])
def test_a_server_that_never_finishes_its_head_is_cut_off_at_timeout(serve: servers.Serve) -> None:
    with servers.running(serve) as server:
        started = time.monotonic()
        outcome = send(server.url + "/x", timeout=1.0, retries=2)
        took = servers.elapsed(started)
        assert not outcome.delivered and outcome.status is None
        assert "timed out" in outcome.reason
        assert 0.9 <= took < 1.0 + MARGIN, took
        # the request was written, so it was not sent again: the server may have counted it
        assert outcome.attempts == 1 and len(server.heads) == 1


def test_a_trickled_body_does_not_hold_the_peek() -> None:
    with servers.running(servers.TRICKLE_BODY) as server:
        started = time.monotonic()
        outcome = send(server.url, timeout=1.0)
        assert outcome.delivered and outcome.status == 200
        assert servers.elapsed(started) < 1.0 + MARGIN


def test_a_100_continue_flood_ends_at_once_without_reading_it_all() -> None:
    with servers.running(servers.CONTINUE_FLOOD) as server:
        started = time.monotonic()
        outcome = send(server.url, timeout=3.0, retries=0)
        assert servers.elapsed(started) < 1.0
        assert not outcome.delivered and "interim" in outcome.reason
    assert server.sent < 64 * 1024 * 1024  # the socket buffers, not gigabytes


@pytest.mark.parametrize(("count", "delivered"), [(transport.MAX_INTERIM, True),
                                                   (transport.MAX_INTERIM + 1, False)])
def test_a_few_interim_answers_are_skipped(count: int, delivered: bool) -> None:
    # the beacon's own reader and the pool's (wire, through http.client) share the bounds
    assert (transport.MAX_INTERIM, transport.MAX_HEAD) == (wire.MAX_INTERIM, wire.MAX_HEAD)
    with servers.running(servers.interim_then(count)) as server:
        outcome = send(server.url, timeout=2.0)
        assert outcome.delivered is delivered, outcome
        assert outcome.status == (204 if delivered else None)


def test_a_header_flood_is_cut_off_by_size_not_time() -> None:
    with servers.running(servers.HEADER_FLOOD) as server:
        started = time.monotonic()
        outcome = send(server.url, timeout=3.0, retries=0)
        assert servers.elapsed(started) < 1.0
        assert not outcome.delivered and ("headers" in outcome.reason
                                          or "longer than" in outcome.reason), outcome


ANSWER_204 = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"


def _answer_204(server: servers.RawServer, conn: socket.socket, head: bytes) -> None:
    server.push(conn, ANSWER_204)


@pytest.mark.parametrize(("method", "body", "proxied"),
                         [("GET", None, False), ("GET", None, True), ("POST", b"{}", False),
                          ("POST", None, False)], ids=["get", "get-via-proxy", "post", "post-empty"])
def test_the_request_is_byte_for_byte_what_http_client_sends(
        method: str, body: bytes | None, proxied: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The request is written by hand now (http.client cost a short program most of a
    report's price): collectors must see exactly the bytes http.client wrote."""
    import http.client

    headers = {"User-Agent": "pathbeacon/0.1.0"}
    with servers.running(_answer_204) as server:
        target = "/t/acme/1.4.2/linux?x=%C3%A9&y=1"
        url = server.url + target
        if proxied:  # the server plays the proxy: the target is in absolute form
            monkeypatch.setenv("http_proxy", server.url)
            url = "http://Collector.example:8080" + target
        outcome = send(url, method=method, body=body, headers=headers, retries=0)
        assert outcome.delivered and outcome.status == 204, outcome
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request(method, url if proxied else target, body=body, headers=headers)
        assert conn.getresponse().status == 204
        conn.close()
        ours, theirs = server.heads
    assert ours == theirs, (ours, theirs)


def test_an_international_host_is_sent_in_idna(monkeypatch: pytest.MonkeyPatch) -> None:
    """As http.client did: the name looked up and the Host header are the IDNA form."""
    asked: list[object] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: object, port: object, *args: object) -> object:
        asked.append(host)
        return real("127.0.0.1", port, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with servers.running(_answer_204) as server:
        port = server.port
        outcome = send(f"http://Bücher.example:{port}/x", retries=0)
        assert outcome.delivered, outcome
        (head,) = server.heads
    assert asked == [b"xn--bcher-kva.example"]
    assert f"Host: xn--bcher-kva.example:{port}\r\n".encode() in head, head


def _answers(data: bytes) -> servers.Serve:
    """Answer ``data``, then hold the connection open, as a keep-alive server does."""
    def serve(server: servers.RawServer, conn: socket.socket, head: bytes) -> None:
        server.push(conn, data)
        server.closed.wait()
    return serve


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\n\r\n",
    b"HTTP/1.0 204 No Content\r\n\r\n",
], ids=["length", "chunked", "no-length", "http-1.0"])
def test_a_kept_alive_answer_is_not_waited_on(answer: bytes) -> None:
    with servers.running(_answers(answer)) as server:
        started = time.monotonic()
        outcome = send(server.url + "/x", timeout=2.0, retries=0)
        assert outcome.delivered, outcome
        assert servers.elapsed(started) < 0.5


@pytest.mark.parametrize(("answer", "reason"), [
    (b"", "RemoteDisconnected"),
    (b"SSH-2.0-OpenSSH_9.2\r\n", "not an HTTP status line"),
    (b"HTTP/1.1 2000 Too Much\r\n\r\n", "not an HTTP status line"),
    (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 101 + b"\r\n", "more than 100 headers"),
    (b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70000 + b"\r\n\r\n", "longer than"),
], ids=["closed", "not-http", "bad-status", "too-many-headers", "long-line"])
def test_an_answer_that_is_not_http_fails_once_with_its_reason(answer: bytes,
                                                               reason: str) -> None:
    def serve(server: servers.RawServer, conn: socket.socket, head: bytes) -> None:
        server.push(conn, answer)

    with servers.running(serve) as server:
        outcome = send(server.url + "/x", timeout=2.0, retries=2)
        assert not outcome.delivered and outcome.attempts == 1, outcome
        assert reason in outcome.reason, outcome


def test_a_slow_server_gets_the_request_once(collector: Collector) -> None:
    collector.delay = 1.5
    outcome = send(collector.url + "/slow", timeout=0.4, retries=2)
    assert not outcome.delivered and outcome.attempts == 1 and "timed out" in outcome.reason
    assert len(collector.settle(1.6)) == 1


def test_refused_connections_are_retried_with_backoff(refused: str) -> None:
    started = time.monotonic()
    outcome = send(refused, timeout=1.0, retries=2)
    assert not outcome.delivered and outcome.attempts == 3 and "refused" in outcome.reason, outcome
    assert servers.elapsed(started) >= transport.BACKOFF * 3 - 0.05  # 0.25 + 0.5


def test_stop_means_no_new_attempt_and_no_pause(refused: str, collector: Collector,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "BACKOFF", 3.0)  # a pause would be plain on any machine
    started = time.monotonic()
    outcome = send(refused, retries=2, stop=lambda: True)
    assert outcome.attempts == 1 and "exiting" in outcome.reason
    assert servers.elapsed(started) < 2.0
    collector.statuses = [503]
    assert send(collector.url, retries=2, stop=lambda: True).attempts == 1
    assert len(collector.settle(0.3)) == 1


def test_stop_cuts_a_pause_short(collector: Collector) -> None:
    collector.statuses = [503]
    collector.headers = {"Retry-After": "5"}
    asked_at = time.monotonic() + 0.3
    started = time.monotonic()
    outcome = send(collector.url, retries=2, stop=lambda: time.monotonic() > asked_at)
    assert outcome.attempts == 1 and "exiting" in outcome.reason
    assert servers.elapsed(started) < 1.0


@pytest.mark.parametrize("value", ["nan", "inf", "-5", "1e999", "Wed, 21 Oct 2015 07:28:00 GMT",
                                   "soon", "", "0x10"])
def test_odd_retry_after_values_never_raise(collector: Collector, value: str) -> None:
    collector.statuses = [429, 204]
    collector.headers = {"Retry-After": value}
    started = time.monotonic()
    outcome = send(collector.url, retries=1)
    assert outcome.delivered and outcome.attempts == 2
    assert servers.elapsed(started) < transport.MAX_PAUSE + MARGIN


def test_whole_send_ends_within_its_deadline(collector: Collector) -> None:
    collector.statuses = [503]
    collector.headers = {"Retry-After": "5"}
    started = time.monotonic()
    outcome = send(collector.url, timeout=0.2, retries=2)
    # 3 * 0.2 + 2 * 5 would allow two pauses of 5 s; the second would pass the deadline
    assert not outcome.delivered
    assert servers.elapsed(started) <= 3 * 0.2 + 2 * transport.MAX_PAUSE + MARGIN


# ---- TLS ---------------------------------------------------------------------------------


def test_https_with_a_ca_from_ssl_cert_file(tls: Collector, trusted: Path) -> None:
    outcome = send(tls.url + "/secure")
    assert outcome.delivered and outcome.status == 204
    (request,) = tls.settle(0.2)
    assert request.path == "/secure"


def test_an_untrusted_certificate_fails_at_once(tls: Collector, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(empty))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    outcome = send(tls.url, retries=2)
    assert not outcome.delivered and outcome.attempts == 1
    assert "CERTIFICATE_VERIFY_FAILED" in outcome.reason or "certificate" in outcome.reason
    assert tls.requests == []


def test_a_tls_blackhole_is_cut_off_at_timeout() -> None:
    # a TCP server that never starts the handshake
    with servers.running(servers.blackhole) as server:
        started = time.monotonic()
        outcome = send(server.url.replace("http://", "https://"), timeout=0.8, retries=0)
        assert not outcome.delivered and servers.elapsed(started) < 0.8 + MARGIN


# ---- proxies -----------------------------------------------------------------------------


@pytest.fixture
def proxy() -> Iterator[tuple[servers.RawServer, servers.ProxyLog]]:
    log = servers.ProxyLog()
    with servers.running(servers.proxy(log, "user", "s3cret/!")) as server:
        yield server, log


def test_http_through_a_proxy_with_credentials(proxy: tuple[servers.RawServer, servers.ProxyLog],
                                               collector: Collector,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    server, log = proxy
    monkeypatch.setenv("http_proxy", f"http://user:s3cret%2F%21@127.0.0.1:{server.port}")
    outcome = send(collector.url + "/via?a=1", headers={"User-Agent": "t"})
    assert outcome.delivered, outcome
    assert log.seen == [("GET", collector.url + "/via?a=1", True)]  # absolute form
    (request,) = collector.settle(0.2)
    assert request.path == "/via?a=1" and "Proxy-Authorization" not in request.headers


def test_https_through_a_proxy_tunnel(proxy: tuple[servers.RawServer, servers.ProxyLog],
                                      tls: Collector, trusted: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    server, log = proxy
    monkeypatch.setenv("HTTPS_PROXY", f"http://user:s3cret%2F%21@127.0.0.1:{server.port}")
    outcome = send(f"https://127.0.0.1:{tls.port}/tunnelled")
    assert outcome.delivered, outcome
    assert log.seen == [("CONNECT", f"127.0.0.1:{tls.port}", True)]
    (request,) = tls.settle(0.2)
    assert request.path == "/tunnelled" and "Proxy-Authorization" not in request.headers


PYENV = Path.home() / ".pyenv" / "versions"


def _pythons() -> list[str]:
    """This interpreter and pyenv's 3.9, 3.12 and 3.13 when present (CONNECT differs)."""
    found = [sys.executable]
    for version in ("3.9.18", "3.12.1", "3.13.0"):
        python = PYENV / version / "bin" / "python"
        if python.exists():
            found.append(str(python))
    return found


@pytest.mark.parametrize("python", _pythons(), ids=lambda p: Path(p).parent.parent.name)
def test_https_through_a_proxy_to_an_ipv6_literal_brackets_the_connect_target(
        python: str, ca: servers.Authority, tmp_path: Path) -> None:
    """CPython 3.9-3.12 send ``CONNECT ::1:8443``, which no proxy can split; the target
    (and its Host header) must be ``[::1]:8443``, and the request inside goes through."""
    seen: list[bytes] = []

    def tunnel(server: servers.RawServer, conn: socket.socket, head: bytes) -> None:
        seen.append(head)
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        inner = ca.server_context.wrap_socket(conn, server_side=True)
        request = servers.read_head(inner)
        if request is not None:
            seen.append(request)
            inner.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
        inner.close()

    bundle = servers.trusted_bundle(ca, tmp_path)
    with servers.running(tunnel) as proxy:
        env = clean_env(PYTHONPATH=str(ROOT / "src"), SSL_CERT_FILE=str(bundle),
                        HTTPS_PROXY=f"http://127.0.0.1:{proxy.port}")
        code = ("from pathbeacon.transport import send\n"
                "o = send('https://[::1]:8443/v6?x=1', retries=0, timeout=5)\n"
                "print(o.delivered, o.status, o.reason)\n")
        result = subprocess.run([python, "-c", code], capture_output=True, text=True,
                                timeout=60, env=env)
    assert seen, result.stderr
    connect = seen[0].split(b"\r\n")
    assert connect[0].startswith(b"CONNECT [::1]:8443 HTTP/1."), connect[0]
    assert b"Host: [::1]:8443" in connect
    assert result.stdout.strip() == "True 204 HTTP 204", result.stdout + result.stderr
    inner = seen[1].split(b"\r\n")
    assert inner[0] == b"GET /v6?x=1 HTTP/1.1" and b"Host: [::1]:8443" in inner, inner


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_wrong_proxy_credentials_fail_once_and_stay_secret(
        proxy: tuple[servers.RawServer, servers.ProxyLog], collector: Collector,
        monkeypatch: pytest.MonkeyPatch, scheme: str) -> None:
    server, log = proxy
    monkeypatch.setenv(f"{scheme}_proxy", f"http://user:wrongpass@127.0.0.1:{server.port}")
    outcome = send(f"{scheme}://127.0.0.1:{collector.port}/", retries=2)
    assert not outcome.delivered and outcome.status == 407 and outcome.attempts == 1
    assert len(log.seen) == 1 and "wrongpass" not in outcome.reason


@pytest.mark.parametrize("proxy_url", ["http://user:hunter2@127.0.0.1:notaport",
                                       "socks5://user:hunter2@127.0.0.1:1080",
                                       "http://user:hunter2@"])
def test_a_bad_proxy_url_never_shows_its_password(proxy_url: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy_url)
    outcome = send("http://127.0.0.1:9/x")
    assert not outcome.delivered and outcome.attempts == 0
    assert "hunter2" not in outcome.reason and outcome.reason


def test_no_proxy_bypasses_the_proxy(proxy: tuple[servers.RawServer, servers.ProxyLog],
                                     collector: Collector,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    server, log = proxy
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.port}")
    monkeypatch.setenv("no_proxy", "example.com, .0.0.1")
    assert send(collector.url).delivered
    assert log.seen == [] and len(collector.settle(0.2)) == 1


# ---- the proxy rules are urllib's ---------------------------------------------------------

ENVIRONMENTS = [
    {},
    {"HTTP_PROXY": "http://up:1"},
    {"HTTP_PROXY": "http://up:1", "http_proxy": "http://low:2"},
    {"http_proxy": "http://low:2", "HTTP_PROXY": "http://up:1"},
    {"HTTP_PROXY": "http://up:1", "http_proxy": ""},
    {"HTTP_PROXY": "http://up:1", "REQUEST_METHOD": "GET"},
    {"http_proxy": "http://low:2", "REQUEST_METHOD": "GET"},
    {"HTTPS_PROXY": "http://s:3", "NO_PROXY": "*"},
    {"https_proxy": "http://s:3", "no_proxy": "example.com,.internal, 10.0.0.1:8443"},
    {"Https_Proxy": "http://mixed:4", "No_Proxy": "EXAMPLE.COM"},
    {"HTTPS_PROXY": "http://s:3", "NO_PROXY": "", "no_proxy": "*"},
]
URLS = ["http://example.com/x", "https://example.com/x", "https://sub.example.com:8443/",
        "https://notexample.com/", "https://a.internal/", "https://internal/",
        "https://10.0.0.1:8443/", "https://10.0.0.1/", "http://[::1]:8080/", "https://EXAMPLE.com/"]


def _urllib_proxy(url: str, environ: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str | None:
    """What urllib.request itself decides, with ``environ`` as the whole environment."""
    with monkeypatch.context() as m:
        for name in list(os.environ):
            m.delenv(name)
        for name, value in environ.items():
            m.setenv(name, value)
        proxies = urllib.request.getproxies_environment()
        scheme, _, rest = url.partition("://")
        proxy = proxies.get(scheme)
        host = rest.split("/", 1)[0]
        bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
        return None if not proxy or bypass(host, proxies) else proxy


@pytest.mark.parametrize("environ", ENVIRONMENTS)
def test_proxy_choice_matches_urllib(environ: dict[str, str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    for url in URLS:
        assert transport.proxy_for(url, environ) == _urllib_proxy(url, environ, monkeypatch), url


HOST_PART = st.sampled_from(["example", "com", "EXAMPLE", "a", "internal", "10", "0", "1", ""])
HOSTS = st.builds(lambda parts, port: ".".join(parts) + port,
                  st.lists(HOST_PART, min_size=1, max_size=4),
                  st.sampled_from(["", ":80", ":8443", ":", ":x"]))
ENTRIES = st.lists(st.one_of(HOSTS, st.sampled_from(["*", " ", ".", "..", ".com", "..com"])),
                   max_size=4).map(",".join)


@given(host=HOSTS, no_proxy=ENTRIES)
@example(host="", no_proxy="example,.")
@example(host="example.", no_proxy=".")
def test_no_proxy_rules_match_urllib(host: str, no_proxy: str) -> None:
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    assert transport._bypass(host, no_proxy) == bypass(host, {"no": no_proxy})


# ---- what importing and failing cost ------------------------------------------------------


def test_importing_transport_imports_neither_urllib3_nor_urllib_request() -> None:
    code = ("import sys, pathbeacon.transport; "
            "print(sorted(m for m in ('urllib3', 'urllib.request', 'typing') if m in sys.modules))")
    result = run_python(code)
    assert result.stdout.strip() == "[]", result.stderr


@pytest.mark.filterwarnings("ignore:A test tried to use socket")
def test_blocked_sockets_are_a_failed_delivery(socket_disabled: None) -> None:
    outcome = send("http://127.0.0.1:9/x", retries=2)
    assert not outcome.delivered and outcome.attempts == 1
    assert "SocketBlockedError" in outcome.reason


@pytest.mark.parametrize("url", ["not a url", "ftp://example.invalid/x", "http://127.0.0.1:99999/",
                                 "http:///nohost", "https://user:pw@[::1"])
def test_malformed_urls_fail_without_an_attempt(url: str) -> None:
    outcome = send(url)
    assert not outcome.delivered and outcome.attempts == 0 and "pw" not in outcome.reason


def test_a_refused_port_imports_no_urllib3(refused: str) -> None:
    code = ("import sys; from pathbeacon.transport import send; "
            f"o = send({refused + '/x'!r}, retries=0); "
            "print(o.delivered, 'refused' in o.reason, "
            "sorted(m for m in ('urllib3',) if m in sys.modules))")
    result = run_python(code)
    assert result.stdout.strip() == "False True []", result.stderr


REFUSE = ("import sys\n"
          "class Refuse:\n"
          "    def find_spec(self, name, path=None, target=None):\n"
          "        if name in {names!r}: raise ImportError('blocked by the host')\n"
          "sys.meta_path.insert(0, Refuse())\n")


def test_a_broken_ssl_import_opens_no_connection() -> None:
    """A host's import hook that breaks what the beacon imports (click's import test
    does) must not make it open a TCP connection and drop it without a request: import
    first, connect second."""
    with servers.collector_server() as collector:
        url = collector.url.replace("http://", "https://") + "/x"
        code = REFUSE.format(names=("ssl",)) + (
            "from pathbeacon.transport import send\n"
            f"o = send({url!r}, retries=1)\n"
            "print(o.delivered, o.attempts, o.reason)\n")
        result = run_python(code)
        assert result.stdout.startswith("False 0 cannot send"), result.stdout + result.stderr
        assert "blocked by the host" in result.stdout
        time.sleep(0.2)
        assert collector.connections == 0 and not collector.requests


def test_a_send_needs_neither_http_client_nor_the_idna_codec() -> None:
    """The beacon writes its request itself: a host that refuses ``http.client``, ``email``
    and ``encodings.idna`` still reports (to a name, not only an address), and sending
    over HTTP imports none of them, nor ``ssl``, nor urllib3."""
    with servers.collector_server() as collector:
        heavy = ("http.client", "email", "email.parser", "encodings.idna", "ssl", "urllib3")
        code = REFUSE.format(names=heavy) + (
            "from pathbeacon.transport import send\n"
            f"o = send('http://localhost:{collector.port}/x', retries=0)\n"
            f"print(o.delivered, o.reason, [m for m in {heavy!r} if m in sys.modules])\n")
        result = run_python(code)
        assert result.stdout.strip() == "True HTTP 204 []", result.stdout + result.stderr
        assert [r.path for r in collector.settle(0.2)] == ["/x"]


def test_a_proxy_that_never_answers_connect_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    with servers.running(servers.blackhole) as server:
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{server.port}")
        started = time.monotonic()
        outcome = send("https://127.0.0.1:9/x", timeout=0.5, retries=2)
        assert not outcome.delivered and "timed out" in outcome.reason
        # The request itself never left: each attempt ends at its timeout, and retrying a
        # CONNECT sends nothing twice to the collector.
        assert outcome.attempts == 3 and len(server.heads) == 3
        assert servers.elapsed(started) < 3 * 0.5 + 0.25 + 0.5 + MARGIN


@pytest.mark.parametrize("serve", [servers.TRICKLE_HEADERS, servers.CONTINUE_FLOOD],
                         ids=["trickled-headers", "continue-flood"])
def test_cli_send_with_a_timeout_ends_on_time(serve: servers.Serve) -> None:
    with servers.running(serve) as server:
        started = time.monotonic()
        result = run_cli("send", "<base>/<os>", f"base={server.url}", "--timeout", "1")
        took = servers.elapsed(started)
        assert result.returncode == 1, result.stderr
        # the interpreter's own start and exit included, which a loaded machine stretches
        # by seconds; without the overall deadline the server would hold it for ever
        assert took < 1 + 10.0, took


# A resolver that never answers: getaddrinfo blocks in C (without the GIL) for ever.
HUNG_RESOLVER = """
import os, socket, time
_read, _write = os.pipe()
_real = socket.getaddrinfo
def getaddrinfo(host, *args, **kwargs):
    if host in ("127.0.0.1", b"127.0.0.1"):
        return _real(host, *args, **kwargs)
    os.read(_read, 1)
socket.getaddrinfo = getaddrinfo
"""


def test_a_name_look_up_that_never_ends_is_cut_off_at_timeout() -> None:
    code = HUNG_RESOLVER + """
from pathbeacon.transport import send
for _ in range(3):
    started = time.monotonic()
    outcome = send("http://collector.pathbeacon.test/x", timeout=0.5, retries=0)
    print(round(time.monotonic() - started, 2), outcome.delivered, outcome.reason)
# the main thread and one look-up thread, shared by all three attempts
print(len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else 2)
"""
    result = run_python(code, timeout=30)
    lines = result.stdout.splitlines()
    assert len(lines) == 4, result.stderr
    for line in lines[:3]:
        took, delivered, reason = line.split(" ", 2)
        assert float(took) < 0.5 + MARGIN and delivered == "False" and "timed out" in reason
    assert lines[3] == "2"


def test_names_are_still_looked_up(collector: Collector) -> None:
    outcome = send(f"http://localhost:{collector.port}/named")
    assert outcome.delivered, outcome
    assert collector.settle(0.2)[0].path == "/named"


# ---- properties ---------------------------------------------------------------------------

# URLs of the plain shape _split reads itself, and near misses that must go to urlsplit.
URL_PARTS = st.tuples(
    st.sampled_from(["http", "https", "HTTP", "Https", "ftp", "http:", ""]),
    st.sampled_from(["://", ":/", "//", "://user:pw@"]),
    st.text(st.sampled_from("aZ09.-_[]:%é "), max_size=12),
    st.sampled_from(["", ":", ":80", ":8443", ":65535", ":65536", ":0080", ":x", ":\u0661"]),
    st.text(st.sampled_from("/?#&=%aZ9.-~ \t"), max_size=16),
)


@given(URL_PARTS)
@example(("http", "://", "Acme.Example", ":8080", "/t/a?x=1#f?g"))
@example(("https", "://", "127.0.0.1", "", "#frag/x?y"))
@example(("http", "://", "[::1]", ":8080", "/x"))
def test_split_is_urlsplit(parts: tuple[str, str, str, str, str]) -> None:
    """A rendered URL is split without importing urllib.parse: to the very same pieces."""
    import urllib.parse

    url = "".join(parts)
    try:
        theirs = urllib.parse.urlsplit(url)
        want = (theirs.scheme, theirs.netloc, theirs.hostname, theirs.port, theirs.username,
                theirs.password, theirs.path, theirs.query)
    except ValueError as error:
        want = ("ValueError", str(error))
    try:
        ours = transport._split(url)
        got = (ours.scheme, ours.netloc, ours.hostname, ours.port, ours.username,
               ours.password, ours.path, ours.query)
    except ValueError as error:
        got = ("ValueError", str(error))
    assert got == want


def test_a_plain_url_is_sent_without_urllib_parse(collector: Collector) -> None:
    code = ("import sys; from pathbeacon.transport import send; "
            f"o = send({collector.url + '/t/a?x=1'!r}, retries=0); "
            "print(o.delivered, sorted(m for m in ('urllib.parse', 'ipaddress') "
            "if m in sys.modules))")
    result = run_python(code)
    assert result.stdout.strip() == "True []", result.stdout + result.stderr



USERINFO = st.text(st.sampled_from("abcXYZ019-._~!$&'()*+,;=%"), min_size=1, max_size=12)


@given(user=USERINFO, password=USERINFO, scheme=st.sampled_from(["http", "https", "HTTP"]),
       rest=st.sampled_from(["", "/", "/a/b?c=d@e", ":3128", ":3128/x#f@g"]))
def test_redact_never_shows_user_info(user: str, password: str, scheme: str, rest: str) -> None:
    url = f"{scheme}://{user}:{password}@proxy.example{rest}"
    redacted = transport.redact(url)
    assert redacted == f"{scheme}://***@proxy.example{rest}"
    assert transport.redact(redacted) == redacted


@given(st.text(max_size=40))
def test_retry_after_never_raises_and_stays_within_the_cap(value: str) -> None:
    pause = transport.retry_after(value)
    assert pause is None or 0.0 <= pause <= transport.MAX_PAUSE
