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


# ---- international hosts, lying strings, parsed bases (issue 16, item 7) ------------------


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("https://bücher.example/t", "https://xn--bcher-kva.example/t"),
        ("https://BÜCHER.example/t/", "https://xn--bcher-kva.example/t"),  # folded as browsers do
        ("http://例え.テスト:8443/p", "http://xn--r8jz45g.xn--zckzah:8443/p"),
        ("https://bücher\u3002example", "https://xn--bcher-kva.example"),  # an ideographic dot
    ],
)
def test_an_international_host_in_base_is_encoded_with_idna(base: str, expected: str) -> None:
    assert check_base(base) == expected
    t = Template("<base>/<os>")
    url = t.render({"base": base, "os": "linux"})
    assert url == expected + "/linux" and url.isascii()
    assert t.parse(url) == {"base": expected, "os": "linux"}


@pytest.mark.parametrize("base", ["https://bü\u3002\u3002cher.example", "https://" + "ü" * 70 + ".example",
                                  "https://bü\u200echer.example", "https://straße.example",
                                  "https://ςa.example"])
def test_an_international_host_that_idna_refuses_is_a_clear_error(base: str) -> None:
    with pytest.raises(TemplateError, match=r"international domain name|xn-- form"):
        check_base(base)


class _Liar(str):
    """A str subclass whose methods describe a clean string it does not hold."""

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter("https://clean.example")

    def __len__(self) -> int:
        return 5

    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        return "https://clean.example"[index]

    def __str__(self) -> str:
        return self

    def split(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return ["clean"]

    def strip(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return ""

    def isprintable(self) -> bool:
        return True

    def isascii(self) -> bool:
        return True

    def translate(self, table):  # type: ignore[no-untyped-def]
        return "clean"

    def encode(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return b"clean"

    def endswith(self, *args, **kwargs) -> bool:  # type: ignore[no-untyped-def]
        return False

    def startswith(self, *args, **kwargs) -> bool:  # type: ignore[no-untyped-def]
        return True


def test_a_lying_str_subclass_cannot_carry_crlf_into_the_url() -> None:
    from pathbeacon.encoding import encode, sanitise

    hostile = "linux\r\nX-Injected: 1/../..?#"
    assert sanitise(_Liar(hostile)) == sanitise(hostile) and type(sanitise(_Liar(hostile))) is str
    assert encode(_Liar(hostile)) == encode(hostile)
    url = Template("https://g.example/<os>").render({"os": _Liar(hostile)})
    assert url == "https://g.example/" + encode(hostile)
    with pytest.raises(TemplateError, match="may not contain"):
        check_base(_Liar("https://g.example/t\r\nX-Injected: 1"))


class _Shifty:
    """Not a str, but its __str__ hands back a lying str subclass."""

    def __str__(self) -> str:
        return _Liar("a b\r\nc")


def test_a_str_method_returning_a_lying_subclass_is_read_as_plain_text() -> None:
    from pathbeacon.encoding import sanitise

    assert sanitise(_Shifty()) == sanitise("a b\r\nc") == "a_b_c"


@pytest.mark.parametrize("url", ["https://g.example/t\r\nX-Injected: 1/linux",
                                 "https://g.example/t\n/linux", "https://g.ex\x00ample/linux",
                                 "https://g.example/a b/linux", "https://u@g.example/linux"])
def test_parse_never_returns_a_base_with_crlf_or_what_check_base_refuses(url: str) -> None:
    with pytest.raises(TemplateError):
        Template("<base>/<os>").parse(url)


def test_a_huge_value_is_cut_before_it_is_normalised() -> None:
    import time

    from pathbeacon.encoding import MAX_INPUT, sanitise

    for huge in ("a " * 5_000_000, "\u200b" * 5_000_000, "e\u0301" * 3_000_000):
        started = time.thread_time()  # CPU: a loaded machine does not stretch it
        text = sanitise(huge)
        assert time.thread_time() - started < 0.2  # seconds before the cut
        assert text == sanitise(huge[:MAX_INPUT])
    assert sanitise("a " * 5_000_000) == "a_" * 32
