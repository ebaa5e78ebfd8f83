"""Gateway configs, run for real: nginx and Caddy on loopback receive report_once() beacons."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import pathbeacon
from pathbeacon.analysis import gateway

from . import webservers as servers
from .conftest import clean_env, run_cli

TEMPLATE = "<base>/<package>/<version>/<os>/<arch>/<python>"
DOWNLOAD = "<base>/acme-<version>-<os>-<arch>.tar.gz"
# Each report: the facts it overrides (hostile values included: escapes must pass through).
FLEET = [
    {"version": "1.0", "os": "linux", "arch": "x86_64", "python": "3.11.7"},
    {"version": "1.0", "os": "Mac OS X", "arch": "arm64", "python": "3.12.1"},
    {"version": "2.0+local", "os": "linux", "arch": "arm/64", "python": "3.9.18"},
    {"version": "2.0", "os": "windows", "arch": "x86_64", "python": "3.13.0"},
    {"version": "2.0", "os": "Debian GNU/Linux", "arch": "x86_64", "python": "3.10.4"},
]
# A simple HTTP client of our own for requests report_once() does not make.
AGENT = "gateway-test/1.0"


def report_fleet(template: str, base: str, fleet: list[dict[str, str]]) -> list[str]:
    """One fresh interpreter per report, all at once; each must end 'sent'. The URLs sent."""
    code = (
        "import json, sys, pathbeacon\n"
        "fields = pathbeacon.Template(sys.argv[1]).fields\n"
        "facts = {k: v for k, v in json.loads(sys.argv[3]).items() if k in fields}\n"
        "r = pathbeacon.report_once(sys.argv[1], base=sys.argv[2], package='acme',"
        " skip_dev=False, **facts)\n"
        "print(json.dumps([r.wait(30), r.url, r.reason]))\n"
    )
    children = [
        subprocess.Popen([sys.executable, "-c", code, template, base, json.dumps(facts)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=clean_env())
        for facts in fleet
    ]
    urls = []
    for child in children:
        out, err = child.communicate(timeout=60)
        status, url, reason = json.loads(out)
        assert status == "sent", (status, reason, err)
        urls.append(url)
    return urls


def pathbeacon_agent() -> str:
    """The User-Agent report_once() sends from this machine."""
    from pathbeacon.report import user_agent

    return user_agent()


def expected_rows(template: str, urls: list[str]) -> list[dict[str, str]]:
    rows = []
    for url in urls:
        values = pathbeacon.parse(template, url)
        values.pop("base")
        rows.append(values)
    return rows


def sorted_rows(rows: list[dict[str, str]]) -> list[list[tuple[str, str]]]:
    return sorted(sorted(row.items()) for row in rows)


def rows_from_nginx_log(template: str, origin: str, lines: list[str]) -> list[dict[str, str]]:
    """Beacons in an nginx JSON log, read with Template.parse (status 2xx/3xx only)."""
    rows = []
    for line in lines:
        record = json.loads(line)
        if 200 <= record["status"] < 400:
            values = pathbeacon.parse(template, origin + record["request"])
            values.pop("base")
            rows.append(values)
    return rows


def assert_stats(template: str, log: Path, base: str, sent: list[dict[str, str]],
                 lines: dict[str, int], agents: list[str] | None) -> None:
    """`pathbeacon decode` and `pathbeacon stats` read the log back to exactly ``sent``;
    ``agents`` are the user agents that sent them (``None``: the log has no client)."""
    fields = [name for name in pathbeacon.Template(template).fields if name != "base"]
    decoded = run_cli("decode", template, str(log), f"base={base}")
    assert decoded.returncode == 0, decoded.stderr
    rows = [json.loads(line) for line in decoded.stdout.splitlines()]
    assert all(row["status"] in (204, 302) and row["time"].endswith("Z") for row in rows)
    assert sorted_rows([{f: row[f] for f in fields} for row in rows]) == sorted_rows(sent)
    result = run_cli("stats", template, str(log), f"base={base}", "--by", ",".join(fields),
                     "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["lines"] == lines
    expected = Counter(tuple(row[f] for f in fields) for row in sent)
    assert {tuple(row[f] for f in fields): row["events"] for row in answer["rows"]} == expected
    # Every beacon came from this one machine, one address: one reporter a group, whatever
    # user agents it sent (k and reporters count addresses, never agents).
    assert {tuple(row[f] for f in fields): row["reporters"] for row in answer["rows"]} == {
        group: 1 if agents else None for group in expected}


def assert_beacon_answer(status: int, headers: dict[str, str], body: bytes,
                         expected: int = 204) -> None:
    assert status == expected
    assert body == b""
    assert "set-cookie" not in headers
    assert headers.get("cache-control") == "no-store"


def probe_others(server: servers.Server, base_path: str, beacon: str) -> int:
    """Requests that must get 404 under the base path; returns how many were made."""
    others = [
        ("POST", beacon),  # fits, but only GET and HEAD are beacons
        ("GET", beacon + "/extra"),  # one segment too many
        ("GET", beacon + "?x=1"),  # a query the template has no room for
        ("GET", beacon.rsplit("/", 1)[0]),  # one segment short
        ("GET", base_path + "/acme/1.0/li!nux/x86_64/3.11"),  # never in an encoded value
        ("GET", base_path + "/acme/1.0/linux/x86_64/3.11*"),  # nor is this
    ]
    for method, target in others:
        status, headers, _ = server.request(method, target, AGENT)
        assert status == 404, (method, target, status)
        assert headers.get("cache-control") == "no-store"
    return len(others)


# ---- nginx ------------------------------------------------------------------------------


def test_nginx_location_answers_fitting_beacons_and_logs_json(tmp_path: Path) -> None:
    port = servers.free_port()
    origin = f"http://127.0.0.1:{port}"
    base = origin + "/t"
    log = tmp_path / "beacons.log"
    result = run_cli("gateway", "nginx", TEMPLATE, f"base={base}", "--log", str(log))
    assert result.returncode == 0, result.stderr
    assert result.stdout == gateway.nginx(TEMPLATE, base, log=str(log))
    http_part, location = servers.split_nginx(result.stdout)
    assert "escape=json" in http_part
    with servers.nginx(tmp_path / "nginx", http_part, location, port, log) as server:
        urls = report_fleet(TEMPLATE, base, FLEET)
        beacon = urls[0][len(origin):]
        assert_beacon_answer(*server.request("HEAD", beacon, AGENT))
        assert_beacon_answer(*server.request("GET", beacon, AGENT))
        others = probe_others(server, "/t", beacon)
        # Outside the base path: not the gateway's business, and not in its log.
        assert server.request("GET", "/elsewhere/acme/1.0/linux/x86_64/3.11.7")[0] == 404
        lines = server.lines(len(FLEET) + 2 + others)
    assert len(lines) == len(FLEET) + 2 + others
    records = [json.loads(line) for line in lines]
    assert all(set(r) == {"time", "request", "status", "agent", "client"} for r in records)
    assert all(r["client"] == "127.0.0.1" for r in records)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", r["time"])
               for r in records)
    assert sorted(r["request"] for r in records if r["status"] == 204) == sorted(
        [u[len(origin):] for u in urls] + [beacon, beacon])
    assert {r["agent"] for r in records if r["status"] == 204} >= {AGENT}
    assert any(r["agent"].startswith("pathbeacon/") for r in records)
    sent = expected_rows(TEMPLATE, [*urls, origin + beacon, origin + beacon])
    assert sorted_rows(rows_from_nginx_log(TEMPLATE, origin, lines)) == sorted_rows(sent)
    assert_stats(TEMPLATE, log, base, sent, {"matched": len(sent), "bad_status": 1,
                 "other_path": others - 1, "malformed": 0},
                 [pathbeacon_agent()] * len(urls) + [AGENT, AGENT])


def test_nginx_server_block_redirects_downloads_without_client(tmp_path: Path) -> None:
    port = servers.free_port()
    origin = f"http://127.0.0.1:{port}"
    base = origin + "/dl"
    log = tmp_path / "downloads.log"
    result = run_cli("gateway", "nginx", DOWNLOAD, f"base={base}", "--log", str(log),
                     "--server", "127.0.0.1", "--listen", f"127.0.0.1:{port}",
                     "--download-to", "https://downloads.example/releases/", "--no-client")
    assert result.returncode == 0, result.stderr
    config = result.stdout
    assert "$remote_addr" not in config
    with servers.nginx(tmp_path / "nginx", config, None, port, log) as server:
        urls = report_fleet(DOWNLOAD, base, FLEET[:3])  # a 302 is a delivered report
        path = "/dl/acme-1.4.2-linux-x86_64.tar.gz"
        status, headers, _ = server.request("GET", path, AGENT)
        assert status == 302
        assert headers["location"] == "https://downloads.example/releases/acme-1.4.2-linux-x86_64.tar.gz"
        assert headers["cache-control"] == "no-store" and "set-cookie" not in headers
        assert server.request("HEAD", path, AGENT)[0] == 302
        assert server.request("GET", "/dl/acme-1.4.2-linux.tar.gz", AGENT)[0] == 404
        assert server.request("GET", "/dl/other-1.4.2-linux-x86_64.tar.gz", AGENT)[0] == 404
        # The whole server is the gateway's: any other path is a 404, logged.
        assert server.request("GET", "/index.html", AGENT)[0] == 404
        lines = server.lines(len(urls) + 5)
    records = [json.loads(line) for line in lines]
    assert len(records) == len(urls) + 5
    assert all(set(r) == {"time", "request", "status", "agent"} for r in records)
    assert "127.0.0.1" not in log.read_text()
    sent = expected_rows(DOWNLOAD, [*urls, origin + path, origin + path])
    assert sorted_rows(rows_from_nginx_log(DOWNLOAD, origin, lines)) == sorted_rows(sent)
    assert_stats(DOWNLOAD, log, base, sent, {"matched": len(sent), "bad_status": 0,
                 "other_path": 3, "malformed": 0}, None)


def test_nginx_server_block_at_the_root(tmp_path: Path) -> None:
    """A gateway on its own host, beacons right under /: every other path is a 404."""
    port = servers.free_port()
    origin = f"http://127.0.0.1:{port}"
    log = tmp_path / "root.log"
    result = run_cli("gateway", "nginx", "<base>/<package>/<version>", f"base={origin}",
                     "--server", "127.0.0.1", "--listen", f"127.0.0.1:{port}", "--log", str(log))
    assert result.returncode == 0, result.stderr
    with servers.nginx(tmp_path / "nginx", result.stdout, None, port, log) as server:
        assert_beacon_answer(*server.request("GET", "/acme/1.0", AGENT))
        assert server.request("GET", "/acme/1.0/x", AGENT)[0] == 404
        assert server.request("GET", "/", AGENT)[0] == 404
        assert len(server.lines(3)) == 3


@pytest.mark.parametrize("kind", ["nginx", "caddy"])
def test_a_template_with_a_query_is_matched_whole(tmp_path: Path, kind: str) -> None:
    """A pixel-style template: the query is part of the shape, in order, nothing added."""
    port = servers.free_port()
    origin = f"http://127.0.0.1:{port}"
    template = "https://static.example/a.png?x-pxid=<pixel_id>&v=<version>"
    log = tmp_path / "pixel.log"
    if kind == "nginx":
        result = run_cli("gateway", "nginx", template, "--server", "127.0.0.1",
                         "--listen", f"127.0.0.1:{port}", "--log", str(log))
        running = servers.nginx(tmp_path / "nginx", result.stdout, None, port, log)
    else:
        result = run_cli("gateway", "caddy", template, "--server", origin, "--log", str(log))
        running = servers.caddy(tmp_path / "caddy", result.stdout, port, log)
    assert result.returncode == 0, result.stderr
    with running as server:
        assert_beacon_answer(*server.request("GET", "/a.png?x-pxid=abc-123&v=1.2%2B3", AGENT))
        for bad in ("/a.png?v=1&x-pxid=abc", "/a.png?x-pxid=abc&v=1&more=2", "/a.png",
                    "/b.png?x-pxid=abc&v=1", "/a.png?x-pxid=&v=1"):
            assert server.request("GET", bad, AGENT)[0] == 404, bad
        assert len(server.lines(6)) == 6
    answer = json.loads(run_cli("stats", template, str(log), "--by", "pixel_id,version",
                                "--json").stdout)
    assert answer["rows"] == [{"pixel_id": "abc-123", "version": "1.2+3", "events": 1,
                               "reporters": 1}]
    assert answer["lines"] == {"matched": 1, "bad_status": 0, "other_path": 5, "malformed": 0}


# ---- Caddy ------------------------------------------------------------------------------


def caddy_rows(template: str, origin: str, lines: list[str]) -> list[dict[str, str]]:
    rows = []
    for line in lines:
        record = json.loads(line)
        if 200 <= record["status"] < 400:
            values = pathbeacon.parse(template, origin + record["request"]["uri"])
            values.pop("base")
            rows.append(values)
    return rows


def test_caddy_snippet_answers_fitting_beacons_and_logs_json(tmp_path: Path) -> None:
    port = servers.free_port()
    origin = f"http://127.0.0.1:{port}"
    base = origin + "/t"
    log = tmp_path / "beacons.log"
    result = run_cli("gateway", "caddy", TEMPLATE, f"base={base}", "--log", str(log))
    assert result.returncode == 0, result.stderr
    config = result.stdout
    # Pasted into a site block that serves other things too.
    site = f"{origin} {{\n{config}\trespond \"not telemetry\" 200\n}}\n"
    with servers.caddy(tmp_path / "caddy", site, port, log) as server:
        urls = report_fleet(TEMPLATE, base, FLEET)
        beacon = urls[0][len(origin):]
        assert_beacon_answer(*server.request("HEAD", beacon, AGENT))
        assert_beacon_answer(*server.request("GET", beacon, AGENT))
        others = probe_others(server, "/t", beacon)
        # The rest of the site is served as before, and stays out of the beacon log.
        status, _, body = server.request("GET", "/elsewhere", AGENT)
        assert (status, body) == (200, b"not telemetry")
        lines = server.lines(len(FLEET) + 2 + others)
    assert len(lines) == len(FLEET) + 2 + others
    records = [json.loads(line) for line in lines]
    assert all(r["request"]["remote_ip"] == "127.0.0.1" for r in records)
    assert not any(r["request"]["uri"] == "/elsewhere" for r in records)
    sent = expected_rows(TEMPLATE, [*urls, origin + beacon, origin + beacon])
    assert sorted_rows(caddy_rows(TEMPLATE, origin, lines)) == sorted_rows(sent)
    assert_stats(TEMPLATE, log, base, sent, {"matched": len(sent), "bad_status": 1,
                 "other_path": others - 1, "malformed": 0},
                 [pathbeacon_agent()] * len(urls) + [AGENT, AGENT])


def test_caddy_site_block_redirects_downloads_without_client(tmp_path: Path) -> None:
    port = servers.free_port()
    origin = f"http://127.0.0.1:{port}"
    base = origin + "/dl"
    log = tmp_path / "downloads.log"
    result = run_cli("gateway", "caddy", DOWNLOAD, f"base={base}", "--log", str(log),
                     "--server", origin, "--no-client",
                     "--download-to", "https://downloads.example/releases")
    assert result.returncode == 0, result.stderr
    config = result.stdout
    with servers.caddy(tmp_path / "caddy", config, port, log) as server:
        urls = report_fleet(DOWNLOAD, base, FLEET[:3])
        path = "/dl/acme-1.4.2-linux-x86_64.tar.gz"
        status, headers, _ = server.request("GET", path, AGENT)
        assert status == 302
        assert headers["location"] == "https://downloads.example/releases/acme-1.4.2-linux-x86_64.tar.gz"
        assert headers["cache-control"] == "no-store" and "set-cookie" not in headers
        assert server.request("GET", "/dl/acme-1.4.2-linux.tar.gz", AGENT)[0] == 404
        assert server.request("GET", "/index.html", AGENT)[0] == 404
        lines = server.lines(len(urls) + 3)
    records = [json.loads(line) for line in lines]
    assert len(records) == len(urls) + 3
    assert all("remote_ip" not in r["request"] and "remote_port" not in r["request"]
               for r in records)
    assert "127.0.0.1\"" not in log.read_text().replace(f"127.0.0.1:{port}", "")
    sent = expected_rows(DOWNLOAD, [*urls, origin + path])
    assert sorted_rows(caddy_rows(DOWNLOAD, origin, lines)) == sorted_rows(sent)
    assert_stats(DOWNLOAD, log, base, sent, {"matched": len(sent), "bad_status": 0,
                 "other_path": 2, "malformed": 0}, None)


# ---- the path match, without servers ----------------------------------------------------


facts = st.text(min_size=0, max_size=70)


@given(version=facts, os=facts, arch=facts)
def test_every_rendered_url_fits_and_nothing_longer_does(version: str, os: str, arch: str) -> None:
    for template in (TEMPLATE, DOWNLOAD, "<base>/v<version>/<os>+<arch>?py=<python>"):
        route = gateway.route(template, base="https://gw.example/base/")
        url = pathbeacon.render(template, base="https://gw.example/base", package="acme",
                                version=version, os=os, arch=arch, python="3.11")
        target = url[len("https://gw.example"):]
        match = re.fullmatch(route.pattern, target)
        assert match is not None
        assert match.group(gateway.REST) == target[len("/base"):]
        for bad in (target + "/x", target + "?q=1", "/other" + target, target.replace("/", "//", 2)):
            assert re.fullmatch(route.pattern, bad) is None


@pytest.mark.parametrize(("template", "base", "prefix", "base_path"), [
    ("<base>/<os>", "https://gw.example/t/", "/t/", "/t"),
    ("<base>/<os>", "/t", "/t/", "/t"),
    ("<base>/<os>", "https://gw.example", "/", ""),
    ("<base>/dl/acme-<version>.tgz", "https://gw.example/x", "/x/dl/", "/x"),
    ("<base>?v=<version>", "https://gw.example/p", "/p", "/p"),
    ("https://static.example/a.png?id=<pixel_id>", None, "/a.png", ""),
    ("https://static.example/v1/<os>", None, "/v1/", ""),
])
def test_route_prefix(template: str, base: str | None, prefix: str, base_path: str) -> None:
    route = gateway.route(template, base)
    assert (route.prefix, route.base_path) == (prefix, base_path)


@pytest.mark.parametrize("args", [
    ("gateway", "nginx", "<base>/<os>"),  # no base
    ("gateway", "nginx", "https://t.example/<os>", "base=https://gw.example"),
    ("gateway", "nginx", "<base>/<os>", "base=ftp://gw.example"),
    ("gateway", "nginx", "<base>/<os>", "host=gw.example"),
    ("gateway", "nginx", "<base>/<os>", "base=/t", "--log", "/var/log/$host.log"),
    ("gateway", "nginx", "<base>/<os>", "base=/t", "--server", "a b"),
    ("gateway", "nginx", "<base>/<os>", "base=/t", "--server", "x", "--listen", "80;"),
    ("gateway", "caddy", "<base>/<os>", "base=/t", "--log", "/var/log/{host}.log"),
    ("gateway", "caddy", "<base>/<os>", "base=/t", "--download-to", "not a url"),
    ("gateway", "caddy", "<base>/<OS>", "base=/t"),
    ("gateway", "apache", "<base>/<os>", "base=/t"),
    ("gateway", "nginx", "<base>/<os>", "base=https://gw.example/a%22b"),
    ("gateway", "caddy", "<base>/<os>", "base=https://gw.example/a%FFb"),
    ("gateway", "caddy", "<base>/<os>", "base=https://gw.example/t", "--server", "x{y}"),
])
def test_bad_input_is_one_line_and_exit_2(args: tuple[str, ...]) -> None:
    result = run_cli(*args)
    assert result.returncode == 2, result.stdout
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.startswith(("pathbeacon: error: ", "usage:"))


raw_values = st.text(alphabet="aZ09._~-%2FfC3A9/!+ ", min_size=0, max_size=12)


@given(st.lists(raw_values, min_size=3, max_size=3))
def test_whatever_the_decoder_counts_the_gateway_answers(raws: list[str]) -> None:
    """A target the decoder's fits rule takes is one the gateway answers 204 (never 404)."""
    from pathbeacon.analysis.matcher import Matcher

    for template in (DOWNLOAD, "<base>/<os>/<arch>/<version>", "<base>/v<version>/<os>+<arch>"):
        matcher = Matcher(pathbeacon.Template(template), "/base")
        pattern = gateway.route(template, "/base").pattern
        literals = pathbeacon.Template(template).literals
        target = "/base" + literals[1] + "".join(
            raw + literal for raw, literal in zip(raws, literals[2:]))
        if matcher.match(target) is not None:
            assert re.fullmatch(pattern, target), target


# ---- hostile values, hosts and literals (issue 13, item 8) -------------------------------

# Values nginx decodes (%2F) and resolves (dot segments) before choosing a location: the
# gateway must still answer and log each, as it matches the target as sent. ("../../../x"
# leaves /t/ altogether once resolved; "/../../../.." would climb above the root, which nginx
# refuses with 400 while it reads the request line, so sanitise() writes such pieces as __.)
ODD_VALUES = ["/..", "../x", "%2F", "../../../x", "a/./b", "a//b", "..", ".", "x/..%2F..",
              "\\..\\", "/%2e%2e/", "linux", "/../../../..", "../../../../../x",
              "a/../../../../../../b"]


@pytest.mark.parametrize("mode", ["snippet", "server"])
def test_nginx_answers_and_logs_values_it_would_rewrite(tmp_path: Path, mode: str) -> None:
    template = "<base>/<package>/<version>/<os>"
    port = servers.free_port()
    origin = f"http://127.0.0.1:{port}"
    base = origin + "/t"
    log = tmp_path / "beacons.log"
    options = ["--server", "127.0.0.1", "--listen", f"127.0.0.1:{port}"] if mode == "server" \
        else []
    result = run_cli("gateway", "nginx", template, f"base={base}", "--log", str(log), *options)
    assert result.returncode == 0, result.stderr
    if mode == "server":
        running = servers.nginx(tmp_path / "nginx", result.stdout, None, port, log)
    else:
        running = servers.nginx(tmp_path / "nginx", *servers.split_nginx(result.stdout), port,
                                log)
    urls = [pathbeacon.render(template, base=base, package="acme", version="1.0", os=value)
            for value in ODD_VALUES]
    with running as server:
        answers = {url: server.request("GET", url[len(origin):], AGENT)[0] for url in urls}
        lines = server.lines(len(urls))
    assert answers == {url: 204 for url in urls}
    assert sorted(json.loads(line)["request"] for line in lines) == sorted(
        url[len(origin):] for url in urls)
    sent = expected_rows(template, urls)
    assert_stats(template, log, base, sent, {"matched": len(urls), "bad_status": 0,
                 "other_path": 0, "malformed": 0}, [AGENT] * len(urls))


def test_nginx_takes_two_gateways_for_one_template_and_path_on_two_hosts(
        tmp_path: Path) -> None:
    """prod and staging in one nginx: each config's log_format has its own name."""
    import http.client

    port = servers.free_port()
    configs, logs = [], {}
    for host in ("prod.example", "staging.example"):
        logs[host] = tmp_path / f"{host}.log"
        result = run_cli("gateway", "nginx", TEMPLATE, f"base=https://{host}/t", "--server",
                         host, "--listen", f"127.0.0.1:{port}", "--log", str(logs[host]))
        assert result.returncode == 0, result.stderr
        configs.append(result.stdout)
    target = "/t/acme/1.0/linux/x86_64/3.12"
    with servers.nginx(tmp_path / "nginx", "\n".join(configs), None, port,
                       logs["prod.example"]):
        for host in ("prod.example", "staging.example", "staging.example"):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", target, headers={"Host": host, "User-Agent": AGENT})
            assert connection.getresponse().status == 204
            connection.close()
        prod = servers.Server(port, logs["prod.example"]).lines(1)
        staging = servers.Server(port, logs["staging.example"]).lines(2)
    assert [json.loads(line)["request"] for line in prod] == [target]
    assert [json.loads(line)["request"] for line in staging] == [target, target]


def test_caddy_on_another_port_logs_a_host_named_without_its_port(tmp_path: Path) -> None:
    """A beacon answered 204 is a beacon logged, whatever the Host header's spelling."""
    import http.client

    port = servers.free_port()
    site = f"http://localhost:{port}"
    log = tmp_path / "beacons.log"
    result = run_cli("gateway", "caddy", TEMPLATE, f"base={site}/t", "--server", site,
                     "--log", str(log))
    assert result.returncode == 0, result.stderr
    target = "/t/acme/1.0/linux/x86_64/3.12"
    answers = {}
    with servers.caddy(tmp_path / "caddy", result.stdout, port, log) as server:
        for host in (f"localhost:{port}", "localhost", "LOCALHOST", "other.example"):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", target, headers={"Host": host, "User-Agent": AGENT})
            answers[host] = connection.getresponse().status
            connection.close()
        lines = server.lines(4)
    assert answers == {f"localhost:{port}": 204, "localhost": 204, "LOCALHOST": 204,
                       "other.example": 404}
    records = [json.loads(line) for line in lines]
    assert sorted(r["request"]["host"] for r in records) == sorted(answers)
    assert sorted(r["status"] for r in records) == [204, 204, 204, 404]


@pytest.mark.parametrize(("args", "message", "shown", "at"), [
    (("<base>/../<os>", "base=https://gw.example"), "a '..' segment", "<base>/../<os>", 7),
    (("<base>/a/./<os>", "base=https://gw.example"), "a '.' segment", "<base>/a/./<os>", 9),
    (("<base>/%2e%2E/<os>", "base=https://gw.example"), "a '%2e%2E' segment",
     "<base>/%2e%2E/<os>", 7),
    (("https://gw.example/t/%2E./<os>",), "a '%2E.' segment",
     "https://gw.example/t/%2E./<os>", 21),
    (("https://gw.example:99999/<os>",), "the port must be at most 65535",
     "https://gw.example:99999/<os>", 19),
    (("<base>/%zz/<os>", "base=https://gw.example"), "'%' must start an escape",
     "<base>/%zz/<os>", 7),
    (("https://gw.example/a.png?id=<os>&x='1'",), "\"'\" in a query",
     "https://gw.example/a.png?id=<os>&x='1'", 35),
    (("<base>/<os>", "base=https://gw.example:99999"), "the port must be at most 65535",
     "https://gw.example:99999", 19),
    (("<base>/<os>", "base=https://gw.example/t/../x"), "a '..' segment",
     "https://gw.example/t/../x", 21),
    (("<base>/<os>", "base=https://gw.example/t/%2e"), "a '%2e' segment",
     "https://gw.example/t/%2e", 21),
    (("<base>/<os>", "base=https://gw.example/%zz"), "'%' must start an escape",
     "https://gw.example/%zz", 19),
    (("<base>/<os>", "base=/t/./x"), "a '.' segment", "/t/./x", 3),
])
def test_literals_and_bases_url_parsers_rewrite_are_refused_with_a_caret(
        args: tuple[str, ...], message: str, shown: str, at: int) -> None:
    for command in (("gateway", "nginx"), ("gateway", "caddy"), ("render",)):
        if command == ("render",) and args[-1].startswith("base=/"):
            continue  # render takes a URL base only
        result = run_cli(*command, *args)
        assert result.returncode == 2, (command, result.stdout)
        assert result.stdout == "" and message in result.stderr, result.stderr
        assert f"(at position {at})\n  {shown}\n  {' ' * at}^\n" in result.stderr, result.stderr
