"""Every receiving-side command's face: ``decode``, ``stats``, ``sql``, ``ingest``,
``gateway``, ``dashboard`` and ``publish``, added to the ``pathbeacon`` command by
:func:`register`. The domain modules (``store``, ``gateway``, ``dashboard``, ``publish``)
never see argparse.

    $ pathbeacon stats '<base>/<package>/<version>/<os>' access.log.gz \\
          --base https://g.example/t --by version

Exit statuses (docs/reference/exit-statuses.md, :data:`EXIT_STATUSES`): 0 done; 1 an output
could not be written, or DuckDB or Spark failed; 2 a usage error; 3 under 1 % of the lines
read matched the template (the likely cause on stderr); 130 interrupted (Ctrl-C). Each is
one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from collections.abc import Sequence
from typing import Any

from .arguments import gather_positionals, split_pairs

__all__ = ["EXIT_STATUSES", "NOTHING_MATCHED", "register"]

#: Exit status when under 1 % of the lines read matched the template.
NOTHING_MATCHED = 3
#: Every exit status a receiving-side command may end with.
EXIT_STATUSES = {
    0: "done",
    1: "an output could not be written (nothing half-written is left), or the duckdb or"
       " spark engine stopped with an error of its own (one line on stderr)",
    2: "usage error: a bad option, template, base or log name (one line on stderr)",
    3: "under 1 % of the lines read matched the template (the likely cause on stderr)",
    130: "interrupted (Ctrl-C): one line on stderr, no output file left",
}
_READS = "0 done, 1 an output could not be written or the engine failed, 2 usage error," \
         " 3 under 1 % of the lines matched (the likely cause on stderr), 130 interrupted"
_WRITES = "0 done, 1 an output could not be written, 2 usage error, 130 interrupted"
_PRINTS = "0 done, 2 usage error"
_ENGINES = ("auto", "python", "duckdb", "spark")
_PAIRS_NOTE = (
    "Arguments holding '=' are settings (base=URL, or --base URL); every other one names\n"
    "a log (- for standard input). To read a log whose path holds '=', write it as ./path."
)
_EXAMPLE_T = "'<base>/<package>/<version>/<os>'"
_EXAMPLE_BASE = "--base https://g.example/t"


def _command(sub: Any, name: str, summary: str, *, text: str, examples: Sequence[str],
             exits: str) -> argparse.ArgumentParser:
    """A subcommand whose help has a description, examples and its exit statuses."""
    lines = "\n".join(f"  {example}" for example in examples)
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=summary, description=text,
        epilog=f"example{'s' if len(examples) > 1 else ''}:\n{lines}\n\nexit status: {exits}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def choose(what: str, value: str, choices: Sequence[str]) -> str:
    """``value`` when it is one of ``choices``; else ``ValueError`` naming the choices and
    the closest one.

        >>> choose("engine", "duckbd", ("auto", "python", "duckdb"))
        Traceback (most recent call last):
        ...
        ValueError: unknown engine 'duckbd' (did you mean 'duckdb'?): choose auto, python, duckdb
    """
    if value in choices:
        return value
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.5)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"unknown {what} {value!r}{hint}: choose {', '.join(choices)}")


def _k(text: str) -> int:
    """``--k``'s type: a whole number of at least 1 (argparse shows the message as is)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"takes a whole number of at least 1, not {text!r}")
    return value


def _common_logs(p: argparse.ArgumentParser, *, spark: bool = True,
                 quiet: str = "no progress bar and no line counts on stderr") -> None:
    from .formats import FORMATS

    p.add_argument("--base", default=None, metavar="URL",
                   help="the base URL (or path) the beacons arrive under; same as base=URL")
    p.add_argument("--format", default="auto", metavar="F",
                   help=f"log format: auto (default: detected per file), {', '.join(FORMATS)}")
    engines = _ENGINES if spark else _ENGINES[:3]
    p.add_argument("--engine", default="auto", metavar="E",
                   help="auto (default: duckdb when installed, else python), "
                        + ", ".join(engines[1:]))
    if spark:
        p.add_argument("--master", default=None, metavar="URL",
                       help="Spark master for --engine spark (default local[*])")
        p.add_argument("--spark-conf", action="append", default=[], metavar="KEY=VALUE",
                       help="a Spark setting for --engine spark's session, such as "
                            "spark.driver.memory=4g (repeatable)")
    p.add_argument("--quiet", "-q", action="store_true", help=f"{quiet} (errors still shown)")


def _check_choices(args: argparse.Namespace, *, spark: bool = True) -> None:
    from .formats import FORMATS

    choose("log format", args.format, ("auto", *FORMATS))
    choose("engine", args.engine, _ENGINES if spark else _ENGINES[:3])
    if getattr(args, "master", None) is not None and args.engine != "spark":
        raise ValueError("--master applies only to --engine spark")
    if getattr(args, "spark_conf", None):
        if args.engine != "spark":
            raise ValueError("--spark-conf applies only to --engine spark")
        _spark_conf(args.spark_conf)  # a malformed one is told before any log is read


def _base(args: argparse.Namespace, pairs: dict[str, str]) -> str | None:
    """The base from ``base=URL`` or ``--base URL`` (the same value when both are given)."""
    given = getattr(args, "base", None)
    if given is not None and "base" in pairs and pairs["base"] != given:
        raise ValueError(f"base given twice: base={pairs['base']} and --base {given}")
    return given if given is not None else pairs.get("base")


def _engine(args: argparse.Namespace) -> Any:
    from .engines import get

    options: dict[str, Any] = {}
    if getattr(args, "master", None) is not None:
        options["master"] = args.master
    if getattr(args, "spark_conf", None):
        options["config"] = _spark_conf(args.spark_conf)
    return get(args.engine, **options)


def _spark_conf(pairs: Sequence[str]) -> dict[str, str]:
    """``--spark-conf KEY=VALUE`` settings as a dict (the last of a repeated key wins)."""
    config: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or key != key.strip():
            raise ValueError(f"--spark-conf takes KEY=VALUE, such as spark.driver.memory=4g, "
                             f"not {pair!r}")
        if key == "spark.master":
            raise ValueError("--spark-conf spark.master: give the master with --master")
        config[key] = value
    return config


def _by(fields: Sequence[str], text: str) -> list[str]:
    """``--by`` names, each a field of the template (with a did-you-mean when not)."""
    names = [name.strip().partition("=")[0] for name in text.split(",") if name.strip()]
    usable = [f for f in fields if f != "base"]
    for name in names:
        if name not in usable:
            close = difflib.get_close_matches(name, usable, n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"--by {name}: the template has no field {name!r}{hint}"
                             f" (its fields: {', '.join(usable) or 'none'})")
    return names


def _groupings(text: str) -> dict[str, Any]:
    """``--by`` items written ``field=grouping`` (``python=minor``): field -> function."""
    from .dashboard import GROUPINGS

    found = {}
    for item in text.split(","):
        name, sep, how = item.strip().partition("=")
        if sep:
            found[name] = GROUPINGS[choose(f"grouping for --by {name}", how, tuple(GROUPINGS))]
    return found


def _engine_of(error: BaseException) -> str | None:
    """The engine whose library raised ``error``: DuckDB's own errors, Spark's (PySpark's
    and py4j's, or any error raised inside them, such as the refused connection of a JVM
    that died), else ``None``."""
    top = type(error).__module__.split(".")[0]
    if top in ("duckdb", "_duckdb"):
        return "duckdb"
    if top in ("py4j", "pyspark"):
        return "spark"
    where, trace = "", error.__traceback__
    while trace is not None:  # the frame it was raised in
        where, trace = str(trace.tb_frame.f_globals.get("__name__", "")), trace.tb_next
    return "spark" if where.split(".")[0] in ("py4j", "pyspark") else None


def _engine_errors(command: Any) -> Any:
    """``command`` with an engine's own error as :class:`~pathbeacon.errors.EngineError`:
    one line (its first line that says more than which call failed) and exit status 1,
    not a traceback. Errors pathbeacon raises itself pass through."""
    from functools import wraps

    @wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return int(command(args))
        except Exception as error:
            engine = None if isinstance(error, ValueError) else _engine_of(error)
            if engine is None:
                raise
            from pathbeacon.errors import EngineError, first_line

            raise EngineError(engine, first_line(error)) from None
    return run


def _say(text: str) -> None:
    print(text, file=sys.stderr)


def _too_few(the_plan: Any, counts: Any) -> int:
    """0, or :data:`NOTHING_MATCHED` after saying why on stderr, for ``counts`` read."""
    from .diagnose import explain_zero, too_few

    if not too_few(counts):
        return 0
    _say(f"pathbeacon: {explain_zero(the_plan, counts)}")
    return NOTHING_MATCHED


def _progress(args: argparse.Namespace, label: str, paths: Sequence[str], passes: int = 1,
              *, streaming: bool = False) -> Any:
    """The progress bar of a command; none when rows stream to the same terminal."""
    from .progress import Progress, wanted

    quiet = args.quiet
    if streaming:
        try:
            quiet = quiet or sys.stdout.isatty()
        except (AttributeError, ValueError):
            pass
    return Progress(label, paths, passes=passes, enabled=wanted(quiet))


def _no_overwrite(the_plan: Any, output: str | None) -> None:
    if output and os.path.exists(output):
        for source in the_plan.sources:
            if not source.is_stdin and os.path.samefile(source.name, output):
                # writing would empty the log before it is read
                raise ValueError(f"--output {output} is one of the logs being read")


# ---- decode, stats, sql -------------------------------------------------------------------


def _cmd_decode(args: argparse.Namespace) -> int:
    from . import plan
    from .output import output_kind, write_decoded, write_jsonl

    logs, pairs = split_pairs(args.logs)
    _check_choices(args)
    kind = output_kind(args.output) if args.output else None
    the_plan = plan(args.template, logs, base=_base(args, pairs), format=args.format)
    _no_overwrite(the_plan, args.output)
    engine = _engine(args)
    try:
        with _progress(args, "decode", logs, streaming=not args.output):
            if args.output:
                counts = write_decoded(engine, the_plan, args.output, kind)
            else:
                decoded = engine.decode(the_plan)
                write_jsonl(decoded, sys.stdout)
                counts = decoded.counts
    finally:
        engine.close()
    sys.stdout.flush()
    if not args.quiet:
        _say(str(counts))
    return _too_few(the_plan, counts)


def _print_stats(args: argparse.Namespace, result: dict[str, Any], query: Any) -> None:
    from .output import json_text, write_csv, write_table
    from .stats import Counts

    groupings = _groupings(args.by)
    if groupings:
        from .dashboard import group_rows

        result = {**result, "rows": group_rows(list(result["rows"]), groupings)}
    if args.json:
        print(json_text(result, indent=2))  # the one JSON rule (output.json_text)
    elif args.csv:
        columns = (["period"] if query.every else []) + list(query.by) + ["events", "reporters"]
        write_csv(result["rows"], columns, sys.stdout)
    else:
        write_table(result, sys.stdout)
    if not args.json and not args.quiet:
        sys.stdout.flush()
        _say(str(Counts(**result["lines"])))


def _cmd_stats(args: argparse.Namespace) -> int:
    from .stats import Counts, StatsQuery

    logs, pairs = split_pairs(args.logs)
    base = _base(args, pairs)
    if args.db is not None:
        return _stats_from_db(args, logs, base)
    if not logs:
        raise ValueError("stats needs logs (or --db FILE)")
    from . import plan

    _check_choices(args)
    the_plan = plan(args.template, logs, base=base, format=args.format)
    fields = the_plan.template.fields
    query = StatsQuery.make(fields, by=_by(fields, args.by), every=args.every,
                            since=args.since, until=args.until, k=args.k)
    engine = _engine(args)
    try:
        with _progress(args, "stats", logs):
            result = engine.stats(the_plan, query)
    finally:
        engine.close()
    _print_stats(args, result, query)
    return _too_few(the_plan, Counts(**result["lines"]))


def _stats_from_db(args: argparse.Namespace, logs: list[str], base: str | None) -> int:
    from .stats import StatsQuery
    from .store import Store

    if logs:
        raise ValueError("stats reads either logs or --db FILE, not both")
    if (args.format != "auto" or args.engine != "auto" or args.master is not None
            or args.spark_conf):
        raise ValueError("--format, --engine, --master and --spark-conf apply to logs, "
                         "not to --db")
    with Store.open(args.db, args.template, base) as store:
        fields = store.template.fields
        query = StatsQuery.make(fields, by=_by(fields, args.by), every=args.every,
                                since=args.since, until=args.until, k=args.k)
        result = store.stats(query)
    _print_stats(args, result, query)
    return 0


def _cmd_sql(args: argparse.Namespace) -> int:
    from . import sql
    from .formats import FORMATS

    extra, pairs = split_pairs(args.settings)
    if extra:
        raise ValueError(f"sql reads no logs: unexpected argument {extra[0]!r}")
    choose("log format", args.format, FORMATS)
    print(sql(args.template, args.dialect, base=_base(args, pairs), format=args.format))
    return 0


# ---- ingest, gateway ----------------------------------------------------------------------


def _cmd_ingest(args: argparse.Namespace) -> int:
    from .formats import FORMATS
    from .stats import Counts
    from .store import ingest

    logs, pairs = split_pairs(args.logs)
    if not logs:
        raise ValueError("no log given: name one or more files")
    choose("log format", args.format, ("auto", *FORMATS))
    base = _base(args, pairs)
    with _progress(args, "ingest", logs):
        results = ingest(args.template, logs, args.db, base=base, format=args.format)
    if not args.quiet:
        for result in results:
            print(result)
    new = Counts(*(sum(column) for column in zip(*(r.counts for r in results))))
    if not results or not sum(new):
        return 0  # nothing new since the last run: not a failure
    from . import plan

    try:
        the_plan = plan(args.template, logs, base=base, format=args.format)
    except ValueError:  # a log rotated away meanwhile: the counts alone
        the_plan = None
    if the_plan is None:
        from .diagnose import too_few

        if too_few(new):
            _say(f"pathbeacon: only {new.matched} of {sum(new)} new lines matched the template")
            return NOTHING_MATCHED
        return 0
    return _too_few(the_plan, new)


def _cmd_gateway(args: argparse.Namespace) -> int:
    from .gateway import CADDY_LOG, NGINX_LOG, caddy, nginx

    extra, pairs = split_pairs(args.params)
    if extra:
        raise ValueError(f"expected base=URL, got {extra[0]!r}")
    base = _base(args, pairs)
    if args.server_kind == "nginx":
        text = nginx(args.template, base, download_to=args.download_to,
                     client=not args.no_client, log=args.log or NGINX_LOG,
                     server=args.server, listen=args.listen)
    else:
        text = caddy(args.template, base, download_to=args.download_to,
                     client=not args.no_client, log=args.log or CADDY_LOG, server=args.server)
    print(text, end="")
    return 0


# ---- dashboard, publish -------------------------------------------------------------------


def _from_store(args: argparse.Namespace, base: str | None, k: int) -> Any:
    from . import dashboard
    from .store import Store

    with Store.open(args.db, args.template, base) as store:
        return dashboard.collect(store.template, dashboard.store_stats(store), k=k,
                                 title=args.title, base=base or store.base,
                                 package=args.package)


def _cmd_dashboard(args: argparse.Namespace) -> int:
    from . import dashboard
    from .stats import Counts

    dashboard.require()  # before any log is read
    folder = os.path.dirname(args.output) or "."
    if not os.path.isdir(folder):  # said now, not after the logs were read
        from ..errors import OutputError

        raise OutputError(args.output, "no such folder")
    logs, pairs = split_pairs(args.params)
    base = _base(args, pairs)
    the_plan = None
    if args.db is not None:
        if logs:
            raise ValueError("dashboard reads either logs or --db FILE, not both")
        data = _from_store(args, base, args.k)
    else:
        from . import plan

        if not logs:
            raise ValueError("dashboard needs logs (or --db FILE)")
        _check_choices(args, spark=False)
        the_plan = plan(args.template, logs, base=base, format=args.format)
        _no_overwrite(the_plan, args.output)
        engine = _engine(args)
        try:
            passes = dashboard.passes(the_plan.template)
            with _progress(args, "dashboard", logs, passes):
                asked = dashboard.engine_stats(engine, the_plan)
                data = dashboard.collect(the_plan.template, asked, k=args.k,
                                         title=args.title, base=base, package=args.package)
        finally:
            engine.close()
    dashboard.write(args.output, data)
    print(args.output)
    if the_plan is not None:
        return _too_few(the_plan, Counts(**data.lines))
    return 0


def _cmd_publish(args: argparse.Namespace) -> int:
    from . import publish

    extra, pairs = split_pairs(args.params)
    if extra:
        raise ValueError(f"publish reads a store (--db), not logs: {extra[0]!r}")
    base = _base(args, pairs)
    written = publish.publish(args.db, args.output, template=args.template, base=base,
                              k=args.k, title=args.title, package=args.package)
    if not args.quiet:
        for path in written:
            print(path)
    return 0


# ---- the parsers --------------------------------------------------------------------------


def register(sub: Any) -> None:
    """Add the receiving side's commands to the ``pathbeacon`` subcommands ``sub``."""
    from .dashboard import DEFAULT_K

    t_help = "template text or a shipped template's name"
    p = _command(
        sub, "decode", "decode the beacons in access logs into rows of facts",
        text=("Decode the lines of access logs that fit the template into rows of facts\n"
              "(JSON lines on stdout; the four line counts on stderr).\n\n" + _PAIRS_NOTE),
        examples=[f"pathbeacon decode {_EXAMPLE_T} access.log {_EXAMPLE_BASE}",
                  f"pathbeacon decode {_EXAMPLE_T} access.log.gz base=https://g.example/t"
                  " -o rows.parquet"],
        exits=_READS,
    )
    p.add_argument("template", help=t_help)
    p.add_argument("logs", nargs="+", metavar="LOG|base=URL",
                   help="log files (plain or gzip; - for standard input) and base=URL")
    _common_logs(p)
    p.add_argument("--output", "-o", default=None, metavar="FILE",
                   help="write rows to FILE.jsonl, FILE.csv or FILE.parquet instead")
    gather_positionals(p, "logs")
    p.set_defaults(run=_engine_errors(_cmd_decode))

    p = _command(
        sub, "stats", "count beacons in access logs (or a store) by fields and period",
        text=("Count the beacons in access logs (or an ingest store, --db), grouped by\n"
              "template fields (and period), with reporters = distinct client addresses per\n"
              "UTC day (IPv6: per /64).\n\n" + _PAIRS_NOTE),
        examples=[f"pathbeacon stats {_EXAMPLE_T} access.log {_EXAMPLE_BASE} --by version,os"
                  " --every week",
                  f"pathbeacon stats {_EXAMPLE_T} --db beacons.duckdb --by version --json"],
        exits=_READS + " (3 only when reading logs)",
    )
    p.add_argument("template", help=t_help)
    p.add_argument("logs", nargs="*", metavar="LOG|base=URL",
                   help="log files (plain or gzip; - for standard input) and base=URL")
    _common_logs(p)
    p.add_argument("--db", default=None, metavar="FILE",
                   help="read an ingest store instead of logs")
    p.add_argument("--by", default="", metavar="F1,F2",
                   help="fields to group by; python=minor groups a field's shown values by"
                        " minor version (3.10.12 and 3.10.13 as 3.10)")
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
    gather_positionals(p, "logs")
    p.set_defaults(run=_engine_errors(_cmd_stats))

    p = _command(
        sub, "sql", "print the SQL query the duckdb or spark engine runs",
        text=("Print the SELECT an SQL engine runs over a relation logs(line) of raw lines,\n"
              "giving the decoded columns and each line's count category."),
        examples=[f"pathbeacon sql {_EXAMPLE_T} --dialect duckdb {_EXAMPLE_BASE}"],
        exits=_PRINTS,
    )
    p.add_argument("template", help=t_help)
    p.add_argument("settings", nargs="*", metavar="base=URL", help="base=URL")
    p.add_argument("--base", default=None, metavar="URL", help="the base URL; same as base=URL")
    p.add_argument("--dialect", required=True, choices=("duckdb", "spark"))
    p.add_argument("--format", default="combined", metavar="F",
                   help="log format (default combined): combined, json, cloudfront, s3, urls")
    gather_positionals(p, "settings")
    p.set_defaults(run=_cmd_sql)

    p = _command(
        sub, "ingest", "append the beacons of access logs to a DuckDB store",
        text=("Append the new lines of access logs to a DuckDB store: run it as often as you\n"
              "like on growing and rotated logs; each line is counted once. A run that finds\n"
              "no new line is not an error (status 0)."),
        examples=[f"pathbeacon ingest {_EXAMPLE_T} /var/log/nginx/pathbeacon.log"
                  f" /var/log/nginx/pathbeacon.log.1 --db beacons.duckdb {_EXAMPLE_BASE}"],
        exits=_READS + " (3 over the new lines)",
    )
    p.add_argument("template", help=t_help)
    p.add_argument("logs", nargs="*", metavar="LOG|base=URL",
                   help="log files (plain or gzip) and base=URL")
    p.add_argument("--db", required=True, metavar="FILE", help="the DuckDB store")
    p.add_argument("--base", default=None, metavar="URL",
                   help="the base URL (or path) the beacons arrive under; same as base=URL")
    p.add_argument("--format", default="auto", metavar="F",
                   help="log format (default: detected per new file)")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="no progress bar and no per-log summary (errors still shown)")
    gather_positionals(p, "logs")
    p.set_defaults(run=_engine_errors(_cmd_ingest))

    gateway = _command(
        sub, "gateway", "print an nginx or Caddy config that answers and logs the beacons",
        text="Print a gateway config for a template: nginx or caddy.",
        examples=[f"pathbeacon gateway nginx {_EXAMPLE_T} {_EXAMPLE_BASE}"
                  " --server telemetry.acme.example",
                  f"pathbeacon gateway caddy {_EXAMPLE_T} base=https://g.example/t"],
        exits=_PRINTS,
    )
    kinds = gateway.add_subparsers(dest="server_kind", metavar="SERVER", required=True)
    from .gateway import CADDY_LOG, NGINX_LOG

    for kind, what in (("nginx", "an nginx log_format and location (or server) block"),
                       ("caddy", "a Caddyfile snippet (or site block)")):
        p = _command(kinds, kind, f"print {what}", text=f"Print {what} for a template.",
                     examples=[f"pathbeacon gateway {kind} {_EXAMPLE_T} {_EXAMPLE_BASE}"],
                     exits=_PRINTS)
        p.add_argument("template", help=t_help)
        p.add_argument("params", nargs="*", metavar="base=URL",
                       help="the base URL (or path) the beacons arrive under")
        p.add_argument("--base", default=None, metavar="URL", help="same as base=URL")
        p.add_argument("--download-to", metavar="URL",
                       help="answer fitting requests with a 302 to the same path under URL")
        p.add_argument("--no-client", action="store_true",
                       help="leave the client address out of the log")
        default_log = NGINX_LOG if kind == "nginx" else CADDY_LOG
        p.add_argument("--log", metavar="PATH",
                       help=f"the access log file (default {default_log})")
        p.add_argument("--server", metavar="NAME",
                       help="print a whole server (site) block for this name (site address)")
        if kind == "nginx":
            p.add_argument("--listen", default="80", metavar="ADDR",
                           help="with --server: the listen address and/or port (default 80)")
        else:
            p.set_defaults(listen=None)
        p.set_defaults(run=_cmd_gateway)
        gather_positionals(p, "params")

    p = _command(
        sub, "dashboard", "write a self-contained HTML dashboard of the beacons",
        text=("Write one HTML file (no network needed to open it): the totals, events and\n"
              "reporters per day, version uptake, a chart and table per field, the line\n"
              "counts and the privacy notice. k hides small groups, never the totals."),
        examples=[f"pathbeacon dashboard {_EXAMPLE_T} access.log {_EXAMPLE_BASE}"
                  " -o report.html --package acme",
                  f"pathbeacon dashboard {_EXAMPLE_T} --db beacons.duckdb -o report.html --k 1"],
        exits=_READS + " (3 only when reading logs)",
    )
    p.add_argument("template", help=t_help)
    p.add_argument("params", nargs="*", metavar="LOG|base=URL",
                   help="log files (plain or gzip; - for standard input) and base=URL")
    p.add_argument("--db", default=None, metavar="FILE", help="read an ingest store instead")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="the HTML file")
    _dashboard_options(p, DEFAULT_K)
    _common_logs(p, spark=False, quiet="no progress bar on stderr")
    gather_positionals(p, "params")
    p.set_defaults(run=_engine_errors(_cmd_dashboard))

    p = _command(
        sub, "publish", "write a folder of published counts: page, JSON files and a badge",
        text=("Write a folder ready for GitHub Pages or any static host, from an ingest\n"
              "store: index.html (the dashboard), counts for the last 30, 90 and 365 days\n"
              "as versioned JSON, a badge (SVG) and a shields.io endpoint JSON. Everything\n"
              "follows the same k rule; the same store gives the same files."),
        examples=["pathbeacon publish --db beacons.duckdb -o site --package acme"],
        exits=_WRITES,
    )
    p.add_argument("template", nargs="?", default=None,
                   help="the store's template (default: the one it was made with)")
    p.add_argument("params", nargs="*", metavar="base=URL", help="base=URL")
    p.add_argument("--db", required=True, metavar="FILE", help="the ingest store")
    p.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="the folder to write (created when missing)")
    p.add_argument("--base", default=None, metavar="URL", help="same as base=URL")
    p.add_argument("--quiet", "-q", action="store_true", help="do not list the files written")
    _dashboard_options(p, DEFAULT_K)
    gather_positionals(p, "params")
    p.set_defaults(run=_engine_errors(_cmd_publish))


def _dashboard_options(p: argparse.ArgumentParser, default_k: int) -> None:
    p.add_argument("--k", type=_k, default=default_k, metavar="N",
                   help="name a value only when the k rule of stats lets it through with N"
                        f" (default {default_k}; see docs/privacy.md; --k 1 is fine for a"
                        " private page); the totals are always shown")
    p.add_argument("--title", default=None, metavar="TEXT", help="the page title")
    p.add_argument("--package", default=None, metavar="NAME",
                   help="the package the privacy notice names (default: the template's"
                        " literal, else an example name)")
