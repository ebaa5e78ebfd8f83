"""The ``pathbeacon`` command: render, parse, inspect and send telemetry URLs.

    $ pathbeacon render sedona base=https://example.gateway.scarf.sh/packages engine=spark

Adding a subcommand (the protocol other modules follow)
-------------------------------------------------------
``_parser()`` builds one subparser per command with :func:`command` and, last of all,
calls ``_register_extras(sub)``, which imports ``pathbeacon.analysis.cli`` if it exists
and calls its ``register(sub)``. A module that adds commands does the same::

    from pathbeacon.cli import command

    def register(sub):
        p = command(sub, "stats", "count reports in a log file",
                    example="pathbeacon stats access.log", exits="0 done, 2 usage error")
        p.add_argument("log")
        p.set_defaults(run=_stats)

    def _stats(args) -> int:     # handler(args) -> exit status
        print(...)               # results on stdout (sys.stdout, as print uses)
        return 0

What :func:`main` does for every handler, so that each command behaves the same:

- A ``ValueError`` (``UsageError``, ``TemplateError``, ...) ends as ``pathbeacon: error:
  <message>`` on stderr and exit status 2, never a traceback.
- Output that cannot be written (stdout closed with ``>&-``, a full device such as
  ``/dev/full``, a reader that left a pipe) ends as one line on stderr and status 1.
  Write results with ``print()`` or ``sys.stdout.write`` (not ``sys.stdout.buffer``), so
  that this guard sees them; a missing input file is the handler's to report, as a
  ``ValueError`` naming it.
- Control and format characters (escape sequences, bidi overrides, ...) written to stdout
  or in an error message are shown escaped (``\\x1b``), so input can never drive the
  terminal; newlines and tabs pass as they are.
- A command that takes ``name=value`` pairs calls :func:`takes_pairs` on its subparser;
  the pairs may then stand anywhere among its options and arrive in ``args.pairs``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from typing import Any, NoReturn, TextIO

import pathbeacon
from pathbeacon.errors import EngineError, OutputError

__all__ = ["UsageError", "command", "main", "takes_pairs"]

#: Exit statuses shared by every command (docs/reference/exit-statuses.md): 0 done,
#: 1 failed (a report not delivered, an output not written), 2 usage error, 3 under 1 %
#: of the lines read matched the template, 130 interrupted.
OK, FAILED, USAGE, NOTHING_MATCHED, INTERRUPTED = 0, 1, 2, 3, 130


class UsageError(ValueError):
    """A command line that cannot be carried out (exit status 2)."""


class _OutputError(Exception):
    """Standard output cannot be written (closed, full, or the reader left)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


def _escaped(text: str) -> str:
    """``text`` with every control or format character but newline and tab escaped."""
    if text.isprintable() or text.replace("\n", "").replace("\t", "").isprintable():
        return text
    return "".join(
        ch if ch.isprintable() or ch in "\n\t" else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )


class _GuardedStdout:
    """Wraps ``sys.stdout`` while a command runs: escapes what input could smuggle into a
    terminal, and turns a failed write into :class:`_OutputError`."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(_escaped(text))
        except (OSError, ValueError) as error:  # ValueError: I/O on a closed file
            raise _OutputError(error) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except (OSError, ValueError) as error:
            raise _OutputError(error) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


_INVALID_CHOICE = re.compile(r"invalid choice: '?([^'()]*?)'? \(choose from (.*)\)$")


def _did_you_mean(message: str) -> str:
    """argparse's "invalid choice" message with the closest choice suggested.

        >>> _did_you_mean("invalid choice: 'stat' (choose from 'stats', 'sql')")
        "invalid choice: 'stat' (did you mean 'stats'?) (choose from 'stats', 'sql')"
    """
    import difflib

    found = _INVALID_CHOICE.search(message)
    if found is None:
        return message
    choices = [c.strip().strip("'") for c in found.group(2).split(",")]
    close = difflib.get_close_matches(found.group(1), choices, n=1, cutoff=0.5)
    if not close:
        return message
    at = found.start(2) - len("(choose from ")
    return f"{message[:at]}(did you mean {close[0]!r}?) {message[at:]}"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One clear line instead of argparse's usage block.
        raise UsageError(f"{_did_you_mean(message)} (see {self.prog} --help)")


def command(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    name: str,
    summary: str,
    *,
    example: str,
    exits: str = "0 done, 2 usage error",
    usage: str | None = None,
) -> argparse.ArgumentParser:
    """Add subcommand ``name`` with a one-line summary, an example and its exit statuses,
    all shown by ``pathbeacon NAME --help``.

        >>> sub = argparse.ArgumentParser(prog="pathbeacon").add_subparsers()
        >>> p = command(sub, "hello", "say hello", example="pathbeacon hello")
        >>> print(p.epilog)
        example:
          pathbeacon hello
        <BLANKLINE>
        exit status: 0 done, 2 usage error
    """
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=summary,
        description=summary[:1].upper() + summary[1:] + ".",
        epilog=f"example:\n  {example}\n\nexit status: {exits}",
        usage=usage,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def takes_pairs(parser: argparse.ArgumentParser) -> None:
    """Let the command take ``name=value`` pairs anywhere among its options; they arrive
    in ``args.pairs`` (a list of strings) once :func:`main` has parsed the line.

        >>> p = argparse.ArgumentParser()
        >>> takes_pairs(p)
        >>> p.parse_args([]).pairs is None
        True
    """
    parser.set_defaults(pairs=None)


def _pairs(items: Sequence[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"expected name=value, got {item!r}")
        values[name] = value
    return values


def _check_names(template: str, names: Sequence[str]) -> None:
    """Refuse a name the template does not use and that is no fact pathbeacon knows."""
    import difflib

    from . import probes
    from .catalogue import resolve

    fields = resolve(template).fields
    known = [*fields, "base", "package", "version", *probes.NAMES]
    for name in names:
        if name in known:
            continue
        close = difflib.get_close_matches(name, list(dict.fromkeys(known)), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        uses = ", ".join(fields) or "none"
        raise UsageError(
            f"unknown name {name!r}: the template does not use it (it uses {uses}) and it is "
            f"no fact pathbeacon knows{hint}"
        )


def _facts_for(args: argparse.Namespace) -> dict[str, str]:
    facts = _pairs(args.pairs)
    _check_names(args.template, list(facts))
    return facts


def _print_facts(values: dict[str, str], as_json: bool) -> None:
    if as_json:
        print(json.dumps(values, indent=2))
        return
    width = max((len(name) for name in values), default=0)
    for name, value in values.items():
        print(f"{name:<{width}}  {value}")


def _table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)]
        print("  ".join([*cells, row[-1]]).rstrip())


def _cmd_render(args: argparse.Namespace) -> int:
    print(pathbeacon.render(args.template, **_facts_for(args)))
    return OK


def _cmd_parse(args: argparse.Namespace) -> int:
    _print_facts(pathbeacon.parse(args.template, args.url), args.json)
    return OK


def _cmd_facts(args: argparse.Namespace) -> int:
    _print_facts(pathbeacon.facts(args.package), args.json)
    return OK


def _cmd_templates(args: argparse.Namespace) -> int:
    from .catalogue import entries

    found = entries()
    if args.json:
        print(json.dumps([{"name": e.name, "template": e.text, "description": e.description,
                           "facts": list(e.facts)} for e in found], indent=2))
        return OK
    _table([("NAME", "TEMPLATE", "DESCRIPTION")]
           + [(e.name, e.text, e.description) for e in found])
    return OK


def _say_reason(status: str, reason: str) -> None:
    if reason and status not in ("sent", "dry_run"):  # why it was not sent
        print(f"pathbeacon: {status}: {_escaped(reason)}", file=sys.stderr)


def _cmd_send(args: argparse.Namespace) -> int:
    import os

    if not 0 < args.timeout < 3600:
        raise UsageError(f"--timeout must be a number of seconds above 0, not {args.timeout}")
    from .catalogue import resolve

    given = _facts_for(args)
    url = pathbeacon.render(args.template, **given)  # template errors exit 2 here
    # As for `render`, a known fact the template ignores is fine here; report_once() itself
    # fails a keyword that is no field of its template (a package author's typo).
    fields = set(resolve(args.template).fields) | {"package", "version"}
    facts: dict[str, Any] = {name: value for name, value in given.items() if name in fields}
    if args.dry_run:
        os.environ["PATHBEACON_DRY_RUN"] = "1"
    report = pathbeacon.report_once(
        args.template, timeout=args.timeout, skip_dev=False, key=("cli", url), facts=facts
    )
    status = report.wait()
    if args.json:
        print(json.dumps({"url": report.url or url, "status": status, "reason": report.reason},
                         indent=2))
    else:
        print(report.url or url)
        print(status)
    _say_reason(status, report.reason)
    return FAILED if status == "failed" else OK


def _cmd_pixel(args: argparse.Namespace) -> int:
    params = _pairs(args.pairs)
    if args.html:
        print(pathbeacon.pixel_html(args.pixel_id, **params))
    elif args.markdown:
        print(pathbeacon.pixel_markdown(args.pixel_id, **params))
    else:
        print(pathbeacon.pixel_url(args.pixel_id, **params))
    return OK


def _cmd_urls(args: argparse.Namespace) -> int:
    pairs = _pairs(args.pairs)
    _check_names(args.template, list(pairs))
    facts = {name: value.split(",") for name, value in pairs.items()}
    urls = pathbeacon.expand(args.template, **facts)
    print(json.dumps(urls, indent=2) if args.json else "\n".join(urls))
    return OK


def _cmd_explain(args: argparse.Namespace) -> int:
    text = pathbeacon.explain(args.template, interval=args.interval, consent=args.consent,
                              **_facts_for(args))
    print(text, end="")
    return OK


def _cmd_telemetry(args: argparse.Namespace) -> int:
    """Show or change the user's lasting choice, or print the record of what was sent."""
    from . import consent

    try:
        consent.run(args.action, args.packages, as_json=args.json)
    except OSError as error:
        if isinstance(error, OutputError):
            raise
        message = error.strerror or str(error)
        if error.filename and str(error.filename) not in message:
            message = f"{error.filename}: {message}"
        _error(message)
        return FAILED
    return OK


def _cmd_demo(args: argparse.Namespace) -> int:
    """The whole loop on loopback: beacons from real processes, a log, stats, a dashboard."""
    from .analysis import demo

    return demo.run(args)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pathbeacon",
        description="Render, parse and send privacy-respecting telemetry URLs.",
        epilog="Run 'pathbeacon COMMAND --help' for a command's example and exit statuses.",
    )
    parser.add_argument(
        "-V", "--version", action="version", version=f"pathbeacon {pathbeacon.__version__}"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    template_help = "template text or a shipped template's name"
    base = "base=https://acme.gateway.scarf.sh/telemetry"

    p = command(sub, "render", "print the URL a template renders to",
                usage="pathbeacon render TEMPLATE [name=value ...]",
                example="pathbeacon render sedona base=https://example.gateway.scarf.sh/p "
                        "engine=spark")
    p.add_argument("template", help=template_help)
    takes_pairs(p)
    p.set_defaults(run=_cmd_render)

    p = command(sub, "parse", "print the facts a URL carries",
                example="pathbeacon parse risingwave https://g.example/telemetry/1.2/linux")
    p.add_argument("template", help=template_help)
    p.add_argument("url")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_cmd_parse)

    p = command(sub, "facts", "print the facts detected on this machine",
                example="pathbeacon facts --package pathbeacon --json")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--package", metavar="NAME", help="also give NAME's installed version")
    p.set_defaults(run=_cmd_facts)

    p = command(sub, "templates", "list the shipped templates",
                example="pathbeacon templates --json")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(run=_cmd_templates)

    p = command(sub, "send", "send one report now and print the URL and the outcome",
                usage="pathbeacon send TEMPLATE [name=value ...] [--timeout S] [--dry-run] "
                      "[--json]",
                example=f"pathbeacon send default {base} package=acme --dry-run",
                exits="0 sent, dry run or opted out, 1 delivery failed, 2 usage error")
    p.add_argument("template", help=template_help)
    takes_pairs(p)
    p.add_argument("--timeout", type=float, default=3.0, metavar="S",
                   help="seconds for the whole attempt: look-up, connect, send and answer"
                        " (default 3)")
    p.add_argument("--dry-run", action="store_true", help="render only, send nothing")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    p.set_defaults(run=_cmd_send)

    p = command(sub, "demo",
                "run the whole loop on loopback: reports from real processes, the collector's"
                " log decoded, a store and a dashboard",
                example="pathbeacon demo --processes 30",
                exits="0 every report sent, dry run or opted out, 1 a report failed,"
                      " 2 usage error")
    from .analysis import demo

    demo.add_arguments(p)
    p.set_defaults(run=_cmd_demo)

    p = command(sub, "pixel", "print a Scarf pixel URL, <img> tag or Markdown image",
                usage="pathbeacon pixel PIXEL_ID [name=value ...] [--html | --markdown]",
                example="pathbeacon pixel abc-123 --markdown page=readme")
    p.add_argument("pixel_id", metavar="PIXEL_ID", help="the id Scarf shows on the pixel's page")
    takes_pairs(p)
    style = p.add_mutually_exclusive_group()
    style.add_argument("--html", action="store_true", help="print an <img> tag")
    style.add_argument("--markdown", action="store_true", help="print a Markdown image")
    p.set_defaults(run=_cmd_pixel)

    p = command(sub, "urls", "print one URL per combination of comma-separated values",
                usage="pathbeacon urls TEMPLATE name=v1,v2 ... [--json]",
                example="pathbeacon urls '<base>/<version>/acme-<os>-<arch>.tar.gz' "
                        "base=https://dl.example version=1.0 os=linux,macos arch=x86_64")
    p.add_argument("template", help=template_help)
    takes_pairs(p)
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(run=_cmd_urls)

    p = command(sub, "explain", "print a Markdown privacy notice for a README",
                usage="pathbeacon explain TEMPLATE [name=value ...] [--interval I] "
                      "[--consent MODE]",
                example=f"pathbeacon explain default {base} package=acme")
    p.add_argument("template", help=template_help)
    takes_pairs(p)
    p.add_argument("--interval", metavar="I",
                   help="the interval given to report_once (seconds, or such as 1d, 12h)")
    p.add_argument("--consent", metavar="MODE", default="opt-out",
                   choices=("opt-out", "opt-in", "notice"),
                   help="the consent mode given to report_once (opt-out, opt-in, notice)")
    p.set_defaults(run=_cmd_explain)

    p = command(sub, "telemetry",
                "show or change your lasting telemetry choice for every package that reports"
                " through pathbeacon, or one of them; or print what was sent",
                usage="pathbeacon telemetry [status|on|off|reset|log] [PACKAGE ...] [--json]",
                example="pathbeacon telemetry off            # every package\n"
                        "  pathbeacon telemetry on acme        # acme only\n"
                        "  pathbeacon telemetry log --json",
                exits="0 done, 1 the choice could not be written (or the record read), "
                      "2 usage error")
    p.add_argument("action", nargs="?", default="status", metavar="ACTION",
                   help="status (the default), on, off, reset, or log")
    p.add_argument("packages", nargs="*", metavar="PACKAGE",
                   help="the packages the choice is for (none: every package)")
    p.add_argument("--json", action="store_true",
                   help="print the resulting state (or the record) as JSON")
    p.set_defaults(run=_cmd_telemetry)

    _register_extras(sub)
    return parser


def _register_extras(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Let ``pathbeacon.analysis.cli`` (the receiving side, when present) add commands."""
    try:
        from importlib import import_module

        extras = import_module("pathbeacon.analysis.cli")
    except ImportError:
        return
    extras.register(sub)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if getattr(args, "run", None) is None:
        raise UsageError("a command is required (see pathbeacon --help)")
    if hasattr(args, "pairs"):
        options = [item for item in extra if item.startswith("-")]
        if not options:
            args.pairs = extra
            return args
        extra = options
    if extra:
        raise UsageError(f"unrecognized arguments: {' '.join(extra)} "
                         f"(see pathbeacon {args.command} --help)")
    return args


def _run(argv: Sequence[str] | None) -> int:
    try:
        args = _parse(argv)
    except SystemExit as done:  # --help and --version print, then exit
        return done.code if isinstance(done.code, int) else OK
    status: int = args.run(args)
    return status


def _interrupted(signum: int, frame: Any) -> None:
    """SIGINT while a command runs: remember it, then raise KeyboardInterrupt as usual (a
    library that catches it, such as DuckDB, may turn it into its own error)."""
    global _INTERRUPTED
    _INTERRUPTED = True
    raise KeyboardInterrupt


_INTERRUPTED = False


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 failed, 2 usage, 3 under 1 %
    of the lines read matched the template, 130 interrupted)."""
    import signal
    import threading

    global _INTERRUPTED
    real = sys.stdout
    if real is None:  # started with stdout closed (`pathbeacon ... >&-`)
        _error("standard output is closed")
        return FAILED
    _INTERRUPTED = False
    previous = None
    if threading.current_thread() is threading.main_thread() \
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        previous = signal.signal(signal.SIGINT, _interrupted)
    sys.stdout = _GuardedStdout(real)
    try:
        status = _guarded(argv, real)
    except KeyboardInterrupt:
        _INTERRUPTED = True
        status = INTERRUPTED
    finally:
        sys.stdout = real
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if _INTERRUPTED:
        _error("interrupted")
        _silence(real)
        return INTERRUPTED
    return status


def _guarded(argv: Sequence[str] | None, real: TextIO) -> int:
    """Run the command; turn each kind of failure into its line on stderr and status."""
    try:
        status = _run(argv)
        sys.stdout.flush()
    except Exception as error:
        if _INTERRUPTED:  # whatever a library (DuckDB, Spark) made of the interrupt
            return INTERRUPTED
        if isinstance(error, ValueError):
            _error(str(error))
            return USAGE
        if isinstance(error, (OutputError, EngineError)):  # a file named on the command
            _error(str(error))  # line; DuckDB or Spark stopped with an error of its own
            return FAILED
        if isinstance(error, (_OutputError, BrokenPipeError)):
            cause = error.error if isinstance(error, _OutputError) else error
            _error(f"cannot write the output: {getattr(cause, 'strerror', None) or cause}")
            _silence(real)
            return FAILED
        raise
    return status


def _error(message: str) -> None:
    try:
        print(f"pathbeacon: error: {_escaped(message)}", file=sys.stderr)
    except Exception:  # no stderr either: the exit status says it all
        pass


def _silence(stream: TextIO) -> None:
    """Point stdout at /dev/null, so that the flush at exit has nowhere to fail."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
    except (OSError, ValueError):
        pass
