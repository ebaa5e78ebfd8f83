"""The command line, run as a real subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pathbeacon

from .conftest import Collector, clean_env, run_cli


def test_render_prints_the_url() -> None:
    result = run_cli("render", "sedona", "base=https://example.gateway.scarf.sh/packages",
                     "engine=spark")
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip()
    assert url.startswith("https://example.gateway.scarf.sh/packages/python/spark/")
    assert pathbeacon.parse("sedona", url)["engine"] == "spark"


def test_parse_prints_a_table_or_json() -> None:
    url = "https://g.example/p/python/spark/x86_64/Mac_OS_X/cpython-3.11.7"
    table = run_cli("parse", "sedona", url)
    assert table.returncode == 0
    assert any(line.split() == ["os", "Mac_OS_X"] for line in table.stdout.splitlines())
    as_json = run_cli("parse", "sedona", url, "--json")
    assert json.loads(as_json.stdout)["base"] == "https://g.example/p"


def test_facts_prints_a_table_and_json() -> None:
    as_json = run_cli("facts", "--json")
    facts = json.loads(as_json.stdout)
    assert facts["language"] == "python"
    table = run_cli("facts")
    assert any(line.split() == ["language", "python"] for line in table.stdout.splitlines())


def test_templates_lists_names_descriptions_and_texts() -> None:
    out = run_cli("templates").stdout
    for name in ("sedona", "risingwave", "scarf-pixel", "default"):
        assert name in out
    assert "<base>/<language>/<engine>/<arch>/<os>/<runtime>" in out


@pytest.mark.parametrize(
    "args",
    [
        ("render", "<base>/<OS>", "base=https://g.example"),
        ("render", "sedona"),  # no base
        ("render", "no-such-template"),
        ("render", "sedona", "not-a-pair"),
        ("parse", "sedona", "https://g.example/too/short"),
        ("frobnicate",),
    ],
)
def test_errors_exit_2_with_a_clear_line_and_no_traceback(args: tuple[str, ...]) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("pathbeacon: error: ")
    assert all(line.startswith("  ") for line in result.stderr.splitlines()[1:])  # carets


def test_caret_line_follows_a_template_error() -> None:
    result = run_cli("render", "<base>/<OS>", "base=https://g.example")
    lines = result.stderr.splitlines()
    assert lines[0].startswith("pathbeacon: error: bad placeholder name 'OS'")
    assert lines[-1].strip() == "^" and lines[-1].index("^") == lines[-2].index("<OS>")


def test_console_script_is_installed() -> None:
    beside = Path(sys.executable).with_name("pathbeacon")
    exe = str(beside) if beside.exists() else shutil.which("pathbeacon")
    if exe is None:
        pytest.skip("console script not installed beside this Python")
    result = subprocess.run([exe, "render", "risingwave", "base=https://g.example"],
                            capture_output=True, text=True, env=clean_env(), timeout=60)
    assert result.returncode == 0 and "/telemetry/" in result.stdout


def test_send_delivers_and_exits_0(collector: Collector) -> None:
    result = run_cli("send", "<base>/<os>/<engine>", f"base={collector.url}/t", "engine=spark")
    assert result.returncode == 0, result.stderr
    url, outcome = result.stdout.splitlines()
    assert outcome.startswith("sent")
    (request,) = collector.settle(0.3)
    assert url == collector.url + request.path and request.path.endswith("/spark")


def test_send_failure_exits_1(refused: str) -> None:
    result = run_cli("send", "<base>/<os>", f"base={refused}", "--timeout", "1")
    assert result.returncode == 1
    assert result.stdout.splitlines()[1].startswith("failed")


def test_send_dry_run_and_opt_out_exit_0_and_send_nothing(collector: Collector) -> None:
    dry = run_cli("send", "<base>/<os>", f"base={collector.url}", "--dry-run")
    assert dry.returncode == 0 and dry.stdout.splitlines()[1] == "dry_run"
    off = run_cli("send", "<base>/<os>", f"base={collector.url}", env=clean_env(DO_NOT_TRACK="1"))
    assert off.returncode == 0 and off.stdout.splitlines()[1].startswith("disabled")
    assert collector.settle(0.3) == []


@pytest.mark.parametrize("args", [
    ("send", "<base>/<OS>", "base=http://127.0.0.1:9"),
    ("send", "<base>/<os>"),
    ("send", "<base>/<os>", "base=http://127.0.0.1:9", "--timeout", "0"),
    ("send", "<base>/<os>", "base=http://127.0.0.1:9", "--timeout", "soon"),
])
def test_send_usage_errors_exit_2(args: tuple[str, ...]) -> None:
    result = run_cli(*args)
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_demo_sends_through_report_once_to_loopback() -> None:
    result = run_cli("demo")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    sent = next(line.split()[-1] for line in out.splitlines() if line.startswith("URL sent:"))
    received = next(line.split()[-1] for line in out.splitlines()
                    if line.startswith("collector received: GET"))
    assert sent.startswith("http://127.0.0.1:") and sent.endswith(received)
    assert "outcome:   sent" in out
    assert any(line.split() == ["package", "pathbeacon"] for line in out.splitlines())


def test_closed_pipe_is_not_a_traceback() -> None:
    process = subprocess.Popen([sys.executable, "-m", "pathbeacon", "templates"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env())
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before anything is written
    assert b"Traceback" not in process.stderr.read()
    process.wait(timeout=60)
