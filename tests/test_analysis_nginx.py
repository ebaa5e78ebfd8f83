"""Decode what a real nginx writes: its combined log and a JSON log (escape=json)."""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pathbeacon import Template
from pathbeacon.analysis import decode, stats

from .conftest import need_program
from .webservers import wait_for_lines

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@pytest.fixture(autouse=True)
def _needs_the_server() -> None:
    need_program(NGINX, "nginx-light")


T = Template("<base>/<package>/<version>/<os>/<arch>")
BASE = "http://127.0.0.1/t"

CONFIG = """
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  log_format beacon escape=json
    '{{"time":"$time_iso8601","request":"$request","status":"$status",'
    '"agent":"$http_user_agent","client":"$remote_addr"}}';
  server {{
    listen 127.0.0.1:{port};
    access_log {tmp}/access.log combined;
    access_log {tmp}/access.json beacon;
    location /t/gone/ {{ return 410; }}
    location /t/ {{ return 204; }}
    location / {{ return 404; }}
  }}
}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    need_program(NGINX, "nginx-light")  # also when another module borrows this fixture
    port = _free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(CONFIG.format(tmp=tmp_path, port=port))
    # A local offset of +05:45 (Nepal) makes the decoder convert the log's times.
    env = {**os.environ, "TZ": "Asia/Kathmandu"}
    proc = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(conf)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    log = (tmp_path / "error.log")
                    pytest.fail(f"nginx did not start: {err} {log.read_text() if log.exists() else ''}")
                time.sleep(0.05)
        yield port, tmp_path
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _get(port: int, target: str, agent: bytes, method: str = "GET") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        conn.putheader("User-Agent", agent)
        conn.endheaders()
        status = conn.getresponse().status
    finally:
        conn.close()
    return status


FACTS = [
    {"package": "acme", "version": "1.0", "os": "linux", "arch": "x86_64"},
    {"package": "acme", "version": "2.0 beta/1", "os": "Mac OS X", "arch": "arm64"},
    {"package": "a%b+c", "version": "..", "os": "Windows 11 (日本語)", "arch": "🐍"},
    {"package": "x" * 80, "version": "\x00\t", "os": "e\u0301", "arch": '"quoted" \\ back'},
]


def test_real_nginx_logs_decode_to_what_was_sent(nginx: tuple[int, Path]) -> None:
    port, tmp = nginx
    started = datetime.now(timezone.utc).replace(microsecond=0)
    sent = []
    for i, facts in enumerate(FACTS):
        url = T.render({**facts, "base": BASE})
        target = url[len("http://127.0.0.1"):]
        agent = f'pathbeacon/1.0 "q" \\ {i} café'.encode()
        assert _get(port, target, agent, "HEAD" if i == 1 else "GET") == 204
        sent.append({k: v for k, v in T.parse(url).items() if k != "base"})
    # An agent that is not UTF-8: nginx escapes it in its combined log (\xFF), but writes
    # the byte as it is with escape=json, so that JSON line is not UTF-8: malformed.
    assert _get(port, "/t/acme/9.9/linux/x86_64", b"odd \xff agent") == 204
    assert _get(port, "/t/gone/1.0/linux/x86_64", b"curl/8") == 410  # fits, bad status
    assert _get(port, "/index.html", b"curl/8") == 404  # another path
    assert _get(port, "/t/acme/1.0/linux/x86_64?utm=1", b"curl/8") == 204  # a query: no fit
    with socket.create_connection(("127.0.0.1", port)) as raw:  # TLS on a plain port
        raw.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n")
        raw.recv(1024)
    ended = datetime.now(timezone.utc)
    for name in ("access.log", "access.json"):
        wait_for_lines(tmp / name, 9)  # every request, the TLS bytes' included

    for name, fmt in [("access.log", "combined"), ("access.json", "json")]:
        log = str(tmp / name)
        rows = decode(T, [log], base=BASE, engine="python")
        got = list(rows)
        odd = [{"package": "acme", "version": "9.9", "os": "linux", "arch": "x86_64"}]
        want = sent + odd if fmt == "combined" else sent
        assert [{k: v for k, v in r.items() if k not in ("time", "status")} for r in got] == want
        assert all(r["status"] == 204 for r in got)
        for row in got:
            moment = datetime.strptime(row["time"], "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=timezone.utc)
            assert started <= moment <= ended, row["time"]
        # the TLS bytes are a line of nginx's combined log with no target (other_path);
        # in the JSON log they hold a raw byte 0xFC, so that line is not UTF-8
        expected = (5, 1, 3, 0) if fmt == "combined" else (4, 1, 2, 2)
        assert tuple(rows.counts) == expected, fmt
        assert decode(T, [log], engine="python", format=fmt).counts == rows.counts
        # one client address (loopback) on this day: one reporter per row, whatever agents
        result = stats(T, [log], ["arch"], base=BASE, engine="python")
        assert sum(r["events"] for r in result["rows"]) == len(want)
        assert {r["reporters"] for r in result["rows"]} == {1}
        text = repr(got) + repr(result)
        assert "127.0.0.1" not in text
