"""A report as people read it: Markdown (tables; charts as PNG files beside it), HTML (one
self-contained file, charts embedded as PNG data URIs) and CSV (one file per table, or the
main table alone). Charts are drawn on matplotlib's Agg canvas: no display, no pyplot state,
safe in any process. Returns text and bytes; writing files is the caller's.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, Final

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from incidentd.insight.report import PRIORITIES, Report, Table

MAIN: Final = {"md": "report.md", "html": "report.html", "csv": "incidents.csv"}
"""Per format, the file printed when no directory is given (csv: the incident list)."""
COLOURS: Final = {
    "P1": "#c0392b",
    "P2": "#e67e22",
    "P3": "#f1c40f",
    "P4": "#3498db",
    "P5": "#95a5a6",
}
CLOCK_COLOURS: Final = {"declare": "#7f8c8d", "acknowledge": "#2980b9", "resolve": "#27ae60"}
CSV_TIME: Final = "%Y-%m-%d %H:%M:%S"


# --- cells ---------------------------------------------------------------------------------------


def cell(value: object) -> str:
    """One value as people read it: times to the minute (UTC), numbers to one decimal,
    missing ones as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _rows(frame: pd.DataFrame) -> list[list[str]]:
    return [[cell(v) for v in row] for row in frame.itertuples(index=False, name=None)]


def _numeric(frame: pd.DataFrame) -> list[bool]:
    return [
        pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
        for c in frame.columns
    ]


def _header(name: str) -> str:
    for suffix, unit in (("_pct", " %"), ("_min", " (min)")):
        if name.endswith(suffix):
            name = name.removesuffix(suffix) + unit
    return name.replace("_", " ")


# --- charts --------------------------------------------------------------------------------------


def _figure() -> tuple[Figure, Any]:
    figure = Figure(figsize=(8, 3.4), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.subplots()


def _png(figure: Figure) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


def _week_labels(frame: pd.DataFrame) -> list[str]:
    return [w.strftime("%b %d") for w in frame["week"]]


def incidents_per_week(table: Table) -> bytes | None:
    frame = table.frame
    if frame.empty or not frame["incidents"].any():
        return None
    figure, axes = _figure()
    labels = _week_labels(frame)
    bottom = [0] * len(frame)
    for priority in PRIORITIES:
        counts = frame[priority].tolist()
        if any(counts):
            axes.bar(labels, counts, bottom=bottom, label=priority, color=COLOURS[priority])
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    axes.set_title("Incidents declared per week, by priority")
    axes.set_ylabel("incidents")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend(loc="upper left", fontsize="small")
    axes.tick_params(axis="x", labelrotation=45 if len(frame) > 8 else 0)
    return _png(figure)


def alerts_per_week(table: Table) -> bytes | None:
    frame = table.frame
    if "alert_firings" not in frame or not frame["alert_firings"].any():
        return None
    figure, axes = _figure()
    labels = _week_labels(frame)
    axes.bar(labels, frame["alert_firings"], color="#bdc3c7", label="alert firings")
    axes.set_ylabel("alert firings")
    axes.set_title("Alert firings and incidents declared per week")
    right = axes.twinx()
    right.plot(labels, frame["incidents"], color="#c0392b", marker="o", label="incidents")
    right.set_ylabel("incidents")
    right.set_ylim(bottom=0)
    right.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.tick_params(axis="x", labelrotation=45 if len(frame) > 8 else 0)
    return _png(figure)


def sla_chart(table: Table) -> bytes | None:
    frame = table.frame.dropna(subset=["compliance_pct"])
    if frame.empty:
        return None
    figure, axes = _figure()
    priorities = list(dict.fromkeys(frame["priority"]))
    width = 0.8 / 3
    for i, clock in enumerate(CLOCK_COLOURS):
        chosen = frame[frame["clock"] == clock].set_index("priority")["compliance_pct"]
        xs = [priorities.index(p) + (i - 1) * width for p in chosen.index]
        axes.bar(xs, chosen, width, label=clock, color=CLOCK_COLOURS[clock])
    axes.set_xticks(range(len(priorities)), priorities)
    axes.set_ylabel("% of clocks met")
    axes.set_title("SLA compliance by priority")
    for bars in axes.containers:
        axes.bar_label(bars, fmt="%.0f%%", fontsize="small")
    axes.set_ylim(0, 115)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3, fontsize="small")
    return _png(figure)


CHARTS: Final[Mapping[str, tuple[str, Callable[[Table], bytes | None]]]] = {
    "incidents_per_week": ("by_week", incidents_per_week),
    "alerts_per_week": ("by_week", alerts_per_week),
    "sla_compliance": ("sla", sla_chart),
}
"""Chart name -> (the table it is drawn from and shown after, how)."""


def charts(report: Report) -> dict[str, bytes]:
    """The PNG of every chart the report has data for."""
    out = {}
    for name, (table, draw) in CHARTS.items():
        png = draw(report.table(table))
        if png is not None:
            out[name] = png
    return out


# --- Markdown ------------------------------------------------------------------------------------


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame) -> str:
    header = [_md_escape(_header(str(c))) for c in frame.columns]
    align = ["---:" if n else "---" for n in _numeric(frame)]
    lines = [header, align, *([_md_escape(v) for v in row] for row in _rows(frame))]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def _title(report: Report) -> str:
    p = report.period
    return f"Incident report {p.since:%Y-%m-%d %H:%M} to {p.until:%Y-%m-%d %H:%M} UTC"


def _intro(report: Report) -> list[str]:
    out = [f"As of {report.as_of:%Y-%m-%d %H:%M} UTC. The period includes its start, not its end."]
    if report.table("incidents").frame.empty:
        p = report.period
        out.append(
            f"No incidents were declared between {p.since:%Y-%m-%d %H:%M} and "
            f"{p.until:%Y-%m-%d %H:%M} UTC."
        )
    return out


def markdown(report: Report, chart_files: Mapping[str, str] | None = None) -> str:
    """The report in Markdown; `chart_files` (chart name -> path relative to the document)
    places the charts after their tables."""
    files = chart_files or {}
    parts = [f"# {_title(report)}", *_intro(report)]
    parts.append(
        "\n".join(
            ["| | |", "|---|---|", *(f"| {k} | {_md_escape(v)} |" for k, v in report.headline)]
        )
    )
    parts.append("Read from:\n\n" + "\n".join(f"- {_md_escape(s)}" for s in report.sources))
    parts += [f"> {n}" for n in report.notes]
    for table in report.tables:
        parts += [f"## {table.title}", table.about]
        parts.append(markdown_table(table.frame) if len(table.frame) else f"_{table.empty}_")
        for name, (source, _) in CHARTS.items():
            if source == table.name and name in files:
                parts.append(f"![{_header(name)}]({files[name]})")
    return "\n\n".join(parts) + "\n"


# --- HTML ----------------------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f4f4f4; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
p.about { color: #555; max-width: 60em; } blockquote { color: #8a4b00; }
img { max-width: 100%; display: block; margin: 0.5em 0 1.5em; }
"""


def html_table(frame: pd.DataFrame) -> str:
    numeric = _numeric(frame)
    head = "".join(f"<th>{html.escape(_header(str(c)))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=n' if n else ''}>{html.escape(v)}</td>"
            for v, n in zip(row, numeric, strict=True)
        )
        + "</tr>"
        for row in _rows(frame)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_document(report: Report, pngs: Mapping[str, bytes]) -> str:
    """The report as one HTML file, its charts embedded."""
    e = html.escape
    parts = [f"<h1>{e(_title(report))}</h1>", *(f"<p>{e(line)}</p>" for line in _intro(report))]
    rows = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in report.headline)
    parts.append(f"<table>{rows}</table>")
    parts.append(
        "<p>Read from:</p><ul>" + "".join(f"<li>{e(s)}</li>" for s in report.sources) + "</ul>"
    )
    parts += [f"<blockquote>{e(n)}</blockquote>" for n in report.notes]
    for table in report.tables:
        parts += [f"<h2>{e(table.title)}</h2>", f'<p class="about">{e(table.about)}</p>']
        parts.append(
            html_table(table.frame) if len(table.frame) else f"<p><em>{e(table.empty)}</em></p>"
        )
        for name, (source, _) in CHARTS.items():
            if source == table.name and name in pngs:
                data = base64.b64encode(pngs[name]).decode()
                parts.append(f'<img alt="{e(_header(name))}" src="data:image/png;base64,{data}">')
    body = "\n".join(parts)
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(_title(report))}</title><style>{_STYLE}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )


# --- CSV -----------------------------------------------------------------------------------------


def _joined(value: object) -> object:
    return "; ".join(str(v) for v in value) if isinstance(value, tuple | list) else value


def csv_table(table: Table) -> str:
    """Raw values: times in UTC as `YYYY-MM-DD HH:MM:SS`, lists joined with `; `."""
    frame = table.frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object:
            joined = [_joined(v) for v in frame[column]]
            frame[column] = pd.Series(joined, index=frame.index, dtype=object)
    return frame.to_csv(index=False, date_format=CSV_TIME, lineterminator="\n")


def csv_files(report: Report) -> dict[str, str]:
    """File name -> CSV text, one per table, and `summary.csv` (the headline)."""
    out = {f"{t.name}.csv": csv_table(t) for t in report.tables}
    summary = pd.DataFrame(list(report.headline), columns=["measure", "value"])
    out["summary.csv"] = summary.to_csv(index=False, lineterminator="\n")
    return out


# --- files ---------------------------------------------------------------------------------------


def outputs(report: Report, fmt: str, *, with_charts: bool = True) -> dict[str, bytes]:
    """Every file of the report in `fmt` (md, html or csv), by name; `MAIN[fmt]` is the one
    to print alone. Markdown refers to its charts as PNG files beside it (`with_charts`)."""
    if fmt == "csv":
        return {name: text.encode() for name, text in csv_files(report).items()}
    pngs = charts(report) if with_charts else {}
    if fmt == "html":
        return {MAIN["html"]: html_document(report, pngs).encode()}
    files = {name: f"{name}.png" for name in pngs}
    out = {MAIN["md"]: markdown(report, files).encode()}
    out |= {files[name]: png for name, png in pngs.items()}
    return out
