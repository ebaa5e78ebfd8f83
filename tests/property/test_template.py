"""Properties of the template parser: total, and parse() inverts render() exactly."""

from __future__ import annotations

import re

from hypothesis import assume, given
from hypothesis import strategies as st

from pathbeacon import Template, TemplateError
from pathbeacon.encoding import sanitise

names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(lambda n: n != "base")
literal = st.text(alphabet="abcXYZ019-._~!$'()*+,;:@", max_size=4)
# A segment of literal text alone may not be a dot segment, and a query may not hold "'":
# URL parsers would send either otherwise than written (Template refuses them).
segment = literal.filter(lambda text: text not in (".", ".."))
query_literal = st.text(alphabet="abcXYZ019-._~!$()*+,;:@", max_size=4)
values = st.one_of(st.text(max_size=80), st.none(), st.integers(), st.booleans())


@st.composite
def templates(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A valid template text and its placeholder names, built from the grammar."""
    fields = draw(st.lists(names, min_size=1, max_size=6, unique=True))
    has_base = draw(st.booleans())
    n_query = draw(st.integers(0, len(fields)))
    path_fields, query_fields = fields[: len(fields) - n_query], fields[len(fields) - n_query :]
    text = "<base>" if has_base else "https://host.example:8443"
    for name in path_fields:
        text += "/" + draw(literal) + f"<{name}>" + draw(literal)
    if draw(st.booleans()):
        text += "/" + draw(segment)
    if query_fields:
        pairs = [f"k{i}=" + draw(query_literal) + f"<{n}>" + draw(query_literal)
                 for i, n in enumerate(query_fields)]
        text += "?" + "&".join(pairs)
    return text, (["base"] if has_base else []) + fields


separator = st.text(alphabet="abcXYZ019-._~!$'()*+,;:@", min_size=1, max_size=3)


@st.composite
def shared_segments(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A template whose segments hold one to three placeholders split by literal text."""
    fields = draw(st.lists(names, min_size=1, max_size=6, unique=True))
    text, i = "<base>", 0
    while i < len(fields):
        take = draw(st.integers(1, 3))
        group = fields[i : i + take]
        i += take
        text += "/" + draw(literal) + f"<{group[0]}>"
        for name in group[1:]:
            text += draw(separator) + f"<{name}>"
        text += draw(literal)
    return text, ["base", *fields]


bases = st.sampled_from(
    ["https://g.example", "http://127.0.0.1:8080/t/", "https://a.gateway.scarf.sh/x/y"]
)


@given(templates(), st.data())
def test_parse_inverts_render(spec: tuple[str, list[str]], data: st.DataObject) -> None:
    text, fields = spec
    template = Template(text)
    assert list(template.fields) == fields
    facts: dict[str, object] = {n: data.draw(values) for n in fields if n != "base"}
    if "base" in fields:
        facts["base"] = data.draw(bases)
    url = template.render(facts)
    expected = {n: sanitise(v) for n, v in facts.items() if n != "base"}
    if "base" in fields:
        expected["base"] = str(facts["base"]).removesuffix("/")
    assert template.parse(url) == expected


@given(templates(), st.lists(st.text(max_size=30), min_size=6, max_size=6))
def test_each_value_fills_exactly_one_segment(
    spec: tuple[str, list[str]], hostile: list[str]
) -> None:
    text, fields = spec
    template = Template(text)
    plain = {n: "v" for n in fields if n != "base"}
    evil = {n: hostile[i % len(hostile)] for i, n in enumerate(plain)}
    base = {"base": "https://g.example"} if "base" in fields else {}
    a, b = template.render({**plain, **base}), template.render({**evil, **base})
    for sep in "/?&=#":
        assert a.count(sep) == b.count(sep), sep


@given(st.text(max_size=60))
def test_parser_is_total(text: str) -> None:
    """Any text either parses or raises TemplateError (never another exception)."""
    try:
        Template(text)
    except TemplateError as error:
        assert error.position is None or 0 <= error.position <= len(text)


@given(templates())
def test_equal_texts_give_equal_hashable_templates(spec: tuple[str, list[str]]) -> None:
    a, b = Template(spec[0]), Template(spec[0])
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1


@given(templates(), st.text(max_size=40))
def test_parse_of_foreign_url_fails_cleanly(spec: tuple[str, list[str]], junk: str) -> None:
    template = Template(spec[0])
    assume(not re.match(r"https?://", junk, re.I))
    try:
        template.parse(junk)
    except TemplateError:
        pass
    else:
        raise AssertionError("a URL without scheme fitted a template")


value_lists = st.lists(st.text(max_size=20), min_size=1, max_size=3)


@given(value_lists, value_lists)
def test_expand_gives_each_distinct_combination_once_and_parses_back(
    oses: list[str], arches: list[str]
) -> None:
    from pathbeacon import expand, parse

    template = "<base>/<os>/<arch>"
    urls = expand(template, base="https://dl.example", os=oses, arch=arches)
    combos = list(dict.fromkeys((sanitise(o), sanitise(a)) for o in oses for a in arches))
    assert [(parse(template, u)["os"], parse(template, u)["arch"]) for u in urls] == combos


hosts = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z]{2,5}){0,2}", fullmatch=True)
# a valid base holds no "." or ".." segment (URL parsers resolve them away: refused)
paths = st.lists(st.from_regex(r"[A-Za-z0-9._~-]{1,8}", fullmatch=True)
                 .filter(lambda text: text not in (".", "..")), max_size=3)


@given(st.sampled_from(["http", "https", "HTTPS"]), hosts,
       st.one_of(st.none(), st.integers(1, 65535)), paths, st.booleans())
def test_any_valid_base_round_trips(scheme: str, host: str, port: int | None,
                                    path: list[str], slash: bool) -> None:
    base = f"{scheme}://{host}" + (f":{port}" if port else "") + "".join("/" + p for p in path)
    template = Template("<base>/<os>")
    url = template.render({"base": base + ("/" if slash else ""), "os": "linux"})
    assert url == base + "/linux"
    assert template.parse(url) == {"base": base, "os": "linux"}


@given(shared_segments(), st.data())
def test_shared_segments_render_and_parse(spec: tuple[str, list[str]], data: st.DataObject) -> None:
    """Exact templates give every value back; any template re-renders its parse unchanged."""
    text, fields = spec
    template = Template(text)
    assert list(template.fields) == fields
    facts: dict[str, object] = {n: data.draw(values) for n in fields if n != "base"}
    facts["base"] = data.draw(bases)
    url = template.render(facts)
    parsed = template.parse(url)
    assert template.render(parsed) == url
    if template.exact:
        expected = {n: sanitise(v) for n, v in facts.items() if n != "base"}
        assert parsed == {**expected, "base": str(facts["base"]).removesuffix("/")}


@given(st.text(alphabet=st.one_of(st.characters(), st.sampled_from(list("\r\n \t/?#@"))),
               max_size=40))
def test_a_parsed_base_holds_no_whitespace_or_control_character(junk: str) -> None:
    """Whatever a log line holds, parse() never hands back a base a header could not carry."""
    try:
        parsed = Template("<base>/<os>").parse("https://g.example/" + junk + "/linux")
    except TemplateError:
        return
    assert all(" " < ch < "\x7f" for ch in parsed["base"]), parsed
