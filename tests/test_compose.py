"""render(), parse() and expand(): detected facts, overrides, unknowns."""

from __future__ import annotations

import pytest

import pathbeacon
from pathbeacon import TemplateError


def test_given_facts_override_detected_ones_and_extras_are_ignored() -> None:
    url = pathbeacon.render("<base>/<os>/<arch>/<custom>", base="https://g.example",
                            os="Plan 9", unused="x")
    assert url == f"https://g.example/Plan_9/{pathbeacon.facts()['arch']}/unknown"


def test_render_and_parse_round_trip_through_names() -> None:
    url = pathbeacon.render("sedona", base="https://g.example/p", engine="spark")
    assert pathbeacon.parse("sedona", url)["engine"] == "spark"


def test_template_can_be_a_template_object() -> None:
    t = pathbeacon.Template("<base>/<language>")
    assert pathbeacon.render(t, base="https://g.example") == "https://g.example/python"


def test_missing_base_is_a_template_error() -> None:
    with pytest.raises(TemplateError, match="no value for <base>"):
        pathbeacon.render("sedona")


def test_expand_gives_every_combination_in_a_stable_order() -> None:
    urls = pathbeacon.expand("<base>/<os>/<arch>", base="https://dl.example",
                             os=["linux", "macos"], arch=["x86_64", "aarch64"])
    assert urls == ["https://dl.example/linux/x86_64", "https://dl.example/linux/aarch64",
                    "https://dl.example/macos/x86_64", "https://dl.example/macos/aarch64"]
    assert pathbeacon.expand("<base>/<os>", base="https://dl.example", os="linux") == \
        ["https://dl.example/linux"]
    with pytest.raises(TemplateError, match="empty list"):
        pathbeacon.expand("<base>/<os>", base="https://dl.example", os=[])


def test_expand_encodes_hostile_values_and_dedupes() -> None:
    urls = pathbeacon.expand("<base>/<os>", base="https://dl.example",
                             os=["a/b", "a/b", "../x", "?#"])
    # ".." between slashes is "__": a web server would resolve it (issue 13, item 8)
    assert urls == ["https://dl.example/a%2Fb", "https://dl.example/__%2Fx",
                    "https://dl.example/%3F%23"]
