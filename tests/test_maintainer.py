"""The maintainer's side, driven through the CLI as a maintainer drives it (issue 14): CLI
conventions, no silent zeros, progress and Ctrl-C, publish served by a real web server,
and the hourly recipe of docs/maintainers.md run as written."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import http.server
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import ROOT, clean_env, run_cli

# The maintainer's commands: the analysis extra (absent from the PyPy run of CI).
pytest.importorskip("duckdb", reason="the analysis extra (pip install '.[analysis]')")
pytest.importorskip("matplotlib", reason="the analysis extra (pip install '.[analysis]')")

T = "<base>/<package>/<version>/<os>/<arch>"
BASE = "https://gw.example/t"
CLIENTS = [f"198.51.100.{n}" for n in range(1, 13)]


RARE = [f"192.0.2.{250 + i}" for i in range(5)]


def write_log(path: Path, *, prefix: str = "/t", days: int = 3, junk: int = 0) -> Path:
    """12 clients over ``days`` days on versions 1.0/2.0; five rare versions, each from one
    client of its own on 2026-08-21 (under k = 5 each, five addresses together)."""
    lines = []
    for day in range(days):
        for i, client in enumerate(CLIENTS):
            version = "2.0" if (i + day) % 2 else "1.0"  # six addresses a day each
            system = "linux" if i % 4 else "macos"
            lines.append({"time": f"2026-08-{20 + day:02d}T{i:02d}:00:00+00:00",
                          "request": f"{prefix}/acme/{version}/{system}/x86_64", "status": 204,
                          "agent": "pathbeacon/0.1.0", "client": client})
    lines += [{"time": "2026-08-21T10:00:00+00:00", "status": 204,
               "request": f"{prefix}/acme/9.{i}-rare/linux/x86_64", "agent": "x",
               "client": client} for i, client in enumerate(RARE)]
    text = "".join(json.dumps(line) + "\n" for line in lines)
    text += "".join(f'{{"time": "2026-08-21T10:00:00+00:00", "request": "/favicon{i}.ico", '
                    '"status": 404}\n' for i in range(junk))
    path.write_text(text)
    return path


def one_line(stderr: str) -> None:
    assert "Traceback" not in stderr and len(stderr.splitlines()) == 1, stderr


# ---- CLI conventions --------------------------------------------------------------------


def test_base_option_is_the_same_as_base_setting(tmp_path: Path) -> None:
    log = write_log(tmp_path / "access.log")
    pair = run_cli("stats", T, str(log), f"base={BASE}", "--by", "version", "--json")
    for spelling in (["--base", BASE], [f"--base={BASE}"]):
        option = run_cli("stats", T, str(log), *spelling, "--by", "version", "--json")
        assert option.returncode == pair.returncode == 0, option.stderr
        assert option.stdout == pair.stdout
    clash = run_cli("stats", T, str(log), "base=/t", "--base", "/other")
    assert clash.returncode == 2 and "base given twice" in clash.stderr
    one_line(clash.stderr)


@pytest.mark.parametrize(("args", "wanted"), [
    (["stat", T], "did you mean 'stats'?"),
    (["dashbaord", T], "did you mean 'dashboard'?"),
    (["stats", T, "{log}", "--by", "verison"], "did you mean 'version'?"),
    (["stats", T, "{log}", "--format", "jsno"], "did you mean 'json'?"),
    (["decode", T, "{log}", "--engine", "duckbd"], "did you mean 'duckdb'?"),
    (["ingest", T, "{log}", "--db", "{dir}/x.duckdb", "--format", "combinde"],
     "did you mean 'combined'?"),
    (["stats", T, "{log}", "--every", "wek"], "did you mean 'week'?"),
    (["gateway", "ngnix", T], "did you mean 'nginx'?"),
])
def test_a_name_chosen_wrongly_gets_a_did_you_mean(tmp_path: Path, args: list[str],
                                                    wanted: str) -> None:
    log = write_log(tmp_path / "access.log")
    done = run_cli(*(a.format(log=log, dir=tmp_path) for a in args))
    assert done.returncode == 2
    assert wanted in done.stderr
    one_line(done.stderr)


def test_errors_never_show_internal_names(tmp_path: Path) -> None:
    log = write_log(tmp_path / "access.log")
    for command in (["stats", T, str(log)], ["dashboard", T, str(log), "-o", "x.html"],
                    ["publish", "--db", "x.duckdb", "-o", "site"]):
        done = run_cli(*command, "--k", "abc")
        assert done.returncode == 2
        assert "_k" not in done.stderr and "--k" in done.stderr and "'abc'" in done.stderr
        one_line(done.stderr)


def _commands() -> list[list[str]]:
    from pathbeacon.cli import _parser

    sub = next(a for a in _parser()._actions if a.dest == "command")
    found = []
    for name, parser in sub.choices.items():  # type: ignore[union-attr]
        nested = [a for a in parser._actions if a.dest == "server_kind"]
        if nested:
            found += [[name, kind] for kind in nested[0].choices]  # type: ignore[union-attr]
        found.append([name])
    return found


def test_every_command_help_has_an_example_and_its_exit_statuses() -> None:
    page = (ROOT / "docs" / "reference" / "exit-statuses.md").read_text(encoding="utf-8")
    table = {int(n) for n in re.findall(r"^\| (\d+) \| ", page, flags=re.M)}
    assert table == {0, 1, 2, 3, 130}  # one exit-status table
    commands = _commands()
    assert ["publish"] in commands and ["gateway", "caddy"] in commands
    for command in commands:
        out = subprocess.run([sys.executable, "-m", "pathbeacon", *command, "--help"],
                             capture_output=True, text=True, env=clean_env(), timeout=60)
        assert out.returncode == 0, (command, out.stderr)
        assert "example" in out.stdout and "exit status: 0 " in out.stdout, command
        exits = out.stdout.split("exit status:")[1].strip()
        statuses = {int(n) for n in re.findall(r"(?:^|, )(\d+) ", exits)}
        assert {0, 2} <= statuses <= table, (command, statuses)


def test_send_help_says_what_timeout_bounds() -> None:
    out = run_cli("send", "--help")
    assert "each connect and read" not in out.stdout
    assert "whole attempt" in out.stdout


def test_dashboard_to_a_missing_folder_is_status_1(tmp_path: Path) -> None:
    log = write_log(tmp_path / "access.log")
    done = run_cli("dashboard", T, str(log), "-o", "/nonexistent/dir/x.html")
    assert done.returncode == 1
    assert done.stderr == "pathbeacon: error: cannot write /nonexistent/dir/x.html: no such folder\n"


# ---- no silent zeros --------------------------------------------------------------------


def test_a_wrong_base_names_the_prefix_and_exits_3(tmp_path: Path) -> None:
    log = write_log(tmp_path / "access.log", prefix="/beacons")
    for command in (["stats", T, str(log), "--base", "/t", "--by", "version"],
                    ["decode", T, str(log), "--base", "https://gw.example/t"],
                    ["ingest", T, str(log), "--db", str(tmp_path / "b.duckdb"), "--base", "/t"],
                    ["dashboard", T, str(log), "--base", "/t", "-o", str(tmp_path / "d.html")]):
        done = run_cli(*command)
        assert done.returncode == 3, (command, done.stderr)
        assert "only 0 of 41 lines matched the template" in done.stderr, command
        assert "most common path prefix is /beacons (try base=/beacons" in done.stderr
        assert "Traceback" not in done.stderr
    assert (tmp_path / "d.html").exists()  # the page is still written
    again = run_cli("ingest", T, str(log), "--db", str(tmp_path / "b.duckdb"), "--base", "/t")
    assert again.returncode == 0, again.stderr  # nothing new: not a failure


def test_a_wrong_format_names_the_format_that_reads_the_lines(tmp_path: Path) -> None:
    log = write_log(tmp_path / "access.log")
    done = run_cli("stats", T, str(log), "--base", "/t", "--format", "combined")
    assert done.returncode == 3
    assert "the lines look like --format json (it reads 41 of 41 sampled lines)" in done.stderr


def test_a_template_of_other_length_names_the_segment_counts(tmp_path: Path) -> None:
    log = write_log(tmp_path / "access.log")
    done = run_cli("stats", "<base>/<package>/<version>/<os>", str(log), "--base", "/t")
    assert done.returncode == 3
    assert "the targets under /t have 4 segments, the template 3" in done.stderr


def test_one_percent_is_the_line(tmp_path: Path) -> None:
    # 41 matched of 41 + 4000 lines: just above 1 %
    log = write_log(tmp_path / "access.log", junk=4000)
    done = run_cli("stats", T, str(log), "--base", "/t")
    assert done.returncode == 0, done.stderr
    log = write_log(tmp_path / "access.log", junk=4100)  # just under
    done = run_cli("stats", T, str(log), "--base", "/t")
    assert done.returncode == 3 and "only 41 of 4141 lines" in done.stderr


# ---- progress and Ctrl-C ----------------------------------------------------------------


@pytest.fixture(scope="module")
def big_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 60 MB of beacons: long enough to show progress and to be interrupted."""
    path = tmp_path_factory.mktemp("big") / "big.log"
    chunk = write_log(path).read_bytes()
    with open(path, "wb") as out:
        for _ in range(12_000):
            out.write(chunk)
    return path


def _in_a_terminal(argv: list[str], *, interrupt_after: float | None = None,
                   timeout: float = 120) -> tuple[int, str, str]:
    """Run ``argv`` with stderr on a terminal (a pty of 100 x 30); SIGINT it after
    ``interrupt_after`` seconds of progress. (status, stdout, what the terminal got)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=follower,
                               env=clean_env())
    os.close(follower)
    seen = b""
    started = time.monotonic()
    while process.poll() is None and time.monotonic() - started < timeout:
        ready, _, _ = select.select([leader], [], [], 0.1)
        if ready:
            with contextlib.suppress(OSError):
                seen += os.read(leader, 65536)
        if interrupt_after is not None and b"B/s" in seen \
                and time.monotonic() - started > interrupt_after:
            process.send_signal(signal.SIGINT)
            interrupt_after = None
    status = process.wait(timeout=60)
    with contextlib.suppress(OSError):
        while select.select([leader], [], [], 0.2)[0]:
            chunk = os.read(leader, 65536)
            if not chunk:
                break
            seen += chunk
    os.close(leader)
    assert process.stdout is not None
    return status, process.stdout.read().decode(), seen.decode("utf-8", "replace")


PB = [sys.executable, "-m", "pathbeacon"]


def test_progress_on_a_terminal_and_none_when_piped_or_quiet(big_log: Path) -> None:
    argv = [*PB, "stats", T, str(big_log), "--base", "/t", "--engine", "python",
            "--by", "version"]
    status, out, terminal = _in_a_terminal(argv)
    assert status == 0, terminal
    assert "2.0" in out  # the result on stdout, the bar on the terminal only
    assert re.search(r"stats: +\d+%\|", terminal) and "/s" in terminal, terminal
    assert "lines/s" in terminal
    piped = run_cli(*argv[3:])
    assert piped.returncode == 0
    assert piped.stderr.startswith("lines: matched") and len(piped.stderr.splitlines()) == 1
    status, out, terminal = _in_a_terminal([*argv, "--quiet"])
    assert status == 0 and terminal == ""


@pytest.mark.parametrize("engine", ["python", "duckdb"])
def test_ctrl_c_is_one_line_status_130_and_no_file(big_log: Path, tmp_path: Path,
                                                  engine: str) -> None:
    if engine == "duckdb":
        pytest.importorskip("duckdb")
    page = tmp_path / "page.html"
    argv = [*PB, "dashboard", T, str(big_log), "--base", "/t", "--engine", engine,
            "-o", str(page)]
    status, _, terminal = _in_a_terminal(argv, interrupt_after=1.0)
    assert status == 130, terminal
    assert "Traceback" not in terminal
    assert terminal.rstrip().endswith("pathbeacon: error: interrupted")
    assert terminal.count("pathbeacon:") == 1
    assert os.listdir(tmp_path) == []  # no page, no temporary file


# ---- publish ----------------------------------------------------------------------------


@contextlib.contextmanager
def serving(folder: Path) -> Iterator[str]:
    """A real static web server (python's http.server) on a loopback port of its own."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))

    class Quiet(http.server.ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            pass

    server = Quiet(("127.0.0.1", 0), handler)
    handler.func.log_message = lambda *a: None  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _get(url: str) -> tuple[str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as answer:  # loopback only
        return answer.headers.get_content_type(), answer.read()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("duckdb")
    folder = tmp_path_factory.mktemp("store")
    log = write_log(folder / "access.log", days=10)
    db = folder / "beacons.duckdb"
    done = run_cli("ingest", T, str(log), "--db", str(db), "--base", "/t")
    assert done.returncode == 0, done.stderr
    return db


def test_publish_is_served_and_read_back(store: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    done = run_cli("publish", "--db", str(store), "-o", str(site), "--package", "acme")
    assert done.returncode == 0, done.stderr
    with serving(site) as url:
        kind, page = _get(f"{url}/index.html")
        assert kind == "text/html" and b"default-src 'none'" in page
        kind, body = _get(f"{url}/api/v1/counts-30d.json")
        counts = json.loads(body)
        _, badge = _get(f"{url}/badge.json")
        kind, svg = _get(f"{url}/badge.svg")
        assert kind == "image/svg+xml" and svg.startswith(b"<svg")
    assert counts["schema"] == "pathbeacon-counts/1" and counts["package"] == "acme"
    assert (counts["start_date"], counts["end_date"]) == ("2026-07-31", "2026-08-29")
    assert counts["total_count"] == 12 * 10 + 5
    versions = counts["fields"]["version"]["items"]
    # k = 5: a rare version (one machine) is never named; its events are in other / under k
    assert [item["version"] for item in versions] == ["2.0", "1.0", "other / under k"]
    assert sum(item["events"] for item in versions) == counts["total_count"]
    assert versions[-1] == {"number": None, "version": "other / under k", "count": "5",
                            "events": 5, "reporters": None, "percent": "4.00"}
    assert versions[0]["count"] == f"{versions[0]['events']:,}"
    assert all(item["reporters"] >= 5 for item in versions[:-1])
    assert badge == json.dumps({"schemaVersion": 1, "label": "reporters/week",
                                "message": "84", "color": "3b6ea8"}, indent=2).encode() + b"\n"
    assert b">reporters/week<" in svg and b">84<" in svg
    for path in site.rglob("*"):
        if path.is_file():
            text = path.read_bytes()
            for client in [*CLIENTS, *RARE]:
                assert client.encode() not in text, path


def test_publish_is_deterministic_for_the_same_store(store: Path, tmp_path: Path) -> None:
    def files(folder: Path) -> dict[str, bytes]:
        return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
                if p.is_file()}

    for name in ("one", "two"):
        done = run_cli("publish", "--db", str(store), "-o", str(tmp_path / name), "--quiet")
        assert done.returncode == 0 and done.stdout == ""
    assert files(tmp_path / "one") == files(tmp_path / "two")
    assert set(files(tmp_path / "one")) == {
        "index.html", "badge.svg", "badge.json", "api/v1/counts-30d.json",
        "api/v1/counts-90d.json", "api/v1/counts-365d.json"}


def test_publish_bad_input(store: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    for args, status, text in (
            (["--db", str(tmp_path / "none.duckdb"), "-o", str(tmp_path / "s")], 2, "no store"),
            (["--db", str(store), "-o", str(tmp_path / "file")], 2, "not a folder"),
            (["--db", str(store), "-o", "/proc/version/x"], 1, "cannot write")):
        done = run_cli("publish", *args)
        assert done.returncode == status and text in done.stderr, done.stderr
        one_line(done.stderr)


# ---- the hourly recipe ------------------------------------------------------------------


def _doc_blocks() -> list[str]:
    text = (ROOT / "docs" / "maintainers.md").read_text(encoding="utf-8")
    return re.findall(r"```\w*\n(.*?)```", text, flags=re.S)


def test_the_cron_line_and_systemd_units_run_the_refresh_script(tmp_path: Path) -> None:
    pytest.importorskip("duckdb")
    blocks = _doc_blocks()
    script = next(b for b in blocks if b.startswith("#!/bin/sh\n# pathbeacon-refresh"))
    cron = next(b for b in blocks if re.match(r"\d+ \* \* \* \* ", b)).strip()
    service = next(b for b in blocks if "ExecStart=" in b)
    timer = next(b for b in blocks if "OnCalendar=" in b)
    minute, hour, day, month, weekday, user, command = cron.split(" ", 6)
    assert 0 <= int(minute) < 60 and (hour, day, month, weekday) == ("*",) * 4
    assert user == "pathbeacon"
    exec_start = re.search(r"^ExecStart=(.*)$", service, flags=re.M)
    assert exec_start is not None and exec_start.group(1) == command
    assert re.search(r"^User=pathbeacon$", service, flags=re.M)
    assert re.search(r"^SuccessExitStatus=3$", service, flags=re.M)
    assert re.search(r"^OnCalendar=hourly$", timer, flags=re.M)
    assert re.search(r"^WantedBy=timers.target$", timer, flags=re.M)
    # Install the script where the cron line and the unit say, under a scratch root, and
    # run that command line as cron would (sh -c), with the paths pointed into it.
    installed = tmp_path / command.lstrip("/")
    installed.parent.mkdir(parents=True)
    installed.write_text(script)
    installed.chmod(0o755)
    log = write_log(tmp_path / "pathbeacon.log", days=2)
    env = clean_env(LOG=str(log), DB=str(tmp_path / "beacons.duckdb"),
                    SITE=str(tmp_path / "www"), BASE="/t",
                    PATH=os.pathsep.join([str(Path(sys.executable).parent),
                                          os.environ["PATH"]]))
    line = str(installed)
    for _ in range(2):  # hourly: the second run finds nothing new and changes nothing
        done = subprocess.run(["sh", "-c", line], env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        assert done.stdout == "" and done.stderr == ""
    counts = json.loads((tmp_path / "www" / "api" / "v1" / "counts-30d.json").read_text())
    assert counts["total_count"] == 12 * 2 + 5
    # a rotated log and a wrong base: the cause on stderr, status 3, the page still there
    os.rename(log, f"{log}.1")
    write_log(log, prefix="/beacons", days=1)
    done = subprocess.run(["sh", "-c", line], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 3 and "try base=/beacons" in done.stderr
    assert (tmp_path / "www" / "index.html").exists()


# ---- the dashboard's groupings ------------------------------------------------------------


def test_python_by_minor_version_and_versions_in_pep_440_order(tmp_path: Path) -> None:
    lines = []
    pythons = ["3.10.12", "3.10.13", "3.12.1"]
    for day in range(1, 4):
        for c in range(60):  # each version x python pair: six or eight addresses a day
            version = ["1.0.0", "1.1.0", "1.10.0"][c // 20]
            python = pythons[min(c % 20 // 6, 2)]
            lines.append(json.dumps({
                "time": f"2026-08-0{day}T10:00:00+00:00", "status": 204, "agent": "a",
                "request": f"/t/acme/{version}/linux/x86_64/cpython-{python}",
                "client": f"10.0.{c}.1"}))
    log = tmp_path / "access.log"
    log.write_text("\n".join(lines) + "\n")
    out = tmp_path / "page.html"
    done = run_cli("dashboard", f"{T}/<python>", str(log), "--base", "/t", "-o", str(out),
                   "--package", "acme")
    assert done.returncode == 0, done.stderr
    page = out.read_text(encoding="utf-8")
    python = page.split("<h2>By python (by minor version)</h2>")[1].split("</section>")[0]
    cells = re.findall(r"<tr><td>([^<]+)</td><td class=n>([\d,]+)</td>", python)
    # 3.10.12 (54 events) and 3.10.13 (54) are one row; newest minor first
    assert cells == [("cpython-3.12", "72"), ("cpython-3.10", "108")]
    version = page.split("<h2>By version</h2>")[1].split("</section>")[0]
    assert re.findall(r"<tr><td>([^<]+)</td>", version) == ["1.10.0", "1.1.0", "1.0.0"]
    cross = page.split("<h2>version \N{MULTIPLICATION SIGN} python</h2>")[1].split("</section>")[0]
    assert "<th class=n>cpython-3.12</th><th class=n>cpython-3.10</th>" in cross
    assert "cpython-3.10.12" not in page.split('class="notice"')[0]


def test_a_long_range_counts_per_week(tmp_path: Path) -> None:
    from datetime import date, timedelta

    lines = []
    for n in range(0, 200, 2):
        day = date(2026, 1, 1) + timedelta(days=n)
        lines += [json.dumps({"time": f"{day}T10:00:00+00:00", "status": 204, "agent": "a",
                              "request": "/t/acme/1.0/linux/x86_64", "client": f"10.0.0.{c}"})
                  for c in range(6)]
    log = tmp_path / "access.log"
    log.write_text("\n".join(lines) + "\n")
    out = tmp_path / "page.html"
    done = run_cli("dashboard", T, str(log), "--base", "/t", "-o", str(out),
                   "--package", "acme", "--engine", "python")
    assert done.returncode == 0, done.stderr
    page = out.read_text(encoding="utf-8")
    assert "<title>acme: telemetry</title>" in page
    assert "<h2>Events and reporters per week</h2>" in page
    assert "<h2>Version uptake (share of each week's events)</h2>" not in page  # one version
    assert "Every event has version <strong>1.0</strong> (600 events)." in page
    assert '<div class="n">600</div><div class="what">events</div>' in page


def test_stats_by_python_minor_groups_the_shown_values(tmp_path: Path) -> None:
    lines = [json.dumps({"time": f"2026-08-0{day}T10:00:00+00:00", "status": 204, "agent": "a",
                         "request": f"/t/acme/1.0/linux/x86_64/cpython-3.10.{c % 2 + 12}",
                         "client": f"10.0.{c}.1"})
             for day in (1, 2) for c in range(12)]
    log = tmp_path / "access.log"
    log.write_text("\n".join(lines) + "\n")
    done = run_cli("stats", f"{T}/<python>", str(log), "--base", "/t", "--by", "python=minor",
                   "--k", "5", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows"] == [
        {"python": "cpython-3.10", "events": 24, "reporters": None}]
    exact = run_cli("stats", f"{T}/<python>", str(log), "--base", "/t", "--by", "python",
                    "--k", "5", "--json")
    assert [row["python"] for row in json.loads(exact.stdout)["rows"]] == [
        "cpython-3.10.12", "cpython-3.10.13"]
    wrong = run_cli("stats", f"{T}/<python>", str(log), "--by", "python=minr")
    assert wrong.returncode == 2 and "did you mean 'minor'?" in wrong.stderr


def test_publish_before_the_first_beacon(tmp_path: Path) -> None:
    pytest.importorskip("duckdb")
    (tmp_path / "empty.log").write_text("")
    db, site = tmp_path / "b.duckdb", tmp_path / "site"
    assert run_cli("ingest", T, str(tmp_path / "empty.log"), "--db", str(db),
                   "--base", "/t").returncode == 0
    done = run_cli("publish", "--db", str(db), "-o", str(site), "--quiet")
    assert done.returncode == 0, done.stderr
    counts = json.loads((site / "api" / "v1" / "counts-90d.json").read_text())
    assert (counts["total_count"], counts["fields"], counts["schema"]) == (
        0, {}, "pathbeacon-counts/1")
    assert json.loads((site / "badge.json").read_text())["message"] == "0"
    assert "No beacon has been counted yet" in (site / "index.html").read_text()


def test_beacons_answered_with_an_error_name_the_status(tmp_path: Path) -> None:
    log = write_log(tmp_path / "access.log")
    log.write_text(log.read_text().replace('"status": 204', '"status": 404'))
    done = run_cli("stats", T, str(log), "--base", "/t")
    assert done.returncode == 3
    assert "the beacons fit but were answered with status 404" in done.stderr
