"""Shipped templates: valid, self-describing, carrying no third party's base URL."""

from __future__ import annotations

import pytest

import pathbeacon
from pathbeacon import Template, TemplateError, catalogue


def test_required_templates_are_shipped() -> None:
    names = {e.name for e in catalogue.entries()}
    assert {"sedona", "risingwave", "scarf-pixel", "default"} <= names
    assert catalogue.load("sedona").text == "<base>/<language>/<engine>/<arch>/<os>/<runtime>"
    assert catalogue.load("risingwave").text == "<base>/telemetry/<version>/<os>"
    assert catalogue.load("scarf-pixel").text == "https://static.scarf.sh/a.png?x-pxid=<pixel_id>"


@pytest.mark.parametrize("entry", catalogue.entries(), ids=lambda e: e.name)
def test_each_template_is_valid_and_declares_its_facts(entry: catalogue.Entry) -> None:
    template = Template(entry.text)
    assert entry.facts == template.fields
    assert entry.description and "\n" not in entry.description
    # base always comes from the caller: a template either takes <base> or is Scarf's pixel.
    assert template.has_base or entry.text.startswith("https://static.scarf.sh/")


def test_names_resolve_and_unknown_names_are_template_errors() -> None:
    assert catalogue.resolve("risingwave") == Template("<base>/telemetry/<version>/<os>")
    with pytest.raises(TemplateError, match="no shipped template is called 'nope'"):
        pathbeacon.render("nope")


def test_default_template_renders_with_detected_facts() -> None:
    url = pathbeacon.render("default", base="https://g.example/t", package="pytest")
    facts = pathbeacon.parse("default", url)
    assert facts["package"] == "pytest"
    assert facts["os"] == pathbeacon.facts()["os"]
    assert facts["base"] == "https://g.example/t"
