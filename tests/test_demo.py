"""The demo, run as a user runs it: a fresh interpreter, real processes, loopback only."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from pathbeacon.analysis import decode
from pathbeacon.analysis.demo import TEMPLATE, fleet

from .conftest import clean_env


def run_demo(*args: str, env: dict[str, str] | None = None,
             prelude: str = "") -> subprocess.CompletedProcess[str]:
    code = (f"{prelude}\nimport sys\nfrom pathbeacon.analysis.demo import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=300, env=env or clean_env())


def test_the_whole_loop_from_thirty_processes_to_a_dashboard(tmp_path: Path) -> None:
    pytest.importorskip("duckdb")  # the analysis extra
    pytest.importorskip("matplotlib")  # the analysis extra
    # A proxy that refuses everything: the demo must stay on loopback, around it.
    result = run_demo("--out", str(tmp_path), env=clean_env(HTTP_PROXY="http://127.0.0.1:9",
                                                            http_proxy="http://127.0.0.1:9"))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "30 of 30 reports sent." in out
    assert out.count(" sent (HTTP 204)") == 30
    assert len({line.split("(pid ")[1].split(")")[0] for line in out.splitlines()
                if "(pid " in line}) == 30  # thirty distinct processes
    for step in ("1. A collector listens on http://127.0.0.1:", "2. 30 Python processes",
                 "3. The log, decoded", "4. Kept in an ingest store", "5. A dashboard"):
        assert step in out
    assert "a second run adds 0; stats --db gives the same table." in out
    # The log holds exactly the facts the fleet reported, as the decoder reads them.
    log = tmp_path / "access.log"
    rows = list(decode(TEMPLATE, [str(log)], engine="python"))
    assert Counter(tuple(r[f] for f in ("version", "os", "arch", "python")) for r in rows) == \
        Counter(tuple(f.values()) for f in fleet(30))
    assert all(r["package"] == "acme" and r["status"] == 204 for r in rows)
    # The table printed is the stats of that log.
    table = out.split("--by version,os\n")[1].split("   lines:")[0].splitlines()
    assert table[0].split() == ["version", "os", "events", "reporters"]
    printed = Counter({(v, o): int(n) for v, o, n, _ in (line.split() for line in table[1:])})
    assert printed == Counter((f["version"], f["os"]) for f in fleet(30))
    page = tmp_path / "dashboard.html"
    assert f"   {page}\n" in out
    html = page.read_text(encoding="utf-8")
    # events per day, and a chart per field but package (one value: a sentence); one day
    # of beacons has no version uptake to draw
    assert html.startswith("<!DOCTYPE html>") and html.count("<svg ") == 5
    assert "Every event has package <strong>acme</strong>" in html
    assert "ACME_NO_ANALYTICS" in html  # the demo's own package, named by the demo
    assert (tmp_path / "beacons.duckdb").exists()


def test_without_duckdb_it_still_runs_on_the_python_engine(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")  # the analysis extra
    result = run_demo("--processes", "5", "--out", str(tmp_path),
                      prelude="import sys; sys.modules['duckdb'] = None")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 of 5 reports sent." in result.stdout
    assert "The ingest store needs DuckDB" in result.stdout
    assert (tmp_path / "dashboard.html").exists()
    assert not (tmp_path / "beacons.duckdb").exists()


def test_with_the_beacon_side_alone_it_still_shows_the_loop(tmp_path: Path) -> None:
    """`pip install .` without the analysis extra: the fleet, the log and the table."""
    blocked = "import sys\nfor name in ('duckdb', 'matplotlib', 'markdown_it'): sys.modules[name] = None"
    result = run_demo("--processes", "4", "--out", str(tmp_path), prelude=blocked)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 of 4 reports sent." in result.stdout and "events" in result.stdout
    assert "A dashboard needs matplotlib and markdown_it" in result.stdout
    assert not (tmp_path / "dashboard.html").exists()


def test_an_opted_out_user_sends_nothing_even_in_the_demo(tmp_path: Path) -> None:
    result = run_demo("--processes", "3", "--out", str(tmp_path),
                      env=clean_env(DO_NOT_TRACK="1"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 of 3 reports sent." in result.stdout
    assert "3 opted out: nothing was sent for them." in result.stdout
    assert result.stdout.count(" disabled, not sent (DO_NOT_TRACK is set)") == 3
    assert "None" not in result.stdout
    assert (tmp_path / "access.log").read_text() == ""


def test_a_dry_run_says_what_would_be_sent(tmp_path: Path) -> None:
    result = run_demo("--processes", "2", "--out", str(tmp_path),
                      env=clean_env(PATHBEACON_DRY_RUN="1"))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [x for x in result.stdout.splitlines() if "would send http://127.0.0.1:" in x]
    assert len(lines) == 2 and "0 of 2 reports sent." in result.stdout
    assert " sent (" not in result.stdout and "None" not in result.stdout
    assert (tmp_path / "access.log").read_text() == ""


def test_pathbeacon_demo_is_this_demo(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pathbeacon", "demo", "--processes", "2", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300, env=clean_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 of 2 reports sent." in result.stdout and "3. The log, decoded" in result.stdout


def test_bad_options_exit_2() -> None:
    result = run_demo("--processes", "0")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("pathbeacon: error: --processes")


def test_an_installed_wheel_runs_the_demo(tmp_path: Path) -> None:
    """What `pip install '.[analysis]'` puts in site-packages runs the loop on its own
    (the checkout is not on the path; the extra's libraries come from this environment)."""
    pytest.importorskip("duckdb")  # the analysis extra
    pytest.importorskip("matplotlib")  # the analysis extra
    import zipfile

    from .conftest import ROOT

    pytest.importorskip("hatchling")
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(dist)],
                   cwd=ROOT, check=True, capture_output=True, timeout=300)
    site = tmp_path / "site"
    zipfile.ZipFile(next(dist.glob("*.whl"))).extractall(site)
    out = tmp_path / "out"
    code = ("import sys, pathbeacon\nassert pathbeacon.__file__.startswith(sys.argv[1])\n"
            "from pathbeacon.analysis.demo import main\nsys.exit(main(sys.argv[2:]))\n")
    result = subprocess.run(
        [sys.executable, "-c", code, str(site), "--processes", "3", "--out", str(out)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env=clean_env(PYTHONPATH=str(site)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 of 3 reports sent." in result.stdout
    assert (out / "dashboard.html").exists() and (out / "beacons.duckdb").exists()
