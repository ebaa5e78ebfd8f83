"""The ``pathbeacon`` command: render, parse, inspect and send telemetry URLs.

    $ pathbeacon render sedona base=https://example.gateway.scarf.sh/packages engine=spark
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import pathbeacon

from .errors import TemplateError


class UsageError(Exception):
    """A command line that cannot be carried out (exit status 2)."""


def _pairs(items: Sequence[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"expected name=value, got {item!r}")
        values[name] = value
    return values


def _print_facts(values: dict[str, str], as_json: bool) -> None:
    if as_json:
        print(json.dumps(values, indent=2, sort_keys=False))
        return
    width = max((len(name) for name in values), default=0)
    for name, value in values.items():
        print(f"{name:<{width}}  {value}")


def _cmd_render(args: argparse.Namespace) -> int:
    print(pathbeacon.render(args.template, **_pairs(args.facts)))
    return 0


def _cmd_parse(args: argparse.Namespace) -> int:
    _print_facts(pathbeacon.parse(args.template, args.url), args.json)
    return 0


def _cmd_facts(args: argparse.Namespace) -> int:
    _print_facts(pathbeacon.facts(), args.json)
    return 0


def _cmd_templates(args: argparse.Namespace) -> int:
    from .catalogue import entries

    for entry in entries():
        print(f"{entry.name}\n  {entry.description}\n  {entry.text}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pathbeacon",
        description="Render, parse and send privacy-respecting telemetry URLs.",
    )
    parser.add_argument(
        "--version", action="version", version=f"pathbeacon {pathbeacon.__version__}"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("render", help="print the URL a template renders to")
    p.add_argument("template", help="template text or a shipped template's name")
    p.add_argument("facts", nargs="*", metavar="name=value", help="facts to use")
    p.set_defaults(run=_cmd_render)

    p = sub.add_parser("parse", help="print the facts a URL carries")
    p.add_argument("template", help="template text or a shipped template's name")
    p.add_argument("url")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_cmd_parse)

    p = sub.add_parser("facts", help="print the facts detected on this machine")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_cmd_facts)

    p = sub.add_parser("templates", help="list the shipped templates")
    p.set_defaults(run=_cmd_templates)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 delivery failed, 2 usage)."""
    args = _parser().parse_args(argv)
    try:
        status: int = args.run(args)
    except (TemplateError, UsageError, ValueError, TypeError) as error:
        print(f"pathbeacon: error: {error}", file=sys.stderr)
        return 2
    return status
