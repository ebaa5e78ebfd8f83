"""The ``pathbeacon`` command: render, parse, inspect and send telemetry URLs.

    $ pathbeacon render sedona base=https://example.gateway.scarf.sh/packages engine=spark
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import pathbeacon

from .errors import TemplateError


class UsageError(Exception):
    """A command line that cannot be carried out (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One clear line instead of argparse's usage block.
        self.exit(2, f"pathbeacon: error: {message} (see {self.prog} --help)\n")


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


def _outcome(status: str, reason: str) -> str:
    return status + (f" ({reason})" if reason else "")


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


def _cmd_send(args: argparse.Namespace) -> int:
    import os

    if not 0 < args.timeout < 3600:
        raise UsageError(f"--timeout must be a number of seconds above 0, not {args.timeout}")
    facts: dict[str, Any] = _pairs(args.facts)
    url = pathbeacon.render(args.template, **facts)  # template errors exit 2 here
    if args.dry_run:
        os.environ["PATHBEACON_DRY_RUN"] = "1"
    report = pathbeacon.report_once(
        args.template, timeout=args.timeout, skip_dev=False, key=("cli", url), **facts
    )
    status = report.wait()
    print(report.url or url)
    print(_outcome(status, report.reason))
    return 1 if status == "failed" else 0


def _cmd_pixel(args: argparse.Namespace) -> int:
    params = _pairs(args.params)
    if args.html:
        print(pathbeacon.pixel_html(args.pixel_id, **params))
    elif args.markdown:
        print(pathbeacon.pixel_markdown(args.pixel_id, **params))
    else:
        print(pathbeacon.pixel_url(args.pixel_id, **params))
    return 0


def _cmd_urls(args: argparse.Namespace) -> int:
    facts = {name: value.split(",") for name, value in _pairs(args.facts).items()}
    urls = pathbeacon.expand(args.template, **facts)
    print(json.dumps(urls, indent=2) if args.json else "\n".join(urls))
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    print(pathbeacon.explain(args.template, **_pairs(args.facts)), end="")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    """Send a real report, through report_once(), to a collector on loopback."""
    import os
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[tuple[str, str]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            received.append((self.path, self.headers.get("User-Agent", "")))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    base = origin + "/demo"
    for name in ("NO_PROXY", "no_proxy"):  # loopback never goes through a proxy
        os.environ[name] = ",".join(filter(None, [os.environ.get(name), "127.0.0.1"]))
    try:
        print(f"collector listening on {base} (loopback only; nothing leaves this machine)")
        report = pathbeacon.report_once(
            "default", base=base, package="pathbeacon", skip_dev=False, key=("demo", base)
        )
        status = report.wait(30)
        print("template:  default")
        print(f"URL sent:  {report.url}")
        print(f"outcome:   {_outcome(status, report.reason)}")
        for path, agent in received:
            print(f"collector received: GET {path}")
            print(f"           User-Agent: {agent}")
            print("facts parsed back from it:")
            _print_facts(pathbeacon.parse("default", origin + path), False)
    finally:
        server.shutdown()
        server.server_close()
    return 1 if status == "failed" else 0


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
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

    p = sub.add_parser("send", help="send one report now and print the outcome")
    p.add_argument("template", help="template text or a shipped template's name")
    p.add_argument("facts", nargs="*", metavar="name=value", help="facts to use")
    p.add_argument("--timeout", type=float, default=3.0, metavar="S",
                   help="seconds for each connect and read (default 3)")
    p.add_argument("--dry-run", action="store_true", help="render only, send nothing")
    p.set_defaults(run=_cmd_send)

    p = sub.add_parser("demo", help="send a report to a collector on loopback and show it")
    p.set_defaults(run=_cmd_demo)

    p = sub.add_parser("pixel", help="print a Scarf pixel URL, <img> tag or Markdown image")
    p.add_argument("pixel_id")
    p.add_argument("params", nargs="*", metavar="name=value", help="extra query parameters")
    style = p.add_mutually_exclusive_group()
    style.add_argument("--html", action="store_true", help="print an <img> tag")
    style.add_argument("--markdown", action="store_true", help="print a Markdown image")
    p.set_defaults(run=_cmd_pixel)

    p = sub.add_parser("urls", help="print one URL per combination of values")
    p.add_argument("template", help="template text or a shipped template's name")
    p.add_argument("facts", nargs="*", metavar="name=v1,v2", help="comma-separated values")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(run=_cmd_urls)

    p = sub.add_parser("explain", help="print a Markdown privacy notice for a README")
    p.add_argument("template", help="template text or a shipped template's name")
    p.add_argument("facts", nargs="*", metavar="name=value", help="facts (base, package, ...)")
    p.set_defaults(run=_cmd_explain)

    # The receiving side (decode, stats, sql) is loaded only when the CLI runs.
    from .analysis import cli as analysis_cli

    analysis_cli.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 delivery failed, 2 usage)."""
    args = _parser().parse_args(argv)
    try:
        status: int = args.run(args)
        sys.stdout.flush()
    except (TemplateError, UsageError, ValueError, TypeError) as error:
        print(f"pathbeacon: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `pathbeacon facts | head -1`: the reader left; so do we
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return status
