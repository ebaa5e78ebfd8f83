"""The fits rule: prefixes, atoms, UTF-8 validity, the value checks, and the shared class."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from pathbeacon import Template, TemplateError
from pathbeacon.analysis import matcher as matcher_module
from pathbeacon.analysis.matcher import (
    UTF8_ESCAPE_RE,
    Matcher,
    forbidden_class,
    forbidden_ranges,
    value_ok,
)

from .conftest import beacon_path

T = "<base>/<package>/<version>/<os>"


def fits(target: str, template: str = T, base: str | None = None):
    return Matcher.compile(template, base).match(target)


def test_base_fixes_the_prefix_as_url_or_path() -> None:
    for base in ["https://g.example/t", "https://other.example/t/", "/t", "/t/"]:
        assert fits("/t/acme/1.0/linux", base=base) == {
            "package": "acme", "version": "1.0", "os": "linux"}
        assert fits("/u/acme/1.0/linux", base=base) is None
        assert fits("/x/t/acme/1.0/linux", base=base) is None
    assert fits("/acme/1.0/linux", base="https://g.example") is not None
    assert fits("/t/acme/1.0/linux", base="https://g.example") is None


def test_without_base_the_last_segments_fit() -> None:
    assert fits("/a/b/c/acme/1.0/linux") == {"package": "acme", "version": "1.0", "os": "linux"}
    assert fits("/acme/1.0/linux")["os"] == "linux"
    assert fits("/1.0/linux") is None
    assert fits("HTTPS://any.host:1/p/acme/1.0/linux")["package"] == "acme"


def test_a_template_without_base_has_its_own_path_and_refuses_base() -> None:
    t = "https://t.example/v1/<os>?arch=<arch>"
    assert fits("/v1/linux?arch=x86_64", t) == {"os": "linux", "arch": "x86_64"}
    assert fits("http://elsewhere/v1/linux?arch=x86_64", t) is not None
    assert fits("/v2/linux?arch=x86_64", t) is None
    assert fits("/x/v1/linux?arch=x86_64", t) is None
    with pytest.raises(ValueError, match="base= applies only"):
        Matcher.compile(t, "https://t.example")
    with pytest.raises(TemplateError):
        Matcher.compile(T, "ftp://x")
    with pytest.raises(ValueError, match="may not contain"):
        Matcher.compile(T, "/t?x")


def test_nothing_may_follow_what_the_template_has() -> None:
    for extra in ["?", "?x=1", "#frag", "/", "/more"]:
        assert fits("/t/acme/1.0/linux" + extra, base="/t") is None
    assert fits("/t/acme/1.0/linux/more") == {"package": "1.0", "version": "linux", "os": "more"}


@pytest.mark.parametrize("raw, value", [
    ("%C3%A9", "é"), ("%c3%a9", "é"), ("%F0%9F%90%8D", "\U0001f40d"), ("%2F", "/"),
    ("%25", "%"), ("%2B", "+"),
    ("x" * 64, "x" * 64), ("%C3%A9" * 64, "é" * 64), ("e%CC%81", "e\u0301"),  # NFC not checked
    ("_", "_"), ("...", "..."), ("%2E%2E%2E", "..."),
])
def test_values_that_fit(raw: str, value: str) -> None:
    assert fits(f"/t/acme/1.0/{raw}") == {"package": "acme", "version": "1.0", "os": value}


@pytest.mark.parametrize("raw", [
    "a+b", "a!b", "a@b", "a:b", "a;b", "a,b", "a'b", "a(b)", "a*b", "a=b", "a&b", "a$b",
    "%", "%2", "%zz", "%C3", "%A9", "%C0%AF", "%E0%80%AF", "%ED%A0%80", "%F4%90%80%80",
    "%F8%88%80%80%80", "%FF",  # invalid UTF-8
    "%20", "%09", "%0A", "%7F", "%C2%85", "%C2%A0", "%E2%80%A8", "%E3%80%80", "a%00b",
    "%E2%80%8B", "a%E2%80%AEb", "%E2%81%A6x", "%F3%A0%80%81",  # Cf: sanitise drops them
    ".", "..", "%2E", "%2e%2E", "x" * 65, "%C3%A9" * 65, "é", "a b",
])
def test_values_that_do_not_fit(raw: str) -> None:
    assert fits(f"/t/acme/1.0/{raw}") is None


def test_repeated_names_must_agree() -> None:
    t = "<base>/<os>/<os>"
    assert fits("/linux/linux", t) == {"os": "linux"}
    assert fits("/%6Cinux/linux", t) == {"os": "linux"}  # the same text, spelled two ways
    assert fits("/linux/aix", t) is None


def test_shared_segments_take_each_but_the_last_shortest() -> None:
    t = Template("<base>/acme-<version>-<os>.tar.gz")
    url = t.render({"base": "https://g.example", "version": "1.0-rc1", "os": "linux"})
    assert fits(url.split("g.example")[1], t.text) == {"version": "1.0", "os": "rc1-linux"}
    assert {k: v for k, v in t.parse(url).items() if k != "base"} == {
        "version": "1.0", "os": "rc1-linux"}


@pytest.mark.parametrize("facts", [
    {"version": "1-" + "x" * 62, "os": "linux"},   # the lazy split leaves os 68 long
    {"version": "1-" + "é" * 62, "os": "linux"},   # the bound counts characters, not bytes
    {"version": "1-2-" + "y" * 60, "os": "mac-" + "z" * 60},
    {"version": "1.0", "os": "w" * 64},
])
def test_a_shared_segment_is_split_where_every_value_fits(facts: dict[str, str]) -> None:
    """Each value pathbeacon sends is 1-64 characters: in a shared segment, each but the
    last is taken as short as possible such that every one is (issue 13, item 11), by
    parse() and the matcher alike, so what nginx answers is decoded as rendered."""
    t = Template("<base>/acme-<version>-<os>.tar.gz")
    url = t.render({"base": "https://g.example", **facts})
    parsed = {k: v for k, v in t.parse(url).items() if k != "base"}
    assert all(len(v) <= 64 for v in parsed.values())
    assert fits(url.split("g.example")[1], t.text) == parsed
    if facts["version"].count("-") == 1:
        assert parsed == facts  # the only split where both fit
    # a segment no split of which fits is not pathbeacon's: parse refuses it too
    bad = f"https://g.example/acme-1-{'x' * 65}-{'y' * 65}.tar.gz"
    assert fits(bad.split("g.example")[1], t.text) is None
    with pytest.raises(ValueError, match="does not fit"):
        t.parse(bad)


def test_query_on_a_path_template_and_query_templates() -> None:
    q = "<base>/p?package=<package>&v=<version>"
    assert fits("/p?package=acme&v=1.0", q) == {"package": "acme", "version": "1.0"}
    assert fits("/p?v=1.0&package=acme", q) is None  # the template's order, as parse()
    assert fits("/p?package=acme&v=1.0&x=1", q) is None


def test_forbidden_ranges_are_whitespace_controls_and_format_characters() -> None:
    ranges = forbidden_ranges()
    inside = {cp for a, b in ranges for cp in range(a, b + 1)}
    expected = {
        cp for cp in range(0x110000)
        if not 0xD800 <= cp < 0xE000
        and (chr(cp).isspace() or unicodedata.category(chr(cp)) in ("Cc", "Cf"))
    }
    assert inside == expected
    python_class = re.compile(forbidden_class("python"))
    for cp in [0, 0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x3000, 0x41, 0x200B, 0x10FFFF]:
        assert bool(python_class.match(chr(cp))) == (cp in expected)
    assert forbidden_class("re2").startswith("[\\x{0}-\\x{20}\\x{7f}-\\x{a0}")
    with pytest.raises(ValueError):
        forbidden_class("pcre")


def test_value_ok() -> None:
    assert value_ok("Mac_OS_X") and not value_ok("\u200b") and not value_ok("")
    assert not value_ok("a\u3000b") and not value_ok("\x7f")


def test_utf8_escape_pattern_is_exactly_well_formed_utf8() -> None:
    one = re.compile(f"(?:{UTF8_ESCAPE_RE})")
    for cp in [*range(0x3000), 0xD7FF, 0xE000, 0xFFFD, 0xFFFF, 0x10000, 0x10FFFF]:
        text = "".join(f"%{b:02x}" for b in chr(cp).encode())
        assert one.fullmatch(text), cp
    for bad in [b"\xc0\x80", b"\xc1\xbf", b"\xe0\x9f\xbf", b"\xed\xa0\x80", b"\xf0\x8f\xbf\xbf",
                b"\xf4\x90\x80\x80", b"\x80", b"\xf5\x80\x80\x80"]:
        assert not one.fullmatch("".join(f"%{b:02X}" for b in bad)), bad



def test_the_pattern_and_class_mean_the_same_in_re2() -> None:
    """DuckDB's RE2 accepts the pattern and forbidden class and agrees with Python."""
    db = pytest.importorskip("duckdb")
    matcher = Matcher.compile(T)
    targets = ["/t/acme/1.0/linux", "/t/acme/1.0/%C3%A9", "/t/acme/1.0/%C0%AF", "/t/a+b/1/x",
               "/x/y/acme/1.0/%F0%9F%90%8D", "/acme/1.0/linux?x", "/t/acme/1.0-rc/l%ED%A0%80"]
    con = db.connect()
    for target in targets:
        got = con.execute("SELECT regexp_matches(?, ?)", [target, matcher.pattern]).fetchone()[0]
        assert got == (matcher._regex.match(target) is not None), target
    codes = con.execute(
        "SELECT list(cp ORDER BY cp) FROM range(1, 65536) t(cp)"
        " WHERE (cp < 55296 OR cp > 57343) AND regexp_matches(chr(cp::INTEGER), ?)",
        [forbidden_class("re2")],
    ).fetchone()[0]
    assert codes == [cp for a, b in forbidden_ranges() for cp in range(max(a, 1), b + 1)
                     if cp < 65536]


# Python 3.9 (Unicode 13), 3.12 (15.0) and 3.13 (15.1) beside this one, when pyenv has them
_PYENV = Path.home() / ".pyenv" / "versions"
_OTHER_PYTHONS = [_PYENV / v / "bin" / "python" for v in ("3.9.18", "3.12.1", "3.13.0")]


@pytest.mark.parametrize("python", [sys.executable, *map(str, _OTHER_PYTHONS)])
def test_the_known_forbidden_ranges_are_those_the_unicode_database_gives(python: str) -> None:
    """forbidden_ranges() takes the entry of the running Python's Unicode version from a
    table instead of a fifth of a second's computation: each entry must be what that
    version's database gives, and a version without one is computed."""
    if not Path(python).exists():
        pytest.skip(f"{python} is not installed (pyenv builds of 3.9, 3.12, 3.13)")
    check = (
        "import unicodedata\n"
        "from pathbeacon.analysis import matcher\n"
        "computed = matcher._computed_ranges()\n"
        "assert matcher.forbidden_ranges() == computed\n"
        "matcher.forbidden_ranges.cache_clear()\n"
        "matcher._KNOWN_RANGES.clear()\n"
        "assert matcher.forbidden_ranges() == computed\n"
        "print(unicodedata.unidata_version)\n"
    )
    done = subprocess.run([python, "-c", check], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": beacon_path()})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() in matcher_module._KNOWN_RANGES or python == sys.executable
