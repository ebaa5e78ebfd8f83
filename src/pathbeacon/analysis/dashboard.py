"""A dashboard: one self-contained HTML file of stats, charts drawn by matplotlib as inline SVG.

The page needs no network at all: no script, no stylesheet, font or image from elsewhere
(a Content-Security-Policy says so to the browser too). Every figure on it comes from
``stats`` answers with the same ``k``, so no shown count describes fewer than ``k``
reporters (``k`` defaults to 5 here, because a dashboard is made to be shared).

    >>> def fake(by, every, k):
    ...     rows = [{"os": "linux", "events": 7, "reporters": 6}] if by else [
    ...             {"events": 7, "reporters": 6}]
    ...     if every:
    ...         rows = [dict(r, period="2026-08-21") for r in rows]
    ...     return {"lines": {"matched": 7, "bad_status": 0, "other_path": 1, "malformed": 0},
    ...             "rows": rows}
    >>> page = render(collect("<base>/<os>", fake, base="https://gw.example/t"))
    >>> page.startswith("<!DOCTYPE html>") and "<svg" in page and "linux" in page
    True
"""

from __future__ import annotations

import argparse
import html
import io
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable, Optional

from ..catalogue import resolve
from ..notice import explain
from ..template import Template

__all__ = ["DEFAULT_K", "Dashboard", "collect", "register", "render", "require", "write"]

#: The dashboard's default k: no shown count describes fewer reporters.
DEFAULT_K = 5
#: How many values of a field the bar chart shows (the table shows them all).
TOP_BARS = 12
#: How many values the events-per-day chart draws a line for.
TOP_SERIES = 5
# explain() needs a base URL; a stand-in when none was given (the host is then not known).
_STAND_IN_BASE = "https://gateway.example"

#: ``stats(by, every, k)``: the ``stats --json`` structure for those arguments.
StatsFunction = Callable[[Sequence[str], Optional[str], int], Mapping[str, Any]]


@dataclass
class Dashboard:
    """Everything a dashboard shows, gathered from ``stats`` answers (see :func:`collect`)."""

    template: Template
    title: str
    k: int
    lines: dict[str, int]
    events: int | None
    reporters: int | None
    first_day: str | None
    last_day: str | None
    trend_field: str | None
    trend: list[dict[str, Any]]
    fields: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notice: str = ""


def _fields(template: Template) -> list[str]:
    return [name for name in template.fields if name != "base"]


def collect(template: str | Template, stats: StatsFunction, *, k: int = DEFAULT_K,
            title: str | None = None, base: str | None = None) -> Dashboard:
    """Ask ``stats`` for the totals, each field's breakdown and the events per day of the
    top values of ``version`` (else the first field), all with the same ``k``."""
    resolved = resolve(template)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"--k takes a whole number of at least 1, not {k!r}")
    names = _fields(resolved)
    total = stats([], None, k)
    rows = list(total["rows"])
    events = rows[0]["events"] if rows else None
    reporters = rows[0]["reporters"] if rows else None
    days = sorted(row["period"] for row in stats([], "day", k)["rows"])
    per_field = {name: list(stats([name], None, k)["rows"]) for name in names}
    trend_field = "version" if "version" in names else (names[0] if names else None)
    trend = list(stats([trend_field], "day", k)["rows"]) if trend_field else []
    facts: dict[str, object] = {"base": base or _STAND_IN_BASE}
    packages = [row["package"] for row in per_field.get("package", [])
                if row["package"] != "other"]
    if packages:
        facts["package"] = packages[0]
    return Dashboard(
        template=resolved,
        title=title or f"Telemetry: {resolved.text}",
        k=k,
        lines=dict(total["lines"]),
        events=events,
        reporters=reporters,
        first_day=days[0] if days else None,
        last_day=days[-1] if days else None,
        trend_field=trend_field,
        trend=trend,
        fields=per_field,
        notice=explain(resolved, **facts),
    )


# ---- charts -----------------------------------------------------------------------------


def _label(text: object) -> str:
    # A "$" pair would be read as mathtext; values are shown as they are.
    return str(text).replace("$", r"\$")


def _svg(figure: Any, name: str) -> str:
    """The figure as an inline ``<svg>`` element whose ids are unique to ``name``."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": name}), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a glyph missing from the font is drawn as a box
        figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, count=1, flags=re.S)
    # Glyph and clip-path ids repeat from one figure to the next: prefix them.
    ids = set(re.findall(r'id="([^"]+)"', text))
    if ids:
        names = "|".join(map(re.escape, ids))
        pattern = re.compile(r'(id="|href="#|url\(#)(' + names + r')(?=["\)])')
        text = pattern.sub(lambda m: f"{m.group(1)}{name}-{m.group(2)}", text)
    text = re.sub(r'<svg ([^>]*?)width="[^"]*" height="[^"]*"',
                  rf'<svg \1class="chart" role="img" aria-label="{html.escape(name)}"',
                  text, count=1)
    return text


def _bars(name: str, rows: list[dict[str, Any]]) -> str:
    from matplotlib.figure import Figure

    shown = rows[:TOP_BARS]
    height = 0.8 + 0.3 * max(len(shown), 2)
    figure = Figure(figsize=(7.0, height))
    axes = figure.subplots()
    labels = [_label(row[name]) for row in reversed(shown)]
    axes.barh(labels, [row["events"] for row in reversed(shown)], height=0.6, color="#3b6ea8")
    axes.set_xlabel("events")
    axes.spines[["top", "right"]].set_visible(False)
    axes.margins(y=0.02)
    return _svg(figure, f"bars-{name}")


def _trend(name: str, rows: list[dict[str, Any]]) -> str:
    from datetime import timedelta

    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    totals: dict[str, int] = {}
    for row in rows:
        totals[row[name]] = totals.get(row[name], 0) + row["events"]
    top = sorted(totals, key=lambda value: (-totals[value], value))[:TOP_SERIES]
    figure = Figure(figsize=(7.0, 3.2))
    axes = figure.subplots()
    for value in top:
        points = sorted((date.fromisoformat(row["period"]), row["events"])
                        for row in rows if row[name] == value)
        days: Any = [p[0] for p in points]  # matplotlib's date converter takes them
        axes.plot(days, [p[1] for p in points], marker="o", label=_label(value))
    every_day = sorted({date.fromisoformat(row["period"]) for row in rows})
    # A 5% margin each side (one day around a single day, rather than years), kept within
    # the years a date (and matplotlib) can hold: a log may well say 0001 or 9999.
    first, last = every_day[0], every_day[-1]
    pad = max(timedelta(days=1), (last - first) / 20)
    low = first - pad if first - date.min > pad else date.min
    high = last + pad if date.max - last > pad else date.max
    window: Any = (low, high)
    axes.set_xlim(*window)
    locator = AutoDateLocator(minticks=2, maxticks=8)  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    axes.set_ylabel("events per day")
    axes.set_ylim(bottom=0)
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(title=name, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _svg(figure, f"trend-{name}")


# ---- the page ---------------------------------------------------------------------------


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 60rem; padding: 0 1rem; color: #1d2733; background: #fff; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
.sub { color: #5a6673; margin-top: 0; }
.cards { display: flex; flex-wrap: wrap; gap: 1rem; margin: 1.5rem 0; }
.card { border: 1px solid #d8dee4; border-radius: .5rem; padding: .8rem 1.2rem;
        min-width: 9rem; }
.card .n { font-size: 1.5rem; font-weight: 600; }
.card .what { color: #5a6673; font-size: .85rem; }
section { margin: 2rem 0; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { padding: .25rem .8rem; border-bottom: 1px solid #e5e9ed; text-align: left; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
svg.chart { width: 100%; height: auto; max-width: 46rem; }
.notice { border-left: 4px solid #d8dee4; padding-left: 1rem; color: #33404d; }
.empty { color: #5a6673; font-style: italic; }
"""


def _number(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _table(name: str, rows: list[dict[str, Any]]) -> str:
    events = sum(row["events"] for row in rows) or 1
    body = "".join(
        f"<tr><td>{html.escape(str(row[name]))}</td><td class=n>{_number(row['events'])}</td>"
        f"<td class=n>{_number(row['reporters'])}</td>"
        f"<td class=n>{100 * row['events'] / events:.1f}%</td></tr>"
        for row in rows
    )
    return (f"<table><thead><tr><th>{html.escape(name)}</th><th class=n>events</th>"
            "<th class=n>reporter-days</th><th class=n>share</th></tr></thead>"
            f"<tbody>{body}</tbody></table>")


def _notice_html(markdown: str) -> str:
    from markdown_it import MarkdownIt

    # html=False: any markup in the text is shown, never interpreted.
    return str(MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown))


def require() -> None:
    """``ValueError`` with the install command when the dashboard's libraries are missing."""
    import importlib.util

    missing = [name for name in ("matplotlib", "markdown_it")
               if importlib.util.find_spec(name) is None]
    if missing:
        raise ValueError(f"the dashboard needs {' and '.join(missing)}:"
                         " pip install 'pathbeacon[analysis]'")


def render(data: Dashboard) -> str:
    """The dashboard as one HTML document (no script; nothing loaded from anywhere)."""
    require()
    esc = html.escape
    cards = [
        ("events", _number(data.events)),
        ("reporter-days", _number(data.reporters)),
        ("first day", data.first_day or "—"),
        ("last day", data.last_day or "—"),
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(data.title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{esc(data.title)}</h1>",
        f'<p class="sub">Template <code>{esc(data.template.text)}</code>. No count below '
        f"describes fewer than {data.k} reporters (or {data.k} events, where the log holds "
        "no client): smaller groups are folded into <code>other</code> or left out. "
        "A reporter-day is one client and user agent on one UTC day.</p>",
        '<div class="cards">',
        *(f'<div class="card"><div class="n">{esc(value)}</div>'
          f'<div class="what">{esc(what)}</div></div>' for what, value in cards),
        "</div>",
    ]
    if data.trend_field:
        parts.append(f"<section><h2>Events per day by {esc(data.trend_field)}</h2>")
        if data.trend:
            parts.append(_trend(data.trend_field, data.trend))
        else:
            parts.append('<p class="empty">No dated events to show.</p>')
        parts.append("</section>")
    for name, rows in data.fields.items():
        parts.append(f"<section><h2>By {esc(name)}</h2>")
        if rows:
            parts.append(_bars(name, rows))
            if len(rows) > TOP_BARS:
                parts.append(f"<p>The chart shows the top {TOP_BARS} of {len(rows)} values.</p>")
            parts.append(_table(name, rows))
        else:
            parts.append('<p class="empty">No group large enough to show.</p>')
        parts.append("</section>")
    line_rows = "".join(f"<tr><td>{esc(name)}</td><td class=n>{_number(count)}</td></tr>"
                        for name, count in data.lines.items())
    parts += [
        "<section><h2>Log lines</h2>",
        "<p>Every non-empty line read falls in exactly one of these.</p>",
        f"<table><tbody>{line_rows}</tbody></table></section>",
        '<section class="notice"><h2>What is collected</h2>',
        _notice_html(data.notice.replace("## Telemetry\n", "", 1)),
        "</section></body></html>",
    ]
    return "\n".join(parts) + "\n"


def write(path: str, data: Dashboard) -> None:
    """Render ``data`` and write it to ``path`` (UTF-8)."""
    page = render(data)
    try:
        with open(path, "w", encoding="utf-8") as out:
            out.write(page)
    except OSError as error:
        raise ValueError(f"cannot write {path}: {error.strerror or error}") from None


# ---- command line ----------------------------------------------------------------------


def _notice_base(base: str | None) -> str | None:
    """A base explain() takes: a URL as it is, a bare path under the stand-in host."""
    if not base:
        return None
    if base.startswith("/"):
        return _STAND_IN_BASE + base
    return base


def _cmd_dashboard(args: argparse.Namespace) -> int:
    from .arguments import split_pairs
    from .stats import StatsQuery
    from .store import Store

    require()  # before any log is read
    logs, pairs = split_pairs(args.params)
    base = pairs.get("base")
    if args.db is not None:
        if logs:
            raise ValueError("dashboard reads either logs or --db FILE, not both")
        with Store.open(args.db, args.template, base) as store:
            fields = store.template.fields

            def from_store(by: Sequence[str], every: str | None, k: int) -> Mapping[str, Any]:
                return store.stats(StatsQuery.make(fields, by=by, every=every, k=k))

            data = collect(store.template, from_store, k=args.k, title=args.title,
                           base=_notice_base(base or store.base))
    else:
        from . import plan
        from .engines import get

        if not logs:
            raise ValueError("dashboard needs logs (or --db FILE)")
        if "-" in logs:
            raise ValueError("dashboard reads its logs several times: name files, not -")
        the_plan = plan(args.template, logs, base=base, format=args.format)
        if os.path.exists(args.output) and any(
                os.path.samefile(source.name, args.output) for source in the_plan.sources):
            raise ValueError(f"-o {args.output} is one of the logs being read")
        engine = get(args.engine)
        try:
            fields = the_plan.template.fields

            def from_logs(by: Sequence[str], every: str | None, k: int) -> Mapping[str, Any]:
                return engine.stats(the_plan, StatsQuery.make(fields, by=by, every=every, k=k))

            data = collect(the_plan.template, from_logs, k=args.k, title=args.title,
                           base=_notice_base(base))
        finally:
            engine.close()
    write(args.output, data)
    print(args.output)
    return 0


def _k(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"--k takes a whole number of at least 1, not {text!r}") from None


def register(sub: Any) -> None:
    """Add ``dashboard`` to a ``pathbeacon`` subcommand set."""
    from .arguments import gather_positionals

    p = sub.add_parser(
        "dashboard", help="write a self-contained HTML dashboard of the beacons",
        description=(
            "Write one HTML file (no network needed to open it) with headline figures,\n"
            "events per day, a chart and a table per field, the line counts and the\n"
            "privacy notice.\n\n"
            "  pathbeacon dashboard '<base>/<package>/<version>/<os>' access.log"
            " base=https://g.example/t -o report.html\n"
            "  pathbeacon dashboard '<base>/<package>/<version>/<os>' --db beacons.duckdb"
            " -o report.html"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("template", help="template text or a shipped template's name")
    p.add_argument("params", nargs="*", metavar="LOG|base=URL",
                   help="log files (plain or gzip) and base=URL")
    p.add_argument("--db", default=None, metavar="FILE", help="read an ingest store instead")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="the HTML file")
    p.add_argument("--k", type=_k, default=DEFAULT_K, metavar="N",
                   help=f"fold groups of fewer than N reporters (default {DEFAULT_K})")
    p.add_argument("--title", default=None, metavar="TEXT", help="the page title")
    p.add_argument("--format", default="auto", metavar="F",
                   help="log format (default: detected per file)")
    p.add_argument("--engine", default="auto", metavar="E",
                   help="auto (default: duckdb when installed, else python), python, duckdb")
    p.set_defaults(run=_cmd_dashboard)
    gather_positionals(p, "params")
