"""The drop-in ScarfEventLogger against a loopback server; pixel helpers; explain()."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import pathbeacon
from pathbeacon import DeliveryError, ScarfEventLogger, scarf

from . import servers
from .conftest import Collector, clean_env, run_cli, run_python


def test_constructor_mirrors_the_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    logger = ScarfEventLogger("https://acme.gateway.scarf.sh/events/")
    assert logger.endpoint_url == "https://acme.gateway.scarf.sh/events"
    assert logger.timeout == ScarfEventLogger.DEFAULT_TIMEOUT == 3.0
    assert logger.verbose is False
    assert ScarfEventLogger("https://x.example", timeout=1.5).timeout == 1.5
    for value in ("1", "true", "TRUE"):
        monkeypatch.setenv("SCARF_VERBOSE", value)
        assert ScarfEventLogger("https://x.example").verbose is True
    monkeypatch.setenv("SCARF_VERBOSE", "yes")
    assert ScarfEventLogger("https://x.example").verbose is False
    assert ScarfEventLogger("https://x.example", verbose=True).verbose is True
    for bad in ("", None):
        with pytest.raises(ValueError):
            ScarfEventLogger(bad)  # type: ignore[arg-type]


def test_log_event_posts_json(collector: Collector) -> None:
    logger = ScarfEventLogger(collector.url + "/events")
    properties = {"event": "import", "package": "acme", "details": {"version": "1.0", "n": [1]}}
    assert logger.log_event(properties) is True
    (request,) = collector.settle(0.2)
    assert request.method == "POST" and request.path == "/events"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == properties
    facts = pathbeacon.facts()
    assert request.headers["User-Agent"] == (
        f"pathbeacon/{pathbeacon.__version__} (platform={facts['os']}; arch={facts['arch']}; "
        f"python={facts['python']})"
    )


def test_empty_properties_are_allowed(collector: Collector) -> None:
    assert ScarfEventLogger(collector.url).log_event({}) is True
    assert json.loads(collector.settle(0.2)[0].body) == {}


@pytest.mark.parametrize("variable", ["DO_NOT_TRACK", "SCARF_NO_ANALYTICS",
                                      "PATHBEACON_NO_ANALYTICS"])
def test_opt_out_returns_false_and_sends_nothing(collector: Collector,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 variable: str) -> None:
    monkeypatch.setenv(variable, "1")
    assert ScarfEventLogger(collector.url, raise_on_error=True).log_event({"a": 1}) is False
    assert collector.settle(0.3) == []


@pytest.mark.parametrize("properties", [{"f": object()}, {"s": {1, 2}}, {"nan": math.nan},
                                        {"b": b"bytes"}])
def test_unserialisable_properties_raise_before_any_socket(collector: Collector,
                                                           properties: dict[str, object]) -> None:
    with pytest.raises((TypeError, ValueError)):
        ScarfEventLogger(collector.url).log_event(properties)
    assert collector.settle(0.3) == []


def test_circular_properties_raise_value_error(collector: Collector) -> None:
    loop: dict[str, object] = {}
    loop["self"] = loop
    with pytest.raises(ValueError):
        ScarfEventLogger(collector.url).log_event(loop)


@pytest.mark.parametrize("status", [500, 404, 302, 301])
def test_non_2xx_returns_false_or_raises(collector: Collector, status: int) -> None:
    collector.statuses = [status]
    collector.headers = {"Location": collector.url + "/elsewhere"}
    assert ScarfEventLogger(collector.url).log_event({"a": 1}) is False
    with pytest.raises(DeliveryError) as caught:
        ScarfEventLogger(collector.url, raise_on_error=True).log_event({"a": 1})
    assert caught.value.status == status
    assert len(collector.settle(0.3)) == 2  # one request each: no retries, no redirects


def test_connection_error_returns_false_or_raises(refused: str) -> None:
    assert ScarfEventLogger(refused).log_event({"a": 1}) is False
    with pytest.raises(DeliveryError) as caught:
        ScarfEventLogger(refused, raise_on_error=True).log_event({"a": 1})
    assert caught.value.status is None and isinstance(caught.value, OSError)


def test_per_call_timeout_overrides_the_default(collector: Collector) -> None:
    collector.delay = 2.0
    logger = ScarfEventLogger(collector.url, timeout=10)
    started = time.monotonic()
    assert logger.log_event({"a": 1}, timeout=0.3) is False
    assert time.monotonic() - started < 1.8
    slow = ScarfEventLogger(collector.url, timeout=0.3)
    started = time.monotonic()
    assert slow.log_event({"a": 1}) is False
    assert time.monotonic() - started < 1.8


def test_verbose_prints_configuration_event_and_outcome(
    collector: Collector, capsys: pytest.CaptureFixture[str]
) -> None:
    ScarfEventLogger(collector.url, verbose=True).log_event({"event": "x"})
    out = capsys.readouterr().out
    assert "Scarf Logger Configuration:" in out and f"Endpoint URL: {collector.url}" in out
    assert "User-Agent: pathbeacon/" in out
    assert "Properties: {'event': 'x'}" in out and "Status: 204" in out


def test_importing_and_constructing_the_logger_does_not_import_urllib3() -> None:
    code = (
        "import sys, pathbeacon; l = pathbeacon.ScarfEventLogger('https://x.example');"
        "print(sorted(m for m in ('urllib3', 'json', 'typing', 're') if m in sys.modules))"
    )
    result = run_python(code)
    assert result.stdout.strip() == "[]", result.stderr


# ---- pixels ---------------------------------------------------------------------------

SEGMENT = r"(?:[A-Za-z0-9._~-]|%[0-9A-F]{2})+"


def test_pixel_url_with_params() -> None:
    assert pathbeacon.pixel_url("abc-123") == "https://static.scarf.sh/a.png?x-pxid=abc-123"
    url = pathbeacon.pixel_url("abc", page="docs/install", v="1 & 2")
    assert url == "https://static.scarf.sh/a.png?x-pxid=abc&page=docs%2Finstall&v=1_%26_2"


@pytest.mark.parametrize("hostile", ['"><script>alert(1)</script>', "a&x-pxid=evil#frag",
                                     "\x00\n) ![x](y", "é/../..", "`|`"])
def test_pixel_outputs_contain_hostile_values(hostile: str) -> None:
    url = pathbeacon.pixel_url(hostile, ref=hostile)
    assert re.fullmatch(rf"https://static\.scarf\.sh/a\.png\?x-pxid={SEGMENT}&ref={SEGMENT}", url)
    html = pathbeacon.pixel_html(hostile, ref=hostile)
    assert html == ('<img referrerpolicy="no-referrer-when-downgrade" '
                    f'src="{url.replace("&", "&amp;")}" alt="" />')
    assert html.count("<") == 1 and html.count('"') == 6
    assert _img_attributes(html)["src"] == url
    markdown = pathbeacon.pixel_markdown(hostile, ref=hostile)
    assert markdown == f"![]({url})"
    assert markdown.count("(") == 1 and markdown.count(")") == 1


def _img_attributes(markup: str) -> dict[str, str | None]:
    """The attributes of the one <img> tag in ``markup``, as Python's html.parser reads them."""
    from html.parser import HTMLParser

    found: list[dict[str, str | None]] = []

    class Reader(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append(dict(attrs))

        handle_startendtag = handle_starttag

    reader = Reader()
    reader.feed(markup)
    reader.close()
    (attrs,) = found
    return attrs


@pytest.mark.parametrize("names", [("copy", "reg", "not", "lt"), ("amp", "gt", "quot"),
                                   ("COPY", "pound", "para", "sect", "yen")])
def test_pixel_html_src_reads_back_as_the_url(names: tuple[str, ...]) -> None:
    params = {name: f"v{i}" for i, name in enumerate(names)}
    url = pathbeacon.pixel_url("abc-123", **params)
    html = pathbeacon.pixel_html("abc-123", **params)
    assert _img_attributes(html) == {"referrerpolicy": "no-referrer-when-downgrade",
                                     "src": url, "alt": ""}


@pytest.mark.parametrize("name", ["x-pxid", "X-PxId"])
def test_pixel_refuses_a_param_named_like_the_id(name: str) -> None:
    with pytest.raises(ValueError, match="x-pxid"):
        pathbeacon.pixel_url("abc", **{name: "evil"})
    with pytest.raises(ValueError, match="x-pxid"):
        pathbeacon.pixel_html("abc", **{name: "evil"})
    result = run_cli("pixel", "abc", f"{name}=evil")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("pathbeacon: error: ") and "x-pxid" in result.stderr


def test_pixel_needs_an_id() -> None:
    with pytest.raises(ValueError, match="pixel_id"):
        pathbeacon.pixel_url("")


def test_pixel_cli() -> None:
    assert run_cli("pixel", "abc", "v=1").stdout.strip() == \
        "https://static.scarf.sh/a.png?x-pxid=abc&v=1"
    assert run_cli("pixel", "abc", "--html").stdout.startswith("<img referrerpolicy=")
    assert run_cli("pixel", "abc", "--markdown").stdout.strip() == \
        "![](https://static.scarf.sh/a.png?x-pxid=abc)"
    assert run_cli("pixel", "abc", "--html", "--markdown").returncode == 2


def test_urls_cli_lines_and_json() -> None:
    args = ("urls", "<base>/<os>/<arch>", "base=https://dl.example", "os=linux,macos",
            "arch=x86_64,aarch64")
    lines = run_cli(*args).stdout.split()
    assert lines == ["https://dl.example/linux/x86_64", "https://dl.example/linux/aarch64",
                     "https://dl.example/macos/x86_64", "https://dl.example/macos/aarch64"]
    assert json.loads(run_cli(*args, "--json").stdout) == lines


# ---- explain ----------------------------------------------------------------------------


def test_explain_names_host_fields_values_never_sent_and_opt_outs() -> None:
    text = pathbeacon.explain("default", base="https://acme.gateway.scarf.sh/t", package="my-pkg")
    facts = pathbeacon.facts()
    assert text.startswith("## Telemetry\n")
    assert "`acme.gateway.scarf.sh`" in text
    for field in ("package", "version", "os", "distro", "arch", "runtime", "ci", "container"):
        assert re.search(rf"^\| {field} \| [^|]+ \| `", text, re.M), field
    assert "| os | " in text and f"`{facts['os']}`" in text
    assert "| base |" not in text
    assert "Never sent:" in text and "host name" in text
    for variable in ("DO_NOT_TRACK", "SCARF_NO_ANALYTICS", "PATHBEACON_NO_ANALYTICS",
                     "MY_PKG_NO_ANALYTICS", "SCARF_ANALYTICS=false"):
        assert variable in text


def test_explain_keeps_hostile_values_inside_their_cell() -> None:
    text = pathbeacon.explain("<base>/<engine>", base="https://g.example", engine="a|b`c\nd")
    row = next(line for line in text.splitlines() if line.startswith("| engine |"))
    assert row.count(" | ") == 2 and row.endswith("|")


def test_explain_cli_matches_the_function() -> None:
    args = ("explain", "risingwave", "base=https://g.example", "package=acme")
    result = run_cli(*args)
    assert result.returncode == 0
    assert result.stdout == pathbeacon.explain("risingwave", base="https://g.example",
                                               package="acme")


@pytest.mark.parametrize("endpoint", ["not a url", "http://[::1", "ftp://example.invalid/x",
                                      "http://127.0.0.1:99999/x"])
def test_malformed_endpoint_is_a_failed_delivery_not_an_exception(endpoint: str) -> None:
    assert ScarfEventLogger(endpoint).log_event({"a": 1}) is False
    with pytest.raises(DeliveryError):
        ScarfEventLogger(endpoint, raise_on_error=True).log_event({"a": 1})


def _markdown(text: str) -> list[object]:
    """``text`` as a CommonMark parser with GFM tables reads it (a flat token list)."""
    markdown_it = pytest.importorskip("markdown_it")
    tokens = markdown_it.MarkdownIt("commonmark").enable("table").parse(text)
    flat: list[object] = []
    for token in tokens:
        flat.append(token)
        flat.extend(token.children or [])
    return flat


HOSTILE_NAME = "acme\n# Owned\n[click](https://evil.example) <b>x</b> `code` | ||"


def test_explain_escapes_markdown_in_package_names_and_facts() -> None:
    text = pathbeacon.explain("<base>/<package>/<engine>", base="https://g.example",
                              package=HOSTILE_NAME, engine="[e](https://evil.example)\n## H")
    tokens = _markdown(text)
    kinds = [t.type for t in tokens]  # type: ignore[attr-defined]
    headings = [t for t in tokens if t.type == "heading_open"]  # type: ignore[attr-defined]
    assert len(headings) == 1  # "## Telemetry" and nothing else
    assert "link_open" not in kinds and "html_inline" not in kinds and "html_block" not in kinds
    rows = [t for t in tokens if t.type == "tr_open"]  # type: ignore[attr-defined]
    cells = [t for t in tokens if t.type == "td_open"]  # type: ignore[attr-defined]
    assert len(cells) == 3 * (len(rows) - 1)  # header row + one row per field, 3 cells each
    spans = [t.content for t in tokens if t.type == "code_inline"]  # type: ignore[attr-defined]
    assert any(span.startswith("acme # Owned [click](https://evil.example)") for span in spans)


def test_explain_describes_custom_fields_by_the_package() -> None:
    text = pathbeacon.explain("<base>/<package>/<engine>", base="https://g.example",
                              package="acme", engine="spark")
    assert "| engine | a value set by `acme` | `spark` |" in text
    anonymous = pathbeacon.explain("<base>/<engine>", base="https://g.example")
    assert "| engine | a value set by the package | " in anonymous
    assert "This package" not in text


def test_explain_describes_the_scarf_pixel_as_a_browser_image() -> None:
    text = pathbeacon.explain("scarf-pixel", pixel_id="abc-123")
    assert "browser" in text and "static.scarf.sh" in text
    assert "per process" not in text and "DO_NOT_TRACK" not in text
    assert "| pixel_id |" in text


def test_explain_mentions_interval_state_next_to_opt_out() -> None:
    plain = pathbeacon.explain("default", base="https://g.example", package="acme")
    assert "cache" not in plain and "per process" in plain
    text = pathbeacon.explain("default", base="https://g.example", package="acme",
                              interval="1d")
    assert "at most once a day" in text and "PATHBEACON_CACHE_DIR" in text
    assert "request at most once a day per user account on a machine (in the background, " \
        "never delaying" in text
    paragraphs = text.split("\n\n")
    opt_out = next(i for i, p in enumerate(paragraphs) if p.startswith("**Opting out:**"))
    assert paragraphs[opt_out + 1].startswith("**Stored on your machine:**")
    assert "PATHBEACON_DRY_RUN=1 PATHBEACON_DEBUG=1" in text
    assert "every 12 hours" in pathbeacon.explain("<base>/x", base="https://g.example",
                                                   interval="12h")
    with pytest.raises(ValueError, match="interval"):
        pathbeacon.explain("<base>/x", base="https://g.example", interval="soon")


def test_explain_names_the_user_agent_that_is_sent() -> None:
    from pathbeacon.report import user_agent

    text = pathbeacon.explain("default", base="https://g.example", package="acme")
    assert f"`User-Agent: {user_agent()}`" in text
# ---- keep-alive, bounded calls, odd timeouts, quiet failures ----------------------------


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> servers.Authority:
    return servers.make_ca(tmp_path_factory.mktemp("ca"))


def test_one_logger_keeps_one_connection_across_events_and_threads() -> None:
    with servers.collector_server() as collector:
        collector.statuses = [200]  # conftest's 204 carries a body, which keep-alive trips on
        logger = ScarfEventLogger(collector.url + "/events")
        assert all(logger.log_event({"i": i}) for i in range(5))
        assert collector.connections == 1
        results: list[bool] = []
        threads = [threading.Thread(target=lambda: results.extend(
            logger.log_event({"t": 1}) for _ in range(5))) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert results == [True] * 30 and len(collector.settle(0.2)) == 35
        assert collector.connections <= 7  # a few in parallel, not one per event


def test_keep_alive_over_tls(ca: servers.Authority, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(servers.trusted_bundle(ca, tmp_path)))
    with servers.collector_server(ca) as collector:
        collector.statuses = [200]
        logger = ScarfEventLogger(collector.url, raise_on_error=True)
        assert logger.log_event({"a": 1}) and logger.log_event({"a": 2})
        assert collector.connections == 1 and len(collector.settle(0.2)) == 2


@pytest.mark.parametrize("serve", [servers.TRICKLE_STATUS, servers.TRICKLE_HEADERS,
                                   servers.CONTINUE_FLOOD, servers.HEADER_FLOOD,
                                   servers.blackhole],
                         ids=["trickled-status", "trickled-headers", "continue-flood",
                              "header-flood", "blackhole"])
def test_log_event_returns_false_within_its_timeout(serve: servers.Serve) -> None:
    with servers.running(serve) as server:
        logger = ScarfEventLogger(server.url, timeout=1)
        started = time.monotonic()
        assert logger.log_event({"a": 1}) is False
        assert time.monotonic() - started < 1.6
        started = time.monotonic()
        with pytest.raises(DeliveryError):
            ScarfEventLogger(server.url, raise_on_error=True).log_event({"a": 1}, timeout=0.5)
        assert time.monotonic() - started < 1.1
        assert len(server.heads) == 2  # one request per event, never repeated


def test_a_trickled_body_still_returns_on_time() -> None:
    with servers.running(servers.TRICKLE_BODY) as server:
        started = time.monotonic()
        assert ScarfEventLogger(server.url, timeout=1).log_event({"a": 1}) is True
        assert time.monotonic() - started < 1.6


@pytest.mark.parametrize(("value", "error"), [(0, ValueError), (-1, ValueError),
                                              (math.nan, ValueError), (-math.inf, ValueError),
                                              ("3", TypeError), (True, TypeError),
                                              (None, None), ([3], TypeError)])
def test_odd_timeouts_are_refused_clearly(value: object, error: type[Exception] | None,
                                          collector: Collector) -> None:
    if error is None:  # None means the default, in both places
        assert ScarfEventLogger(collector.url, timeout=None).timeout == 3.0  # type: ignore[arg-type]
        assert ScarfEventLogger(collector.url).log_event({}, timeout=None) is True
        return
    with pytest.raises(error, match="timeout must be a number of seconds"):
        ScarfEventLogger(collector.url, timeout=value)  # type: ignore[arg-type]
    with pytest.raises(error, match="timeout must be a number of seconds"):
        ScarfEventLogger(collector.url).log_event({"a": 1}, timeout=value)  # type: ignore[arg-type]
    assert collector.settle(0.2) == []


def test_huge_timeouts_are_clamped(collector: Collector) -> None:
    for value in (math.inf, 1e300, 3600):
        assert ScarfEventLogger(collector.url, timeout=value).timeout == \
            ScarfEventLogger.MAX_TIMEOUT
    assert ScarfEventLogger(collector.url).log_event({"a": 1}, timeout=math.inf) is True


@pytest.mark.filterwarnings("ignore:A test tried to use socket")
def test_blocked_sockets_are_a_failed_event(socket_disabled: None) -> None:
    assert ScarfEventLogger("http://127.0.0.1:9/e").log_event({"a": 1}) is False
    with pytest.raises(DeliveryError, match="SocketBlockedError"):
        ScarfEventLogger("http://127.0.0.1:9/e", raise_on_error=True).log_event({"a": 1})


def test_proxy_with_credentials(collector: Collector, monkeypatch: pytest.MonkeyPatch) -> None:
    log = servers.ProxyLog()
    with servers.running(servers.proxy(log, "me", "pa:ss")) as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://me:pa%3Ass@127.0.0.1:{proxy.port}")
        assert ScarfEventLogger(collector.url + "/e").log_event({"a": 1}) is True
        assert log.seen == [("POST", collector.url + "/e", True)]
        assert json.loads(collector.settle(0.2)[0].body) == {"a": 1}
        monkeypatch.setenv("HTTP_PROXY", f"http://me:wrong-secret@127.0.0.1:{proxy.port}")
        with pytest.raises(DeliveryError) as caught:
            ScarfEventLogger(collector.url + "/e", raise_on_error=True).log_event({"a": 1})
        assert caught.value.status == 407 and "wrong-secret" not in str(caught.value)


VERBOSE = ("import pathbeacon, sys\n"
           "logger = pathbeacon.ScarfEventLogger({url!r}, verbose=True)\n"
           "{before}\n"
           "print(logger.log_event({{'name': 'caf\\u00e9 \\u2603'}}), file=sys.stderr)\n")


@pytest.mark.parametrize("before", ["sys.stdout.close()", "sys.stdout = None",
                                    "import os; os.close(1)"])
def test_verbose_never_raises_with_a_closed_stdout(collector: Collector, before: str) -> None:
    result = run_python(VERBOSE.format(url=collector.url, before=before))
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().endswith("True") and "Traceback" not in result.stderr


def test_verbose_never_raises_on_an_ascii_stdout(collector: Collector) -> None:
    env = clean_env(PYTHONIOENCODING="ascii")
    result = run_python(VERBOSE.format(url=collector.url, before=""), env=env)
    assert result.returncode == 0 and result.stderr.strip() == "True", result.stderr
    assert "caf\\xe9 \\u2603" in result.stdout and "Status: 204" in result.stdout


def test_verbose_never_raises_on_a_broken_pipe(collector: Collector) -> None:
    code = VERBOSE.format(url=collector.url, before="")
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=clean_env())
    assert process.stdout is not None
    process.stdout.close()  # the reader is gone before the logger prints
    _, err = process.communicate(timeout=60)
    assert b"True" in err and b"Traceback" not in err, err


def test_user_agent_keeps_scarf_sdk_style() -> None:
    facts = pathbeacon.facts()
    assert scarf.user_agent() == (
        f"pathbeacon/{pathbeacon.__version__} (platform={facts['os']}; arch={facts['arch']}; "
        f"python={facts['python']})")


def test_a_forked_child_opens_its_own_connection(collector: Collector) -> None:
    code = (f"import os, pathbeacon\n"
            f"logger = pathbeacon.ScarfEventLogger({collector.url!r})\n"
            f"assert logger.log_event({{'who': 'parent'}})\n"
            f"pid = os.fork()\n"
            f"if pid == 0:\n"
            f"    os._exit(0 if logger.log_event({{'who': 'child'}}) else 1)\n"
            f"_, status = os.waitpid(pid, 0)\n"
            f"assert os.waitstatus_to_exitcode(status) == 0\n"
            f"assert logger.log_event({{'who': 'parent'}})\n")
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert sorted(json.loads(r.body)["who"] for r in collector.settle(0.3)) == \
        ["child", "parent", "parent"]


def test_a_server_closing_each_connection_still_gets_every_event() -> None:
    with servers.collector_server() as collector:
        collector.statuses = [200]
        collector.headers = {"Connection": "close"}
        logger = ScarfEventLogger(collector.url)
        assert [logger.log_event({"i": i}) for i in range(3)] == [True] * 3
        assert collector.connections == 3 and len(collector.settle(0.2)) == 3


@pytest.mark.parametrize("through_proxy", [False, True], ids=["direct", "tunnel"])
def test_tls_that_never_starts_ends_on_time(through_proxy: bool,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # a server (or a proxy asked to CONNECT) that accepts and never says a word
    with servers.running(servers.blackhole) as server:
        url = f"https://127.0.0.1:{server.port}/e"
        if through_proxy:
            monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{server.port}")
            url = "https://127.0.0.1:9/e"
        started = time.monotonic()
        assert ScarfEventLogger(url, timeout=0.8).log_event({"a": 1}) is False
        assert time.monotonic() - started < 0.8 + 0.6


def test_log_event_ends_on_time_while_a_name_look_up_hangs(collector: Collector) -> None:
    from .test_transport import HUNG_RESOLVER

    code = HUNG_RESOLVER + f"""
import pathbeacon
logger = pathbeacon.ScarfEventLogger("http://collector.pathbeacon.test/e", timeout=0.5)
for _ in range(2):
    started = time.monotonic()
    print(logger.log_event({{"a": 1}}), round(time.monotonic() - started, 2))
print(pathbeacon.ScarfEventLogger({collector.url!r}, timeout=0.5).log_event({{"a": 2}}))
"""
    result = run_python(code, timeout=30)
    lines = result.stdout.splitlines()
    assert len(lines) == 3, result.stderr
    for line in lines[:2]:
        ok, took = line.split()
        assert ok == "False" and float(took) < 0.5 + 0.6
    assert lines[2] == "True"  # an address needs no look-up


def test_verbose_survives_properties_whose_repr_raises(collector: Collector,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    class Loud(dict):  # type: ignore[type-arg]
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert ScarfEventLogger(collector.url, verbose=True).log_event(Loud(a=1)) is True
    assert "cannot be shown" in capsys.readouterr().out
    assert json.loads(collector.settle(0.2)[0].body) == {"a": 1}


def test_https_through_a_proxy_tunnel_with_credentials(ca: servers.Authority, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(servers.trusted_bundle(ca, tmp_path)))
    log = servers.ProxyLog()
    with servers.collector_server(ca) as collector, \
            servers.running(servers.proxy(log, "me", "s3cret")) as proxy:
        collector.statuses = [200]
        monkeypatch.setenv("HTTPS_PROXY", f"http://me:s3cret@127.0.0.1:{proxy.port}")
        logger = ScarfEventLogger(collector.url + "/e", raise_on_error=True)
        assert logger.log_event({"a": 1}) and logger.log_event({"a": 2})
        assert log.seen == [("CONNECT", f"127.0.0.1:{collector.port}", True)]  # one tunnel, kept
        assert [json.loads(r.body) for r in collector.settle(0.2)] == [{"a": 1}, {"a": 2}]


# ---- issue 16: credentials in the endpoint, deep properties, capture() ------------------


def test_credentials_in_the_endpoint_are_sent_as_basic_auth_and_never_shown(
        collector: Collector, capsys: pytest.CaptureFixture[str]) -> None:
    import base64

    endpoint = f"http://bob:pa%40ss%3Aw0rd@127.0.0.1:{collector.port}/events"
    logger = ScarfEventLogger(endpoint, verbose=True)
    assert logger.log_event({"a": 1}) is True
    (request,) = collector.wait_for(1)
    assert request.path == "/events"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"bob:pa@ss:w0rd").decode()
    shown = capsys.readouterr().out + repr(logger)
    assert "pa%40ss" not in shown and "pa@ss" not in shown and "***@127.0.0.1" in shown


def test_a_user_without_a_password_sends_no_authorization_as_requests_does(
        collector: Collector) -> None:
    assert ScarfEventLogger(f"http://bob@127.0.0.1:{collector.port}/e").log_event({}) is True
    (request,) = collector.wait_for(1)
    assert "Authorization" not in request.headers and request.path == "/e"


def test_a_failed_delivery_with_credentials_never_shows_them(refused: str) -> None:
    endpoint = refused.replace("http://", "http://bob:s3cret@") + "/e"
    with pytest.raises(DeliveryError) as caught:
        ScarfEventLogger(endpoint, raise_on_error=True).log_event({})
    assert "s3cret" not in str(caught.value) and "bob" not in str(caught.value)


def test_deeply_nested_properties_raise_value_error_before_any_socket(collector: Collector) -> None:
    deep: dict[str, object] = {}
    inner = deep
    for _ in range(100_000):
        inner["x"] = {}
        inner = inner["x"]  # type: ignore[assignment]
    with pytest.raises(ValueError, match="nested too deeply"):
        ScarfEventLogger(collector.url, verbose=True).log_event(deep)
    assert collector.settle(0.2) == []


def test_capture_intercepts_log_event(collector: Collector) -> None:
    from pathbeacon.testing import Event, capture

    logger = ScarfEventLogger(collector.url.replace("http://", "http://u:pw@") + "/e")
    properties = {"event": "run", "n": [1, 2]}
    with capture() as reports:
        assert logger.log_event(properties) is True
        properties["event"] = "changed later"
        with pytest.raises(TypeError):
            logger.log_event({"bad": object()})  # still refused, as outside
    assert reports.events == [Event(f"http://***@127.0.0.1:{collector.port}/e",
                                     {"event": "run", "n": [1, 2]}, True)]
    with capture(opted_out=True) as reports:
        assert logger.log_event({"event": "off"}) is False
    assert [e.delivered for e in reports.events] == [False]
    assert collector.settle(0.3) == []  # nothing left the process
    assert logger.log_event({"event": "after"}) is True  # real sending resumes after
    assert len(collector.wait_for(1)) == 1


def test_capture_ignores_the_contributors_opt_out_for_events_too(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from pathbeacon.testing import capture

    monkeypatch.setenv("DO_NOT_TRACK", "1")
    with capture() as reports:
        assert ScarfEventLogger("https://acme.example/e").log_event({}) is True
    assert reports.events[0].delivered is True


def test_the_run_time_requirements_admit_urllib3_1_26_and_never_need_tomli() -> None:
    """A host pinned to urllib3 1.26 (botocore on Python 3.9) must not be pushed to an old
    release of its other dependencies; tomli is read by the tests only (.ci/run runs this
    file again on urllib3 1.26)."""
    from packaging.requirements import Requirement

    try:
        import tomllib
    except ImportError:  # Python < 3.11: the test extra brings tomli
        import tomli as tomllib  # type: ignore[no-redef]
    from .conftest import ROOT

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = {Requirement(line).name: Requirement(line) for line in project["dependencies"]}
    assert set(runtime) == {"urllib3", "packaging", "distro"}
    assert all(runtime["urllib3"].specifier.contains(v) for v in ("1.26.0", "1.26.20", "2.0.0", "2.8.0"))
    assert not runtime["urllib3"].specifier.contains("1.25.11")
    assert any(Requirement(line).name == "tomli" for line in project["optional-dependencies"]["test"])
    import urllib3

    assert urllib3.__version__.split(".")[0] in ("1", "2")


def test_the_migration_guide_examples_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/scarf-migration.md: every Python block runs (the first opted out: no network)."""
    from .conftest import ROOT

    text = (ROOT / "docs" / "scarf-migration.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 3
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    for block in blocks:
        exec(compile(block, "scarf-migration.md", "exec"), {})
    assert "requests.Session" in text and "raise_on_error=True" in text
