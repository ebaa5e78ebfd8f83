"""The dashboard: one self-contained HTML file, opened in a real headless Chromium."""

from __future__ import annotations

import io
import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from pathbeacon.analysis import dashboard

from .conftest import need_program, run_cli

pytest.importorskip("matplotlib", reason="the analysis extra (pip install '.[analysis]')")

TEMPLATE = "<base>/<package>/<version>/<os>/<arch>"
BASE = "https://gw.example/t"
CHROMIUM = "/usr/bin/chromium"
# Flags that keep Chromium off the network and quiet (the page must not need any of it).
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
CLIENTS = [f"198.51.100.{n}" for n in range(1, 41)]


def write_log(path: Path) -> None:
    """40 reporters over three days; a rare version from one reporter only."""
    rng = random.Random(10)
    lines = []
    for day in (20, 21, 22):
        for client in CLIENTS:
            version = rng.choice(["1.0", "1.1", "2.0"])
            system = rng.choice(["linux", "macos", "windows"])
            arch = rng.choice(["x86_64", "aarch64"])
            for _ in range(rng.randint(1, 3)):
                lines.append({"time": f"2026-08-{day}T{rng.randrange(24):02d}:00:00+00:00",
                              "request": f"/t/acme/{version}/{system}/{arch}", "status": 204,
                              "agent": "pathbeacon/0.1.0", "client": client})
    lines.append({"time": "2026-08-22T10:00:00+00:00", "request": "/t/acme/9.9-rare/linux/x86_64",
                  "status": 204, "agent": "pathbeacon/0.1.0", "client": "192.0.2.250"})
    lines.append({"time": "2026-08-22T10:00:00+00:00", "request": "/t/acme/1.0/linux/x86_64",
                  "status": 500, "agent": "x", "client": "192.0.2.251"})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + "junk\n")


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dashboard")
    log = folder / "access.log"
    write_log(log)
    out = folder / "report.html"
    result = run_cli("dashboard", TEMPLATE, str(log), "-o", str(out), f"base={BASE}",
                     "--title", "Acme <telemetry> & co", "--package", "acme")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    return out


def test_the_page_is_self_contained_and_hides_small_groups(page_file: Path) -> None:
    text = page_file.read_text(encoding="utf-8")
    assert "<script" not in text and "<link" not in text and "@import" not in text
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:|//)""", text)
    assert "url(http" not in text and "@font-face" not in text
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    assert "<title>Acme &lt;telemetry&gt; &amp; co</title>" in text
    for client in [*CLIENTS, "192.0.2.250", "192.0.2.251", "198.51.100"]:
        assert client not in text
    assert "9.9-rare" not in text  # one reporter: below k=5, folded away
    # totals per day, version uptake, and a chart per field but package (one value: a sentence)
    assert text.count('<svg ') == 1 + 1 + 3
    assert "Every event has package <strong>acme</strong>" in text
    # The privacy notice, and the four line counts.
    assert "Never sent:" in text and "ACME_NO_ANALYTICS" in text and "gw.example" in text
    for name in ("matched", "bad_status", "other_path", "malformed"):
        assert f"<td>{name}</td>" in text


def test_no_shown_count_describes_fewer_than_k_reporters(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    write_log(log)
    from pathbeacon.analysis import stats

    def from_logs(by: Any, every: Any, k: int) -> Any:
        return stats(TEMPLATE, [str(log)], by, every=every, k=k, base=BASE, engine="python")

    for k in (1, 5, 30):
        data = dashboard.collect(TEMPLATE, from_logs, k=k, base=BASE)
        shown = [row for rows in data.fields.values() for row in rows if not row.get("rest")]
        assert all(row["reporters"] >= k for row in shown + data.uptake)
        # k hides groups, never the totals; shares are over all events
        assert data.events == data.lines["matched"]
        assert all(sum(row["events"] for row in rows) == data.events
                   for rows in data.fields.values())
        if k == 1:
            assert any(row["version"] == "9.9-rare" for row in data.fields["version"])
    data = dashboard.collect(TEMPLATE, from_logs, base=BASE)
    assert data.k == dashboard.DEFAULT_K == 5
    assert (data.first_day, data.last_day) == ("2026-08-20", "2026-08-22")
    assert data.lines == {"matched": data.events, "bad_status": 1, "other_path": 0,
                          "malformed": 1}


def test_dashboard_from_the_store_is_the_same_page(tmp_path: Path, page_file: Path) -> None:
    log = tmp_path / "access.log"
    write_log(log)
    db = tmp_path / "beacons.duckdb"
    assert run_cli("ingest", TEMPLATE, str(log), "--db", str(db), f"base={BASE}").returncode == 0
    out = tmp_path / "from-db.html"
    result = run_cli("dashboard", TEMPLATE, "--db", str(db), "-o", str(out),
                     "--title", "Acme <telemetry> & co", "--package", "acme")
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == page_file.read_bytes()


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_a_log_on_standard_input_draws_the_same_page(page_file: Path, tmp_path: Path,
                                                     compress: bool) -> None:
    """The dashboard reads its logs more than once: a pipe is read once and its copy
    after (sources), so ``-`` draws the very page the file does."""
    import gzip
    import subprocess
    import sys

    from .conftest import clean_env

    log = tmp_path / "access.log"
    write_log(log)
    data = log.read_bytes()
    out = tmp_path / "from-stdin.html"
    done = subprocess.run(
        [sys.executable, "-m", "pathbeacon", "dashboard", TEMPLATE, "-", "-o", str(out),
         f"base={BASE}", "--title", "Acme <telemetry> & co", "--package", "acme"],
        input=gzip.compress(data) if compress else data, capture_output=True, timeout=120,
        env=clean_env())
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == page_file.read_bytes()


@pytest.mark.parametrize("args", [
    ("dashboard", TEMPLATE, "-o", "{out}"),
    ("dashboard", TEMPLATE, "{log}", "--db", "{log}", "-o", "{out}"),
    ("dashboard", TEMPLATE, "{log}", "-o", "{out}", "--k", "0"),
    ("dashboard", TEMPLATE, "{log}", "-o", "{out}", "--k", "many"),
    ("dashboard", TEMPLATE, "{log}"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: tuple[str, ...]) -> None:
    log = tmp_path / "access.log"
    write_log(log)
    names = {"log": str(log), "out": str(tmp_path / "out.html")}
    result = run_cli(*(arg.format(**names) for arg in args))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "out.html").exists()


# ---- in a real browser ------------------------------------------------------------------


def test_chromium_opens_it_offline_with_no_request_no_error_and_charts(
        page_file: Path, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="the test extra's playwright")
    need_program(CHROMIUM, "chromium")
    url = page_file.as_uri()
    requests: list[str] = []
    problems: list[str] = []
    with sync_api.sync_playwright() as playwright:
        # A persistent context is how Playwright takes --user-data-dir.
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, args=CHROMIUM_FLAGS,
            headless=True, offline=True, viewport={"width": 1200, "height": 900})
        try:
            page = context.new_page()
            page.on("request", lambda request: requests.append(request.url))
            page.on("console", lambda message: problems.append(f"{message.type}: {message.text}")
                    if message.type in ("error", "warning") else None)
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on("requestfailed", lambda request: problems.append(f"failed: {request.url}"))
            response = page.goto(url, wait_until="load")
            assert response is not None and response.ok
            page.wait_for_load_state("networkidle")
            charts = page.locator("svg.chart")
            assert charts.count() == 5
            for i in range(charts.count()):
                box = charts.nth(i).bounding_box()
                assert box is not None and box["width"] > 300 and box["height"] > 100
                assert charts.nth(i).locator("path").count() > 10
            assert page.title() == "Acme <telemetry> & co"
            shot = page.screenshot(full_page=True)
        finally:
            context.close()
    assert requests == [url]  # the page itself, nothing else
    assert problems == []
    from matplotlib import image

    pixels = image.imread(io.BytesIO(shot), format="png")
    assert pixels.shape[0] > 1500 and pixels.shape[1] == 1200
    rgb = pixels[..., :3]
    ink = (rgb.sum(axis=2) < 2.4).mean()  # darker than near-white
    colours = len({tuple(p) for p in (rgb[::7, ::7].reshape(-1, 3) * 255).astype(int).tolist()})
    assert 0.01 < ink < 0.6 and colours > 20, (ink, colours)


def test_without_the_analysis_extra_it_names_the_install(tmp_path: Path) -> None:
    import subprocess
    import sys

    from .conftest import clean_env

    log = tmp_path / "access.log"
    write_log(log)
    code = ("import sys\nsys.modules['matplotlib'] = None\n"
            "from pathbeacon.cli import main\nsys.exit(main(sys.argv[1:]))")
    result = subprocess.run(
        [sys.executable, "-c", code, "dashboard", TEMPLATE, str(log), "-o",
         str(tmp_path / "out.html")], capture_output=True, text=True, env=clean_env(), timeout=60)
    assert result.returncode == 2
    assert result.stderr == ("pathbeacon: error: the dashboard needs matplotlib:"
                             " pip install 'pathbeacon[analysis]'\n")


# ---- what a person sees, at two widths (issue 14) -----------------------------------------

WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}


def _small_log(path: Path, package: str = "acme") -> Path:
    """A new project's first three beacons, from three machines."""
    lines = [{"time": f"2026-08-2{i}T10:00:00+00:00", "status": 204, "agent": "pathbeacon/0.1",
              "request": f"/t/{package}/1.{i}/linux/x86_64", "client": f"192.0.2.{i}"}
             for i in range(3)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _look(page_path: Path, tmp_path: Path, check: Any) -> dict[str, bytes]:
    """Open the page in Chromium at each width, run ``check(page, width)``, and return the
    full-page screenshots (PNG), also saved beside the page for a person to look at."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the test extra's playwright")
    need_program(CHROMIUM, "chromium")
    shots = {}
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, args=CHROMIUM_FLAGS,
            headless=True, offline=True)
        try:
            for name, (width, height) in WIDTHS.items():
                page = context.new_page()
                page.set_viewport_size({"width": width, "height": height})
                page.goto(page_path.as_uri(), wait_until="load")
                # nothing wider than the screen but the charts, which scroll in their box
                assert page.evaluate("document.documentElement.scrollWidth") <= width, name
                check(page, width)
                shots[name] = page.screenshot(full_page=True)
                (page_path.parent / f"{page_path.stem}-{name}.png").write_bytes(shots[name])
                page.close()
        finally:
            context.close()
    return shots


def _inked(png: bytes, width: int) -> None:
    from matplotlib import image

    pixels = image.imread(io.BytesIO(png), format="png")
    assert pixels.shape[1] == width
    rgb = pixels[..., :3]
    assert 0.01 < (rgb.sum(axis=2) < 2.4).mean() < 0.6


def test_the_page_at_desktop_and_phone_widths(page_file: Path, tmp_path: Path) -> None:
    def check(page: Any, width: int) -> None:
        cards = page.locator(".card")
        assert cards.count() == 4
        for i in range(4):
            box = cards.nth(i).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
        assert cards.nth(0).inner_text().split()[0] == "235"  # every matched beacon
        assert cards.nth(2).inner_text().startswith("2026-08-20")
        headings = page.locator("h2").all_inner_texts()
        assert headings[:3] == ["Events and reporters per day",
                                "Version uptake (share of each day's events)", "By package"]
        assert "By version" in headings and "By arch" in headings
        assert page.get_by_text("Every event has package acme").is_visible()
        rest = page.locator("tr.rest").first
        assert rest.is_visible() and rest.inner_text().startswith("other / under k")
        versions = page.locator("section", has_text="By version").locator("tbody tr td:first-child")
        named = versions.all_inner_texts()[:-1]
        assert named[:2] == ["2.0", "1.0"] and named == sorted(  # PEP 440, newest first
            named, key=dashboard.version_key, reverse=True)
        chart = page.locator("svg.chart").first.bounding_box()
        assert chart is not None
        if width > 1000:  # full width: the chart spans the page but its margins
            assert chart["width"] > 0.85 * width
        notice = page.locator(".notice")
        assert "example value" in notice.inner_text()
        assert "value on this machine" not in notice.inner_text()

    shots = _look(page_file, tmp_path, check)
    for name, png in shots.items():
        _inked(png, WIDTHS[name][0])


def test_a_small_project_sees_its_totals_and_a_hint(tmp_path: Path) -> None:
    log = _small_log(tmp_path / "access.log")
    page_path = tmp_path / "small.html"
    done = run_cli("dashboard", TEMPLATE, str(log), "--base", BASE, "-o", str(page_path),
                   "--package", "acme")
    assert done.returncode == 0, done.stderr

    def check(page: Any, width: int) -> None:
        numbers = page.locator(".card .n").all_inner_texts()
        assert numbers == ["3", "3", "2026-08-20", "2026-08-22"]
        hint = page.locator(".hint")
        assert hint.is_visible()
        assert "--k 1" in hint.inner_text() and "k = 5" in hint.inner_text()
        assert page.locator("svg.chart").count() == 1  # the totals per day, from beacon one

    _look(page_path, tmp_path, check)


def test_the_notice_names_the_package_of_the_command_never_of_the_log(tmp_path: Path) -> None:
    # Every beacon claims to come from "evil"; the maintainer's package is acme.
    log = _small_log(tmp_path / "access.log", package="evil")
    out = tmp_path / "page.html"
    for given, variable in ((["--package", "acme"], "ACME_NO_ANALYTICS"), ([], None)):
        done = run_cli("dashboard", TEMPLATE, str(log), "--base", BASE, "-o", str(out),
                       "--k", "1", *given)
        assert done.returncode == 0, done.stderr
        page = out.read_text(encoding="utf-8")
        assert "package <strong>evil</strong>" in page  # the data is shown as data...
        notice = page.split('class="notice"')[1]
        assert "evil" not in notice.lower()  # ...never as the package
        names = set(re.findall(r"<code>([A-Z_]+)=1</code>", notice))
        assert names >= {"DO_NOT_TRACK", "PATHBEACON_NO_ANALYTICS"}
        assert names - {"DO_NOT_TRACK", "PATHBEACON_NO_ANALYTICS", "SCARF_NO_ANALYTICS"} == (
            {variable} if variable else set())
        assert "value on this machine" not in notice and "example value" in notice
    # This machine's facts are never shown as anyone's: the values are labelled examples.
    done = run_cli("dashboard", "<base>/<package>/<version>/<python>", str(log), "--base",
                   BASE, "-o", str(out), "--package", "acme")
    assert done.returncode == 3  # four segments in the log, three in this template
    notice = out.read_text(encoding="utf-8").split('class="notice"')[1]
    assert f"<code>{dashboard.EXAMPLE_VALUES['python']}</code>" in notice
