"""Decode what a real Caddy writes: its JSON access log."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pathbeacon.analysis import decode, stats
from pathbeacon.analysis.sql import caddy_line_re

from .conftest import need_program
from .test_analysis_nginx import FACTS, T, _free_port, _get
from .webservers import wait_for_lines

CADDY = shutil.which("caddy") or "/usr/bin/caddy"


@pytest.fixture(autouse=True)
def _needs_the_server() -> None:
    need_program(CADDY, "caddy")


CADDYFILE = """
{{
  admin off
  auto_https off
  storage file_system {tmp}/data
}}
http://127.0.0.1:{port} {{
  log {{
    output file {tmp}/caddy.log
    format json
  }}
  @gone path /t/gone/*
  respond @gone 410
  respond /t/* 204
  respond 404
}}
"""


@pytest.fixture
def caddy(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    port = _free_port()
    conf = tmp_path / "Caddyfile"
    conf.write_text(CADDYFILE.format(tmp=tmp_path, port=port))
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    proc = subprocess.Popen([CADDY, "run", "--config", str(conf), "--adapter", "caddyfile"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _get(port, "/ready", b"probe")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    pytest.fail(f"caddy did not start: {err}")
                time.sleep(0.1)
        yield port, tmp_path
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_real_caddy_log_decodes_to_what_was_sent(caddy: tuple[int, Path]) -> None:
    port, tmp = caddy
    base = f"http://127.0.0.1:{port}/t"
    started = datetime.now(timezone.utc).replace(microsecond=0)
    sent = []
    for i, facts in enumerate(FACTS):
        url = T.render({**facts, "base": base})
        target = url[len(f"http://127.0.0.1:{port}"):]
        assert _get(port, target, f'pathbeacon/1.0 "q" \\ {i} café'.encode()) == 204
        sent.append({k: v for k, v in T.parse(url).items() if k != "base"})
    assert _get(port, "/t/gone/1.0/linux/x86_64", b"curl/8") == 410
    assert _get(port, "/t/acme/1.0/linux/x86_64?utm=1", b"curl/8") == 204
    ended = datetime.now(timezone.utc)
    log = tmp / "caddy.log"
    wait_for_lines(log, 8)  # the probe, four beacons, and three others
    rows = decode(T, [str(log)], base="/t", engine="python")
    got = list(rows)
    assert [{k: v for k, v in r.items() if k not in ("time", "status")} for r in got] == sent
    for row in got:
        moment = datetime.strptime(row["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        assert started <= moment <= ended
    # the probe (/ready) and the query are other paths; /t/gone fits with a bad status
    assert tuple(rows.counts) == (4, 1, 2, 0)
    result = stats(T, [str(log)], ["os"], base="/t", engine="python")
    assert sum(r["reporters"] for r in result["rows"]) == 4
    assert "127.0.0.1" not in repr(got) + repr(result)
    # the lines Caddy writes for a plain agent are those the duckdb engine's fast cut reads
    # (sql.caddy_line_re); the answer is the same either way
    fast = re.compile(caddy_line_re())
    plain = [line for line in log.read_text(encoding="utf-8").splitlines()
             if "curl/8" in line and "?" not in line]  # (a query string: another path)
    assert len(plain) == 1 and fast.match(plain[0]), plain
    if importlib.util.find_spec("duckdb") is not None:
        again = decode(T, [str(log)], base="/t", engine="duckdb")
        assert sorted(map(repr, again)) == sorted(map(repr, got))
        assert again.counts == rows.counts
