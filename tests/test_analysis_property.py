"""Properties: for every URL pathbeacon renders, decoding a log line gives what parse() gives."""

from __future__ import annotations

import importlib.util
import tempfile
import urllib.parse
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pathbeacon import Template
from pathbeacon.analysis import decode, stats
from pathbeacon.analysis.matcher import Matcher
from pathbeacon.encoding import sanitise

from .logs import FLAVOURS, NO_CLIENT, Hit, expected_row, write_log
from .property.test_template import bases, shared_segments, templates

# Hostile values: separators, escapes, spaces, dots, controls, Unicode, long text.
HOSTILE = st.sampled_from(
    ["/", "%", "%2F", "+", " ", "a b", ".", "..", "...", "?", "&", "=", "#", "\x00", "\t\n",
     "é", "e\u0301", "日本語", "🐍", "\u200b", "\u2028", "x" * 64, "y" * 65, "", "-", "~",
     "50%", "a/b/../c", "\\", '"', "'", "<os>", "\ud800"]
)
VALUES = st.one_of(st.text(max_size=80), HOSTILE, st.none(), st.integers())
# A user agent reaches a server as bytes: any text but lone surrogates.
AGENTS = st.one_of(
    st.none(),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=30),
    HOSTILE.filter(lambda v: v != "\ud800"),
)

REAL_TEMPLATES = [
    "default",
    "<base>/<package>/<version>/<os>/<arch>/<python>/<installer>",
    "<base>/acme-<version>-<os>.tar.gz",
    "<base>/p?package=<package>&v=<version>",
    "https://t.example/v1/<os>/<arch>",
    "<base>/<os>/<os>",
]


def _target(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _without_base(values: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in values.items() if k != "base"}


@settings(max_examples=150)
@given(st.one_of(templates(), shared_segments()), bases, st.data())
def test_matcher_agrees_with_parse_on_rendered_urls(template_fields, base, data) -> None:
    text, fields = template_fields
    template = Template(text)
    facts = {name: data.draw(VALUES, label=name) for name in fields if name != "base"}
    url = template.render({**facts, "base": base})
    expected = _without_base(template.parse(url))
    # with base= (URL or path), without it, and as an absolute URL
    path_of_base = urllib.parse.urlsplit(base).path
    for given_base in ([base, path_of_base or "/", None] if template.has_base else [None]):
        matcher = Matcher(template, given_base)
        assert matcher.match(_target(url)) == expected, (given_base, url)
        assert matcher.match(url) == expected


@settings(max_examples=40)
@given(
    st.sampled_from(REAL_TEMPLATES),
    st.lists(
        st.tuples(
            st.dictionaries(st.sampled_from(["package", "version", "os", "arch", "python",
                                             "installer", "distro", "runtime", "ci",
                                             "container"]), VALUES),
            st.sampled_from([200, 204, 302, 304, 404, 500, 503]),
            st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31)),
            AGENTS,
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_every_format_decodes_to_parse(template_text: str, reports: list) -> None:
    from pathbeacon.catalogue import resolve

    template = resolve(template_text)
    base = "https://g.example/gw/t" if template.has_base else None
    hits, urls = [], []
    for i, (facts, status, moment, agent) in enumerate(reports):
        url = template.render({**facts, "base": base} if base else facts)
        urls.append(url)
        when = moment.replace(tzinfo=timezone.utc, microsecond=0) + timedelta(seconds=i)
        hits.append(Hit(_target(url), status, when, agent, client=f"198.51.100.{i}"))
    # an empty line is not a line; one that is not UTF-8 is malformed
    noise = [b"", b"\xff not utf-8"]
    with tempfile.TemporaryDirectory() as tmp:
        for flavour in FLAVOURS:
            path = write_log(Path(tmp) / f"{flavour}.log", flavour, hits,
                             gz=flavour in ("s3", "caddy"), extra_lines=noise)
            for given_base in ([base, None] if base else [None]):
                rows = decode(template, [str(path)], base=given_base, engine="python")
                got = list(rows)
                want = [
                    expected_row(flavour, hit, _without_base(template.parse(url)))
                    for hit, url in zip(hits, urls)
                    if flavour == "urls" or 200 <= hit.status <= 399
                ]
                assert got == want, flavour
                counts = rows.counts
                assert counts.matched == len(want)
                assert counts.bad_status == len(hits) - len(want)
                # CloudFront's "#Version" and "#Fields" lines carry no request
                headers = 2 if flavour == "cloudfront" else 0
                assert counts.other_path == headers
                assert counts.malformed == 1
                assert sum(counts) == len(hits) + 1 + headers
            fields = [f for f in template.fields if f != "base"]
            result = stats(template, [str(path)], fields[:1], engine="python")
            assert sum(r["events"] for r in result["rows"]) == len(want)
            if flavour in NO_CLIENT:
                assert all(r["reporters"] is None for r in result["rows"])


@settings(max_examples=60)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["1.0", "1.1", "2.0", "other"]),
            st.sampled_from(["linux", "mac"]),
            st.integers(0, 6),  # client
            st.integers(0, 20),  # day
            st.sampled_from([204, 404]),
        ),
        min_size=1,
        max_size=60,
    ),
    st.integers(1, 6),
    st.sampled_from([None, "day", "week"]),
    st.sampled_from([["version"], ["version", "os"], []]),
)
def test_stats_invariants(hits: list, k: int, every: str | None, by: list[str]) -> None:
    start = datetime(2026, 8, 1, 12, tzinfo=timezone.utc)
    log_hits = [Hit(f"/t/acme/{v}/{os}", status, start + timedelta(days=day),
                    client=f"192.0.2.{client}") for v, os, client, day, status in hits]
    with tempfile.TemporaryDirectory() as tmp:
        path = write_log(Path(tmp) / "a.log", "combined", log_hits)
        everything = stats("<base>/<package>/<version>/<os>", [str(path)], by, every=every,
                           engine="python")
        folded = stats("<base>/<package>/<version>/<os>", [str(path)], by, every=every, k=k,
                       engine="python")
    matched = sum(1 for h in hits if h[4] == 204)
    assert everything["lines"]["matched"] == matched == folded["lines"]["matched"]
    assert sum(r["events"] for r in everything["rows"]) == matched
    assert sum(r["events"] for r in folded["rows"]) <= matched
    assert all(r["reporters"] >= k for r in folded["rows"])  # nothing below k is shown
    for rows in (everything["rows"], folded["rows"]):
        keys = [(r.get("period"), *(r[f] for f in by)) for r in rows]
        assert len(keys) == len(set(keys))  # one row per group
        order = [(-r["events"], *key) for r, key in zip(rows, keys)]
        assert order == sorted(order)
    if k == 1:
        assert folded == everything


@pytest.mark.parametrize(("text", "facts"), [
    # the split that takes each value as short as possible would make d ".": no value
    # render() writes ("." becomes "_"), so the next split, the one rendered, is taken
    ("<base>/<c>0<d>0<e>", {"c": None, "d": ".0", "e": None}),
    ("<base>/<a>-<b>-<c>.tgz", {"a": "x", "b": ".-z", "c": "c"}),
    ("<base>/<a>-<b>-<c>.tgz", {"a": "x", "b": "..-z", "c": "c"}),
])
def test_a_shared_segment_is_not_split_into_a_dot_value(tmp_path: Path, text: str,
                                                         facts: dict[str, object]) -> None:
    """Template.parse, the matcher and every engine give back the values rendered, where
    the shortest split would have made a value "." or ".." (parse returned "_" for it,
    the matcher and the engines counted the beacon other_path)."""
    template = Template(text)
    url = template.render({**facts, "base": "https://g.example/t"})
    want = {name: sanitise(value) for name, value in facts.items()}
    assert _without_base(template.parse(url)) == want
    assert Matcher(template, "https://g.example/t").match(_target(url)) == want
    log = tmp_path / "access.log"
    log.write_text(_target(url) + "\n", encoding="utf-8")
    engines = ["python", *(["duckdb"] if importlib.util.find_spec("duckdb") else [])]
    for engine in engines:
        rows = list(decode(text, [str(log)], base="https://g.example/t", engine=engine,
                           format="urls"))
        assert [{k: v for k, v in row.items() if k in want} for row in rows] == [want], engine
