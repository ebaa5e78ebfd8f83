"""Shared fixtures: subprocess helpers, a loopback HTTP collector, throwaway packages."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import settings

# Shared CI machines stall now and then; a per-example deadline would make that a failure.
settings.register_profile("pathbeacon", deadline=None)
settings.load_profile("pathbeacon")

ROOT = Path(__file__).resolve().parent.parent


# The user's lasting choice lives in these folders; a test's own (set by the fixture below)
# is kept, so that neither the developer's `pathbeacon telemetry off` nor the machine's
# administrator changes what a test sees, and no test writes into the real home.
_CONSENT_VARIABLES = ("PATHBEACON_CONFIG_DIR", "PATHBEACON_SYSTEM_CONFIG")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment minus anything that would opt out, proxy, or debug pathbeacon."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not (k.endswith("_NO_ANALYTICS") or k.lower().endswith("_proxy")
                or k.startswith(("PATHBEACON_", "SCARF_")) or k == "DO_NOT_TRACK")
        or k in _CONSENT_VARIABLES
    }
    env.update(extra)
    return env


def run_python(code: str, *, env: dict[str, str] | None = None, timeout: float = 60,
               cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -c code`` in a fresh interpreter and capture its output."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
        env=clean_env() if env is None else env, cwd=cwd,
    )


def run_cli(*args: str, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``python -m pathbeacon ARGS``."""
    return subprocess.run(
        [sys.executable, "-m", "pathbeacon", *args], capture_output=True, text=True,
        timeout=timeout, env=clean_env() if env is None else env,
    )


@pytest.fixture(autouse=True)
def _no_optout_leaks(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
                     ) -> None:
    """Tests start from an environment with no opt-out, proxy or debug variables, and with
    an empty folder of their own for the user's telemetry choice (and no admin file)."""
    for name in list(os.environ):
        if name not in clean_env() or name in _CONSENT_VARIABLES:
            monkeypatch.delenv(name, raising=False)
    config = tmp_path_factory.mktemp("config")
    monkeypatch.setenv("PATHBEACON_CONFIG_DIR", str(config / "pathbeacon"))
    monkeypatch.setenv("PATHBEACON_SYSTEM_CONFIG", str(config / "system-telemetry"))


# ---- a real HTTP collector on loopback -------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.time)


@dataclass
class Collector:
    """A loopback HTTP server that records requests and answers as told.

    ``statuses`` is consumed one per request (the last one repeats); ``delay`` holds each
    answer back; ``headers`` are added to every answer.
    """

    port: int = 0
    statuses: list[int] = field(default_factory=lambda: [204])
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Request]:
        """Wait until at least ``count`` requests arrived (or the timeout passed)."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.requests) >= count, timeout)
        return list(self.requests)

    def settle(self, quiet: float = 0.5) -> list[Request]:
        """Wait until no request has arrived for ``quiet`` seconds."""
        seen = -1
        while seen != len(self.requests):
            seen = len(self.requests)
            time.sleep(quiet)
        return list(self.requests)


def _handler(collector: Collector) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with collector.arrived:
                collector.requests.append(
                    Request(self.command, self.path, dict(self.headers.items()), body))
                index = len(collector.requests) - 1
                collector.arrived.notify_all()
            if collector.delay:
                time.sleep(collector.delay)
            status = collector.statuses[min(index, len(collector.statuses) - 1)]
            payload = b"ok"
            try:
                self.send_response(status)
                for name, value in collector.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client gave up (a timeout test)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def collector() -> Iterator[Collector]:
    """A threaded HTTP server on 127.0.0.1, port 0."""
    c = Collector()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(c))
    server.daemon_threads = True
    c.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield c
    server.shutdown()
    server.server_close()


collector2 = collector


@pytest.fixture
def blackhole() -> Iterator[str]:
    """A loopback port that accepts connections (the kernel does) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


@pytest.fixture
def refused() -> str:
    """A loopback URL whose port nobody listens on."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def fresh_guard() -> Iterator[None]:
    """Each test gets its own once-per-key scope."""
    from pathbeacon import guard

    saved = guard.push_scope()
    yield
    guard.pop_scope(saved)


def make_package(root: Path, name: str, body: str, version: str | None = None) -> Path:
    """A tiny importable package (and, with ``version``, its installed metadata)."""
    pkg = root / name
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text(body, encoding="utf-8")
    if version is not None:
        info = root / f"{name}-{version}.dist-info"
        info.mkdir(exist_ok=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8")
    return root
