"""pathbeacon.consent from Python: capture()'s simulated user, explain()'s modes, the notice's
text, and the argparse and click recipes of docs/consent.md run as a package's own CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pathbeacon
from pathbeacon import consent
from pathbeacon.notice import first_run_notice
from pathbeacon.testing import capture

from .conftest import ROOT, Collector, run_cli
from .test_consent import env

DOCS = ROOT / "docs" / "consent.md"


# ---- capture() simulates each choice and mode ------------------------------------------------

CASES = [  # choice, notice_shown, mode -> status, words in the reason
    (None, False, "opt-out", "dry_run", ""),
    (None, False, "opt-in", "disabled", "asks first"),
    (None, False, "notice", "disabled", "capture(notice_shown=False)"),
    (None, True, "notice", "dry_run", ""),
    ("on", False, "opt-in", "dry_run", ""),
    ("on", False, "notice", "dry_run", ""),
    ("off", True, "opt-out", "disabled", "capture(choice='off')"),
    ("off", False, "notice", "disabled", "capture(choice='off')"),
]


@pytest.mark.parametrize(("choice", "shown", "mode", "status", "words"), CASES)
def test_capture_simulates_the_user(choice: str | None, shown: bool, mode: str, status: str,
                                    words: str) -> None:
    # a real choice file that says the opposite: capture() never reads it
    consent.on() if choice == "off" else consent.off()
    with capture(choice=choice, notice_shown=shown) as reports:
        report = pathbeacon.report_once("<base>/<package>", base="https://acme.example",
                                        package="acme", consent=mode)
    assert reports == [report]
    assert report.status == status and words in report.reason


def test_capture_refuses_an_unknown_choice() -> None:
    with pytest.raises(ValueError, match="choice"), capture(choice="maybe"):
        pass


def test_capture_still_fails_a_bad_mode() -> None:
    with capture(choice="on") as reports:
        pathbeacon.report_once("<base>/x", base="https://acme.example", consent="yes")
    assert reports[0].status == "failed" and "consent must be" in reports[0].reason


# ---- the Python API --------------------------------------------------------------------------


def test_reason_follows_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    assert consent.reason("acme") is None
    assert consent.reason("acme", "opt-in") is not None
    assert consent.reason("acme", "notice") == consent.NOTICE_NEEDED
    consent.on("acme")
    assert consent.reason("ACME", "opt-in") is None  # names compare as PEP 503 does
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    assert consent.reason("acme") == "DO_NOT_TRACK is set"
    monkeypatch.delenv("DO_NOT_TRACK")
    consent.off()
    assert "every package" in (consent.reason("acme") or "")
    with pytest.raises(ValueError):
        consent.off("not a name")


def test_the_config_folder_follows_the_platform_rules(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    monkeypatch.delenv("PATHBEACON_CONFIG_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(sys, "platform", "linux")
    assert consent.folder() == str(tmp_path / "xdg" / "pathbeacon")
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert consent.folder() == str(tmp_path / ".config" / "pathbeacon")
    monkeypatch.setattr(sys, "platform", "darwin")
    assert consent.folder() == str(tmp_path / "Library" / "Application Support" / "pathbeacon")
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("APPDATA", str(tmp_path / "Roaming"))
    assert consent.folder() == os.path.join(str(tmp_path / "Roaming"), "pathbeacon")


def test_the_facade_offers_the_module() -> None:
    code = "import pathbeacon; print(pathbeacon.consent.state()['all'])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env(), timeout=60)
    assert result.stdout == "None\n", result.stderr


# ---- explain() and the notice describe the modes ----------------------------------------------


def test_explain_names_the_lasting_switch_and_the_mode() -> None:
    base = {"base": "https://g.example", "package": "acme"}
    plain = pathbeacon.explain("default", **base)
    assert "`pathbeacon telemetry off acme`" in plain and "`pathbeacon telemetry log`" in plain
    assert "Asks first" not in plain and "Tells you first" not in plain
    assert "**Asks first:**" in pathbeacon.explain("default", consent="opt-in", **base)
    assert "**Tells you first:**" in pathbeacon.explain("default", consent="notice", **base)
    with pytest.raises(ValueError, match="consent"):
        pathbeacon.explain("default", consent="later", **base)


def test_the_notice_is_short_plain_and_generated_from_the_template() -> None:
    text = first_run_notice("<base>/<package>/<engine>", base="https://g.example/t",
                            package="acme", engine="spark\x1b[31m\nred")
    assert len(text.splitlines()) <= 6 and text.endswith("\n")
    assert "\x1b" not in text and "carrying only: package, engine" in text
    assert "acme spark[31m_red" in text  # as sent: a value cannot drive the terminal
    assert "`pathbeacon telemetry off acme`" in text and "ACME_NO_ANALYTICS=1" in text
    anonymous = first_run_notice("<base>/<os>", base="https://g.example")
    assert "This program" in anonymous and "`pathbeacon telemetry off`" in anonymous


# ---- the recipes of docs/consent.md, as a package's own CLI -----------------------------------


def _recipe(kind: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    (block,) = [b for b in blocks if b.startswith(f"# acme/cli.py ({kind})")]
    return block


@pytest.mark.parametrize("kind", ["argparse", "click"])
def test_recipe_gives_acme_its_own_telemetry_command(kind: str, tmp_path: Path) -> None:
    if kind == "click":
        pytest.importorskip("click")
    script = tmp_path / "acme_cli.py"
    script.write_text(_recipe(kind), encoding="utf-8")

    def acme(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(script), "telemetry", *args],
                              capture_output=True, text=True, env=env(), timeout=60)

    result = acme("off")
    assert result.returncode == 0, result.stderr
    assert "acme: off" in result.stdout
    assert consent.state()["packages"] == {"acme": "off"}
    assert "acme: off" in acme().stdout  # status is the default
    assert acme("on").returncode == 0 and consent.state()["packages"] == {"acme": "on"}
    assert acme("reset").returncode == 0 and consent.state()["packages"] == {}
    assert acme("log").returncode == 0
    assert acme("perhaps").returncode == 2  # the CLI's own usage error


def test_command_reports_a_write_failure_in_one_line(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("PATHBEACON_CONFIG_DIR", str(blocker / "sub"))
    assert consent.command("off", package="acme", prog="acme") == 1
    err = capsys.readouterr().err
    assert err.startswith("acme: error: cannot write") and err.count("\n") == 1


def test_command_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert consent.command("off", package="acme", as_json=True) == 0
    state = json.loads(capsys.readouterr().out)
    assert state["packages"] == {"acme": "off"} and state["all"] is None


def test_explain_command_takes_the_mode() -> None:
    args = ("explain", "default", "base=https://g.example", "package=acme", "--consent", "opt-in")
    result = run_cli(*args)
    assert result.returncode == 0
    assert result.stdout == pathbeacon.explain("default", base="https://g.example",
                                               package="acme", consent="opt-in")
    assert run_cli(*args[:-1], "later").returncode == 2


def test_the_scarf_drop_in_honours_the_choice_for_every_package(collector: Collector) -> None:
    from pathbeacon import ScarfEventLogger

    consent.off()
    assert ScarfEventLogger(collector.url + "/events").log_event({"a": 1}) is False
    assert collector.settle(0.3) == []
    consent.reset()
    consent.off("acme")  # a package's own choice: the drop-in names no package
    assert ScarfEventLogger(collector.url + "/events").log_event({"a": 1}) is True
    assert len(collector.settle(0.3)) == 1


# ---- properties --------------------------------------------------------------------------------

NAMES = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,12}[A-Za-z0-9])?", fullmatch=True)


@given(st.text())
def test_parse_is_total(text: str) -> None:
    found = consent.parse(text)
    assert isinstance(found, (dict, str))
    if isinstance(found, dict):
        assert set(found.values()) <= {"on", "off"}


@settings(max_examples=40)
@given(st.lists(st.tuples(NAMES, st.sampled_from(["on", "off", "reset"])), max_size=6))
def test_what_is_written_reads_back(changes: list[tuple[str, str]]) -> None:
    consent.reset()
    expected: dict[str, str] = {}
    for name, action in changes:
        getattr(consent, action)(name)
        key = consent.normalise(name)
        assert key is not None
        if action == "reset":
            expected.pop(key, None)
        else:
            expected[key] = action
    assert consent.state()["packages"] == dict(sorted(expected.items()))
    for key, value in expected.items():
        assert (consent.reason(key, "opt-in") is None) == (value == "on")


def test_explain_labels_its_values_as_examples() -> None:
    """A README's reader takes "value on this machine" for their own machine's: the values
    are the author's, so the notice calls them examples (issue 13, item 9)."""
    text = pathbeacon.explain("<base>/<os>/<python>", base="https://acme.example/t",
                              package="acme")
    assert "| field | what it is | example value |" in text
    assert "this machine" not in text
