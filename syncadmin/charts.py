"""Inline SVG charts for the dashboard: no script, no CDN."""

from __future__ import annotations

from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

SERIES = (
    ("created", "#2e7d32", "Created"),
    ("updated", "#1565c0", "Updated"),
    ("failed", "#c62828", "Failed"),
)


def runs_chart_svg(
    rows: list[dict[str, Any]], *, width: int = 760, height: int = 220
) -> SafeString:
    """Created / updated / failed per run as three lines, oldest run on the left."""
    if not rows:
        return format_html('<p id="runs-chart-empty">{}</p>', "No runs in the last 30 days.")
    pad_left, pad_bottom, pad_top = 40, 24, 10
    plot_w, plot_h = width - pad_left - 10, height - pad_bottom - pad_top
    peak = max(1, *(max(r["created"], r["updated"], r["failed"]) for r in rows))
    step = plot_w / max(1, len(rows) - 1)

    def x(i: int) -> float:
        return pad_left + (i * step if len(rows) > 1 else plot_w / 2)

    def y(value: int) -> float:
        return pad_top + plot_h - value / peak * plot_h

    parts = [
        format_html(
            '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#999"/>',
            pad_left,
            pad_top + plot_h,
            pad_left + plot_w,
            pad_top + plot_h,
        ),
        format_html('<text x="4" y="{}" font-size="11">{}</text>', pad_top + 10, peak),
        format_html('<text x="4" y="{}" font-size="11">0</text>', pad_top + plot_h),
        format_html(
            '<text x="{}" y="{}" font-size="11">{}</text>',
            pad_left,
            height - 6,
            f"{rows[0]['started_at']:%b %d}",
        ),
        format_html(
            '<text x="{}" y="{}" font-size="11" text-anchor="end">{}</text>',
            pad_left + plot_w,
            height - 6,
            f"{rows[-1]['started_at']:%b %d %H:%M}",
        ),
    ]
    for key, colour, label in SERIES:
        points = " ".join(f"{x(i):.1f},{y(r[key]):.1f}" for i, r in enumerate(rows))
        parts.append(
            format_html(
                '<polyline class="series-{}" fill="none" stroke="{}" stroke-width="2" '
                'points="{}"><title>{}</title></polyline>',
                key,
                colour,
                points,
                label,
            )
        )
        if len(rows) <= 60:  # dots with a tooltip per run while they stay readable
            parts.append(
                format_html_join(
                    "",
                    '<circle cx="{}" cy="{}" r="3" fill="{}"><title>Run {}: {} {}</title></circle>',
                    (
                        (f"{x(i):.1f}", f"{y(r[key]):.1f}", colour, r["id"], r[key], label.lower())
                        for i, r in enumerate(rows)
                    ),
                )
            )
    legend = format_html_join(
        " ", '<span style="color:{}">&#9632; {}</span>', ((c, lab) for _, c, lab in SERIES)
    )
    return format_html(
        '<svg id="runs-chart" role="img" aria-label="Created, updated and failed accounts per '
        'run" width="{}" height="{}" viewBox="0 0 {} {}">{}</svg><p>{}</p>',
        width,
        height,
        width,
        height,
        format_html_join("", "{}", ((part,) for part in parts)),
        legend,
    )
