"""Template syntax, rendering and parsing: examples and every class of bad template."""

from __future__ import annotations

import pickle

import pytest

from pathbeacon import Template, TemplateError
from pathbeacon.template import check_base

SEDONA = "<base>/<language>/<engine>/<arch>/<os>/<runtime>"


def test_sedona_layout_renders_and_parses_back() -> None:
    t = Template(SEDONA)
    assert t.text == SEDONA
    assert t.fields == ("base", "language", "engine", "arch", "os", "runtime")
    url = t.render({"base": "https://sedona.gateway.scarf.sh/packages/", "language": "java",
                    "engine": "spark", "arch": "amd64", "os": "Mac OS X", "runtime": "jvm 17"})
    assert url == "https://sedona.gateway.scarf.sh/packages/java/spark/amd64/Mac_OS_X/jvm_17"
    assert t.parse(url) == {"base": "https://sedona.gateway.scarf.sh/packages", "language": "java",
                            "engine": "spark", "arch": "amd64", "os": "Mac_OS_X",
                            "runtime": "jvm_17"}


def test_value_with_slash_stays_in_its_segment() -> None:
    t = Template("<base>/telemetry/<version>/<os>")
    url = t.render({"base": "https://g.example", "version": "1.0", "os": "Debian GNU/Linux"})
    assert url == "https://g.example/telemetry/1.0/Debian_GNU%2FLinux"
    assert t.parse(url)["os"] == "Debian_GNU/Linux"


def test_query_values_prefix_suffix_and_missing_values() -> None:
    t = Template("https://static.scarf.sh/a.png?x-pxid=<pixel_id>&py=py<python>-x")
    assert t.fields == ("pixel_id", "python")
    url = t.render({"pixel_id": "a&b=c#d", "extra": "ignored"})
    assert url == "https://static.scarf.sh/a.png?x-pxid=a%26b%3Dc%23d&py=pyunknown-x"
    assert t.parse(url) == {"pixel_id": "a&b=c#d", "python": "unknown"}


def test_template_is_immutable_hashable_and_picklable() -> None:
    t = Template(SEDONA)
    with pytest.raises(AttributeError):
        t.text = "x"  # type: ignore[misc]
    assert Template(SEDONA) == t and hash(Template(SEDONA)) == hash(t)
    assert Template(SEDONA) != Template("<base>/<os>")
    assert pickle.loads(pickle.dumps(t)) == t


def test_repeated_placeholder_must_agree_when_parsed() -> None:
    t = Template("<base>/<os>/x/<os>")
    assert t.fields == ("base", "os")
    assert t.parse("https://g.example/linux/x/linux")["os"] == "linux"
    with pytest.raises(TemplateError, match="two values for <os>"):
        t.parse("https://g.example/linux/x/macos")


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ("", "empty template", 0),
        ("<base", "unclosed '<'", 0),
        ("<base>/<os", "unclosed '<'", 7),
        ("<base>/<os/arch>", "unclosed '<'", 7),
        ("<base>/<>", "empty placeholder name", 7),
        ("<base>/<OS>", "bad placeholder name 'OS'", 7),
        ("<base>/<1os>", "bad placeholder name '1os'", 7),
        ("<base>/<o-s>", "bad placeholder name 'o-s'", 7),
        ("<base>/<os><arch>", "two placeholders side by side", 11),
        ("<base>/a?k=<x><y>", "two placeholders side by side", 14),
        ("<base>/a-<x>-<y><z>.gz", "two placeholders side by side", 16),
        ("<base>/a?<k>=v", "may not stand in a query key", 9),
        ("https://<host>/x", "may not stand in the scheme, host or port", 8),
        ("https://h:<port>/x", "may not stand in the scheme, host or port", 10),
        ("<scheme>://h/x", "only <base> may open a template", 0),
        ("https://h/<base>", "<base> may only stand at the very start", 10),
        ("x/<base>", "starts with <base>, http:// or https://", 0),
        ("ftp://h/<x>", "starts with <base>, http:// or https://", 0),
        ("<base>x/<y>", "<base> must be followed by", 6),
        ("<base>/x#frag", "fragment", 8),
        ("<base>/a b", "character ' ' is not allowed", 8),
        ("<base>/a>b", "character '>' is not allowed", 8),
        ("<base>/%zz", "'%' must start an escape", 7),
        ("https:///x", "no host", 8),
        ("https://h:8x/", "port must be digits", 10),
        ("https://u@h/", "user info", 9),
    ],
)
def test_bad_templates_name_what_and_where(text: str, message: str, position: int) -> None:
    with pytest.raises(TemplateError) as caught:
        Template(text)
    error = caught.value
    assert isinstance(error, ValueError)
    assert message in str(error)
    assert error.position == position
    lines = str(error).splitlines()
    assert f"position {position}" in lines[0]
    if text:
        assert lines[1] == "  " + text
        assert lines[2] == "  " + " " * position + "^"


def test_non_string_template_is_a_template_error() -> None:
    with pytest.raises(TemplateError, match="string"):
        Template(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("base", "message"),
    [
        (None, "no value for <base>"),
        ("", "empty"),
        (42, "must be a string"),
        ("example.com/x", "must start with http"),
        ("ftp://example.com", "must start with http"),
        ("https://", "no host"),
        ("https:///path", "no host"),
        ("https://h.example/x?y=1", "query"),
        ("https://h.example/x#top", "fragment"),
        ("https://h.example/a b", "' '"),
        ("https://h.example/\tb", "'\\t'"),
        ("https://h.example/\x00", "'\\x00'"),
        ("https://h.example/é", "'é'"),
        ("https://user:secret@h.example/t", "user info"),
        ("https://u@h.example", "user info"),
    ],
)
def test_bad_base_is_a_template_error(base: object, message: str) -> None:
    with pytest.raises(TemplateError, match=None) as caught:
        Template("<base>/<os>").render({"base": base, "os": "linux"})
    assert message in str(caught.value)


def test_base_trims_one_trailing_slash() -> None:
    assert check_base("https://g.example/t/") == "https://g.example/t"
    assert check_base("HTTP://g.example:8080") == "HTTP://g.example:8080"
    assert Template("<base>").render({"base": "https://g.example/"}) == "https://g.example"


@pytest.mark.parametrize(
    "url",
    [
        "https://g.example/python/spark",  # too few segments
        "https://g.example/a/python/spark/x86_64/linux/cpython/extra?q=1",
        "ftp://g.example/a/b/c/d/e",
        "not a url",
    ],
)
def test_url_that_does_not_fit_raises(url: str) -> None:
    with pytest.raises(TemplateError, match="does not fit"):
        Template(SEDONA).parse(url)


def test_download_names_hold_several_placeholders_per_segment() -> None:
    t = Template("<base>/<version>/acme-<os>-<arch>.tar.gz")
    assert t.fields == ("base", "version", "os", "arch")
    assert [slot.shortest for slot in t.slots] == [False, False, True, False]
    url = t.render({"base": "https://acme.gateway.scarf.sh/dl", "version": "1.4.2",
                    "os": "linux", "arch": "x86_64"})
    assert url == "https://acme.gateway.scarf.sh/dl/1.4.2/acme-linux-x86_64.tar.gz"
    assert t.parse(url) == {"base": "https://acme.gateway.scarf.sh/dl", "version": "1.4.2",
                            "os": "linux", "arch": "x86_64"}


def test_shared_segment_takes_the_first_value_as_short_as_possible() -> None:
    t = Template("<base>/acme-<version>-<os>.tar.gz")
    assert not t.exact
    url = t.render({"base": "https://g.example", "version": "1.0-rc1", "os": "linux"})
    # the separator "-" is inside the version: it cannot come back whole
    assert t.parse(url) == {"base": "https://g.example", "version": "1.0", "os": "rc1-linux"}
    assert t.render(t.parse(url)) == url


def test_a_separator_no_encoded_value_carries_makes_the_template_exact() -> None:
    t = Template("<base>/<os>+<arch>/py<python_minor>!<implementation>?v=<a>:<b>")
    assert t.exact
    facts = {"base": "https://g.example", "os": "a+b", "arch": "c!d", "python_minor": "3.11",
             "implementation": "x:y", "a": "p:q", "b": "r"}
    url = t.render(facts)
    assert t.parse(url) == {**facts, "os": "a+b", "arch": "c!d"}


def test_exactness_of_the_shipped_templates() -> None:
    from pathbeacon.catalogue import entries, resolve

    assert all(resolve(entry.name).exact for entry in entries())
    assert not Template("https://h.example/<a>%2B<b>").exact  # an escape may be a value's too
