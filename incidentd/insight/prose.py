"""How the insight documents write values for people: Markdown table cells, UTC times,
durations and round numbers. Pure.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

CELL_LIMIT = 300
_ESCAPES = str.maketrans({"|": "\\|", "<": "&lt;", "\n": " ", "\r": " "})


def cell(text: str) -> str:
    """Text safe in a Markdown table cell or list item: one line, `|` escaped, no HTML tag
    (`<` escaped), at most CELL_LIMIT characters (titles and notes come from people and
    alerts)."""
    one = " ".join(text.translate(_ESCAPES).split())
    return one if len(one) <= CELL_LIMIT else one[: CELL_LIMIT - 1] + "…"


def day(at: datetime) -> str:
    """`2026-03-02 09:05:00`, in UTC."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def clock(at: datetime) -> str:
    """`09:05:00 UTC`."""
    return at.astimezone(UTC).strftime("%H:%M:%S UTC")


def span(value: float | timedelta) -> str:
    """Seconds (or a timedelta) -> `45s`, `4m`, `4m30s`, `1h05m`, `2d03h`."""
    seconds = round(value.total_seconds() if isinstance(value, timedelta) else value)
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        text = f"{days}d{hours:02d}h"
    elif hours:
        text = f"{hours}h{minutes:02d}m"
    elif minutes:
        text = f"{minutes}m{secs:02d}s" if secs else f"{minutes}m"
    else:
        text = f"{secs}s"
    return sign + text


def number(value: float) -> str:
    """`5200.0` -> `5,200`."""
    return f"{value:,.0f}"
