"""Commands ``decode``, ``stats`` and ``sql``, added to the ``pathbeacon`` command by
:func:`register`. A usage error raises ``ValueError`` (one line, exit status 2).

    $ pathbeacon stats '<base>/<package>/<version>/<os>' access.log.gz \\
          base=https://g.example/t --by version
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .arguments import gather_positionals, split_pairs

__all__ = ["register"]

_EXIT = "exit status: 0 done, 2 usage error (one line on stderr)"
_FORMAT_HELP = "log format: auto (default: detected per file), combined, json, cloudfront, s3, urls"
_ENGINE_HELP = "auto (default: duckdb when installed, else python), python, duckdb, spark"
_PAIRS_NOTE = (
    "Arguments holding '=' are name=value settings (base=URL); every other one names a log\n"
    "(- for standard input). To read a log whose path holds '=', write it as ./path."
)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("template", help="template text or a shipped template's name")
    p.add_argument("logs", nargs="+", metavar="LOG|base=URL",
                   help="log files (plain or gzip; - for standard input) and base=URL")
    p.add_argument("--format", default="auto", metavar="F", help=_FORMAT_HELP)
    p.add_argument("--engine", default="auto", metavar="E", help=_ENGINE_HELP)
    p.add_argument("--master", default=None, metavar="URL",
                   help="Spark master for --engine spark (default local[*])")


def _engine_options(args: argparse.Namespace) -> dict[str, Any]:
    if args.master is None:
        return {}
    if args.engine != "spark":
        raise ValueError("--master applies only to --engine spark")
    return {"master": args.master}


def _counts_line(counts: Any) -> None:
    print(str(counts), file=sys.stderr)


def _cmd_decode(args: argparse.Namespace) -> int:
    from . import plan
    from .engines import get
    from .output import output_kind, write_decoded, write_jsonl

    logs, pairs = split_pairs(args.logs)
    kind = output_kind(args.output) if args.output else None
    the_plan = plan(args.template, logs, base=pairs.get("base"), format=args.format)
    if args.output and os.path.exists(args.output):
        for source in the_plan.sources:
            if not source.is_stdin and os.path.samefile(source.name, args.output):
                # writing would empty the log before it is read
                raise ValueError(f"--output {args.output} is one of the logs being read")
    engine = get(args.engine, **_engine_options(args))
    try:
        if args.output:
            counts = write_decoded(engine, the_plan, args.output, kind)
        else:
            decoded = engine.decode(the_plan)
            write_jsonl(decoded, sys.stdout)
            counts = decoded.counts
    finally:
        engine.close()
    sys.stdout.flush()
    _counts_line(counts)
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    from . import plan
    from .engines import get
    from .output import json_text, write_csv, write_table
    from .stats import Counts, StatsQuery

    logs, pairs = split_pairs(args.logs)
    the_plan = plan(args.template, logs, base=pairs.get("base"), format=args.format)
    query = StatsQuery.make(
        the_plan.template.fields, by=args.by or (), every=args.every, since=args.since,
        until=args.until, k=args.k,
    )
    engine = get(args.engine, **_engine_options(args))
    try:
        result = engine.stats(the_plan, query)
    finally:
        engine.close()
    if args.json:
        print(json_text(result, indent=2))
    elif args.csv:
        columns = ([("period")] if query.every else []) + list(query.by) + ["events", "reporters"]
        write_csv(result["rows"], columns, sys.stdout)
    else:
        write_table(result, sys.stdout)
    if not args.json:
        sys.stdout.flush()
        _counts_line(Counts(**result["lines"]))
    return 0


def _cmd_sql(args: argparse.Namespace) -> int:
    from . import sql

    extra, pairs = split_pairs(args.settings)
    if extra:
        raise ValueError(f"sql reads no logs: unexpected argument {extra[0]!r}")
    print(sql(args.template, args.dialect, base=pairs.get("base"), format=args.format))
    return 0


def _k(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"--k takes a whole number of at least 1, not {text!r}") from None
    return value


def register(sub: Any) -> None:
    """Add ``decode``, ``stats`` and ``sql`` to the ``pathbeacon`` subcommands ``sub``."""
    raw = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser(
        "decode", help="decode the beacons in access logs into rows of facts",
        description=(
            "Decode the lines of access logs that fit the template into rows of facts\n"
            "(JSON lines on stdout; the four line counts on stderr).\n\n"
            "  pathbeacon decode '<base>/<package>/<version>/<os>' access.log"
            " base=https://g.example/t\n\n" + _PAIRS_NOTE
        ),
        epilog=_EXIT, formatter_class=raw,
    )
    _common(p)
    p.add_argument("--output", "-o", default=None, metavar="FILE",
                   help="write rows to FILE.jsonl, FILE.csv or FILE.parquet instead")
    gather_positionals(p, "logs")
    p.set_defaults(run=_cmd_decode)

    p = sub.add_parser(
        "stats", help="count beacons in access logs by fields and period",
        description=(
            "Count the beacons in access logs, grouped by template fields (and period),\n"
            "with reporters = distinct client addresses per UTC day (IPv6: per /64).\n\n"
            "  pathbeacon stats '<base>/<package>/<version>/<os>' access.log --by version,os"
            " --every week\n\n" + _PAIRS_NOTE
        ),
        epilog=_EXIT, formatter_class=raw,
    )
    _common(p)
    p.add_argument("--by", default="", metavar="F1,F2", help="fields to group by")
    p.add_argument("--every", default=None, choices=("day", "week", "month"),
                   help="also group by period (a 'period' column: the date it starts)")
    p.add_argument("--since", default=None, metavar="YYYY-MM-DD", help="from this UTC day on")
    p.add_argument("--until", default=None, metavar="YYYY-MM-DD", help="before this UTC day")
    p.add_argument("--k", type=_k, default=1, metavar="N",
                   help="pool groups with fewer than N client addresses on every UTC day"
                        " into 'other' (default 1; see docs/privacy.md)")
    style = p.add_mutually_exclusive_group()
    style.add_argument("--json", action="store_true", help="print JSON (with the line counts)")
    style.add_argument("--csv", action="store_true", help="print CSV")
    p.set_defaults(run=_cmd_stats)

    p = sub.add_parser(
        "sql", help="print the SQL query the duckdb or spark engine runs",
        description=(
            "Print the SELECT an SQL engine runs over a relation logs(line) of raw lines,\n"
            "giving the decoded columns and each line's count category.\n\n"
            "  pathbeacon sql '<base>/<package>/<version>/<os>' --dialect duckdb"
            " base=https://g.example/t"
        ),
        epilog=_EXIT, formatter_class=raw,
    )
    p.add_argument("template", help="template text or a shipped template's name")
    p.add_argument("settings", nargs="*", metavar="base=URL", help="base=URL")
    p.add_argument("--dialect", required=True, choices=("duckdb", "spark"))
    p.add_argument("--format", default="combined", metavar="F",
                   help="log format (default combined): combined, json, cloudfront, s3, urls")
    gather_positionals(p, "settings")
    p.set_defaults(run=_cmd_sql)

    from . import dashboard, gateway, store  # the self-hosting commands (issue 10)

    gateway.register(sub)
    store.register(sub)  # ingest, and stats --db
    dashboard.register(sub)
