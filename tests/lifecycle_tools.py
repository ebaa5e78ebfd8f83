"""Hostile loopback servers and exit-time measurement for the report lifecycle tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import clean_env, make_package

HOST = """
import pathbeacon
REPORT = pathbeacon.report_once(
    "<base>/<package>/<os>/<arch>", base={base!r}, package="hostpkg"{extra}
)
"""


def host_env(tmp_path: Path, base: str, extra: str = "", **env: str) -> dict[str, str]:
    """A package 'hostpkg' whose __init__ reports to ``base``; the env that imports it."""
    make_package(tmp_path, "hostpkg", HOST.format(base=base, extra=extra))
    return clean_env(PYTHONPATH=os.pathsep.join([str(tmp_path), *sys.path]), **env)


def exit_delay(code: str, env: dict[str, str], *, timeout: float = 60,
               argv: list[str] | None = None) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run ``code``; it must print ``END`` as its last line of stdout when its own work is
    done. Return the seconds from that line to the process's exit, and the result."""
    proc = subprocess.Popen(
        argv or [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    ended = None
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        lines.append(line)
        if line.strip() == "END":
            ended = time.monotonic()
            break
    try:
        proc.wait(max(deadline - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"the host never exited: {''.join(lines)}") from None
    exited = time.monotonic()
    rest_out, err = proc.communicate()
    result = subprocess.CompletedProcess(proc.args, proc.returncode, "".join(lines) + rest_out,
                                         err)
    assert ended is not None, result
    return exited - ended, result


class Trickler:
    """A loopback server that accepts, then sends its answer one byte a second, for ever."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.stopped = threading.Event()
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        answer = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100000
        with conn:
            for byte in answer:
                if self.stopped.wait(1.0):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    def close(self) -> None:
        self.stopped.set()
        self.sock.close()


@pytest.fixture
def trickler() -> Iterator[Trickler]:
    server = Trickler()
    yield server
    server.close()


# ---- a DNS server that never answers, in a private user, network and mount namespace ------

DNS_SCRIPT = """
set -e
ip link set lo up
mount --bind "$1" /etc/resolv.conf
"$2" -c "
import os, socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', 53))
t = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); t.bind(('::1', 53))
parent = os.getppid()
for _ in range(600):  # ends with the program it serves (its parent), at most in 2 min
    time.sleep(0.2)
    if os.getppid() != parent:
        break" </dev/null >/dev/null 2>&1 &
sleep 0.3
shift 2
exec "$@"
"""


def private_dns_argv(tmp_path: Path) -> list[str] | None:
    """A command prefix that runs a program where every DNS look-up hangs (a resolver on
    loopback that never answers, bound in private namespaces: nothing outside changes), or
    ``None`` where namespaces are not available."""
    if not sys.platform.startswith("linux") or not shutil.which("unshare") \
            or not shutil.which("ip"):
        return None
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:30 attempts:3\n")
    script = tmp_path / "dns.sh"
    script.write_text(DNS_SCRIPT)
    argv = ["unshare", "-Urnm", "sh", str(script), str(resolv), sys.executable]
    probe = subprocess.run([*argv, sys.executable, "-c", "print('ok')"],
                           capture_output=True, text=True, timeout=30)
    return argv if probe.stdout.strip() == "ok" else None


#: For a test program: ``interrupt_at(n)``, a trace function that raises KeyboardInterrupt
#: at the n-th line run inside pathbeacon (the program defines ``OURS``, its folder).
INTERRUPT_AT = """
def interrupt_at(n):
    seen = [0]
    def trace(frame, event, arg):
        if not frame.f_code.co_filename.startswith(OURS):
            return None
        if event == "line":
            seen[0] += 1
            if seen[0] == n:
                raise KeyboardInterrupt
        return trace
    return trace
"""
