"""A dashboard: one self-contained HTML file of stats, charts drawn by matplotlib as inline SVG.

The page needs no network at all: no script, no stylesheet, font or image from elsewhere
(a Content-Security-Policy says so to the browser too), and every value on it is
HTML-escaped. Its figures come from ``stats`` answers:

- **Totals** (events, reporters, first and last day, and those per day or week) describe
  no group, so they are always shown, from the first beacon on.
- **Groups** (a field's values, version uptake, the version x Python table) are shown as
  ``stats`` returns them under ``k`` (default 5 here, because a dashboard is made to be
  shared): a group the k rule cannot prove large enough is never named. Shares are taken
  over *all* events, and what no named group holds is one explicit row, ``other / under k``.

The privacy notice names the package given on the command line (``--package``), never a
value read from the log, and shows example values, labelled as such.

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

import html
import io
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Callable, Optional

from ..catalogue import resolve
from ..notice import explain
from ..template import Template
from .stats import OTHER, StatsQuery

__all__ = [
    "DEFAULT_K",
    "EXAMPLE_VALUES",
    "GROUPED",
    "GROUPINGS",
    "UNDER_K",
    "Dashboard",
    "collect",
    "engine_stats",
    "group_rows",
    "minor",
    "passes",
    "render",
    "require",
    "store_stats",
    "version_key",
    "write",
]

#: The dashboard's default k.
DEFAULT_K = 5
#: The label of the row that holds every event no shown group holds.
UNDER_K = "other / under k"
#: How many values of a field the bar chart shows (the table shows them all).
TOP_BARS = 12
#: How many versions the uptake chart draws (the rest is one band).
TOP_SERIES = 6
#: Past this many days, the per-day charts count per ISO week.
WEEKLY_AFTER = 120
# explain() needs a base URL; a stand-in when none was given (the host is then not known).
_STAND_IN_BASE = "https://gateway.example"
#: The values the notice shows, labelled as examples (never this machine's, never the log's).
EXAMPLE_VALUES = {
    "package": "your-package", "version": "1.2.3", "language": "python",
    "implementation": "cpython", "python": "3.12.4", "python_minor": "3.12",
    "runtime": "cpython-3.12.4", "os": "linux", "os_version": "6.8.0", "arch": "x86_64",
    "machine": "x86_64", "distro": "ubuntu", "distro_version": "24.04",
    "libc": "glibc-2.39", "ci": "none", "container": "none",
}
_COLOURS = ["#3b6ea8", "#d9822b", "#3a9e6f", "#b8475a", "#7b5ea7", "#8c7a4b", "#2f9fb3",
            "#c0679a"]
_GREY = "#a8b1ba"

#: ``stats(by, every, k)``: the ``stats --json`` structure for those arguments.
StatsFunction = Callable[[Sequence[str], Optional[str], int], Mapping[str, Any]]


def engine_stats(engine: Any, plan: Any) -> StatsFunction:
    """A :data:`StatsFunction` over the logs of ``plan``, run by ``engine``."""
    fields = plan.template.fields

    def run(by: Sequence[str], every: str | None, k: int) -> Mapping[str, Any]:
        result: Mapping[str, Any] = engine.stats(plan, StatsQuery.make(fields, by=by,
                                                                       every=every, k=k))
        return result

    return run


def store_stats(store: Any) -> StatsFunction:
    """A :data:`StatsFunction` over an open ingest store."""
    fields = store.template.fields

    def run(by: Sequence[str], every: str | None, k: int) -> Mapping[str, Any]:
        result: Mapping[str, Any] = store.stats(StatsQuery.make(fields, by=by, every=every,
                                                                k=k))
        return result

    return run


def version_key(text: str) -> tuple[int, Any, str]:
    """Sort key putting versions in PEP 440 order (``packaging``), other text after them.

        >>> sorted(["1.10", "1.9", "2.0rc1", "2.0", "main"], key=version_key)
        ['1.9', '1.10', '2.0rc1', '2.0', 'main']
    """
    from packaging.version import InvalidVersion, Version

    try:
        return (0, Version(text), text)
    except InvalidVersion:
        return (1, None, text)


@dataclass
class Dashboard:
    """Everything a dashboard shows, gathered from ``stats`` answers (see :func:`collect`)."""

    template: Template
    title: str
    k: int
    lines: dict[str, int]
    events: int
    reporters: int | None
    first_day: str | None
    last_day: str | None
    period: str = "day"
    totals: list[dict[str, Any]] = field(default_factory=list)
    uptake: list[dict[str, Any]] = field(default_factory=list)
    fields: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    cross: tuple[str, str, list[dict[str, Any]]] | None = None
    notice: str = ""
    package: str | None = None


def _fields(template: Template) -> list[str]:
    return [name for name in template.fields if name != "base"]


def passes(template: Template) -> int:
    """How many ``stats`` questions :func:`collect` asks for ``template`` (at most)."""
    names = _fields(template)
    return 3 + len(names) + ("version" in names) + ("version" in names and "python" in names)


def _ordered(name: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Named rows first (versions newest first, others by events), then ``other``."""
    named = [row for row in rows if row[name] != OTHER]
    if name == "version" or name in GROUPED:
        named.sort(key=lambda row: _value_key(str(row[name])), reverse=True)
    return named + [row for row in rows if row[name] == OTHER]


def _value_key(text: str) -> tuple[int, Any, str]:
    """:func:`version_key` of a value's version part (``cpython-3.10`` as ``3.10``)."""
    return version_key(re.sub(r"^[^0-9]*", "", text) or text)


def _with_rest(name: str, rows: list[dict[str, Any]], total: int) -> list[dict[str, Any]]:
    """A field's shown rows and one ``other / under k`` row holding every other event."""
    named = [row for row in rows if row[name] != OTHER]
    rest = total - sum(row["events"] for row in named)
    shown = _ordered(name, named)
    if rest > 0:
        shown.append({name: UNDER_K, "events": rest, "reporters": None, "rest": True})
    return shown


def minor(value: str) -> str:
    """A version-like value up to its minor version: how the dashboard groups ``python``
    and ``runtime`` (see :data:`GROUPED`).

        >>> minor("cpython-3.10.13"), minor("3.12.1"), minor("pypy-7.3"), minor("unknown")
        ('cpython-3.10', '3.12', 'pypy-7.3', 'unknown')
    """
    found = _MINOR.match(value)
    return found.group(1) if found else value


_MINOR = re.compile(r"^([^0-9]*[0-9]+\.[0-9]+)")


def group_rows(rows: list[dict[str, Any]], groupings: Mapping[str, Callable[[str], str]]
               ) -> list[dict[str, Any]]:
    """``stats`` rows with the values of the fields in ``groupings`` grouped (as
    ``stats --by python=minor`` asks), merged by period and values.

    Only rows ``stats`` published are merged (a patch release too small to show on its
    own stays in ``other``), so grouping reveals nothing k hid. Events add up; reporters of
    a merged row are not known (a machine may appear under two patch releases), so they
    are given only for a row that merges nothing.

        >>> group_rows([{"python": "3.10.1", "events": 4, "reporters": 3},
        ...             {"python": "3.10.2", "events": 5, "reporters": 5}], {"python": minor})
        [{'python': '3.10', 'events': 9, 'reporters': None}]
    """
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        new = {name: (value if name not in groupings or value == OTHER
                      else groupings[name](str(value)))
               for name, value in row.items() if name not in ("events", "reporters")}
        key = tuple(new.items())
        if key in merged:
            merged[key]["events"] += row["events"]
            merged[key]["reporters"] = None
        else:
            merged[key] = {**new, "events": row["events"], "reporters": row["reporters"]}
    return sorted(merged.values(), key=lambda row: (-row["events"], str(row.get("period"))))


def _grouped(rows: list[dict[str, Any]], by: list[str]) -> list[dict[str, Any]]:
    return group_rows(rows, {name: GROUPED[name] for name in by if name in GROUPED})


#: How a field's values may be grouped (``--by python=minor``).
GROUPINGS: dict[str, Callable[[str], str]] = {"minor": minor}
#: Fields whose published values the dashboard groups, and how: Python by minor version.
GROUPED: dict[str, Callable[[str], str]] = {"python": minor, "runtime": minor}


def _notice(template: Template, base: str | None, package: str | None) -> str:
    facts: dict[str, object] = {"base": base or _STAND_IN_BASE}
    for name in _fields(template):
        facts[name] = EXAMPLE_VALUES.get(name, "example")
    if package:
        facts["package"] = package
    else:
        facts.pop("package", None)
        if "package" in template.fields:
            facts["package"] = EXAMPLE_VALUES["package"]
    text = explain(template, **facts)
    if not package:
        # the opt-out variables would name the example package: name none
        text = text.replace(", `YOUR_PACKAGE_NO_ANALYTICS=1`", "")
    return text


def collect(template: str | Template, stats: StatsFunction, *, k: int = DEFAULT_K,
            title: str | None = None, base: str | None = None,
            package: str | None = None) -> Dashboard:
    """Ask ``stats`` for the totals (no ``k``: they describe no group), the totals per day
    (or week), each field's breakdown, version uptake and the version x Python table (all
    with ``k``). ``package`` names the package in the notice (else an example name)."""
    resolved = resolve(template)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"--k takes a whole number of at least 1, not {k!r}")
    names = _fields(resolved)
    total = stats([], None, 1)
    rows = list(total["rows"])
    events = sum(row["events"] for row in rows)
    reporters = rows[0]["reporters"] if rows else None
    daily = sorted(stats([], "day", 1)["rows"], key=lambda row: row["period"])
    first = daily[0]["period"] if daily else None
    last = daily[-1]["period"] if daily else None
    period = "day"
    totals = daily
    if first and last and (date.fromisoformat(last) - date.fromisoformat(first)).days \
            > WEEKLY_AFTER:
        period = "week"
        totals = sorted(stats([], "week", 1)["rows"], key=lambda row: row["period"])
    per_field = {name: _with_rest(name, _grouped(list(stats([name], None, k)["rows"]), [name]),
                                  events)
                 for name in names}
    uptake = list(stats(["version"], period, k)["rows"]) if "version" in names and daily \
        else []
    cross = None
    if "version" in names and "python" in names:
        cross = ("version", "python",
                 _grouped(list(stats(["version", "python"], None, k)["rows"]),
                          ["version", "python"]))
    notice_base = base
    if notice_base and notice_base.startswith("/"):
        notice_base = _STAND_IN_BASE + notice_base
    return Dashboard(
        template=resolved, k=k,
        title=title or (f"{package}: telemetry" if package else f"Telemetry: {resolved.text}"),
        lines=dict(total["lines"]), events=events, reporters=reporters, first_day=first,
        last_day=last, period=period, totals=totals, uptake=uptake, fields=per_field,
        cross=cross, notice=_notice(resolved, notice_base, package), package=package,
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
    return f'<div class="chart-box">{text}</div>'


def _bars(name: str, rows: list[dict[str, Any]], total: int) -> str:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    shown = [row for row in rows if not row.get("rest")][:TOP_BARS]
    shown += [row for row in rows if row.get("rest")]
    height = 0.8 + 0.32 * max(len(shown), 2)
    figure = Figure(figsize=(9.0, height))
    axes = figure.subplots()
    ordered = list(reversed(shown))
    labels = [_label(row[name]) for row in ordered]
    colours = [_GREY if row.get("rest") else _COLOURS[0] for row in ordered]
    bars = axes.barh(labels, [row["events"] for row in ordered], height=0.6, color=colours)
    axes.bar_label(bars, labels=[f"{100 * row['events'] / total:.1f} %" for row in ordered],
                   padding=3, fontsize=9)
    axes.set_xlabel("events")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.spines[["top", "right"]].set_visible(False)
    axes.margins(x=0.12, y=0.02)
    return _svg(figure, f"bars-{name}")


def _window(axes: Any, days: list[date]) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    # A 5% margin each side (one day around a single day, rather than years), kept within
    # the years a date (and matplotlib) can hold: a log may well say 0001 or 9999.
    first, last = days[0], days[-1]
    pad = max(timedelta(days=1), (last - first) / 20)
    low = first - pad if first - date.min > pad else date.min
    high = last + pad if date.max - last > pad else date.max
    window: Any = (low, high)
    axes.set_xlim(*window)
    locator = AutoDateLocator(minticks=2, maxticks=8)  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]


def _totals_chart(rows: list[dict[str, Any]], period: str) -> str:
    """Events and reporters per period, one panel each (two series never hide each other)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    days: Any = [date.fromisoformat(row["period"]) for row in rows]
    shown = [("events", _COLOURS[0])]
    if any(row["reporters"] is not None for row in rows):  # none when the log has no client
        shown.append(("reporters", _COLOURS[1]))
    figure = Figure(figsize=(9.0, 0.6 + 1.9 * len(shown)))
    axes_list = figure.subplots(len(shown), 1, sharex=True, squeeze=False)[:, 0]
    panels = [(axes, what, colour) for axes, (what, colour) in zip(axes_list, shown)]
    width = 5.6 if period == "week" else 0.8  # days: a bar per period, readable at any count
    for axes, what, colour in panels:
        values = [row[what] or 0 for row in rows]
        axes.bar(days, values, width=width, color=colour)
        axes.set_ylabel(f"{what} / {period}")
        axes.set_ylim(bottom=0)
        axes.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
        axes.spines[["top", "right"]].set_visible(False)
        _window(axes, days)
    return _svg(figure, "totals")


def _uptake_chart(rows: list[dict[str, Any]], period: str) -> str:
    """Each version's share of the events of each period, stacked (the newest on top)."""
    from matplotlib.figure import Figure

    periods = sorted({row["period"] for row in rows})
    per: dict[str, dict[str, int]] = {}
    for row in rows:
        per.setdefault(row["version"], {})[row["period"]] = row["events"]
    named = [v for v in per if v != OTHER]
    top = sorted(named, key=lambda v: -sum(per[v].values()))[:TOP_SERIES]
    top.sort(key=version_key)
    rest = [v for v in per if v not in top]
    totals = {p: sum(per[v].get(p, 0) for v in per) or 1 for p in periods}
    series = [(v, [100 * per[v].get(p, 0) / totals[p] for p in periods]) for v in top]
    if rest:
        series.insert(0, ("other", [100 * sum(per[v].get(p, 0) for v in rest) / totals[p]
                                    for p in periods]))
    days: Any = [date.fromisoformat(p) for p in periods]
    figure = Figure(figsize=(9.0, 3.6))
    axes = figure.subplots()
    colours = ([_GREY] if rest else []) + _COLOURS[:len(top)]
    axes.stackplot(days, *[values for _, values in series],
                   labels=[_label(v) for v, _ in series], colors=colours, alpha=0.85,
                   edgecolor="white", linewidth=0.6)
    axes.set_ylim(0, 100)
    axes.set_ylabel(f"% of events / {period}")
    axes.spines[["top", "right"]].set_visible(False)
    _window(axes, [date.fromisoformat(p) for p in periods])
    handles, labels = axes.get_legend_handles_labels()
    axes.legend(handles[::-1], labels[::-1], title="version", frameon=False,
                loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _svg(figure, "uptake")


# ---- the page ---------------------------------------------------------------------------


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5rem 0;
       padding: 0 clamp(.75rem, 3vw, 2.5rem); color: #1d2733; background: #fff; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; overflow-wrap: anywhere; }
h2 { font-size: 1.2rem; margin-bottom: .4rem; }
.sub { color: #5a6673; margin-top: 0; max-width: 60rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(10rem, 1fr));
         gap: .8rem; margin: 1.5rem 0; }
.card { border: 1px solid #d8dee4; border-radius: .5rem; padding: .7rem 1rem; }
.card .n { font-size: clamp(1.2rem, 4.5vw, 1.6rem); font-weight: 600;
           overflow-wrap: break-word; }
.card .what { color: #5a6673; font-size: .85rem; }
section { margin: 2rem 0; }
.wide { overflow-x: auto; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { padding: .25rem .8rem; border-bottom: 1px solid #e5e9ed; text-align: left;
         overflow-wrap: break-word; }
@media (max-width: 40rem) { th, td { padding: .2rem .45rem; } h1 { font-size: 1.3rem; } }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.rest td { color: #5a6673; font-style: italic; }
.chart-box { overflow-x: auto; }
svg.chart { width: 100%; min-width: 30rem; height: auto; display: block; }
.hint { border: 1px solid #e3c77a; background: #fff8e1; border-radius: .5rem;
        padding: .8rem 1rem; max-width: 60rem; }
.notice { border-left: 4px solid #d8dee4; padding-left: 1rem; color: #33404d; max-width: 60rem; }
.empty { color: #5a6673; font-style: italic; }
.fact { font-size: 1.05rem; }
"""


def _number(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _share(events: int, total: int) -> str:
    return f"{100 * events / total:.1f}%" if total else "—"


def _table(name: str, rows: list[dict[str, Any]], total: int) -> str:
    esc = html.escape
    body = "".join(
        f"<tr{' class=rest' if row.get('rest') else ''}><td>{esc(str(row[name]))}</td>"
        f"<td class=n>{_number(row['events'])}</td><td class=n>{_number(row['reporters'])}</td>"
        f"<td class=n>{_share(row['events'], total)}</td></tr>"
        for row in rows
    )
    return (f"<div class=wide><table><thead><tr><th>{esc(name)}</th><th class=n>events</th>"
            "<th class=n>reporters</th><th class=n>share</th></tr></thead>"
            f"<tbody>{body}</tbody></table></div>")


def _cross_table(cross: tuple[str, str, list[dict[str, Any]]], total: int) -> str:
    esc = html.escape
    first, second, rows = cross
    columns = sorted({str(row[second]) for row in rows if row[second] != OTHER},
                     key=_value_key, reverse=True)
    if any(row[second] == OTHER for row in rows):
        columns.append(OTHER)
    lines = sorted({str(row[first]) for row in rows if row[first] != OTHER}, key=_value_key,
                   reverse=True)
    if any(row[first] == OTHER for row in rows):
        lines.append(OTHER)
    cells = {(str(row[first]), str(row[second])): row["events"] for row in rows}
    head = "".join(f"<th class=n>{esc(c)}</th>" for c in columns)
    body = "".join(
        f"<tr><td>{esc(line)}</td>"
        + "".join(f"<td class=n>{_number(cells.get((line, c))) if (line, c) in cells else '·'}"
                  "</td>" for c in columns)
        + "</tr>"
        for line in lines
    )
    shown = sum(cells.values())
    rest = total - shown
    note = (f"<p>Events. Each cell is a group of its own under the k rule: '·' is a "
            f"combination not shown, and {rest:,} events are in no cell shown.</p>"
            if rest > 0 else "<p>Events.</p>")
    return (f"<div class=wide><table><thead><tr><th>{esc(first)} \\ {esc(second)}</th>{head}"
            f"</tr></thead><tbody>{body}</tbody></table></div>{note}")


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


def _k_text(k: int) -> str:
    from .stats import K_GUARANTEE

    return (f"k = {k}: {html.escape(K_GUARANTEE.format(k=k))} Here they are counted in "
            f"<em>{UNDER_K}</em>.")


def render(data: Dashboard) -> str:
    """The dashboard as one HTML document (no script; nothing loaded from anywhere)."""
    require()
    import matplotlib

    with matplotlib.rc_context({"font.size": 11}):
        return _page(data)


def _page(data: Dashboard) -> str:
    esc = html.escape
    cards = [
        ("events", _number(data.events)),
        ("reporters", _number(data.reporters)),
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
        f'<p class="sub">Template <code>{esc(data.template.text)}</code>. The totals count '
        f"every beacon. {_k_text(data.k)} A reporter is one client address on one UTC day "
        "(an IPv6 address: its /64).</p>",
        '<div class="cards">',
        *(f'<div class="card"><div class="n">{esc(value)}</div>'
          f'<div class="what">{esc(what)}</div></div>' for what, value in cards),
        "</div>",
    ]
    named = sum(1 for rows in data.fields.values() for row in rows if not row.get("rest"))
    if not data.events:
        parts.append('<p class="hint">No beacon has been counted yet: the totals and charts '
                     "appear with the first one.</p>")
    elif data.fields and not named:
        parts.append(
            f'<p class="hint">Every group is smaller than k = {data.k} machines, so no value '
            f"is named yet; the totals above count every beacon. <code>--k N</code> sets "
            f"how many machines a value needs before it is shown (<code>--k 1</code> is fine "
            "for a page only you see).</p>")
    if data.totals:
        what = "Events and reporters" if any(row["reporters"] is not None
                                             for row in data.totals) else "Events"
        parts += [f"<section><h2>{what} per {esc(data.period)}</h2>",
                  _totals_chart(data.totals, data.period), "</section>"]
    # one version, or one period, has no uptake to show
    if len({row["version"] for row in data.uptake}) > 1 \
            and len({row["period"] for row in data.uptake}) > 1:
        parts += [f"<section><h2>Version uptake (share of each {esc(data.period)}'s events)"
                  "</h2>", _uptake_chart(data.uptake, data.period), "</section>"]
    for name, rows in data.fields.items():
        grouping = " (by minor version)" if name in GROUPED else ""
        parts.append(f"<section><h2>By {esc(name)}{grouping}</h2>")
        values = [row for row in rows if not row.get("rest")]
        if len(values) == 1 and len(rows) == 1:
            parts.append(f'<p class="fact">Every event has {esc(name)} '
                         f"<strong>{esc(str(values[0][name]))}</strong> "
                         f"({_number(values[0]['events'])} events).</p>")
        elif values:
            parts.append(_bars(name, rows, data.events))
            if len(values) > TOP_BARS:
                parts.append(f"<p>The chart shows the top {TOP_BARS} of {len(values)} values.</p>")
            parts.append(_table(name, rows, data.events))
        elif data.events:
            parts.append(f'<p class="empty">No value of {esc(name)} is large enough to show '
                         f"(all {_number(data.events)} events are in {UNDER_K}).</p>")
        else:
            parts.append('<p class="empty">No events yet.</p>')
        parts.append("</section>")
    if data.cross and any(row[data.cross[0]] != OTHER for row in data.cross[2]):
        times = "\N{MULTIPLICATION SIGN}"
        parts += [f"<section><h2>{esc(data.cross[0])} {times} {esc(data.cross[1])}</h2>",
                  _cross_table(data.cross, data.events), "</section>"]
    line_rows = "".join(f"<tr><td>{esc(name)}</td><td class=n>{_number(count)}</td></tr>"
                        for name, count in data.lines.items())
    parts += [
        "<section><h2>Log lines</h2>",
        "<p>Every non-empty line read falls in exactly one of these.</p>",
        f"<table><tbody>{line_rows}</tbody></table></section>",
        '<section class="notice"><h2>What is collected</h2>',
        "<p>The values in the table are examples.</p>",
        _notice_html(data.notice.replace("## Telemetry\n", "", 1)),
        "</section></body></html>",
    ]
    return "\n".join(parts) + "\n"


def write(path: str, data: Dashboard) -> None:
    """Render ``data`` and write it to ``path`` (UTF-8), whole or not at all."""
    from ..files import AtomicFile

    page = render(data)
    with AtomicFile(path) as out:
        out.write(page)
