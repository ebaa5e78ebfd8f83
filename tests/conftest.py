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
from hypothesis import HealthCheck, settings

# Shared CI machines stall now and then; a per-example deadline (or a slow-data health
# check) would make that a failure.
settings.register_profile("pathbeacon", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("pathbeacon")

ROOT = Path(__file__).resolve().parent.parent

#: CI sets PATHBEACON_CI_STRICT=1 (``.ci/run``): there a test whose program (nginx, Caddy,
#: Chromium, Java) or engine is missing fails instead of skipping. On a newcomer's machine it
#: skips with a reason naming the package to install.
STRICT = bool(os.environ.get("PATHBEACON_CI_STRICT"))


_BEACON_PATH: list[str] = []


def beacon_path() -> str:
    """A ``PYTHONPATH`` for another interpreter (a pyenv Python) that holds this checkout's
    pathbeacon and its pure-Python run-time dependencies, and nothing else of this
    environment: another package there (certifi, say) can be imported at start-up by that
    interpreter's own ``.pth`` files and bring ``threading`` with it."""
    import importlib
    import tempfile

    if not _BEACON_PATH:
        deps = Path(tempfile.mkdtemp(prefix="pathbeacon-deps-"))
        for name in ("urllib3", "packaging", "distro"):
            where = Path(importlib.import_module(name).__file__ or "")
            if where.name == "__init__.py":  # a package: link its folder
                where = where.parent
            (deps / where.name).symlink_to(where)
        _BEACON_PATH.append(os.pathsep.join([str(ROOT / "src"), str(deps)]))
    return _BEACON_PATH[0]


def need_program(program: str, package: str) -> str:
    """The path of ``program`` (a path or a name on ``PATH``), or skip the test saying which
    Debian package brings it (a failure under ``PATHBEACON_CI_STRICT``)."""
    import shutil

    found = program if os.access(program, os.X_OK) else shutil.which(program)
    if found:
        return found
    reason = f"needs {os.path.basename(program)}: apt-get install {package}"
    if STRICT:
        pytest.fail(f"{reason} (PATHBEACON_CI_STRICT is set)")
    pytest.skip(reason)


_SLOW_LEFT_OUT = pytest.StashKey[int]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true",
                     help="also run the slow end-to-end tests (Spark, the sdist install, every "
                          "documented example); CI runs them (PATHBEACON_CI_STRICT=1)")


def pytest_configure(config: pytest.Config) -> None:
    """The default run leaves the slow end-to-end tests out, so that it stays within a few
    minutes on a laptop; ``--slow``, an explicit ``-m``, or CI run them all. (Set as a mark
    expression, so that pytest-xdist's workers, which collect, apply it too.)"""
    if not (config.getoption("--slow") or config.getoption("markexpr") or STRICT):
        config.option.markexpr = "not slow"
        config.stash[_SLOW_LEFT_OUT] = 1
    else:
        _SLOW_RUN.append(True)


_SLOW_RUN: list[bool] = []


def slow_run() -> bool:
    """Whether this run includes the slow end-to-end groups (a test that compares engines
    adds Spark, the slowest, only then)."""
    return bool(_SLOW_RUN)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    """One line per reason tests were skipped, so a newcomer sees at a glance what to
    install (``-ra`` lists every skipped test above it), and how many slow tests were left
    out."""
    if config.stash.get(_SLOW_LEFT_OUT, 0):
        terminalreporter.write_line(
            "The slow end-to-end tests were left out (deselected): `pytest --slow` runs "
            "them, as CI does.")
    reasons: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = getattr(report, "longrepr", None)
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reason = reason.removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    if reasons:
        terminalreporter.section("what was skipped, and why")
        for reason, count in sorted(reasons.items(), key=lambda item: -item[1]):
            terminalreporter.write_line(f"{count:4d} skipped: {reason}")


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


class QuietServer(ThreadingHTTPServer):
    """A threaded HTTP server for tests that never writes to ``sys.stderr``: a client that
    resets mid-request (as timeout tests do) is recorded in ``errors`` instead of printed.
    socketserver's default prints a traceback to whatever ``sys.stderr`` is at that moment,
    which is a test's own replacement when it checks what pathbeacon prints."""

    daemon_threads = True

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.errors: list[BaseException] = []

    def handle_error(self, request: object, client_address: object) -> None:
        self.errors.append(sys.exc_info()[1] or RuntimeError("unknown"))


@pytest.fixture
def collector() -> Iterator[Collector]:
    """A threaded HTTP server on 127.0.0.1, port 0."""
    c = Collector()
    server = QuietServer(("127.0.0.1", 0), _handler(c))
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
