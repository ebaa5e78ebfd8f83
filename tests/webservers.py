"""Real nginx and Caddy on loopback, started with a generated config, for the gateway tests."""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .conftest import need_program

NGINX = "/usr/sbin/nginx"
CADDY = "/usr/bin/caddy"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited ({process.returncode}):\n{_tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"server did not listen on {port}:\n{_tail(log)}")


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@dataclass
class Server:
    port: int
    log: Path

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(self, method: str, target: str,
                agent: str = "test-agent/1.0") -> tuple[int, dict[str, str], bytes]:
        """One request on a fresh connection: status, headers (lower-case names), body."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, target, headers={"User-Agent": agent})
            response = connection.getresponse()
            body = response.read()
            headers = {name.lower(): value for name, value in response.getheaders()}
            return response.status, headers, body
        finally:
            connection.close()

    def lines(self, count: int, timeout: float = 10) -> list[str]:
        """The log's lines, once at least ``count`` are there."""
        wait_for_lines(self.log, count, timeout)
        text = self.log.read_text(encoding="utf-8") if self.log.exists() else ""
        return [line for line in text.splitlines() if line]


def wait_for_lines(path: Path, count: int, timeout: float = 10) -> None:
    """Wait (at most ``timeout`` seconds) until ``path`` holds ``count`` whole lines: a
    server writes a request's log line after its answer, so a client can be ahead of it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        time.sleep(0.02)


def split_nginx(snippet: str) -> tuple[str, str]:
    """A snippet (no --server) as (http-level lines, the server-level lines)."""
    lines = snippet.splitlines()
    start = next(i for i, line in enumerate(lines)
                 if line.startswith("# These lines belong in the server block"))
    return "\n".join(lines[:start]), "\n".join(lines[start:])


@contextmanager
def nginx(tmp: Path, http_part: str, server_part: str | None, port: int,
          log: Path) -> Iterator[Server]:
    """nginx in the foreground (daemon off) with a prefix, pid and error log under ``tmp``.

    ``server_part`` goes in a server block on 127.0.0.1:``port``; without it, ``http_part``
    must bring its own server block.
    """
    need_program(NGINX, "nginx-light")
    tmp.mkdir(parents=True, exist_ok=True)
    temps = "\n".join(f"    {kind}_temp_path {tmp / kind};"
                      for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    server = ""
    if server_part is not None:
        server = (f"    server {{\n        listen 127.0.0.1:{port};\n{server_part}\n"
                  "        location / { return 404; }\n    }")
    conf = tmp / "nginx.conf"
    errors = tmp / "error.log"
    conf.write_text(
        f"daemon off;\nworker_processes 1;\npid {tmp / 'nginx.pid'};\n"
        f"error_log {errors} info;\nevents {{ worker_connections 64; }}\n"
        f"http {{\n    access_log off;\n{temps}\n{http_part}\n{server}\n}}\n",
        encoding="utf-8",
    )
    base = [NGINX, "-p", str(tmp), "-e", str(errors), "-c", str(conf)]
    check = subprocess.run([*base, "-t"], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr + conf.read_text()
    process = subprocess.Popen(base, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(port, process, errors)
        yield Server(port, log)
    finally:
        _stop(process)


@contextmanager
def caddy(tmp: Path, caddyfile: str, port: int, log: Path) -> Iterator[Server]:
    """Caddy in the foreground with its admin endpoint off and its state under ``tmp``."""
    need_program(CADDY, "caddy")
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "Caddyfile"
    path.write_text("{\n\tadmin off\n}\n" + caddyfile, encoding="utf-8")
    env = {"HOME": str(tmp), "XDG_DATA_HOME": str(tmp / "data"),
           "XDG_CONFIG_HOME": str(tmp / "config"), "PATH": os.environ.get("PATH", "")}
    base = ["--config", str(path), "--adapter", "caddyfile"]
    check = subprocess.run([CADDY, "validate", *base], capture_output=True, text=True,
                           timeout=60, env=env)
    assert check.returncode == 0, check.stderr + caddyfile
    output = tmp / "caddy.out"
    with output.open("wb") as sink:
        process = subprocess.Popen([CADDY, "run", *base], stdout=sink, stderr=sink, env=env)
    try:
        _wait_listening(port, process, output)
        yield Server(port, log)
    finally:
        _stop(process)
        shutil.rmtree(tmp / "data", ignore_errors=True)
