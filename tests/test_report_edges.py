"""report_once()'s keywords and hostile facts (issue 16, item 7): a typo'd or newer option
never sends, a field named like an option has a way in, a huge or lying fact never holds
the caller or escapes the opt-out."""

from __future__ import annotations

import time

import pytest

import pathbeacon
from pathbeacon.testing import capture

from .conftest import Collector

pytestmark = pytest.mark.usefixtures("fresh_guard")
BASE = "https://acme.example/t"


def test_an_unknown_keyword_is_a_failed_report_naming_it() -> None:
    with capture() as reports:
        report = pathbeacon.report_once("<base>/<os>", base=BASE, timout=5)
    assert report is reports[0] and report.status == "failed" and report.url is None
    assert "unknown keyword 'timout'" in report.reason and "did you mean 'timeout'" in report.reason


def test_an_unknown_keyword_sends_nothing(collector: Collector) -> None:
    report = pathbeacon.report_once("<base>/<os>", base=collector.url, colour="blue")
    assert report.wait(10) == "failed" and "'colour'" in report.reason
    assert collector.settle(0.3) == []


@pytest.mark.parametrize("mode", ["opt-out", "opt-in", "notice"])
def test_the_consent_option_is_accepted_with_its_three_values(mode: str) -> None:
    with capture(choice="on") as reports:  # the user said on: every mode sends
        pathbeacon.report_once("<base>/<os>", base=BASE, consent=mode, key=mode)
    assert reports[0].status == "dry_run", reports[0].reason


@pytest.mark.parametrize("mode", ["yes", "OPT-IN", 1, None.__class__])
def test_a_bad_consent_value_is_a_failed_report_naming_it(mode: object) -> None:
    with capture() as reports:
        pathbeacon.report_once("<base>/<os>", base=BASE, consent=mode)
    assert reports[0].status == "failed" and reports[0].reason.startswith("consent must be")


def test_fields_named_like_options_come_from_the_facts_mapping() -> None:
    with capture() as reports:
        pathbeacon.report_once("<base>/<key>/<timeout>/<template>", base=BASE, timeout=2,
                               facts={"key": "k1", "timeout": "t5", "template": "tpl"})
    assert reports[0].status == "dry_run", reports[0].reason
    assert reports[0].url == BASE + "/k1/t5/tpl"


def test_a_field_named_like_an_option_without_the_mapping_is_a_clear_error() -> None:
    with capture() as reports:
        pathbeacon.report_once("<base>/<key>", base=BASE, key="k1")
    assert reports[0].status == "failed"
    assert "<key> shares its name with an option" in reports[0].reason
    assert "facts={'key': ...}" in reports[0].reason


@pytest.mark.parametrize(("facts", "more", "message"), [
    ({"os": "a"}, {"os": "b"}, "fact 'os' given twice"),
    (["os"], {}, "facts must be a mapping"),
    ({1: "x"}, {}, "facts names must be strings"),
])
def test_bad_facts_mappings_are_failed_reports(facts: object, more: dict[str, object],
                                                message: str) -> None:
    with capture() as reports:
        pathbeacon.report_once("<base>/<os>", base=BASE, facts=facts, **more)  # type: ignore[arg-type]
    assert reports[0].status == "failed" and message in reports[0].reason


def test_package_and_version_are_accepted_without_fields() -> None:
    with capture() as reports:
        pathbeacon.report_once("<base>/<os>", base=BASE, package="acme", version="1.0")
    assert reports[0].status == "dry_run", reports[0].reason


def test_a_10_mb_package_does_not_hold_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    huge = "a " * 5_000_000
    monkeypatch.setenv("PATHBEACON_DRY_RUN", "1")
    started = time.perf_counter()
    report = pathbeacon.report_once("<base>/<package>", base=BASE, package=huge, skip_dev=False)
    took = time.perf_counter() - started
    assert report.wait(10) == "dry_run" and report.url == BASE + "/" + "a_" * 32
    assert took < 1.0, took  # seconds before: the opt-out variable's name was built from it all
    with capture() as reports:  # rendering on the caller's thread too
        started = time.perf_counter()
        pathbeacon.report_once("<base>/<os>", base=BASE, os=huge, key="k")
        assert time.perf_counter() - started < 1.0
    assert reports[0].url == BASE + "/" + "a_" * 32


class _Liar(str):
    def __len__(self) -> int:
        return 0

    def upper(self) -> str:  # type: ignore[override]
        return "SOMEONE_ELSE"

    def __str__(self) -> str:
        return self


def test_a_lying_package_cannot_escape_its_opt_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_NO_ANALYTICS", "1")
    report = pathbeacon.report_once("<base>/<package>", base=BASE, package=_Liar("acme"))
    assert report.status == "disabled" and "ACME_NO_ANALYTICS" in report.reason
