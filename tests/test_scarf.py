"""The drop-in ScarfEventLogger against a loopback server; pixel helpers; explain()."""

from __future__ import annotations

import json
import math
import re
import time

import pytest

import pathbeacon
from pathbeacon import DeliveryError, ScarfEventLogger

from .conftest import Collector, run_cli, run_python


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
