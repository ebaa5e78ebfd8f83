"""report_once() against a real loopback collector, in this process."""

from __future__ import annotations

import _thread
import os
import threading
import time
from pathlib import Path

import pytest

import pathbeacon
from pathbeacon import Report, report_once
from pathbeacon.testing import capture

from .conftest import Collector, make_package

pytestmark = pytest.mark.usefixtures("fresh_guard")

TEMPLATE = "<base>/<package>/<os>/<arch>/<runtime>"


def test_sends_one_get_with_the_rendered_url_and_user_agent(collector: Collector) -> None:
    report = report_once(TEMPLATE, base=collector.url + "/t", package="acme")
    assert isinstance(report, Report)
    assert report.wait(10) == "sent"
    assert f"{report.status}" == "sent" and str(report.status) == "sent"
    (request,) = collector.settle(0.3)
    assert request.method == "GET"
    assert report.url == collector.url + request.path
    facts = pathbeacon.parse(TEMPLATE, report.url)
    assert facts["package"] == "acme" and facts["os"] == pathbeacon.facts()["os"]
    # exactly the name and version: no platform, architecture or Python in the header
    assert request.headers["User-Agent"] == f"pathbeacon/{pathbeacon.__version__}"
    assert "Cookie" not in request.headers


def test_48_threads_give_one_request_and_one_report(collector: Collector) -> None:
    barrier = threading.Barrier(48)
    reports: list[Report] = []

    def call() -> None:
        barrier.wait()
        reports.append(report_once(TEMPLATE, base=collector.url, package="acme"))

    threads = [threading.Thread(target=call) for _ in range(48)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(r) for r in reports}) == 1
    assert reports[0].wait(10) == "sent"
    assert len(collector.settle()) == 1


def test_different_templates_and_packages_send_separately(collector: Collector) -> None:
    a = report_once("<base>/a/<os>", base=collector.url)
    b = report_once("<base>/b/<os>", base=collector.url)
    c = report_once("<base>/a/<os>", base=collector.url, package="other")
    again = report_once("<base>/a/<os>", base=collector.url)
    assert again is a
    assert {a.wait(10), b.wait(10), c.wait(10)} == {"sent"}
    assert len(collector.settle()) == 3


def test_explicit_key_groups_calls(collector: Collector) -> None:
    a = report_once("<base>/a", base=collector.url, key="one")
    b = report_once("<base>/b", base=collector.url, key="one")
    assert a is b


@pytest.mark.parametrize(
    ("variable", "value"),
    [(v, s) for v in ("DO_NOT_TRACK", "SCARF_NO_ANALYTICS", "PATHBEACON_NO_ANALYTICS",
                      "MY_PKG_NO_ANALYTICS")
     for s in ("1", "true", "TRUE", " yes ", "on", "anything")]
    + [("SCARF_ANALYTICS", s) for s in ("false", "0", "no", "off", " False ", "")],
)
def test_opt_out_sends_nothing(collector: Collector, monkeypatch: pytest.MonkeyPatch,
                               variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    threads: list[object] = []
    monkeypatch.setattr(_thread, "start_new_thread", lambda *a: threads.append(a))
    report = report_once(TEMPLATE, base=collector.url, package="my-pkg")
    assert report.status == "disabled" and report.wait(0) == "disabled"
    assert variable in report.reason
    assert threads == []  # no worker thread
    assert collector.settle(0.3) == []


@pytest.mark.parametrize("value", ["0", "false", "No", " off ", ""])
def test_falsy_opt_out_values_still_send(collector: Collector, monkeypatch: pytest.MonkeyPatch,
                                         value: str) -> None:
    for variable in ("DO_NOT_TRACK", "SCARF_NO_ANALYTICS", "MY_PKG_NO_ANALYTICS"):
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("SCARF_ANALYTICS", "true")
    assert report_once(TEMPLATE, base=collector.url, package="my-pkg").wait(10) == "sent"
    assert len(collector.settle(0.3)) == 1


def test_opting_out_at_run_time_stops_later_calls(collector: Collector,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert report_once("<base>/first", base=collector.url).wait(10) == "sent"
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    assert report_once("<base>/second", base=collector.url).status == "disabled"
    # An opted-out call neither claims nor looks at the guard: it is simply disabled.
    assert report_once("<base>/first", base=collector.url).status == "disabled"
    monkeypatch.delenv("DO_NOT_TRACK")
    assert report_once("<base>/first", base=collector.url).status == "sent"  # claimed before
    assert len(collector.settle(0.3)) == 1


def test_dry_run_renders_but_sends_nothing(collector: Collector,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATHBEACON_DRY_RUN", "1")
    report = report_once(TEMPLATE, base=collector.url, package="acme")
    assert report.wait(10) == "dry_run"
    assert report.url is not None and report.url.startswith(collector.url + "/acme/")
    assert collector.settle(0.3) == []


@pytest.mark.parametrize(
    ("template", "options"),
    [
        ("<base>/<OS>", {"base": "https://g.example"}),
        ("<base>/<os>", {}),  # no base
        ("<base>/<os>", {"base": "not a url"}),
        (None, {}),
        (42, {}),
        ("no-such-template", {"base": "https://g.example"}),
        ("<base>/<os>", {"base": "https://g.example", "timeout": "soon"}),
        ("<base>/<os>", {"base": "https://g.example", "timeout": -1}),
        ("<base>/<os>", {"base": "https://g.example", "retries": 1.5}),
        ("<base>/<os>", {"base": "https://g.example", "exit_grace": "x"}),
        ("<base>/<os>", {"base": "https://g.example", "exit_grace": -1}),
        ("<base>/<os>", {"base": "https://g.example", "exit_grace": float("nan")}),
    ],
)
def test_never_raises_whatever_it_is_given(template: object, options: dict[str, object]) -> None:
    report = report_once(template, **options)  # type: ignore[arg-type]
    assert report.wait(10) == "failed"
    assert report.reason


def test_no_template_at_all_is_a_failed_report() -> None:
    report = report_once()
    assert report.wait(1) == "failed" and report.reason == "no template given"


def test_a_value_whose_str_raises_does_not_escape() -> None:
    class Hostile:
        def __str__(self) -> str:
            raise RuntimeError("boom")

    report = report_once("<base>/<x>", base="https://g.example", x=Hostile())
    assert report.wait(10) == "failed" and "boom" in report.reason


@pytest.mark.parametrize(("statuses", "expected", "count"), [
    ([503], "failed", 3),
    ([500, 502, 204], "sent", 3),
    ([503, 200], "sent", 2),
    ([404], "failed", 1),
    ([400], "failed", 1),
    ([408, 204], "sent", 2),
    ([429, 204], "sent", 2),
    ([302], "sent", 1),
    ([301], "sent", 1),
    ([200], "sent", 1),
])
def test_status_handling_and_bounded_retries(collector: Collector, statuses: list[int],
                                             expected: str, count: int) -> None:
    collector.statuses = statuses
    collector.headers = {"Location": collector.url + "/artifact.tar.gz"}
    report = report_once("<base>/<os>", base=collector.url)
    assert report.wait(30) == expected
    requests = collector.settle(0.5)
    assert len(requests) == count
    assert all(not r.path.startswith("/artifact") for r in requests)  # redirects not followed


def test_retries_option_bounds_attempts(collector: Collector) -> None:
    collector.statuses = [503]
    assert report_once("<base>/<os>", base=collector.url, retries=0).wait(30) == "failed"
    assert len(collector.settle(0.5)) == 1


def test_retry_after_is_honoured(collector: Collector) -> None:
    collector.statuses = [429, 204]
    collector.headers = {"Retry-After": "1"}
    started = time.monotonic()
    assert report_once("<base>/<os>", base=collector.url).wait(30) == "sent"
    assert time.monotonic() - started >= 0.9


def test_slow_server_is_cut_off_by_timeout(collector: Collector) -> None:
    collector.delay = 3.0
    started = time.monotonic()
    report = report_once("<base>/<os>", base=collector.url, timeout=0.3, retries=0)
    assert report.wait(30) == "failed"
    assert time.monotonic() - started < 2.5
    assert "timed out" in report.reason.lower() or "timeout" in report.reason.lower()


def test_refused_port_fails(refused: str) -> None:
    report = report_once("<base>/<os>", base=refused, retries=0)
    assert report.wait(30) == "failed"
    assert "refused" in report.reason.lower() or "connect" in report.reason.lower()


def test_http_proxy_receives_the_request(collector: Collector, collector2: Collector,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    proxy, target = collector, collector2
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    report = report_once("<base>/<os>", base=target.url + "/via")
    assert report.wait(10) == "sent"
    (request,) = proxy.settle(0.3)
    assert request.path == report.url  # a proxy sees the absolute URL
    assert target.requests == []


def test_no_proxy_bypasses_the_proxy(collector: Collector, collector2: Collector,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    proxy, target = collector, collector2
    monkeypatch.setenv("http_proxy", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert report_once("<base>/<os>", base=target.url).wait(10) == "sent"
    assert len(target.settle(0.3)) == 1
    assert proxy.requests == []


def test_dev_and_local_versions_are_not_reported_by_default(
    collector: Collector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_package(tmp_path, "devpkg", "", version="1.0.dev3")
    make_package(tmp_path, "localpkg", "", version="2.0+abc")
    monkeypatch.syspath_prepend(str(tmp_path))
    dev = report_once("<base>/<package>/<version>", base=collector.url, package="devpkg")
    local = report_once("<base>/<package>/<version>", base=collector.url, package="localpkg")
    assert dev.wait(10) == "disabled" and "development" in dev.reason
    assert local.wait(10) == "disabled"
    assert collector.settle(0.3) == []
    sent = report_once("<base>/<package>/<version>", base=collector.url, package="devpkg",
                       skip_dev=False, key="dev-allowed")  # the same key would give `dev`
    assert sent.wait(10) == "sent"
    assert collector.requests[0].path == "/devpkg/1.0.dev3"


def test_skip_ci(collector: Collector, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    report = report_once("<base>/<ci>", base=collector.url, skip_ci=True)
    assert report.wait(10) == "disabled"
    assert report_once("<base>/x/<ci>", base=collector.url).wait(10) == "sent"
    assert collector.settle(0.3)[0].path == "/x/github-actions"


def test_capture_records_renders_at_once_and_scopes_the_guard(collector: Collector) -> None:
    before = report_once("<base>/<package>", base=collector.url, package="acme")
    assert before.wait(10) == "sent"
    with capture() as captured:
        first = report_once("<base>/<package>", base=collector.url, package="acme")
        assert captured == [first] and first is not before
        assert first.url == collector.url + "/acme"  # rendered before returning
        assert first.status == "dry_run"
        again = report_once("<base>/<package>", base=collector.url, package="acme")
        assert again is first and len(captured) == 1
        other = report_once("<base>/other", base=collector.url)
        assert captured == [first, other]
    assert report_once("<base>/<package>", base=collector.url, package="acme") is before
    assert len(collector.settle(0.3)) == 1
    # real sending resumes after the block
    assert report_once("<base>/after", base=collector.url).wait(10) == "sent"
    assert len(collector.settle(0.3)) == 2


def test_capture_honours_opt_out_set_inside_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # Set before the block, the shell's opt-out is ignored (see tests/test_testing.py).
    with capture() as captured:
        monkeypatch.setenv("DO_NOT_TRACK", "1")
        report = report_once("<base>/<os>", base="https://g.example")
    assert captured == [report] and report.status == "disabled"


def test_wait_times_out_on_a_pending_report(blackhole: str) -> None:
    report = report_once("<base>/<os>", base=blackhole, timeout=5, retries=0)
    started = time.monotonic()
    assert report.wait(0.3) == "pending"
    assert time.monotonic() - started < 2
    assert report.url is None or report.url.startswith(blackhole)


def test_debug_line_goes_to_stderr(collector: Collector, monkeypatch: pytest.MonkeyPatch,
                                   capfd: pytest.CaptureFixture[str]) -> None:
    def ours(err: str) -> list[str]:
        # Only this test's lines: an earlier test's worker or server thread may still
        # finish (and, now that debug is on, say so) into the same file descriptor.
        return [line for line in err.splitlines(keepends=True)
                if "pathbeacon" in line and collector.url in line]

    report_once("<base>/quiet", base=collector.url).wait(10)
    assert ours(capfd.readouterr().err) == []
    monkeypatch.setenv("PATHBEACON_DEBUG", "1")
    report = report_once("<base>/loud", base=collector.url)
    report.wait(10)
    assert ours(capfd.readouterr().err) == [f"pathbeacon: sent {report.url} (HTTP 204)\n"]


def test_env_is_not_cached_at_import() -> None:
    assert os.environ.get("DO_NOT_TRACK") is None
    os.environ["DO_NOT_TRACK"] = "1"
    try:
        assert report_once("<base>/<os>", base="https://g.example").status == "disabled"
    finally:
        del os.environ["DO_NOT_TRACK"]


# ---- odd timeouts, graces and secrets ------------------------------------------------------


@pytest.mark.parametrize("timeout", [float("nan"), -1, -1e300, 0, -(10**400), "3", b"1",
                                     object(), [1]])
def test_wait_never_raises_and_does_not_wait_for_odd_timeouts(blackhole: str,
                                                              timeout: object) -> None:
    report = report_once("<base>/<os>", base=blackhole, timeout=5, retries=0)
    started = time.monotonic()
    assert report.wait(timeout) == "pending"  # type: ignore[arg-type]
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize("timeout", [float("inf"), 1e300, 10**400, None])
def test_wait_for_ever_on_huge_timeouts(collector: Collector, timeout: object) -> None:
    collector.delay = 0.3
    report = report_once("<base>/<os>", base=collector.url)
    assert report.wait(timeout) == "sent"  # type: ignore[arg-type]


@pytest.mark.parametrize(("author", "user", "grace"), [
    (None, None, 0.5), (2, None, 2.0), (20, None, 5.0), (float("inf"), None, 5.0),
    (None, "1.5", 1.5), (20, "0.2", 0.2), (0.1, "3", 0.1), (None, "99", 5.0),
    (3, "junk", 3.0), (None, "-1", 0.0),
])
def test_the_user_caps_the_authors_grace(monkeypatch: pytest.MonkeyPatch, author: object,
                                         user: str | None, grace: float) -> None:
    from pathbeacon import report as module

    if user is not None:
        monkeypatch.setenv("PATHBEACON_EXIT_GRACE", user)
    assert module._exit_grace(author) == grace  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "clean"), [
    ("http://bob:s3cret@proxy:3128", "http://***@proxy:3128"),
    ("ProxyError('Unable to connect to https://u:p@h/x')", "ProxyError('Unable to connect to https://***@h/x')"),
    ("bob:s3cret@proxy:3128 refused", "***@proxy:3128 refused"),
    ("two http://a:b@x and http://c@y", "two http://***@x and http://***@y"),
    ("no user info http://h/p?q=a@b", "no user info http://h/p?q=***@b"),
    ("nothing here", "nothing here"),
])
def test_redact(text: str, clean: str) -> None:
    from pathbeacon.report import redact

    assert redact(text) == clean


@pytest.mark.parametrize("proxy", ["http://bob:s3cret@proxy.invalid:notaport",
                                   "http://bob:s3cret@127.0.0.1:{refused}"])
def test_proxy_credentials_never_reach_reason_debug_line_or_log(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture, refused: str, proxy: str
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.format(refused=refused.rsplit(":", 1)[1]))
    monkeypatch.setenv("PATHBEACON_DEBUG", "1")
    caplog.set_level("DEBUG", logger="pathbeacon")
    report = report_once("<base>/<os>", base="http://g.example", retries=0, timeout=2)
    assert report.wait(20) == "failed"
    assert report.reason
    seen = report.reason + repr(report) + capfd.readouterr().err + caplog.text
    assert "pathbeacon: failed" in seen
    assert "s3cret" not in seen and "bob" not in seen, seen


def test_debug_line_goes_to_an_in_memory_stderr_too(collector: Collector,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    monkeypatch.setenv("PATHBEACON_DEBUG", "1")
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    report = report_once("<base>/memory", base=collector.url)
    report.wait(10)
    assert sys.stderr.getvalue() == f"pathbeacon: sent {report.url} (HTTP 204)\n"
    monkeypatch.setattr(sys, "stderr", None)  # closed at start: nothing, and no stdout
    assert report_once("<base>/nowhere", base=collector.url).wait(10) == "sent"


def test_the_test_collector_never_prints_into_a_replaced_stderr(
        collector: Collector, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cause of a flaky test: socketserver printed a client's reset mid-request as a
    traceback into the ``sys.stderr`` a test had replaced to read pathbeacon's debug line."""
    import io
    import socket
    import struct
    import sys
    import time

    monkeypatch.setattr(sys, "stderr", io.StringIO())
    for _ in range(5):
        client = socket.create_connection(("127.0.0.1", collector.port))
        client.sendall(b"GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\npartial")
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()  # RST while the server reads the body
    time.sleep(0.5)
    assert sys.stderr.getvalue() == ""
